//! The room object's flows, decided here and run by `edge/room_object.rs`: loading the room
//! (seeded from its KV value on first use), merging one event, and copying the state to KV
//! from the alarm.
//!
//! The object's storage, the room's KV value and its live sockets are reached through the
//! small traits below ([`RoomStore`], [`ReadModelKv`], [`Viewers`]): the shell implements them
//! over `worker` types, native tests with doubles that fail on demand. What the object answers
//! and which lines it logs follow from their results here, so every failure of our own is
//! tested, not assumed. A failed save is an error before anything is told: no viewer hears of
//! a change that is not stored, and the edge answers 503 so the sender retries.
//! Not here: merge rules (`room`), when KV is written (`readmodel`), rendering (`status`),
//! when the alarm runs (the shell: it needs the configuration and the clock).

use serde::Serialize;

use crate::core::callback::PushEvent;
use crate::core::http::ApiError;
use crate::core::json::{self, Json, Limits, Members};
use crate::core::live;
use crate::core::log::{ObjectLine, ObjectLog};
use crate::core::readmodel::ReadModel;
use crate::core::reconcile::LastChecked;
use crate::core::room::{self, Outcome, Room};
use crate::core::status;

/// What the object stores: the whole state, written in one put, so never half-written.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stored {
    pub sdk_app_id: u64,
    pub room_id: u32,
    /// `Room::encode()`: the same format as the KV value.
    pub room: String,
    pub read_model: ReadModel,
    /// When each streaming task was last checked with Tencent (Unix seconds); absent from
    /// what was stored before reconciliation.
    pub last_checked: LastChecked,
}

impl Stored {
    /// Reads what [`Stored`]'s `Serialize` wrote; members it does not know are let go.
    pub fn parse(text: &str) -> Result<Stored, String> {
        let json = json::parse(text.as_bytes(), Limits::TRUSTED).map_err(|e| e.to_string())?;
        Stored::from_json(&json).ok_or_else(|| "not the object's stored state".to_string())
    }

    fn from_json(json: &Json) -> Option<Stored> {
        let last_checked = match json.get("lastChecked") {
            None => LastChecked::new(),
            Some(value) => LastChecked::from_json(value)?,
        };
        Some(Stored {
            sdk_app_id: json.get("sdkAppId")?.as_u64()?,
            room_id: json.get("roomId")?.as_u32()?,
            room: json.string("room")?,
            read_model: ReadModel::from_json(json.get("readModel")?)?,
            last_checked,
        })
    }

    /// The room's KV key, also the object's name.
    pub fn key(&self) -> String {
        room::key(self.sdk_app_id, self.room_id)
    }

    /// The room. Written by `Room::encode` in the object; unreadable only if storage was
    /// tampered with.
    pub fn decode(&self) -> Room {
        Room::decode(&self.room).unwrap_or_default()
    }
}

/// Object → edge: the outcome, and the room's stored value after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    pub outcome: String,
    pub room: String,
}

impl Applied {
    /// Reads what [`Applied`]'s `Serialize` wrote.
    pub fn parse(text: &str) -> Option<Applied> {
        let json = json::parse(text.as_bytes(), Limits::TRUSTED).ok()?;
        Some(Applied {
            outcome: json.string("outcome")?,
            room: json.string("room")?,
        })
    }
}

// The traits' futures need no `Send`: a Worker isolate runs one thread.

/// The object's own storage: one record, kept in memory as well.
#[allow(async_fn_in_trait)]
pub trait RoomStore {
    /// The record (from memory, else storage); `None` for an object never used.
    async fn existing(&self) -> Result<Option<Stored>, String>;
    /// Keeps `stored` in memory only: reads see it, storage does not have it (yet).
    fn stage(&self, stored: &Stored);
    /// Writes `stored` durably, in one put; a failure leaves memory forgetting it, so the
    /// next read goes back to storage.
    async fn save(&self, stored: &Stored) -> Result<(), String>;
}

/// The room's KV value (the read model): read to seed a new object, written by its alarm.
#[allow(async_fn_in_trait)]
pub trait ReadModelKv {
    async fn read(&self, key: &str) -> Result<Option<String>, String>;
    async fn write(&self, key: &str, value: &str) -> Result<(), String>;
}

/// The room's live viewers.
pub trait Viewers {
    /// Sends the message `render` makes to every viewer (calling it only when there are
    /// any): how many viewers there were, and how many sends failed.
    fn broadcast(&self, render: impl FnOnce() -> String) -> (usize, usize);
}

/// The stored state, seeded from the room's KV value on first use (then `true`: the caller
/// saves it, with its change when there is one). A storage or KV read that fails is
/// `storage_unavailable`: the event cannot be merged into a state it cannot see.
pub async fn load(
    store: &impl RoomStore,
    kv: &impl ReadModelKv,
    sdk_app_id: u64,
    room_id: u32,
    log: &impl ObjectLog,
) -> Result<(Stored, bool), ApiError> {
    if let Some(stored) = existing(store, log).await? {
        return Ok((stored, false));
    }
    let key = room::key(sdk_app_id, room_id);
    let seed = kv.read(&key).await.map_err(|why| {
        log.write(ObjectLine::new(
            "warn",
            "seed",
            Members::new()
                .str("key", &key)
                .str("why", &format!("kv get {key} failed: {why}")),
        ));
        ApiError::StorageUnavailable
    })?;
    // The KV read let other events in: one of them may have seeded the room already.
    if let Some(stored) = existing(store, log).await? {
        return Ok((stored, false));
    }
    let room = match seed.as_deref().map(Room::decode) {
        Some(Ok(room)) => room,
        Some(Err(why)) => {
            log.write(ObjectLine::new(
                "warn",
                "seed",
                Members::new()
                    .str("key", &key)
                    .str("why", &format!("unreadable room state at {key}: {why}")),
            ));
            Room::new()
        }
        None => Room::new(),
    };
    let stored = Stored {
        sdk_app_id,
        room_id,
        room: room.encode(),
        read_model: ReadModel::in_sync(),
        last_checked: LastChecked::new(),
    };
    // Visible to events arriving meanwhile; the caller's save makes it durable.
    store.stage(&stored);
    log.write(ObjectLine::new(
        "info",
        "seeded",
        Members::new()
            .str("key", &key)
            .num("tasks", room.tasks().len() as u64),
    ));
    Ok((stored, true))
}

/// The room for a new live viewer: loaded, and saved when it was just seeded, so a viewer is
/// never shown a state that is not stored.
pub async fn open(
    store: &impl RoomStore,
    kv: &impl ReadModelKv,
    sdk_app_id: u64,
    room_id: u32,
    log: &impl ObjectLog,
) -> Result<Stored, ApiError> {
    let (stored, seeded) = load(store, kv, sdk_app_id, room_id, log).await?;
    if seeded {
        save(store, &stored, log).await?;
    }
    Ok(stored)
}

/// The record as it is now (`None`: never used); a failed read is logged
/// (`storage_get_failed`) and is `storage_unavailable`.
pub async fn existing(
    store: &impl RoomStore,
    log: &impl ObjectLog,
) -> Result<Option<Stored>, ApiError> {
    store.existing().await.map_err(|why| {
        log.write(ObjectLine::new(
            "error",
            "storage_get_failed",
            Members::new().str("why", &why),
        ));
        ApiError::StorageUnavailable
    })
}

/// Writes the record; a failed put is logged (`storage_put_failed`) and is
/// `storage_unavailable`.
pub async fn save(
    store: &impl RoomStore,
    stored: &Stored,
    log: &impl ObjectLog,
) -> Result<(), ApiError> {
    store.save(stored).await.map_err(|why| {
        log.write(ObjectLine::new(
            "error",
            "storage_put_failed",
            Members::new().str("key", &stored.key()).str("why", &why),
        ));
        ApiError::StorageUnavailable
    })
}

/// Merges one event: read, merge, write, with only storage awaits in between; then tells
/// live viewers of a change. The outcome and the state after it, or the failure the edge
/// answers: nothing is told before the write is done.
pub async fn apply(
    store: &impl RoomStore,
    kv: &impl ReadModelKv,
    viewers: &impl Viewers,
    sdk_app_id: u64,
    event: PushEvent,
    log: &impl ObjectLog,
) -> Result<(Outcome, Stored), ApiError> {
    let (mut stored, seeded) = load(store, kv, sdk_app_id, event.room_id, log).await?;
    let mut room = stored.decode();
    let outcome = room.apply(event);
    let applied = outcome == Outcome::Applied;
    if applied {
        stored.room = room.encode();
        stored.read_model.changed();
    }
    if applied || seeded {
        save(store, &stored, log).await?;
    }
    if applied {
        broadcast(viewers, &stored, &room, log);
    }
    Ok((outcome, stored))
}

/// Sends the room's new status to every live viewer (logged as `broadcast` when there are
/// any).
pub fn broadcast(viewers: &impl Viewers, stored: &Stored, room: &Room, log: &impl ObjectLog) {
    let (count, failed) = viewers.broadcast(|| {
        live::status_message(&status::render(
            stored.sdk_app_id,
            stored.room_id,
            Some(room),
        ))
    });
    if count > 0 {
        log.write(ObjectLine::new(
            "info",
            "broadcast",
            Members::new()
                .str("key", &stored.key())
                .num("viewers", count as u64)
                .num("failed", failed as u64),
        ));
    }
}

/// The alarm's KV write: copies the state to KV when it is behind and a write is due
/// (`readmodel`), and records the result. A failed write is logged (`kv_write_failed`) and
/// tried again after the read model's backoff; it never reaches a sender. `Err` only when
/// the object's own storage failed (the runtime then retries the alarm).
pub async fn write_read_model(
    store: &impl RoomStore,
    kv: &impl ReadModelKv,
    now_ms: u64,
    log: &impl ObjectLog,
) -> Result<(), ApiError> {
    let Some(mut stored) = existing(store, log).await? else {
        return Ok(());
    };
    if stored
        .read_model
        .next_write_at(now_ms)
        .is_none_or(|at| at > now_ms)
    {
        return Ok(());
    }
    let rev = stored.read_model.rev;
    let value = stored.room.clone();
    // Kept in memory only until the write's result is saved: an alarm that fires during the
    // write sees it and waits; after an eviction more than the gap has passed anyway.
    stored.read_model.attempt(now_ms);
    store.stage(&stored);

    let result = kv.write(&stored.key(), &value).await;

    // Events merged while KV was written are in memory and storage: start from them.
    let Some(mut stored) = existing(store, log).await? else {
        return Ok(());
    };
    match result {
        Ok(()) => {
            stored.read_model.written(rev);
            log.write(ObjectLine::new(
                "info",
                "kv_write",
                Members::new()
                    .str("key", &stored.key())
                    .num("rev", rev)
                    .num("atMs", now_ms),
            ));
        }
        Err(why) => {
            stored.read_model.failed();
            log.write(ObjectLine::new(
                "warn",
                "kv_write_failed",
                Members::new()
                    .str("key", &stored.key())
                    .num("rev", rev)
                    .num("atMs", now_ms)
                    .num("failures", stored.read_model.failures.into())
                    .str("why", &why),
            ));
        }
    }
    save(store, &stored, log).await
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde::Deserialize;
    use serde_json::{json, Value};

    use super::*;
    use crate::core::doubles::{block_on, MemoryKv, MemoryStore, RecordingViewers};
    use crate::core::room::tests::{edited, edits, started, stopped};

    const APP: u64 = 1_400_000_001;
    const KEY: &str = "room:1400000001:1253";

    /// A room that has one streaming task, stored and in sync with KV.
    fn streaming_room() -> Stored {
        let mut room = Room::new();
        room.apply(started("task-1", 100, 100));
        Stored {
            sdk_app_id: APP,
            room_id: 1253,
            room: room.encode(),
            read_model: ReadModel::in_sync(),
            last_checked: LastChecked::new(),
        }
    }

    /// A stored room whose last change (rev 1) is not in KV yet.
    fn dirty_room() -> Stored {
        let mut stored = streaming_room();
        stored.read_model.changed();
        stored
    }

    fn line(level: &'static str, event: &'static str, fields: Value) -> Value {
        ObjectLine::expected(level, event, fields)
    }

    #[test]
    fn a_failing_save_answers_storage_unavailable_and_tells_no_viewer() {
        let store = MemoryStore {
            fail_put: Some("storage put timed out"),
            ..MemoryStore::holding(streaming_room())
        };
        let viewers = RecordingViewers {
            viewers: 3,
            ..RecordingViewers::default()
        };
        let log = RefCell::new(Vec::new());
        let result = block_on(apply(
            &store,
            &MemoryKv::default(),
            &viewers,
            APP,
            stopped("task-1", 100, 200, 200),
            &log,
        ));

        assert_eq!(result, Err(ApiError::StorageUnavailable));
        let reply = ApiError::StorageUnavailable.into_reply();
        assert_eq!(reply.status, 503);
        assert!(reply.headers.contains(&("retry-after".into(), "5".into())));
        assert_eq!(
            log.into_inner(),
            [line(
                "error",
                "storage_put_failed",
                json!({"key": KEY, "why": "storage put timed out"})
            )]
        );
        assert!(viewers.sent.borrow().is_empty(), "a viewer heard of it");
        // Storage still holds the state from before; memory forgot the unsaved change.
        assert_eq!(store.storage.borrow().clone(), Some(streaming_room()));
        assert_eq!(store.memory.borrow().clone(), None);
    }

    #[test]
    fn a_failing_storage_read_answers_storage_unavailable_and_writes_nothing() {
        let store = MemoryStore {
            fail_get: Some("storage get failed"),
            ..MemoryStore::default()
        };
        let kv = MemoryKv::default();
        let viewers = RecordingViewers {
            viewers: 1,
            ..RecordingViewers::default()
        };
        let log = RefCell::new(Vec::new());
        let result = block_on(apply(
            &store,
            &kv,
            &viewers,
            APP,
            started("task-1", 100, 100),
            &log,
        ));

        assert_eq!(result, Err(ApiError::StorageUnavailable));
        assert_eq!(
            log.into_inner(),
            [line(
                "error",
                "storage_get_failed",
                json!({"why": "storage get failed"})
            )]
        );
        assert_eq!(store.puts.get(), 0);
        assert_eq!(kv.reads.get(), 0);
        assert!(viewers.sent.borrow().is_empty());
    }

    #[test]
    fn a_failing_seed_read_answers_storage_unavailable_and_stores_nothing() {
        let store = MemoryStore::default();
        let kv = MemoryKv {
            fail_read: Some("KV GET failed: 500"),
            ..MemoryKv::default()
        };
        let log = RefCell::new(Vec::new());
        let result = block_on(apply(
            &store,
            &kv,
            &RecordingViewers::default(),
            APP,
            started("task-1", 100, 100),
            &log,
        ));

        assert_eq!(result, Err(ApiError::StorageUnavailable));
        assert_eq!(
            log.into_inner(),
            [line(
                "warn",
                "seed",
                json!({"key": KEY, "why": format!("kv get {KEY} failed: KV GET failed: 500")})
            )]
        );
        assert_eq!(store.puts.get(), 0);
        assert_eq!(store.storage.borrow().clone(), None);
    }

    #[test]
    fn a_live_viewer_of_a_room_whose_seed_cannot_be_saved_is_refused() {
        let store = MemoryStore {
            fail_put: Some("storage put failed"),
            ..MemoryStore::default()
        };
        let log = RefCell::new(Vec::new());
        let result = block_on(open(&store, &MemoryKv::default(), APP, 1253, &log));

        assert_eq!(result, Err(ApiError::StorageUnavailable));
        assert_eq!(
            log.into_inner(),
            [
                line("info", "seeded", json!({"key": KEY, "tasks": 0})),
                line(
                    "error",
                    "storage_put_failed",
                    json!({"key": KEY, "why": "storage put failed"})
                ),
            ]
        );
    }

    #[test]
    fn a_live_viewer_of_a_stored_room_writes_nothing() {
        let store = MemoryStore::holding(streaming_room());
        let log = RefCell::new(Vec::new());
        let result = block_on(open(&store, &MemoryKv::default(), APP, 1253, &log));

        assert_eq!(result, Ok(streaming_room()));
        assert_eq!(store.puts.get(), 0);
        assert!(log.borrow().is_empty());
    }

    #[test]
    fn an_applied_event_is_stored_before_viewers_hear_of_it() {
        let store = MemoryStore::default();
        let viewers = RecordingViewers {
            viewers: 2,
            failing: 1,
            ..RecordingViewers::default()
        };
        let log = RefCell::new(Vec::new());
        let (outcome, stored) = block_on(apply(
            &store,
            &MemoryKv::default(),
            &viewers,
            APP,
            started("task-1", 100, 100),
            &log,
        ))
        .expect("applied");

        assert_eq!(outcome, Outcome::Applied);
        assert_eq!(store.storage.borrow().clone(), Some(stored.clone()));
        assert_eq!(stored.read_model.rev, 1);
        assert_eq!(
            log.into_inner(),
            [
                line("info", "seeded", json!({"key": KEY, "tasks": 0})),
                line(
                    "info",
                    "broadcast",
                    json!({"key": KEY, "viewers": 2, "failed": 1})
                ),
            ]
        );
        let sent = viewers.sent.borrow();
        assert_eq!(sent.len(), 1);
        assert!(sent[0].contains("\"streaming\""), "{}", sent[0]);
    }

    #[test]
    fn a_duplicate_is_neither_stored_again_nor_broadcast() {
        let store = MemoryStore::holding(streaming_room());
        let viewers = RecordingViewers {
            viewers: 2,
            ..RecordingViewers::default()
        };
        let log = RefCell::new(Vec::new());
        let (outcome, _) = block_on(apply(
            &store,
            &MemoryKv::default(),
            &viewers,
            APP,
            started("task-1", 100, 100),
            &log,
        ))
        .expect("answered");

        assert_eq!(outcome, Outcome::Duplicate);
        assert_eq!(store.puts.get(), 0);
        assert!(viewers.sent.borrow().is_empty());
        assert!(log.borrow().is_empty(), "{log:?}");
    }

    #[test]
    fn a_failing_kv_write_never_reaches_the_sender() {
        let kv = MemoryKv {
            fail_write: Some("KV PUT failed: 429 Too Many Requests"),
            ..MemoryKv::default()
        };
        let store = MemoryStore::holding(streaming_room());
        let log = RefCell::new(Vec::new());
        let result = block_on(apply(
            &store,
            &kv,
            &RecordingViewers::default(),
            APP,
            stopped("task-1", 100, 200, 200),
            &log,
        ));
        assert_eq!(result.map(|(outcome, _)| outcome), Ok(Outcome::Applied));
        assert!(kv.writes.borrow().is_empty(), "KV is the alarm's to write");
    }

    #[test]
    fn a_failing_kv_write_is_logged_and_tried_again_after_the_backoff() {
        let store = MemoryStore::holding(dirty_room());
        let kv = MemoryKv {
            fail_write: Some("KV PUT failed: 429 Too Many Requests"),
            ..MemoryKv::default()
        };
        let log = RefCell::new(Vec::new());
        let result = block_on(write_read_model(&store, &kv, 10_000, &log));

        assert_eq!(result, Ok(()), "the alarm itself succeeds");
        assert_eq!(
            log.into_inner(),
            [line(
                "warn",
                "kv_write_failed",
                json!({"key": KEY, "rev": 1, "atMs": 10_000, "failures": 1,
                       "why": "KV PUT failed: 429 Too Many Requests"})
            )]
        );
        assert_eq!(kv.writes.borrow().len(), 1);
        let saved = store.storage.borrow().clone().expect("saved");
        assert!(saved.read_model.is_dirty());
        assert_eq!(saved.read_model.failures, 1);
        // The next attempt waits twice the least gap, and stays due until it lands.
        assert_eq!(saved.read_model.next_write_at(10_000), Some(12_000));
    }

    #[test]
    fn a_kv_write_that_lands_brings_the_room_in_sync() {
        let store = MemoryStore::holding(dirty_room());
        let kv = MemoryKv::default();
        let log = RefCell::new(Vec::new());
        let result = block_on(write_read_model(&store, &kv, 10_000, &log));

        assert_eq!(result, Ok(()));
        assert_eq!(
            log.into_inner(),
            [line(
                "info",
                "kv_write",
                json!({"key": KEY, "rev": 1, "atMs": 10_000})
            )]
        );
        assert_eq!(
            kv.values.borrow().get(KEY).cloned(),
            Some(dirty_room().room)
        );
        let saved = store.storage.borrow().clone().expect("saved");
        assert!(!saved.read_model.is_dirty());
        assert_eq!(saved.read_model.next_write_at(10_000), None);
    }

    #[test]
    fn a_room_in_sync_is_not_written_to_kv() {
        let store = MemoryStore::holding(streaming_room());
        let kv = MemoryKv::default();
        let log = RefCell::new(Vec::new());
        assert_eq!(
            block_on(write_read_model(&store, &kv, 10_000, &log)),
            Ok(())
        );
        assert!(kv.writes.borrow().is_empty());
        assert_eq!(store.puts.get(), 0);
        assert!(log.borrow().is_empty());
    }

    #[test]
    fn a_failing_save_after_a_kv_write_fails_the_alarm_so_it_runs_again() {
        let store = MemoryStore {
            fail_put: Some("storage put failed"),
            ..MemoryStore::holding(dirty_room())
        };
        let log = RefCell::new(Vec::new());
        let result = block_on(write_read_model(&store, &MemoryKv::default(), 10_000, &log));

        assert_eq!(result, Err(ApiError::StorageUnavailable));
        assert_eq!(
            log.into_inner(),
            [
                line(
                    "info",
                    "kv_write",
                    json!({"key": KEY, "rev": 1, "atMs": 10_000})
                ),
                line(
                    "error",
                    "storage_put_failed",
                    json!({"key": KEY, "why": "storage put failed"})
                ),
            ]
        );
        // Storage still says KV is behind: the next alarm writes it again.
        let kept = store.storage.borrow().clone().expect("kept");
        assert!(kept.read_model.is_dirty());
    }

    /// A stored state with every member set: a check time, a KV write attempted.
    fn checked_room() -> Stored {
        let mut stored = dirty_room();
        stored.read_model.attempt(9_000);
        stored.read_model.failed();
        stored.last_checked.insert("task-1".into(), 1_000);
        stored
    }

    fn stored_with(edit: impl FnOnce(&mut Value)) -> String {
        let mut value = serde_json::to_value(checked_room()).expect("serialises");
        edit(&mut value);
        value.to_string()
    }

    #[test]
    fn the_stored_state_reads_back_as_written_and_as_written_before_reconciliation() {
        let stored = checked_room();
        let text = serde_json::to_string(&stored).expect("serialises");
        assert_eq!(Stored::parse(&text), Ok(stored.clone()));
        // Before reconciliation there were no check times; members it does not know are let
        // go, as they were.
        let old = stored_with(|v| {
            v.as_object_mut().map(|o| o.remove("lastChecked"));
            v["readModel"]["attemptedAtMs"] = Value::Null;
            v["later"] = json!({"any": "thing"});
            v["readModel"]["later"] = json!(1);
        });
        let mut expected = stored;
        expected.last_checked = LastChecked::new();
        expected.read_model.attempted_at_ms = None;
        assert_eq!(Stored::parse(&old), Ok(expected));
    }

    #[test]
    fn a_stored_state_of_a_wrong_type_or_range_is_unreadable() {
        for text in [
            stored_with(|v| v["lastChecked"] = Value::Null),
            stored_with(|v| v["lastChecked"] = json!({"task-1": "1000"})),
            stored_with(|v| v["lastChecked"] = json!({"task-1": i64::MAX as u64 + 1})),
            stored_with(|v| v["roomId"] = json!(u64::from(u32::MAX) + 1)),
            stored_with(|v| v["sdkAppId"] = json!(-1)),
            stored_with(|v| v["room"] = json!({"v": 1, "tasks": []})),
            stored_with(|v| v["readModel"]["failures"] = json!(u64::from(u32::MAX) + 1)),
            stored_with(|v| v["readModel"]["rev"] = json!(1.0)),
            stored_with(|v| v["readModel"]["attemptedAtMs"] = json!(-5)),
            stored_with(|v| {
                v["readModel"]
                    .as_object_mut()
                    .map(|o| o.remove("writtenRev"));
            }),
            stored_with(|v| v["readModel"] = Value::Null),
            "[]".to_string(),
            "{\"sdkAppId\":1,\"sdkAppId\":1}".to_string(),
        ] {
            assert!(Stored::parse(&text).is_err(), "{text}");
        }
    }

    #[test]
    fn the_objects_answer_reads_back_as_written() {
        let applied = Applied {
            outcome: "applied".into(),
            room: Room::new().encode(),
        };
        let text = serde_json::to_string(&applied).expect("serialises");
        assert_eq!(Applied::parse(&text), Some(applied));
        assert_eq!(Applied::parse(r#"{"outcome":"stale"}"#), None);
        assert_eq!(Applied::parse(r#"{"outcome":1,"room":""}"#), None);
    }

    /// The serde derive `Stored` was read with before `core::json`, kept to test against
    /// (`LastChecked` read an object of task ids and integers, as a map does).
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct SerdeStored {
        sdk_app_id: u64,
        room_id: u32,
        room: String,
        read_model: SerdeReadModel,
        #[serde(default)]
        last_checked: BTreeMap<String, i64>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct SerdeReadModel {
        rev: u64,
        written_rev: u64,
        attempted_at_ms: Option<u64>,
        failures: u32,
    }

    /// Member names of the stored state (all levels), and some it does not have.
    const STORED_MEMBERS: &[&str] = &[
        "sdkAppId",
        "roomId",
        "room",
        "readModel",
        "lastChecked",
        "rev",
        "writtenRev",
        "attemptedAtMs",
        "failures",
        "task-1",
        "t",
        "extra",
    ];

    proptest! {
        // Each case makes a few edits among many names, values and places: many cases.
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// Whatever the object's storage holds, `Stored::parse` reads it as the serde derive
        /// it replaced read it: the same states accepted, the same refused.
        #[test]
        fn stored_states_read_as_the_serde_derive_read_them(edits in edits(STORED_MEMBERS)) {
            let value = serde_json::to_value(checked_room()).expect("serialises");
            let text = edited(value, &edits);
            let serde = serde_json::from_str::<SerdeStored>(&text).ok().map(|s| Stored {
                sdk_app_id: s.sdk_app_id,
                room_id: s.room_id,
                room: s.room,
                read_model: ReadModel {
                    rev: s.read_model.rev,
                    written_rev: s.read_model.written_rev,
                    attempted_at_ms: s.read_model.attempted_at_ms,
                    failures: s.read_model.failures,
                },
                last_checked: s.last_checked.into_iter().collect(),
            });
            prop_assert_eq!(Stored::parse(&text).ok(), serde, "{}", text);
        }
    }
}
