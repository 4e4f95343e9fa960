//! The read model's shell: Workers KV and this location's Cache API, as `core::cache` (the
//! status read path) and `core::accept` (a callback refreshing its room's entry) see them.
//! Here only the `worker` calls; what is read when, and what a failure means, is the core's.
//! Not here: the read path's decisions (`core::cache`), writes (`room_object`).

use std::future::Future;

use worker::{Cache, Date, Headers, Response};

use super::bindings::Kv;
use crate::core::cache::{self, Cached, KvRooms, StatusCache};
use crate::core::http::ApiError;
use crate::core::log::RequestLog;
use crate::core::room::Room;

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
    kv: Kv,
    cache: Cache,
    cache_seconds: u32,
}

impl Store {
    pub fn new(kv: Kv, cache_seconds: u32) -> Store {
        Store {
            kv,
            cache: Cache::default(),
            cache_seconds,
        }
    }

    /// The stored rooms of `room_ids`, in order (`None`: never seen), and how many came from KV.
    pub fn rooms<'a>(
        &'a self,
        sdk_app_id: u64,
        room_ids: &'a [u32],
        log: &'a mut RequestLog,
    ) -> impl Future<Output = Result<(Vec<Option<Room>>, usize), ApiError>> + 'a {
        let fresh_ms = u64::from(self.cache_seconds) * 1000;
        cache::read_rooms(self, self, sdk_app_id, room_ids, now_ms(), fresh_ms, log)
    }
}

impl StatusCache for Store {
    /// An entry without a readable stored-at stamp is not one of ours: a miss.
    async fn get(&self, key: &str) -> Result<Option<Cached>, String> {
        let found = self
            .cache
            .get(cache_url(key), false)
            .await
            .map_err(|e| e.to_string())?;
        let Some(response) = found else {
            return Ok(None);
        };
        let Some(stored_at) = response
            .headers()
            .get(STORED_AT_HEADER)
            .ok()
            .flatten()
            .and_then(|v| v.parse().ok())
        else {
            return Ok(None);
        };
        let text = super::body_text(response)
            .await
            .ok_or("the cached entry's body could not be read")?;
        Ok(Some(Cached {
            value: (text != ABSENT).then_some(text),
            stored_at,
        }))
    }

    /// Fresh for one poll interval, kept for three so a stale entry can serve as the lease
    /// (`core::cache`).
    async fn put(&self, key: &str, value: Option<&str>, now_ms: u64) -> Result<(), String> {
        let headers = Headers::new();
        let keep = self.cache_seconds.saturating_mul(3);
        let response = headers
            .set("cache-control", &format!("max-age={keep}"))
            .and_then(|()| headers.set("content-type", "application/json"))
            .and_then(|()| headers.set(STORED_AT_HEADER, &now_ms.to_string()))
            .and_then(|()| Response::ok(value.unwrap_or(ABSENT)))
            .map_err(|e| e.to_string())?
            .with_headers(headers);
        self.cache
            .put(cache_url(key), response)
            .await
            .map_err(|e| e.to_string())
    }
}

impl KvRooms for Store {
    /// One KV get for one key, a bulk get (one operation) for several.
    async fn get(&self, keys: &[&str]) -> Result<Vec<Option<String>>, String> {
        if let [key] = keys {
            let value = self.kv.get(key).await;
            return value
                .map(|v| vec![v])
                .map_err(|e| format!("kv get {key}: {e}"));
        }
        self.kv.get_many(keys).await
    }
}

fn now_ms() -> u64 {
    Date::now().as_millis()
}

fn cache_url(key: &str) -> String {
    format!("{CACHE_HOST}/{}", key.replace(':', "/"))
}
