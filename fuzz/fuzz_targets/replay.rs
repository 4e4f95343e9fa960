//! The body of `POST /admin/dead-letters/replay` -> `parse_replay`.
//!
//! Besides "no panic", it holds the parser to a plain statement of API.md's rule: the body is
//! accepted exactly when it is UTF-8 JSON with no member name twice (at any depth) and is
//! either `{"all": true}` or `{"ids": [...]}` with 1 to `DEAD_LETTER_PAGE` strings and no other
//! member; the ids come back once each, in their first order; anything else is 400
//! `malformed_json`, never another answer.
#![no_main]

// The allocation cap and the strict JSON model (src/lib.rs).
use tiw_push_edge_fuzz::strict_json;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tiw_push_edge::core::delivery::{parse_replay, Replay, DEAD_LETTER_PAGE};

/// API.md's rule, the slow way.
fn model(data: &[u8]) -> Option<Replay> {
    let value = strict_json(data).ok()?;
    let object = value.as_object()?;
    if object.len() != 1 {
        return None;
    }
    match (object.get("all"), object.get("ids")) {
        (Some(Value::Bool(true)), _) => Some(Replay::All),
        (_, Some(Value::Array(items))) if (1..=DEAD_LETTER_PAGE).contains(&items.len()) => {
            let mut ids: Vec<String> = Vec::new();
            for item in items {
                let id = item.as_str()?;
                if !ids.iter().any(|seen| seen == id) {
                    ids.push(id.to_string());
                }
            }
            Some(Replay::Ids(ids))
        }
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let parsed = parse_replay(data);
    if let Err(e) = &parsed {
        assert_eq!(e.code(), "malformed_json");
        assert_eq!(e.status(), 400);
    }
    assert_eq!(
        parsed.ok(),
        model(data),
        "{:?}",
        String::from_utf8_lossy(data)
    );
});
