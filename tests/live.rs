//! `GET /rooms/{roomId}/live` end to end on `wrangler dev`: the first message and every change
//! over a real WebSocket, ping/pong, closing, and every refusal of API.md.

mod support;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use support::*;
use tungstenite::Message;

const TOKEN: &str = "live-viewer-token";
const ALLOWED: &str = "https://app.example";
const MAX_PER_ROOM: usize = 3;

fn worker() -> &'static Worker {
    static WORKER: OnceLock<Worker> = OnceLock::new();
    WORKER.get_or_init(|| {
        let mut vars = signed_vars();
        vars.push(("STATUS_TOKEN", TOKEN.into()));
        vars.push(("ALLOWED_ORIGINS", ALLOWED.into()));
        vars.push(("MAX_LIVE_CONNECTIONS_PER_ROOM", MAX_PER_ROOM.to_string()));
        Worker::start(&vars)
    })
}

const AUTH: (&str, &str) = ("authorization", "Bearer live-viewer-token");

fn connect(room: u32) -> Live {
    live_connect(worker(), &format!("/rooms/{room}/live"), &[AUTH])
        .unwrap_or_else(|res| panic!("refused: {} {}", res.status, res.text()))
}

#[test]
fn the_first_message_is_the_status_body_and_etag_of_a_status_read() {
    let w = worker();
    let room = unique_room();
    let t = now();
    assert_eq!(outcome(w, &signed(started(room, "first", t))), "applied");
    let mut socket = connect(room);
    let message = next_message(&mut socket);
    let res = w.get_with(&format!("/rooms/{room}"), &[AUTH]);
    assert_eq!(res.status, 200);
    assert_eq!(message["type"], "status");
    assert_eq!(message["room"], res.json());
    assert_eq!(message["etag"], res.header("etag").unwrap_or_default());

    // An unseen room starts idle.
    let mut idle = connect(unique_room());
    assert_eq!(next_message(&mut idle)["room"]["state"], "idle");
}

#[test]
fn a_viewer_connected_before_a_callback_receives_each_change_and_nothing_else() {
    let w = worker();
    let room = unique_room();
    let t = now();
    let mut socket = connect(room);
    assert_eq!(next_message(&mut socket)["room"]["state"], "idle");

    let mut after_answer = Vec::new();
    let mut after_send = Vec::new();
    for i in 0..30i64 {
        let task = format!("t{i:02}");
        let body = signed(if i % 2 == 0 {
            started(room, &task, t + i)
        } else {
            stopped(room, &format!("t{:02}", i - 1), t + i - 1, t + i)
        });
        let sent = Instant::now();
        assert_eq!(outcome(w, &body), "applied");
        let answered = sent.elapsed();
        let message = next_message(&mut socket);
        let arrived = sent.elapsed();
        after_answer.push(arrived.saturating_sub(answered));
        after_send.push(arrived);
        let expected = if i % 2 == 0 { "streaming" } else { "stopped" };
        assert_eq!(message["room"]["state"], expected, "{message}");
        assert_eq!(message["room"]["taskId"], format!("t{:02}", i - i % 2));
    }

    // A duplicate or stale event sends nothing.
    assert_eq!(outcome(w, &signed(started(room, "t00", t))), "stale");
    assert_eq!(
        outcome(w, &signed(stopped(room, "t00", t, t + 1))),
        "duplicate"
    );
    assert!(stays_quiet(&mut socket, Duration::from_millis(1500)));

    after_answer.sort();
    after_send.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let n = after_answer.len();
    eprintln!(
        "live: change message after the callback's 200: p50 {:.2} ms, p99 {:.2} ms; after the \
         callback was sent: p50 {:.2} ms, p99 {:.2} ms (n = {n})",
        ms(after_answer[n / 2]),
        ms(after_answer[n * 99 / 100]),
        ms(after_send[n / 2]),
        ms(after_send[n * 99 / 100]),
    );
}

#[test]
fn ping_gets_pong_and_a_close_is_answered_with_a_close() {
    let mut socket = connect(unique_room());
    next_message(&mut socket);
    socket.send(Message::text("ping")).expect("send ping");
    match socket.read().expect("read pong") {
        Message::Text(text) => assert_eq!(text.as_str(), "pong"),
        other => panic!("expected pong, got {other:?}"),
    }
    // Anything else is ignored.
    socket.send(Message::text("hello")).expect("send");
    assert!(stays_quiet(&mut socket, Duration::from_millis(800)));

    socket.close(None).expect("close");
    let answered = loop {
        match socket.read() {
            Ok(Message::Close(_)) => break true,
            Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed) => break true,
            Err(e) => panic!("no close answer: {e}"),
        }
    };
    assert!(answered);
}

#[test]
fn more_connections_than_the_limit_are_refused_until_one_closes() {
    let w = worker();
    let room = unique_room();
    let mut open: Vec<Live> = (0..MAX_PER_ROOM).map(|_| connect(room)).collect();
    let refused = live_refusal(w, &format!("/rooms/{room}/live"), &[AUTH]);
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert_eq!(refused.error_code(), "too_many_connections");

    // Another room is not affected.
    let _other = connect(unique_room());

    let mut closing = open.pop().expect("a socket");
    closing.close(None).expect("close");
    while closing.read().is_ok() {}
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match live_connect(w, &format!("/rooms/{room}/live"), &[AUTH]) {
            Ok(_) => break,
            Err(res) => {
                assert_eq!(res.status, 429, "{}", res.text());
                assert!(Instant::now() < deadline, "a closed slot was never freed");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

#[test]
fn bad_upgrades_get_the_json_errors_of_the_api() {
    let w = worker();
    let room = unique_room();
    let path = format!("/rooms/{room}/live");
    let refusal = |path: &str, headers: &[(&str, &str)]| {
        let res = live_refusal(w, path, headers);
        (res.status, res.error_code())
    };

    // Not an upgrade at all.
    let plain = w.get_with(&path, &[AUTH]);
    assert_eq!(
        (plain.status, plain.error_code()),
        (426, "upgrade_required".into())
    );
    // The token: missing or wrong, as a header or in the query.
    assert_eq!(refusal(&path, &[]), (401, "unauthorized".into()));
    assert_eq!(
        refusal(&format!("{path}?token=wrong"), &[]),
        (401, "unauthorized".into())
    );
    // ...checked before the room id.
    assert_eq!(refusal("/rooms/0/live", &[]), (401, "unauthorized".into()));
    // A browser from an unlisted origin.
    assert_eq!(
        refusal(&path, &[AUTH, ("origin", "https://evil.example")]),
        (403, "origin_not_allowed".into())
    );
    assert_eq!(
        refusal("/rooms/0/live", &[AUTH]),
        (400, "invalid_room_id".into())
    );
    assert_eq!(
        refusal(&format!("{path}?sdkAppId=1"), &[AUTH]),
        (400, "unknown_app".into())
    );
    assert_eq!(
        w.request("POST", &path, &[AUTH], b"").status,
        405,
        "only GET upgrades"
    );

    // Accepted: the token in the query (as browsers send it), a listed origin, the other app.
    let mut by_query = live_connect(
        w,
        &format!("{path}?token={TOKEN}&sdkAppId={OTHER_APP}"),
        &[("origin", ALLOWED)],
    )
    .unwrap_or_else(|res| panic!("refused: {} {}", res.status, res.text()));
    let first = next_message(&mut by_query);
    assert_eq!(first["room"]["sdkAppId"], OTHER_APP);

    // No log line carries the token.
    assert!(!w.logs().contains(TOKEN), "the token reached the log");
}
