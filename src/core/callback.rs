//! A TIW callback from bytes to a verified event: checks 2 to 10 of API.md, in order.
//!
//! Tencent's `PascalCase` names are mapped here, once, to the names the rest of the worker
//! uses. Check 1 (the size limit) belongs to the shell, which reads the body.
//!
//! Check 2 is the worker's one JSON reader ([`json::parse`]) under [`MAX_DEPTH`] and
//! [`MAX_VALUES`], so no body within the 64 KiB limit costs more than a fraction of a
//! millisecond to refuse (benches/core.rs times the worst shapes). Checks 3 and 10 read the
//! tree it builds.

use serde::{Serialize, Serializer};

use crate::core::config::{Config, Signing};
use crate::core::http::ApiError;
use crate::core::json::{self, Json, Limits, Number};
use crate::core::signature;
use crate::core::tencent::{PushTask, TaskStatus};

pub const PUSH_STARTED: &str = "WhiteboardPushStarted";
pub const PUSH_STOPPED: &str = "WhiteboardPushStopped";
/// Largest room id TIW issues (an unsigned 32-bit integer).
pub const MAX_ROOM_ID: u64 = 4_294_967_295;
/// Check 2 refuses a body nested deeper than this (the top-level object is level 1).
/// A TIW callback is 3 levels deep.
pub const MAX_DEPTH: usize = 32;
/// Check 2 refuses a body of more values than this (every value at every depth, the
/// top-level object included). A push callback holds about 20.
pub const MAX_VALUES: usize = 4096;

/// The callback envelope after check 3: every field of its documented type.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub event_type: String,
    /// Kept as the JSON integer it was, so a negative one fails as `unknown_app`.
    pub sdk_app_id: Number,
    pub timestamp: Option<i64>,
    pub expire_time: Option<ExpireTime>,
    pub sign: Option<String>,
    /// The members of `EventData`, in body order; check 2 refused a name twice.
    pub event_data: Option<Vec<(String, Json)>>,
}

/// `ExpireTime` as its value and as the digits that were signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpireTime {
    pub value: i64,
    pub digits: String,
}

/// A callback that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub event_type: String,
    pub sdk_app_id: u64,
    /// False only when it was accepted unsigned (`ALLOW_UNSIGNED=true`).
    pub signed: bool,
    pub event: Event,
    /// Optional fields dropped because of their type, for the log.
    pub dropped_fields: Vec<&'static str>,
}

/// What a verified callback means for room state.
// One per request, never stored in bulk: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Push(PushEvent),
    /// Another TIW event type, or a push event carrying only an `Error`: accepted, not stored.
    Ignored,
}

/// What a task's record is. The order is the precedence of API.md: a `Stopped` callback over
/// a reconciled stop over a `Started` (the merge in `room.rs` relies on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PushKind {
    Started,
    /// A stop learnt from Tencent's `DescribeWhiteboardPush`, not from a callback.
    Reconciled,
    Stopped,
}

/// One `WhiteboardPushStarted` / `WhiteboardPushStopped`, whole, or a reconciled stop: the unit
/// that room state stores per task. Field names are the sender's, in snake_case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PushEvent {
    pub kind: PushKind,
    pub task_id: String,
    pub room_id: u32,
    pub timestamp: Option<i64>,
    pub push_user_id: Option<String>,
    pub push_start_time: Option<i64>,
    pub push_stop_time: Option<i64>,
    pub group_id: Option<String>,
    pub finish_reason: Option<String>,
    pub im_sync_time: Option<i64>,
    pub exception_count: Option<i64>,
    pub error: Option<PushError>,
}

/// `EventData.Error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushError {
    pub code: String,
    pub message: String,
}

impl Serialize for PushKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            PushKind::Started => "started",
            PushKind::Reconciled => "reconciled",
            PushKind::Stopped => "stopped",
        })
    }
}

impl PushKind {
    fn from_json(json: &Json) -> Option<PushKind> {
        match json.as_str()? {
            "started" => Some(PushKind::Started),
            "reconciled" => Some(PushKind::Reconciled),
            "stopped" => Some(PushKind::Stopped),
            _ => None,
        }
    }
}

impl PushError {
    fn from_json(json: &Json) -> Option<PushError> {
        if !json.has_only(&["code", "message"]) {
            return None;
        }
        Some(PushError {
            code: json.string("code")?,
            message: json.string("message")?,
        })
    }
}

impl PushEvent {
    /// A record as room state stores it (its `Serialize`): every member known, the
    /// required ones present, each of its type (an optional one may be `null`).
    pub fn from_json(json: &Json) -> Option<PushEvent> {
        const MEMBERS: &[&str] = &[
            "kind",
            "taskId",
            "roomId",
            "timestamp",
            "pushUserId",
            "pushStartTime",
            "pushStopTime",
            "groupId",
            "finishReason",
            "imSyncTime",
            "exceptionCount",
            "error",
        ];
        if !json.has_only(MEMBERS) {
            return None;
        }
        Some(PushEvent {
            kind: PushKind::from_json(json.get("kind")?)?,
            task_id: json.string("taskId")?,
            room_id: json.get("roomId")?.as_u32()?,
            timestamp: json.optional("timestamp", Json::as_i64)?,
            push_user_id: json.optional("pushUserId", Json::to_owned_string)?,
            push_start_time: json.optional("pushStartTime", Json::as_i64)?,
            push_stop_time: json.optional("pushStopTime", Json::as_i64)?,
            group_id: json.optional("groupId", Json::to_owned_string)?,
            finish_reason: json.optional("finishReason", Json::to_owned_string)?,
            im_sync_time: json.optional("imSyncTime", Json::as_i64)?,
            exception_count: json.optional("exceptionCount", Json::as_i64)?,
            error: json.optional("error", PushError::from_json)?,
        })
    }

    /// The reconciled stop of a task whose record is `current`, from Tencent's answer about
    /// it, learnt at `now`. `None` unless `current` is a `Started`, the answer says `STOPPED`,
    /// and names no other task.
    ///
    /// It keeps the `Started` record's start time, so the task ranks where it ranked; the rest
    /// comes from the answer (`PushStopTime`, `FinishReason`, `ExceptionCnt`, `IMSyncTime`,
    /// `PushUserId`, `GroupId`), and its `timestamp` is `now`.
    pub fn reconciled_stop(current: &PushEvent, answer: &PushTask, now: i64) -> Option<PushEvent> {
        let same_task = answer
            .task_id
            .as_ref()
            .is_none_or(|task| *task == current.task_id);
        if current.kind != PushKind::Started || answer.status != TaskStatus::Stopped || !same_task {
            return None;
        }
        Some(PushEvent {
            kind: PushKind::Reconciled,
            task_id: current.task_id.clone(),
            room_id: current.room_id,
            timestamp: Some(now),
            push_user_id: answer.push_user_id.clone(),
            push_start_time: current.push_start_time,
            push_stop_time: answer.push_stop_time,
            group_id: answer.group_id.clone(),
            finish_reason: answer.finish_reason.clone(),
            im_sync_time: answer.im_sync_time,
            exception_count: answer.exception_count,
            error: None,
        })
    }
}

/// Checks 2 to 10 of API.md on a body that already passed the size limit.
pub fn verify(body: &[u8], config: &Config, now: i64) -> Result<Verified, ApiError> {
    verify_envelope(parse(body)?, config, now)
}

/// Checks 2 and 3: the body as a typed envelope.
pub fn parse(body: &[u8]) -> Result<Envelope, ApiError> {
    parse_envelope(parse_object(body)?)
}

/// Checks 4 to 10 on an envelope that passed checks 2 and 3.
pub fn verify_envelope(
    envelope: Envelope,
    config: &Config,
    now: i64,
) -> Result<Verified, ApiError> {
    let sdk_app_id = envelope
        .sdk_app_id
        .as_u64()
        .filter(|id| config.sdk_app_ids.contains(id))
        .ok_or(ApiError::UnknownApp)?;

    let signed = match config.signing() {
        Signing::Missing => return Err(ApiError::NotConfigured("CALLBACK_KEY")),
        Signing::Unsigned => false,
        Signing::Configured => {
            let (Some(sign), Some(expire)) = (&envelope.sign, &envelope.expire_time) else {
                return Err(ApiError::MissingSignature);
            };
            if !signature::matches_any(config.callback_keys(), &expire.digits, sign) {
                return Err(ApiError::BadSignature);
            }
            signature::check_window(
                expire.value,
                now,
                config.expire_leeway_seconds,
                config.max_expire_ahead_seconds,
            )?;
            true
        }
    };

    let mut dropped_fields = Vec::new();
    let event = parse_event(&envelope, &mut dropped_fields)?;
    Ok(Verified {
        event_type: envelope.event_type,
        sdk_app_id,
        signed,
        event,
        dropped_fields,
    })
}

/// Check 2: UTF-8 JSON, an object, no member name twice at any depth, at most [`MAX_DEPTH`]
/// levels deep and [`MAX_VALUES`] values.
fn parse_object(body: &[u8]) -> Result<Vec<(String, Json)>, ApiError> {
    let limits = Limits {
        depth: MAX_DEPTH,
        values: MAX_VALUES,
    };
    match json::parse(body, limits) {
        Ok(Json::Object(members)) => Ok(members),
        Ok(_) => Err(ApiError::MalformedJson(
            "the top level is not an object".into(),
        )),
        Err(e) => Err(ApiError::MalformedJson(e.to_string())),
    }
}

/// Check 3: the envelope fields have their documented types.
fn parse_envelope(mut object: Vec<(String, Json)>) -> Result<Envelope, ApiError> {
    let invalid = |why: &str| ApiError::InvalidEnvelope(why.to_string());
    let mut remove = |name: &str| {
        let i = object.iter().position(|(member, _)| member == name)?;
        Some(object.swap_remove(i).1)
    };

    let event_type = match remove("EventType") {
        Some(Json::String(s)) => s,
        None => return Err(invalid("EventType is required")),
        Some(_) => return Err(invalid("EventType must be a string")),
    };
    let sdk_app_id = match remove("SdkAppId") {
        Some(Json::Number(n)) if n.is_integer() => n,
        None => return Err(invalid("SdkAppId is required")),
        Some(_) => return Err(invalid("SdkAppId must be an integer")),
    };
    let timestamp = match remove("Timestamp") {
        None => None,
        Some(Json::Number(n)) if n.as_i64().is_some() => n.as_i64(),
        Some(_) => return Err(invalid("Timestamp must be an integer")),
    };
    let expire_time = match remove("ExpireTime") {
        None => None,
        // An integer's digits are its decimal text: JSON writes no `+`, and no leading zero.
        Some(Json::Number(n)) => match n.as_i64() {
            Some(value) => Some(ExpireTime {
                value,
                digits: value.to_string(),
            }),
            None => return Err(invalid("ExpireTime must be an integer")),
        },
        Some(Json::String(digits)) => {
            let value = (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
                .then(|| digits.parse::<i64>().ok())
                .flatten()
                .ok_or_else(|| invalid("ExpireTime must be an integer or a string of digits"))?;
            Some(ExpireTime { value, digits })
        }
        Some(_) => {
            return Err(invalid(
                "ExpireTime must be an integer or a string of digits",
            ))
        }
    };
    let sign = match remove("Sign") {
        None => None,
        Some(Json::String(s)) => Some(s),
        Some(_) => return Err(invalid("Sign must be a string")),
    };
    let event_data = match remove("EventData") {
        None => None,
        Some(Json::Object(members)) => Some(members),
        Some(_) => return Err(invalid("EventData must be an object")),
    };
    Ok(Envelope {
        event_type,
        sdk_app_id,
        timestamp,
        expire_time,
        sign,
        event_data,
    })
}

/// The member `name` of an object's members.
fn member<'a>(members: &'a [(String, Json)], name: &str) -> Option<&'a Json> {
    members
        .iter()
        .find(|(member, _)| member == name)
        .map(|(_, value)| value)
}

/// Check 10 for the two push events; every other event type is `Ignored`.
fn parse_event(envelope: &Envelope, dropped: &mut Vec<&'static str>) -> Result<Event, ApiError> {
    let kind = match envelope.event_type.as_str() {
        PUSH_STARTED => PushKind::Started,
        PUSH_STOPPED => PushKind::Stopped,
        _ => return Ok(Event::Ignored),
    };
    let invalid = |why: &str| ApiError::InvalidEvent(why.to_string());
    let data = envelope.event_data.as_deref().unwrap_or_default();

    let error_only = matches!(member(data, "Error"), Some(Json::Object(_)))
        && member(data, "TaskId").is_none()
        && member(data, "RoomId").is_none();
    if error_only {
        return Ok(Event::Ignored);
    }

    let task_id = match member(data, "TaskId") {
        Some(Json::String(s)) if !s.is_empty() => s.clone(),
        Some(Json::String(_)) => return Err(invalid("TaskId must not be empty")),
        None => return Err(invalid("TaskId is required")),
        Some(_) => return Err(invalid("TaskId must be a string")),
    };
    let room_id = match member(data, "RoomId") {
        Some(Json::Number(n)) if n.is_integer() => n
            .as_u64()
            .filter(|id| (1..=MAX_ROOM_ID).contains(id))
            .and_then(|id| u32::try_from(id).ok())
            .ok_or_else(|| invalid("RoomId must be from 1 to 4294967295"))?,
        None => return Err(invalid("RoomId is required")),
        Some(_) => return Err(invalid("RoomId must be an integer")),
    };

    let mut fields = Fields { data, dropped };
    let push_user_id = fields.string("PushUserId");
    let push_start_time = fields.integer("PushStartTime");
    if kind == PushKind::Started {
        if !matches!(member(data, "PushUserId"), Some(Json::String(_))) {
            return Err(invalid("PushUserId is required and must be a string"));
        }
        if push_start_time.is_none() {
            return Err(invalid("PushStartTime is required and must be an integer"));
        }
    }
    Ok(Event::Push(PushEvent {
        kind,
        task_id,
        room_id,
        timestamp: envelope.timestamp,
        push_user_id,
        push_start_time,
        push_stop_time: fields.integer("PushStopTime"),
        group_id: fields.string("GroupId"),
        finish_reason: fields.string("FinishReason"),
        im_sync_time: fields.integer("IMSyncTime"),
        exception_count: fields.integer("ExceptionCnt"),
        error: fields.error(),
    }))
}

/// Reads optional `EventData` fields; one of the wrong type is dropped and remembered.
struct Fields<'a> {
    data: &'a [(String, Json)],
    dropped: &'a mut Vec<&'static str>,
}

impl Fields<'_> {
    fn string(&mut self, name: &'static str) -> Option<String> {
        match member(self.data, name) {
            None | Some(Json::Null) => None,
            Some(Json::String(s)) => Some(s.clone()),
            Some(_) => self.drop(name),
        }
    }

    fn integer(&mut self, name: &'static str) -> Option<i64> {
        match member(self.data, name) {
            None | Some(Json::Null) => None,
            Some(Json::Number(n)) if n.as_i64().is_some() => n.as_i64(),
            Some(_) => self.drop(name),
        }
    }

    fn error(&mut self) -> Option<PushError> {
        match member(self.data, "Error") {
            None | Some(Json::Null) => None,
            Some(Json::Object(e)) => match (member(e, "Code"), member(e, "Message")) {
                (Some(Json::String(code)), message) => Some(PushError {
                    code: code.clone(),
                    message: match message {
                        Some(Json::String(m)) => m.clone(),
                        _ => String::new(),
                    },
                }),
                _ => self.drop("Error"),
            },
            Some(_) => self.drop("Error"),
        }
    }

    fn drop<T>(&mut self, name: &'static str) -> Option<T> {
        self.dropped.push(name);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::signature::sign;
    use serde_json::{json, Value};

    const KEY: &str = "Xz4ZgayTr7rMgWQrH";
    const APP: u64 = 1400000001;
    const NOW: i64 = 1_700_000_000;

    fn config(extra: &[(&str, &str)]) -> Config {
        let mut vars = vec![
            ("SDK_APP_IDS".to_string(), APP.to_string()),
            ("CALLBACK_KEY".to_string(), KEY.to_string()),
        ];
        vars.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Config::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .expect("test config is valid")
    }

    fn signed(mut body: Value) -> Vec<u8> {
        let expire = NOW + 60;
        body["ExpireTime"] = json!(expire);
        body["Sign"] = json!(sign(KEY, &expire.to_string()));
        body.to_string().into_bytes()
    }

    fn started() -> Value {
        json!({
            "EventType": PUSH_STARTED,
            "SdkAppId": APP,
            "Timestamp": NOW,
            "EventData": {
                "TaskId": "task-a",
                "RoomId": 1253,
                "PushUserId": "tic_push_user_1253_01",
                "PushStartTime": NOW - 5,
            }
        })
    }

    fn error_of(body: &[u8], config: &Config) -> &'static str {
        match verify(body, config, NOW) {
            Err(e) => e.code(),
            Ok(v) => panic!("expected a rejection, got {v:?}"),
        }
    }

    #[test]
    fn a_signed_started_event_verifies() {
        let v = verify(&signed(started()), &config(&[]), NOW).expect("verifies");
        assert_eq!(v.sdk_app_id, APP);
        assert!(v.signed);
        let Event::Push(push) = v.event else {
            panic!("not a push event")
        };
        assert_eq!(push.kind, PushKind::Started);
        assert_eq!(push.task_id, "task-a");
        assert_eq!(push.room_id, 1253);
        assert_eq!(push.push_start_time, Some(NOW - 5));
    }

    #[test]
    fn malformed_bodies_fail_check_two() {
        let c = config(&[]);
        for body in [
            &b""[..],
            b"not json",
            b"[1,2]",
            b"\"str\"",
            b"{\"a\":1",
            b"{\"a\":\xff}",
            b"{\"a\":1,\"a\":2}",
            b"{\"EventData\":{\"x\":{\"y\":1,\"y\":1}}}",
        ] {
            assert_eq!(error_of(body, &c), "malformed_json", "{body:?}");
        }
    }

    /// An unsigned body of `values` JSON values in all, `depth` levels deep: it passes check 2
    /// exactly when it is within the limits, and then fails at check 6.
    fn shaped(values: usize, depth: usize) -> Vec<u8> {
        // The object, EventType, SdkAppId, and the array "X" holding the rest.
        let nest = "[".repeat(depth - 2) + &"]".repeat(depth - 2);
        let zeros = vec!["0"; values - 4 - (depth - 2)];
        format!(
            r#"{{"EventType":"X","SdkAppId":{APP},"X":[{nest}{}{}]}}"#,
            if zeros.is_empty() { "" } else { "," },
            zeros.join(",")
        )
        .into_bytes()
    }

    #[test]
    fn bodies_within_the_depth_and_value_limits_pass_check_two() {
        let c = config(&[]);
        assert_eq!(
            error_of(&shaped(MAX_VALUES, MAX_DEPTH), &c),
            "missing_signature"
        );
        assert_eq!(error_of(&shaped(40, 3), &c), "missing_signature");
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_malformed() {
        let c = config(&[]);
        assert_eq!(error_of(&shaped(100, MAX_DEPTH + 1), &c), "malformed_json");
        let deep = format!(
            r#"{{"EventType":"X","SdkAppId":{APP},"X":{}0{}}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert_eq!(error_of(deep.as_bytes(), &c), "malformed_json");
        let objects = format!(r#"{{"X":{}0{}}}"#, r#"{"a":"#.repeat(40), "}".repeat(40));
        assert_eq!(error_of(objects.as_bytes(), &c), "malformed_json");
    }

    #[test]
    fn more_values_than_the_limit_are_malformed() {
        let c = config(&[]);
        assert_eq!(error_of(&shaped(MAX_VALUES + 1, 3), &c), "malformed_json");
        let members: Vec<String> = (0..MAX_VALUES).map(|i| format!(r#""m{i}":{{}}"#)).collect();
        let wide = format!("{{{}}}", members.join(","));
        assert_eq!(error_of(wide.as_bytes(), &c), "malformed_json");
    }

    #[test]
    fn a_repeated_name_is_malformed_however_it_is_written_or_hidden() {
        let c = config(&[]);
        let many: Vec<String> = (0..1000).map(|i| format!(r#""n{i}":{i}"#)).collect();
        for body in [
            r#"{"a":1,"\u0061":2}"#.to_string(),
            r#"{"EventType":"X","EventType":"X","SdkAppId":1}"#.to_string(),
            r#"{"X":[1,{"b":[{"c":1,"d":2,"c":3}]}]}"#.to_string(),
            format!(r#"{{"n500":0,{}}}"#, many.join(",")),
            format!(r#"{{"EventData":{{{},"n999":0}}}}"#, many.join(",")),
        ] {
            assert_eq!(
                error_of(body.as_bytes(), &c),
                "malformed_json",
                "{body:.60}"
            );
        }
        // The same name in different objects is no repetition.
        let siblings = format!(
            r#"{{"EventType":"X","SdkAppId":{APP},"A":{{"n":1}},"B":{{"n":1}},"n":{{"n":{{"n":1}}}}}}"#
        );
        assert_eq!(error_of(siblings.as_bytes(), &c), "missing_signature");
    }

    #[test]
    fn unread_members_are_checked_for_utf8_and_escapes() {
        let c = config(&[]);
        for body in [
            &b"{\"X\":\"\xff\"}"[..],
            b"{\"X\":{\"\xc3\":1}}",
            br#"{"X":["\ud800"]}"#,
            br#"{"X":"\q"}"#,
            b"{\"X\":\"tab\there\"}",
            br#"{"X":1e400}"#,
            br#"{"X":[1,]}"#,
        ] {
            assert_eq!(error_of(body, &c), "malformed_json", "{body:?}");
        }
    }

    #[test]
    fn event_data_keeps_its_members_in_body_order() {
        let body = format!(
            r#"{{"EventType":"X","SdkAppId":{APP},"Extra":{{"a":[1,2]}},"EventData":{{"TaskId":"t","Other":-1,"Error":{{"Code":"c","More":2.5}}}}}}"#
        );
        let envelope = parse(body.as_bytes()).expect("check 2 and 3 pass");
        assert_eq!(envelope.sdk_app_id, Number::Unsigned(APP));
        let data = envelope.event_data.expect("EventData is an object");
        assert_eq!(
            data,
            [
                ("TaskId".to_string(), Json::String("t".into())),
                ("Other".to_string(), Json::Number(Number::Negative(-1))),
                (
                    "Error".to_string(),
                    Json::Object(vec![
                        ("Code".to_string(), Json::String("c".into())),
                        ("More".to_string(), Json::Number(Number::Float)),
                    ])
                )
            ]
        );
    }

    #[test]
    fn every_field_check_ten_reads_reaches_the_event() {
        let body = json!({
            "EventType": PUSH_STOPPED, "SdkAppId": APP, "Timestamp": NOW,
            "EventData": {
                "TaskId": "t", "RoomId": 9, "GroupId": "g", "PushUserId": "u",
                "FinishReason": "EXCEPTION", "PushStartTime": NOW - 9, "PushStopTime": NOW - 1,
                "IMSyncTime": NOW - 8, "ExceptionCnt": 3,
                "Error": {"Code": "FailedOperation.Record", "Message": "m"}
            }
        });
        let v = verify(&signed(body), &config(&[]), NOW).expect("verifies");
        assert!(v.dropped_fields.is_empty());
        assert_eq!(
            v.event,
            Event::Push(PushEvent {
                kind: PushKind::Stopped,
                task_id: "t".into(),
                room_id: 9,
                timestamp: Some(NOW),
                push_user_id: Some("u".into()),
                push_start_time: Some(NOW - 9),
                push_stop_time: Some(NOW - 1),
                group_id: Some("g".into()),
                finish_reason: Some("EXCEPTION".into()),
                im_sync_time: Some(NOW - 8),
                exception_count: Some(3),
                error: Some(PushError {
                    code: "FailedOperation.Record".into(),
                    message: "m".into(),
                }),
            })
        );
    }

    #[test]
    fn envelope_fields_of_a_container_type_keep_their_kind() {
        let c = config(&[]);
        for body in [
            json!({"EventType": {"a": 1}, "SdkAppId": APP}),
            json!({"EventType": "X", "SdkAppId": [APP]}),
            json!({"EventType": "X", "SdkAppId": APP, "EventData": [{"TaskId": "t"}]}),
        ] {
            assert_eq!(
                error_of(body.to_string().as_bytes(), &c),
                "invalid_envelope",
                "{body}"
            );
        }
        let mut array_error = started();
        array_error["EventData"]["Error"] = json!([{"Code": "c"}]);
        let v = verify(&signed(array_error), &c, NOW).expect("verifies");
        assert_eq!(v.dropped_fields, vec!["Error"]);
    }

    #[test]
    fn envelope_types_are_enforced() {
        let c = config(&[]);
        let cases = [
            json!({"SdkAppId": APP}),
            json!({"EventType": 1, "SdkAppId": APP}),
            json!({"EventType": null, "SdkAppId": APP}),
            json!({"EventType": "X"}),
            json!({"EventType": "X", "SdkAppId": "1400000001"}),
            json!({"EventType": "X", "SdkAppId": 1.5}),
            json!({"EventType": "X", "SdkAppId": APP, "Timestamp": "1"}),
            json!({"EventType": "X", "SdkAppId": APP, "ExpireTime": "12a"}),
            json!({"EventType": "X", "SdkAppId": APP, "ExpireTime": ""}),
            json!({"EventType": "X", "SdkAppId": APP, "ExpireTime": -1.5}),
            json!({"EventType": "X", "SdkAppId": APP, "Sign": 5}),
            json!({"EventType": "X", "SdkAppId": APP, "EventData": []}),
            json!({"EventType": "X", "SdkAppId": APP, "EventData": null}),
        ];
        for body in cases {
            assert_eq!(
                error_of(body.to_string().as_bytes(), &c),
                "invalid_envelope",
                "{body}"
            );
        }
    }

    #[test]
    fn unknown_or_negative_app_is_forbidden() {
        let c = config(&[]);
        for app in [json!(1400000002u64), json!(-1)] {
            let mut body = started();
            body["SdkAppId"] = app;
            assert_eq!(error_of(&signed(body), &c), "unknown_app");
        }
    }

    #[test]
    fn no_key_fails_closed_unless_unsigned_is_allowed() {
        let no_key = Config {
            callback_key: None,
            ..config(&[])
        };
        let body = started().to_string().into_bytes();
        assert_eq!(error_of(&body, &no_key), "not_configured");
        let unsigned = Config {
            allow_unsigned: true,
            ..no_key
        };
        let v = verify(&body, &unsigned, NOW).expect("accepted unsigned");
        assert!(!v.signed);
    }

    #[test]
    fn signature_checks_run_in_order() {
        let c = config(&[("MAX_EXPIRE_AHEAD_SECONDS", "300")]);
        let mut body = started();
        assert_eq!(
            error_of(body.to_string().as_bytes(), &c),
            "missing_signature"
        );
        body["ExpireTime"] = json!(NOW + 60);
        assert_eq!(
            error_of(body.to_string().as_bytes(), &c),
            "missing_signature"
        );
        body["Sign"] = json!("0".repeat(32));
        assert_eq!(error_of(body.to_string().as_bytes(), &c), "bad_signature");

        let past = NOW - 31;
        body["ExpireTime"] = json!(past);
        body["Sign"] = json!(sign(KEY, &past.to_string()));
        assert_eq!(error_of(body.to_string().as_bytes(), &c), "expired");

        let far = NOW + 301;
        body["ExpireTime"] = json!(far);
        body["Sign"] = json!(sign(KEY, &far.to_string()));
        assert_eq!(error_of(body.to_string().as_bytes(), &c), "expire_too_far");
    }

    #[test]
    fn expire_time_string_is_signed_exactly_as_received() {
        let c = config(&[]);
        let digits = format!("000{}", NOW + 60);
        let mut body = started();
        body["ExpireTime"] = json!(digits);
        body["Sign"] = json!(sign(KEY, &digits).to_uppercase());
        assert!(verify(body.to_string().as_bytes(), &c, NOW).is_ok());
        body["Sign"] = json!(sign(KEY, &(NOW + 60).to_string()));
        assert_eq!(error_of(body.to_string().as_bytes(), &c), "bad_signature");
    }

    #[test]
    fn push_events_need_their_required_fields() {
        let c = config(&[]);
        let broken: [(&str, Value); 9] = [
            ("TaskId", Value::Null),
            ("TaskId", json!("")),
            ("TaskId", json!(7)),
            ("RoomId", json!(0)),
            ("RoomId", json!(4294967296u64)),
            ("RoomId", json!("1253")),
            ("RoomId", json!(-3)),
            ("PushUserId", json!(1)),
            ("PushStartTime", json!("1")),
        ];
        for (field, value) in broken {
            let mut body = started();
            if value.is_null() {
                body["EventData"].as_object_mut().map(|d| d.remove(field));
            } else {
                body["EventData"][field] = value;
            }
            assert_eq!(error_of(&signed(body), &c), "invalid_event", "{field}");
        }
        let mut no_data = started();
        no_data.as_object_mut().map(|o| o.remove("EventData"));
        assert_eq!(error_of(&signed(no_data), &c), "invalid_event");
    }

    #[test]
    fn stopped_needs_only_task_and_room() {
        let body = json!({
            "EventType": PUSH_STOPPED, "SdkAppId": APP,
            "EventData": {"TaskId": "t", "RoomId": 4294967295u64}
        });
        let v = verify(&signed(body), &config(&[]), NOW).expect("verifies");
        assert!(matches!(
            v.event,
            Event::Push(PushEvent {
                room_id: u32::MAX,
                ..
            })
        ));
    }

    #[test]
    fn optional_fields_of_the_wrong_type_are_dropped_and_named() {
        let body = json!({
            "EventType": PUSH_STOPPED, "SdkAppId": APP, "Timestamp": NOW,
            "EventData": {
                "TaskId": "t", "RoomId": 9, "GroupId": 9, "FinishReason": "AUTO",
                "PushStopTime": "late", "ExceptionCnt": 2, "Error": "boom"
            }
        });
        let v = verify(&signed(body), &config(&[]), NOW).expect("verifies");
        assert_eq!(v.dropped_fields, vec!["PushStopTime", "GroupId", "Error"]);
        let Event::Push(push) = v.event else {
            panic!("not a push event")
        };
        assert_eq!(push.group_id, None);
        assert_eq!(push.finish_reason.as_deref(), Some("AUTO"));
        assert_eq!(push.exception_count, Some(2));
    }

    #[test]
    fn error_only_and_foreign_events_are_ignored() {
        let c = config(&[]);
        let error_only = json!({
            "EventType": PUSH_STOPPED, "SdkAppId": APP,
            "EventData": {"Error": {"Code": "FailedOperation.Record", "Message": "x"}}
        });
        let v = verify(&signed(error_only), &c, NOW).expect("verifies");
        assert_eq!(v.event, Event::Ignored);
        let foreign = json!({"EventType": "TranscodeFinished", "SdkAppId": APP});
        let v = verify(&signed(foreign), &c, NOW).expect("verifies");
        assert_eq!(v.event, Event::Ignored);
    }

    fn stopped_answer() -> PushTask {
        PushTask {
            status: TaskStatus::Stopped,
            task_id: Some("task-a".into()),
            room_id: Some(1253),
            group_id: Some("1253".into()),
            push_user_id: Some("tic_push_user_1253_01".into()),
            push_start_time: Some(NOW - 100),
            push_stop_time: Some(NOW + 500),
            finish_reason: Some("AUTO".into()),
            exception_count: Some(3),
            im_sync_time: Some(NOW - 4),
            backup: None,
            request_id: Some("req-1".into()),
        }
    }

    fn started_record() -> PushEvent {
        match verify(&signed(started()), &config(&[]), NOW).map(|v| v.event) {
            Ok(Event::Push(push)) => push,
            other => panic!("not a push event: {other:?}"),
        }
    }

    #[test]
    fn a_reconciled_stop_takes_the_answer_and_keeps_the_start() {
        let current = started_record();
        let later = NOW + 900;
        let stop = PushEvent::reconciled_stop(&current, &stopped_answer(), later)
            .expect("a Started task that Tencent says is STOPPED");
        assert_eq!(
            stop,
            PushEvent {
                kind: PushKind::Reconciled,
                task_id: "task-a".into(),
                room_id: 1253,
                timestamp: Some(later),
                push_user_id: Some("tic_push_user_1253_01".into()),
                // The Started's, not the answer's NOW - 100.
                push_start_time: Some(NOW - 5),
                push_stop_time: Some(NOW + 500),
                group_id: Some("1253".into()),
                finish_reason: Some("AUTO".into()),
                im_sync_time: Some(NOW - 4),
                exception_count: Some(3),
                error: None,
            }
        );
        assert_eq!(
            serde_json::to_value(&stop).map(|v| v["kind"].clone()).ok(),
            Some(json!("reconciled"))
        );
    }

    #[test]
    fn no_reconciled_stop_unless_started_and_stopped_for_the_same_task() {
        let current = started_record();
        for status in [
            TaskStatus::Prepared,
            TaskStatus::Pushing,
            TaskStatus::Other("UNKNOWN".into()),
        ] {
            let answer = PushTask {
                status,
                ..stopped_answer()
            };
            assert_eq!(PushEvent::reconciled_stop(&current, &answer, NOW), None);
        }
        let other_task = PushTask {
            task_id: Some("task-b".into()),
            ..stopped_answer()
        };
        assert_eq!(PushEvent::reconciled_stop(&current, &other_task, NOW), None);
        let no_task_id = PushTask {
            task_id: None,
            ..stopped_answer()
        };
        assert!(PushEvent::reconciled_stop(&current, &no_task_id, NOW).is_some());
        for kind in [PushKind::Stopped, PushKind::Reconciled] {
            let settled = PushEvent {
                kind,
                ..current.clone()
            };
            assert_eq!(
                PushEvent::reconciled_stop(&settled, &stopped_answer(), NOW),
                None
            );
        }
    }

    #[test]
    fn the_published_example_body_parses() {
        let body = br#"{"EventData":{"TaskId":"ghucnligqtgtvk2624mb","RoomId":880528,"GroupId":"880528","PushUserId":"tic_push_user_880528_test-01","FinishReason":"USER_CALL","PushStartTime":1568949369,"PushStopTime":1568949392,"IMSyncTime":1568949369,"ExceptionCnt":0},"EventType":"WhiteboardPushStopped","ExpireTime":1590046391,"SdkAppId":1400000001,"Sign":"a2dabb362a9b811c0e26953a6276a41c","Timestamp":1575545412}"#;
        let object = parse_object(body).expect("valid JSON");
        let envelope = parse_envelope(object).expect("valid envelope");
        assert_eq!(
            envelope.expire_time.as_ref().map(|e| e.value),
            Some(1590046391)
        );
        let event = parse_event(&envelope, &mut Vec::new()).expect("valid event");
        let Event::Push(push) = event else {
            panic!("not a push event")
        };
        assert_eq!(push.im_sync_time, Some(1568949369));
        assert_eq!(push.finish_reason.as_deref(), Some("USER_CALL"));
    }
}
