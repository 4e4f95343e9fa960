//! Live updates (`GET /rooms/{roomId}/live`): who may open a socket, and what it is sent.
//!
//! The room object holds the sockets; this module only decides. A message is the same body
//! and ETag as `GET /rooms/{roomId}`, wrapped as `{"type":"status","etag":…,"room":…}`.

use crate::core::config::AllowedOrigins;
use crate::core::http::{bearer_matches, constant_time_eq};
use crate::core::status::Rendered;

/// The text a viewer may send at any time; the runtime answers [`PONG`] without waking the
/// room object.
pub const PING: &str = "ping";
pub const PONG: &str = "pong";

/// Browsers apply no CORS to WebSockets, so the upgrade checks `Origin` itself: with an
/// allow-list, a present `Origin` must be listed; a request without one (a server-side
/// client) is allowed.
pub fn origin_allowed(allowed: &AllowedOrigins, origin: Option<&str>) -> bool {
    match (allowed, origin) {
        (AllowedOrigins::Any, _) | (_, None) => true,
        (AllowedOrigins::List(list), Some(origin)) => list.iter().any(|l| l == origin),
    }
}

/// `STATUS_TOKEN` as `Authorization: Bearer …`, or as the `token` query parameter (browsers
/// cannot set headers on a WebSocket).
pub fn token_matches(authorization: Option<&str>, query_token: Option<&str>, token: &str) -> bool {
    bearer_matches(authorization, token)
        || query_token.is_some_and(|q| constant_time_eq(q.as_bytes(), token.as_bytes()))
}

/// True when the request asks for a WebSocket (`Upgrade: websocket`, any case).
pub fn is_upgrade(upgrade_header: Option<&str>) -> bool {
    upgrade_header.is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
}

/// One status message: the body of `GET /rooms/{roomId}` and its ETag, as
/// `{"etag":…,"room":…,"type":"status"}` (members in the order they have always had).
pub fn status_message(rendered: &Rendered) -> String {
    let etag = serde_json::to_string(&rendered.etag).unwrap_or_default();
    let room = String::from_utf8_lossy(&rendered.bytes);
    format!(r#"{{"etag":{etag},"room":{room},"type":"status"}}"#)
}

/// The close code to answer a viewer's close with: its own when that may be sent back, else
/// 1000 (1005 "no status" and 1006 "abnormal" are never sent on the wire).
pub fn close_reply_code(code: u16) -> u16 {
    match code {
        1000..=1003 | 1007..=1014 | 3000..=4999 => code,
        _ => 1000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn any_origin_or_no_origin_may_upgrade() {
        let list = AllowedOrigins::List(vec!["https://app.example".into()]);
        assert!(origin_allowed(
            &AllowedOrigins::Any,
            Some("https://evil.example")
        ));
        assert!(origin_allowed(&list, None));
        assert!(origin_allowed(&list, Some("https://app.example")));
        assert!(!origin_allowed(&list, Some("https://evil.example")));
        assert!(!origin_allowed(&list, Some("https://app.example.evil")));
    }

    #[test]
    fn token_comes_from_the_header_or_the_query() {
        assert!(token_matches(Some("Bearer s3"), None, "s3"));
        assert!(token_matches(None, Some("s3"), "s3"));
        assert!(!token_matches(None, Some("s4"), "s3"));
        assert!(!token_matches(Some("Bearer s4"), Some(""), "s3"));
        assert!(!token_matches(None, None, "s3"));
    }

    #[test]
    fn only_websocket_upgrades_count() {
        assert!(is_upgrade(Some("websocket")));
        assert!(is_upgrade(Some("WebSocket")));
        assert!(!is_upgrade(Some("h2c")));
        assert!(!is_upgrade(None));
    }

    #[test]
    fn a_message_carries_the_status_body_and_its_etag() {
        let rendered = Rendered {
            bytes: br#"{"roomId":1253,"state":"idle"}"#.to_vec(),
            etag: "\"abc\"".into(),
        };
        let msg: Value = serde_json::from_str(&status_message(&rendered)).unwrap();
        assert_eq!(msg["type"], "status");
        assert_eq!(msg["etag"], "\"abc\"");
        assert_eq!(msg["room"], json!({"roomId": 1253, "state": "idle"}));
    }

    #[test]
    fn a_close_is_answered_with_a_code_that_may_be_sent() {
        assert_eq!(close_reply_code(1000), 1000);
        assert_eq!(close_reply_code(4001), 4001);
        assert_eq!(close_reply_code(1005), 1000);
        assert_eq!(close_reply_code(1006), 1000);
        assert_eq!(close_reply_code(1015), 1000);
    }
}
