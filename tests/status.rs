//! The status API end to end: bodies, ETag and conditional requests, HEAD, CORS, batch reads,
//! bearer auth, health, JSON 404/405, request ids — and what a thousand pollers cost in KV.

mod support;

use std::sync::OnceLock;

use serde_json::{json, Value};
use support::*;

fn worker() -> &'static Worker {
    static WORKER: OnceLock<Worker> = OnceLock::new();
    WORKER.get_or_init(|| Worker::start(&signed_vars()))
}

const ORIGIN_A: &str = "https://app.example";

fn guarded() -> &'static Worker {
    static WORKER: OnceLock<Worker> = OnceLock::new();
    WORKER.get_or_init(|| {
        let mut vars = signed_vars();
        vars.push(("STATUS_TOKEN", "viewer-token".into()));
        vars.push((
            "ALLOWED_ORIGINS",
            format!("{ORIGIN_A}, http://localhost:3000"),
        ));
        vars.push(("POLL_INTERVAL_SECONDS", "7".into()));
        Worker::start(&vars)
    })
}

#[test]
fn an_unseen_room_is_idle_with_every_field_null() {
    let res = worker().get("/rooms/0001253");
    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let body = res.json();
    assert_eq!(body["roomId"], 1253);
    assert_eq!(body["sdkAppId"], APP);
    assert_eq!(body["state"], "idle");
    for field in [
        "taskId",
        "pushUserId",
        "groupId",
        "startedAt",
        "stoppedAt",
        "finishReason",
        "imSyncTime",
        "exceptionCount",
        "error",
        "updatedAt",
    ] {
        assert!(
            body.get(field).is_some_and(Value::is_null),
            "{field}: {body}"
        );
    }
    assert_eq!(body["tasks"], json!([]));
}

#[test]
fn a_stopped_room_shows_every_field_of_its_stop_event() {
    let w = worker();
    let room = unique_room();
    let t = now();
    let mut stop = stopped(room, "task-e", t, t + 9);
    stop["EventData"]["FinishReason"] = json!("EXCEPTION");
    stop["EventData"]["ExceptionCnt"] = json!(3);
    stop["EventData"]["Error"] = json!({"Code": "FailedOperation.Record", "Message": "disk"});
    assert_eq!(outcome(w, &signed(stop)), "applied");
    let body = w.room(room);
    assert_eq!(body["state"], "stopped");
    assert_eq!(body["taskId"], "task-e");
    assert_eq!(body["startedAt"], t);
    assert_eq!(body["stoppedAt"], t + 9);
    assert_eq!(body["imSyncTime"], t);
    assert_eq!(body["exceptionCount"], 3);
    assert_eq!(body["finishReason"], "EXCEPTION");
    assert_eq!(
        body["error"],
        json!({"code": "FailedOperation.Record", "message": "disk"})
    );
    assert_eq!(body["tasks"][0]["state"], "stopped");
    assert_eq!(body["tasks"][0]["finishReason"], "EXCEPTION");
}

#[test]
fn etag_revalidation_answers_304_without_a_body() {
    let w = worker();
    let room = unique_room();
    let first = w.get(&format!("/rooms/{room}"));
    assert_eq!(first.header("cache-control"), Some("no-cache"));
    assert_eq!(first.header("x-poll-interval"), Some("5"));
    let tag = first.header("etag").unwrap_or_default().to_string();
    assert!(
        tag.starts_with('"') && tag.ends_with('"'),
        "strong tag: {tag}"
    );

    let weak = format!("W/{tag}");
    let listed = format!("\"nope\", {tag}");
    for header in [tag.as_str(), weak.as_str(), listed.as_str(), "*"] {
        let res = w.get_with(&format!("/rooms/{room}"), &[("if-none-match", header)]);
        assert_eq!(res.status, 304, "If-None-Match: {header}");
        assert!(res.body.is_empty());
        assert_eq!(res.header("etag"), Some(tag.as_str()));
        assert_eq!(res.header("cache-control"), Some("no-cache"));
        assert_eq!(res.header("x-poll-interval"), Some("5"));
        assert!(res.header("x-request-id").is_some());
    }
    let res = w.get_with(&format!("/rooms/{room}"), &[("if-none-match", "\"other\"")]);
    assert_eq!(res.status, 200);

    // A change makes the old tag miss.
    assert_eq!(outcome(w, &signed(started(room, "t", now()))), "applied");
    let res = w.get_with(&format!("/rooms/{room}"), &[("if-none-match", &tag)]);
    assert_eq!(res.status, 200);
    assert_ne!(res.header("etag"), Some(tag.as_str()));
    assert_eq!(res.json()["state"], "streaming");
}

#[test]
fn head_has_the_headers_of_get_and_no_body() {
    let w = worker();
    let room = unique_room();
    let get = w.get(&format!("/rooms/{room}"));
    let head = w.request("HEAD", &format!("/rooms/{room}"), &[], b"");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("etag"), get.header("etag"));
    assert_eq!(head.header("x-poll-interval"), Some("5"));
}

#[test]
fn bad_room_ids_and_paths_get_json_errors() {
    let w = worker();
    for path in [
        "/rooms/0",
        "/rooms/abc",
        "/rooms/4294967296",
        "/rooms/-1",
        "/rooms/12.5",
    ] {
        let res = w.get(path);
        assert_eq!(
            (res.status, res.error_code()),
            (400, "invalid_room_id".into()),
            "{path}"
        );
        assert_eq!(res.header("access-control-allow-origin"), Some("*"));
    }
    let res = w.get("/rooms/4294967295");
    assert_eq!(res.status, 200);
    let res = w.get("/rooms/1/x");
    assert_eq!((res.status, res.error_code()), (404, "not_found".into()));
    let res = w.get("/definitely/not/here");
    assert_eq!((res.status, res.error_code()), (404, "not_found".into()));
    let res = w.request("POST", "/rooms/1", &[], b"{}");
    assert_eq!(
        (res.status, res.error_code()),
        (405, "method_not_allowed".into())
    );
    assert_eq!(res.header("allow"), Some("GET, HEAD, OPTIONS"));
    let res = w.get("/callback");
    assert_eq!(res.status, 405);
    assert_eq!(res.header("allow"), Some("POST, OPTIONS"));
}

#[test]
fn sdk_app_id_picks_the_app_and_refuses_unlisted_ones() {
    let w = worker();
    let res = w.get(&format!("/rooms/5?sdkAppId={OTHER_APP}"));
    assert_eq!(res.json()["sdkAppId"], OTHER_APP);
    let res = w.get("/rooms/5?sdkAppId=1400000099");
    assert_eq!((res.status, res.error_code()), (400, "unknown_app".into()));
}

#[test]
fn batch_reads_keep_order_and_drop_repeats() {
    let w = worker();
    let (a, b) = (unique_room(), unique_room());
    assert_eq!(outcome(w, &signed(started(b, "t", now()))), "applied");
    let res = w.get(&format!("/rooms?ids={b},{a},{b},00{a}"));
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(res.header("etag").is_some());
    let rooms = res.json()["rooms"].clone();
    let ids: Vec<u64> = rooms
        .as_array()
        .map(|r| r.iter().filter_map(|x| x["roomId"].as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(ids, vec![u64::from(b), u64::from(a)]);
    assert_eq!(rooms[0]["state"], "streaming");
    assert_eq!(rooms[1]["state"], "idle");

    let tag = res.header("etag").unwrap_or_default().to_string();
    let again = w.get_with(&format!("/rooms?ids={b},{a}"), &[("if-none-match", &tag)]);
    assert_eq!(again.status, 304);
}

#[test]
fn batch_limits_and_validation() {
    let w = worker();
    let hundred: Vec<String> = (1..=100).map(|i| i.to_string()).collect();
    let res = w.get(&format!("/rooms?ids={},1,2", hundred.join(",")));
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["rooms"].as_array().map(Vec::len), Some(100));

    let res = w.get(&format!("/rooms?ids={},101", hundred.join(",")));
    assert_eq!(
        (res.status, res.error_code()),
        (400, "too_many_rooms".into())
    );
    // Ids are validated before they are counted.
    let res = w.get(&format!("/rooms?ids={},101,x", hundred.join(",")));
    assert_eq!(
        (res.status, res.error_code()),
        (400, "invalid_room_id".into())
    );
    for path in ["/rooms", "/rooms?ids=", "/rooms?ids=1,,2", "/rooms?ids=0"] {
        let res = w.get(path);
        assert_eq!(
            (res.status, res.error_code()),
            (400, "invalid_room_id".into()),
            "{path}"
        );
    }
}

#[test]
fn default_cors_allows_any_origin_and_exposes_headers() {
    let w = worker();
    let res = w.get_with("/rooms/9", &[("origin", "https://anywhere.example")]);
    assert_eq!(res.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        res.header("access-control-expose-headers"),
        Some("ETag, x-poll-interval, x-request-id")
    );
    let pre = w.request(
        "OPTIONS",
        "/rooms/9",
        &[
            ("origin", "https://anywhere.example"),
            ("access-control-request-method", "GET"),
        ],
        b"",
    );
    assert_eq!(pre.status, 204);
    assert!(pre.body.is_empty());
    assert_eq!(
        pre.header("access-control-allow-methods"),
        Some("GET, HEAD, OPTIONS")
    );
    assert_eq!(
        pre.header("access-control-allow-headers"),
        Some("authorization, if-none-match, content-type")
    );
    assert_eq!(pre.header("access-control-max-age"), Some("86400"));
    assert_eq!(pre.header("access-control-allow-origin"), Some("*"));
    // Any path, the callback's included.
    let pre = w.request(
        "OPTIONS",
        "/callback",
        &[("origin", "https://a.example")],
        b"",
    );
    assert_eq!(pre.status, 204);
    assert_eq!(pre.header("access-control-allow-origin"), Some("*"));
    // The callback itself answers servers, not browsers: no CORS.
    let res = w.post("/callback", b"{}");
    assert_eq!(res.header("access-control-allow-origin"), None);
}

#[test]
fn request_ids_come_from_cf_ray_when_safe() {
    let w = worker();
    let res = w.get_with("/healthz", &[("cf-ray", "8e2f0c1a2b3c4d5e-SJC")]);
    assert_eq!(res.header("x-request-id"), Some("8e2f0c1a2b3c4d5e-SJC"));
    let a = w.get("/healthz");
    let b = w.get("/nope");
    let (a, b) = (a.header("x-request-id"), b.header("x-request-id"));
    assert!(a.is_some_and(|id| id.len() >= 8));
    assert_ne!(a, b);
}

#[test]
fn healthz_reports_version_signing_and_origin() {
    let res = worker().get("/healthz");
    assert_eq!(res.status, 200);
    let body = res.json();
    assert_eq!(
        body,
        json!({"ok": true, "version": env!("CARGO_PKG_VERSION"), "signing": "configured", "origin": false, "delivery": "direct", "reconcile": false})
    );
}

#[test]
fn status_token_is_required_before_anything_else() {
    let w = guarded();
    let res = w.get_with("/rooms/abc", &[("origin", ORIGIN_A)]);
    assert_eq!((res.status, res.error_code()), (401, "unauthorized".into()));
    assert_eq!(res.header("access-control-allow-origin"), Some(ORIGIN_A));
    let res = w.get_with("/rooms/1", &[("authorization", "Bearer wrong")]);
    assert_eq!((res.status, res.error_code()), (401, "unauthorized".into()));
    let res = w.get("/rooms?ids=1,2");
    assert_eq!(res.status, 401);

    let res = w.get_with("/rooms/1", &[("authorization", "Bearer viewer-token")]);
    assert_eq!(res.status, 200);
    assert_eq!(res.header("x-poll-interval"), Some("7"));
    // Health and preflights need no token.
    assert_eq!(w.get("/healthz").status, 200);
    assert_eq!(w.request("OPTIONS", "/rooms/1", &[], b"").status, 204);
}

#[test]
fn allow_list_reflects_listed_origins_only() {
    let w = guarded();
    let auth = ("authorization", "Bearer viewer-token");
    let res = w.get_with("/rooms/1", &[auth, ("origin", "http://localhost:3000")]);
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    assert_eq!(res.header("vary"), Some("Origin"));
    let res = w.get_with("/rooms/1", &[auth, ("origin", "https://evil.example")]);
    assert_eq!(res.status, 200);
    assert_eq!(res.header("access-control-allow-origin"), None);
    assert_eq!(res.header("vary"), Some("Origin"));
    let pre = w.request("OPTIONS", "/rooms/1", &[("origin", ORIGIN_A)], b"");
    assert_eq!(pre.status, 204);
    assert_eq!(pre.header("access-control-allow-origin"), Some(ORIGIN_A));
    let pre = w.request(
        "OPTIONS",
        "/rooms/1",
        &[("origin", "https://evil.example")],
        b"",
    );
    assert_eq!(pre.header("access-control-allow-origin"), None);
}

#[test]
fn client_script_and_page_are_served() {
    let w = worker();
    let js = w.get("/client.js");
    assert_eq!(js.status, 200);
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert!(js.text().contains("export function watchRoom("));
    assert_eq!(js.header("access-control-allow-origin"), Some("*"));
    let page = w.get("/");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("client.js"));
    let tag = page.header("etag").unwrap_or_default().to_string();
    assert_eq!(w.get_with("/", &[("if-none-match", &tag)]).status, 304);
}

/// A thousand viewers polling one room within one poll interval cost at most two KV reads
/// (the Cache API answers the rest), and a callback is visible to the very next poll.
///
/// The interval is 60 s here so that 1,000 polls through wrangler's local proxy fit in one
/// interval even on a slow CI machine; the cost is per interval, whatever its length.
#[test]
fn a_thousand_polls_of_one_room_cost_at_most_two_kv_reads() {
    let mut vars = signed_vars();
    vars.push(("POLL_INTERVAL_SECONDS", "60".into()));
    let w = Worker::start(&vars);
    let room = unique_room();
    let path = format!("/rooms/{room}");
    let kv_reads_of = |res: &Response| -> u64 {
        assert_eq!(res.status, 200, "{}", res.text());
        res.header("x-kv-reads")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no x-kv-reads header"))
    };
    // The first viewer finds the cache cold: one KV read.
    let mut kv_reads = kv_reads_of(&w.get(&path));
    let started_at = std::time::Instant::now();
    kv_reads += std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| (0..125).map(|_| kv_reads_of(&w.get(&path))).sum::<u64>()))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| panic!("a polling thread failed"))
            })
            .sum::<u64>()
    });
    let elapsed = started_at.elapsed();
    eprintln!("1,001 polls of one room in {elapsed:.1?}: {kv_reads} KV reads");
    assert!(
        elapsed.as_secs() < 60,
        "the polls did not fit in one interval"
    );
    assert!(kv_reads <= 2, "1,001 polls caused {kv_reads} KV reads");

    // The callback refreshes this location's cache: the next poll sees it, without KV.
    let t = now();
    assert_eq!(outcome(&w, &signed(started(room, "t", t))), "applied");
    let next = w.get(&path);
    assert_eq!(next.json()["state"], "streaming");
    assert_eq!(next.header("x-kv-reads"), Some("0"));
    assert_eq!(
        outcome(&w, &signed(stopped(room, "t", t, t + 1))),
        "applied"
    );
    assert_eq!(w.get(&path).json()["state"], "stopped");
}

#[test]
fn every_request_kind_leaves_one_searchable_log_line() {
    let w = worker();
    let room = unique_room();
    let read = w.get(&format!("/rooms/{room}"));
    let line = w.log_line(read.header("x-request-id").unwrap_or_default());
    assert_eq!(line["route"], "/rooms/{roomId}");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["status"], 200);
    assert_eq!(line["roomId"], room);
    assert_eq!(line["sdkAppId"], APP);
    assert!(line["kvReads"].is_u64());
    assert!(line["durationMs"].is_u64());

    let missing = w.get("/nowhere");
    let line = w.log_line(missing.header("x-request-id").unwrap_or_default());
    assert_eq!(line["status"], 404);
    assert_eq!(line["error"], "not_found");

    let bad = w.get("/rooms/x");
    let line = w.log_line(bad.header("x-request-id").unwrap_or_default());
    assert_eq!(line["error"], "invalid_room_id");
    assert_eq!(line["route"], "/rooms/{roomId}");

    let health = w.get("/healthz");
    let line = w.log_line(health.header("x-request-id").unwrap_or_default());
    assert_eq!(line["route"], "/healthz");
    assert_eq!(line["level"], "info");
    let lines = w
        .logs()
        .lines()
        .filter(|l| l.contains(health.header("x-request-id").unwrap_or("-")))
        .count();
    assert_eq!(lines, 1, "one line per request");
}

/// `[vars]` written as TOML numbers (`SDK_APP_IDS = 1400000001`) arrive as JavaScript
/// numbers; the worker reads them as their digits rather than refusing the configuration.
#[test]
fn vars_written_as_toml_numbers_are_read_as_their_digits() {
    let w = Worker::start(&[
        ("SDK_APP_IDS", toml_literal(&APP.to_string())),
        ("POLL_INTERVAL_SECONDS", toml_literal("9")),
        ("ALLOW_UNSIGNED", toml_literal("true")),
    ]);
    let res = w.get("/rooms/1253");
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["sdkAppId"], APP);
    assert_eq!(res.header("x-poll-interval"), Some("9"));

    let w = Worker::start(&[
        ("SDK_APP_IDS", toml_literal("1400000001.5")),
        ("ALLOW_UNSIGNED", toml_literal("true")),
    ]);
    let res = w.get("/rooms/1253");
    assert_eq!(res.status, 503, "{}", res.text());
    assert_eq!(res.json()["variable"], "SDK_APP_IDS");
}
