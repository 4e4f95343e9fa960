//! The status read path, decided here and run by `edge/store.rs`: this location's Cache API
//! in front of the rooms' KV values.
//!
//! Status reads look in the cache first and read KV only when the entry is missing or older
//! than one poll interval: a thousand viewers of one room cost about one KV read per interval
//! per location, not a thousand. The first poll to find an entry stale re-stamps it before
//! reading KV, so polls arriving meanwhile do not all read KV too. A callback that changed a
//! room refreshes the cached entry with the object's answer ([`remember`]).
//!
//! The cache and KV are reached through [`StatusCache`] and [`KvRooms`], which the shell
//! implements over `worker` types and tests with doubles that fail on demand. The cache is
//! only a saving: a failed lookup reads KV instead and a failed put is a warning, so a cache
//! failure never fails a request that KV can answer. KV failing is `storage_unavailable`.
//! Not here: merge rules (`room`), rendering (`status`), writes (`object`).

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::task::Poll;

use futures_util::future::maybe_done;

use crate::core::http::ApiError;
use crate::core::log::RequestLog;
use crate::core::room::{self, Room};

/// A cache entry: the KV value (`None`: nothing stored) and when it was cached (ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cached {
    pub value: Option<String>,
    pub stored_at: u64,
}

impl Cached {
    fn is_fresh(&self, now: u64, fresh_ms: u64) -> bool {
        now.saturating_sub(self.stored_at) < fresh_ms
    }
}

// The traits' futures need no `Send`: a Worker isolate runs one thread.

/// This location's cache of room values.
#[allow(async_fn_in_trait)]
pub trait StatusCache {
    /// The entry of `key`, fresh or not; `Ok(None)` is a miss.
    async fn get(&self, key: &str) -> Result<Option<Cached>, String>;
    /// Caches `key`'s value (`None`: nothing stored) as of `now_ms`.
    async fn put(&self, key: &str, value: Option<&str>, now_ms: u64) -> Result<(), String>;
}

/// The rooms' KV values.
#[allow(async_fn_in_trait)]
pub trait KvRooms {
    /// The values of `keys`, in order (`None`: nothing stored).
    async fn get(&self, keys: &[&str]) -> Result<Vec<Option<String>>, String>;
}

/// The stored rooms of `room_ids`, in order (`None`: never seen), and how many came from KV.
/// `fresh_ms` is how long a cached entry is served without asking KV.
pub async fn read_rooms(
    cache: &impl StatusCache,
    kv: &impl KvRooms,
    sdk_app_id: u64,
    room_ids: &[u32],
    now_ms: u64,
    fresh_ms: u64,
    log: &mut RequestLog,
) -> Result<(Vec<Option<Room>>, usize), ApiError> {
    let keys: Vec<String> = room_ids
        .iter()
        .map(|&id| room::key(sdk_app_id, id))
        .collect();
    log.cache_reads += count(keys.len());
    let cached = join_all(keys.iter().map(|key| cache.get(key))).await;

    // The first poll to find an entry stale refreshes it. Others of this isolate keep
    // serving the stale value meanwhile (it is one KV read old); others of the location find
    // the entry re-stamped before KV is read (a lease: the window left is one cache write,
    // not one KV read).
    let mut refreshing = Refreshing::default();
    let mut values: Vec<Option<Option<String>>> = Vec::with_capacity(keys.len());
    let mut leases: Vec<(&str, Option<&str>)> = Vec::new();
    for (key, entry) in keys.iter().zip(&cached) {
        match entry {
            Ok(Some(c)) if c.is_fresh(now_ms, fresh_ms) || !refreshing.claim(key, now_ms) => {
                values.push(Some(c.value.clone()));
            }
            Ok(Some(c)) => {
                leases.push((key, c.value.as_deref()));
                values.push(None);
            }
            Ok(None) => values.push(None),
            Err(why) => {
                log.warn(format!("cache get {key} failed: {why}"));
                values.push(None);
            }
        }
    }
    remember_all(cache, &leases, now_ms, log).await;

    let missing: Vec<&str> = keys
        .iter()
        .zip(&values)
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k.as_str())
        .collect();
    let kv_reads = missing.len();
    if !missing.is_empty() {
        log.kv_reads += count(missing.len());
        let fetched = kv.get(&missing).await.map_err(|why| {
            log.warn(format!("kv read failed: {why}"));
            ApiError::StorageUnavailable
        })?;
        let fresh: Vec<(&str, Option<&str>)> = missing
            .iter()
            .copied()
            .zip(fetched.iter().map(Option::as_deref))
            .collect();
        remember_all(cache, &fresh, now_ms, log).await;
        let mut fetched = fetched.into_iter();
        for value in values.iter_mut().filter(|v| v.is_none()) {
            *value = Some(fetched.next().flatten());
        }
    }
    let rooms = keys
        .iter()
        .zip(values)
        .map(|(key, v)| decode(key, v.flatten().as_deref(), log))
        .collect();
    Ok((rooms, kv_reads))
}

/// Caches a key's value, fresh for one poll interval. A cache failure costs only KV reads,
/// so it is a warning, not an error.
pub async fn remember(
    cache: &impl StatusCache,
    key: &str,
    value: Option<&str>,
    now_ms: u64,
    log: &mut RequestLog,
) {
    remember_all(cache, &[(key, value)], now_ms, log).await;
}

async fn remember_all(
    cache: &impl StatusCache,
    entries: &[(&str, Option<&str>)],
    now_ms: u64,
    log: &mut RequestLog,
) {
    if entries.is_empty() {
        return;
    }
    log.cache_writes += count(entries.len());
    let results = join_all(
        entries
            .iter()
            .map(|(key, value)| cache.put(key, *value, now_ms)),
    )
    .await;
    for ((key, _), result) in entries.iter().zip(results) {
        if let Err(why) = result {
            log.warn(format!("cache put {key} failed: {why}"));
        }
    }
}

/// Runs `futures` concurrently and returns their outputs in order. `futures_util`'s
/// `join_all` does the same, but past 30 futures (a status read asks for up to 100 rooms) it
/// switches to a `FuturesOrdered`, and the wasm would hold both ways; polling each of at most
/// 100 futures again on a wake costs nothing worth that code.
async fn join_all<F: Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<_> = futures.map(|f| Box::pin(maybe_done(f))).collect();
    poll_fn(|cx| {
        let mut done = true;
        for future in &mut pending {
            done &= future.as_mut().poll(cx).is_ready();
        }
        if done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    pending
        .iter_mut()
        .filter_map(|future| future.as_mut().take_output())
        .collect()
}

thread_local! {
    /// Keys a request of this isolate is refreshing from KV, and since when (ms); a handful
    /// at most, so a list.
    static REFRESHING: RefCell<Vec<(String, u64)>> = const { RefCell::new(Vec::new()) };
}

/// How long a refresh claim holds before another request may take over (a KV read that
/// takes longer has failed or hung).
const CLAIM_MS: u64 = 2_000;

/// The refresh claims of one request; dropping it (done, failed or cancelled) releases them.
#[derive(Default)]
struct Refreshing {
    keys: Vec<String>,
}

impl Refreshing {
    /// True when this request may refresh `key`: nobody in this isolate is doing it.
    fn claim(&mut self, key: &str, now: u64) -> bool {
        let claimed = REFRESHING.with(|claims| {
            let mut claims = claims.borrow_mut();
            // Claims of requests that hung or were cancelled without dropping lapse here.
            claims.retain(|(_, since)| now.saturating_sub(*since) < CLAIM_MS);
            if claims.iter().any(|(k, _)| k == key) {
                return false;
            }
            claims.push((key.to_string(), now));
            true
        });
        if claimed {
            self.keys.push(key.to_string());
        }
        claimed
    }
}

impl Drop for Refreshing {
    fn drop(&mut self) {
        REFRESHING.with(|claims| {
            claims
                .borrow_mut()
                .retain(|(key, _)| !self.keys.contains(key));
        });
    }
}

/// A number of operations for the log's counters (at most 100 rooms per request).
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A stored value as a room. An unreadable one is logged and read as "never seen"; the next
/// event for the room then rebuilds it.
fn decode(key: &str, stored: Option<&str>, log: &mut RequestLog) -> Option<Room> {
    match Room::decode(stored?) {
        Ok(room) => Some(room),
        Err(why) => {
            log.warn(format!("unreadable room state at {key}: {why}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::core::doubles::{block_on, MemoryCache, MemoryKv};
    use crate::core::room::tests::started;

    const APP: u64 = 1_400_000_001;
    const NOW_MS: u64 = 1_700_000_000_000;
    const FRESH_MS: u64 = 5_000;

    #[test]
    fn join_all_runs_every_future_at_once_and_keeps_their_order() {
        let started = RefCell::new(0);
        let futures = (0..100).map(|i| {
            let started = &started;
            async move {
                *started.borrow_mut() += 1;
                // Not ready on the first poll: the others must be under way meanwhile.
                let mut yielded = false;
                poll_fn(|_| {
                    if std::mem::replace(&mut yielded, true) {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                })
                .await;
                assert_eq!(*started.borrow(), 100, "future {i} ended before all began");
                i * 2
            }
        });
        let doubled: Vec<u32> = (0..100).map(|i| i * 2).collect();
        assert_eq!(block_on(join_all(futures)), doubled);
    }

    fn key(room_id: u32) -> String {
        room::key(APP, room_id)
    }

    /// KV holding a streaming room under each of `room_ids`.
    fn kv_with(room_ids: &[u32]) -> MemoryKv {
        let mut room = Room::new();
        room.apply(started("task-1", 100, 100));
        let kv = MemoryKv::default();
        for &id in room_ids {
            kv.values.borrow_mut().insert(key(id), room.encode());
        }
        kv
    }

    fn read(
        cache: &MemoryCache,
        kv: &MemoryKv,
        ids: &[u32],
        log: &mut RequestLog,
    ) -> Result<(Vec<Option<Room>>, usize), ApiError> {
        block_on(read_rooms(cache, kv, APP, ids, NOW_MS, FRESH_MS, log))
    }

    fn line(log: &mut RequestLog, status: u16) -> Value {
        serde_json::from_str(&log.line(status, 0)).expect("a JSON line")
    }

    #[test]
    fn a_failing_cache_lookup_is_answered_from_kv_with_a_warning() {
        let cache = MemoryCache {
            fail_get: Some("Cache match failed"),
            ..MemoryCache::default()
        };
        let kv = kv_with(&[1, 2]);
        let mut log = RequestLog::new("req-1".into(), "GET");
        let (rooms, kv_reads) = read(&cache, &kv, &[1, 2, 3], &mut log).expect("answered");

        assert_eq!(kv_reads, 3);
        assert!(rooms[0].is_some() && rooms[1].is_some() && rooms[2].is_none());
        let line = line(&mut log, 200);
        assert!(line.get("error").is_none(), "{line}");
        assert_eq!(line["level"], "warn");
        assert_eq!(
            line["warnings"],
            json!([
                format!("cache get {} failed: Cache match failed", key(1)),
                format!("cache get {} failed: Cache match failed", key(2)),
                format!("cache get {} failed: Cache match failed", key(3)),
            ])
        );
        assert_eq!(line["cacheReads"], 3);
        assert_eq!(line["kvReads"], 3);
        assert_eq!(line["cacheWrites"], 3, "the answer is still cached");
    }

    #[test]
    fn a_failing_cache_put_is_answered_from_kv_with_a_warning() {
        let cache = MemoryCache {
            fail_put: Some("Cache put failed"),
            ..MemoryCache::default()
        };
        let kv = kv_with(&[1]);
        let mut log = RequestLog::new("req-1".into(), "GET");
        let (rooms, kv_reads) = read(&cache, &kv, &[1], &mut log).expect("answered");

        assert_eq!(kv_reads, 1);
        assert!(rooms[0].is_some());
        let line = line(&mut log, 200);
        assert!(line.get("error").is_none(), "{line}");
        assert_eq!(line["level"], "warn");
        assert_eq!(
            line["warnings"],
            json!([format!("cache put {} failed: Cache put failed", key(1))])
        );
        assert_eq!(line["cacheWrites"], 1);
    }

    #[test]
    fn a_failing_kv_read_behind_a_cache_miss_is_storage_unavailable() {
        let cache = MemoryCache::default();
        let kv = MemoryKv {
            fail_read: Some("KV GET failed: 500"),
            ..MemoryKv::default()
        };
        let mut log = RequestLog::new("req-1".into(), "GET");
        let result = read(&cache, &kv, &[1], &mut log);

        assert_eq!(result.err(), Some(ApiError::StorageUnavailable));
        let reply = ApiError::StorageUnavailable.into_reply();
        assert_eq!(reply.status, 503);
        assert!(reply.headers.contains(&("retry-after".into(), "5".into())));
        let line = line(&mut log, 503);
        assert_eq!(line["level"], "error");
        assert_eq!(
            line["warnings"],
            json!(["kv read failed: KV GET failed: 500"])
        );
        assert_eq!(line["kvReads"], 1);
        assert!(
            cache.puts.borrow().is_empty(),
            "nothing cached from a failure"
        );
    }

    #[test]
    fn a_fresh_cached_entry_is_served_without_kv() {
        let cache = MemoryCache::default();
        let kv = MemoryKv {
            fail_read: Some("KV is down"),
            ..kv_with(&[1])
        };
        // Cached a second ago, from KV when it was up.
        block_on(cache.put(
            &key(1),
            kv.values.borrow().get(&key(1)).map(String::as_str),
            NOW_MS - 1_000,
        ))
        .expect("cached");
        let mut log = RequestLog::new("req-1".into(), "GET");
        let (rooms, kv_reads) = read(&cache, &kv, &[1], &mut log).expect("answered");

        assert_eq!(kv_reads, 0);
        assert!(rooms[0].is_some());
        assert_eq!(kv.reads.get(), 0);
        assert!(log.warnings.is_empty(), "{:?}", log.warnings);
    }

    #[test]
    fn a_stale_entry_is_restamped_then_refreshed_from_kv() {
        let cache = MemoryCache::default();
        let kv = kv_with(&[1]);
        block_on(cache.put(&key(1), None, NOW_MS - FRESH_MS)).expect("cached");
        let mut log = RequestLog::new("req-1".into(), "GET");
        let (rooms, kv_reads) = read(&cache, &kv, &[1], &mut log).expect("answered");

        assert_eq!(kv_reads, 1);
        assert!(rooms[0].is_some(), "KV's value, not the stale one");
        let puts = cache.puts.borrow();
        // The lease (the stale value, stamped now), then KV's value.
        assert_eq!(puts.len(), 3);
        assert_eq!(puts[1], (key(1), None));
        assert_eq!(puts[2].1, kv.values.borrow().get(&key(1)).cloned());
    }
}
