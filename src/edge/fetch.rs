//! The edge shell: moves a `worker::Request` through the pure core and back out as a
//! `worker::Response`, with one log line per request. Decisions live in the core modules;
//! this file only reads the request, the env, the clock, the room objects, KV and the origin.

use std::cell::RefCell;
use std::rc::Rc;

use worker::js_sys::{self, Reflect, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{web_sys, worker_sys, Env, Request};

use super::bindings::{class_binding, Kv};
use super::into_response;
use super::now_ms;
use super::room_object;
use super::store::{Store, KV_BINDING};
use super::{admin, queue};
use crate::core::accept;
use crate::core::assets::{self, StaticFile};
use crate::core::callback::{self, Event, Verified};
use crate::core::config::{Config, ConfigError, OriginDelivery};
use crate::core::delivery::{self, QUEUE_BINDING};
use crate::core::http::{self, header_safe, ApiError, Reply, MAX_BODY_BYTES};
use crate::core::json::{self, Limits, Members};
use crate::core::live;
use crate::core::log::RequestLog;
use crate::core::status;
use crate::{route, Route};

/// An answer: a plain reply, or the room object's WebSocket upgrade passed through.
enum Answer {
    Reply(Reply),
    Upgrade(web_sys::Response),
}

/// Every request's way through the worker; always ends in a well-formed answer.
pub async fn handle(mut req: Request, env: Env) -> Result<web_sys::Response, JsValue> {
    let started_ms = now_ms();
    let request_id = http::request_id_from_ray(header(&req, "cf-ray").as_deref())
        .unwrap_or_else(generate_request_id);
    // The method as sent: `req.method()` reads any method it does not know (QUERY, ...) as GET.
    let method = req.inner().method();
    let mut log = RequestLog::new(request_id.clone(), &method);

    let answer = respond(&mut req, &env, &method, &mut log).await;
    let elapsed = || now_ms().saturating_sub(started_ms);
    let mut reply = match answer {
        Answer::Reply(reply) => reply,
        Answer::Upgrade(response) => {
            super::log(&log.line(response.status(), elapsed()));
            return Ok(response);
        }
    };
    if method == "HEAD" {
        reply = reply.without_body();
    }
    reply.header("x-request-id", &request_id);
    super::log(&log.line(reply.status, elapsed()));
    into_response(reply)
}

async fn respond(req: &mut Request, env: &Env, method: &str, log: &mut RequestLog) -> Answer {
    let path = req.path();
    let route = route(method, &path);
    if let Ok(r) = &route {
        log.route = r.template();
    }
    let config = match load_config(env) {
        Ok(config) => config,
        Err(e) => {
            log.error = Some("not_configured");
            return Answer::Reply(match route {
                Ok(Route::Health) => health_unconfigured(e),
                _ => ApiError::NotConfigured(e.variable).into_reply(),
            });
        }
    };
    let origin = header(req, "origin");
    let answer = match route {
        Ok(Route::Callback) => receive_callback(req, env, &config, log).await,
        Ok(Route::Preflight) => Ok(http::preflight(&config.allowed_origins, origin.as_deref())),
        Ok(Route::Room(id)) => read_status(req, env, &config, Some(&id), log).await,
        Ok(Route::Rooms) => read_status(req, env, &config, None, log).await,
        Ok(Route::Live(id)) => match connect_live(req, env, &config, &id, log).await {
            // A 101 carries the socket and goes out as the object made it.
            Ok(response) if response.status() == 101 => return Answer::Upgrade(response),
            Ok(response) => Ok(object_refusal(response, log).await),
            Err(e) => Err(e),
        },
        Ok(Route::Health) => Ok(health(&config)),
        Ok(Route::Static(file)) => static_file(req, env, file).await,
        Ok(Route::Admin(admin)) => admin::handle(req, env, &config, admin, log).await,
        Err(e) => Err(e),
    };
    let mut reply = answer.unwrap_or_else(|e| {
        log.error = Some(e.code());
        e.into_reply()
    });
    // The callback answers Tencent's servers, not browsers: no CORS there (preflights on
    // any path still follow the origin rules). Admin routes get none at all.
    if (path != "/callback" || method == "OPTIONS") && !delivery::is_admin_path(&path) {
        http::add_cors(&mut reply, &config.allowed_origins, origin.as_deref());
    }
    Answer::Reply(reply)
}

/// `POST /callback`: checks 1–10, then state, cache and origin (`core::accept`).
async fn receive_callback(
    req: &mut Request,
    env: &Env,
    config: &Config,
    log: &mut RequestLog,
) -> Result<Reply, ApiError> {
    let body = read_body(req).await?;
    let now = i64::try_from(now_ms() / 1000).unwrap_or(i64::MAX);
    let envelope = callback::parse(&body)?;
    // Say what arrived even when a later check refuses it.
    log.event_type = Some(header_safe(&envelope.event_type));
    log.sdk_app_id = envelope.sdk_app_id.as_u64();
    let verified = callback::verify_envelope(envelope, config, now)?;
    note_event(log, &verified);

    let request_id = log.request_id.clone();
    let origin = queue::Deliverer {
        env,
        config,
        body: &body,
        event_type: &verified.event_type,
        signed: verified.signed,
        request_id: &request_id,
    };
    let rooms = room_object::Rooms(env);
    let cache = store(env, config)?;
    accept::accept(&verified, &rooms, &cache, &origin, now_ms(), log).await
}

/// `GET /rooms/{roomId}/live`: the status read's token, room and app rules, the origin
/// allow-list (browsers apply no CORS to WebSockets), then the room's object takes the socket.
async fn connect_live(
    req: &Request,
    env: &Env,
    config: &Config,
    raw_id: &str,
    log: &mut RequestLog,
) -> Result<web_sys::Response, ApiError> {
    let url = req.inner().url();
    let query = |name: &str| http::query_param(&url, name);
    if let Some(token) = &config.status_token {
        let authorization = header(req, "authorization");
        if !live::token_matches(authorization.as_deref(), query("token").as_deref(), token) {
            return Err(ApiError::Unauthorized);
        }
    }
    if !live::origin_allowed(&config.allowed_origins, header(req, "origin").as_deref()) {
        return Err(ApiError::OriginNotAllowed);
    }
    if !live::is_upgrade(header(req, "upgrade").as_deref()) {
        return Err(ApiError::UpgradeRequired);
    }
    let room_id = status::parse_room_id(raw_id)?;
    let app = status::pick_app(query("sdkAppId").as_deref(), &config.sdk_app_ids)?;
    log.sdk_app_id = Some(app);
    log.room_id = Some(room_id);
    log.object_calls += 1;
    room_object::connect_live(env, app, room_id, config.max_live_connections_per_room).await
}

/// The object refused an upgrade (429 `too_many_connections`, or its own failure): its JSON
/// error becomes this request's answer, with the usual headers.
async fn object_refusal(response: web_sys::Response, log: &mut RequestLog) -> Reply {
    let status = response.status();
    let body = super::body_text(response).await.unwrap_or_default();
    let code = json::parse(body.as_bytes(), Limits::TRUSTED)
        .ok()
        .and_then(|v| v.string("error"));
    log.error = match code.as_deref() {
        Some("too_many_connections") => Some("too_many_connections"),
        _ => Some("storage_unavailable"),
    };
    match code.as_deref() {
        Some("too_many_connections") => ApiError::TooManyConnections.into_reply(),
        _ => {
            log.warn(format!(
                "room object refused a live upgrade with HTTP {status}"
            ));
            ApiError::StorageUnavailable.into_reply()
        }
    }
}

fn note_event(log: &mut RequestLog, verified: &Verified) {
    log.event_type = Some(header_safe(&verified.event_type));
    log.sdk_app_id = Some(verified.sdk_app_id);
    if let Event::Push(event) = &verified.event {
        log.room_id = Some(event.room_id);
        log.task_id = Some(header_safe(&event.task_id));
    }
    for field in &verified.dropped_fields {
        log.warn(format!("dropped optional field {field} of the wrong type"));
    }
    if !verified.signed {
        log.warn("accepted unsigned (ALLOW_UNSIGNED=true)");
    }
}

/// Check 1: at most 64 KiB, by `Content-Length` and by the bytes actually read.
pub(super) async fn read_body(req: &mut Request) -> Result<Vec<u8>, ApiError> {
    let declared = header(req, "content-length").and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    let unreadable = || ApiError::MalformedJson("the body could not be read".into());
    // A declared length (at most the limit, checked above) bounds the body: HTTP/1.1 delimits
    // it by that length unless a `Transfer-Encoding` overrides it, and HTTP/2 and 3 refuse a
    // body longer than declared. Such a body is read in one piece (`arrayBuffer()`): one
    // promise, where a stream reader costs a JS↔wasm crossing and a promise per chunk. Any
    // other body is streamed, and the limit holds as the bytes arrive.
    if declared.is_some() && header(req, "transfer-encoding").is_none() {
        let body = req.bytes().await.map_err(|_| unreadable())?;
        if body.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        return Ok(body);
    }
    let Some(stream) = req.inner().body() else {
        // No body at all reads as empty, which check 2 refuses.
        return Ok(Vec::new());
    };
    // Through the stream's own reader: workers-rs's `ByteStream` adds wasm-streams' adapter.
    let reader: web_sys::ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    let mut body = Vec::new();
    loop {
        let read = JsFuture::from(reader.read())
            .await
            .map_err(|_| unreadable())?;
        let field = |name: &str| Reflect::get(&read, &name.into()).map_err(|_| unreadable());
        if field("done")?.is_truthy() {
            break;
        }
        let chunk: Uint8Array = field("value")?.dyn_into().map_err(|_| unreadable())?;
        if body.len() + chunk.length() as usize > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk.to_vec());
    }
    Ok(body)
}

/// `GET /rooms/{roomId}` (`one` is the raw id) and `GET /rooms?ids=…`.
async fn read_status(
    req: &Request,
    env: &Env,
    config: &Config,
    one: Option<&str>,
    log: &mut RequestLog,
) -> Result<Reply, ApiError> {
    if let Some(token) = &config.status_token {
        if !http::bearer_matches(header(req, "authorization").as_deref(), token) {
            return Err(ApiError::Unauthorized);
        }
    }
    let url = req.inner().url();
    let query = |name: &str| http::query_param(&url, name);
    let ids = match one {
        Some(raw) => vec![status::parse_room_id(raw)?],
        None => status::parse_room_ids(query("ids").as_deref())?,
    };
    let app = status::pick_app(query("sdkAppId").as_deref(), &config.sdk_app_ids)?;
    log.sdk_app_id = Some(app);
    if let [id] = ids[..] {
        log.room_id = Some(id);
    }

    let (rooms, kv_reads) = store(env, config)?.rooms(app, &ids, log).await?;
    let mut bodies = ids
        .iter()
        .zip(&rooms)
        .map(|(&id, room)| status::room_status(app, id, room.as_ref()));
    let bytes = match one {
        Some(_) => status::to_bytes(&bodies.next()),
        None => status::to_bytes(&status::Rooms {
            rooms: bodies.collect(),
        }),
    };
    let tag = status::etag(&bytes);
    let mut reply = if status::if_none_match(header(req, "if-none-match").as_deref(), &tag) {
        Reply::empty(304)
    } else {
        Reply::bytes(200, http::JSON_CONTENT_TYPE, bytes)
    };
    reply.header("etag", &tag);
    reply.header("cache-control", "no-cache");
    reply.header("x-poll-interval", &config.poll_interval_seconds.to_string());
    reply.header("x-kv-reads", &kv_reads.to_string());
    Ok(reply)
}

/// `GET`/`HEAD` of a static file: its bytes from the assets binding (always a plain `GET` of
/// the file, so the worker's own ETag and 304 apply, `core::assets`).
async fn static_file(req: &Request, env: &Env, file: StaticFile) -> Result<Reply, ApiError> {
    let fetcher: worker_sys::Fetcher = class_binding(env, assets::BINDING, "Fetcher")
        .ok_or(ApiError::NotConfigured(assets::BINDING))?;
    // The host is not looked at: the binding serves this worker's assets by path alone.
    // `fetch(url)` directly: worker's `Fetcher::fetch` also compiles in its `RequestInit`
    // conversion (`cf` properties and all, ~6 KB of gzipped wasm) even when given none.
    let url = format!("https://assets.invalid{}", file.asset_path());
    let promise = fetcher
        .fetch_with_str(&url)
        .map_err(|_| ApiError::Internal)?;
    let response: web_sys::Response = JsFuture::from(promise)
        .await
        .and_then(|value| value.dyn_into())
        .map_err(|_| ApiError::Internal)?;
    let status = response.status();
    let body = match status {
        200 => super::body_text(response).await.ok_or(ApiError::Internal)?,
        _ => String::new(),
    };
    assets::reply(file, status, body, header(req, "if-none-match").as_deref())
}

fn health(config: &Config) -> Reply {
    let signing = match config.callback_key {
        Some(_) => "configured",
        None => "unsigned",
    };
    let mut reply = Reply::json(
        200,
        Members::new()
            .bool("ok", true)
            .str("version", env!("CARGO_PKG_VERSION"))
            .str("signing", signing)
            .bool("origin", config.origin_url.is_some())
            .str("delivery", config.origin_delivery.as_str())
            .bool("reconcile", config.reconcile()),
    );
    reply.header("cache-control", "no-store");
    reply
}

fn health_unconfigured(e: ConfigError) -> Reply {
    let error = ApiError::NotConfigured(e.variable);
    let mut reply = Reply::json(error.status(), error.body().bool("ok", false));
    reply.header("cache-control", "no-store");
    reply
}

/// A configuration as read from an env: usable, or the variable that is wrong.
type Loaded = Result<Rc<Config>, ConfigError>;

thread_local! {
    /// The configuration last read, and the env it was read from. An isolate's env does not
    /// change, so the ~25 lookups and URL parses happen once per isolate, not per request;
    /// another env object (compared by identity: one call) is read afresh.
    static CONFIG: RefCell<Option<(JsValue, Loaded)>> =
        const { RefCell::new(None) };
}

/// The configuration of `env`, read once per isolate (see `CONFIG`).
pub(super) fn load_config(env: &Env) -> Loaded {
    let env_value: &JsValue = env.as_ref();
    let cached = CONFIG.with(|cell| {
        cell.borrow()
            .as_ref()
            .filter(|(read_from, _)| read_from == env_value)
            .map(|(_, config)| config.clone())
    });
    if let Some(config) = cached {
        return config;
    }
    let config = read_config(env).map(Rc::new);
    CONFIG.with(|cell| *cell.borrow_mut() = Some((env_value.clone(), config.clone())));
    config
}

fn read_config(env: &Env) -> Result<Config, ConfigError> {
    let config = super::env_config(env)?;
    for binding in [KV_BINDING, room_object::BINDING] {
        let bound = match binding {
            KV_BINDING => Kv::bound(env, binding).is_some(),
            _ => room_object::namespace(env).is_some(),
        };
        if !bound {
            return Err(ConfigError { variable: binding });
        }
    }
    if config.origin_delivery == OriginDelivery::Queue && !queue::has_queue(env) {
        return Err(ConfigError {
            variable: QUEUE_BINDING,
        });
    }
    Ok(config)
}

fn store(env: &Env, config: &Config) -> Result<Store, ApiError> {
    let kv = Kv::bound(env, KV_BINDING).ok_or(ApiError::NotConfigured(KV_BINDING))?;
    Ok(Store::new(kv, config.poll_interval_seconds))
}

pub(super) fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

fn generate_request_id() -> String {
    let part = || (js_sys::Math::random() * f64::from(u32::MAX)) as u32;
    format!("{:08x}{:08x}", part(), part())
}
