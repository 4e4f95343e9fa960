//! The room object end to end on `wrangler dev` (which runs Durable Objects and their alarms
//! locally): each room's only writer, KV as its read model written at most once a second,
//! seeding from a KV value written before the object existed, and state across a restart.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;
use tiw_push_edge::core::callback::{self, Event};
use tiw_push_edge::core::config::Config;
use tiw_push_edge::core::room::Room;

const ROOMS: u32 = 20;
const TASKS: i64 = 16;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Fires every body at once (one thread each); returns each answer's status and latency.
fn fire_all(w: &Worker, bodies: &[Value]) -> Vec<(u16, String, Duration)> {
    let start = std::sync::Barrier::new(bodies.len());
    std::thread::scope(|s| {
        let handles: Vec<_> = bodies
            .iter()
            .map(|body| {
                let start = &start;
                s.spawn(move || {
                    let bytes = body.to_string();
                    start.wait();
                    let sent = Instant::now();
                    let res = w.post("/callback", bytes.as_bytes());
                    let outcome = if res.status == 200 {
                        res.json()["outcome"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string()
                    } else {
                        res.text()
                    };
                    (res.status, outcome, sent.elapsed())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("sender thread"))
            .collect()
    })
}

/// The room as its object holds it: the first message of a live socket.
fn object_view(w: &Worker, room: u32) -> Value {
    let mut socket = live_connect(w, &format!("/rooms/{room}/live"), &[])
        .unwrap_or_else(|res| panic!("live refused: {} {}", res.status, res.text()));
    let message = next_message(&mut socket);
    let _ = socket.close(None);
    message
}

/// The room as KV holds it: a status read that went to KV (`x-kv-reads: 1`), which happens
/// once the cached entry is older than the poll interval (1 s here).
fn kv_view(w: &Worker, room: u32) -> (String, Value) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let res = w.get(&format!("/rooms/{room}"));
        assert_eq!(res.status, 200, "{}", res.text());
        if res.header("x-kv-reads") == Some("1") {
            return (
                res.header("etag").unwrap_or_default().to_string(),
                res.json(),
            );
        }
        assert!(Instant::now() < deadline, "no KV read for room {room}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn a_same_room_burst_loses_nothing_and_kv_is_written_at_most_once_a_second() {
    let mut vars = signed_vars();
    vars.push(("POLL_INTERVAL_SECONDS", "1".into()));
    let w = Worker::start(&vars);
    let rooms: Vec<u32> = (0..ROOMS).map(|_| unique_room()).collect();
    let t = now();

    let mut latencies = Vec::new();
    let burst_started = Instant::now();
    for phase in ["started", "stopped"] {
        let bodies: Vec<Value> = rooms
            .iter()
            .flat_map(|&room| {
                (0..TASKS).map(move |i| {
                    let task = format!("task-{i:02}");
                    signed(match phase {
                        "started" => started(room, &task, t + i),
                        _ => stopped(room, &task, t + i, t + 100 + i),
                    })
                })
            })
            .collect();
        let answers = fire_all(&w, &bodies);
        for (status, outcome, latency) in &answers {
            // Every event lands the first time: no 503, no retry needed.
            assert_eq!(*status, 200, "{phase}: {outcome}");
            assert_eq!(outcome, "applied", "{phase}");
            latencies.push(*latency);
        }
    }
    let burst_time = burst_started.elapsed();
    latencies.sort();

    // The object holds all 16 tasks of every room, stopped; KV catches up within the
    // coalescing delay and then equals it.
    for &room in &rooms {
        let object = object_view(&w, room);
        assert_eq!(object["room"]["state"], "stopped", "{object}");
        let tasks = object["room"]["tasks"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(tasks.len(), TASKS as usize, "room {room}: {object}");
        assert!(tasks.iter().all(|t| t["state"] == "stopped"), "{object}");

        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (etag, body) = kv_view(&w, room);
            if body == object["room"] {
                assert_eq!(etag, object["etag"], "room {room}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "KV of room {room} never caught up: {body}"
            );
        }
    }

    // KV writes (and attempts) per room stay at most one a second.
    let mut writes: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for line in object_events(&w, "kv_write")
        .into_iter()
        .chain(object_events(&w, "kv_write_failed"))
    {
        let key = line["key"].as_str().unwrap_or_default().to_string();
        writes
            .entry(key)
            .or_default()
            .push(line["atMs"].as_u64().unwrap_or_default());
    }
    let mut most = 0;
    for &room in &rooms {
        let key = format!("room:{APP}:{room}");
        let times = writes
            .get_mut(&key)
            .unwrap_or_else(|| panic!("no KV write for {key}"));
        times.sort();
        for pair in times.windows(2) {
            assert!(
                pair[1] - pair[0] >= 1000,
                "{key}: writes {times:?} less than 1 s apart"
            );
        }
        most = most.max(times.len());
    }
    eprintln!(
        "burst: {} rooms x {TASKS} tasks started then stopped ({} callbacks) in {:.2} s; \
         0 lost, 0 non-200; latency p50 {:.1} ms p99 {:.1} ms; KV writes per room at most {most} \
         (at least 1 s apart)",
        ROOMS,
        latencies.len(),
        burst_time.as_secs_f64(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
    );
}

/// The KV value of a room as the version before the room object wrote it.
fn value_written_before_objects(events: &[Value]) -> String {
    let config = Config::from_lookup(|name| match name {
        "SDK_APP_IDS" => Some(APP.to_string()),
        "CALLBACK_KEY" => Some(KEY.into()),
        _ => None,
    })
    .expect("config");
    let mut room = Room::new();
    for body in events {
        let verified =
            callback::verify(body.to_string().as_bytes(), &config, now()).expect("verified");
        if let Event::Push(event) = verified.event {
            room.apply(event);
        }
    }
    room.encode()
}

#[test]
fn rooms_stored_before_the_object_keep_their_state_and_it_survives_a_restart() {
    let vars = signed_vars();
    let w = Worker::start(&vars);
    let state_dir = w.stop();

    let room = unique_room();
    let t = now();
    let main_started = signed(started(room, "main", t));
    put_local_kv(
        &state_dir,
        &format!("room:{APP}:{room}"),
        &value_written_before_objects(std::slice::from_ref(&main_started)),
    );

    let w = Worker::start_with_state(&vars, state_dir);
    // The object seeds itself from KV: the stored task is already there...
    assert_eq!(outcome(&w, &main_started), "duplicate");
    // ...and a new task joins it.
    assert_eq!(
        outcome(&w, &signed(stopped(room, "backup", t + 1, t + 5))),
        "applied"
    );
    let seeded = object_events(&w, "seeded");
    assert!(
        seeded
            .iter()
            .any(|l| l["key"] == format!("room:{APP}:{room}") && l["tasks"] == 1),
        "{seeded:?}"
    );
    let view = object_view(&w, room);
    assert_eq!(view["room"]["state"], "streaming", "{view}");
    assert_eq!(view["room"]["tasks"].as_array().map(Vec::len), Some(2));
    let state_dir = w.stop();

    // The object's storage (and its alarm) survive the runtime's restart.
    let w = Worker::start_with_state(&vars, state_dir);
    assert_eq!(
        outcome(&w, &signed(stopped(room, "backup", t + 1, t + 5))),
        "duplicate"
    );
    assert_eq!(
        outcome(&w, &signed(stopped(room, "main", t, t + 9))),
        "applied"
    );
    assert!(
        object_events(&w, "seeded").is_empty(),
        "a restarted object must not seed again"
    );
    let view = object_view(&w, room);
    assert_eq!(view["room"]["state"], "stopped", "{view}");
    assert_eq!(w.room(room)["state"], "stopped");
}
