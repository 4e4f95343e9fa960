//! Delivery to the origin: the headers every delivery carries, and the policy of queued
//! delivery (`ORIGIN_DELIVERY=queue`) — the queue message, its delivery id, when a failed
//! attempt is tried again, the dead-letter record, and the `/admin/dead-letters` requests.
//!
//! Pure: no `worker` types, no clock, no randomness of its own (callers pass the time and a
//! random number), so every decision is tested natively. Sending, the queue, KV and the
//! consumer are in `edge/queue.rs`, `edge/dead_letters.rs` and `edge/admin.rs`.

use md5::{Digest, Md5};
use serde::Serialize;

use crate::core::http::{header_safe, ApiError};
use crate::core::json::{self, Json, Limits};
use crate::core::log::RequestLog;

/// The producer binding of the delivery queue (`[[queues.producers]]` in wrangler.toml).
pub const QUEUE_BINDING: &str = "ORIGIN_QUEUE";
/// Retries are at most this far apart when the origin does not say otherwise (1 h).
pub const MAX_RETRY_GAP_SECONDS: u32 = 3_600;
/// An origin's `Retry-After` is honoured up to this (12 h, also the queue's longest delay).
pub const MAX_RETRY_AFTER_SECONDS: u32 = 43_200;
/// How long a dead letter is kept (14 days).
pub const DEAD_LETTER_TTL_SECONDS: u64 = 14 * 86_400;
/// KV key prefix of dead letters, in the `PUSH_STATE` namespace next to `room:` keys.
pub const DEAD_LETTER_PREFIX: &str = "dead:";
/// Dead letters per `GET /admin/dead-letters` page, and per `POST .../replay` request.
pub const DEAD_LETTER_PAGE: usize = 100;
/// Numbers above this do not survive a JSON queue message (JavaScript numbers), so ids read
/// from a body are kept only up to it.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
/// Longest `lastError` kept (it also travels in KV list metadata, which holds 1024 bytes).
const MAX_ERROR_CHARS: usize = 200;

/// What the origin is told about a delivery besides its bytes: the headers of API.md,
/// "Forwarding to the origin", in the order they are set. `authorization` is not here: the
/// shell adds it, so no record or log ever holds `ORIGIN_TOKEN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginHeaders<'a> {
    pub event_type: &'a str,
    pub outcome: &'a str,
    pub verified: bool,
    pub request_id: &'a str,
    /// `x-tiw-source`, for bodies the worker wrote itself (e.g. `reconciled`).
    pub source: Option<&'a str>,
    /// `x-tiw-delivery-id` and `x-tiw-attempt`, for queued deliveries.
    pub queued: Option<(&'a str, u32)>,
}

impl OriginHeaders<'_> {
    pub fn list(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("content-type", "application/json".to_string()),
            (
                "x-tiw-verified",
                if self.verified { "1" } else { "0" }.into(),
            ),
            ("x-tiw-event-type", header_safe(self.event_type)),
            ("x-tiw-outcome", header_safe(self.outcome)),
            ("x-request-id", header_safe(self.request_id)),
        ];
        if let Some(source) = self.source {
            headers.push(("x-tiw-source", header_safe(source)));
        }
        if let Some((id, attempt)) = self.queued {
            headers.push(("x-tiw-delivery-id", header_safe(id)));
            headers.push(("x-tiw-attempt", attempt.to_string()));
        }
        headers
    }
}

/// The origin's dedup key: hex md5 of the exact bytes, so every callback with identical
/// bytes (a sender's retry, a replay) has the same id. Not a security boundary: only
/// verified callbacks and the worker's own bodies are ever queued.
pub fn delivery_id(body: &[u8]) -> String {
    hex::encode(Md5::digest(body))
}

/// One queued delivery: the message on the delivery queue. A retry is a new message with
/// `attempt` one greater (queue messages carry no attempt count of their own that a
/// workers-rs consumer can read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// `x-tiw-delivery-id`.
    pub id: String,
    /// The exact bytes received. A verified callback is a JSON object, so valid UTF-8. In a
    /// message it travels as `"b64:" + base64`, so escapes cannot push the largest body
    /// (64 KiB) past a queue message's 128 KB; a message of an older version, with the text
    /// itself, is read too.
    #[serde(serialize_with = "message_body::serialize")]
    pub body: String,
    pub event_type: String,
    pub outcome: String,
    pub verified: bool,
    pub request_id: String,
    /// When the callback was received, in Unix milliseconds.
    pub received_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdk_app_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// The attempt this message is for; 1 for the first.
    pub attempt: u32,
}

/// `Delivery::body` in a queue message or dead letter.
mod message_body {
    use serde::Serializer;

    use crate::core::base64;

    const PREFIX: &str = "b64:";

    pub fn serialize<S: Serializer>(body: &str, serializer: S) -> Result<S::Ok, S::Error> {
        let mut text = String::from(PREFIX);
        base64::encode_into(body.as_bytes(), &mut text);
        serializer.serialize_str(&text)
    }

    /// A body of an older message is its text, a JSON object, which never starts with the prefix.
    pub fn read(text: &str) -> Option<String> {
        let Some(encoded) = text.strip_prefix(PREFIX) else {
            return Some(text.to_string());
        };
        String::from_utf8(base64::decode(encoded).ok()?).ok()
    }
}

/// A body that is not UTF-8 cannot be queued (and is never a verified callback).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotUtf8;

impl Delivery {
    /// The first attempt of delivering `body`. The ids shown in dead-letter lists
    /// (`SdkAppId`, `EventData.RoomId`, `EventData.TaskId`) are read from the body when it
    /// has them. The event type is kept as `x-tiw-event-type` shows it (header-safe, at most
    /// 128 characters): a signed callback of another type may carry up to 64 KiB of it, which
    /// next to the body would not fit a queue message (128 KB).
    pub fn first(
        body: &[u8],
        headers: &OriginHeaders<'_>,
        received_at_ms: u64,
    ) -> Result<Delivery, NotUtf8> {
        let text = std::str::from_utf8(body).map_err(|_| NotUtf8)?;
        let parsed = json::parse(body, Limits::TRUSTED).unwrap_or(Json::Null);
        let data = parsed.get("EventData");
        Ok(Delivery {
            id: delivery_id(body),
            body: text.to_string(),
            event_type: header_safe(headers.event_type),
            outcome: headers.outcome.to_string(),
            verified: headers.verified,
            request_id: headers.request_id.to_string(),
            received_at_ms,
            source: headers.source.map(str::to_string),
            sdk_app_id: parsed
                .get("SdkAppId")
                .and_then(Json::as_u64)
                .filter(|&n| n <= MAX_SAFE_INTEGER),
            room_id: data
                .and_then(|d| d.get("RoomId"))
                .and_then(Json::as_u64)
                .filter(|&n| n <= MAX_SAFE_INTEGER),
            task_id: data
                .and_then(|d| d.get("TaskId"))
                .and_then(Json::as_str)
                .map(header_safe),
            attempt: 1,
        })
    }

    /// A delivery as a queue message or dead letter holds it (what `Serialize` writes, or a
    /// message of an older version); `None` for anything else.
    pub fn read(text: &str) -> Option<Delivery> {
        Delivery::from_json(&json::parse(text.as_bytes(), Limits::TRUSTED).ok()?)
    }

    fn from_json(json: &Json) -> Option<Delivery> {
        let string = |name| json.string(name);
        let u64_of = |name| json.get(name).and_then(Json::as_u64);
        Some(Delivery {
            id: string("id")?,
            body: message_body::read(json.get("body")?.as_str()?)?,
            event_type: string("eventType")?,
            outcome: string("outcome")?,
            verified: json.get("verified")?.as_bool()?,
            request_id: string("requestId")?,
            received_at_ms: u64_of("receivedAtMs")?,
            source: json.optional("source", Json::to_owned_string)?,
            sdk_app_id: json.optional("sdkAppId", Json::as_u64)?,
            room_id: json.optional("roomId", Json::as_u64)?,
            task_id: json.optional("taskId", Json::to_owned_string)?,
            attempt: json.get("attempt")?.as_u32()?,
        })
    }

    /// The same delivery, for the next attempt.
    pub fn next_attempt(&self) -> Delivery {
        Delivery {
            attempt: self.attempt.saturating_add(1),
            ..self.clone()
        }
    }

    /// The headers of this attempt (without `authorization`).
    pub fn headers(&self) -> OriginHeaders<'_> {
        OriginHeaders {
            event_type: &self.event_type,
            outcome: &self.outcome,
            verified: self.verified,
            request_id: &self.request_id,
            source: self.source.as_deref(),
            queued: Some((&self.id, self.attempt)),
        }
    }
}

/// The delivery queue (`ORIGIN_QUEUE`), as the callback sees it; the shell implements it
/// over `worker::Queue`, tests with a double that refuses on demand. Its future needs no
/// `Send`: a Worker isolate runs one thread.
#[allow(async_fn_in_trait)]
pub trait DeliveryQueue {
    async fn send(&self, delivery: &Delivery) -> Result<(), String>;
}

/// Queues the first attempt of delivering `body`. A queue that refuses it is the worker's
/// own failure: `Err(QueueUnavailable)` (503 `storage_unavailable`, so the sender retries),
/// with the queue's reason as a warning of the request's line (`enqueued: false`).
pub async fn enqueue(
    queue: &impl DeliveryQueue,
    body: &[u8],
    headers: &OriginHeaders<'_>,
    now_ms: u64,
    log: &mut RequestLog,
) -> Result<(), ApiError> {
    let delivery = Delivery::first(body, headers, now_ms).map_err(|_| ApiError::Internal)?;
    log.delivery_id = Some(delivery.id.clone());
    let sent = queue.send(&delivery).await.map_err(|why| {
        log.warn(format!("the delivery queue refused the message: {why}"));
        ApiError::QueueUnavailable
    });
    log.enqueued = Some(sent.is_ok());
    sent
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The origin answered 2xx.
    Delivered(u16),
    /// Anything else: a non-2xx status (with its `Retry-After`, when it had one), a network
    /// error or no answer in time. `error` is our own sentence, safe to log and keep.
    Failed {
        error: String,
        /// The origin's status, when it answered at all.
        status: Option<u16>,
        retry_after: Option<String>,
    },
}

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Done,
    /// Send it again as attempt `attempt + 1`, this many seconds from now.
    RetryIn(u32),
    /// Out of attempts: keep it as a dead letter.
    DeadLetter,
}

/// The retry policy of API.md. `random` is uniform in `[0, 1)`.
pub fn next_step(
    attempt: u32,
    max_attempts: u32,
    base_seconds: u32,
    result: &Attempt,
    random: f64,
) -> Next {
    match result {
        Attempt::Delivered(_) => Next::Done,
        Attempt::Failed { .. } if attempt >= max_attempts => Next::DeadLetter,
        Attempt::Failed { retry_after, .. } => Next::RetryIn(retry_delay_seconds(
            attempt,
            base_seconds,
            random,
            retry_after.as_deref().and_then(parse_retry_after),
        )),
    }
}

/// Seconds to wait after failed attempt `attempt` (1 for the first).
///
/// Without `Retry-After`: `base · 2^(attempt-1)`, at most [`MAX_RETRY_GAP_SECONDS`], plus
/// up to a quarter more of jitter (never past the cap; at the cap the jitter goes below it
/// instead), so deliveries that failed together do not all come back together.
/// With `Retry-After` (seconds): exactly that, at most [`MAX_RETRY_AFTER_SECONDS`].
pub fn retry_delay_seconds(
    attempt: u32,
    base_seconds: u32,
    random: f64,
    retry_after: Option<u32>,
) -> u32 {
    if let Some(seconds) = retry_after {
        return seconds.min(MAX_RETRY_AFTER_SECONDS);
    }
    let doublings = attempt.saturating_sub(1).min(31);
    let nominal = u64::from(base_seconds.max(1))
        .saturating_mul(1 << doublings)
        .min(u64::from(MAX_RETRY_GAP_SECONDS));
    let cap = u64::from(MAX_RETRY_GAP_SECONDS);
    let high = (nominal + nominal / 4).min(cap);
    let low = nominal.min(high - high / 10);
    let random = if random.is_finite() {
        random.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let delay = low + ((high - low) as f64 * random).round() as u64;
    u32::try_from(delay.min(high)).unwrap_or(MAX_RETRY_GAP_SECONDS)
}

/// `Retry-After` as delay-seconds (RFC 9110). The HTTP-date form is not used: retries then
/// follow the backoff.
pub fn parse_retry_after(value: &str) -> Option<u32> {
    let value = value.trim();
    if value.is_empty() || value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value
        .parse::<u64>()
        .ok()
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// Our sentence for a failed attempt, cut to what a dead letter keeps.
pub fn short_error(error: &str) -> String {
    header_safe(error).chars().take(MAX_ERROR_CHARS).collect()
}

/// A delivery out of retries (or one that reached the dead-letter queue), as kept in KV.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// The last message, with its bytes and delivery id; `attempt` is the last one made.
    pub delivery: Delivery,
    /// The headers its last attempt carried (without `authorization`).
    pub headers: Vec<(String, String)>,
    pub attempts: u32,
    pub last_error: String,
    /// When it became a dead letter, in Unix milliseconds.
    pub dead_at_ms: u64,
}

impl DeadLetter {
    /// A dead letter as KV holds it; `None` for anything else.
    pub fn read(text: &str) -> Option<DeadLetter> {
        let json = json::parse(text.as_bytes(), Limits::TRUSTED).ok()?;
        let mut headers = Vec::new();
        for pair in json.get("headers")?.as_array()? {
            let [name, value] = pair.as_array()? else {
                return None;
            };
            headers.push((name.as_str()?.to_string(), value.as_str()?.to_string()));
        }
        Some(DeadLetter {
            delivery: Delivery::from_json(json.get("delivery")?)?,
            headers,
            attempts: json.get("attempts")?.as_u32()?,
            last_error: json.string("lastError")?,
            dead_at_ms: json.get("deadAtMs")?.as_u64()?,
        })
    }

    pub fn new(delivery: Delivery, last_error: &str, dead_at_ms: u64) -> DeadLetter {
        let headers = delivery
            .headers()
            .list()
            .into_iter()
            .map(|(n, v)| (n.to_string(), v))
            .collect();
        DeadLetter {
            attempts: delivery.attempt,
            headers,
            delivery,
            last_error: short_error(last_error),
            dead_at_ms,
        }
    }

    /// The id of `/admin/dead-letters`: receipt time then delivery id, so KV's key order
    /// (lexicographic) is oldest first, and the same message kept twice (a consumer that
    /// crashed after keeping it) is one dead letter.
    pub fn id(&self) -> String {
        format!(
            "{:013}-{}",
            self.delivery.received_at_ms.min(9_999_999_999_999),
            self.delivery.id
        )
    }

    pub fn key(&self) -> String {
        dead_letter_key(&self.id())
    }

    /// The entry of the list (also kept as the KV key's metadata, so a page of the list
    /// costs one KV list and no reads).
    pub fn summary(&self) -> Summary {
        Summary {
            id: self.id(),
            event_type: header_safe(&self.delivery.event_type),
            sdk_app_id: self.delivery.sdk_app_id,
            room_id: self.delivery.room_id,
            task_id: self.delivery.task_id.clone(),
            received_at: self.delivery.received_at_ms / 1000,
            attempts: self.attempts,
            last_error: self.last_error.clone(),
        }
    }

    /// The delivery to queue when it is replayed: the original bytes and delivery id, from
    /// attempt 1 again (so it gets the full `ORIGIN_MAX_ATTEMPTS`).
    pub fn replay(&self) -> Delivery {
        Delivery {
            attempt: 1,
            ..self.delivery.clone()
        }
    }
}

/// One entry of `GET /admin/dead-letters` (API.md, "Dead letters").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub id: String,
    pub event_type: String,
    pub sdk_app_id: Option<u64>,
    pub room_id: Option<u64>,
    pub task_id: Option<String>,
    /// Unix seconds, like every other time of the API.
    pub received_at: u64,
    pub attempts: u32,
    pub last_error: String,
}

impl Summary {
    /// A summary as KV list metadata holds it; `None` for anything else.
    pub fn read(text: &str) -> Option<Summary> {
        let json = json::parse(text.as_bytes(), Limits::TRUSTED).ok()?;
        Some(Summary {
            id: json.string("id")?,
            event_type: json.string("eventType")?,
            sdk_app_id: json.optional("sdkAppId", Json::as_u64)?,
            room_id: json.optional("roomId", Json::as_u64)?,
            task_id: json.optional("taskId", Json::to_owned_string)?,
            received_at: json.get("receivedAt")?.as_u64()?,
            attempts: json.get("attempts")?.as_u32()?,
            last_error: json.string("lastError")?,
        })
    }
}

pub fn dead_letter_key(id: &str) -> String {
    format!("{DEAD_LETTER_PREFIX}{id}")
}

/// True for the shape of a dead-letter id (13 digits, `-`, 32 lowercase hex digits); other
/// ids are not found without a KV read, so no request can name another kind of key.
pub fn is_dead_letter_id(id: &str) -> bool {
    let Some((time, hash)) = id.split_once('-') else {
        return false;
    };
    time.len() == 13
        && time.bytes().all(|b| b.is_ascii_digit())
        && hash.len() == 32
        && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A batch from the dead-letter queue rather than the delivery queue. Queue names differ
/// per environment; the convention (wrangler.toml, docs/RUNBOOK.md) is that the dead-letter
/// queue's name ends in `-dlq`.
pub fn is_dead_letter_queue(queue_name: &str) -> bool {
    queue_name.ends_with("-dlq")
}

/// What an `/admin/...` request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRoute {
    /// `GET /admin/dead-letters`
    List,
    /// `POST /admin/dead-letters/replay`
    Replay,
    /// `DELETE /admin/dead-letters/{id}`
    Delete(String),
}

impl AdminRoute {
    pub fn template(&self) -> &'static str {
        match self {
            AdminRoute::List => "/admin/dead-letters",
            AdminRoute::Replay => "/admin/dead-letters/replay",
            AdminRoute::Delete(_) => "/admin/dead-letters/{id}",
        }
    }
}

/// `/admin` and everything under it: never a CORS preflight, never CORS headers.
pub fn is_admin_path(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

/// The admin route of a method and an admin path. The shell checks `ADMIN_TOKEN` and the
/// bearer token before it looks at this answer, so without them every path is alike.
pub fn admin_route(method: &str, path: &str) -> Result<AdminRoute, ApiError> {
    const ALLOW_LIST: &str = "GET";
    const ALLOW_REPLAY: &str = "POST";
    const ALLOW_DELETE: &str = "DELETE";
    let (route, allow) = match path {
        "/admin/dead-letters" => (AdminRoute::List, ALLOW_LIST),
        "/admin/dead-letters/replay" => (AdminRoute::Replay, ALLOW_REPLAY),
        _ => match path.strip_prefix("/admin/dead-letters/") {
            Some(id) if !id.is_empty() && !id.contains('/') => {
                (AdminRoute::Delete(id.to_string()), ALLOW_DELETE)
            }
            _ => return Err(ApiError::NotFound),
        },
    };
    if method == allow {
        Ok(route)
    } else {
        Err(ApiError::MethodNotAllowed(allow))
    }
}

/// The body of `POST /admin/dead-letters/replay`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    Ids(Vec<String>),
    All,
}

/// `{"ids": ["..."]}` (1 to [`DEAD_LETTER_PAGE`] ids) or `{"all": true}`; anything else is
/// 400 `malformed_json`, a member name twice included (`{"all": false, "all": true}` must not
/// mean whichever came last).
pub fn parse_replay(body: &[u8]) -> Result<Replay, ApiError> {
    let bad = |why: &str| ApiError::MalformedJson(why.to_string());
    let shape = "expected {\"ids\": [...]} or {\"all\": true}";
    let json = json::parse(body, Limits::TRUSTED).map_err(|_| bad(shape))?;
    match json.as_object().ok_or_else(|| bad(shape))? {
        [(name, Json::Bool(true))] if name == "all" => Ok(Replay::All),
        [(name, Json::Array(ids))] if name == "ids" => {
            if ids.is_empty() || ids.len() > DEAD_LETTER_PAGE {
                return Err(bad(&format!(
                    "\"ids\" must list 1 to {DEAD_LETTER_PAGE} dead-letter ids"
                )));
            }
            let mut out: Vec<String> = Vec::with_capacity(ids.len());
            for id in ids {
                let id = id
                    .as_str()
                    .ok_or_else(|| bad("every id must be a string"))?;
                if !out.iter().any(|seen| seen == id) {
                    out.push(id.to_string());
                }
            }
            Ok(Replay::Ids(out))
        }
        _ => Err(bad(shape)),
    }
}

/// One JSON log line per delivery attempt (and per dead letter kept), like the request
/// lines of `log.rs`: ids and outcome, never the body or a token.
#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryLog {
    pub level: &'static str,
    /// `delivery` for attempts, `dead_letter_queue` for messages from the dead-letter queue.
    pub kind: &'static str,
    pub delivery_id: String,
    pub request_id: String,
    pub attempt: u32,
    /// `delivered`, `retry`, `dead_letter`, or `error` when the message could not even be
    /// retried (it then stays on the queue).
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_in_seconds: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter_id: Option<String>,
    pub duration_ms: u64,
}

impl DeliveryLog {
    /// The finished line: a dead letter, or a message that could not be handled, is `error`.
    pub fn line(&mut self) -> String {
        self.level = match self.result {
            "dead_letter" | "error" => "error",
            "retry" => "warn",
            _ => "info",
        };
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers() -> OriginHeaders<'static> {
        OriginHeaders {
            event_type: "WhiteboardPushStarted",
            outcome: "applied",
            verified: true,
            request_id: "req-1",
            source: None,
            queued: None,
        }
    }

    const BODY: &[u8] = br#"{"EventType":"WhiteboardPushStarted","SdkAppId":1400000001,"EventData":{"RoomId":1253,"TaskId":"t-1"}}"#;

    fn failed(retry_after: Option<&str>) -> Attempt {
        Attempt::Failed {
            error: "it answered HTTP 500".into(),
            status: Some(500),
            retry_after: retry_after.map(str::to_string),
        }
    }

    #[test]
    fn identical_bytes_share_a_delivery_id_and_any_change_makes_a_new_one() {
        let id = delivery_id(BODY);
        assert_eq!(id, delivery_id(BODY));
        assert_eq!(id.len(), 32);
        let mut spaced = BODY.to_vec();
        spaced.push(b'\n');
        assert_ne!(id, delivery_id(&spaced));
    }

    #[test]
    fn a_refused_queue_send_is_storage_unavailable_with_the_reason_as_a_warning() {
        use crate::core::doubles::{block_on, RecordingQueue};
        let queue = RecordingQueue {
            fail: Some("Queue send failed: 500"),
            ..RecordingQueue::default()
        };
        let mut log = RequestLog::new("req-1".into(), "POST");
        let result = block_on(enqueue(&queue, BODY, &headers(), 5, &mut log));

        assert_eq!(result, Err(ApiError::QueueUnavailable));
        assert_eq!(ApiError::QueueUnavailable.status(), 503);
        assert_eq!(ApiError::QueueUnavailable.code(), "storage_unavailable");
        assert_eq!(log.enqueued, Some(false));
        assert_eq!(log.delivery_id, Some(delivery_id(BODY)));
        assert_eq!(
            log.warnings,
            ["the delivery queue refused the message: Queue send failed: 500"]
        );
    }

    #[test]
    fn an_accepted_queue_send_is_the_first_attempt_of_the_exact_bytes() {
        use crate::core::doubles::{block_on, RecordingQueue};
        let queue = RecordingQueue::default();
        let mut log = RequestLog::new("req-1".into(), "POST");
        let result = block_on(enqueue(&queue, BODY, &headers(), 5, &mut log));

        assert_eq!(result, Ok(()));
        assert_eq!(log.enqueued, Some(true));
        assert!(log.warnings.is_empty());
        let sent = queue.sent.borrow();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0], Delivery::first(BODY, &headers(), 5).unwrap());
    }

    #[test]
    fn a_delivery_carries_the_exact_bytes_through_its_json_message() {
        let body = "{ \"SdkAppId\" :1400000001,\"x\":\"\\u00e9 \\\"q\\\"\"}\n".as_bytes();
        let delivery = Delivery::first(body, &headers(), 1_700_000_000_123).unwrap();
        let message = serde_json::to_string(&delivery).unwrap();
        let back = Delivery::read(&message).unwrap();
        assert_eq!(back.body.as_bytes(), body);
        assert_eq!(back, delivery);
        assert_eq!(back.attempt, 1);
        assert_eq!(back.id, delivery_id(body));
    }

    #[test]
    fn the_largest_body_fits_a_queue_message_however_many_escapes_it_holds() {
        // 64 KiB of `\"`: JSON-encoding the text would double it past 128 KB.
        let mut body = br#"{"SdkAppId":1400000001,"Pad":""#.to_vec();
        while body.len() < crate::core::http::MAX_BODY_BYTES - 2 {
            body.extend_from_slice(br#"\""#);
        }
        body.extend_from_slice(b"\"}");
        let delivery = Delivery::first(&body, &headers(), u64::MAX).unwrap();
        let message = serde_json::to_string(&delivery).unwrap();
        assert!(message.len() < 90_000, "{} bytes", message.len());
        let back = Delivery::read(&message).unwrap();
        assert_eq!(back.body.as_bytes(), &body[..]);
    }

    #[test]
    fn a_message_of_the_version_that_carried_the_text_is_still_read() {
        let old = serde_json::json!({
            "id": delivery_id(BODY), "body": std::str::from_utf8(BODY).unwrap(),
            "eventType": "WhiteboardPushStarted", "outcome": "applied", "verified": true,
            "requestId": "r-1", "receivedAtMs": 5, "attempt": 2,
        });
        let d = Delivery::read(&old.to_string()).unwrap();
        assert_eq!(d.body.as_bytes(), BODY);
        assert_eq!(d.attempt, 2);
        let bad = serde_json::json!({
            "id": "x", "body": "b64:!!!!", "eventType": "", "outcome": "", "verified": true,
            "requestId": "", "receivedAtMs": 0, "attempt": 1,
        });
        assert_eq!(Delivery::read(&bad.to_string()), None);
    }

    #[test]
    fn dead_letters_and_summaries_read_back_as_written_and_other_shapes_are_refused() {
        let delivery = Delivery::first(BODY, &headers(), 1_700_000_000_123).unwrap();
        let dead = DeadLetter::new(delivery, "it answered HTTP 500", 9);
        let text = serde_json::to_string(&dead).unwrap();
        assert_eq!(DeadLetter::read(&text), Some(dead.clone()));
        let summary = serde_json::to_string(&dead.summary()).unwrap();
        assert_eq!(Summary::read(&summary), Some(dead.summary()));

        let without_room = summary.replace("\"roomId\":1253", "\"roomId\":null");
        assert_eq!(Summary::read(&without_room).map(|s| s.room_id), Some(None));
        for (text, change) in [
            (&text, ("\"attempts\":1", "\"attempts\":4294967296")),
            (&text, ("\"attempts\":1", "\"attempts\":-1")),
            (&text, ("\"verified\":true", "\"verified\":1")),
            (&text, ("\"roomId\":1253", "\"roomId\":\"1253\"")),
            (&text, ("\"lastError\":", "\"lastErr\":")),
            (
                &summary,
                ("\"receivedAt\":1700000000", "\"receivedAt\":1.7e9"),
            ),
            (&summary, ("\"taskId\":\"t-1\"", "\"taskId\":7")),
        ] {
            let changed = text.replacen(change.0, change.1, 1);
            assert_ne!(&changed, text, "{change:?}");
            assert_eq!(DeadLetter::read(&changed), None, "{change:?}");
            assert_eq!(Summary::read(&changed), None, "{change:?}");
        }
    }

    #[test]
    fn a_delivery_names_app_room_and_task_when_the_body_has_them() {
        let d = Delivery::first(BODY, &headers(), 0).unwrap();
        assert_eq!(d.sdk_app_id, Some(1400000001));
        assert_eq!(d.room_id, Some(1253));
        assert_eq!(d.task_id.as_deref(), Some("t-1"));
        let other = Delivery::first(br#"{"EventType":"X"}"#, &headers(), 0).unwrap();
        assert_eq!(
            (other.sdk_app_id, other.room_id, other.task_id),
            (None, None, None)
        );
        let huge = br#"{"SdkAppId":18446744073709551615,"EventData":{"RoomId":9007199254740992}}"#;
        let other = Delivery::first(huge, &headers(), 0).unwrap();
        assert_eq!(
            (other.sdk_app_id, other.room_id, other.task_id),
            (None, None, None)
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_are_not_queued() {
        assert_eq!(Delivery::first(b"\xff{}", &headers(), 0), Err(NotUtf8));
    }

    #[test]
    fn queued_attempts_carry_delivery_id_attempt_and_source_headers() {
        let mut h = headers();
        assert_eq!(
            h.list().iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            [
                "content-type",
                "x-tiw-verified",
                "x-tiw-event-type",
                "x-tiw-outcome",
                "x-request-id"
            ]
        );
        let d = Delivery::first(BODY, &h, 0).unwrap().next_attempt();
        let list = d.headers().list();
        assert!(list.contains(&("x-tiw-delivery-id", d.id.clone())));
        assert!(list.contains(&("x-tiw-attempt", "2".to_string())));
        h.source = Some("reconciled");
        h.verified = false;
        let list = h.list();
        assert!(list.contains(&("x-tiw-source", "reconciled".to_string())));
        assert!(list.contains(&("x-tiw-verified", "0".to_string())));
    }

    #[test]
    fn retries_double_from_the_base_with_at_most_a_quarter_of_jitter() {
        for (attempt, nominal) in [(1, 10), (2, 20), (3, 40), (4, 80), (9, 2560)] {
            let low = retry_delay_seconds(attempt, 10, 0.0, None);
            let high = retry_delay_seconds(attempt, 10, 0.999, None);
            assert_eq!(low, nominal, "attempt {attempt}");
            assert!(
                high >= nominal && high <= nominal + nominal / 4,
                "{attempt}: {high}"
            );
            assert!(high > low, "no jitter at attempt {attempt}");
        }
    }

    #[test]
    fn retries_are_never_more_than_an_hour_apart_and_still_jittered_at_the_cap() {
        let delays: Vec<u32> = (0..=10)
            .map(|i| retry_delay_seconds(30, 10, f64::from(i) / 10.0, None))
            .collect();
        assert!(delays
            .iter()
            .all(|d| (3_240..=MAX_RETRY_GAP_SECONDS).contains(d)));
        assert!(delays.first() < delays.last());
        assert!(retry_delay_seconds(u32::MAX, 3_600, 0.5, None) <= MAX_RETRY_GAP_SECONDS);
    }

    #[test]
    fn the_default_schedule_retries_for_about_fifteen_hours() {
        let (base, attempts) = (
            crate::core::config::DEFAULT_ORIGIN_RETRY_BASE_SECONDS,
            crate::core::config::DEFAULT_ORIGIN_MAX_ATTEMPTS,
        );
        let total = |random| -> u32 {
            (1..attempts)
                .map(|a| retry_delay_seconds(a, base, random, None))
                .sum()
        };
        // wrangler.toml and the README say "about 15 hours".
        assert!(total(0.0) >= 14 * 3_600, "{}", total(0.0));
        assert!(total(0.999) < 16 * 3_600, "{}", total(0.999));
    }

    #[test]
    fn retry_after_seconds_win_up_to_twelve_hours() {
        assert_eq!(retry_delay_seconds(1, 10, 0.5, Some(120)), 120);
        assert_eq!(retry_delay_seconds(5, 10, 0.5, Some(2)), 2);
        assert_eq!(retry_delay_seconds(1, 10, 0.5, Some(999_999)), 43_200);
        assert_eq!(parse_retry_after(" 30 "), Some(30));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("99999999999"), None);
    }

    #[test]
    fn bad_random_input_cannot_break_the_delay() {
        assert_eq!(retry_delay_seconds(1, 10, f64::NAN, None), 10);
        assert_eq!(retry_delay_seconds(1, 10, -3.0, None), 10);
        assert_eq!(retry_delay_seconds(1, 10, 7.0, None), 12);
    }

    #[test]
    fn the_last_allowed_attempt_failing_makes_a_dead_letter() {
        assert_eq!(
            next_step(1, 24, 10, &Attempt::Delivered(204), 0.0),
            Next::Done
        );
        assert_eq!(next_step(1, 24, 10, &failed(None), 0.0), Next::RetryIn(10));
        assert_eq!(
            next_step(3, 24, 10, &failed(Some("7")), 0.0),
            Next::RetryIn(7)
        );
        assert_eq!(next_step(24, 24, 10, &failed(None), 0.0), Next::DeadLetter);
        assert_eq!(next_step(1, 1, 10, &failed(None), 0.0), Next::DeadLetter);
        assert_eq!(
            next_step(24, 24, 10, &Attempt::Delivered(200), 0.0),
            Next::Done
        );
    }

    #[test]
    fn a_dead_letter_keeps_bytes_headers_attempts_and_error_and_sorts_by_receipt() {
        let d = Delivery::first(BODY, &headers(), 1_700_000_000_123).unwrap();
        let d4 = d.next_attempt().next_attempt().next_attempt();
        let dead = DeadLetter::new(d4, "it answered HTTP 500\r\n", 1_700_000_100_000);
        assert_eq!(dead.attempts, 4);
        assert_eq!(dead.last_error, "it answered HTTP 500??");
        assert!(dead
            .headers
            .contains(&("x-tiw-attempt".to_string(), "4".to_string())));
        assert_eq!(dead.id(), format!("1700000000123-{}", d.id));
        assert!(is_dead_letter_id(&dead.id()));
        assert_eq!(dead.key(), format!("dead:{}", dead.id()));
        let older = DeadLetter::new(
            Delivery::first(b"{}", &headers(), 999_999_999_999).unwrap(),
            "x",
            0,
        );
        assert!(older.key() < dead.key(), "KV lists keys in byte order");

        let replay = dead.replay();
        assert_eq!(
            (replay.attempt, &replay.id, &replay.body),
            (1, &d.id, &d.body)
        );
        let summary = serde_json::to_value(dead.summary()).unwrap();
        assert_eq!(summary["receivedAt"], 1_700_000_000);
        assert_eq!(summary["roomId"], 1253);
        assert_eq!(summary["attempts"], 4);
        assert!(serde_json::to_vec(&dead.summary()).unwrap().len() < 1024);
    }

    #[test]
    fn a_delivery_keeps_the_event_type_as_its_header_shows_it_so_a_long_one_fits_a_message() {
        let long_type = format!("E\r\nx-injected: 1{}", "e".repeat(60 * 1024));
        let body = serde_json::json!({"EventType": long_type, "SdkAppId": 1400000001})
            .to_string()
            .into_bytes();
        let mut h = headers();
        h.event_type = &long_type;
        let d = Delivery::first(&body, &h, 5).unwrap();
        assert_eq!(d.event_type, header_safe(&long_type));
        let shown = d.headers().list();
        let header = shown.iter().find(|(name, _)| *name == "x-tiw-event-type");
        assert_eq!(header.map(|(_, v)| v.as_str()), Some(d.event_type.as_str()));
        let message = serde_json::to_string(&d).unwrap();
        assert!(message.len() < 100_000, "{} bytes", message.len());
    }

    #[test]
    fn the_longest_summary_still_fits_kv_metadata() {
        let body = serde_json::json!({
            "SdkAppId": MAX_SAFE_INTEGER,
            "EventData": {"RoomId": MAX_SAFE_INTEGER, "TaskId": "\"".repeat(5000)}
        })
        .to_string();
        let mut h = headers();
        let long_type = "\u{7}".repeat(500);
        h.event_type = &long_type;
        let d = Delivery::first(body.as_bytes(), &h, u64::MAX).unwrap();
        let dead = DeadLetter::new(d, &"\"".repeat(5000), 0);
        assert!(serde_json::to_vec(&dead.summary()).unwrap().len() <= 1024);
        assert!(is_dead_letter_id(&dead.id()));
    }

    #[test]
    fn only_well_formed_dead_letter_ids_are_looked_up() {
        assert!(is_dead_letter_id(
            "1700000000123-0123456789abcdef0123456789abcdef"
        ));
        for id in [
            "",
            "room:1:2",
            "1700000000123-0123456789ABCDEF0123456789abcdef",
            "170000000012-0123456789abcdef0123456789abcdef",
            "1700000000123-0123456789abcdef0123456789abcde",
            "1700000000123_0123456789abcdef0123456789abcdef",
        ] {
            assert!(!is_dead_letter_id(id), "{id}");
        }
    }

    #[test]
    fn admin_paths_route_by_method_and_never_preflight() {
        assert_eq!(
            admin_route("GET", "/admin/dead-letters"),
            Ok(AdminRoute::List)
        );
        assert_eq!(
            admin_route("POST", "/admin/dead-letters/replay"),
            Ok(AdminRoute::Replay)
        );
        assert_eq!(
            admin_route("DELETE", "/admin/dead-letters/abc"),
            Ok(AdminRoute::Delete("abc".into()))
        );
        assert_eq!(
            admin_route("OPTIONS", "/admin/dead-letters"),
            Err(ApiError::MethodNotAllowed("GET"))
        );
        assert_eq!(
            admin_route("GET", "/admin/dead-letters/replay"),
            Err(ApiError::MethodNotAllowed("POST"))
        );
        for path in ["/admin", "/admin/", "/admin/x", "/admin/dead-letters/a/b"] {
            assert_eq!(admin_route("GET", path), Err(ApiError::NotFound), "{path}");
        }
        assert!(is_admin_path("/admin") && is_admin_path("/admin/x"));
        assert!(!is_admin_path("/administrator") && !is_admin_path("/rooms/1"));
    }

    #[test]
    fn replay_bodies_name_ids_or_all() {
        assert_eq!(parse_replay(br#"{"all":true}"#), Ok(Replay::All));
        assert_eq!(
            parse_replay(br#"{"ids":["a","b","a"]}"#),
            Ok(Replay::Ids(vec!["a".into(), "b".into()]))
        );
        for bad in [
            &b"nope"[..],
            b"[]",
            b"{}",
            br#"{"all":false}"#,
            br#"{"ids":[]}"#,
            br#"{"ids":[1]}"#,
            br#"{"ids":"a"}"#,
            br#"{"ids":["a"],"all":true}"#,
        ] {
            assert!(
                matches!(parse_replay(bad), Err(ApiError::MalformedJson(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let many = serde_json::json!({"ids": (0..=DEAD_LETTER_PAGE).map(|i| i.to_string()).collect::<Vec<_>>()});
        assert!(parse_replay(many.to_string().as_bytes()).is_err());
    }

    #[test]
    fn replay_bodies_with_a_member_name_twice_are_malformed() {
        for twice in [
            &br#"{"all":true,"all":true}"#[..],
            br#"{"all":false,"all":true}"#,
            br#"{"ids":["a"],"ids":["b"]}"#,
            br#"{"ids":["a"],"\u0069ds":["b"]}"#,
        ] {
            assert!(
                matches!(parse_replay(twice), Err(ApiError::MalformedJson(_))),
                "{}",
                String::from_utf8_lossy(twice)
            );
        }
        assert_eq!(
            parse_replay(br#"{"ids":["all","all"]}"#),
            Ok(Replay::Ids(vec!["all".into()]))
        );
        assert_eq!(parse_replay(b" { \"all\" : true } \n"), Ok(Replay::All));
    }

    #[test]
    fn the_dead_letter_queue_is_told_apart_by_its_name() {
        assert!(is_dead_letter_queue("tiw-push-edge-origin-dlq"));
        assert!(is_dead_letter_queue("tiw-push-edge-production-origin-dlq"));
        assert!(!is_dead_letter_queue("tiw-push-edge-origin"));
    }

    #[test]
    fn dead_letter_log_lines_are_errors_with_the_delivery_id() {
        let mut log = DeliveryLog {
            kind: "delivery",
            delivery_id: "abc".into(),
            result: "dead_letter",
            ..DeliveryLog::default()
        };
        let v: serde_json::Value = serde_json::from_str(&log.line()).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["deliveryId"], "abc");
        log.result = "retry";
        assert!(log.line().contains("\"level\":\"warn\""));
    }
}
