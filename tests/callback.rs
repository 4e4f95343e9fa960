//! `POST /callback` end to end on the real local runtime: every error code of API.md in check
//! order, the happy paths, the room-state rules, and persistence across a restart.

mod support;

use std::sync::OnceLock;

use serde_json::{json, Value};
use support::*;

fn signed_worker() -> &'static Worker {
    static WORKER: OnceLock<Worker> = OnceLock::new();
    WORKER.get_or_init(|| Worker::start(&signed_vars()))
}

fn post_code(worker: &Worker, body: &[u8]) -> (u16, String) {
    let res = worker.post("/callback", body);
    (res.status, res.error_code())
}

#[test]
fn tencent_started_then_stopped_flips_the_room() {
    let w = signed_worker();
    let room = unique_room();
    assert_eq!(w.room(room)["state"], "idle");
    let t = now();
    assert_eq!(outcome(w, &signed(started(room, "task-1", t))), "applied");
    let status = w.room(room);
    assert_eq!(status["state"], "streaming");
    assert_eq!(status["taskId"], "task-1");
    assert_eq!(status["startedAt"], t);
    assert_eq!(status["pushUserId"], format!("tic_push_user_{room}_01"));

    assert_eq!(
        outcome(w, &signed(stopped(room, "task-1", t, t + 60))),
        "applied"
    );
    let status = w.room(room);
    assert_eq!(status["state"], "stopped");
    assert_eq!(status["stoppedAt"], t + 60);
    assert_eq!(status["finishReason"], "USER_CALL");
    assert_eq!(status["groupId"], room.to_string());
    assert_eq!(status["updatedAt"], t + 60);
    assert_eq!(status["tasks"].as_array().map(Vec::len), Some(1));
}

#[test]
fn event_times_beyond_two_to_the_53_are_stored_exactly() {
    // The room object reads the event with serde_json: JSON.parse would round this number.
    let w = signed_worker();
    let room = unique_room();
    let big: i64 = (1 << 53) + 1;
    let mut event = started(room, "task-1", now());
    event["EventData"]["PushStartTime"] = json!(big);
    assert_eq!(outcome(w, &signed(event)), "applied");
    assert_eq!(w.room(room)["startedAt"], big);
}

#[test]
fn oversized_bodies_are_refused_by_length_and_by_bytes_read() {
    let w = signed_worker();
    let mut big = signed(started(unique_room(), "big", now()));
    big["Padding"] = json!("x".repeat(70 * 1024));
    assert_eq!(
        post_code(w, big.to_string().as_bytes()),
        (413, "payload_too_large".into())
    );

    // Chunked, with no Content-Length: only counting the bytes read can catch it.
    let chunk = vec![b' '; 16 * 1024];
    let mut raw = format!(
        "POST /callback HTTP/1.1\r\nhost: 127.0.0.1:{}\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n",
        w.port
    )
    .into_bytes();
    for _ in 0..5 {
        raw.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        raw.extend_from_slice(&chunk);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let res = w.raw(&raw);
    assert_eq!(
        (res.status, res.error_code()),
        (413, "payload_too_large".into())
    );
}

#[test]
fn a_body_just_under_the_limit_is_read_whole() {
    let w = signed_worker();
    let room = unique_room();
    let mut body = signed(started(room, "padded", now()));
    let base = body.to_string().len();
    body["Padding"] = json!("x".repeat(64 * 1024 - base - 20));
    let bytes = body.to_string().into_bytes();
    assert!(bytes.len() <= 64 * 1024 && bytes.len() > 63 * 1024);
    let res = w.post("/callback", &bytes);
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(w.room(room)["state"], "streaming");
}

#[test]
fn malformed_json_is_refused() {
    let w = signed_worker();
    for body in [
        &b""[..],
        b"not json",
        b"[]",
        b"{\"EventType\":\"WhiteboardPushStarted\",\"EventType\":\"x\"}",
        b"{\"EventData\":{\"RoomId\":1,\"RoomId\":2}}",
        b"{\"a\":\"\xff\xfe\"}",
    ] {
        assert_eq!(
            post_code(w, body),
            (400, "malformed_json".into()),
            "{body:?}"
        );
    }
}

#[test]
fn envelope_of_the_wrong_types_is_refused() {
    let w = signed_worker();
    for body in [
        json!({"SdkAppId": APP}),
        json!({"EventType": null, "SdkAppId": APP}),
        json!({"EventType": "WhiteboardPushStarted", "SdkAppId": "1400000001"}),
        json!({"EventType": "WhiteboardPushStarted", "SdkAppId": APP, "Timestamp": 1.5}),
        json!({"EventType": "WhiteboardPushStarted", "SdkAppId": APP, "ExpireTime": "soon"}),
        json!({"EventType": "WhiteboardPushStarted", "SdkAppId": APP, "EventData": "x"}),
    ] {
        assert_eq!(
            post_code(w, body.to_string().as_bytes()),
            (400, "invalid_envelope".into()),
            "{body}"
        );
    }
}

#[test]
fn unknown_app_is_forbidden_before_the_signature_is_looked_at() {
    let w = signed_worker();
    let mut body = started(unique_room(), "t", now());
    body["SdkAppId"] = json!(1400009999u64);
    // Unsigned on purpose: check 4 comes before check 6.
    assert_eq!(
        post_code(w, body.to_string().as_bytes()),
        (403, "unknown_app".into())
    );
}

#[test]
fn signature_failures_are_unauthorized_and_store_nothing() {
    let w = signed_worker();
    let room = unique_room();
    let event = started(room, "t", now());

    assert_eq!(
        post_code(w, event.to_string().as_bytes()),
        (401, "missing_signature".into())
    );

    let mut wrong_key = sign_with("not-the-key", event.clone());
    assert_eq!(
        post_code(w, wrong_key.to_string().as_bytes()),
        (401, "bad_signature".into())
    );
    wrong_key["Sign"] = json!("a2dabb362a9b811c0e26953a6276a41c");
    assert_eq!(
        post_code(w, wrong_key.to_string().as_bytes()),
        (401, "bad_signature".into())
    );

    let mut expired = event.clone();
    let past = now() - 120;
    expired["ExpireTime"] = json!(past);
    expired["Sign"] = json!(tiw_push_edge::core::signature::sign(KEY, &past.to_string()));
    assert_eq!(
        post_code(w, expired.to_string().as_bytes()),
        (401, "expired".into())
    );

    let mut far = event.clone();
    let ahead = now() + 7200;
    far["ExpireTime"] = json!(ahead);
    far["Sign"] = json!(tiw_push_edge::core::signature::sign(
        KEY,
        &ahead.to_string()
    ));
    assert_eq!(
        post_code(w, far.to_string().as_bytes()),
        (401, "expire_too_far".into())
    );

    assert_eq!(
        w.room(room)["state"],
        "idle",
        "a rejected callback was stored"
    );
}

#[test]
fn leeway_accepts_a_signature_that_just_expired() {
    let w = signed_worker();
    let room = unique_room();
    let mut body = started(room, "t", now());
    let just_past = now() - 10;
    body["ExpireTime"] = json!(just_past);
    body["Sign"] = json!(tiw_push_edge::core::signature::sign(
        KEY,
        &just_past.to_string()
    ));
    assert_eq!(outcome(w, &body), "applied");
}

#[test]
fn previous_key_uppercase_hex_and_string_expire_time_are_accepted() {
    let w = signed_worker();
    let room = unique_room();
    assert_eq!(
        outcome(w, &sign_with(PREVIOUS_KEY, started(room, "old-key", now()))),
        "applied"
    );

    let mut body = started(room, "upper", now() + 1);
    let digits = format!("00{}", now() + 100);
    body["ExpireTime"] = json!(digits);
    body["Sign"] = json!(tiw_push_edge::core::signature::sign(KEY, &digits).to_uppercase());
    assert_eq!(outcome(w, &body), "applied");
    assert_eq!(w.room(room)["tasks"].as_array().map(Vec::len), Some(2));
}

#[test]
fn push_events_without_their_required_fields_are_invalid() {
    let w = signed_worker();
    let room = unique_room();
    let mutations: Vec<(&str, Value)> = vec![
        ("RoomId", json!(0)),
        ("RoomId", json!(4294967296u64)),
        ("RoomId", json!("1253")),
        ("TaskId", json!("")),
        ("TaskId", json!(12)),
        ("PushStartTime", json!("now")),
        ("PushUserId", Value::Null),
    ];
    for (field, value) in mutations {
        let mut body = started(room, "t", now());
        if value.is_null() {
            body["EventData"].as_object_mut().map(|d| d.remove(field));
        } else {
            body["EventData"][field] = value;
        }
        assert_eq!(
            post_code(w, signed(body).to_string().as_bytes()),
            (400, "invalid_event".into()),
            "{field}"
        );
    }
    assert_eq!(w.room(room)["state"], "idle");
}

#[test]
fn wrongly_typed_optional_fields_are_dropped_not_refused() {
    let w = signed_worker();
    let room = unique_room();
    let t = now();
    let mut body = stopped(room, "t", t, t + 5);
    body["EventData"]["GroupId"] = json!(42);
    body["EventData"]["ExceptionCnt"] = json!("many");
    let res = w.post_json(&signed(body));
    assert_eq!(res.status, 200, "{}", res.text());
    let status = w.room(room);
    assert_eq!(status["groupId"], Value::Null);
    assert_eq!(status["exceptionCount"], Value::Null);
    assert_eq!(status["finishReason"], "USER_CALL");
    let line = w.log_line(res.header("x-request-id").unwrap_or_default());
    assert_eq!(line["level"], "warn");
    assert!(line["warnings"].to_string().contains("GroupId"), "{line}");
}

#[test]
fn redelivery_is_duplicate_and_a_late_started_is_stale() {
    let w = signed_worker();
    let room = unique_room();
    let t = now();
    let start = started(room, "t", t);
    let stop = stopped(room, "t", t, t + 30);

    // Stopped first, as a network might deliver them.
    assert_eq!(outcome(w, &signed(stop.clone())), "applied");
    assert_eq!(outcome(w, &signed(start.clone())), "stale");
    assert_eq!(outcome(w, &signed(stop.clone())), "duplicate");
    // A retry with a new signature is still the same event.
    assert_eq!(outcome(w, &sign_with(PREVIOUS_KEY, stop)), "duplicate");
    assert_eq!(w.room(room)["state"], "stopped");
}

#[test]
fn main_and_backup_tasks_are_tracked_separately() {
    let w = signed_worker();
    let room = unique_room();
    let t = now();
    assert_eq!(outcome(w, &signed(started(room, "main", t))), "applied");
    assert_eq!(
        outcome(w, &signed(started(room, "backup", t + 1))),
        "applied"
    );
    assert_eq!(
        outcome(w, &signed(stopped(room, "backup", t + 1, t + 20))),
        "applied"
    );
    let status = w.room(room);
    assert_eq!(status["state"], "streaming");
    assert_eq!(status["taskId"], "main");
    let tasks: Vec<&str> = status["tasks"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| t["taskId"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(tasks, vec!["backup", "main"]);
}

#[test]
fn only_sixteen_tasks_are_kept_and_older_ones_are_stale() {
    let w = signed_worker();
    let room = unique_room();
    let t = now();
    for i in 0..17 {
        assert_eq!(
            outcome(w, &signed(started(room, &format!("t{i:02}"), t + i))),
            "applied"
        );
    }
    let status = w.room(room);
    assert_eq!(status["tasks"].as_array().map(Vec::len), Some(16));
    assert_eq!(status["tasks"][0]["taskId"], "t16");
    assert_eq!(status["tasks"][15]["taskId"], "t01");
    assert_eq!(outcome(w, &signed(started(room, "t00", t))), "stale");
    assert_eq!(
        outcome(w, &signed(started(room, "older", t - 100))),
        "stale"
    );
}

#[test]
fn other_events_and_error_only_pushes_are_ignored_and_not_stored() {
    let w = signed_worker();
    let room = unique_room();
    let transcode = json!({
        "EventType": "TranscodeFinished", "SdkAppId": APP, "Timestamp": now(),
        "EventData": {"TaskId": "x", "RoomId": room}
    });
    assert_eq!(outcome(w, &signed(transcode)), "ignored");
    let error_only = json!({
        "EventType": "WhiteboardPushStopped", "SdkAppId": APP, "Timestamp": now(),
        "EventData": {"Error": {"Code": "FailedOperation.Record", "Message": "push failed"}}
    });
    assert_eq!(outcome(w, &signed(error_only)), "ignored");
    assert_eq!(w.room(room)["state"], "idle");
}

#[test]
fn the_other_listed_app_has_its_own_rooms() {
    let w = signed_worker();
    let room = unique_room();
    let mut body = started(room, "t", now());
    body["SdkAppId"] = json!(OTHER_APP);
    assert_eq!(outcome(w, &signed(body)), "applied");
    assert_eq!(w.room(room)["state"], "idle");
    let res = w.get(&format!("/rooms/{room}?sdkAppId={OTHER_APP}"));
    assert_eq!(res.json()["state"], "streaming");
    assert_eq!(res.json()["sdkAppId"], OTHER_APP);
}

#[test]
fn a_log_line_tells_what_happened_without_secrets() {
    let w = signed_worker();
    let room = unique_room();
    let body = signed(started(room, "logged", now()));
    let res = w.post_json(&body);
    let line = w.log_line(res.header("x-request-id").unwrap_or_default());
    assert_eq!(line["route"], "/callback");
    assert_eq!(line["method"], "POST");
    assert_eq!(line["status"], 200);
    assert_eq!(line["eventType"], "WhiteboardPushStarted");
    assert_eq!(line["sdkAppId"], APP);
    assert_eq!(line["roomId"], room);
    assert_eq!(line["outcome"], "applied");
    assert!(line["durationMs"].is_u64());

    let bad = sign_with("wrong", started(room, "x", now()));
    let res = w.post_json(&bad);
    let line = w.log_line(res.header("x-request-id").unwrap_or_default());
    assert_eq!(line["error"], "bad_signature");
    assert_eq!(line["status"], 401);
    // A rejection still says what arrived, once the envelope parsed.
    assert_eq!(line["eventType"], "WhiteboardPushStarted");
    assert_eq!(line["sdkAppId"], APP);
    let all = w.logs();
    assert!(!all.contains(KEY), "the callback key reached the log");
    assert!(!all.contains(body["Sign"].as_str().unwrap_or("-")));
    assert!(!all.contains(bad["Sign"].as_str().unwrap_or("-")));
}

#[test]
fn without_a_key_callbacks_fail_closed() {
    let w = Worker::start(&[("SDK_APP_IDS", APP.to_string())]);
    let room = unique_room();
    let res = w.post_json(&signed(started(room, "t", now())));
    assert_eq!(
        (res.status, res.error_code()),
        (503, "not_configured".into())
    );
    assert_eq!(res.json()["variable"], "CALLBACK_KEY");
    let health = w.get("/healthz").json();
    assert_eq!(health["signing"], "unsigned");
    assert_eq!(w.room(room)["state"], "idle");
}

#[test]
fn allow_unsigned_accepts_callbacks_without_sign() {
    let w = Worker::start(&[
        ("SDK_APP_IDS", APP.to_string()),
        ("ALLOW_UNSIGNED", "true".into()),
    ]);
    let room = unique_room();
    assert_eq!(outcome(&w, &started(room, "t", now())), "applied");
    assert_eq!(w.room(room)["state"], "streaming");
}

#[test]
fn invalid_configuration_answers_every_request_with_not_configured() {
    let w = Worker::start(&[
        ("SDK_APP_IDS", APP.to_string()),
        ("CALLBACK_KEY", KEY.into()),
        ("ORIGIN_TIMEOUT_MS", "12000".into()),
    ]);
    for (method, path) in [
        ("POST", "/callback"),
        ("GET", "/rooms/1"),
        ("GET", "/nowhere"),
        ("DELETE", "/callback"),
        ("OPTIONS", "/rooms/1"),
    ] {
        let res = w.request(method, path, &[], b"");
        assert_eq!(
            (res.status, res.error_code()),
            (503, "not_configured".into()),
            "{method} {path}"
        );
        assert_eq!(res.json()["variable"], "ORIGIN_TIMEOUT_MS");
        assert!(!res.text().contains("12000"), "the value leaked");
    }
    let health = w.get("/healthz");
    assert_eq!(health.status, 503);
    let body = health.json();
    assert_eq!(body["ok"], false);
    assert_eq!(body["error"], "not_configured");
    assert_eq!(body["variable"], "ORIGIN_TIMEOUT_MS");
}

#[test]
fn state_survives_a_restart_and_unreadable_state_is_rebuilt() {
    let vars = signed_vars();
    let w = Worker::start(&vars);
    let room = unique_room();
    let t = now();
    assert_eq!(outcome(&w, &signed(started(room, "t", t))), "applied");
    let state_dir = w.stop();

    let w = Worker::start_with_state(&vars, state_dir);
    assert_eq!(w.room(room)["state"], "streaming");
    assert_eq!(outcome(&w, &signed(started(room, "t", t))), "duplicate");
    let state_dir = w.stop();

    // Corrupt the stored value behind the worker's back, as an old version or a stray
    // `wrangler kv key put` might.
    let corrupt_room = unique_room();
    put_local_kv(
        &state_dir,
        &format!("room:{APP}:{corrupt_room}"),
        "{not json",
    );
    let w = Worker::start_with_state(&vars, state_dir);
    let res = w.get(&format!("/rooms/{corrupt_room}"));
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["state"], "idle");
    let line = w.log_line(res.header("x-request-id").unwrap_or_default());
    assert!(
        line["warnings"]
            .to_string()
            .contains("unreadable room state"),
        "{line}"
    );
    assert_eq!(
        outcome(&w, &signed(started(corrupt_room, "t", now()))),
        "applied"
    );
    assert_eq!(w.room(corrupt_room)["state"], "streaming");
    assert_eq!(w.room(room)["state"], "streaming");
}

/// Tasks of one room arriving at the same moment (main and backup pushes, say) must all be
/// kept: each answer is either 200 with the event stored, or a 5xx the sender retries.
#[test]
fn concurrent_callbacks_of_one_room_all_land() {
    let w = signed_worker();
    let room = unique_room();
    let t = now();
    std::thread::scope(|s| {
        for i in 0..12 {
            s.spawn(move || {
                let body = signed(started(room, &format!("c{i}"), t + i));
                // Like Tencent: retry a 5xx after a pause, five times at most.
                for _ in 0..5 {
                    let res = w.post_json(&body);
                    if res.status == 200 {
                        return;
                    }
                    assert!(res.status >= 500, "{}", res.text());
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                panic!("task c{i} never landed");
            });
        }
    });
    let tasks = w.room(room)["tasks"].as_array().map(Vec::len);
    assert_eq!(tasks, Some(12), "{}", w.room(room));
}
