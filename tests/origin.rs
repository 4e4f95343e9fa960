//! Forwarding to the origin end to end, against a real HTTP server on 127.0.0.1: the exact
//! bytes, the headers, the token, the 502 paths — and that nothing rejected ever arrives.

mod support;

use std::sync::OnceLock;
use std::time::Instant;

use serde_json::json;
use support::origin::Origin;
use support::*;

fn origin() -> &'static Origin {
    static ORIGIN: OnceLock<Origin> = OnceLock::new();
    ORIGIN.get_or_init(Origin::start)
}

/// A worker forwarding to `path` on the test origin.
fn forwarding(path: &str, extra: &[(&'static str, &str)]) -> Worker {
    let mut vars = signed_vars();
    vars.push(("ORIGIN_URL", origin().url(path)));
    vars.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    Worker::start(&vars)
}

/// Posts a good callback that the origin is expected to fail; returns the error message.
fn refused_by_origin(w: &Worker) -> String {
    let res = w.post_json(&signed(started(unique_room(), "t", now())));
    assert_eq!(
        (res.status, res.error_code()),
        (502, "origin_unavailable".into())
    );
    res.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn ok_worker() -> &'static Worker {
    static WORKER: OnceLock<Worker> = OnceLock::new();
    WORKER.get_or_init(|| forwarding("/ok", &[("ORIGIN_TOKEN", "origin-secret")]))
}

#[test]
fn verified_callbacks_arrive_byte_for_byte_with_the_edge_headers() {
    let w = ok_worker();
    let room = unique_room();
    let expire = now() + 300;
    let sign = tiw_push_edge::core::signature::sign(KEY, &expire.to_string());
    // Odd spacing, odd key order, a unicode escape and a trailing newline: must not be
    // re-serialised on the way.
    let body = format!(
        "{{ \"Sign\" :\"{sign}\",\n  \"EventData\": {{\"RoomId\":{room} , \"TaskId\":\"t\\u0031\",\
         \"PushStartTime\": {t},\"PushUserId\":\"u\"}},\"ExpireTime\":{expire},\
         \"SdkAppId\":{APP},   \"Timestamp\":{t}, \"EventType\":\"WhiteboardPushStarted\"}}\n",
        t = now()
    );
    let res = w.post("/callback", body.as_bytes());
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["outcome"], "applied");
    let request_id = res.header("x-request-id").unwrap_or_default();

    let got = origin().wait_for(request_id);
    assert_eq!(got.method, "POST");
    assert_eq!(got.path, "/ok");
    assert_eq!(
        got.body,
        body.as_bytes(),
        "the body was not forwarded as received"
    );
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert_eq!(got.header("x-tiw-verified"), Some("1"));
    assert_eq!(
        got.header("x-tiw-event-type"),
        Some("WhiteboardPushStarted")
    );
    assert_eq!(got.header("x-tiw-outcome"), Some("applied"));
    assert_eq!(got.header("authorization"), Some("Bearer origin-secret"));
    assert_eq!(w.room(room)["taskId"], "t1");

    let line = w.log_line(request_id);
    assert_eq!(line["forwarded"], true);
    assert!(
        !w.logs().contains("origin-secret"),
        "the origin token reached the log"
    );
}

#[test]
fn duplicates_and_ignored_events_are_forwarded_too() {
    let w = ok_worker();
    let room = unique_room();
    let event = signed(started(room, "t", now()));
    assert_eq!(outcome(w, &event), "applied");
    let res = w.post_json(&event);
    assert_eq!(res.json()["outcome"], "duplicate");
    let got = origin().wait_for(res.header("x-request-id").unwrap_or_default());
    assert_eq!(got.header("x-tiw-outcome"), Some("duplicate"));

    let other = signed(json!({"EventType": "TranscodeFinished", "SdkAppId": APP, "EventData": {}}));
    let res = w.post_json(&other);
    assert_eq!(res.json()["outcome"], "ignored");
    let got = origin().wait_for(res.header("x-request-id").unwrap_or_default());
    assert_eq!(got.header("x-tiw-outcome"), Some("ignored"));
    assert_eq!(got.header("x-tiw-event-type"), Some("TranscodeFinished"));
}

#[test]
fn rejected_callbacks_never_reach_the_origin() {
    let w = forwarding("/only-rejects", &[]);
    let room = unique_room();
    let mut unknown_app = signed(started(room, "t", now()));
    unknown_app["SdkAppId"] = json!(1);
    let mut huge = signed(started(room, "t", now()));
    huge["Padding"] = json!("x".repeat(70_000));
    let mut bad_event = started(room, "t", now());
    bad_event["EventData"]["RoomId"] = json!(0);
    let rejects: Vec<Vec<u8>> = vec![
        b"{nope".to_vec(),
        b"{\"EventType\":1}".to_vec(),
        unknown_app.to_string().into_bytes(),
        started(room, "t", now()).to_string().into_bytes(),
        sign_with("wrong", started(room, "t", now()))
            .to_string()
            .into_bytes(),
        huge.to_string().into_bytes(),
        signed(bad_event).to_string().into_bytes(),
    ];
    for body in &rejects {
        let res = w.post("/callback", body);
        assert!(res.status >= 400, "{}", res.text());
        assert_ne!(res.status, 502);
    }
    // Then one good callback, to know the worker forwards at all.
    let res = w.post_json(&signed(started(room, "t", now())));
    assert_eq!(res.status, 200);
    origin().wait_for(res.header("x-request-id").unwrap_or_default());
    assert_eq!(origin().received("/only-rejects").len(), 1);
}

#[test]
fn an_origin_error_answers_502_and_the_retry_is_safe() {
    let w = forwarding("/fail", &[]);
    let room = unique_room();
    let event = signed(started(room, "t", now()));
    let res = w.post_json(&event);
    assert_eq!(
        (res.status, res.error_code()),
        (502, "origin_unavailable".into())
    );
    let line = w.log_line(res.header("x-request-id").unwrap_or_default());
    assert_eq!(line["forwarded"], false);
    assert_eq!(line["outcome"], "applied");
    // The state was kept; the sender's retry is a duplicate and is forwarded again.
    assert_eq!(w.room(room)["state"], "streaming");
    let retry = w.post_json(&event);
    assert_eq!(retry.status, 502);
    let got = origin().wait_for(retry.header("x-request-id").unwrap_or_default());
    assert_eq!(got.header("x-tiw-outcome"), Some("duplicate"));
}

#[test]
fn a_slow_origin_times_out_with_502() {
    let w = forwarding("/slow", &[("ORIGIN_TIMEOUT_MS", "1000")]);
    let started_at = Instant::now();
    let message = refused_by_origin(&w);
    let elapsed = started_at.elapsed();
    assert!(message.contains("1000 ms"), "{message}");
    assert!(
        elapsed.as_millis() < 2900,
        "took {elapsed:?}; the origin answers after 3 s"
    );
}

#[test]
fn an_unreachable_origin_answers_502() {
    let mut vars = signed_vars();
    vars.push((
        "ORIGIN_URL",
        format!("http://127.0.0.1:{}/down", free_port()),
    ));
    let w = Worker::start(&vars);
    let message = refused_by_origin(&w);
    assert!(message.contains("could not be reached"), "{message}");
    assert_eq!(w.get("/healthz").json()["origin"], true);
}

#[test]
fn a_redirect_is_a_failure_and_is_not_followed() {
    let w = forwarding("/redirect", &[]);
    let message = refused_by_origin(&w);
    assert!(message.contains("302"), "{message}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(origin().received("/ok-after-redirect").is_empty());
}

#[test]
fn unsigned_callbacks_are_forwarded_as_unverified() {
    let w = Worker::start(&[
        ("SDK_APP_IDS", APP.to_string()),
        ("ALLOW_UNSIGNED", "true".into()),
        ("ORIGIN_URL", origin().url("/ok-unsigned")),
    ]);
    let res = w.post_json(&started(unique_room(), "t", now()));
    assert_eq!(res.status, 200, "{}", res.text());
    let got = origin().wait_for(res.header("x-request-id").unwrap_or_default());
    assert_eq!(got.header("x-tiw-verified"), Some("0"));
    assert_eq!(got.header("authorization"), None);
}
