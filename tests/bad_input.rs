//! The bad-input matrix, end to end over HTTP on `wrangler dev` (issue 9): a table of hostile
//! or malformed requests — bodies, methods and paths, WebSocket upgrades, admin requests —
//! each answered with the status and error code docs/API.md names, within a bounded time
//! (a client timeout), and leaving no trace: nothing stored, forwarded, queued or pushed.
//!
//! The table runs against two deployments of the same configuration, one with direct and one
//! with queued delivery, each with its own origin stub. The refused rows aim at one room,
//! `target`: each callback row is a valid signed callback for it but for its one fault, and
//! the status and live rows name it, so a row wrongly accepted would show. Around the rows:
//! - per row: the request's log line says the same status and code, no room-object call, no
//!   KV write, nothing forwarded or enqueued (but for the few the local runtime answers
//!   itself, see [`Expect::Runtime`]);
//! - a live viewer of `target` connected before the rows gets its first message, then nothing;
//! - `target`'s status (body and ETag) and its object's log lines are the same after the rows;
//! - the origin stub gets exactly the bodies of the rows accepted by design (other rooms),
//!   after the queue had time to deliver, and no delivery log line names anything else;
//! - a positive control at the end (one valid signed callback for `target`) shows up in every
//!   one of those channels, so each check above can fail.
//!
//! Rows answered with a valid non-error by design (unknown members ignored, optional fields
//! of the wrong type dropped, any `Content-Type`, any non-empty task id) are a second table:
//! each goes to its own room, and what is stored there is checked against the docs.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use serde_json::{json, Value};
use support::origin::Origin;
use support::*;

const STATUS_TOKEN: &str = "matrix-status-token";
const ADMIN_TOKEN: &str = "matrix-admin-token";
const ALLOWED: &str = "https://app.example";
/// The bound on every answer: the client gives up after this.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);
/// A string of 60 KiB: long, but a body holding it stays under the 64 KiB limit.
const LONG: usize = 60 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    Direct,
    Queue,
}

#[test]
fn bad_input_in_direct_delivery_is_refused_and_leaves_no_trace() {
    run_matrix(Delivery::Direct);
}

#[test]
fn bad_input_in_queued_delivery_is_refused_and_leaves_no_trace() {
    run_matrix(Delivery::Queue);
}

/// What a row must be answered with.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// The JSON error of API.md: status and `error` code.
    Error(u16, &'static str),
    /// Refused by the local runtime in plain text, with this status and no `x-request-id`:
    /// a method its HTTP parser does not know (the worker never runs), or an incomplete
    /// WebSocket handshake. wrangler dev's proxy rewrites a handshake's `Sec-WebSocket-Key`
    /// and `-Version` before the worker sees it, so the worker cannot tell; the room's
    /// object accepts the socket and the proxy then refuses the client. The checks around
    /// the rows still hold for these (nothing stored, pushed, forwarded or queued).
    Runtime(u16),
}

struct Row {
    name: String,
    /// The request as sent on the wire.
    request: Vec<u8>,
    head: bool,
    expect: Expect,
}

/// A row answered 200 by design: `outcome`, and what its room must show afterwards.
struct Accepted {
    name: String,
    request: Vec<u8>,
    /// The callback bytes, as the origin must receive them.
    body: Vec<u8>,
    room: u32,
    outcome: &'static str,
    check: Box<dyn Fn(&Value)>,
}

/// Builds the rows; every refused row aims at `target`.
struct Matrix {
    port: u16,
    target: u32,
    rows: Vec<Row>,
    accepted: Vec<Accepted>,
    next_task: u32,
}

fn auth(token: &str) -> String {
    format!("Bearer {token}")
}

/// Replaces the one occurrence of `find` in `bytes`.
fn splice(bytes: &[u8], find: &str, replace: &[u8]) -> Vec<u8> {
    let at: Vec<usize> = bytes
        .windows(find.len())
        .enumerate()
        .filter(|(_, w)| *w == find.as_bytes())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(at.len(), 1, "{find} occurs {} times", at.len());
    let mut out = bytes[..at[0]].to_vec();
    out.extend_from_slice(replace);
    out.extend_from_slice(&bytes[at[0] + find.len()..]);
    out
}

fn nested(open: &str, close: &str, levels: usize) -> Vec<u8> {
    format!("{}0{}", open.repeat(levels), close.repeat(levels)).into_bytes()
}

impl Matrix {
    fn new(port: u16, target: u32) -> Matrix {
        Matrix {
            port,
            target,
            rows: Vec::new(),
            accepted: Vec::new(),
            next_task: 0,
        }
    }

    /// A valid `Started` for the target room with a task id of its own (unsigned).
    fn event(&mut self) -> Value {
        self.next_task += 1;
        started(self.target, &format!("row-{}", self.next_task), now())
    }

    fn signed_event(&mut self) -> Value {
        let event = self.event();
        signed(event)
    }

    fn row(&mut self, name: impl Into<String>, request: Vec<u8>, expect: Expect) {
        self.rows.push(Row {
            name: name.into(),
            request,
            head: false,
            expect,
        });
    }

    fn request(
        &mut self,
        name: impl Into<String>,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        expect: Expect,
    ) {
        let request = request_bytes(self.port, method, path, headers, body);
        self.rows.push(Row {
            name: name.into(),
            request,
            head: method == "HEAD",
            expect,
        });
    }

    /// `POST /callback` with these bytes as a JSON body.
    fn callback(&mut self, name: impl Into<String>, body: &[u8], expect: Expect) {
        let headers = [("content-type", "application/json")];
        self.request(name, "POST", "/callback", &headers, body, expect);
    }

    fn callback_json(&mut self, name: impl Into<String>, body: &Value, expect: Expect) {
        self.callback(name, body.to_string().as_bytes(), expect);
    }

    fn accept(
        &mut self,
        name: impl Into<String>,
        content_type: Option<&str>,
        body: Vec<u8>,
        room: u32,
        outcome: &'static str,
        check: impl Fn(&Value) + 'static,
    ) {
        let headers: Vec<(&str, &str)> = content_type
            .map(|ct| ("content-type", ct))
            .into_iter()
            .collect();
        let request = request_bytes(self.port, "POST", "/callback", &headers, &body);
        self.accepted.push(Accepted {
            name: name.into(),
            request,
            body,
            room,
            outcome,
            check: Box::new(check),
        });
    }
}

const MALFORMED: Expect = Expect::Error(400, "malformed_json");
const ENVELOPE: Expect = Expect::Error(400, "invalid_envelope");
const EVENT: Expect = Expect::Error(400, "invalid_event");
const TOO_LARGE: Expect = Expect::Error(413, "payload_too_large");
const NOT_FOUND: Expect = Expect::Error(404, "not_found");
const METHOD: Expect = Expect::Error(405, "method_not_allowed");
const UNAUTHORIZED: Expect = Expect::Error(401, "unauthorized");
const ROOM_ID: Expect = Expect::Error(400, "invalid_room_id");

/// Bodies: size, not JSON, encodings, depth, numbers, ids, duplicates, types, missing fields,
/// long strings and control characters.
fn body_rows(m: &mut Matrix) {
    // Oversize: by Content-Length, by one byte, chunked without a length.
    let mut big = m.signed_event();
    big["Padding"] = json!("x".repeat(70 * 1024));
    m.callback_json("oversize: 70 KiB with Content-Length", &big, TOO_LARGE);
    let mut edge = m.signed_event();
    let base = edge.to_string().len() + r#","Padding":"""#.len();
    edge["Padding"] = json!("x".repeat(64 * 1024 + 1 - base));
    assert_eq!(edge.to_string().len(), 64 * 1024 + 1);
    m.callback_json("oversize: 64 KiB + 1 byte", &edge, TOO_LARGE);
    // 1 MiB declared and sent: refused on the Content-Length, before the body is read.
    // (With a body shorter than declared the worker answers as soon, its log line shows,
    // but wrangler dev holds the answer until the declared body is complete.)
    let mut huge = m.signed_event();
    huge["Padding"] = json!("x".repeat(1024 * 1024));
    m.callback_json("oversize: 1 MiB with Content-Length", &huge, TOO_LARGE);
    for chunk_size in [16 * 1024, 1024] {
        let mut body = m.signed_event();
        body["Padding"] = json!("x".repeat(80 * 1024));
        let bytes = body.to_string().into_bytes();
        let mut raw = format!(
            "POST /callback HTTP/1.1\r\nhost: 127.0.0.1:{}\r\ncontent-type: application/json\r\n\
             transfer-encoding: chunked\r\nconnection: close\r\n\r\n",
            m.port
        )
        .into_bytes();
        for chunk in bytes.chunks(chunk_size) {
            raw.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            raw.extend_from_slice(chunk);
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(b"0\r\n\r\n");
        m.row(
            format!("oversize: 80 KiB chunked in {chunk_size}-byte chunks, no Content-Length"),
            raw,
            TOO_LARGE,
        );
    }

    // Not JSON, or not an object.
    let good = m.signed_event().to_string();
    for (name, body) in [
        ("empty body", b"".to_vec()),
        ("plain text", b"not json".to_vec()),
        ("truncated", good.as_bytes()[..good.len() - 1].to_vec()),
        ("trailing bytes", format!("{good} x").into_bytes()),
        ("two objects", format!("{good}{good}").into_bytes()),
        (
            "an array around the object",
            format!("[{good}]").into_bytes(),
        ),
        (
            "a JSON string of the object",
            json!(good).to_string().into_bytes(),
        ),
        ("null", b"null".to_vec()),
        ("a number", b"1253".to_vec()),
        (
            "a UTF-8 byte-order mark first",
            format!("\u{feff}{good}").into_bytes(),
        ),
        (
            "a JavaScript object literal",
            b"{EventType:'WhiteboardPushStarted'}".to_vec(),
        ),
        ("a comment", format!("/* hi */{good}").into_bytes()),
        (
            "NaN",
            splice(
                good.as_bytes(),
                r#""Timestamp":"#,
                b"\"Timestamp\":NaN,\"T\":",
            ),
        ),
        (
            "a form",
            b"EventType=WhiteboardPushStarted&SdkAppId=1400000001".to_vec(),
        ),
    ] {
        m.callback(format!("not JSON: {name}"), &body, MALFORMED);
    }

    // Not UTF-8.
    for (name, bytes) in [
        ("0xff", &b"\xff"[..]),
        ("an overlong '/'", b"\xc0\xaf"),
        ("a UTF-16 surrogate as UTF-8 (CESU-8)", b"\xed\xa0\x80"),
        ("a multi-byte sequence cut short", b"\xe4\xbd"),
        ("a raw control character", b"\x01"),
        ("a raw newline", b"\n"),
        ("a lone surrogate escape", b"\\ud800"),
    ] {
        let event = m.signed_event().to_string();
        let body = splice(event.as_bytes(), "row-", &[b"row-", bytes].concat());
        m.callback(
            format!("invalid string: {name} in TaskId"),
            &body,
            MALFORMED,
        );
    }
    let event = m.signed_event().to_string();
    let body = splice(event.as_bytes(), "\"Sign\"", b"\"S\xffign\"");
    m.callback("not UTF-8: 0xff in a member name", &body, MALFORMED);
    let utf16: Vec<u8> = [0xff, 0xfe]
        .into_iter()
        .chain(good.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    m.callback("not UTF-8: the body in UTF-16LE", &utf16, MALFORMED);

    // Depth and size of the value.
    for (name, deep) in [
        ("10,000 nested arrays", nested("[", "]", 10_000)),
        ("10,000 nested objects", nested("{\"a\":", "}", 10_000)),
        ("10,000 unclosed arrays", "[".repeat(10_000).into_bytes()),
        (
            "33 levels with the body (over MAX_DEPTH)",
            nested("[", "]", 32),
        ),
        (
            "5,000 values (over MAX_VALUES)",
            format!("[{}0]", "0,".repeat(4_999)).into_bytes(),
        ),
    ] {
        let mut event = m.signed_event();
        event["Deep"] = json!("DEEP");
        let body = splice(event.to_string().as_bytes(), "\"DEEP\"", &deep);
        m.callback(format!("depth: {name}"), &body, MALFORMED);
    }

    // Numbers beyond 64 bits (and beyond a double).
    // (A 65-bit integer in an unknown member is accepted: see the accepted rows.)
    let beyond_double = "9".repeat(400);
    let big_numbers: [(&str, &str, Expect); 8] = [
        ("SdkAppId", "18446744073709551616", ENVELOPE),
        ("SdkAppId", "1e400", MALFORMED),
        ("Timestamp", "99999999999999999999", ENVELOPE),
        ("ExpireTime", "99999999999999999999", ENVELOPE),
        ("RoomId", "18446744073709551617", EVENT),
        ("RoomId", "4294967296", EVENT),
        ("PushStartTime", "18446744073709551616", EVENT),
        ("Extra", &beyond_double, MALFORMED),
    ];
    for (field, literal, expect) in big_numbers {
        let mut event = m.signed_event();
        if ["RoomId", "PushStartTime"].contains(&field) {
            event["EventData"][field] = json!("BIG");
        } else {
            event[field] = json!("BIG");
        }
        let body = splice(event.to_string().as_bytes(), "\"BIG\"", literal.as_bytes());
        let short: String = literal.chars().take(24).collect();
        m.callback(format!("number: {field} = {short}"), &body, expect);
    }
    let mut far = m.event();
    let digits = "99999999999999999999";
    far["ExpireTime"] = json!(digits);
    far["Sign"] = json!(tiw_push_edge::core::signature::sign(KEY, digits));
    m.callback_json(
        "number: ExpireTime \"99999999999999999999\" (a string, signed)",
        &far,
        ENVELOPE,
    );

    // Negative, float and string ids.
    let ids: [(&str, Value, Expect); 12] = [
        ("SdkAppId", json!(-1), Expect::Error(403, "unknown_app")),
        ("SdkAppId", json!(1400000001.0), ENVELOPE),
        ("SdkAppId", json!("1400000001"), ENVELOPE),
        (
            "SdkAppId",
            json!(1400009999u64),
            Expect::Error(403, "unknown_app"),
        ),
        ("RoomId", json!(-1), EVENT),
        ("RoomId", json!(1253.0), EVENT),
        ("RoomId", json!("1253"), EVENT),
        ("RoomId", json!(0), EVENT),
        ("TaskId", json!(12), EVENT),
        ("TaskId", json!(-1), EVENT),
        ("TaskId", json!(1.5), EVENT),
        ("TaskId", json!(""), EVENT),
    ];
    for (field, value, expect) in ids {
        let mut event = m.event();
        if field == "SdkAppId" {
            event[field] = value.clone();
        } else {
            event["EventData"][field] = value.clone();
        }
        m.callback_json(format!("id: {field} = {value}"), &signed(event), expect);
    }
    // The same numbers with an exponent (serde_json would write them as above).
    for (field, literal, expect) in [
        ("SdkAppId", "1.400000001e9", ENVELOPE),
        ("SdkAppId", "1400000001e0", ENVELOPE),
        ("RoomId", "1.253e3", EVENT),
        ("RoomId", "1253E0", EVENT),
    ] {
        let mut event = m.event();
        if field == "SdkAppId" {
            event[field] = json!("NUM");
        } else {
            event["EventData"][field] = json!("NUM");
        }
        let body = splice(
            signed(event).to_string().as_bytes(),
            "\"NUM\"",
            literal.as_bytes(),
        );
        m.callback(format!("id: {field} = {literal}"), &body, expect);
    }
    for (value, expect) in [
        (json!(-1), Expect::Error(401, "expired")),
        (json!("-5"), ENVELOPE),
        (json!(1.7e9), ENVELOPE),
    ] {
        let mut event = m.event();
        let digits = match &value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        event["ExpireTime"] = value.clone();
        event["Sign"] = json!(tiw_push_edge::core::signature::sign(KEY, &digits));
        m.callback_json(format!("id: ExpireTime = {value}, signed"), &event, expect);
    }

    // Duplicate member names, at every depth.
    let dupes: [(&str, &str, &str); 7] = [
        (
            "EventType",
            "\"EventType\":",
            "\"EventType\":\"X\",\"EventType\":",
        ),
        ("Sign", "\"Sign\":", "\"Sign\":\"00\",\"Sign\":"),
        (
            "EventData",
            "\"EventData\":",
            "\"EventData\":{},\"EventData\":",
        ),
        ("RoomId", "\"RoomId\":", "\"RoomId\":1,\"RoomId\":"),
        (
            "RoomId, once escaped",
            "\"RoomId\":",
            "\"Room\\u0049d\":1,\"RoomId\":",
        ),
        (
            "a name three levels down",
            "\"Deep\":\"DEEP\"",
            "\"Deep\":[{\"a\":{\"b\":1,\"b\":1}}]",
        ),
        (
            "Error.Code of a Stopped",
            "\"Code\":",
            "\"Code\":\"A\",\"Code\":",
        ),
    ];
    for (name, find, replace) in dupes {
        let mut event = if name.starts_with("Error") {
            m.next_task += 1;
            let mut stop = stopped(m.target, &format!("row-{}", m.next_task), now(), now());
            stop["EventData"]["Error"] = json!({"Code": "B", "Message": "m"});
            signed(stop)
        } else {
            m.signed_event()
        };
        if name.starts_with("a name") {
            event["Deep"] = json!("DEEP");
        }
        let body = splice(event.to_string().as_bytes(), find, replace.as_bytes());
        m.callback(format!("duplicate name: {name}"), &body, MALFORMED);
    }

    // Wrong types in every envelope field (check 3) and every required EventData field of a
    // Started (check 10).
    let wrong_envelope: [(&str, Vec<Value>); 6] = [
        (
            "EventType",
            vec![json!(1), Value::Null, json!([]), json!({}), json!(true)],
        ),
        (
            "SdkAppId",
            vec![Value::Null, json!(true), json!("x"), json!([]), json!({})],
        ),
        (
            "Timestamp",
            vec![json!("1700000000"), json!(1.5), Value::Null, json!(true)],
        ),
        (
            "ExpireTime",
            vec![
                json!(1.5),
                Value::Null,
                json!(true),
                json!([]),
                json!("12a"),
                json!(""),
            ],
        ),
        ("Sign", vec![json!(1), Value::Null, json!([]), json!(true)]),
        (
            "EventData",
            vec![json!("x"), json!([]), Value::Null, json!(1)],
        ),
    ];
    for (field, values) in wrong_envelope {
        for value in values {
            let mut event = m.signed_event();
            event[field] = value.clone();
            m.callback_json(format!("type: {field} = {value}"), &event, ENVELOPE);
        }
    }
    let wrong_event: [(&str, Vec<Value>); 4] = [
        (
            "TaskId",
            vec![Value::Null, json!([]), json!({}), json!(true)],
        ),
        (
            "RoomId",
            vec![Value::Null, json!([]), json!({}), json!(true)],
        ),
        (
            "PushUserId",
            vec![json!(1), Value::Null, json!([]), json!({})],
        ),
        (
            "PushStartTime",
            vec![json!("1"), Value::Null, json!(1.5), json!(true), json!({})],
        ),
    ];
    for (field, values) in wrong_event {
        for value in values {
            let mut event = m.signed_event();
            event["EventData"][field] = value.clone();
            m.callback_json(format!("type: EventData.{field} = {value}"), &event, EVENT);
        }
    }

    // Missing fields.
    for field in ["EventType", "SdkAppId"] {
        let mut event = m.signed_event();
        event.as_object_mut().map(|o| o.remove(field));
        m.callback_json(format!("missing: {field}"), &event, ENVELOPE);
    }
    m.callback("missing: everything ({})", b"{}", ENVELOPE);
    for fields in [&["Sign"][..], &["ExpireTime"], &["Sign", "ExpireTime"]] {
        let mut event = m.signed_event();
        for field in fields {
            event.as_object_mut().map(|o| o.remove(*field));
        }
        m.callback_json(
            format!("missing: {}", fields.join(" and ")),
            &event,
            Expect::Error(401, "missing_signature"),
        );
    }
    let mut event = m.signed_event();
    event.as_object_mut().map(|o| o.remove("EventData"));
    m.callback_json("missing: EventData of a Started", &event, EVENT);
    for field in ["TaskId", "RoomId", "PushUserId", "PushStartTime"] {
        let mut event = m.signed_event();
        event["EventData"].as_object_mut().map(|o| o.remove(field));
        m.callback_json(format!("missing: EventData.{field}"), &event, EVENT);
    }
    m.next_task += 1;
    let mut stop = stopped(m.target, &format!("row-{}", m.next_task), now(), now());
    stop["EventData"]
        .as_object_mut()
        .map(|o| o.remove("TaskId"));
    m.callback_json("missing: TaskId of a Stopped", &signed(stop), EVENT);

    // The signature itself.
    let event = m.event();
    m.callback_json(
        "signature: another key",
        &sign_with("not-the-key", event),
        Expect::Error(401, "bad_signature"),
    );
    for (name, sign) in [
        ("empty", String::new()),
        ("32 non-hex characters", "z".repeat(32)),
        ("60 KiB", "a".repeat(LONG)),
    ] {
        let mut event = m.signed_event();
        event["Sign"] = json!(sign);
        m.callback_json(
            format!("signature: Sign {name}"),
            &event,
            Expect::Error(401, "bad_signature"),
        );
    }
    for (name, offset, expect) in [
        ("expired", -120, Expect::Error(401, "expired")),
        ("2 h ahead", 7200, Expect::Error(401, "expire_too_far")),
    ] {
        let mut event = m.event();
        let expire = now() + offset;
        event["ExpireTime"] = json!(expire);
        event["Sign"] = json!(tiw_push_edge::core::signature::sign(
            KEY,
            &expire.to_string()
        ));
        m.callback_json(format!("signature: {name}"), &event, expect);
    }

    // 60 KiB strings where they cannot be right.
    let mut event = m.signed_event();
    event["ExpireTime"] = json!("9".repeat(LONG));
    m.callback_json("60 KiB: ExpireTime digits", &event, ENVELOPE);
    let mut event = m.signed_event();
    event["EventData"]["RoomId"] = json!("1".repeat(LONG));
    m.callback_json("60 KiB: RoomId as a string", &event, EVENT);
    let mut event = m.event();
    event["EventType"] = json!("E".repeat(LONG));
    m.callback_json(
        "60 KiB: EventType, unsigned",
        &event,
        Expect::Error(401, "missing_signature"),
    );
    let mut event = m.signed_event();
    event["SdkAppId"] = json!("BIG");
    let body = splice(
        event.to_string().as_bytes(),
        "\"BIG\"",
        "1".repeat(LONG).as_bytes(),
    );
    m.callback("60 KiB: SdkAppId digits", &body, MALFORMED);
}

/// Methods, paths and content types.
fn request_rows(m: &mut Matrix) {
    let valid = m.signed_event().to_string();
    let json_ct = [("content-type", "application/json")];
    for method in ["GET", "PUT", "PATCH", "DELETE", "QUERY", "HEAD"] {
        m.request(
            format!("method: {method} /callback"),
            method,
            "/callback",
            &json_ct,
            valid.as_bytes(),
            METHOD,
        );
    }
    m.request(
        "method: BREW /callback (unknown to the runtime's HTTP parser)",
        "BREW",
        "/callback",
        &json_ct,
        valid.as_bytes(),
        Expect::Runtime(501),
    );
    let room_path = format!("/rooms/{}", m.target);
    for (method, path) in [
        ("POST", room_path.as_str()),
        ("POST", "/rooms"),
        ("PUT", "/healthz"),
        ("DELETE", "/openapi.json"),
        // The static files are Workers Static Assets, read by the worker (run_worker_first):
        // its method rules hold on them all.
        ("POST", "/client.js"),
        ("PATCH", "/client.d.ts"),
        ("PUT", "/"),
    ] {
        m.request(
            format!("method: {method} {path}"),
            method,
            path,
            &json_ct,
            valid.as_bytes(),
            METHOD,
        );
    }
    for path in [
        "/callback/",
        "/Callback",
        "//callback",
        "/%63allback",
        "/callback/x",
        "/callbacks",
        "/api/callback",
        "/callback%00",
    ] {
        m.request(
            format!("path: POST {path}"),
            "POST",
            path,
            &json_ct,
            valid.as_bytes(),
            NOT_FOUND,
        );
    }
    let status_auth = auth(STATUS_TOKEN);
    let token = [("authorization", status_auth.as_str())];
    let t = m.target;
    for (path, expect) in [
        (format!("/rooms/{t}/x"), NOT_FOUND),
        (format!("/rooms/{t}/live/"), NOT_FOUND),
        ("/rooms/abc".into(), ROOM_ID),
        ("/rooms/-1".into(), ROOM_ID),
        ("/rooms/0".into(), ROOM_ID),
        ("/rooms/4294967296".into(), ROOM_ID),
        ("/rooms/%31".into(), ROOM_ID),
        ("/rooms/%EF%BC%91".into(), ROOM_ID),
        ("/rooms/1.0".into(), ROOM_ID),
        ("/rooms?ids=".into(), ROOM_ID),
        (format!("/rooms?ids={t},x"), ROOM_ID),
        (
            format!(
                "/rooms?ids={}",
                (1..=101)
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Expect::Error(400, "too_many_rooms"),
        ),
        (
            format!("/rooms/{t}?sdkAppId=1"),
            Expect::Error(400, "unknown_app"),
        ),
        (
            format!("/rooms/{t}?sdkAppId=-1"),
            Expect::Error(400, "unknown_app"),
        ),
    ] {
        m.request(
            format!("path: GET {path}"),
            "GET",
            &path,
            &token,
            b"",
            expect,
        );
    }
    for (name, headers) in [
        ("no token", vec![]),
        ("a wrong token", vec![("authorization", "Bearer wrong")]),
    ] {
        m.request(
            format!("status read with {name}"),
            "GET",
            &room_path,
            &headers,
            b"",
            UNAUTHORIZED,
        );
    }

    // Odd Content-Type with a body that is not a callback (with a valid one, any type is
    // accepted: see the accepted rows).
    let multipart =
        format!("--b\r\ncontent-disposition: form-data; name=\"c\"\r\n\r\n{valid}\r\n--b--\r\n");
    for (ct, body) in [
        ("multipart/form-data; boundary=b", multipart.into_bytes()),
        (
            "application/x-www-form-urlencoded",
            format!("body={valid}").into_bytes(),
        ),
        (
            "application/json; charset=utf-16",
            valid.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        ),
        ("text/plain", b"hello".to_vec()),
        ("", b"{".to_vec()),
    ] {
        m.request(
            format!("content type: {ct:?} with a body that is not a callback"),
            "POST",
            "/callback",
            &[("content-type", ct)],
            &body,
            MALFORMED,
        );
    }
}

/// WebSocket upgrades: not one, incomplete, a bad token, a wrong origin.
fn live_rows(m: &mut Matrix) {
    let path = format!("/rooms/{}/live", m.target);
    let token = ("authorization", "Bearer matrix-status-token");
    assert_eq!(token.1, auth(STATUS_TOKEN));
    let key = ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    let version = ("sec-websocket-version", "13");
    let upgrade = ("upgrade", "websocket");
    let connection = ("connection", "Upgrade");
    let full = [upgrade, connection, key, version];
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&'static str, &'static str)> {
        full.iter().chain(extra).copied().collect()
    };
    let required = Expect::Error(426, "upgrade_required");
    type Headers = Vec<(&'static str, &'static str)>;
    let rows: Vec<(&str, String, Headers, Expect)> = vec![
        ("not an upgrade", path.clone(), vec![token], required),
        (
            "Upgrade: h2c",
            path.clone(),
            vec![("upgrade", "h2c"), connection, key, version, token],
            required,
        ),
        (
            "no Sec-WebSocket-Key",
            path.clone(),
            vec![upgrade, connection, version, token],
            Expect::Runtime(400),
        ),
        (
            "Sec-WebSocket-Version: 8",
            path.clone(),
            vec![
                upgrade,
                connection,
                key,
                ("sec-websocket-version", "8"),
                token,
            ],
            Expect::Runtime(426),
        ),
        (
            "no Sec-WebSocket-Version",
            path.clone(),
            vec![upgrade, connection, key, token],
            Expect::Runtime(426),
        ),
        ("no token", path.clone(), with(&[]), UNAUTHORIZED),
        (
            "a wrong bearer token",
            path.clone(),
            with(&[("authorization", "Bearer wrong")]),
            UNAUTHORIZED,
        ),
        (
            "the token under another scheme",
            path.clone(),
            with(&[("authorization", "Basic matrix-status-token")]),
            UNAUTHORIZED,
        ),
        (
            "the token with one more character",
            path.clone(),
            with(&[("authorization", "Bearer matrix-status-tokenx")]),
            UNAUTHORIZED,
        ),
        (
            "a wrong ?token=",
            format!("{path}?token=wrong"),
            with(&[]),
            UNAUTHORIZED,
        ),
        (
            "an empty ?token=",
            format!("{path}?token="),
            with(&[]),
            UNAUTHORIZED,
        ),
        (
            "no token and a bad room id (the token is checked first)",
            "/rooms/0/live".into(),
            with(&[]),
            UNAUTHORIZED,
        ),
        (
            "a wrong Origin",
            path.clone(),
            with(&[token, ("origin", "https://evil.example")]),
            Expect::Error(403, "origin_not_allowed"),
        ),
        (
            "Origin: null",
            path.clone(),
            with(&[token, ("origin", "null")]),
            Expect::Error(403, "origin_not_allowed"),
        ),
        (
            "the allowed Origin in capitals",
            path.clone(),
            with(&[token, ("origin", "HTTPS://APP.EXAMPLE")]),
            Expect::Error(403, "origin_not_allowed"),
        ),
        (
            "the allowed Origin as a prefix",
            path.clone(),
            with(&[token, ("origin", "https://app.example.evil.example")]),
            Expect::Error(403, "origin_not_allowed"),
        ),
        (
            "the allowed Origin with a port",
            path.clone(),
            with(&[token, ("origin", "https://app.example:8443")]),
            Expect::Error(403, "origin_not_allowed"),
        ),
        (
            "a bad room id",
            "/rooms/0/live".into(),
            with(&[token]),
            ROOM_ID,
        ),
        (
            "an unknown app",
            format!("{path}?sdkAppId=1"),
            with(&[token]),
            Expect::Error(400, "unknown_app"),
        ),
    ];
    for (name, path, headers, expect) in rows {
        m.request(format!("live: {name}"), "GET", &path, &headers, b"", expect);
    }
    m.request(
        "live: a POST upgrade",
        "POST",
        &path,
        &with(&[token]),
        b"",
        Expect::Runtime(400),
    );
    m.request(
        "live: POST, not an upgrade",
        "POST",
        &path,
        &[token],
        b"",
        METHOD,
    );
}

/// Admin requests: no token, a wrong one, malformed replay bodies, bad ids.
fn admin_rows(m: &mut Matrix) {
    let admin_auth = auth(ADMIN_TOKEN);
    let good = [("authorization", admin_auth.as_str())];
    let all = br#"{"all":true}"#;
    for (name, value) in [
        ("no token", None),
        ("a wrong token", Some("Bearer wrong")),
        (
            "the token under another scheme",
            Some("Basic matrix-admin-token"),
        ),
        ("the token cut short", Some("Bearer matrix-admin-toke")),
        (
            "the token with one more character",
            Some("Bearer matrix-admin-tokenx"),
        ),
        ("the token in capitals", Some("Bearer MATRIX-ADMIN-TOKEN")),
        ("the status token", Some("Bearer matrix-status-token")),
    ] {
        let headers: Vec<(&str, &str)> = value.map(|v| ("authorization", v)).into_iter().collect();
        for (method, path, body) in [
            ("GET", "/admin/dead-letters", &b""[..]),
            ("POST", "/admin/dead-letters/replay", all),
        ] {
            m.request(
                format!("admin: {method} {path} with {name}"),
                method,
                path,
                &headers,
                body,
                UNAUTHORIZED,
            );
        }
    }
    for (method, path) in [
        (
            "DELETE",
            "/admin/dead-letters/1700000000000-00000000000000000000000000000000",
        ),
        ("OPTIONS", "/admin/dead-letters"),
        ("GET", "/admin/nothing-here"),
    ] {
        m.request(
            format!("admin: {method} {path} with no token"),
            method,
            path,
            &[],
            b"",
            UNAUTHORIZED,
        );
    }
    m.request(
        "admin: DELETE /admin/dead-letters (wrong method)",
        "DELETE",
        "/admin/dead-letters",
        &good,
        b"",
        METHOD,
    );
    m.request(
        "admin: GET /admin/dead-letters/replay (wrong method)",
        "GET",
        "/admin/dead-letters/replay",
        &good,
        b"",
        METHOD,
    );
    let room_key = format!("room:{APP}:{}", m.target);
    for id in [
        room_key.as_str(),
        "..%2Froom",
        "1700000000000-0000",
        "%00",
        "x",
    ] {
        m.request(
            format!("admin: DELETE a malformed dead-letter id {id:?}"),
            "DELETE",
            &format!("/admin/dead-letters/{id}"),
            &good,
            b"",
            NOT_FOUND,
        );
    }

    let ids_101 = json!({"ids": (0..=100).map(|i| format!("id-{i}")).collect::<Vec<_>>()});
    let mut big = json!({"ids": ["a"]}).to_string().into_bytes();
    big.splice(
        1..1,
        format!("\"x\":\"{}\",", "x".repeat(70 * 1024)).into_bytes(),
    );
    let replays: Vec<(&str, Vec<u8>, Expect)> = vec![
        ("not JSON", b"{nope".to_vec(), MALFORMED),
        ("empty", b"".to_vec(), MALFORMED),
        ("an array", b"[]".to_vec(), MALFORMED),
        ("null", b"null".to_vec(), MALFORMED),
        ("{}", b"{}".to_vec(), MALFORMED),
        ("all false", br#"{"all":false}"#.to_vec(), MALFORMED),
        ("all as a string", br#"{"all":"true"}"#.to_vec(), MALFORMED),
        ("all as 1", br#"{"all":1}"#.to_vec(), MALFORMED),
        ("no ids", br#"{"ids":[]}"#.to_vec(), MALFORMED),
        ("a number id", br#"{"ids":[1]}"#.to_vec(), MALFORMED),
        ("a nested id", br#"{"ids":[["a"]]}"#.to_vec(), MALFORMED),
        ("ids as a string", br#"{"ids":"a"}"#.to_vec(), MALFORMED),
        ("ids null", br#"{"ids":null}"#.to_vec(), MALFORMED),
        (
            "ids and all",
            br#"{"ids":["a"],"all":true}"#.to_vec(),
            MALFORMED,
        ),
        (
            "all and an unknown member",
            br#"{"all":true,"x":1}"#.to_vec(),
            MALFORMED,
        ),
        ("101 ids", ids_101.to_string().into_bytes(), MALFORMED),
        (
            "all twice",
            br#"{"all":true,"all":true}"#.to_vec(),
            MALFORMED,
        ),
        (
            "all false, then true",
            br#"{"all":false,"all":true}"#.to_vec(),
            MALFORMED,
        ),
        (
            "ids twice",
            br#"{"ids":["a"],"ids":["b"]}"#.to_vec(),
            MALFORMED,
        ),
        (
            "a duplicate name inside an id",
            br#"{"ids":[{"a":1,"a":2}]}"#.to_vec(),
            MALFORMED,
        ),
        ("10,000 nested arrays", nested("[", "]", 10_000), MALFORMED),
        ("0xff in an id", b"{\"ids\":[\"\xff\"]}".to_vec(), MALFORMED),
        (
            "a lone surrogate in an id",
            br#"{"ids":["\ud800"]}"#.to_vec(),
            MALFORMED,
        ),
        (
            "a number beyond a double",
            br#"{"all":true,"n":1e400}"#.to_vec(),
            MALFORMED,
        ),
        ("over 64 KiB", big, TOO_LARGE),
    ];
    for (name, body, expect) in replays {
        m.request(
            format!("admin: replay body {name}"),
            "POST",
            "/admin/dead-letters/replay",
            &[good[0], ("content-type", "application/json")],
            &body,
            expect,
        );
    }
}

/// The rows API.md answers with 200: each in a room of its own, with what must be stored.
fn accepted_rows(m: &mut Matrix) {
    // Unknown members, at the top and in EventData, are ignored (and forwarded).
    let room = unique_room();
    let mut event = started(room, "unknown-members", now());
    event["Foo"] = json!({"nested": [1, {"x": null}], "big": 1e300});
    event["EventData"]["Bar"] = json!("baz");
    let body = signed(event).to_string();
    let body = splice(
        body.as_bytes(),
        "\"Foo\":",
        b"\"Huge\":-18446744073709551617,\"Foo\":",
    );
    m.accept(
        "unknown members at the top and in EventData, one a 65-bit integer",
        Some("application/json"),
        body,
        room,
        "applied",
        |status| {
            let keys: BTreeSet<&str> = status
                .as_object()
                .map(|o| o.keys().map(String::as_str).collect())
                .unwrap_or_default();
            let documented: BTreeSet<&str> = [
                "sdkAppId",
                "roomId",
                "state",
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
                "tasks",
            ]
            .into();
            assert_eq!(keys, documented, "{status}");
            assert!(!status.to_string().contains("baz"), "{status}");
            assert_eq!(status["taskId"], "unknown-members");
        },
    );

    // Optional fields of a Stopped of the wrong type are dropped, not refused.
    let room = unique_room();
    let t = now();
    let mut event = stopped(room, "wrong-optionals", t, t + 5);
    for (field, value) in [
        ("GroupId", json!(42)),
        ("FinishReason", json!(7)),
        ("PushUserId", json!([])),
        ("IMSyncTime", json!("x")),
        ("ExceptionCnt", json!(1.5)),
        ("PushStopTime", json!("soon")),
        ("Error", json!("boom")),
    ] {
        event["EventData"][field] = value;
    }
    m.accept(
        "a Stopped with every optional field of the wrong type",
        Some("application/json"),
        signed(event).to_string().into_bytes(),
        room,
        "applied",
        |status| {
            assert_eq!(status["state"], "stopped");
            for field in [
                "groupId",
                "finishReason",
                "pushUserId",
                "imSyncTime",
                "exceptionCount",
                "stoppedAt",
                "error",
            ] {
                assert_eq!(status[field], Value::Null, "{field}: {status}");
            }
        },
    );
    let room = unique_room();
    m.accept(
        "a Stopped with only TaskId and RoomId",
        Some("application/json"),
        signed(
            json!({"EventType": "WhiteboardPushStopped", "SdkAppId": APP,
                      "EventData": {"TaskId": "bare", "RoomId": room}}),
        )
        .to_string()
        .into_bytes(),
        room,
        "applied",
        |status| {
            assert_eq!(status["state"], "stopped");
            assert_eq!(status["taskId"], "bare");
            assert_eq!(status["updatedAt"], Value::Null);
        },
    );

    // The body is read as bytes whatever its Content-Type.
    for ct in [
        Some("text/plain"),
        Some("multipart/form-data; boundary=b"),
        Some("application/json; charset=latin1"),
        None,
    ] {
        let room = unique_room();
        m.accept(
            format!("a valid callback with Content-Type {ct:?}"),
            ct,
            signed(started(room, "any-type", now()))
                .to_string()
                .into_bytes(),
            room,
            "applied",
            |status| assert_eq!(status["state"], "streaming"),
        );
    }

    // Any non-empty TaskId is a task id: non-ASCII, control characters, 60 KiB. Stored and
    // shown as sent; log lines and headers only ever carry a header-safe form.
    for task in [
        "任务-1253".to_string(),
        "🎨 board".into(),
        "tab\there, new\nline".into(),
        "nul\u{0}byte".into(),
        "esc\u{1b}[31mred".into(),
        "right-to-left \u{202e}".into(),
        "crlf\r\nx-injected: 1".into(),
        "\u{feff}bom".into(),
        " ".into(),
        "t".repeat(LONG),
    ] {
        let room = unique_room();
        let shown: String = task.chars().take(24).collect();
        let expected = task.clone();
        m.accept(
            format!("TaskId {shown:?} ({} bytes)", task.len()),
            Some("application/json"),
            signed(started(room, &task, now())).to_string().into_bytes(),
            room,
            "applied",
            move |status| {
                assert_eq!(status["taskId"], expected.as_str());
                assert_eq!(status["tasks"][0]["taskId"], expected.as_str());
            },
        );
    }

    // 60 KiB strings where any string is allowed.
    let room = unique_room();
    let mut event = started(room, "long-user", now());
    event["EventData"]["PushUserId"] = json!("u".repeat(LONG));
    m.accept(
        "a 60 KiB PushUserId",
        Some("application/json"),
        signed(event).to_string().into_bytes(),
        room,
        "applied",
        |status| assert_eq!(status["pushUserId"].as_str().map(str::len), Some(LONG)),
    );
    let room = unique_room();
    let mut event = started(room, "long-member", now());
    event["Padding"] = json!("p".repeat(LONG));
    m.accept(
        "a 60 KiB unknown member",
        Some("application/json"),
        signed(event).to_string().into_bytes(),
        room,
        "applied",
        |status| assert_eq!(status["taskId"], "long-member"),
    );
    let room = unique_room();
    let mut event = started(room, "long-type", now());
    event["EventType"] = json!(format!("E\r\nx-injected: 1{}", "e".repeat(LONG)));
    m.accept(
        "a signed 60 KiB EventType with CRLF (another event: ignored)",
        Some("application/json"),
        signed(event).to_string().into_bytes(),
        room,
        "ignored",
        |status| assert_eq!(status["state"], "idle"),
    );
}

fn worker_vars(mode: Delivery, origin: &Origin) -> Vec<(&'static str, String)> {
    let mut vars = signed_vars();
    vars.extend([
        ("ORIGIN_URL", origin.url("/ok")),
        ("STATUS_TOKEN", STATUS_TOKEN.into()),
        ("ALLOWED_ORIGINS", ALLOWED.into()),
        ("ADMIN_TOKEN", ADMIN_TOKEN.into()),
        ("POLL_INTERVAL_SECONDS", "1".into()),
    ]);
    if mode == Delivery::Queue {
        vars.extend([
            ("ORIGIN_DELIVERY", "queue".into()),
            ("ORIGIN_RETRY_BASE_SECONDS", "1".into()),
            ("ORIGIN_TIMEOUT_MS", "2000".into()),
        ]);
    }
    vars
}

/// `GET /rooms/{room}` with the status token: (ETag, body).
fn status(w: &Worker, room: u32) -> (String, Value) {
    let status_auth = auth(STATUS_TOKEN);
    let res = w.get_with(
        &format!("/rooms/{room}"),
        &[("authorization", &status_auth)],
    );
    assert_eq!(res.status, 200, "{}", res.text());
    (
        res.header("etag").unwrap_or_default().to_string(),
        res.json(),
    )
}

/// The room object's log lines about `room`.
fn object_lines(w: &Worker, room: u32) -> Vec<Value> {
    let key = format!("room:{APP}:{room}");
    w.logs()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
        .filter(|v| v["component"] == "room-object" && v["key"] == key.as_str())
        .collect()
}

/// Every JSON log line of the worker.
fn log_lines(w: &Worker) -> Vec<Value> {
    w.logs()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
        .collect()
}

fn header_safe(text: &str) -> bool {
    text.chars().count() <= 128 && text.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
}

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// Sends one row and checks its answer and its log line.
fn check_row(w: &Worker, row: &Row) {
    let sent = Instant::now();
    let res = request_within(w.port, &row.request, row.head, ANSWER_WITHIN)
        .unwrap_or_else(|e| panic!("{}: no answer within {ANSWER_WITHIN:?}: {e}", row.name));
    assert!(
        sent.elapsed() < ANSWER_WITHIN + Duration::from_secs(1),
        "{}",
        row.name
    );
    let (status, code) = match row.expect {
        Expect::Runtime(status) => {
            assert_eq!(res.status, status, "{}: {}", row.name, res.text());
            assert_eq!(res.header("x-request-id"), None, "{}", row.name);
            return;
        }
        Expect::Error(status, code) => (status, code),
    };
    assert_eq!(res.status, status, "{}: {}", row.name, res.text());
    if !row.head {
        assert_eq!(res.error_code(), code, "{}", row.name);
    }
    match code {
        "unauthorized" => assert_eq!(
            res.header("www-authenticate"),
            Some("Bearer"),
            "{}",
            row.name
        ),
        "method_not_allowed" => assert!(res.header("allow").is_some(), "{}", row.name),
        _ => {}
    }
    let request_id = res
        .header("x-request-id")
        .unwrap_or_else(|| panic!("{}: no x-request-id", row.name));
    let line = w.log_line(request_id);
    assert_eq!(line["status"], status, "{}: {line}", row.name);
    assert_eq!(line["error"], code, "{}: {line}", row.name);
    assert_eq!(line["objectCalls"], 0, "{}: {line}", row.name);
    assert_eq!(line["kvWrites"], 0, "{}: {line}", row.name);
    assert_eq!(line.get("forwarded"), None, "{}: {line}", row.name);
    assert_eq!(line.get("enqueued"), None, "{}: {line}", row.name);
}

/// Sends one accepted row; returns its request id.
fn check_accepted(w: &Worker, row: &Accepted) -> String {
    let res = request_within(w.port, &row.request, false, ANSWER_WITHIN)
        .unwrap_or_else(|e| panic!("{}: no answer within {ANSWER_WITHIN:?}: {e}", row.name));
    assert_eq!(res.status, 200, "{}: {}", row.name, res.text());
    assert_eq!(
        res.json(),
        json!({"error_code": 0, "outcome": row.outcome}),
        "{}",
        row.name
    );
    let request_id = res.header("x-request-id").unwrap_or_default().to_string();
    let line = w.log_line(&request_id);
    assert_eq!(line["outcome"], row.outcome, "{}: {line}", row.name);
    for field in ["eventType", "taskId"] {
        if let Some(text) = line[field].as_str() {
            assert!(header_safe(text), "{}: {field} {text:?}", row.name);
        }
    }
    let (_, stored) = status(w, row.room);
    (row.check)(&stored);
    request_id
}

fn run_matrix(mode: Delivery) {
    let origin = Origin::start();
    let w = Worker::start(&worker_vars(mode, &origin));
    let target = unique_room();

    // A live viewer of the target room, connected before the rows.
    let status_auth = auth(STATUS_TOKEN);
    let mut viewer = live_connect(
        &w,
        &format!("/rooms/{target}/live"),
        &[("authorization", &status_auth)],
    )
    .unwrap_or_else(|res| panic!("viewer refused: {} {}", res.status, res.text()));
    let first = next_message(&mut viewer);
    assert_eq!(first["room"]["state"], "idle", "{first}");
    let before = status(&w, target);
    // The object seeded itself for the viewer: wait for its line, then take the snapshot.
    let deadline = Instant::now() + Duration::from_secs(5);
    while object_lines(&w, target).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    let object_before = object_lines(&w, target);

    let mut m = Matrix::new(w.port, target);
    let mut groups = Vec::new();
    for (group, build) in [
        ("body", body_rows as fn(&mut Matrix)),
        ("request", request_rows),
        ("live", live_rows),
        ("admin", admin_rows),
    ] {
        let before = m.rows.len();
        build(&mut m);
        groups.push(format!("{group} {}", m.rows.len() - before));
    }
    accepted_rows(&mut m);
    let mut names = BTreeSet::new();
    for name in m
        .rows
        .iter()
        .map(|r| &r.name)
        .chain(m.accepted.iter().map(|r| &r.name))
    {
        assert!(names.insert(name), "two rows are named {name:?}");
    }

    let started_rows = Instant::now();
    for row in &m.rows {
        check_row(&w, row);
    }
    let mut accepted_ids = BTreeSet::new();
    for row in &m.accepted {
        accepted_ids.insert(check_accepted(&w, row));
    }
    eprintln!(
        "bad-input matrix ({mode:?}): {} refused rows ({}) and {} accepted by design, {} in \
         all, in {:.1} s",
        m.rows.len(),
        groups.join(", "),
        m.accepted.len(),
        m.rows.len() + m.accepted.len(),
        started_rows.elapsed().as_secs_f64()
    );

    // The origin gets exactly the accepted callbacks: wait for them (the queue's delivery),
    // then a little longer for anything that should not come.
    let mut expected: Vec<Vec<u8>> = m.accepted.iter().map(|r| r.body.clone()).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while origin.received("").len() < expected.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(3));
    let mut got: Vec<Vec<u8>> = origin.received("").into_iter().map(|r| r.body).collect();
    got.sort();
    expected.sort();
    assert!(
        got == expected,
        "the origin got {} requests, {} expected",
        got.len(),
        expected.len()
    );

    // Nothing pushed, stored or queued for the target room.
    assert!(
        stays_quiet(&mut viewer, Duration::from_secs(1)),
        "the viewer was sent something"
    );
    let after = status(&w, target);
    assert_eq!(after, before, "the target room changed");
    assert_eq!(object_lines(&w, target), object_before);
    let lines = log_lines(&w);
    let handed_on: BTreeSet<String> = lines
        .iter()
        .filter(|l| l.get("forwarded").is_some() || l.get("enqueued").is_some())
        .filter_map(|l| l["requestId"].as_str().map(str::to_string))
        .collect();
    assert_eq!(handed_on, accepted_ids);
    let delivery_ids: BTreeSet<String> = m.accepted.iter().map(|r| md5_hex(&r.body)).collect();
    for line in lines.iter().filter(|l| l.get("deliveryId").is_some()) {
        let id = line["deliveryId"].as_str().unwrap_or_default();
        assert!(delivery_ids.contains(id), "an unexpected delivery: {line}");
    }

    // The positive control: one valid callback for the target room shows in every channel.
    let control = signed(started(target, "control", now())).to_string();
    let res = w.post("/callback", control.as_bytes());
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["outcome"], "applied");
    let request_id = res.header("x-request-id").unwrap_or_default().to_string();
    let message = next_message(&mut viewer);
    assert_eq!(message["room"]["taskId"], "control", "{message}");
    let (etag, body) = status(&w, target);
    assert_ne!(etag, before.0);
    assert_eq!(body["state"], "streaming");
    let line = w.log_line(&request_id);
    assert_eq!(line["objectCalls"], 1, "{line}");
    let handed = match mode {
        Delivery::Direct => "forwarded",
        Delivery::Queue => "enqueued",
    };
    assert_eq!(line[handed], true, "{line}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while origin.matching("control").is_empty() {
        assert!(
            Instant::now() < deadline,
            "the control never reached the origin"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(origin.matching("control")[0].body, control.as_bytes());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events: BTreeSet<String> = object_lines(&w, target)
            .iter()
            .filter_map(|l| l["event"].as_str().map(str::to_string))
            .collect();
        if events.contains("broadcast") && events.contains("kv_write") {
            break;
        }
        assert!(Instant::now() < deadline, "object lines: {events:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    if mode == Delivery::Queue {
        let deliveries = log_lines(&w)
            .into_iter()
            .filter(|l| l["deliveryId"] == md5_hex(control.as_bytes()).as_str())
            .count();
        assert!(deliveries > 0, "no delivery line for the control");
    }
}
