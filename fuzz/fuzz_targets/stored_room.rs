//! A stored value -> `Room::decode` -> `status::render` (and the live message built from it).
//!
//! Whatever KV or a room object's storage holds, decoding it never panics; a value that decodes
//! is a valid room (at most 16 tasks, re-encoding it reads back the same), and its status
//! renders as the JSON it claims to be, with the ETag of those very bytes.
#![no_main]

// The allocation cap (src/lib.rs).
use tiw_push_edge_fuzz as _;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tiw_push_edge::core::live;
use tiw_push_edge::core::room::{Room, MAX_TASKS};
use tiw_push_edge::core::status;

const APP: u64 = 1400000001;
const ROOM: u32 = 1253;

fuzz_target!(|data: &[u8]| {
    let Ok(stored) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(room) = Room::decode(stored) else {
        return;
    };
    let tasks = room.tasks();
    assert!(tasks.len() <= MAX_TASKS);
    assert_eq!(Room::decode(&room.encode()).as_ref(), Ok(&room));

    let rendered = status::render(APP, ROOM, Some(&room));
    let parsed: Value = serde_json::from_slice(&rendered.bytes).expect("the status body is JSON");
    // Compact, members in order: written again, the parsed body is the same bytes.
    assert_eq!(serde_json::to_vec(&parsed).ok().as_ref(), Some(&rendered.bytes));
    assert_eq!(rendered.etag, status::etag(&rendered.bytes));
    assert!(status::if_none_match(Some(&rendered.etag), &rendered.etag));

    let listed = parsed["tasks"].as_array().map_or(0, Vec::len);
    assert_eq!(listed, tasks.len());
    let expected_state = if tasks.is_empty() {
        "idle"
    } else if tasks.iter().any(|t| t.is_streaming()) {
        "streaming"
    } else {
        "stopped"
    };
    assert_eq!(parsed["state"], expected_state);
    assert_eq!(parsed["roomId"], ROOM);
    if let Some(first) = tasks.first() {
        assert_eq!(parsed["tasks"][0]["taskId"], first.task_id.as_str());
    }

    let message: Value =
        serde_json::from_str(&live::status_message(&rendered))
            .expect("a live message is JSON");
    assert_eq!(message["room"], parsed);
    assert_eq!(message["etag"], rendered.etag.as_str());
});
