//! The public status view of a room, its strong `ETag`, and conditional-request matching.
//!
//! Pure rendering: the shell fetches the stored rooms (cache, then KV) and passes them in.
//! A reconciled stop shows as `stopped`, with `"source": "reconciled"` on its `tasks[]` entry.

use std::cmp::Ordering;

use md5::{Digest, Md5};
use serde::Serialize;

use crate::core::callback::{PushEvent, PushKind, MAX_ROOM_ID};
use crate::core::http::{ApiError, MAX_BATCH_ROOMS};
use crate::core::room::{start_time, stop_time, Room};

/// The status body of one room (API.md), written as JSON by serde.
///
/// Members are declared in alphabetical order, the order the body has always had (it was
/// built as a `serde_json::Value`, whose objects sort their keys): the bytes, and so the
/// ETags, are the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomStatus<'a> {
    error: Option<ErrorStatus<'a>>,
    exception_count: Option<i64>,
    finish_reason: Option<&'a str>,
    group_id: Option<&'a str>,
    im_sync_time: Option<i64>,
    push_user_id: Option<&'a str>,
    room_id: u32,
    sdk_app_id: u64,
    started_at: Option<i64>,
    state: &'static str,
    stopped_at: Option<i64>,
    task_id: Option<&'a str>,
    tasks: Vec<TaskStatus<'a>>,
    updated_at: Option<i64>,
}

/// The headline task's `error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct ErrorStatus<'a> {
    code: &'a str,
    message: &'a str,
}

/// One entry of `tasks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
struct TaskStatus<'a> {
    finish_reason: Option<&'a str>,
    source: &'static str,
    started_at: Option<i64>,
    state: &'static str,
    stopped_at: Option<i64>,
    task_id: &'a str,
}

/// The body of `GET /rooms?ids=`: the rooms in the order asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rooms<'a> {
    pub rooms: Vec<RoomStatus<'a>>,
}

/// The status body of one room (`room` is `None` for a room never seen).
pub fn room_status(sdk_app_id: u64, room_id: u32, room: Option<&Room>) -> RoomStatus<'_> {
    let tasks = room.map(Room::tasks).unwrap_or_default();
    let headline = headline_task(tasks);
    let state = match headline {
        None => "idle",
        Some(task) if task.is_streaming() => "streaming",
        Some(_) => "stopped",
    };
    RoomStatus {
        error: headline
            .and_then(|t| t.error.as_ref())
            .map(|e| ErrorStatus {
                code: &e.code,
                message: &e.message,
            }),
        exception_count: headline.and_then(|t| t.exception_count),
        finish_reason: headline.and_then(|t| t.finish_reason.as_deref()),
        group_id: headline.and_then(|t| t.group_id.as_deref()),
        im_sync_time: headline.and_then(|t| t.im_sync_time),
        push_user_id: headline.and_then(|t| t.push_user_id.as_deref()),
        room_id,
        sdk_app_id,
        started_at: headline.and_then(|t| t.push_start_time),
        state,
        stopped_at: headline.and_then(|t| t.push_stop_time),
        task_id: headline.map(|t| t.task_id.as_str()),
        tasks: tasks
            .iter()
            .map(|t| TaskStatus {
                finish_reason: t.finish_reason.as_deref(),
                source: match t.kind {
                    PushKind::Reconciled => "reconciled",
                    PushKind::Started | PushKind::Stopped => "callback",
                },
                started_at: t.push_start_time,
                state: if t.is_streaming() {
                    "streaming"
                } else {
                    "stopped"
                },
                stopped_at: t.push_stop_time,
                task_id: &t.task_id,
            })
            .collect(),
        updated_at: tasks.iter().filter_map(|t| t.timestamp).max(),
    }
}

/// A body as sent: compact JSON.
pub fn to_bytes(body: &impl Serialize) -> Vec<u8> {
    // Structs of strings and integers always serialise.
    serde_json::to_vec(body).unwrap_or_default()
}

/// The task the top-level fields describe: the streaming task with the greatest start time,
/// else the task with the greatest stop time; ties by greater `Timestamp`, then `TaskId`.
fn headline_task(tasks: &[PushEvent]) -> Option<&PushEvent> {
    let by = |time: fn(&PushEvent) -> Option<i64>| {
        move |a: &&PushEvent, b: &&PushEvent| -> Ordering {
            time(a)
                .cmp(&time(b))
                .then(a.timestamp.cmp(&b.timestamp))
                .then_with(|| a.task_id.cmp(&b.task_id))
        }
    };
    tasks
        .iter()
        .filter(|t| t.is_streaming())
        .max_by(by(start_time))
        .or_else(|| tasks.iter().max_by(by(stop_time)))
}

/// One room's status answer as sent: its JSON bytes and its ETag (the same for
/// `GET /rooms/{roomId}` and a live message).
pub struct Rendered {
    pub bytes: Vec<u8>,
    pub etag: String,
}

pub fn render(sdk_app_id: u64, room_id: u32, room: Option<&Room>) -> Rendered {
    let bytes = to_bytes(&room_status(sdk_app_id, room_id, room));
    let etag = etag(&bytes);
    Rendered { bytes, etag }
}

/// A strong entity tag for a body: its md5, quoted.
pub fn etag(body: &[u8]) -> String {
    format!("\"{}\"", hex::encode(Md5::digest(body)))
}

/// RFC 9110 `If-None-Match`: `*`, or a list of tags compared weakly.
pub fn if_none_match(header: Option<&str>, etag: &str) -> bool {
    let Some(header) = header else {
        return false;
    };
    if header.trim() == "*" {
        return true;
    }
    let opaque = |tag: &str| {
        let mut tag = tag.trim();
        while let Some(strong) = tag.strip_prefix("W/") {
            tag = strong;
        }
        tag.to_string()
    };
    let ours = opaque(etag);
    header.split(',').any(|tag| opaque(tag) == ours)
}

/// A `roomId` path segment or list item: ASCII digits, leading zeros allowed, 1..=4294967295.
pub fn parse_room_id(raw: &str) -> Result<u32, ApiError> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::InvalidRoomId);
    }
    let digits = raw.trim_start_matches('0');
    if digits.len() > 10 {
        return Err(ApiError::InvalidRoomId);
    }
    digits
        .parse::<u64>()
        .ok()
        .filter(|id| (1..=MAX_ROOM_ID).contains(id))
        .and_then(|id| u32::try_from(id).ok())
        .ok_or(ApiError::InvalidRoomId)
}

/// `?ids=1,2,3`: every id valid, then at most 100 distinct ones, in first-appearance order.
pub fn parse_room_ids(raw: Option<&str>) -> Result<Vec<u32>, ApiError> {
    let raw = raw.ok_or(ApiError::InvalidRoomId)?;
    let ids = raw
        .split(',')
        .map(|part| parse_room_id(part.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut distinct = Vec::new();
    for id in ids {
        if !distinct.contains(&id) {
            distinct.push(id);
        }
    }
    if distinct.len() > MAX_BATCH_ROOMS {
        return Err(ApiError::TooManyRooms(distinct.len()));
    }
    Ok(distinct)
}

/// `?sdkAppId=`: one of `SDK_APP_IDS`, else 400 `unknown_app`; the first one when absent.
pub fn pick_app(raw: Option<&str>, sdk_app_ids: &[u64]) -> Result<u64, ApiError> {
    match raw {
        None => sdk_app_ids
            .first()
            .copied()
            .ok_or(ApiError::UnknownQueryApp),
        Some(raw) => raw
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|id| sdk_app_ids.contains(id))
            .ok_or(ApiError::UnknownQueryApp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::callback::PushError;
    use crate::core::room::tests::{reconciled, started, stopped};
    use serde_json::{json, Value};

    /// The status body as sent, parsed.
    fn status_body(sdk_app_id: u64, room_id: u32, room: Option<&Room>) -> Value {
        serde_json::from_slice(&render(sdk_app_id, room_id, room).bytes).expect("JSON")
    }

    /// A room whose headline task stopped with every field set (escapes included).
    fn stopped_with_every_field() -> Room {
        let mut room = Room::new();
        let mut stop = stopped("main", 100, 300, 310);
        stop.group_id = Some("g\"1".into());
        stop.im_sync_time = Some(101);
        stop.exception_count = Some(2);
        stop.error = Some(PushError {
            code: "E.c".into(),
            message: "m\u{e9}\n".into(),
        });
        room.apply(stop);
        room
    }

    #[test]
    fn bodies_keep_their_bytes_and_etags() {
        // Written by the `serde_json::Value` rendering this replaced; ETags a client holds
        // stay valid across the change.
        let full = render(7, 9, Some(&stopped_with_every_field()));
        assert_eq!(
            String::from_utf8(full.bytes).expect("UTF-8"),
            r#"{"error":{"code":"E.c","message":"mé\n"},"exceptionCount":2,"finishReason":"USER_CALL","groupId":"g\"1","imSyncTime":101,"pushUserId":"user-main","roomId":9,"sdkAppId":7,"startedAt":100,"state":"stopped","stoppedAt":300,"taskId":"main","tasks":[{"finishReason":"USER_CALL","source":"callback","startedAt":100,"state":"stopped","stoppedAt":300,"taskId":"main"}],"updatedAt":310}"#
        );
        assert_eq!(
            String::from_utf8(render(7, 9, None).bytes).expect("UTF-8"),
            r#"{"error":null,"exceptionCount":null,"finishReason":null,"groupId":null,"imSyncTime":null,"pushUserId":null,"roomId":9,"sdkAppId":7,"startedAt":null,"state":"idle","stoppedAt":null,"taskId":null,"tasks":[],"updatedAt":null}"#
        );
        let mut room = Room::new();
        room.apply(reconciled("older", 50, 80, 90));
        room.apply(stopped("main", 100, 300, 310));
        room.apply(started("live", 200, 200));
        let live = render(1400000001, 1253, Some(&room));
        assert_eq!(
            String::from_utf8_lossy(&live.bytes),
            r#"{"error":null,"exceptionCount":null,"finishReason":null,"groupId":null,"imSyncTime":null,"pushUserId":"user-live","roomId":1253,"sdkAppId":1400000001,"startedAt":200,"state":"streaming","stoppedAt":null,"taskId":"live","tasks":[{"finishReason":null,"source":"callback","startedAt":200,"state":"streaming","stoppedAt":null,"taskId":"live"},{"finishReason":"USER_CALL","source":"callback","startedAt":100,"state":"stopped","stoppedAt":300,"taskId":"main"},{"finishReason":"AUTO","source":"reconciled","startedAt":50,"state":"stopped","stoppedAt":80,"taskId":"older"}],"updatedAt":310}"#
        );
        assert_eq!(live.etag, r#""d88bf8fd125807bb3848438d3d652bf5""#);
        assert_eq!(
            crate::core::live::status_message(&live),
            r#"{"etag":"\"d88bf8fd125807bb3848438d3d652bf5\"","room":{"error":null,"exceptionCount":null,"finishReason":null,"groupId":null,"imSyncTime":null,"pushUserId":"user-live","roomId":1253,"sdkAppId":1400000001,"startedAt":200,"state":"streaming","stoppedAt":null,"taskId":"live","tasks":[{"finishReason":null,"source":"callback","startedAt":200,"state":"streaming","stoppedAt":null,"taskId":"live"},{"finishReason":"USER_CALL","source":"callback","startedAt":100,"state":"stopped","stoppedAt":300,"taskId":"main"},{"finishReason":"AUTO","source":"reconciled","startedAt":50,"state":"stopped","stoppedAt":80,"taskId":"older"}],"updatedAt":310},"type":"status"}"#
        );
    }

    #[test]
    fn never_seen_room_is_idle_with_null_fields() {
        let body = status_body(1400000001, 1253, None);
        assert_eq!(body["state"], "idle");
        assert_eq!(body["roomId"], 1253);
        assert_eq!(body["sdkAppId"], 1400000001u64);
        assert_eq!(body["taskId"], Value::Null);
        assert_eq!(body["updatedAt"], Value::Null);
        assert_eq!(body["tasks"], json!([]));
    }

    #[test]
    fn streaming_task_is_the_headline_even_when_another_stopped_later() {
        let mut room = Room::new();
        room.apply(started("main", 100, 100));
        room.apply(stopped("backup", 90, 500, 500));
        let body = status_body(1, 7, Some(&room));
        assert_eq!(body["state"], "streaming");
        assert_eq!(body["taskId"], "main");
        assert_eq!(body["startedAt"], 100);
        assert_eq!(body["stoppedAt"], Value::Null);
        assert_eq!(body["updatedAt"], 500);
        assert_eq!(body["tasks"][0]["taskId"], "main");
        assert_eq!(body["tasks"][1]["state"], "stopped");
    }

    #[test]
    fn all_stopped_room_shows_the_latest_stop() {
        let mut room = Room::new();
        room.apply(stopped("a", 100, 300, 300));
        room.apply(stopped("b", 200, 250, 250));
        let body = status_body(1, 7, Some(&room));
        assert_eq!(body["state"], "stopped");
        assert_eq!(body["taskId"], "a");
        assert_eq!(body["finishReason"], "USER_CALL");
        assert_eq!(body["tasks"][0]["taskId"], "b");
    }

    #[test]
    fn a_reconciled_task_counts_as_stopped_and_says_where_it_came_from() {
        let mut room = Room::new();
        room.apply(started("main", 100, 100));
        room.apply(stopped("backup", 90, 150, 150));
        let streaming = status_body(1, 7, Some(&room));
        assert_eq!(streaming["state"], "streaming");
        assert_eq!(streaming["tasks"][0]["source"], "callback");
        assert_eq!(streaming["tasks"][1]["source"], "callback");

        room.apply(reconciled("main", 100, 400, 1000));
        let body = status_body(1, 7, Some(&room));
        assert_eq!(body["state"], "stopped");
        assert_eq!(body["taskId"], "main");
        assert_eq!(body["stoppedAt"], 400);
        assert_eq!(body["finishReason"], "AUTO");
        assert_eq!(body["updatedAt"], 1000);
        assert_eq!(
            body["tasks"][0],
            json!({"taskId": "main", "state": "stopped", "startedAt": 100, "stoppedAt": 400,
                   "finishReason": "AUTO", "source": "reconciled"})
        );
        assert_eq!(body["tasks"][1]["source"], "callback");

        room.apply(stopped("main", 100, 390, 390));
        let replaced = status_body(1, 7, Some(&room));
        assert_eq!(replaced["tasks"][0]["source"], "callback");
        assert_eq!(replaced["stoppedAt"], 390);
    }

    #[test]
    fn etag_is_strong_and_changes_with_the_body() {
        let a = etag(b"{\"a\":1}");
        assert!(a.starts_with('"') && a.ends_with('"') && !a.starts_with("W/"));
        assert_ne!(a, etag(b"{\"a\":2}"));
    }

    #[test]
    fn if_none_match_follows_rfc_9110() {
        let tag = "\"abc\"";
        assert!(if_none_match(Some("\"abc\""), tag));
        assert!(if_none_match(Some("W/\"abc\""), tag));
        assert!(if_none_match(Some("\"x\", \"abc\""), tag));
        assert!(if_none_match(Some("*"), tag));
        assert!(!if_none_match(Some("\"abcd\""), tag));
        assert!(!if_none_match(None, tag));
    }

    #[test]
    fn room_ids_allow_leading_zeros_and_reject_the_rest() {
        assert_eq!(parse_room_id("0001253"), Ok(1253));
        assert_eq!(parse_room_id("4294967295"), Ok(u32::MAX));
        for bad in [
            "",
            "0",
            "4294967296",
            "-1",
            "+1",
            "12a",
            " 1",
            "1.0",
            "99999999999",
        ] {
            assert_eq!(parse_room_id(bad), Err(ApiError::InvalidRoomId), "{bad}");
        }
    }

    #[test]
    fn batch_ids_keep_first_appearance_order() {
        assert_eq!(parse_room_ids(Some("3,1,3,2,01")), Ok(vec![3, 1, 2]));
        assert_eq!(parse_room_ids(None), Err(ApiError::InvalidRoomId));
        assert_eq!(parse_room_ids(Some("")), Err(ApiError::InvalidRoomId));
        assert_eq!(parse_room_ids(Some("1,,2")), Err(ApiError::InvalidRoomId));
        let many: Vec<String> = (1..=101).map(|i| i.to_string()).collect();
        assert_eq!(
            parse_room_ids(Some(&many.join(","))),
            Err(ApiError::TooManyRooms(101))
        );
        let repeated = format!("{},{}", many[..100].join(","), "1,2,3");
        assert_eq!(parse_room_ids(Some(&repeated)).map(|v| v.len()), Ok(100));
    }

    #[test]
    fn app_selection_defaults_to_the_first() {
        let apps = [14, 15];
        assert_eq!(pick_app(None, &apps), Ok(14));
        assert_eq!(pick_app(Some("15"), &apps), Ok(15));
        assert_eq!(pick_app(Some("16"), &apps), Err(ApiError::UnknownQueryApp));
        assert_eq!(pick_app(Some("x"), &apps), Err(ApiError::UnknownQueryApp));
    }
}
