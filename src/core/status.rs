//! The public status view of a room, its strong `ETag`, and conditional-request matching.
//!
//! Pure rendering: the shell fetches the stored rooms (cache, then KV) and passes them in.
//! A reconciled stop shows as `stopped`, with `"source": "reconciled"` on its `tasks[]` entry.

use std::cmp::Ordering;

use md5::{Digest, Md5};
use serde_json::{json, Value};

use crate::core::callback::{PushEvent, PushKind, MAX_ROOM_ID};
use crate::core::http::{ApiError, MAX_BATCH_ROOMS};
use crate::core::room::{start_time, stop_time, Room};

/// The status body of one room (`room` is `None` for a room never seen).
pub fn room_status(sdk_app_id: u64, room_id: u32, room: Option<&Room>) -> Value {
    let tasks = room.map(Room::tasks).unwrap_or_default();
    let headline = headline_task(tasks);
    let state = match headline {
        None => "idle",
        Some(task) if task.is_streaming() => "streaming",
        Some(_) => "stopped",
    };
    let field = |f: fn(&PushEvent) -> Value| headline.map(f).unwrap_or(Value::Null);
    json!({
        "sdkAppId": sdk_app_id,
        "roomId": room_id,
        "state": state,
        "taskId": field(|t| json!(t.task_id)),
        "pushUserId": field(|t| json!(t.push_user_id)),
        "groupId": field(|t| json!(t.group_id)),
        "startedAt": field(|t| json!(t.push_start_time)),
        "stoppedAt": field(|t| json!(t.push_stop_time)),
        "finishReason": field(|t| json!(t.finish_reason)),
        "imSyncTime": field(|t| json!(t.im_sync_time)),
        "exceptionCount": field(|t| json!(t.exception_count)),
        "error": field(|t| json!(t.error.as_ref().map(|e| json!({"code": e.code, "message": e.message})))),
        "updatedAt": tasks.iter().filter_map(|t| t.timestamp).max(),
        "tasks": tasks.iter().map(|t| json!({
            "taskId": t.task_id,
            "state": if t.is_streaming() { "streaming" } else { "stopped" },
            "startedAt": t.push_start_time,
            "stoppedAt": t.push_stop_time,
            "finishReason": t.finish_reason,
            "source": if t.kind == PushKind::Reconciled { "reconciled" } else { "callback" },
        })).collect::<Vec<_>>(),
    })
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

/// One room's status answer as sent: the JSON body, its bytes and its ETag (the same for
/// `GET /rooms/{roomId}` and a live message).
pub struct Rendered {
    pub body: Value,
    pub bytes: Vec<u8>,
    pub etag: String,
}

pub fn render(sdk_app_id: u64, room_id: u32, room: Option<&Room>) -> Rendered {
    let body = room_status(sdk_app_id, room_id, room);
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let etag = etag(&bytes);
    Rendered { body, bytes, etag }
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
    use crate::core::room::tests::{reconciled, started, stopped};

    #[test]
    fn never_seen_room_is_idle_with_null_fields() {
        let body = room_status(1400000001, 1253, None);
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
        let body = room_status(1, 7, Some(&room));
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
        let body = room_status(1, 7, Some(&room));
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
        let streaming = room_status(1, 7, Some(&room));
        assert_eq!(streaming["state"], "streaming");
        assert_eq!(streaming["tasks"][0]["source"], "callback");
        assert_eq!(streaming["tasks"][1]["source"], "callback");

        room.apply(reconciled("main", 100, 400, 1000));
        let body = room_status(1, 7, Some(&room));
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
        let replaced = room_status(1, 7, Some(&room));
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
