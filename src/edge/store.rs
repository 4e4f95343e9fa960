//! The read model: room state in Workers KV, with the Workers Cache API in front of it for
//! status reads.
//!
//! Status reads look in this location's cache first and read KV only when the entry is
//! missing or older than one poll interval: a thousand viewers of one room cost about one KV
//! read per interval per location, not a thousand. The first poll to find an entry stale
//! re-stamps it before reading KV, so polls arriving meanwhile do not all read KV too. KV is
//! written only by the room's object (`room_object`); a callback that changed a room
//! refreshes this location's cached entry with the object's answer, so the location that
//! received a callback never serves the state from before it.
//! Not here: merge rules (`room`), rendering (`status`), writes (`room_object`).

use std::cell::RefCell;

use futures_util::future::join_all;
use worker::{Cache, Date, Headers, KvStore, Response};

use crate::core::http::ApiError;
use crate::core::log::RequestLog;
use crate::core::room::{self, Room};

/// A host no request ever uses: cache keys must be URLs, and a fixed host keeps the keys the
/// same whichever hostname a callback or a poll came in on.
const CACHE_HOST: &str = "https://room-state.tiw-push-edge.internal";
/// Cached marker for "no value stored" (a stored room is always a JSON object).
const ABSENT: &str = "null";
/// When a cache entry was written, in Unix milliseconds.
const STORED_AT_HEADER: &str = "x-stored-at";
/// The KV namespace binding.
pub const KV_BINDING: &str = "PUSH_STATE";

pub struct Store {
    kv: KvStore,
    cache: Cache,
    cache_seconds: u32,
}

impl Store {
    pub fn new(kv: KvStore, cache_seconds: u32) -> Store {
        Store {
            kv,
            cache: Cache::default(),
            cache_seconds,
        }
    }

    /// The stored rooms of `room_ids`, in order (`None`: never seen), and how many came from KV.
    pub async fn rooms(
        &self,
        sdk_app_id: u64,
        room_ids: &[u32],
        log: &mut RequestLog,
    ) -> Result<(Vec<Option<Room>>, usize), ApiError> {
        let keys: Vec<String> = room_ids
            .iter()
            .map(|&id| room::key(sdk_app_id, id))
            .collect();
        let now = now_ms();
        log.cache_reads += count(keys.len());
        let cached = join_all(keys.iter().map(|key| self.recall(key))).await;

        // The first poll to find an entry stale refreshes it. Others of this isolate keep
        // serving the stale value meanwhile (it is one KV read old); others of the location
        // find the entry re-stamped before KV is read (a lease: the window left is one
        // cache write, not one KV read).
        let mut refreshing = Refreshing::default();
        let mut values: Vec<Option<Option<String>>> = Vec::with_capacity(keys.len());
        let mut leases: Vec<(&String, Option<&str>)> = Vec::new();
        for (key, entry) in keys.iter().zip(&cached) {
            match entry {
                Some(c) if c.is_fresh(now, self.fresh_ms()) || !refreshing.claim(key, now) => {
                    values.push(Some(c.value.clone()));
                }
                Some(c) => {
                    leases.push((key, c.value.as_deref()));
                    values.push(None);
                }
                None => values.push(None),
            }
        }
        self.remember_all(&leases, log).await;

        let missing: Vec<&String> = keys
            .iter()
            .zip(&values)
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k)
            .collect();
        let kv_reads = missing.len();
        if !missing.is_empty() {
            let fetched = self.read_kv(&missing, log).await?;
            let fresh: Vec<(&String, Option<&str>)> = missing
                .iter()
                .copied()
                .zip(fetched.iter().map(Option::as_deref))
                .collect();
            self.remember_all(&fresh, log).await;
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

    /// One KV get for one key, a bulk get (one operation) for several.
    async fn read_kv(
        &self,
        keys: &[&String],
        log: &mut RequestLog,
    ) -> Result<Vec<Option<String>>, ApiError> {
        log.kv_reads += count(keys.len());
        let failed = |log: &mut RequestLog, e: worker::KvError| {
            log.warn(format!("kv read failed: {e}"));
            ApiError::StorageUnavailable
        };
        if let [key] = keys {
            return Ok(vec![read(&self.kv, key, log).await?]);
        }
        let mut found = self
            .kv
            .get_bulk(keys)
            .text()
            .await
            .map_err(|e| failed(log, e))?;
        Ok(keys
            .iter()
            .map(|k| found.remove(k.as_str()).flatten())
            .collect())
    }

    /// The cached entry of a key, fresh or not; `None` is a miss.
    async fn recall(&self, key: &str) -> Option<Cached> {
        let response = self.cache.get(cache_url(key), false).await.ok()??;
        let stored_at = response
            .headers()
            .get(STORED_AT_HEADER)
            .ok()??
            .parse()
            .ok()?;
        let text = super::body_text(response).await?;
        Some(Cached {
            value: (text != ABSENT).then_some(text),
            stored_at,
        })
    }

    fn fresh_ms(&self) -> u64 {
        u64::from(self.cache_seconds) * 1000
    }

    /// Caches a key's value, fresh for one poll interval. A cache failure costs only KV
    /// reads, so it is logged, not returned.
    pub async fn remember(&self, key: &str, value: Option<&str>, log: &mut RequestLog) {
        log.cache_writes += 1;
        if let Err(e) = self.put_cached(key, value).await {
            log.warn(format!("cache put {key} failed: {e}"));
        }
    }

    async fn remember_all(&self, entries: &[(&String, Option<&str>)], log: &mut RequestLog) {
        if entries.is_empty() {
            return;
        }
        log.cache_writes += count(entries.len());
        let results = join_all(
            entries
                .iter()
                .map(|(key, value)| self.put_cached(key, *value)),
        )
        .await;
        for ((key, _), result) in entries.iter().zip(results) {
            if let Err(e) = result {
                log.warn(format!("cache put {key} failed: {e}"));
            }
        }
    }

    async fn put_cached(&self, key: &str, value: Option<&str>) -> worker::Result<()> {
        let headers = Headers::new();
        // Kept past its freshness so a stale entry can serve as the lease (see `rooms`).
        let keep = self.cache_seconds.saturating_mul(3);
        headers.set("cache-control", &format!("max-age={keep}"))?;
        headers.set("content-type", "application/json")?;
        headers.set(STORED_AT_HEADER, &now_ms().to_string())?;
        let response = Response::ok(value.unwrap_or(ABSENT))?.with_headers(headers);
        self.cache.put(cache_url(key), response).await
    }
}

/// One KV get.
pub async fn read(
    kv: &KvStore,
    key: &str,
    log: &mut RequestLog,
) -> Result<Option<String>, ApiError> {
    kv.get(key).text().await.map_err(|e| {
        log.warn(format!("kv get {key} failed: {e}"));
        ApiError::StorageUnavailable
    })
}

/// One KV put (the room object's alarm; KV's one-write-per-second limit included, a failure
/// is the object's to retry).
pub async fn write(kv: &KvStore, key: &str, value: &str) -> Result<(), String> {
    kv.put(key, value)
        .map_err(|e| e.to_string())?
        .execute()
        .await
        .map_err(|e| e.to_string())
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

/// A cache entry: the KV value (`None`: nothing stored) and when it was cached.
struct Cached {
    value: Option<String>,
    stored_at: u64,
}

impl Cached {
    fn is_fresh(&self, now: u64, fresh_ms: u64) -> bool {
        now.saturating_sub(self.stored_at) < fresh_ms
    }
}

/// A number of operations for the log's counters (at most 100 rooms per request).
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn now_ms() -> u64 {
    Date::now().as_millis()
}

fn cache_url(key: &str) -> String {
    format!("{CACHE_HOST}/{}", key.replace(':', "/"))
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
