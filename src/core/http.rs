//! The error type every handler returns, how an error becomes a JSON answer, and the
//! headers every answer shares (CORS, request ids).
//!
//! Answers are built as plain [`Reply`] values so that their status, headers and bodies are
//! tested natively; the wasm shell only copies a `Reply` into a `worker::Response`.

use crate::core::config::AllowedOrigins;
use crate::core::json::Members;

/// Every way a request can fail, named by the `error` code of API.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    PayloadTooLarge,
    MalformedJson(String),
    InvalidEnvelope(String),
    UnknownApp,
    /// `?sdkAppId=` of a status read names an app not in `SDK_APP_IDS` (400, not 403).
    UnknownQueryApp,
    /// Configuration is missing or invalid; carries the variable's name, never its value.
    NotConfigured(&'static str),
    MissingSignature,
    BadSignature,
    Expired,
    ExpireTooFar,
    InvalidEvent(String),
    StorageUnavailable,
    /// Queued delivery: the delivery queue did not accept the event (`storage_unavailable`).
    QueueUnavailable,
    OriginUnavailable(String),
    NotFound,
    MethodNotAllowed(&'static str),
    InvalidRoomId,
    TooManyRooms(usize),
    Unauthorized,
    /// `/rooms/{roomId}/live` without `Upgrade: websocket`.
    UpgradeRequired,
    /// A live upgrade whose `Origin` is not in `ALLOWED_ORIGINS`.
    OriginNotAllowed,
    /// The room already has `MAX_LIVE_CONNECTIONS_PER_ROOM` live connections.
    TooManyConnections,
    Internal,
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::PayloadTooLarge => 413,
            ApiError::MalformedJson(_)
            | ApiError::InvalidEnvelope(_)
            | ApiError::InvalidEvent(_)
            | ApiError::InvalidRoomId
            | ApiError::UnknownQueryApp
            | ApiError::TooManyRooms(_) => 400,
            ApiError::UnknownApp | ApiError::OriginNotAllowed => 403,
            ApiError::UpgradeRequired => 426,
            ApiError::TooManyConnections => 429,
            ApiError::NotConfigured(_)
            | ApiError::StorageUnavailable
            | ApiError::QueueUnavailable => 503,
            ApiError::MissingSignature
            | ApiError::BadSignature
            | ApiError::Expired
            | ApiError::ExpireTooFar
            | ApiError::Unauthorized => 401,
            ApiError::OriginUnavailable(_) => 502,
            ApiError::NotFound => 404,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::Internal => 500,
        }
    }

    /// The snake_case `error` code of API.md.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::InvalidEnvelope(_) => "invalid_envelope",
            ApiError::UnknownApp | ApiError::UnknownQueryApp => "unknown_app",
            ApiError::NotConfigured(_) => "not_configured",
            ApiError::MissingSignature => "missing_signature",
            ApiError::BadSignature => "bad_signature",
            ApiError::Expired => "expired",
            ApiError::ExpireTooFar => "expire_too_far",
            ApiError::InvalidEvent(_) => "invalid_event",
            ApiError::StorageUnavailable | ApiError::QueueUnavailable => "storage_unavailable",
            ApiError::OriginUnavailable(_) => "origin_unavailable",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::InvalidRoomId => "invalid_room_id",
            ApiError::TooManyRooms(_) => "too_many_rooms",
            ApiError::Unauthorized => "unauthorized",
            ApiError::UpgradeRequired => "upgrade_required",
            ApiError::OriginNotAllowed => "origin_not_allowed",
            ApiError::TooManyConnections => "too_many_connections",
            ApiError::Internal => "internal_error",
        }
    }

    /// A human sentence. Built only from our own words and parse details, never from a
    /// key, token or expected signature.
    pub fn message(&self) -> String {
        match self {
            ApiError::PayloadTooLarge => {
                format!("the body is larger than {MAX_BODY_BYTES} bytes")
            }
            ApiError::MalformedJson(why) => format!("the body is not a JSON object: {why}"),
            ApiError::InvalidEnvelope(why) => format!("the callback envelope is invalid: {why}"),
            ApiError::UnknownApp => "SdkAppId is not one of SDK_APP_IDS".into(),
            ApiError::UnknownQueryApp => "sdkAppId is not one of SDK_APP_IDS".into(),
            ApiError::NotConfigured(var) => {
                format!("the worker is not configured: {var} is missing or invalid")
            }
            ApiError::MissingSignature => "Sign and ExpireTime are required".into(),
            ApiError::BadSignature => "Sign does not match the callback key".into(),
            ApiError::Expired => "ExpireTime has passed".into(),
            ApiError::ExpireTooFar => {
                "ExpireTime is further ahead than MAX_EXPIRE_AHEAD_SECONDS allows".into()
            }
            ApiError::InvalidEvent(why) => format!("EventData is invalid: {why}"),
            ApiError::StorageUnavailable => "room state storage is unavailable; retry later".into(),
            ApiError::QueueUnavailable => {
                "the delivery queue did not accept the event; retry later".into()
            }
            ApiError::OriginUnavailable(why) => {
                format!("the origin server did not accept the callback: {why}")
            }
            ApiError::NotFound => "no such path".into(),
            ApiError::MethodNotAllowed(allow) => format!("method not allowed; use {allow}"),
            ApiError::InvalidRoomId => {
                "a room id is ASCII decimal digits with a value from 1 to 4294967295".into()
            }
            ApiError::TooManyRooms(n) => {
                format!("{n} distinct room ids asked; at most {MAX_BATCH_ROOMS} are allowed")
            }
            ApiError::Unauthorized => "a valid 'Authorization: Bearer <token>' is required".into(),
            ApiError::UpgradeRequired => {
                "this route is a WebSocket: send 'Upgrade: websocket'".into()
            }
            ApiError::OriginNotAllowed => "this Origin is not in ALLOWED_ORIGINS".into(),
            ApiError::TooManyConnections => {
                "the room has as many live connections as MAX_LIVE_CONNECTIONS_PER_ROOM allows"
                    .into()
            }
            ApiError::Internal => "internal error".into(),
        }
    }

    /// The JSON error body of API.md, plus `variable` for `not_configured`.
    pub fn body(&self) -> Members {
        let body = Members::new()
            .num("error_code", self.status().into())
            .str("error", self.code())
            .str("message", &self.message());
        match self {
            ApiError::NotConfigured(var) => body.str("variable", var),
            _ => body,
        }
    }

    pub fn into_reply(self) -> Reply {
        let mut reply = Reply::json(self.status(), self.body());
        match self {
            ApiError::MethodNotAllowed(allow) => reply.header("allow", allow),
            ApiError::StorageUnavailable | ApiError::QueueUnavailable => {
                reply.header("retry-after", "5")
            }
            ApiError::Unauthorized => reply.header("www-authenticate", "Bearer"),
            ApiError::UpgradeRequired => reply.header("upgrade", "websocket"),
            _ => {}
        }
        reply
    }
}

/// Largest callback body accepted (API.md check 1).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Most distinct rooms one batch read may ask for.
pub const MAX_BATCH_ROOMS: usize = 100;

pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// An answer before it becomes a `worker::Response`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// A JSON object answer, written by `json::Members` (no `serde_json::Value` in the
    /// worker: see `core::json`).
    pub fn json(status: u16, body: Members) -> Reply {
        Reply::bytes(status, JSON_CONTENT_TYPE, body.object().into_bytes())
    }

    pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body,
        }
    }

    /// A bodiless answer (204, 304).
    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Sets a header, replacing any earlier value of the same name.
    pub fn header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers
            .push((name.to_ascii_lowercase(), value.to_string()));
    }

    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Drops the body but keeps every header, for `HEAD`.
    pub fn without_body(mut self) -> Reply {
        self.body.clear();
        self
    }
}

/// A query parameter of a request URL (the first of that name), decoded as `Url::query_pairs`
/// decodes it (`application/x-www-form-urlencoded`: `+` is a space, `%XX` a byte, invalid UTF-8
/// becomes U+FFFD), without parsing the whole URL: the routes read one or two per request.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split_once('#').map_or(query, |(query, _)| query);
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(key) == name).then(|| form_decode(value))
        })
}

/// `+` to a space, `%XX` to its byte (a `%` without two hex digits stays), then UTF-8, lossily.
fn form_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let hex = |i: usize| bytes.get(i).and_then(|&b| (b as char).to_digit(16));
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'+', ..) => b' ',
            (b'%', Some(high), Some(low)) => {
                i += 2;
                (high << 4 | low) as u8
            }
            (other, ..) => other,
        };
        out.push(byte);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The CORS headers of a non-callback answer, per `ALLOWED_ORIGINS`.
pub fn add_cors(reply: &mut Reply, allowed: &AllowedOrigins, origin: Option<&str>) {
    match allowed {
        AllowedOrigins::Any => reply.header("access-control-allow-origin", "*"),
        AllowedOrigins::List(list) => {
            reply.header("vary", "Origin");
            if let Some(origin) = origin.filter(|o| list.iter().any(|l| l == o)) {
                reply.header("access-control-allow-origin", origin);
            }
        }
    }
    reply.header(
        "access-control-expose-headers",
        "ETag, x-poll-interval, x-request-id",
    );
}

/// The `OPTIONS` preflight answer (any path).
pub fn preflight(allowed: &AllowedOrigins, origin: Option<&str>) -> Reply {
    let mut reply = Reply::empty(204);
    reply.header("access-control-allow-methods", "GET, HEAD, OPTIONS");
    reply.header(
        "access-control-allow-headers",
        "authorization, if-none-match, content-type",
    );
    reply.header("access-control-max-age", "86400");
    add_cors(&mut reply, allowed, origin);
    reply
}

/// `cf-ray` when it is present and safe to echo in a header, else `None` (the shell then
/// generates an id).
pub fn request_id_from_ray(cf_ray: Option<&str>) -> Option<String> {
    cf_ray
        .filter(|ray| {
            !ray.is_empty()
                && ray.len() <= 128
                && ray
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        })
        .map(str::to_string)
}

/// A value from the sender's body made safe for a header: printable ASCII only (anything else
/// becomes `?`), at most 128 characters, so it can never break or inject a header.
pub fn header_safe(value: &str) -> String {
    value
        .chars()
        .take(128)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks `Authorization: Bearer <token>` against `STATUS_TOKEN`.
pub fn bearer_matches(authorization: Option<&str>, token: &str) -> bool {
    let Some(value) = authorization else {
        return false;
    };
    let mut parts = value.trim().splitn(2, ' ');
    let scheme = parts.next().unwrap_or_default();
    let given = parts.next().unwrap_or_default().trim();
    scheme.eq_ignore_ascii_case("bearer") && constant_time_eq(given.as_bytes(), token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn query_parameters_read_as_a_parsed_url_reads_them() {
        let urls = [
            "https://w.example/rooms?ids=1,2&sdkAppId=1400000001",
            "https://w.example/rooms?ids=1%2C2&ids=3&x",
            "https://w.example/rooms/1?sdkAppId=+14%20&token=a%2Bb%3D#frag",
            "https://w.example/rooms/1?token=caf%C3%A9&sdkAppId=&%FF=1",
            "https://w.example/rooms/1",
            "https://w.example/rooms/1?",
            "http://127.0.0.1:8787/rooms/1/live?token=t&token=u",
        ];
        for raw in urls {
            let parsed = url::Url::parse(raw).expect("test URL");
            for name in ["ids", "sdkAppId", "token", "x", "\u{fffd}", "missing"] {
                let expected = parsed
                    .query_pairs()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.into_owned());
                assert_eq!(query_param(raw, name), expected, "{raw} {name}");
            }
        }
    }

    #[test]
    fn query_parameters_decode_plus_percent_and_bad_utf8() {
        let url = "https://w.example/r?a=1+2&b=%41%2b%zz&&c&a=3&d=%FF#a=9";
        assert_eq!(query_param(url, "a").as_deref(), Some("1 2"));
        assert_eq!(query_param(url, "b").as_deref(), Some("A+%zz"));
        assert_eq!(query_param(url, "c").as_deref(), Some(""));
        assert_eq!(query_param(url, "d").as_deref(), Some("\u{fffd}"));
        assert_eq!(query_param(url, "e"), None);
        assert_eq!(query_param("https://w.example/r", "a"), None);
    }

    proptest! {
        /// The same first value `url::form_urlencoded` finds, for any query.
        #[test]
        fn query_param_decodes_as_form_urlencoded(
            query in "([a-c%+=&#]|%[0-9a-fA-F]{2}|\u{e9}){0,16}",
            name in "[a-c +\u{e9}\u{fffd}]{0,2}",
        ) {
            let expected = url::form_urlencoded::parse(query.split('#').next().unwrap_or_default().as_bytes())
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.into_owned());
            prop_assert_eq!(query_param(&format!("https://w.example/?{query}"), &name), expected);
        }
    }

    #[test]
    fn error_body_has_the_contract_shape() {
        let reply = ApiError::BadSignature.into_reply();
        assert_eq!(
            reply.header_value("content-type"),
            Some("application/json; charset=utf-8")
        );
        let body: serde_json::Value = serde_json::from_slice(&reply.body).expect("JSON");
        assert_eq!(body.as_object().map(|o| o.len()), Some(3), "{body}");
        assert_eq!(body["error_code"], 401);
        assert_eq!(body["error"], "bad_signature");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    #[test]
    fn not_configured_names_the_variable() {
        let body = ApiError::NotConfigured("SDK_APP_IDS").body().object();
        assert_eq!(
            body,
            r#"{"error_code":503,"error":"not_configured","message":"the worker is not configured: SDK_APP_IDS is missing or invalid","variable":"SDK_APP_IDS"}"#
        );
        let body: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(body["variable"], "SDK_APP_IDS");
    }

    #[test]
    fn storage_failure_asks_for_a_retry() {
        let reply = ApiError::StorageUnavailable.into_reply();
        assert_eq!(reply.status, 503);
        assert_eq!(reply.header_value("retry-after"), Some("5"));
        let queue = ApiError::QueueUnavailable.into_reply();
        assert_eq!(queue.status, 503);
        assert_eq!(queue.header_value("retry-after"), Some("5"));
        assert_eq!(ApiError::QueueUnavailable.code(), "storage_unavailable");
    }

    #[test]
    fn method_not_allowed_lists_allow() {
        let reply = ApiError::MethodNotAllowed("POST, OPTIONS").into_reply();
        assert_eq!(reply.status, 405);
        assert_eq!(reply.header_value("Allow"), Some("POST, OPTIONS"));
    }

    #[test]
    fn allow_list_reflects_only_listed_origins() {
        let allowed = AllowedOrigins::List(vec!["https://a.example".into()]);
        let mut hit = Reply::empty(200);
        add_cors(&mut hit, &allowed, Some("https://a.example"));
        assert_eq!(
            hit.header_value("access-control-allow-origin"),
            Some("https://a.example")
        );
        assert_eq!(hit.header_value("vary"), Some("Origin"));
        let mut miss = Reply::empty(200);
        add_cors(&mut miss, &allowed, Some("https://b.example"));
        assert_eq!(miss.header_value("access-control-allow-origin"), None);
        assert_eq!(miss.header_value("vary"), Some("Origin"));
    }

    #[test]
    fn preflight_names_methods_headers_and_max_age() {
        let reply = preflight(&AllowedOrigins::Any, None);
        assert_eq!(reply.status, 204);
        assert_eq!(reply.header_value("access-control-allow-origin"), Some("*"));
        assert_eq!(
            reply.header_value("access-control-allow-methods"),
            Some("GET, HEAD, OPTIONS")
        );
        assert_eq!(reply.header_value("access-control-max-age"), Some("86400"));
    }

    #[test]
    fn request_id_keeps_only_header_safe_rays() {
        assert_eq!(
            request_id_from_ray(Some("8f1c2a3b4c5d6e7f-SJC")).as_deref(),
            Some("8f1c2a3b4c5d6e7f-SJC")
        );
        assert_eq!(request_id_from_ray(Some("bad ray\r\n")), None);
        assert_eq!(request_id_from_ray(Some("")), None);
        assert_eq!(request_id_from_ray(None), None);
    }

    #[test]
    fn header_safe_values_cannot_inject_headers() {
        assert_eq!(
            header_safe("WhiteboardPushStarted"),
            "WhiteboardPushStarted"
        );
        assert_eq!(header_safe("a\r\nx-evil: 1"), "a??x-evil: 1");
        assert_eq!(header_safe("房间"), "??");
        assert_eq!(header_safe(&"x".repeat(500)).len(), 128);
    }

    #[test]
    fn bearer_token_must_match_exactly() {
        assert!(bearer_matches(Some("Bearer s3cret"), "s3cret"));
        assert!(bearer_matches(Some("bearer s3cret"), "s3cret"));
        assert!(!bearer_matches(Some("Bearer s3cre"), "s3cret"));
        assert!(!bearer_matches(Some("Basic s3cret"), "s3cret"));
        assert!(!bearer_matches(None, "s3cret"));
    }
}
