//! Native speed of the pure core: what one callback or one status read costs before any I/O.
//!
//! Prints a table and asserts nothing about speed. Each case is calibrated to about
//! `ROUND_TARGET` per round; the figure is the median ns/op over `ROUNDS` rounds, with the
//! fastest round beside it so noise is visible. Run with `cargo bench --bench core`
//! (release profile: the same `opt-level` as the wasm build, but native code).
//!
//! The second table times `verify` on hostile bodies of at most 64 KiB (benches/wasm/src/
//! hostile.rs, which the wasm bench in benches/wasm times too) and names the worst.

#[path = "wasm/src/hostile.rs"]
mod hostile;

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tiw_push_edge::core::callback::{self, Event, PushEvent};
use tiw_push_edge::core::config::Config;
use tiw_push_edge::core::room::{Outcome, Room, MAX_TASKS};
use tiw_push_edge::core::signature::sign;
use tiw_push_edge::core::status;

const KEY: &str = "bench-callback-key";
const APP: u64 = hostile::APP;
const ROOM: u32 = 880528;
const NOW: i64 = 1_700_000_000;
/// Just under the 64 KiB body limit the shell enforces before `verify` runs.
const LARGE_BODY_BYTES: usize = 60 * 1024;

const ROUNDS: usize = 11;
const ROUND_TARGET: Duration = Duration::from_millis(40);

fn main() {
    let config = Config::from_lookup(|name| match name {
        "SDK_APP_IDS" => Some(APP.to_string()),
        "CALLBACK_KEY" => Some(KEY.to_string()),
        _ => None,
    })
    .expect("the bench config is valid");

    let started_body = signed(started("ghucnligqtgtvk2624mb", NOW - 5));
    let padded_string = padded_with_string(started("t", NOW - 5), LARGE_BODY_BYTES);
    let padded_members = padded_with_members(started("t", NOW - 5), LARGE_BODY_BYTES);
    for body in [&started_body, &padded_string, &padded_members] {
        let verified = callback::verify(body, &config, NOW).expect("the bench body verifies");
        assert!(matches!(verified.event, Event::Push(_)));
    }

    let room = full_room(&config);
    let stop = push_event(&signed(stopped("task-15", NOW - 100 + 15, NOW)), &config);
    assert_eq!(room.clone().apply(stop.clone()), Outcome::Applied);
    let stored = room.encode();
    assert_eq!(Room::decode(&stored).as_ref(), Ok(&room));

    println!(
        "{:<52} {:>8} {:>12} {:>12} {:>12}",
        "case", "bytes", "median ns", "min ns", "ops/s"
    );
    report(
        "verify: signed WhiteboardPushStarted",
        started_body.len(),
        measure(|| callback::verify(black_box(&started_body), &config, NOW)),
    );
    report(
        "verify: 60 KiB body, one long string member",
        padded_string.len(),
        measure(|| callback::verify(black_box(&padded_string), &config, NOW)),
    );
    report(
        "verify: 60 KiB body, many small members",
        padded_members.len(),
        measure(|| callback::verify(black_box(&padded_members), &config, NOW)),
    );
    report(
        "Room::apply (16 tasks, Stopped for one) + encode",
        stored.len(),
        measure(|| {
            // The shell decodes a fresh room per callback; the clone stands in for that.
            let mut room = black_box(&room).clone();
            let outcome = room.apply(black_box(&stop).clone());
            (outcome, room.encode())
        }),
    );
    report(
        "Room::decode (16 tasks)",
        stored.len(),
        measure(|| Room::decode(black_box(&stored))),
    );
    report(
        "status::render: body + etag (16 tasks)",
        status_body(&room).len(),
        measure(|| status_body(black_box(&room))),
    );
    hostile_bodies(&config);
}

/// `verify` on every hostile body, with the answer it gets, then the worst of them.
fn hostile_bodies(config: &Config) {
    println!();
    println!(
        "{:<52} {:>8} {:>12} {:>12} {:>18}",
        "hostile body (verify)", "bytes", "median ns", "min ns", "answer"
    );
    let mut worst: Option<(&str, f64)> = None;
    for (name, body) in hostile::bodies() {
        assert!(body.len() <= hostile::LIMIT, "{name}: {} bytes", body.len());
        let answer = match callback::verify(&body, config, NOW) {
            Ok(_) => "verified",
            Err(e) => e.code(),
        };
        let figures = measure(|| callback::verify(black_box(&body), config, NOW));
        println!(
            "{:<52} {:>8} {:>12.0} {:>12.0} {:>18}",
            name,
            body.len(),
            figures.median_ns,
            figures.min_ns,
            answer
        );
        if worst.is_none_or(|(_, ns)| figures.median_ns > ns) {
            worst = Some((name, figures.median_ns));
        }
    }
    if let Some((name, ns)) = worst {
        println!("worst hostile body: {name}, {:.0} us", ns / 1000.0);
    }
}

/// What a status read renders for one room: the body and its `ETag`.
fn status_body(room: &Room) -> String {
    let rendered = status::render(APP, ROOM, Some(room));
    String::from_utf8_lossy(&rendered.bytes).into_owned() + &rendered.etag
}

/// A room holding `MAX_TASKS` tasks, built the way the worker builds one: verified callbacks.
fn full_room(config: &Config) -> Room {
    let mut room = Room::new();
    for i in 0..MAX_TASKS as i64 {
        let task = format!("task-{i:02}");
        let start = NOW - 100 + i;
        let body = if i % 2 == 0 {
            stopped(&task, start, start + 30)
        } else {
            started(&task, start)
        };
        room.apply(push_event(&signed(body), config));
    }
    assert_eq!(room.tasks().len(), MAX_TASKS);
    room
}

fn push_event(body: &[u8], config: &Config) -> PushEvent {
    match callback::verify(body, config, NOW).map(|v| v.event) {
        Ok(Event::Push(event)) => event,
        other => panic!("not a push event: {other:?}"),
    }
}

fn started(task: &str, start: i64) -> Value {
    json!({
        "EventType": "WhiteboardPushStarted",
        "SdkAppId": APP,
        "Timestamp": start,
        "EventData": {
            "TaskId": task,
            "RoomId": ROOM,
            "GroupId": ROOM.to_string(),
            "PushUserId": format!("tic_push_user_{ROOM}_01"),
            "PushStartTime": start,
            "IMSyncTime": start,
        }
    })
}

fn stopped(task: &str, start: i64, stop: i64) -> Value {
    json!({
        "EventType": "WhiteboardPushStopped",
        "SdkAppId": APP,
        "Timestamp": stop,
        "EventData": {
            "TaskId": task,
            "RoomId": ROOM,
            "GroupId": ROOM.to_string(),
            "PushUserId": format!("tic_push_user_{ROOM}_01"),
            "FinishReason": "USER_CALL",
            "PushStartTime": start,
            "PushStopTime": stop,
            "IMSyncTime": start,
            "ExceptionCnt": 0,
        }
    })
}

fn signed(mut body: Value) -> Vec<u8> {
    let expire = NOW + 60;
    body["ExpireTime"] = json!(expire);
    body["Sign"] = json!(sign(KEY, &expire.to_string()));
    body.to_string().into_bytes()
}

/// A signed body grown to `size` bytes by one unknown top-level string member.
fn padded_with_string(mut body: Value, size: usize) -> Vec<u8> {
    let base = signed(body.clone()).len();
    body["Padding"] = json!("x".repeat(size.saturating_sub(base + 14)));
    signed(body)
}

/// A signed body grown to about `size` bytes by unknown `EventData` members, each a distinct
/// name (the duplicate-name check has to look at every one).
fn padded_with_members(mut body: Value, size: usize) -> Vec<u8> {
    let mut i = 0;
    while signed(body.clone()).len() < size {
        for _ in 0..256 {
            body["EventData"][format!("Extra{i:05}")] = json!(i);
            i += 1;
        }
    }
    signed(body)
}

struct Figures {
    median_ns: f64,
    min_ns: f64,
}

/// Calibrates a batch size to about `ROUND_TARGET`, then times `ROUNDS` batches.
fn measure<T>(mut op: impl FnMut() -> T) -> Figures {
    let mut batch: u64 = 1;
    loop {
        let elapsed = time_batch(&mut op, batch);
        if elapsed >= ROUND_TARGET / 4 || batch >= 1 << 30 {
            let per_op = elapsed.as_secs_f64() / batch as f64;
            batch = ((ROUND_TARGET.as_secs_f64() / per_op) as u64).max(1);
            break;
        }
        batch *= 4;
    }
    let mut rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| time_batch(&mut op, batch).as_nanos() as f64 / batch as f64)
        .collect();
    rounds.sort_by(f64::total_cmp);
    Figures {
        median_ns: rounds[rounds.len() / 2],
        min_ns: rounds[0],
    }
}

fn time_batch<T>(op: &mut impl FnMut() -> T, batch: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..batch {
        black_box(op());
    }
    start.elapsed()
}

fn report(case: &str, bytes: usize, figures: Figures) {
    println!(
        "{:<52} {:>8} {:>12.0} {:>12.0} {:>12.0}",
        case,
        bytes,
        figures.median_ns,
        figures.min_ns,
        1e9 / figures.median_ns
    );
}
