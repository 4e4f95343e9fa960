//! Reconciliation with Tencent, the policy half: which of a room's tasks are due for a
//! `DescribeWhiteboardPush` check and when the next one is, and what the origin hears about a
//! reconciled stop.
//!
//! Pure: the room object keeps the per-task check times and the alarm, sends the request
//! (`tencent.rs`) and merges the reconciled stop (`PushEvent::reconciled_stop`, `room.rs`).
//! The rule (API.md): a task whose record has been a `Started` for `RECONCILE_AFTER_SECONDS`
//! is checked, and again every `RECONCILE_AFTER_SECONDS` while it stays `Started`.

use serde::{Serialize, Serializer};

use crate::core::callback::PushEvent;
use crate::core::json::Json;
use crate::core::room::{start_time, Outcome, Room};
use crate::core::tencent::PushTask;

/// The `EventType` of the origin body of a reconciled stop.
pub const EVENT_TYPE: &str = "WhiteboardPushReconciled";

/// When each task was last checked with Tencent (Unix seconds), by task id. The room object
/// persists it, as a JSON object; [`forget_settled`] keeps it as small as the room's streaming
/// tasks.
///
/// A `Vec` sorted by task id rather than a `BTreeMap`: it holds at most a room's few tasks,
/// and costs the wasm less code (same JSON, same order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LastChecked(Vec<(String, i64)>);

impl LastChecked {
    pub fn new() -> LastChecked {
        LastChecked(Vec::new())
    }

    /// As the object stores it: an object of task ids and times (a JSON object never names
    /// a task twice).
    pub fn from_json(json: &Json) -> Option<LastChecked> {
        json.as_object()?
            .iter()
            .map(|(task_id, at)| Some((task_id.clone(), at.as_i64()?)))
            .collect()
    }

    /// When `task_id` was last checked.
    pub fn get(&self, task_id: &str) -> Option<i64> {
        self.find(task_id).ok().map(|i| self.0[i].1)
    }

    /// Records a check of `task_id` at `at`, replacing an earlier one.
    pub fn insert(&mut self, task_id: String, at: i64) {
        match self.find(&task_id) {
            Ok(i) => self.0[i].1 = at,
            Err(i) => self.0.insert(i, (task_id, at)),
        }
    }

    fn find(&self, task_id: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(id, _)| id.as_str().cmp(task_id))
    }
}

impl FromIterator<(String, i64)> for LastChecked {
    fn from_iter<I: IntoIterator<Item = (String, i64)>>(entries: I) -> LastChecked {
        let mut checked = LastChecked::new();
        for (task_id, at) in entries {
            checked.insert(task_id, at);
        }
        checked
    }
}

impl Serialize for LastChecked {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(task_id, at)| (task_id, at)))
    }
}

/// When a task is next due for a check, or `None` when its record is not a `Started`:
/// `after_seconds` after the later of its start time (`PushStartTime`, else `Timestamp`) and
/// its last check. A start time that is unknown counts as long ago: due at once.
pub fn due_at(record: &PushEvent, last_checked: Option<i64>, after_seconds: u32) -> Option<i64> {
    if !record.is_streaming() {
        return None;
    }
    let since = start_time(record)
        .unwrap_or(i64::MIN)
        .max(last_checked.unwrap_or(i64::MIN));
    Some(since.saturating_add(i64::from(after_seconds)))
}

/// The tasks to check at `now`: every `Started` record whose [`due_at`] has come, best-ranked
/// first.
pub fn due_tasks<'a>(
    room: &'a Room,
    last_checked: &LastChecked,
    now: i64,
    after_seconds: u32,
) -> Vec<&'a str> {
    room.tasks()
        .iter()
        .filter(|record| {
            due_at(record, checked(last_checked, record), after_seconds).is_some_and(|t| t <= now)
        })
        .map(|record| record.task_id.as_str())
        .collect()
}

/// When the room's next check is due (the earliest [`due_at`] of its streaming tasks), or
/// `None` when no task is streaming (no alarm is needed). It may be in the past: set the
/// alarm to the later of it and now.
pub fn next_check_at(room: &Room, last_checked: &LastChecked, after_seconds: u32) -> Option<i64> {
    room.tasks()
        .iter()
        .filter_map(|record| due_at(record, checked(last_checked, record), after_seconds))
        .min()
}

/// Drops the check times of tasks that are no longer kept or no longer streaming.
pub fn forget_settled(last_checked: &mut LastChecked, room: &Room) {
    last_checked
        .0
        .retain(|(task_id, _)| room.task(task_id).is_some_and(PushEvent::is_streaming));
}

/// Applies Tencent's answer about one task: its reconciled stop when the task's record is
/// still a `Started` and the answer says `STOPPED`, merged by the room's rules. `None` when the
/// answer changes nothing (another status, or the task is no longer kept or streaming).
pub fn apply_answer(
    room: &mut Room,
    task_id: &str,
    answer: &PushTask,
    now: i64,
) -> Option<Outcome> {
    let stop = PushEvent::reconciled_stop(room.task(task_id)?, answer, now)?;
    Some(room.apply(stop))
}

fn checked(last_checked: &LastChecked, record: &PushEvent) -> Option<i64> {
    last_checked.get(&record.task_id)
}

/// The body the origin gets for a reconciled stop (API.md):
/// `{"EventType": "WhiteboardPushReconciled", "SdkAppId", "Timestamp": now, "EventData"}`,
/// where `EventData` holds Tencent's answer fields under Tencent's names (absent ones left
/// out), with `TaskId` and `RoomId` those of the task that was checked.
pub fn origin_body(
    sdk_app_id: u64,
    room_id: u32,
    task_id: &str,
    answer: &PushTask,
    now: i64,
) -> String {
    let body = OriginBody {
        event_type: EVENT_TYPE,
        sdk_app_id,
        timestamp: now,
        event_data: EventData {
            task_id,
            room_id,
            status: answer.status.as_str(),
            group_id: answer.group_id.as_deref(),
            push_user_id: answer.push_user_id.as_deref(),
            push_start_time: answer.push_start_time,
            push_stop_time: answer.push_stop_time,
            finish_reason: answer.finish_reason.as_deref(),
            exception_cnt: answer.exception_count,
            im_sync_time: answer.im_sync_time,
            backup: answer.backup.as_deref(),
            request_id: answer.request_id.as_deref(),
        },
    };
    // Strings and integers always serialise.
    serde_json::to_string(&body).unwrap_or_default()
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct OriginBody<'a> {
    event_type: &'static str,
    sdk_app_id: u64,
    timestamp: i64,
    event_data: EventData<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EventData<'a> {
    task_id: &'a str,
    room_id: u32,
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    push_user_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    push_start_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    push_stop_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finish_reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exception_cnt: Option<i64>,
    #[serde(rename = "IMSyncTime", skip_serializing_if = "Option::is_none")]
    im_sync_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    backup: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::json::{self, Limits};
    use crate::core::room::tests::{reconciled, started, stopped};
    use crate::core::tencent::TaskStatus;
    use serde_json::{json, Value};

    const AFTER: u32 = 900;

    fn checks(entries: &[(&str, i64)]) -> LastChecked {
        entries.iter().map(|&(t, at)| (t.to_string(), at)).collect()
    }

    #[test]
    fn a_started_task_is_first_due_the_interval_after_it_started() {
        let mut room = Room::new();
        room.apply(started("t", 1000, 1001));
        let none = LastChecked::new();
        assert_eq!(next_check_at(&room, &none, AFTER), Some(1900));
        assert!(due_tasks(&room, &none, 1899, AFTER).is_empty());
        assert_eq!(due_tasks(&room, &none, 1900, AFTER), ["t"]);
        assert_eq!(due_tasks(&room, &none, 5000, AFTER), ["t"]);
    }

    #[test]
    fn a_checked_task_is_due_again_every_interval_while_it_streams() {
        let mut room = Room::new();
        room.apply(started("t", 1000, 1000));
        // Checked late (at 1950): the next check counts from the check, not the schedule.
        let last = checks(&[("t", 1950)]);
        assert_eq!(next_check_at(&room, &last, AFTER), Some(2850));
        assert!(due_tasks(&room, &last, 2849, AFTER).is_empty());
        assert_eq!(due_tasks(&room, &last, 2850, AFTER), ["t"]);
        // A check time from before the start (a stale entry) does not make it due early.
        let stale = checks(&[("t", 10)]);
        assert_eq!(next_check_at(&room, &stale, AFTER), Some(1900));
    }

    #[test]
    fn stopped_and_reconciled_tasks_are_never_due() {
        let mut room = Room::new();
        room.apply(stopped("a", 1000, 1100, 1100));
        room.apply(reconciled("b", 1000, 1200, 1950));
        room.apply(started("c", 1000, 1000));
        room.apply(stopped("c", 1000, 1300, 1300));
        let none = LastChecked::new();
        assert!(due_tasks(&room, &none, i64::MAX, AFTER).is_empty());
        assert_eq!(next_check_at(&room, &none, AFTER), None);
        assert_eq!(next_check_at(&Room::new(), &none, AFTER), None);
    }

    #[test]
    fn several_tasks_share_the_earliest_due_time() {
        let mut room = Room::new();
        room.apply(started("late", 3000, 3000));
        room.apply(started("early", 1000, 1000));
        room.apply(started("checked", 500, 500));
        room.apply(stopped("done", 100, 200, 200));
        let last = checks(&[("checked", 2500), ("done", 150)]);
        assert_eq!(next_check_at(&room, &last, AFTER), Some(1900));
        assert_eq!(due_tasks(&room, &last, 1900, AFTER), ["early"]);
        assert_eq!(due_tasks(&room, &last, 3400, AFTER), ["early", "checked"]);
        assert_eq!(
            due_tasks(&room, &last, 3900, AFTER),
            ["late", "early", "checked"]
        );
    }

    #[test]
    fn huge_times_saturate_instead_of_overflowing() {
        let mut room = Room::new();
        room.apply(started("t", i64::MAX - 5, i64::MAX - 5));
        assert_eq!(
            next_check_at(&room, &LastChecked::new(), 86_400),
            Some(i64::MAX)
        );
    }

    #[test]
    fn settled_tasks_are_forgotten() {
        let mut room = Room::new();
        room.apply(started("live", 1000, 1000));
        room.apply(reconciled("healed", 900, 1100, 2000));
        let mut last = checks(&[("live", 1900), ("healed", 1990), ("evicted", 5)]);
        forget_settled(&mut last, &room);
        assert_eq!(last, checks(&[("live", 1900)]));
    }

    #[test]
    fn check_times_are_stored_as_an_object_sorted_by_task_id() {
        let mut last = LastChecked::new();
        last.insert("b".into(), 20);
        last.insert("a".into(), 10);
        last.insert("b".into(), 30);
        assert_eq!(last.get("b"), Some(30));
        assert_eq!(last.get("c"), None);
        let json = serde_json::to_string(&last).expect("JSON");
        assert_eq!(json, r#"{"a":10,"b":30}"#);
        let read = |text: &str| {
            json::parse(text.as_bytes(), Limits::TRUSTED)
                .ok()
                .and_then(|json| LastChecked::from_json(&json))
        };
        assert_eq!(read(&json), Some(last));
        assert_eq!(read("{}"), Some(LastChecked::new()));
        // Written unsorted, it reads sorted.
        assert_eq!(
            read(r#"{"z":1,"y":2}"#),
            Some(checks(&[("y", 2), ("z", 1)]))
        );
        // A task id twice is not a JSON object this worker reads (nor ever writes).
        assert_eq!(read(r#"{"z":1,"y":2,"z":3}"#), None);
        for wrong in [
            r#"{"a":"1"}"#,
            r#"{"a":1.5}"#,
            r#"{"a":null}"#,
            r#"{"a":9223372036854775808}"#,
            "[]",
            "null",
        ] {
            assert_eq!(read(wrong), None, "{wrong}");
        }
        assert_eq!(
            read(r#"{"a":-9223372036854775808}"#),
            Some(checks(&[("a", i64::MIN)]))
        );
    }

    fn answer(status: TaskStatus) -> PushTask {
        PushTask {
            status,
            task_id: Some("t".into()),
            room_id: Some(1253),
            group_id: None,
            push_user_id: None,
            push_start_time: None,
            push_stop_time: Some(1500),
            finish_reason: Some("AUTO".into()),
            exception_count: None,
            im_sync_time: None,
            backup: None,
            request_id: Some("req".into()),
        }
    }

    #[test]
    fn only_a_stopped_answer_for_a_streaming_task_changes_the_room() {
        let mut room = Room::new();
        room.apply(started("t", 1000, 1000));
        let before = room.clone();
        for status in [TaskStatus::Prepared, TaskStatus::Pushing] {
            assert_eq!(apply_answer(&mut room, "t", &answer(status), 2000), None);
        }
        assert_eq!(
            apply_answer(&mut room, "other", &answer(TaskStatus::Stopped), 2000),
            None
        );
        assert_eq!(room, before);

        assert_eq!(
            apply_answer(&mut room, "t", &answer(TaskStatus::Stopped), 2000),
            Some(Outcome::Applied)
        );
        let record = room.task("t").expect("kept");
        assert_eq!(record.kind, crate::core::callback::PushKind::Reconciled);
        assert_eq!(record.push_start_time, Some(1000));
        assert_eq!(record.push_stop_time, Some(1500));
        assert_eq!(record.timestamp, Some(2000));
        // Settled now: a second STOPPED answer finds nothing to reconcile.
        assert_eq!(
            apply_answer(&mut room, "t", &answer(TaskStatus::Stopped), 2900),
            None
        );
    }

    #[test]
    fn the_origin_body_carries_tencents_answer_under_tencents_names() {
        let answer = PushTask {
            status: TaskStatus::Stopped,
            task_id: Some("task-a".into()),
            room_id: Some(1253),
            group_id: Some("1253".into()),
            push_user_id: Some("tic_push_user_1253_01".into()),
            push_start_time: Some(1000),
            push_stop_time: Some(1500),
            finish_reason: Some("AUTO".into()),
            exception_count: Some(1),
            im_sync_time: Some(1001),
            backup: None,
            request_id: Some("req-7".into()),
        };
        let body: Value =
            serde_json::from_str(&origin_body(1400000001, 1253, "task-a", &answer, 2000))
                .expect("JSON");
        assert_eq!(
            body,
            json!({
                "EventType": "WhiteboardPushReconciled",
                "SdkAppId": 1400000001u64,
                "Timestamp": 2000,
                "EventData": {
                    "TaskId": "task-a", "RoomId": 1253, "Status": "STOPPED", "GroupId": "1253",
                    "PushUserId": "tic_push_user_1253_01", "PushStartTime": 1000,
                    "PushStopTime": 1500, "FinishReason": "AUTO", "ExceptionCnt": 1,
                    "IMSyncTime": 1001, "RequestId": "req-7"
                }
            })
        );
        let sparse = PushTask {
            status: TaskStatus::Stopped,
            task_id: None,
            room_id: None,
            group_id: None,
            push_user_id: None,
            push_start_time: None,
            push_stop_time: None,
            finish_reason: None,
            exception_count: None,
            im_sync_time: None,
            backup: None,
            request_id: None,
        };
        assert_eq!(
            origin_body(1, 9, "t", &sparse, 5),
            r#"{"EventType":"WhiteboardPushReconciled","SdkAppId":1,"Timestamp":5,"EventData":{"TaskId":"t","RoomId":9,"Status":"STOPPED"}}"#
        );
    }
}
