//! Load figures from the real local runtime (`wrangler dev`: workerd + local KV + Cache API),
//! over loopback, one new connection per request. Prints figures and asserts nothing about
//! speed; it asserts only correctness: every request answers 200, and the poll right after
//! a callback sees it.
//!
//! Ignored by `cargo test`; scripts/bench.sh runs it in release mode. Local figures show the
//! worker's own cost and its KV/cache behaviour, not Cloudflare's network.

mod support;

use std::sync::Barrier;
use std::time::{Duration, Instant};

use support::*;

/// The cache lifetime of a room's state; all polls of part (b) should fit in one.
const POLL_INTERVAL_SECONDS: u64 = 5;
/// Rooms of part (a): a Started then a Stopped callback each, 200 callbacks in all.
const CALLBACK_ROOMS: usize = 100;
const POLL_THREADS: usize = 8;
const POLLS_PER_THREAD: usize = 125;
const BATCH_READS: usize = 200;
const WARM_UP_REQUESTS: usize = 20;

#[test]
#[ignore = "load benchmark: run by scripts/bench.sh"]
fn load_figures_on_the_local_runtime() {
    let mut vars = signed_vars();
    vars.push(("POLL_INTERVAL_SECONDS", POLL_INTERVAL_SECONDS.to_string()));
    let worker = Worker::start(&vars);
    for _ in 0..WARM_UP_REQUESTS {
        assert_eq!(worker.get("/healthz").status, 200);
    }

    let rooms: Vec<u32> = (0..CALLBACK_ROOMS).map(|_| unique_room()).collect();
    sequential_callbacks(&worker, &rooms);
    polls_of_one_room(&worker);
    batch_reads(&worker, &rooms);
}

/// (a) Signed callbacks one after another: each is verify, one room-object request (merge,
/// storage write; its alarm writes KV later), one cache put. Bodies are signed before the clock
/// starts.
fn sequential_callbacks(worker: &Worker, rooms: &[u32]) {
    let t = now();
    let bodies: Vec<String> = rooms
        .iter()
        .map(|&room| signed(started(room, "task-1", t - 60)))
        .chain(
            rooms
                .iter()
                .map(|&room| signed(stopped(room, "task-1", t - 60, t))),
        )
        .map(|body| body.to_string())
        .collect();

    let mut latencies = Vec::with_capacity(bodies.len());
    let cpu_before = worker.workerd_cpu_ms();
    let wall = Instant::now();
    for body in &bodies {
        let sent = Instant::now();
        let res = worker.post("/callback", body.as_bytes());
        latencies.push(sent.elapsed());
        assert_eq!(res.status, 200, "{}", res.text());
        assert_eq!(res.json()["outcome"], "applied", "{}", res.text());
    }
    let wall = wall.elapsed();
    let cpu_ms = worker.workerd_cpu_ms() - cpu_before;

    println!();
    println!(
        "(a) {} signed callbacks, sequential ({} rooms, Started then Stopped each)",
        bodies.len(),
        rooms.len()
    );
    print_latency(&mut latencies, wall);
    println!(
        "    workerd CPU: {:.0} us per callback ({:.0} ms for {}; wrangler's proxy included)",
        cpu_ms * 1000.0 / bodies.len() as f64,
        cpu_ms,
        bodies.len()
    );
}

/// (b) Many viewers polling one room within one poll interval: the Cache API should answer
/// nearly all of them, so KV is read about once per interval, not once per poll.
fn polls_of_one_room(worker: &Worker) {
    let room = unique_room();
    let t = now();
    assert_eq!(
        outcome(worker, &signed(started(room, "task-hot", t))),
        "applied"
    );
    let primed = Instant::now();
    let path = format!("/rooms/{room}");

    let start_line = Barrier::new(POLL_THREADS);
    let wall = Instant::now();
    let per_thread: Vec<Vec<Poll>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..POLL_THREADS)
            .map(|_| {
                let (path, start_line) = (&path, &start_line);
                scope.spawn(move || {
                    start_line.wait();
                    (0..POLLS_PER_THREAD)
                        .map(|_| {
                            let sent = Instant::now();
                            let res = worker.get(path);
                            let latency = sent.elapsed();
                            assert_eq!(res.status, 200, "{}", res.text());
                            Poll {
                                sent: sent - primed,
                                latency,
                                kv_reads: kv_reads(&res),
                            }
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a polling thread panicked"))
            .collect()
    });
    let wall = wall.elapsed();

    let polls: Vec<Poll> = per_thread.into_iter().flatten().collect();
    let reads: usize = polls.iter().map(|p| p.kv_reads).sum();
    let mut latencies: Vec<Duration> = polls.iter().map(|p| p.latency).collect();
    println!();
    println!(
        "(b) {} polls of one room, {POLL_THREADS} threads x {POLLS_PER_THREAD}, \
         POLL_INTERVAL_SECONDS={POLL_INTERVAL_SECONDS}",
        polls.len()
    );
    print_latency(&mut latencies, wall);
    println!(
        "    KV reads for {} polls of one room: {reads}",
        polls.len()
    );
    if wall > Duration::from_secs(POLL_INTERVAL_SECONDS) {
        println!(
            "    note: the polls took {:.1} s, more than one {POLL_INTERVAL_SECONDS} s poll \
             interval, so the cached state expired during the run",
            wall.as_secs_f64()
        );
    }
    println!(
        "    KV reads by second since the callback filled the cache: {}",
        reads_by_second(&polls)
    );

    let before = worker.room(room);
    assert_eq!(before["state"], "streaming");
    assert_eq!(
        outcome(worker, &signed(stopped(room, "task-hot", t, t + 1))),
        "applied"
    );
    let res = worker.get(&path);
    assert_eq!(res.status, 200, "{}", res.text());
    let after = res.json();
    println!(
        "    the poll right after a Stopped callback: state {} -> {}, stoppedAt {}, \
         finishReason {}, x-kv-reads {}",
        before["state"],
        after["state"],
        after["stoppedAt"],
        after["finishReason"],
        kv_reads(&res)
    );
    assert_eq!(after["state"], "stopped", "{after}");
    assert_eq!(after["stoppedAt"], t + 1, "{after}");
}

/// One poll of part (b): when it was sent (after the cache was filled), how long it took, and
/// how many rooms the worker read from KV for it.
struct Poll {
    sent: Duration,
    latency: Duration,
    kv_reads: usize,
}

/// `"5 s: 4, 10 s: 3"`: the KV reads of the polls sent in each whole second of the run.
fn reads_by_second(polls: &[Poll]) -> String {
    let mut seconds: Vec<(u64, usize)> = Vec::new();
    for poll in polls.iter().filter(|p| p.kv_reads > 0) {
        let second = poll.sent.as_secs();
        match seconds.iter_mut().find(|(s, _)| *s == second) {
            Some((_, n)) => *n += poll.kv_reads,
            None => seconds.push((second, poll.kv_reads)),
        }
    }
    seconds.sort_unstable();
    let parts: Vec<String> = seconds.iter().map(|(s, n)| format!("{s} s: {n}")).collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

/// (c) `GET /rooms?ids=` of the 100 rooms of part (a), one request after another.
fn batch_reads(worker: &Worker, rooms: &[u32]) {
    let ids: Vec<String> = rooms.iter().map(u32::to_string).collect();
    let path = format!("/rooms?ids={}", ids.join(","));

    let mut latencies = Vec::with_capacity(BATCH_READS);
    let mut reads = Vec::with_capacity(BATCH_READS);
    let wall = Instant::now();
    for _ in 0..BATCH_READS {
        let sent = Instant::now();
        let res = worker.get(&path);
        latencies.push(sent.elapsed());
        assert_eq!(res.status, 200, "{}", res.text());
        reads.push(kv_reads(&res));
    }
    let wall = wall.elapsed();

    let body = worker.get(&path).json();
    let states = body["rooms"].as_array().map(Vec::len).unwrap_or_default();
    assert_eq!(states, rooms.len(), "{body}");
    assert!(body["rooms"]
        .as_array()
        .is_some_and(|all| all.iter().all(|r| r["state"] == "stopped")));

    println!();
    println!(
        "(c) {BATCH_READS} batch reads GET /rooms?ids= of {} rooms, sequential",
        rooms.len()
    );
    print_latency(&mut latencies, wall);
    println!(
        "    rooms read from KV: {} (by {} requests that missed the cache, one KV operation \
         each); rooms answered from the cache: {}",
        reads.iter().sum::<usize>(),
        reads.iter().filter(|&&n| n > 0).count(),
        BATCH_READS * rooms.len() - reads.iter().sum::<usize>()
    );
}

/// The worker's own count of rooms it read from KV rather than the Cache API.
fn kv_reads(res: &Response) -> usize {
    res.header("x-kv-reads")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no x-kv-reads header: {:?}", res.headers))
}

fn print_latency(latencies: &mut [Duration], wall: Duration) {
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |p: f64| {
        let rank = ((p / 100.0) * latencies.len() as f64).ceil() as usize;
        ms(latencies[rank.clamp(1, latencies.len()) - 1])
    };
    println!(
        "    {:.0} req/s over {:.2} s; latency ms: p50 {:.1}, p95 {:.1}, p99 {:.1}, max {:.1}",
        latencies.len() as f64 / wall.as_secs_f64(),
        wall.as_secs_f64(),
        at(50.0),
        at(95.0),
        at(99.0),
        latencies.last().copied().map(ms).unwrap_or_default()
    );
}
