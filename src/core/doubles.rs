//! Test doubles of the core's seams (`object`, `cache`, `delivery`, `accept`): in-memory
//! stores that succeed, or fail on demand with a reason, and record what they were asked.
//! The callback's doubles compose the others through the real flows (`object::apply`,
//! `delivery::enqueue`), so one test follows a failure from a store to the answer.
//! Their futures are ready at once, so [`block_on`] drives a flow to its end.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::task::{Context, Poll, Waker};

use crate::core::accept::{Origin, RoomObjects};
use crate::core::cache::{Cached, KvRooms, StatusCache};
use crate::core::callback::PushEvent;
use crate::core::delivery::{self, Delivery, DeliveryQueue, OriginHeaders};
use crate::core::http::ApiError;
use crate::core::log::{ObjectLine, ObjectLog, RequestLog};
use crate::core::object::{self, Applied, ReadModelKv, RoomStore, Stored, Viewers};

/// Runs a future whose awaits are all ready (a few polls: `join_all` of many may yield).
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000 {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
    panic!("a double's future was not ready");
}

/// A room object's storage: memory in front of storage, like the real one.
#[derive(Default)]
pub struct MemoryStore {
    pub memory: RefCell<Option<Stored>>,
    pub storage: RefCell<Option<Stored>>,
    pub fail_get: Option<&'static str>,
    pub fail_put: Option<&'static str>,
    pub puts: Cell<usize>,
}

impl MemoryStore {
    pub fn holding(stored: Stored) -> MemoryStore {
        MemoryStore {
            storage: RefCell::new(Some(stored)),
            ..MemoryStore::default()
        }
    }
}

impl RoomStore for MemoryStore {
    async fn existing(&self) -> Result<Option<Stored>, String> {
        if let Some(stored) = self.memory.borrow().clone() {
            return Ok(Some(stored));
        }
        if let Some(why) = self.fail_get {
            return Err(why.into());
        }
        let stored = self.storage.borrow().clone();
        self.memory.replace(stored.clone());
        Ok(stored)
    }

    fn stage(&self, stored: &Stored) {
        self.memory.replace(Some(stored.clone()));
    }

    async fn save(&self, stored: &Stored) -> Result<(), String> {
        self.puts.set(self.puts.get() + 1);
        if let Some(why) = self.fail_put {
            self.memory.replace(None);
            return Err(why.into());
        }
        self.memory.replace(Some(stored.clone()));
        self.storage.replace(Some(stored.clone()));
        Ok(())
    }
}

/// Workers KV: values by key, every write recorded.
#[derive(Default)]
pub struct MemoryKv {
    pub values: RefCell<BTreeMap<String, String>>,
    pub fail_read: Option<&'static str>,
    pub fail_write: Option<&'static str>,
    pub reads: Cell<usize>,
    pub writes: RefCell<Vec<(String, String)>>,
}

impl ReadModelKv for MemoryKv {
    async fn read(&self, key: &str) -> Result<Option<String>, String> {
        self.reads.set(self.reads.get() + 1);
        if let Some(why) = self.fail_read {
            return Err(why.into());
        }
        Ok(self.values.borrow().get(key).cloned())
    }

    async fn write(&self, key: &str, value: &str) -> Result<(), String> {
        self.writes.borrow_mut().push((key.into(), value.into()));
        if let Some(why) = self.fail_write {
            return Err(why.into());
        }
        self.values.borrow_mut().insert(key.into(), value.into());
        Ok(())
    }
}

impl KvRooms for MemoryKv {
    async fn get(&self, keys: &[&str]) -> Result<Vec<Option<String>>, String> {
        self.reads.set(self.reads.get() + keys.len());
        if let Some(why) = self.fail_read {
            return Err(why.into());
        }
        let values = self.values.borrow();
        Ok(keys.iter().map(|k| values.get(*k).cloned()).collect())
    }
}

/// A room object's log: every line, in order.
impl ObjectLog for RefCell<Vec<ObjectLine>> {
    fn write(&self, line: ObjectLine) {
        self.borrow_mut().push(line);
    }
}

/// The live sockets of a room: every message sent, and how many sends fail.
#[derive(Default)]
pub struct RecordingViewers {
    pub viewers: usize,
    pub failing: usize,
    pub sent: RefCell<Vec<String>>,
}

impl Viewers for RecordingViewers {
    fn broadcast(&self, render: impl FnOnce() -> String) -> (usize, usize) {
        if self.viewers == 0 {
            return (0, 0);
        }
        self.sent.borrow_mut().push(render());
        (self.viewers, self.failing)
    }
}

/// The Cache API of one location: entries by key, every put recorded.
#[derive(Default)]
pub struct MemoryCache {
    pub entries: RefCell<BTreeMap<String, Cached>>,
    pub fail_get: Option<&'static str>,
    pub fail_put: Option<&'static str>,
    pub puts: RefCell<Vec<(String, Option<String>)>>,
}

impl StatusCache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Cached>, String> {
        if let Some(why) = self.fail_get {
            return Err(why.into());
        }
        Ok(self.entries.borrow().get(key).cloned())
    }

    async fn put(&self, key: &str, value: Option<&str>, now_ms: u64) -> Result<(), String> {
        self.puts
            .borrow_mut()
            .push((key.into(), value.map(str::to_string)));
        if let Some(why) = self.fail_put {
            return Err(why.into());
        }
        self.entries.borrow_mut().insert(
            key.into(),
            Cached {
                value: value.map(str::to_string),
                stored_at: now_ms,
            },
        );
        Ok(())
    }
}

/// The delivery queue: every message it was asked to take, taken or not.
#[derive(Default)]
pub struct RecordingQueue {
    pub fail: Option<&'static str>,
    pub sent: RefCell<Vec<Delivery>>,
}

impl DeliveryQueue for RecordingQueue {
    async fn send(&self, delivery: &Delivery) -> Result<(), String> {
        self.sent.borrow_mut().push(delivery.clone());
        match self.fail {
            Some(why) => Err(why.into()),
            None => Ok(()),
        }
    }
}

/// The rooms' objects, each running `object::apply` over its own doubles, as the edge's
/// stub call does (the object's failure comes back as the edge's error).
#[derive(Default)]
pub struct ObjectRooms {
    pub store: MemoryStore,
    pub kv: MemoryKv,
    pub viewers: RecordingViewers,
    pub lines: RefCell<Vec<ObjectLine>>,
}

impl RoomObjects for ObjectRooms {
    async fn apply(&self, sdk_app_id: u64, event: &PushEvent) -> Result<Applied, ApiError> {
        let (outcome, stored) = object::apply(
            &self.store,
            &self.kv,
            &self.viewers,
            sdk_app_id,
            event.clone(),
            &self.lines,
        )
        .await?;
        Ok(Applied {
            outcome: outcome.as_str().into(),
            room: stored.room,
        })
    }
}

/// Queued delivery of one callback's bytes, through `delivery::enqueue`.
pub struct QueuedOrigin<'a> {
    pub queue: &'a RecordingQueue,
    pub body: &'a [u8],
    pub now_ms: u64,
}

impl Origin for QueuedOrigin<'_> {
    async fn deliver(&self, outcome: &'static str, log: &mut RequestLog) -> Result<(), ApiError> {
        let headers = OriginHeaders {
            event_type: "WhiteboardPushStarted",
            outcome,
            verified: true,
            request_id: "req-1",
            source: None,
            queued: None,
        };
        delivery::enqueue(self.queue, self.body, &headers, self.now_ms, log).await
    }
}
