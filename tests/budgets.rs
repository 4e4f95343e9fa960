//! Budgets that fail the suite when crossed: the storage operations each kind of request
//! makes, counted by the worker itself on its log line (`kvReads`, `kvWrites`, `cacheReads`,
//! `cacheWrites`, `objectCalls`) and by the room object's `kv_write` lines, and the size of
//! the wasm module. Timing is never asserted here: scripts/bench.sh prints it.

mod support;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

/// Long enough that a cache entry written by a callback stays fresh for the whole test, even
/// on a loaded machine.
const POLL_INTERVAL_SECONDS: &str = "60";

/// `gzip -9 -c build/index_bg.wasm | wc -c` after issue 10's work, built by
/// scripts/lib.sh build_worker (opt-level "z", lto, one codegen unit; worker-build 0.8.7 with
/// wasm-bindgen 0.2.130, then wasm-opt 132 -Oz with the name and producers sections
/// stripped; no `url` code: `core::weburl` parses the URL settings), rustc 1.95, measured on
/// 2026-11-28: 237,390 bytes (628,965 raw; 257,737 / 675,397 with `url`'s parser); then
/// 231,657 (610,928 raw) with one serde_json reader (`&[u8]`) and no `from_value`, so each
/// type has one parser, and one `Config::from_lookup` instantiation; then 229,594 (606,175
/// raw) with the room object reading its apply call through serde_json; on 2026-11-29
/// 180,376 (427,774 raw): the static files as Workers Static Assets, the runtime's KV,
/// queue, storage, cache and Response called directly (no serde_wasm_bindgen), and the
/// core trimmed (README, "Benchmarks"); then 140,774 (332,511 raw): all JSON read by
/// `core::json` instead of serde's `Deserialize`, small objects written without
/// `serde_json::Value`, numeric vars without float formatting. benches/floor, every binding
/// with almost no logic, is 76,113 (187,820 raw) the same way.
/// The budget is that figure + 5 %, under issue 10's goal of 150 KB.
const MEASURED_GZIP_BYTES: u64 = 140_774;
const GZIP_BUDGET_BYTES: u64 = MEASURED_GZIP_BYTES + MEASURED_GZIP_BYTES / 20;

fn worker() -> &'static Worker {
    static WORKER: OnceLock<Worker> = OnceLock::new();
    WORKER.get_or_init(|| {
        let mut vars = signed_vars();
        vars.push(("POLL_INTERVAL_SECONDS", POLL_INTERVAL_SECONDS.into()));
        Worker::start(&vars)
    })
}

/// The storage operations a request's log line counts.
#[derive(Debug, PartialEq, Eq)]
struct Ops {
    kv_reads: u64,
    kv_writes: u64,
    cache_reads: u64,
    cache_writes: u64,
    object_calls: u64,
}

fn ops(w: &Worker, res: &Response) -> Ops {
    let id = res
        .header("x-request-id")
        .unwrap_or_else(|| panic!("no x-request-id: {res:?}"));
    let line = w.log_line(id);
    let count = |name: &str| {
        line[name]
            .as_u64()
            .unwrap_or_else(|| panic!("no counter {name} on the log line: {line}"))
    };
    Ops {
        kv_reads: count("kvReads"),
        kv_writes: count("kvWrites"),
        cache_reads: count("cacheReads"),
        cache_writes: count("cacheWrites"),
        object_calls: count("objectCalls"),
    }
}

fn post(w: &Worker, body: &Value) -> (Response, String) {
    let res = w.post_json(body);
    assert_eq!(res.status, 200, "{}", res.text());
    let outcome = res.json()["outcome"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (res, outcome)
}

#[test]
fn an_applied_callback_calls_its_object_once_and_refreshes_the_cache_once() {
    let w = worker();
    let room = unique_room();
    let (res, outcome) = post(w, &signed(started(room, "t", now())));
    assert_eq!(outcome, "applied");
    assert_eq!(
        ops(w, &res),
        Ops {
            kv_reads: 0,
            kv_writes: 0,
            cache_reads: 0,
            cache_writes: 1,
            object_calls: 1,
        }
    );
}

#[test]
fn duplicate_and_stale_callbacks_write_nothing() {
    let w = worker();
    let room = unique_room();
    let t = now();
    let stop = signed(stopped(room, "t", t - 10, t));
    assert_eq!(post(w, &stop).1, "applied");

    let (duplicate, outcome) = post(w, &stop);
    assert_eq!(outcome, "duplicate");
    let (stale, outcome) = post(w, &signed(started(room, "t", t - 10)));
    assert_eq!(outcome, "stale");
    for res in [&duplicate, &stale] {
        let ops = ops(w, res);
        assert_eq!((ops.kv_writes, ops.cache_writes), (0, 0), "{ops:?}");
        assert_eq!(ops.object_calls, 1, "{ops:?}");
        assert_eq!((ops.kv_reads, ops.cache_reads), (0, 0), "{ops:?}");
    }
}

#[test]
fn a_callback_with_a_bad_signature_touches_no_storage() {
    let w = worker();
    let mut body = signed(started(unique_room(), "t", now()));
    body["Sign"] = "0".repeat(32).into();
    let res = w.post_json(&body);
    assert_eq!(res.status, 401, "{}", res.text());
    assert_eq!(
        ops(w, &res),
        Ops {
            kv_reads: 0,
            kv_writes: 0,
            cache_reads: 0,
            cache_writes: 0,
            object_calls: 0,
        }
    );
}

#[test]
fn status_reads_after_a_callback_and_revalidations_read_no_kv() {
    let w = worker();
    let room = unique_room();
    assert_eq!(post(w, &signed(started(room, "t", now()))).1, "applied");
    let path = format!("/rooms/{room}");

    let hit = w.get(&path);
    assert_eq!(hit.status, 200, "{}", hit.text());
    let etag = hit.header("etag").unwrap_or_default().to_string();
    let hit_ops = ops(w, &hit);
    assert_eq!(hit_ops.kv_reads, 0, "a cache hit reads KV: {hit_ops:?}");
    assert_eq!(hit_ops.cache_reads, 1, "{hit_ops:?}");
    assert_eq!(hit_ops.cache_writes, 0, "{hit_ops:?}");
    assert_eq!(hit_ops.object_calls, 0, "{hit_ops:?}");

    let not_modified = w.get_with(&path, &[("if-none-match", &etag)]);
    assert_eq!(not_modified.status, 304);
    let ops_304 = ops(w, &not_modified);
    assert_eq!(ops_304.kv_reads, 0, "a 304 reads KV: {ops_304:?}");
    assert_eq!(ops_304.cache_writes, 0, "{ops_304:?}");
}

#[test]
fn a_cold_status_read_reads_kv_once_and_fills_the_cache_once() {
    let w = worker();
    let cold = w.get(&format!("/rooms/{}", unique_room()));
    assert_eq!(cold.status, 200, "{}", cold.text());
    assert_eq!(
        ops(w, &cold),
        Ops {
            kv_reads: 1,
            kv_writes: 0,
            cache_reads: 1,
            cache_writes: 1,
            object_calls: 0,
        }
    );
}

/// The room object copies an applied state to KV once; a duplicate and a stale callback
/// afterwards add no KV write.
#[test]
fn kv_is_written_once_per_change_and_never_for_a_repeat() {
    let w = worker();
    let room = unique_room();
    let key = format!("room:{APP}:{room}");
    let writes = || {
        object_events(w, "kv_write")
            .iter()
            .filter(|line| line["key"] == key.as_str())
            .count()
    };
    let t = now();
    let stop = signed(stopped(room, "t", t - 10, t));
    assert_eq!(post(w, &stop).1, "applied");
    let deadline = Instant::now() + Duration::from_secs(15);
    while writes() == 0 {
        assert!(Instant::now() < deadline, "no kv_write for {key}");
        std::thread::sleep(Duration::from_millis(100));
    }

    assert_eq!(post(w, &stop).1, "duplicate");
    assert_eq!(post(w, &signed(started(room, "t", t - 10))).1, "stale");
    // The object's alarm writes at most once a second: give it three.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(writes(), 1, "{key} was written again after repeats");
}

#[test]
fn the_wasm_module_fits_its_gzip_budget() {
    let wasm = root().join("build/index_bg.wasm");
    assert!(wasm.exists(), "build/index_bg.wasm is missing: build first");
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "gzip -9 -c {:?} | wc -c",
            wasm.display().to_string()
        ))
        .output()
        .expect("run gzip");
    let gzip: u64 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("gzip size ({e}): {output:?}"));
    eprintln!("build/index_bg.wasm: {gzip} bytes gzip -9, budget {GZIP_BUDGET_BYTES}");
    assert!(
        gzip <= GZIP_BUDGET_BYTES,
        "build/index_bg.wasm is {gzip} bytes gzip -9, over its budget of {GZIP_BUDGET_BYTES} \
         (measured {MEASURED_GZIP_BYTES} + 5 %): find what grew, or measure again and say why"
    );
}
