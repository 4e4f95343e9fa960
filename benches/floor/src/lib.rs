//! The least code that links every platform binding the worker uses (see Cargo.toml). It
//! answers requests but is never deployed: only its wasm size is read, by scripts/bench.sh.
//!
//! Like the worker, it builds outgoing requests with web-sys (not `worker::Request::new_with_init`,
//! which links the `url` crate) and never calls `Request::url`.

use md5::{Digest, Md5};
use serde::Serialize;
use worker::*;

/// One serde type, written as JSON, queued and stored. It is read by hand, as the worker reads
/// all its JSON (`core::json`): serde's deserializer is not part of the floor.
#[derive(Serialize)]
struct Event {
    kind: String,
    room: u64,
    task: String,
    at: i64,
    reason: Option<String>,
}

/// `kind,room,task,at,reason`: the least reading that fills every field.
fn parse(body: &str) -> Result<Event> {
    let mut fields = body.split(',');
    let mut next = || fields.next().unwrap_or_default().to_string();
    Ok(Event {
        kind: next(),
        room: next().parse().unwrap_or_default(),
        task: next(),
        at: next().parse().unwrap_or_default(),
        reason: Some(next()),
    })
}

/// A POST with a text body, as `edge::new_request` builds them.
fn post(url: &str, body: &str) -> Result<Request> {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&body.into());
    Ok(web_sys::Request::new_with_str_and_init(url, &init)?.into())
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let path = req.path();
    let kv = env.kv("PUSH_STATE")?;
    match path.as_str() {
        "/callback" => {
            let body = req.text().await?;
            let sign = hex::encode(Md5::digest(body.as_bytes()));
            let event = parse(&body)?;
            let rooms = env.durable_object("ROOMS")?;
            let room = rooms.id_from_name(&event.room.to_string())?.get_stub()?;
            let mut answer = room
                .fetch_with_request(post("https://room/", &body)?)
                .await?;
            let answer = answer.text().await?;
            env.queue("ORIGIN_QUEUE")?.send(&event).await?;
            Cache::default()
                .put(
                    format!("https://cache/{}", event.room),
                    Response::ok(answer.clone())?,
                )
                .await?;
            Response::ok(format!("{sign}{answer}"))
        }
        "/dead-letters" => {
            let page = kv.list().prefix("dead:".into()).execute().await?;
            Response::ok(page.keys.len().to_string())
        }
        _ => {
            if let Some(hit) = Cache::default().get(req.inner().url(), false).await? {
                return Ok(hit);
            }
            let value = kv.get(&path).text().await?.unwrap_or_default();
            let mut origin = Fetch::Request(post("https://origin/", &value)?)
                .send()
                .await?;
            origin.text().await?;
            Response::ok(value)
        }
    }
}

#[event(queue)]
async fn queue(batch: MessageBatch<String>, env: Env, _ctx: Context) -> Result<()> {
    let kv = env.kv("PUSH_STATE")?;
    for message in batch.messages()? {
        let body =
            serde_json::to_string(message.body()).map_err(|e| Error::RustError(e.to_string()))?;
        match kv.put("dead:1", body)?.execute().await {
            Ok(()) => message.ack(),
            Err(_) => message.retry(),
        }
    }
    Ok(())
}

#[durable_object]
pub struct RoomObject {
    state: State,
    env: Env,
}

impl DurableObject for RoomObject {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if req.headers().get("Upgrade")?.is_some() {
            let pair = WebSocketPair::new()?;
            self.state.accept_web_socket(&pair.server);
            return Response::from_websocket(pair.client);
        }
        let body = req.text().await?;
        let event = parse(&body)?;
        let storage = self.state.storage();
        let old: Option<String> = storage.get("room").await?;
        storage.put("room", body).await?;
        storage.set_alarm(1_000).await?;
        for viewer in self.state.get_websockets() {
            let _ = viewer.send_with_str(&event.task);
        }
        Response::ok(old.unwrap_or_default())
    }

    async fn alarm(&self) -> Result<Response> {
        let room: Option<String> = self.state.storage().get("room").await?;
        let kv = self.env.kv("PUSH_STATE")?;
        kv.put("room", room.unwrap_or_default())?.execute().await?;
        Response::ok("")
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        if let WebSocketIncomingMessage::String(text) = message {
            ws.send_with_str(text)?;
        }
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        reason: String,
        _clean: bool,
    ) -> Result<()> {
        ws.close(Some(code as u16), Some(reason))
    }

    async fn websocket_error(&self, _ws: WebSocket, _error: Error) -> Result<()> {
        Ok(())
    }
}
