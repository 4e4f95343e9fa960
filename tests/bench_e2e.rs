//! Load figures from the real local runtime (`wrangler dev`: workerd + local KV + Cache API),
//! over loopback, one new connection per request. Prints figures and asserts nothing about
//! speed; it asserts only correctness: every request answers 200, and the poll right after
//! a callback sees it.
//!
//! Ignored by `cargo test`; scripts/bench.sh runs it in release mode. Local figures show the
//! worker's own cost and its KV/cache behaviour, not Cloudflare's network.
//!
//! `comparison_with_a_no_op_worker` loads each path with `wrk` next to a no-op JS worker
//! (bench/noop.js) on the same runtime, and prints the worker's CPU per request as a ratio
//! to the no-op's, with the storage operations the worker's log lines count per request.

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{mpsc, Barrier};
use std::time::{Duration, Instant};

use serde_json::Value;

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

// ---- the comparison with a no-op worker ----

/// Seconds of each `wrk` run (`BENCH_SECONDS` overrides).
const WRK_SECONDS: u64 = 10;
/// `wrk -t1 -c10`: one Lua state (so request counters in the scripts are unique), ten
/// connections.
const WRK_CONNECTIONS: u32 = 10;
/// Live viewers of one room, and callbacks broadcast to them.
const VIEWERS: usize = 100;
const BROADCASTS: usize = 40;

#[test]
#[ignore = "load benchmark: run by scripts/bench.sh"]
fn comparison_with_a_no_op_worker() {
    assert!(
        Command::new("wrk").arg("--version").output().is_ok(),
        "wrk is missing: scripts/bench.sh installs it (apt-get install wrk)"
    );
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(WRK_SECONDS);

    let noop = Worker::start_with_config(&root().join("bench/wrangler.toml"));
    let mut vars = signed_vars();
    // Fresh for the whole run: a cache hit stays a hit.
    vars.push(("POLL_INTERVAL_SECONDS", "300".into()));
    // Without the `[assets]` table: with it, wrangler dev runs Cloudflare's asset router in
    // front of the worker in the same workerd, and its CPU would count as the worker's. In
    // production Cloudflare runs that router, not this worker's code. Its cost is measured
    // apart, at the end.
    let worker = Worker::start_without_assets(&vars);
    for _ in 0..WARM_UP_REQUESTS {
        assert_eq!(worker.get("/healthz").status, 200);
        assert_eq!(noop.get("/").status, 200);
    }

    let floor = Load::get("/").run(noop.port, seconds, || noop.workerd_cpu_ms());
    let t = now();
    let expire = t + 3000;
    let sign = tiw_push_edge::core::signature::sign(KEY, &expire.to_string());
    let fixed = |body: &Value| {
        let mut body = body.clone();
        body["ExpireTime"] = expire.into();
        body["Sign"] = sign.clone().into();
        body.to_string()
    };

    // State the reads and repeats need: a room with a stopped task, 100 rooms with one task.
    let hot = unique_room();
    let stop = fixed(&stopped(hot, "t", t - 60, t - 1));
    assert_eq!(
        outcome(&worker, &serde_json::from_str(&stop).unwrap()),
        "applied"
    );
    let batch: Vec<u32> = (0..100).map(|_| unique_room()).collect();
    for &room in &batch {
        assert_eq!(
            outcome(&worker, &signed(started(room, "t", t - 30))),
            "applied"
        );
    }
    let etag = worker
        .get(&format!("/rooms/{hot}"))
        .header("etag")
        .unwrap_or_default()
        .to_string();
    let ids: Vec<String> = batch.iter().map(u32::to_string).collect();
    let mut bad = serde_json::from_str::<Value>(&stop).unwrap();
    bad["Sign"] = "0".repeat(32).into();
    // Rooms no request has touched, for the cold reads and the applied callbacks.
    let cold_rooms = 20_000_000 + (std::process::id() % 1000) * 1_000_000;
    let applied_rooms = cold_rooms + 500_000;

    let loads = vec![
        ("status, cache hit", Load::get(&format!("/rooms/{hot}"))),
        (
            "status, KV read (cache cold)",
            Load::script("rooms.lua").env("TIW_ROOM", cold_rooms),
        ),
        (
            "status, 304",
            Load::get(&format!("/rooms/{hot}")).header(&format!("If-None-Match: {etag}")),
        ),
        (
            "status, batch of 100",
            Load::get(&format!("/rooms?ids={}", ids.join(","))),
        ),
        (
            "callback, applied",
            Load::script("callback.lua")
                .env("TIW_MODE", "applied")
                .env("TIW_APP", APP)
                .env("TIW_ROOM", applied_rooms)
                .env("TIW_EXPIRE", expire)
                .env("TIW_SIGN", &sign)
                .env("TIW_START", t),
        ),
        ("callback, duplicate", Load::post(&stop)),
        (
            "callback, stale",
            Load::post(&fixed(&started(hot, "t", t - 60))),
        ),
        ("callback, bad signature", Load::post(&bad.to_string())),
    ];

    let mut rows = Vec::new();
    for (name, load) in &loads {
        let lines_before = settled_lines(&worker);
        let figures = load.run(worker.port, seconds, || worker.workerd_cpu_ms());
        let ops = Ops::of(&worker.logs(), lines_before, settled_lines(&worker));
        rows.push((name.to_string(), figures, ops));
    }
    let (live, ops) = broadcast_to_viewers(&worker, t);
    rows.push((format!("live broadcast to {VIEWERS} viewers"), live, ops));
    worker.stop();

    // The same worker as deployed, with the asset router in front, on two paths.
    let routed = Worker::start(&vars);
    assert_eq!(
        outcome(&routed, &serde_json::from_str(&stop).unwrap()),
        "applied"
    );
    for _ in 0..WARM_UP_REQUESTS {
        assert_eq!(routed.get(&format!("/rooms/{hot}")).status, 200);
    }
    let routed_paths = ["status, cache hit", "callback, bad signature"];
    for (name, load) in loads.iter().filter(|(name, _)| routed_paths.contains(name)) {
        let lines_before = settled_lines(&routed);
        let figures = load.run(routed.port, seconds, || routed.workerd_cpu_ms());
        let ops = Ops::of(&routed.logs(), lines_before, settled_lines(&routed));
        rows.push((format!("{name}, asset router"), figures, ops));
    }

    println!();
    println!(
        "Comparison on wrangler dev, wrk -t1 -c{WRK_CONNECTIONS} -d{seconds}s --latency per path \
         (live: {BROADCASTS} callbacks, each until all {VIEWERS} viewers received it)"
    );
    println!(
        "CPU = utime+stime of the workerd processes of that wrangler dev per request; \
         no-op (bench/noop.js): {:.0} us/request, {:.0} req/s",
        floor.cpu_us, floor.rps
    );
    println!(
        "{:<32} {:>8} {:>8} {:>8} {:>9} {:>6} | per request: {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}",
        "path",
        "req/s",
        "p50 ms",
        "p99 ms",
        "CPU us",
        "x noop",
        "kvR",
        "kvW*",
        "cacheR",
        "cacheW",
        "objC",
        "non2xx"
    );
    for (name, f, ops) in &rows {
        println!(
            "{:<32} {:>8.0} {:>8.2} {:>8.2} {:>9.0} {:>6.2} | {:>12} {:>6} {:>6} {:>6} {:>6} {:>6}",
            name,
            f.rps,
            f.p50_ms,
            f.p99_ms,
            f.cpu_us,
            f.cpu_us / floor.cpu_us,
            ops.show("kvReads"),
            ops.show_object_writes(),
            ops.show("cacheReads"),
            ops.show("cacheWrites"),
            ops.show("objectCalls"),
            f.errors
        );
    }
    println!(
        "kvR, cacheR, cacheW, objC: means of the worker's log-line counters over the run's \
         requests (-: the build does not count them); kvW*: the room objects' kv_write lines \
         per request (the edge never writes KV); non2xx: wrk's count of other answers \
         (304 and 401 are this path's answer); \"asset router\": the worker started with \
         wrangler.toml's [assets] table, whose router wrangler dev runs in the same workerd"
    );
}

/// One path's figures.
#[derive(Debug, Default, Clone)]
struct Figures {
    requests: u64,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_us: f64,
    errors: u64,
}

/// A `wrk` run: a plain GET, or a Lua script under bench/ with its environment.
struct Load {
    path: String,
    script: Option<String>,
    headers: Vec<String>,
    env: Vec<(String, String)>,
    body: Option<String>,
}

impl Load {
    fn get(path: &str) -> Load {
        Load {
            path: path.into(),
            script: None,
            headers: Vec::new(),
            env: Vec::new(),
            body: None,
        }
    }

    fn script(name: &str) -> Load {
        Load {
            script: Some(name.into()),
            ..Load::get("/")
        }
    }

    /// A fixed POST /callback body (bench/callback.lua, `TIW_MODE=fixed`).
    fn post(body: &str) -> Load {
        Load {
            body: Some(body.into()),
            ..Load::script("callback.lua")
        }
    }

    fn header(mut self, header: &str) -> Load {
        self.headers.push(header.into());
        self
    }

    fn env(mut self, name: &str, value: impl ToString) -> Load {
        self.env.push((name.into(), value.to_string()));
        self
    }

    fn run(&self, port: u16, seconds: u64, cpu_ms: impl Fn() -> f64) -> Figures {
        let mut cmd = Command::new("wrk");
        cmd.args([
            "-t1",
            &format!("-c{WRK_CONNECTIONS}"),
            &format!("-d{seconds}s"),
        ])
        .args(["--latency", "--timeout", "10s"]);
        for header in &self.headers {
            cmd.args(["-H", header]);
        }
        if let Some(script) = &self.script {
            cmd.arg("-s").arg(root().join("bench").join(script));
        }
        for (name, value) in &self.env {
            cmd.env(name, value);
        }
        if let Some(body) = &self.body {
            cmd.env("TIW_BODY", body);
        }
        cmd.arg(format!("http://127.0.0.1:{port}{}", self.path));
        let before = cpu_ms();
        let output = cmd.output().expect("run wrk");
        let cpu = cpu_ms() - before;
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "wrk failed: {text}{:?}", output);
        let mut figures = parse_wrk(&text);
        figures.cpu_us = cpu * 1000.0 / figures.requests.max(1) as f64;
        figures
    }
}

/// The figures of `wrk --latency` output.
fn parse_wrk(text: &str) -> Figures {
    let mut f = Figures::default();
    let duration_ms = |v: &str| -> f64 {
        let (number, factor) = if let Some(n) = v.strip_suffix("us") {
            (n, 0.001)
        } else if let Some(n) = v.strip_suffix("ms") {
            (n, 1.0)
        } else if let Some(n) = v.strip_suffix('s') {
            (n, 1000.0)
        } else {
            (v, 1.0)
        };
        number.parse::<f64>().unwrap_or(f64::NAN) * factor
    };
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", v] => f.p50_ms = duration_ms(v),
            ["99%", v] => f.p99_ms = duration_ms(v),
            [n, "requests", "in", ..] => f.requests = n.parse().unwrap_or_default(),
            ["Requests/sec:", v] => f.rps = v.parse().unwrap_or_default(),
            ["Non-2xx", "or", "3xx", "responses:", n] => f.errors = n.parse().unwrap_or_default(),
            _ => {}
        }
    }
    assert!(f.requests > 0, "no requests in wrk's output:\n{text}");
    f
}

/// The storage operations of the request lines logged since line `from`.
struct Ops {
    requests: usize,
    sums: BTreeMap<&'static str, Option<u64>>,
    object_kv_writes: usize,
}

impl Ops {
    fn of(logs: &str, from: usize, to: usize) -> Ops {
        let lines: Vec<Value> = logs
            .lines()
            .take(to)
            .skip(from)
            .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
            .collect();
        let requests: Vec<&Value> = lines
            .iter()
            .filter(|v| v["requestId"].is_string())
            .collect();
        let sums = ["kvReads", "cacheReads", "cacheWrites", "objectCalls"]
            .into_iter()
            .map(|name| {
                let counted: Option<Vec<u64>> = requests.iter().map(|v| v[name].as_u64()).collect();
                (name, counted.map(|all| all.iter().sum()))
            })
            .collect();
        let object_kv_writes = lines
            .iter()
            .filter(|v| v["component"] == "room-object" && v["event"] == "kv_write")
            .count();
        Ops {
            requests: requests.len(),
            sums,
            object_kv_writes,
        }
    }

    fn show(&self, name: &str) -> String {
        match self.sums.get(name).copied().flatten() {
            Some(sum) if self.requests > 0 => format!("{:.2}", sum as f64 / self.requests as f64),
            _ => "-".into(),
        }
    }

    fn show_object_writes(&self) -> String {
        format!(
            "{:.3}",
            self.object_kv_writes as f64 / self.requests.max(1) as f64
        )
    }
}

/// `VIEWERS` WebSockets on one room, then `BROADCASTS` applied callbacks one after another,
/// each timed until every viewer has its message.
fn broadcast_to_viewers(worker: &Worker, t: i64) -> (Figures, Ops) {
    let room = unique_room();
    assert_eq!(
        outcome(worker, &signed(started(room, "t0", t - 100))),
        "applied"
    );
    let (tx, rx) = mpsc::channel::<()>();
    for _ in 0..VIEWERS {
        let mut socket = live_connect(worker, &format!("/rooms/{room}/live"), &[])
            .unwrap_or_else(|refused| panic!("live refused: {refused:?}"));
        assert_eq!(next_message(&mut socket)["type"], "status");
        let tx = tx.clone();
        std::thread::spawn(move || {
            while let Ok(message) = socket.read() {
                if message.is_text() && tx.send(()).is_err() {
                    return;
                }
            }
        });
    }
    let bodies: Vec<Value> = (1..=BROADCASTS as i64)
        .map(|n| signed(started(room, &format!("t{n}"), t - 100 + n)))
        .collect();
    let mut latencies = Vec::with_capacity(BROADCASTS);
    let lines_before = settled_lines(worker);
    let cpu_before = worker.workerd_cpu_ms();
    let wall = Instant::now();
    for body in &bodies {
        let sent = Instant::now();
        assert_eq!(outcome(worker, body), "applied");
        for _ in 0..VIEWERS {
            rx.recv_timeout(Duration::from_secs(15))
                .expect("every viewer gets the broadcast");
        }
        latencies.push(sent.elapsed());
    }
    let wall = wall.elapsed();
    let cpu = worker.workerd_cpu_ms() - cpu_before;
    let ops = Ops::of(&worker.logs(), lines_before, settled_lines(worker));
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let figures = Figures {
        requests: BROADCASTS as u64,
        rps: BROADCASTS as f64 / wall.as_secs_f64(),
        p50_ms: ms(latencies[latencies.len() / 2]),
        p99_ms: ms(latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)]),
        cpu_us: cpu * 1000.0 / BROADCASTS as f64,
        errors: 0,
    };
    (figures, ops)
}

/// The number of lines the worker has logged, once it has stopped logging for a moment (lines
/// arrive after their answers), so each path's lines are its own.
fn settled_lines(worker: &Worker) -> usize {
    let mut count = worker.logs().lines().count();
    loop {
        // Longer than the room objects' one-second gap between KV writes.
        std::thread::sleep(Duration::from_millis(1100));
        let now = worker.logs().lines().count();
        if now == count {
            return count;
        }
        count = now;
    }
}
