//! Bytes -> envelope -> verification (checks 2 to 10 of API.md) under two fixed
//! configurations: signed with Tencent's published key (so bodies carrying its published
//! `Sign` get past check 7), and unsigned (`ALLOW_UNSIGNED=true`, so every body reaches
//! check 10).
//!
//! Besides "no panic", it holds check 2 to a plain model of its rule: the body is accepted
//! exactly when it is UTF-8 JSON, an object, no member name twice in one object, at most
//! `MAX_DEPTH` levels and `MAX_VALUES` values. The model builds the whole value the slow way,
//! (serde_json with a duplicate check), which is also how check 2 worked before it became one
//! pass. And a body means the same as its value written out again: escapes, spacing and
//! member order change nothing.
#![no_main]

// The allocation cap and the strict JSON model (src/lib.rs).
use tiw_push_edge_fuzz::strict_json;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tiw_push_edge::core::callback::{self, Event, PushKind, MAX_DEPTH, MAX_ROOM_ID, MAX_VALUES};
use tiw_push_edge::core::config::Config;

/// Tencent's published vector: `Sign` a2dabb362a9b811c0e26953a6276a41c for this key and
/// `ExpireTime` 1588040109.
const KEY: &str = "Xz4ZgayTr7rMgWQrH";
/// 109 s before the published `ExpireTime`, within `MAX_EXPIRE_AHEAD_SECONDS`.
const NOW: i64 = 1_588_040_000;

/// Every answer checks 2 to 10 may give.
const CODES: [&str; 8] = [
    "malformed_json",
    "invalid_envelope",
    "unknown_app",
    "missing_signature",
    "bad_signature",
    "expired",
    "expire_too_far",
    "invalid_event",
];

fn configs() -> &'static [Config; 2] {
    static CONFIGS: OnceLock<[Config; 2]> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        let config = |vars: &'static [(&'static str, &'static str)]| {
            Config::from_lookup(|name| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            })
            .expect("the fuzz configuration is valid")
        };
        [
            config(&[
                ("SDK_APP_IDS", "1400000001,1400000002"),
                ("CALLBACK_KEY", KEY),
                ("CALLBACK_KEY_PREVIOUS", "previous-key"),
                ("MAX_EXPIRE_AHEAD_SECONDS", "300"),
            ]),
            config(&[("SDK_APP_IDS", "1400000001"), ("ALLOW_UNSIGNED", "true")]),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let parsed = callback::parse(data);
    for config in configs() {
        let verified = callback::verify(data, config, NOW);
        let in_two_steps = parsed
            .clone()
            .and_then(|envelope| callback::verify_envelope(envelope, config, NOW));
        assert_eq!(verified, in_two_steps);
        match &verified {
            Err(e) => {
                assert!(CODES.contains(&e.code()), "{}", e.code());
                assert!((400..500).contains(&e.status()));
            }
            Ok(v) => {
                assert!(config.sdk_app_ids.contains(&v.sdk_app_id));
                assert_eq!(v.signed, config.callback_key.is_some());
                if let Event::Push(push) = &v.event {
                    assert!(!push.task_id.is_empty());
                    assert!((1..=MAX_ROOM_ID).contains(&u64::from(push.room_id)));
                    assert_ne!(
                        push.kind,
                        PushKind::Reconciled,
                        "a callback is never reconciled"
                    );
                    if push.kind == PushKind::Started {
                        assert!(push.push_user_id.is_some() && push.push_start_time.is_some());
                    }
                }
            }
        }
    }

    let malformed = matches!(&parsed, Err(e) if e.code() == "malformed_json");
    match model(data) {
        Err(_) => assert!(malformed, "the model refuses, check 2 passes: {parsed:?}"),
        Ok(value) => {
            let within = depth(&value) <= MAX_DEPTH && values(&value) <= MAX_VALUES;
            assert_eq!(
                malformed,
                !(value.is_object() && within),
                "check 2 and the model disagree: {parsed:?}"
            );
            if !malformed {
                let rewritten = serde_json::to_vec(&value).expect("a value serialises");
                for config in configs() {
                    assert_eq!(
                        callback::verify(data, config, NOW).map_err(|e| e.code()),
                        callback::verify(&rewritten, config, NOW).map_err(|e| e.code()),
                    );
                }
            }
        }
    }
});

/// Check 2 the slow way: the whole value, refusing a name twice in one object.
fn model(data: &[u8]) -> Result<Value, serde_json::Error> {
    strict_json(data)
}

/// Containers nested in `value`, counting itself: `{}` is 1, `0` is 0.
fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(members) => 1 + members.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Values in `value`, counting itself.
fn values(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(values).sum::<usize>(),
        Value::Object(members) => 1 + members.values().map(values).sum::<usize>(),
        _ => 1,
    }
}
