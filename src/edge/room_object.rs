//! The room object: one Durable Object per `(SdkAppId, RoomId)`, reached by the name
//! `room:{SdkAppId}:{RoomId}`, and the room's only writer.
//!
//! A verified push event is merged here with the `room` rules, in the object's own storage:
//! between reading the state and writing it back there is no await but storage, and the
//! runtime delivers no other event to the object meanwhile, so merges are serialised. The
//! callback is answered once that write is done. Workers KV stays the read model that status
//! reads (and their Cache API layer) use: the object copies the state there from its alarm,
//! at most once a second (`readmodel`). Live viewers' WebSockets are held here with the
//! hibernation API, so an idle viewer costs no duration; a `ping` is answered by the runtime.
//!
//! An object with empty storage seeds itself from the room's KV value, so rooms stored before
//! the object existed keep their state.
//!
//! With Tencent credentials configured, the same alarm heals tasks stuck in `Started`: every
//! `RECONCILE_AFTER_SECONDS` it asks TIW's `DescribeWhiteboardPush` about each streaming task
//! that is due, and merges a reconciled stop when TIW says `STOPPED` (`reconcile`).
//! The flows themselves (load and seed, merge and save, the KV write) are decided in
//! `core::object`; this file implements its `RoomStore`, `ReadModelKv` and `Viewers` over the
//! object's storage, KV and sockets, and prints the lines the flows log.
//! Not here: merge rules (`room`), rendering (`status`), live-upgrade rules (`live`), when a
//! task is due (`reconcile`), signing (`core::tencent`).

use std::cell::{Cell, OnceCell, RefCell};
use std::future::Future;

use serde::Serialize;
use worker::{
    durable_object, js_sys, wasm_bindgen::JsValue, web_sys,
    worker_sys::WebSocketRequestResponsePair, DurableObject, Env, Headers, Request, Response,
    ScheduledTime, State, WebSocket, WebSocketIncomingMessage, WebSocketPair,
};

use super::bindings::{class_binding, Kv, ObjectNamespace};
use super::now_ms;
use super::origin::Forward;
use super::{into_response, queue, store, tencent};
use crate::core::accept::RoomObjects;
use crate::core::callback::PushEvent;
use crate::core::config::Config;
use crate::core::http::{self, ApiError};
use crate::core::json::{self, Json, Limits, Members};
use crate::core::live;
use crate::core::log::{ObjectLine, ObjectLog, RequestLog};
use crate::core::object::{self, Applied, ReadModelKv, RoomStore, Stored, Viewers};
use crate::core::reconcile;
use crate::core::room::{self, Outcome};
use crate::core::status;
use crate::core::tencent::Answer;

/// The Durable Object namespace binding (wrangler.toml `[[durable_objects.bindings]]`).
pub const BINDING: &str = "ROOMS";
/// The one storage key: the whole state is written in one put, so it is never half-written.
const STATE_KEY: &str = "state";
/// Internal requests from the edge to the object; the host is never resolved.
const INTERNAL: &str = "https://room-object.internal";
/// How long a `DescribeWhiteboardPush` may take before it counts as failed (tried again at the
/// next interval).
const TENCENT_TIMEOUT_MS: u64 = 5_000;

/// Edge → object: one verified push event.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApplyCall {
    sdk_app_id: u64,
    event: PushEvent,
}

impl ApplyCall {
    fn from_json(json: &Json) -> Option<ApplyCall> {
        Some(ApplyCall {
            sdk_app_id: json.get("sdkAppId")?.as_u64()?,
            event: PushEvent::from_json(json.get("event")?)?,
        })
    }
}

#[durable_object]
pub struct RoomObject {
    state: State,
    env: Env,
    /// The stored state as last read or written; storage stays the truth.
    memory: RefCell<Option<Stored>>,
    /// The alarm this instance set and that has not fired yet (ms), so a burst of changes
    /// sets it once. Forgotten on eviction; setting it again then is harmless.
    alarm_at: Cell<Option<u64>>,
    /// The configuration, read once per instance (`None`: invalid, so nothing is reconciled).
    config: OnceCell<Option<Config>>,
}

impl DurableObject for RoomObject {
    fn new(state: State, env: Env) -> Self {
        // Idle viewers' pings are answered by the runtime without waking the object.
        if let Ok(pair) = WebSocketRequestResponsePair::new(live::PING, live::PONG) {
            state.set_websocket_auto_response(&pair);
        }
        RoomObject {
            state,
            env,
            memory: RefCell::new(None),
            alarm_at: Cell::new(None),
            config: OnceCell::new(),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let answer = match req.path().as_str() {
            "/apply" => self.apply(&mut req).await,
            "/live" => self.live(&req).await,
            _ => Err(ApiError::NotFound),
        };
        answer.or_else(|e| Ok(into_response(e.into_reply())?.into()))
    }

    async fn alarm(&self) -> worker::Result<Response> {
        self.alarm_at.set(None);
        self.reconcile_due().await?;
        object::write_read_model(self, self, now_ms(), self)
            .await
            .map_err(alarm_error)?;
        if let Some(stored) = self.existing_or_retry().await? {
            if let Some(at) = self.next_alarm_at(&stored, now_ms()) {
                self.set_alarm(at).await?;
            }
        }
        Response::empty()
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> worker::Result<()> {
        // The runtime answers `ping` itself; this only runs if it did not. Anything else a
        // viewer sends is ignored.
        if matches!(&message, WebSocketIncomingMessage::String(text) if text == live::PING) {
            let _ = ws.send_with_str(live::PONG);
        }
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        _reason: String,
        _was_clean: bool,
    ) -> worker::Result<()> {
        let code = u16::try_from(code).map_or(1000, live::close_reply_code);
        // Fails only when the socket is already closed, which is what was asked.
        let _ = ws.close(Some(code), Some("closed"));
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, error: worker::Error) -> worker::Result<()> {
        log_line(
            "warn",
            "websocket_error",
            Members::new().str("why", &error.to_string()),
        );
        let _ = ws.close(Some(1011), Some("error"));
        Ok(())
    }
}

impl RoomObject {
    /// Merges one event (`object::apply`), then sets the alarm for its KV write.
    async fn apply(&self, req: &mut Request) -> Result<Response, ApiError> {
        // Read by `core::json` like the rest of the stored state (`req.json()` would add
        // serde_wasm_bindgen); `apply` below wrote it. Integers are read exactly, where
        // JSON.parse would round those beyond ±2^53.
        let text = req.text().await.map_err(|_| ApiError::Internal)?;
        let call = json::parse(text.as_bytes(), Limits::TRUSTED)
            .ok()
            .and_then(|json| ApplyCall::from_json(&json))
            .ok_or(ApiError::Internal)?;
        let (outcome, stored) =
            object::apply(self, self, self, call.sdk_app_id, call.event, self).await?;
        // Also after a duplicate: a retried event whose first answer was lost still gets its
        // KV write scheduled.
        if let Err(e) = self.schedule(&stored).await {
            log_line(
                "warn",
                "alarm_not_set",
                Members::new().str("key", &stored.key()).str("why", &e),
            );
        }
        Response::from_json(&Applied {
            outcome: outcome.as_str().into(),
            room: stored.room,
        })
        .map_err(|_| ApiError::Internal)
    }

    /// A live viewer: accepted with the hibernation API, sent the room's status at once.
    async fn live(&self, req: &Request) -> Result<Response, ApiError> {
        let url = req.inner().url();
        let param = |name: &str| http::query_param(&url, name).and_then(|v| v.parse::<u64>().ok());
        let (Some(app), Some(room_id), Some(max)) =
            (param("sdkAppId"), param("roomId"), param("max"))
        else {
            return Err(ApiError::Internal);
        };
        let room_id = u32::try_from(room_id).map_err(|_| ApiError::Internal)?;
        if self.state.get_websockets().len() as u64 >= max {
            return Err(ApiError::TooManyConnections);
        }
        let stored = object::open(self, self, app, room_id, self).await?;
        let pair = WebSocketPair::new().map_err(|_| ApiError::Internal)?;
        self.state.accept_web_socket(&pair.server);
        let rendered = status::render(app, room_id, Some(&stored.decode()));
        pair.server
            .send_with_str(live::status_message(&rendered))
            .map_err(|_| ApiError::Internal)?;
        Response::from_websocket(pair.client).map_err(|_| ApiError::Internal)
    }

    /// Asks Tencent about every streaming task that is due, one after another, and merges a
    /// reconciled stop for each that TIW says has stopped. Any other answer, an error or a
    /// timeout changes nothing but the task's check time: it is asked again one interval on.
    async fn reconcile_due(&self) -> worker::Result<()> {
        let Some(config) = self.config() else {
            return Ok(());
        };
        let Some(api) = config.tencent_api() else {
            return Ok(());
        };
        let Some(stored) = self.existing_or_retry().await? else {
            return Ok(());
        };
        let now = now_seconds();
        let room = stored.decode();
        let due: Vec<String> = reconcile::due_tasks(
            &room,
            &stored.last_checked,
            now,
            config.reconcile_after_seconds,
        )
        .into_iter()
        .map(String::from)
        .collect();
        for task_id in due {
            let request = api.describe_whiteboard_push(stored.sdk_app_id, &task_id, now);
            let answer = tencent::send(&request, TENCENT_TIMEOUT_MS).await;

            // Events merged during the call are in memory: read, merge, write from here.
            let Some(mut stored) = self.existing_or_retry().await? else {
                return Ok(());
            };
            let mut room = stored.decode();
            let outcome = match &answer {
                Ok(tencent_answer) => match tencent_answer {
                    Answer::Task(task) => reconcile::apply_answer(&mut room, &task_id, task, now),
                    _ => None,
                },
                Err(_) => None,
            };
            let applied = outcome == Some(Outcome::Applied);
            if applied {
                stored.room = room.encode();
                stored.read_model.changed();
            }
            stored.last_checked.insert(task_id.clone(), now);
            reconcile::forget_settled(&mut stored.last_checked, &room);
            let (code, request_id, why) = match &answer {
                Ok(a) => (
                    a.code().to_string(),
                    a.request_id().map(str::to_string),
                    None,
                ),
                Err(why) => ("no_answer".to_string(), None, Some(why.clone())),
            };
            log_line(
                if applied || matches!(&answer, Ok(Answer::Task(_))) {
                    "info"
                } else {
                    "warn"
                },
                "reconcile",
                Members::new()
                    .str("key", &stored.key())
                    .str("taskId", &task_id)
                    .str("answer", &code)
                    .opt_str("requestId", request_id.as_deref())
                    .opt_str("why", why.as_deref())
                    .opt_str("outcome", outcome.map(Outcome::as_str)),
            );
            object::save(self, &stored, self)
                .await
                .map_err(alarm_error)?;
            if applied {
                object::broadcast(self, &stored, &room, self);
                if let Ok(Answer::Task(task)) = &answer {
                    let body = reconcile::origin_body(
                        stored.sdk_app_id,
                        stored.room_id,
                        &task_id,
                        task,
                        now,
                    );
                    self.tell_origin(config, &stored, &task_id, &body).await;
                }
            }
        }
        Ok(())
    }

    /// Sends a reconciled stop's `WhiteboardPushReconciled` body to the origin through the
    /// active delivery mode, marked `x-tiw-verified: 0` and `x-tiw-source: reconciled`. Queued,
    /// it is retried for hours like any delivery; direct, a failure is logged (no sender
    /// will retry it), which is one more reason to choose queued delivery.
    async fn tell_origin(&self, config: &Config, stored: &Stored, task_id: &str, body: &str) {
        let request_id = format!("reconcile-{}-{task_id}", now_ms());
        let mut log = RequestLog::default();
        let delivered = queue::deliver(
            &self.env,
            config,
            &Forward {
                body: body.as_bytes(),
                event_type: reconcile::EVENT_TYPE,
                outcome: Outcome::Applied.as_str(),
                signed: false,
                request_id: &request_id,
                source: Some("reconciled"),
            },
            &mut log,
        )
        .await;
        if config.origin_url.is_none() {
            return;
        }
        log_line(
            if delivered.is_ok() { "info" } else { "error" },
            "reconcile_delivery",
            Members::new()
                .str("key", &stored.key())
                .str("taskId", task_id)
                .str("requestId", &request_id)
                .str("mode", config.origin_delivery.as_str())
                .opt_str("deliveryId", log.delivery_id.as_deref())
                .opt_str("error", delivered.err().map(|e| e.message()).as_deref())
                .strs("warnings", &log.warnings),
        );
    }

    fn config(&self) -> Option<&Config> {
        self.config
            .get_or_init(|| super::env_config(&self.env).ok())
            .as_ref()
    }

    /// When the alarm must next run: the next KV write, or the next check with Tencent.
    fn next_alarm_at(&self, stored: &Stored, now: u64) -> Option<u64> {
        let write = stored.read_model.next_write_at(now);
        let check = self
            .config()
            .filter(|c| c.reconcile())
            .and_then(|c| {
                reconcile::next_check_at(
                    &stored.decode(),
                    &stored.last_checked,
                    c.reconcile_after_seconds,
                )
            })
            .map(|at| u64::try_from(at).unwrap_or(0).saturating_mul(1000).max(now));
        match (write, check) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Sets the alarm for the next KV write or check unless one is set at or before it.
    async fn schedule(&self, stored: &Stored) -> Result<(), String> {
        let Some(at) = self.next_alarm_at(stored, now_ms()) else {
            return Ok(());
        };
        if self.alarm_at.get().is_some_and(|set| set <= at) {
            return Ok(());
        }
        self.set_alarm(at).await.map_err(|e| e.to_string())
    }

    async fn set_alarm(&self, at_ms: u64) -> worker::Result<()> {
        let at = js_sys::Date::new(&JsValue::from_f64(at_ms as f64));
        self.state
            .storage()
            .set_alarm(ScheduledTime::new(at))
            .await?;
        self.alarm_at.set(Some(at_ms));
        Ok(())
    }

    /// `object::existing` for the alarm: a failure is logged, and the runtime retries the
    /// alarm.
    async fn existing_or_retry(&self) -> worker::Result<Option<Stored>> {
        object::existing(self, self).await.map_err(alarm_error)
    }

    /// The stored state's JSON text. Read as a `get` of several keys: storage's `get` of
    /// one key goes through serde_wasm_bindgen in workers-rs.
    async fn read_state(&self) -> Result<Option<String>, String> {
        let found = self
            .state
            .storage()
            .get_multiple(vec![STATE_KEY])
            .await
            .map_err(|e| e.to_string())?
            .get(&STATE_KEY.into());
        if found.is_undefined() {
            return Ok(None);
        }
        found
            .as_string()
            .map(Some)
            .ok_or_else(|| "the stored state is not text".to_string())
    }

    /// The read model's KV namespace.
    fn kv(&self) -> Result<Kv, String> {
        Kv::bound(&self.env, store::KV_BINDING).ok_or_else(|| "no KV binding".to_string())
    }
}

/// The object's storage, for `core::object`: memory in front of one storage key.
impl RoomStore for RoomObject {
    async fn existing(&self) -> Result<Option<Stored>, String> {
        if let Some(stored) = self.memory.borrow().clone() {
            return Ok(Some(stored));
        }
        let raw = self.read_state().await?;
        let stored = match raw.as_deref().map(Stored::parse) {
            Some(Ok(stored)) => Some(stored),
            Some(Err(why)) => {
                // Only this object writes it; a value it cannot read is re-seeded from KV.
                log_line(
                    "error",
                    "unreadable_object_state",
                    Members::new().str("why", &why),
                );
                None
            }
            None => None,
        };
        self.memory.replace(stored.clone());
        Ok(stored)
    }

    fn stage(&self, stored: &Stored) {
        self.memory.replace(Some(stored.clone()));
    }

    /// Memory follows at once (storage reads see pending writes too); a failed put forgets
    /// it, so the next read goes back to storage.
    async fn save(&self, stored: &Stored) -> Result<(), String> {
        let raw = serde_json::to_string(stored).map_err(|e| e.to_string())?;
        self.memory.replace(Some(stored.clone()));
        if let Err(e) = self.state.storage().put_raw(STATE_KEY, raw).await {
            self.memory.replace(None);
            return Err(e.to_string());
        }
        Ok(())
    }
}

/// The room's KV value, for `core::object`: the seed and the alarm's write.
impl ReadModelKv for RoomObject {
    async fn read(&self, key: &str) -> Result<Option<String>, String> {
        self.kv()?.get(key).await
    }

    /// KV's one-write-per-second limit included, a failure is the object's to retry.
    async fn write(&self, key: &str, value: &str) -> Result<(), String> {
        self.kv()?.put(key, value).await
    }
}

/// The room's live sockets (hibernation API), for `core::object`.
impl Viewers for RoomObject {
    fn broadcast(&self, render: impl FnOnce() -> String) -> (usize, usize) {
        let sockets = self.state.get_websockets();
        if sockets.is_empty() {
            return (0, 0);
        }
        let message = render();
        let failed = sockets
            .iter()
            .filter(|ws| ws.send_with_str(&message).is_err())
            .count();
        (sockets.len(), failed)
    }
}

/// The object's storage failed in the alarm (the flow logged why): the runtime retries it.
fn alarm_error(_: ApiError) -> worker::Error {
    worker::Error::RustError("room state storage failed".into())
}

fn now_seconds() -> i64 {
    i64::try_from(now_ms() / 1000).unwrap_or(i64::MAX)
}

/// The object's log, for `core::object`: each line printed at once.
impl ObjectLog for RoomObject {
    fn write(&self, line: ObjectLine) {
        super::log(&line.line());
    }
}

/// One JSON log line of the object, searchable by `component` and `event`.
fn log_line(level: &'static str, event: &'static str, fields: Members) {
    super::log(&ObjectLine::new(level, event, fields).line());
}

// ---- the edge's side: reaching a room's object ----

/// The room objects' namespace, if the env binds it.
pub fn namespace(env: &Env) -> Option<ObjectNamespace> {
    class_binding(env, BINDING, "DurableObjectNamespace")
}

/// Sends `request` to the room's object: `StorageUnavailable` when it cannot be reached.
async fn send(
    env: &Env,
    sdk_app_id: u64,
    room_id: u32,
    request: &web_sys::Request,
) -> Result<web_sys::Response, ApiError> {
    let namespace = namespace(env).ok_or(ApiError::NotConfigured(BINDING))?;
    namespace
        .send(&room::key(sdk_app_id, room_id), request)
        .await
        .map_err(|_| ApiError::StorageUnavailable)
}

/// The rooms' objects of an env, for `core::accept`.
pub struct Rooms<'a>(pub &'a Env);

impl RoomObjects for Rooms<'_> {
    fn apply(
        &self,
        sdk_app_id: u64,
        event: &PushEvent,
    ) -> impl Future<Output = Result<Applied, ApiError>> {
        apply(self.0, sdk_app_id, event)
    }
}

/// Sends one verified push event to its room's object; answers once the object stored it.
async fn apply(env: &Env, sdk_app_id: u64, event: &PushEvent) -> Result<Applied, ApiError> {
    let body = serde_json::to_string(&ApplyCall {
        sdk_app_id,
        event: event.clone(),
    })
    .map_err(|_| ApiError::Internal)?;
    // On the JS `RequestInit` directly (see `super::new_request`).
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&body.into());
    let request = web_sys::Request::new_with_str_and_init(&format!("{INTERNAL}/apply"), &init)
        .map_err(|_| ApiError::Internal)?;
    // The object unreachable or failing: the event is not stored, so the sender must retry.
    let response = send(env, sdk_app_id, event.room_id, &request).await?;
    if response.status() != 200 {
        return Err(ApiError::StorageUnavailable);
    }
    let text = super::body_text(response)
        .await
        .ok_or(ApiError::StorageUnavailable)?;
    Applied::parse(&text).ok_or(ApiError::StorageUnavailable)
}

/// Hands a live upgrade to the room's object; its answer (101 with the socket, or a JSON
/// error) goes back to the viewer as it is.
pub async fn connect_live(
    env: &Env,
    sdk_app_id: u64,
    room_id: u32,
    max_connections: u32,
) -> Result<web_sys::Response, ApiError> {
    let headers = Headers::new();
    headers
        .set("upgrade", "websocket")
        .map_err(|_| ApiError::Internal)?;
    let init = web_sys::RequestInit::new();
    init.set_headers(headers.as_ref());
    let url =
        format!("{INTERNAL}/live?sdkAppId={sdk_app_id}&roomId={room_id}&max={max_connections}");
    let request =
        web_sys::Request::new_with_str_and_init(&url, &init).map_err(|_| ApiError::Internal)?;
    send(env, sdk_app_id, room_id, &request).await
}
