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
//! Not here: merge rules (`room`), rendering (`status`), live-upgrade rules (`live`).

use std::cell::{Cell, RefCell};

use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::{
    durable_object, js_sys, wasm_bindgen::JsValue, worker_sys::WebSocketRequestResponsePair, Date,
    DurableObject, Env, Headers, Method, Request, RequestInit, Response, ScheduledTime, State,
    WebSocket, WebSocketIncomingMessage, WebSocketPair,
};

use super::{into_response, store};
use crate::core::callback::PushEvent;
use crate::core::http::ApiError;
use crate::core::live;
use crate::core::log::RequestLog;
use crate::core::readmodel::ReadModel;
use crate::core::room::{self, Outcome, Room};
use crate::core::status;

/// The Durable Object namespace binding (wrangler.toml `[[durable_objects.bindings]]`).
pub const BINDING: &str = "ROOMS";
/// The one storage key: the whole state is written in one put, so it is never half-written.
const STATE_KEY: &str = "state";
/// Internal requests from the edge to the object; the host is never resolved.
const INTERNAL: &str = "https://room-object.internal";

/// What the object stores.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    sdk_app_id: u64,
    room_id: u32,
    /// `Room::encode()`: the same format as the KV value.
    room: String,
    read_model: ReadModel,
}

/// Edge → object: one verified push event.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApplyCall {
    sdk_app_id: u64,
    event: PushEvent,
}

/// Object → edge: the outcome, and the room's stored value after it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    pub outcome: String,
    pub room: String,
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
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let answer = match req.path().as_str() {
            "/apply" => self.apply(&mut req).await,
            "/live" => self.live(&req).await,
            _ => Err(ApiError::NotFound),
        };
        answer.or_else(|e| into_response(e.into_reply()))
    }

    async fn alarm(&self) -> worker::Result<Response> {
        self.alarm_at.set(None);
        self.write_read_model().await?;
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
            json!({ "why": error.to_string() }),
        );
        let _ = ws.close(Some(1011), Some("error"));
        Ok(())
    }
}

impl RoomObject {
    /// Merges one event: read, merge, write, with only storage awaits in between.
    async fn apply(&self, req: &mut Request) -> Result<Response, ApiError> {
        let call: ApplyCall = req.json().await.map_err(|_| ApiError::Internal)?;
        let event = call.event;
        let (mut stored, seeded) = self.load(call.sdk_app_id, event.room_id).await?;
        let mut room = decode(&stored);
        let outcome = room.apply(event);
        if outcome == Outcome::Applied {
            stored.room = room.encode();
            stored.read_model.changed();
        }
        if outcome == Outcome::Applied || seeded {
            self.save(&stored).await?;
        }
        if outcome == Outcome::Applied {
            self.broadcast(&stored, &room);
        }
        // Also after a duplicate: a retried event whose first answer was lost still gets its
        // KV write scheduled.
        if let Err(e) = self.schedule(&stored).await {
            log_line(
                "warn",
                "alarm_not_set",
                json!({"key": key(&stored), "why": e}),
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
        let url = req.url().map_err(|_| ApiError::Internal)?;
        let param = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.parse::<u64>().ok())
        };
        let (Some(app), Some(room_id), Some(max)) =
            (param("sdkAppId"), param("roomId"), param("max"))
        else {
            return Err(ApiError::Internal);
        };
        let room_id = u32::try_from(room_id).map_err(|_| ApiError::Internal)?;
        if self.state.get_websockets().len() as u64 >= max {
            return Err(ApiError::TooManyConnections);
        }
        let (stored, seeded) = self.load(app, room_id).await?;
        if seeded {
            self.save(&stored).await?;
        }
        let pair = WebSocketPair::new().map_err(|_| ApiError::Internal)?;
        self.state.accept_web_socket(&pair.server);
        let rendered = status::render(app, room_id, Some(&decode(&stored)));
        pair.server
            .send_with_str(live::status_message(&rendered.body, &rendered.etag))
            .map_err(|_| ApiError::Internal)?;
        Response::from_websocket(pair.client).map_err(|_| ApiError::Internal)
    }

    /// Sends the room's new status to every live viewer.
    fn broadcast(&self, stored: &Stored, room: &Room) {
        let sockets = self.state.get_websockets();
        if sockets.is_empty() {
            return;
        }
        let rendered = status::render(stored.sdk_app_id, stored.room_id, Some(room));
        let message = live::status_message(&rendered.body, &rendered.etag);
        let failed = sockets
            .iter()
            .filter(|ws| ws.send_with_str(&message).is_err())
            .count();
        log_line(
            "info",
            "broadcast",
            json!({"key": key(stored), "viewers": sockets.len(), "failed": failed}),
        );
    }

    /// The alarm: copies the state to KV when it is behind and a write is due, then sets the
    /// next alarm. A failed write is logged and retried later; it never reaches a sender.
    async fn write_read_model(&self) -> worker::Result<()> {
        let Some(mut stored) = self.load_existing().await? else {
            return Ok(());
        };
        let now = now_ms();
        match stored.read_model.next_write_at(now) {
            None => return Ok(()),
            Some(at) if at > now => return self.set_alarm(at).await,
            Some(_) => {}
        }
        let rev = stored.read_model.rev;
        let value = stored.room.clone();
        // Kept in memory only until the write's result is saved: an alarm that fires during
        // the write sees it and waits; after an eviction more than the gap has passed anyway.
        stored.read_model.attempt(now);
        self.memory.replace(Some(stored.clone()));

        let result = self.put_kv(&key(&stored), &value).await;

        // Events merged while KV was written are in memory and storage: start from them.
        let Some(mut stored) = self.load_existing().await? else {
            return Ok(());
        };
        match result {
            Ok(()) => {
                stored.read_model.written(rev);
                log_line(
                    "info",
                    "kv_write",
                    json!({"key": key(&stored), "rev": rev, "atMs": now}),
                );
            }
            Err(why) => {
                stored.read_model.failed();
                log_line(
                    "warn",
                    "kv_write_failed",
                    json!({"key": key(&stored), "rev": rev, "atMs": now,
                           "failures": stored.read_model.failures, "why": why}),
                );
            }
        }
        self.save(&stored)
            .await
            .map_err(|_| worker::Error::RustError("room state could not be saved".into()))?;
        match stored.read_model.next_write_at(now_ms()) {
            Some(at) => self.set_alarm(at).await,
            None => Ok(()),
        }
    }

    async fn put_kv(&self, key: &str, value: &str) -> Result<(), String> {
        let kv = self
            .env
            .kv(store::KV_BINDING)
            .map_err(|e| format!("no KV binding: {e}"))?;
        store::write(&kv, key, value).await
    }

    /// Sets the alarm for the next KV write unless one is set at or before it.
    async fn schedule(&self, stored: &Stored) -> Result<(), String> {
        let Some(at) = stored.read_model.next_write_at(now_ms()) else {
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

    /// The stored state, seeded from the room's KV value on first use (then `true`: the
    /// caller saves it, with its change when there is one).
    async fn load(&self, sdk_app_id: u64, room_id: u32) -> Result<(Stored, bool), ApiError> {
        if let Some(stored) = self.load_existing().await.map_err(storage_error)? {
            return Ok((stored, false));
        }
        let key = room::key(sdk_app_id, room_id);
        let seed = self.read_kv(&key).await?;
        // The KV read let other events in: one of them may have seeded the room already.
        if let Some(stored) = self.load_existing().await.map_err(storage_error)? {
            return Ok((stored, false));
        }
        let room = match seed.as_deref().map(Room::decode) {
            Some(Ok(room)) => room,
            Some(Err(why)) => {
                log_line(
                    "warn",
                    "seed",
                    json!({"key": key, "why": format!("unreadable room state at {key}: {why}")}),
                );
                Room::new()
            }
            None => Room::new(),
        };
        let stored = Stored {
            sdk_app_id,
            room_id,
            room: room.encode(),
            read_model: ReadModel::in_sync(),
        };
        // Visible to events arriving meanwhile; the caller's save makes it durable.
        self.memory.replace(Some(stored.clone()));
        log_line(
            "info",
            "seeded",
            json!({"key": key, "tasks": room.tasks().len()}),
        );
        Ok((stored, true))
    }

    async fn read_kv(&self, key: &str) -> Result<Option<String>, ApiError> {
        let kv = self
            .env
            .kv(store::KV_BINDING)
            .map_err(|_| ApiError::NotConfigured(store::KV_BINDING))?;
        let mut log = RequestLog::default();
        let value = store::read(&kv, key, &mut log).await;
        for warning in &log.warnings {
            log_line("warn", "seed", json!({"key": key, "why": warning}));
        }
        value
    }

    /// The state in memory, else in storage; `None` for an object never used.
    async fn load_existing(&self) -> worker::Result<Option<Stored>> {
        if let Some(stored) = self.memory.borrow().clone() {
            return Ok(Some(stored));
        }
        let raw: Option<String> = self.state.storage().get(STATE_KEY).await?;
        let stored = match raw.as_deref().map(serde_json::from_str::<Stored>) {
            Some(Ok(stored)) => Some(stored),
            Some(Err(e)) => {
                // Only this object writes it; a value it cannot read is re-seeded from KV.
                log_line(
                    "error",
                    "unreadable_object_state",
                    json!({"why": e.to_string()}),
                );
                None
            }
            None => None,
        };
        self.memory.replace(stored.clone());
        Ok(stored)
    }

    /// Writes the whole state in one put. Memory follows at once (storage reads see pending
    /// writes too); a failed put forgets it, so the next read goes back to storage.
    async fn save(&self, stored: &Stored) -> Result<(), ApiError> {
        let raw = serde_json::to_string(stored).map_err(|_| ApiError::Internal)?;
        self.memory.replace(Some(stored.clone()));
        if let Err(e) = self.state.storage().put(STATE_KEY, raw).await {
            self.memory.replace(None);
            log_line(
                "error",
                "storage_put_failed",
                json!({"key": key(stored), "why": e.to_string()}),
            );
            return Err(ApiError::StorageUnavailable);
        }
        Ok(())
    }
}

fn storage_error(e: worker::Error) -> ApiError {
    log_line("error", "storage_get_failed", json!({"why": e.to_string()}));
    ApiError::StorageUnavailable
}

fn decode(stored: &Stored) -> Room {
    // Written by `Room::encode` in this object; unreadable only if storage was tampered with.
    Room::decode(&stored.room).unwrap_or_default()
}

fn key(stored: &Stored) -> String {
    room::key(stored.sdk_app_id, stored.room_id)
}

fn now_ms() -> u64 {
    Date::now().as_millis()
}

/// One JSON log line of the object, searchable by `component` and `event`.
fn log_line(level: &str, event: &str, fields: serde_json::Value) {
    let mut line = json!({"level": level, "component": "room-object", "event": event});
    if let (Some(line), Some(fields)) = (line.as_object_mut(), fields.as_object()) {
        line.extend(fields.clone());
    }
    worker::console_log!("{line}");
}

// ---- the edge's side: reaching a room's object ----

fn stub(env: &Env, sdk_app_id: u64, room_id: u32) -> Result<worker::Stub, ApiError> {
    env.durable_object(BINDING)
        .and_then(|ns| ns.get_by_name(&room::key(sdk_app_id, room_id)))
        .map_err(|_| ApiError::NotConfigured(BINDING))
}

/// Sends one verified push event to its room's object; answers once the object stored it.
pub async fn apply(env: &Env, sdk_app_id: u64, event: &PushEvent) -> Result<Applied, ApiError> {
    let stub = stub(env, sdk_app_id, event.room_id)?;
    let body = serde_json::to_string(&ApplyCall {
        sdk_app_id,
        event: event.clone(),
    })
    .map_err(|_| ApiError::Internal)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    let request = Request::new_with_init(&format!("{INTERNAL}/apply"), &init)
        .map_err(|_| ApiError::Internal)?;
    // The object unreachable or failing: the event is not stored, so the sender must retry.
    let mut response = stub
        .fetch_with_request(request)
        .await
        .map_err(|_| ApiError::StorageUnavailable)?;
    if response.status_code() != 200 {
        return Err(ApiError::StorageUnavailable);
    }
    response
        .json::<Applied>()
        .await
        .map_err(|_| ApiError::StorageUnavailable)
}

/// Hands a live upgrade to the room's object; its answer (101 with the socket, or a JSON
/// error) goes back to the viewer as it is.
pub async fn connect_live(
    env: &Env,
    sdk_app_id: u64,
    room_id: u32,
    max_connections: u32,
) -> Result<Response, ApiError> {
    let stub = stub(env, sdk_app_id, room_id)?;
    let headers = Headers::new();
    headers
        .set("upgrade", "websocket")
        .map_err(|_| ApiError::Internal)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let url =
        format!("{INTERNAL}/live?sdkAppId={sdk_app_id}&roomId={room_id}&max={max_connections}");
    let request = Request::new_with_init(&url, &init).map_err(|_| ApiError::Internal)?;
    stub.fetch_with_request(request)
        .await
        .map_err(|_| ApiError::StorageUnavailable)
}
