//! What a verified callback does, in order, and what it is answered: its room's object
//! stores it, this location's cache learns the new state, the origin is told (forwarded or
//! queued), then 200. Decided here and run by `edge/fetch.rs`.
//!
//! Each step is reached through a trait the shell implements over `worker` types
//! ([`RoomObjects`], `cache::StatusCache`, [`Origin`]) and tests with doubles that fail on
//! demand. The first of our own failures ends the callback with its error (5xx, so the
//! sender retries) and nothing after it runs: an event its object did not store is never
//! cached, queued or forwarded. A cache failure is only a warning.
//! Not here: the checks before (`callback`), the merge (`object`, `room`), queued delivery's
//! policy (`delivery`).

use crate::core::cache::{self, StatusCache};
use crate::core::callback::{Event, PushEvent, Verified};
use crate::core::http::{ApiError, Reply};
use crate::core::json::Members;
use crate::core::log::RequestLog;
use crate::core::object::Applied;
use crate::core::room;

// The traits' futures need no `Send`: a Worker isolate runs one thread.

/// The rooms' objects, each its room's only writer.
#[allow(async_fn_in_trait)]
pub trait RoomObjects {
    /// Has the event's room object merge and store it; `Ok` once it is stored.
    async fn apply(&self, sdk_app_id: u64, event: &PushEvent) -> Result<Applied, ApiError>;
}

/// The origin, through the active `ORIGIN_DELIVERY` (nothing without `ORIGIN_URL`).
#[allow(async_fn_in_trait)]
pub trait Origin {
    /// Hands the callback on, told its `outcome`; says how on the request's line.
    async fn deliver(&self, outcome: &'static str, log: &mut RequestLog) -> Result<(), ApiError>;
}

/// The answer to a verified callback (API.md, "Then:"), or the error it is answered with.
pub async fn accept(
    verified: &Verified,
    rooms: &impl RoomObjects,
    cache: &impl StatusCache,
    origin: &impl Origin,
    now_ms: u64,
    log: &mut RequestLog,
) -> Result<Reply, ApiError> {
    let outcome = match &verified.event {
        Event::Ignored => "ignored",
        Event::Push(event) => {
            log.object_calls += 1;
            let applied = rooms.apply(verified.sdk_app_id, event).await?;
            let outcome = outcome_name(&applied.outcome)?;
            if outcome == "applied" {
                // This location serves the new state from now on, whatever KV says yet.
                let key = room::key(verified.sdk_app_id, event.room_id);
                cache::remember(cache, &key, Some(&applied.room), now_ms, log).await;
            }
            outcome
        }
    };
    log.outcome = Some(outcome);
    origin.deliver(outcome, log).await?;
    Ok(Reply::json(
        200,
        Members::new().num("error_code", 0).str("outcome", outcome),
    ))
}

/// The object's outcome as one of API.md's names.
fn outcome_name(outcome: &str) -> Result<&'static str, ApiError> {
    ["applied", "duplicate", "stale"]
        .into_iter()
        .find(|known| *known == outcome)
        .ok_or(ApiError::Internal)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::core::delivery::delivery_id;
    use crate::core::doubles::{
        block_on, MemoryCache, MemoryStore, ObjectRooms, QueuedOrigin, RecordingQueue,
        RecordingViewers,
    };
    use crate::core::log::ObjectLine;
    use crate::core::object::Stored;
    use crate::core::readmodel::ReadModel;
    use crate::core::reconcile::LastChecked;
    use crate::core::room::tests::{started, stopped};
    use crate::core::room::Room;

    const APP: u64 = 1_400_000_001;
    const KEY: &str = "room:1400000001:1253";
    const BODY: &[u8] = br#"{"EventType":"WhiteboardPushStopped","SdkAppId":1400000001}"#;
    const NOW_MS: u64 = 1_700_000_000_000;

    fn verified(event: PushEvent) -> Verified {
        Verified {
            event_type: "WhiteboardPushStopped".into(),
            sdk_app_id: APP,
            signed: true,
            event: Event::Push(event),
            dropped_fields: Vec::new(),
        }
    }

    /// The room's object holds one streaming task; two viewers watch it live.
    fn rooms(store: MemoryStore) -> ObjectRooms {
        let mut room = Room::new();
        room.apply(started("task-1", 100, 100));
        store.storage.replace(Some(Stored {
            sdk_app_id: APP,
            room_id: 1253,
            room: room.encode(),
            read_model: ReadModel::in_sync(),
            last_checked: LastChecked::new(),
        }));
        ObjectRooms {
            store,
            viewers: RecordingViewers {
                viewers: 2,
                ..RecordingViewers::default()
            },
            ..ObjectRooms::default()
        }
    }

    fn run(
        rooms: &ObjectRooms,
        cache: &MemoryCache,
        queue: &RecordingQueue,
        log: &mut RequestLog,
    ) -> Result<Reply, ApiError> {
        let origin = QueuedOrigin {
            queue,
            body: BODY,
            now_ms: NOW_MS,
        };
        block_on(accept(
            &verified(stopped("task-1", 100, 200, 200)),
            rooms,
            cache,
            &origin,
            NOW_MS,
            log,
        ))
    }

    /// The request's answer and its finished log line, as the shell makes them.
    fn answered(result: Result<Reply, ApiError>, log: &mut RequestLog) -> (Reply, Value) {
        let reply = result.unwrap_or_else(|e| {
            log.error = Some(e.code());
            e.into_reply()
        });
        let line = serde_json::from_str(&log.line(reply.status, 0)).expect("a JSON line");
        (reply, line)
    }

    fn body(reply: &Reply) -> Value {
        serde_json::from_slice(&reply.body).expect("a JSON body")
    }

    #[test]
    fn a_failing_room_store_means_no_200_no_live_push_no_cache_put_no_queue_send() {
        let rooms = rooms(MemoryStore {
            fail_put: Some("storage put timed out"),
            ..MemoryStore::default()
        });
        let cache = MemoryCache::default();
        let queue = RecordingQueue::default();
        let mut log = RequestLog::new("req-1".into(), "POST");
        let result = run(&rooms, &cache, &queue, &mut log);

        assert_eq!(result, Err(ApiError::StorageUnavailable));
        let (reply, line) = answered(result, &mut log);
        assert_eq!(reply.status, 503);
        assert!(reply.headers.contains(&("retry-after".into(), "5".into())));
        assert_eq!(body(&reply)["error"], "storage_unavailable");
        assert_eq!(line["level"], "error");
        assert_eq!(line["status"], 503);
        assert_eq!(line["error"], "storage_unavailable");
        assert_eq!(line["objectCalls"], 1);
        assert_eq!(line["cacheWrites"], 0);
        for absent in ["outcome", "enqueued", "deliveryId", "forwarded"] {
            assert!(line.get(absent).is_none(), "{absent} in {line}");
        }
        assert_eq!(
            rooms.lines.borrow().clone(),
            [ObjectLine::expected(
                "error",
                "storage_put_failed",
                json!({"key": KEY, "why": "storage put timed out"})
            )]
        );
        assert!(rooms.viewers.sent.borrow().is_empty(), "live push");
        assert!(cache.puts.borrow().is_empty(), "cache put");
        assert!(queue.sent.borrow().is_empty(), "queue send");
    }

    #[test]
    fn a_refused_queue_send_answers_503_storage_unavailable_after_the_state_is_stored() {
        let rooms = rooms(MemoryStore::default());
        let cache = MemoryCache::default();
        let queue = RecordingQueue {
            fail: Some("Queue send failed: 500"),
            ..RecordingQueue::default()
        };
        let mut log = RequestLog::new("req-1".into(), "POST");
        let result = run(&rooms, &cache, &queue, &mut log);

        assert_eq!(result, Err(ApiError::QueueUnavailable));
        let (reply, line) = answered(result, &mut log);
        assert_eq!(reply.status, 503);
        assert!(reply.headers.contains(&("retry-after".into(), "5".into())));
        assert_eq!(
            body(&reply),
            json!({"error_code": 503, "error": "storage_unavailable",
                   "message": "the delivery queue did not accept the event; retry later"})
        );
        assert_eq!(line["level"], "error");
        assert_eq!(line["error"], "storage_unavailable");
        assert_eq!(line["outcome"], "applied");
        assert_eq!(line["enqueued"], false);
        assert_eq!(line["deliveryId"], delivery_id(BODY));
        assert_eq!(
            line["warnings"],
            json!(["the delivery queue refused the message: Queue send failed: 500"])
        );
        assert_eq!(queue.sent.borrow().len(), 1, "one send, refused");
        // The state is stored, so the sender's retry is a harmless duplicate.
        let stored = rooms.store.storage.borrow().clone().expect("stored");
        assert_eq!(stored.decode().tasks().len(), 1);
        assert!(stored.decode().tasks().iter().all(|t| !t.is_streaming()));
    }

    #[test]
    fn the_retry_after_a_refused_queue_send_is_a_duplicate_that_is_queued() {
        let rooms = rooms(MemoryStore::default());
        let cache = MemoryCache::default();
        let refusing = RecordingQueue {
            fail: Some("Queue send failed: 500"),
            ..RecordingQueue::default()
        };
        let mut log = RequestLog::new("req-1".into(), "POST");
        assert!(run(&rooms, &cache, &refusing, &mut log).is_err());

        let queue = RecordingQueue::default();
        let mut log = RequestLog::new("req-2".into(), "POST");
        let reply = run(&rooms, &cache, &queue, &mut log).expect("answered");
        assert_eq!(reply.status, 200);
        assert_eq!(
            body(&reply),
            json!({"error_code": 0, "outcome": "duplicate"})
        );
        assert_eq!(queue.sent.borrow().len(), 1);
        assert_eq!(queue.sent.borrow()[0].outcome, "duplicate");
        assert_eq!(log.enqueued, Some(true));
    }

    #[test]
    fn a_failing_cache_put_still_answers_200_with_a_warning() {
        let rooms = rooms(MemoryStore::default());
        let cache = MemoryCache {
            fail_put: Some("Cache put failed"),
            ..MemoryCache::default()
        };
        let queue = RecordingQueue::default();
        let mut log = RequestLog::new("req-1".into(), "POST");
        let (reply, line) = answered(run(&rooms, &cache, &queue, &mut log), &mut log);

        assert_eq!(reply.status, 200);
        assert_eq!(body(&reply), json!({"error_code": 0, "outcome": "applied"}));
        assert!(line.get("error").is_none(), "{line}");
        assert_eq!(line["level"], "warn");
        assert_eq!(
            line["warnings"],
            json!([format!("cache put {KEY} failed: Cache put failed")])
        );
        assert_eq!(line["cacheWrites"], 1);
        assert_eq!(line["enqueued"], true);
        assert_eq!(queue.sent.borrow().len(), 1);
        assert_eq!(rooms.viewers.sent.borrow().len(), 1);
    }

    #[test]
    fn an_applied_callback_is_stored_told_cached_and_queued_before_its_200() {
        let rooms = rooms(MemoryStore::default());
        let cache = MemoryCache::default();
        let queue = RecordingQueue::default();
        let mut log = RequestLog::new("req-1".into(), "POST");
        let (reply, line) = answered(run(&rooms, &cache, &queue, &mut log), &mut log);

        assert_eq!(reply.status, 200);
        assert_eq!(line["level"], "info");
        assert_eq!(line["outcome"], "applied");
        assert_eq!(line["objectCalls"], 1);
        assert_eq!(line["cacheWrites"], 1);
        let stored = rooms.store.storage.borrow().clone().expect("stored");
        assert_eq!(
            cache.puts.borrow().clone(),
            [(KEY.to_string(), Some(stored.room.clone()))]
        );
        assert_eq!(rooms.viewers.sent.borrow().len(), 1);
        let sent = queue.sent.borrow();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].body.as_bytes(), BODY);
        assert_eq!(sent[0].outcome, "applied");
    }

    #[test]
    fn an_ignored_callback_reaches_no_room_and_is_still_queued() {
        let rooms = rooms(MemoryStore::default());
        let cache = MemoryCache::default();
        let queue = RecordingQueue::default();
        let mut log = RequestLog::new("req-1".into(), "POST");
        let origin = QueuedOrigin {
            queue: &queue,
            body: BODY,
            now_ms: NOW_MS,
        };
        let ignored = Verified {
            event: Event::Ignored,
            ..verified(started("task-1", 100, 100))
        };
        let reply = block_on(accept(&ignored, &rooms, &cache, &origin, NOW_MS, &mut log))
            .expect("answered");
        assert_eq!(body(&reply), json!({"error_code": 0, "outcome": "ignored"}));
        assert_eq!(log.object_calls, 0);
        assert_eq!(rooms.store.puts.get(), 0);
        assert!(cache.puts.borrow().is_empty());
        assert_eq!(queue.sent.borrow().len(), 1);
    }
}
