//! The read model's shell: Workers KV and this location's Cache API, as `core::cache` (the
//! status read path) and `core::accept` (a callback refreshing its room's entry) see them.
//! Here only the `worker` calls; what is read when, and what a failure means, is the core's.
//! Not here: the read path's decisions (`core::cache`), writes (`room_object`).

use std::future::Future;

use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::ext::CacheStorageExt;
use worker::{js_sys, web_sys, Headers};

use super::bindings::{js_error, Kv};
use super::now_ms;
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

/// This location's cache is the runtime's `caches.default`, used directly: workers-rs's
/// `Cache` turns each answer into its own `Response` and each entry back.
pub struct Store {
    kv: Kv,
    /// `None` if the runtime has no Cache API: every lookup then fails (and KV is read).
    cache: Option<web_sys::Cache>,
    cache_seconds: u32,
}

impl Store {
    pub fn new(kv: Kv, cache_seconds: u32) -> Store {
        let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
        Store {
            kv,
            cache: global.caches().ok().map(|caches| caches.default()),
            cache_seconds,
        }
    }

    fn cache(&self) -> Result<&web_sys::Cache, String> {
        self.cache
            .as_ref()
            .ok_or_else(|| "no Cache API".to_string())
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
        let found = JsFuture::from(self.cache()?.match_with_str(&cache_url(key)))
            .await
            .map_err(js_error)?;
        if found.is_undefined() {
            return Ok(None);
        }
        let response: web_sys::Response = found.unchecked_into();
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
        let cache = self.cache()?;
        let headers = Headers::new();
        let keep = self.cache_seconds.saturating_mul(3);
        headers
            .set("cache-control", &format!("max-age={keep}"))
            .and_then(|()| headers.set("content-type", "application/json"))
            .and_then(|()| headers.set(STORED_AT_HEADER, &now_ms.to_string()))
            .map_err(|e| e.to_string())?;
        let init = web_sys::ResponseInit::new();
        init.set_headers(headers.as_ref());
        let response =
            web_sys::Response::new_with_opt_str_and_init(Some(value.unwrap_or(ABSENT)), &init)
                .map_err(js_error)?;
        JsFuture::from(cache.put_with_str(&cache_url(key), &response))
            .await
            .map(drop)
            .map_err(js_error)
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

fn cache_url(key: &str) -> String {
    format!("{CACHE_HOST}/{}", key.replace(':', "/"))
}
