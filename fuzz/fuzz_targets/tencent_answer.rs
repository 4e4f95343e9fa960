//! Tencent's answer to `DescribeWhiteboardPush` (HTTP status and body) -> `parse_answer` ->
//! reconciliation of a streaming task -> the origin body of a reconciled stop.
//!
//! The answer comes from outside like a callback does. Whatever it holds: no panic; an
//! unparsable one is described in a few words, never echoed; only a `STOPPED` answer about the
//! task (or about no task in particular) turns its `Started` into a reconciled stop, which
//! keeps the task's start time and wins over it once and for all; the origin hears of it as
//! `WhiteboardPushReconciled` JSON.
#![no_main]

// The allocation cap (src/lib.rs).
use tiw_push_edge_fuzz as _;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tiw_push_edge::core::callback::{PushEvent, PushKind};
use tiw_push_edge::core::reconcile::{self, EVENT_TYPE};
use tiw_push_edge::core::room::{start_time, Outcome, Room};
use tiw_push_edge::core::tencent::{parse_answer, Answer, TaskStatus};

const TASK: &str = "bj0mt2l23osdj300hl30";
const NOW: i64 = 1_700_000_000;

fn streaming_room() -> Room {
    let mut room = Room::new();
    room.apply(PushEvent {
        kind: PushKind::Started,
        task_id: TASK.into(),
        room_id: 1253,
        timestamp: Some(NOW - 1000),
        push_user_id: Some("tic_push_user_1253_01".into()),
        push_start_time: Some(NOW - 1000),
        push_stop_time: None,
        group_id: None,
        finish_reason: None,
        im_sync_time: None,
        exception_count: None,
        error: None,
    });
    room
}

fuzz_target!(|data: &[u8]| {
    let (status, body) = match data {
        [a, b, body @ ..] => (u16::from_be_bytes([*a, *b]) % 600, body),
        _ => return,
    };
    let answer = match parse_answer(status, body) {
        Answer::Task(answer) => answer,
        Answer::Error(failure) => {
            assert_eq!(failure.http_status, status);
            return;
        }
        Answer::Unparsable(why) => {
            assert!(
                why.len() <= 64,
                "an unparsable answer is described, not echoed: {why}"
            );
            return;
        }
    };
    assert!((200..300).contains(&status));

    let mut room = streaming_room();
    let before = room.clone();
    let outcome = reconcile::apply_answer(&mut room, TASK, &answer, NOW);
    let about_this_task = answer.task_id.as_deref().is_none_or(|id| id == TASK);
    if answer.status == TaskStatus::Stopped && about_this_task {
        assert_eq!(outcome, Some(Outcome::Applied));
        let record = room.task(TASK).expect("the task is kept");
        assert_eq!(record.kind, PushKind::Reconciled);
        assert_eq!(start_time(record), start_time(&before.tasks()[0]));
        // Settled: the same answer again, or the old Started, changes nothing.
        let settled = room.clone();
        assert_eq!(
            reconcile::apply_answer(&mut room, TASK, &answer, NOW + 1),
            None
        );
        assert_eq!(room.apply(before.tasks()[0].clone()), Outcome::Stale);
        assert_eq!(room, settled);
    } else {
        assert_eq!(outcome, None);
        assert_eq!(room, before);
    }
    assert_eq!(Room::decode(&room.encode()), Ok(room));

    let origin: Value = serde_json::from_str(&reconcile::origin_body(
        1400000001, 1253, TASK, &answer, NOW,
    ))
    .expect("the origin body is JSON");
    assert_eq!(origin["EventType"], EVENT_TYPE);
    assert_eq!(origin["EventData"]["TaskId"], TASK);
    assert_eq!(origin["EventData"]["Status"], answer.status.as_str());
});
