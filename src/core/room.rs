//! Room state: one record per recent push task, and the order-independent merge.
//!
//! A task's record is a whole event, the one that wins under [`precedence`]: a `Stopped`
//! callback over a reconciled stop (learnt from Tencent's API) over a `Started`, then the
//! greater `Timestamp`, then the greater canonical JSON. That is a total order, so "keep the
//! greatest" is commutative, associative and idempotent. At most [`MAX_TASKS`] tasks are kept,
//! ranked by start time then task id; an event whose task would fall out of that set is
//! `stale`.
//!
//! Guarantee: the stored state depends only on the set of events, never on their order or
//! repetition, as long as a room has at most `MAX_TASKS` tasks, or every event of a task gives
//! it the same start time (as TIW's do: `PushStartTime` is on both events, and a reconciled
//! stop keeps its `Started`'s). When a task's events disagree about its start time *and* the
//! room overflows, the winner among evicted tasks cannot be known without unbounded memory.

use std::cmp::Ordering;

use serde::Serialize;

use crate::core::callback::{PushEvent, PushKind};
use crate::core::json::{self, Json, Limits};

/// Tasks kept per room (API.md).
pub const MAX_TASKS: usize = 16;
/// The version of the stored JSON; another version is read as unreadable.
const FORMAT_VERSION: u32 = 1;

/// The value stored per room: records, best-ranked first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Room {
    v: u32,
    tasks: Vec<PushEvent>,
}

/// What one event did to a room (the `outcome` of API.md, less `ignored`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The stored state changed: write it.
    Applied,
    /// The event is already stored exactly: no write.
    Duplicate,
    /// The event lost to a stored record, or its task ranks below the kept tasks: no write.
    Stale,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Stale => "stale",
        }
    }
}

/// The KV key of a room.
pub fn key(sdk_app_id: u64, room_id: u32) -> String {
    format!("room:{sdk_app_id}:{room_id}")
}

impl Default for Room {
    fn default() -> Room {
        Room::new()
    }
}

impl Room {
    pub fn new() -> Room {
        Room {
            v: FORMAT_VERSION,
            tasks: Vec::new(),
        }
    }

    /// Reads a stored value. An unreadable one (corrupt, or of another format version) is an
    /// error the caller logs; it then treats the room as empty, so the next event rebuilds it.
    pub fn decode(stored: &str) -> Result<Room, String> {
        let json = json::parse(stored.as_bytes(), Limits::TRUSTED).map_err(|e| e.to_string())?;
        let room = Room::from_json(&json)?;
        if room.tasks.len() > MAX_TASKS {
            return Err(format!(
                "{} tasks stored, at most {MAX_TASKS}",
                room.tasks.len()
            ));
        }
        Ok(room.normalised())
    }

    /// An object of `v` (this format's version) and `tasks`, no other member; why not, when
    /// not.
    fn from_json(json: &Json) -> Result<Room, String> {
        if !json.has_only(&["v", "tasks"]) {
            return Err("not an object of `v` and `tasks`".into());
        }
        let v = json
            .get("v")
            .and_then(Json::as_u32)
            .ok_or("no format version")?;
        if v != FORMAT_VERSION {
            return Err(format!("unknown format version {v}"));
        }
        let stored = json
            .get("tasks")
            .and_then(Json::as_array)
            .ok_or("no task array")?;
        let mut tasks = Vec::with_capacity(stored.len());
        for (i, task) in stored.iter().enumerate() {
            tasks
                .push(PushEvent::from_json(task).ok_or_else(|| format!("task {i} is unreadable"))?);
        }
        Ok(Room { v, tasks })
    }

    /// The room `apply` would build from these records, one by one: best-ranked first, one
    /// record per task. A value this worker wrote is already so, and is only checked;
    /// rebuilding it (ordering the records, merging repeated tasks, which it never writes) is
    /// kept for other writers.
    fn normalised(self) -> Room {
        let unique = self
            .tasks
            .iter()
            .enumerate()
            .all(|(i, a)| self.tasks[..i].iter().all(|b| b.task_id != a.task_id));
        let ordered = self
            .tasks
            .is_sorted_by(|a, b| rank(a, b) == Ordering::Greater);
        if unique && ordered {
            return self;
        }
        let mut merged = Room::new();
        for task in self.tasks {
            merged.apply(task);
        }
        merged
    }

    pub fn encode(&self) -> String {
        // A struct of strings and integers always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Kept records, greatest start time first.
    pub fn tasks(&self) -> &[PushEvent] {
        &self.tasks
    }

    /// The record of one task, when it is kept.
    pub fn task(&self, task_id: &str) -> Option<&PushEvent> {
        self.tasks.iter().find(|r| r.task_id == task_id)
    }

    /// Merges one event. `Duplicate` and `Stale` leave the room untouched.
    pub fn apply(&mut self, event: PushEvent) -> Outcome {
        let mut merged = self.tasks.clone();
        if let Some(i) = merged.iter().position(|r| r.task_id == event.task_id) {
            match precedence(&event, &merged[i]) {
                Ordering::Equal => return Outcome::Duplicate,
                Ordering::Less => return Outcome::Stale,
                Ordering::Greater => merged.remove(i),
            };
        }
        // The records are best-ranked first, one per task (so `rank` orders them totally):
        // the event goes after every record that ranks above it.
        let at = merged.partition_point(|r| rank(r, &event) == Ordering::Greater);
        if at >= MAX_TASKS {
            return Outcome::Stale;
        }
        merged.insert(at, event);
        merged.truncate(MAX_TASKS);
        self.tasks = merged;
        Outcome::Applied
    }
}

/// Which of two events of one task is its record: the greater one. Kinds rank
/// `Stopped` > `Reconciled` > `Started` (the order of [`PushKind`]).
pub fn precedence(a: &PushEvent, b: &PushEvent) -> Ordering {
    a.kind
        .cmp(&b.kind)
        .then(a.timestamp.cmp(&b.timestamp))
        .then_with(|| canonical(a).cmp(&canonical(b)))
}

fn canonical(event: &PushEvent) -> String {
    serde_json::to_string(event).unwrap_or_default()
}

/// A task's start time: `PushStartTime`, else `PushStopTime`, else `Timestamp`.
pub fn start_time(event: &PushEvent) -> Option<i64> {
    event
        .push_start_time
        .or(event.push_stop_time)
        .or(event.timestamp)
}

/// A task's stop time: `PushStopTime`, else `Timestamp`.
pub fn stop_time(event: &PushEvent) -> Option<i64> {
    event.push_stop_time.or(event.timestamp)
}

/// Which task ranks higher among the kept ones: greater start time, then greater task id.
fn rank(a: &PushEvent, b: &PushEvent) -> Ordering {
    start_time(a)
        .cmp(&start_time(b))
        .then_with(|| a.task_id.cmp(&b.task_id))
}

impl PushEvent {
    /// Only a `Started` streams; a reconciled stop counts as stopped.
    pub fn is_streaming(&self) -> bool {
        self.kind == PushKind::Started
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::core::callback::PushError;
    use proptest::prelude::*;
    use serde::Deserialize;
    use serde_json::{json, Map, Value};

    pub fn started(task: &str, start: i64, ts: i64) -> PushEvent {
        PushEvent {
            kind: PushKind::Started,
            task_id: task.into(),
            room_id: 1253,
            timestamp: Some(ts),
            push_user_id: Some(format!("user-{task}")),
            push_start_time: Some(start),
            push_stop_time: None,
            group_id: None,
            finish_reason: None,
            im_sync_time: None,
            exception_count: None,
            error: None,
        }
    }

    pub fn stopped(task: &str, start: i64, stop: i64, ts: i64) -> PushEvent {
        PushEvent {
            kind: PushKind::Stopped,
            push_stop_time: Some(stop),
            finish_reason: Some("USER_CALL".into()),
            ..started(task, start, ts)
        }
    }

    /// A reconciled stop learnt at `now`, as `PushEvent::reconciled_stop` builds it.
    pub fn reconciled(task: &str, start: i64, stop: i64, now: i64) -> PushEvent {
        PushEvent {
            kind: PushKind::Reconciled,
            timestamp: Some(now),
            push_stop_time: Some(stop),
            finish_reason: Some("AUTO".into()),
            exception_count: Some(0),
            ..started(task, start, now)
        }
    }

    #[test]
    fn stopped_dominates_started_in_either_order() {
        let mut a = Room::new();
        assert_eq!(a.apply(started("t", 100, 100)), Outcome::Applied);
        assert_eq!(a.apply(stopped("t", 100, 200, 200)), Outcome::Applied);

        let mut b = Room::new();
        assert_eq!(b.apply(stopped("t", 100, 200, 200)), Outcome::Applied);
        assert_eq!(b.apply(started("t", 100, 100)), Outcome::Stale);
        assert_eq!(a, b);
    }

    #[test]
    fn late_started_never_revives_stopped_task() {
        let mut room = Room::new();
        room.apply(stopped("t", 100, 200, 200));
        // Even a Started with a later Timestamp loses to the Stopped.
        assert_eq!(room.apply(started("t", 100, 999)), Outcome::Stale);
        assert!(!room.tasks()[0].is_streaming());
    }

    #[test]
    fn reconciled_stop_beats_started_in_either_order() {
        let mut a = Room::new();
        assert_eq!(a.apply(started("t", 100, 100)), Outcome::Applied);
        assert_eq!(a.apply(reconciled("t", 100, 200, 1000)), Outcome::Applied);
        assert!(!a.tasks()[0].is_streaming());

        let mut b = Room::new();
        assert_eq!(b.apply(reconciled("t", 100, 200, 1000)), Outcome::Applied);
        // A Started after a reconciled stop is stale, even one sent later.
        assert_eq!(b.apply(started("t", 100, 2000)), Outcome::Stale);
        assert_eq!(b.apply(started("t", 100, 100)), Outcome::Stale);
        let mut c = b.clone();
        c.apply(started("t", 100, 2000));
        assert_eq!(a, b);
        assert_eq!(b, c);
    }

    #[test]
    fn stopped_callback_replaces_a_reconciled_stop_and_is_never_replaced_by_one() {
        let mut a = Room::new();
        a.apply(started("t", 100, 100));
        a.apply(reconciled("t", 100, 200, 1000));
        // The real Stopped, sent before the check's `now`, still wins.
        assert_eq!(a.apply(stopped("t", 100, 190, 190)), Outcome::Applied);
        assert_eq!(a.task("t").map(|r| r.kind), Some(PushKind::Stopped));
        assert_eq!(a.apply(reconciled("t", 100, 200, 5000)), Outcome::Stale);

        let mut b = Room::new();
        b.apply(stopped("t", 100, 190, 190));
        assert_eq!(b.apply(reconciled("t", 100, 200, 1000)), Outcome::Stale);
        b.apply(started("t", 100, 100));
        assert_eq!(a, b);
    }

    #[test]
    fn a_reconciled_stop_keeps_the_tasks_rank() {
        let mut room = Room::new();
        for (task, start) in [("a", 10), ("b", 20), ("c", 30)] {
            room.apply(started(task, start, start));
        }
        room.apply(reconciled("b", 20, 99, 1000));
        let order: Vec<&str> = room.tasks().iter().map(|t| t.task_id.as_str()).collect();
        assert_eq!(order, ["c", "b", "a"]);
    }

    #[test]
    fn stored_values_from_before_reconciliation_decode_unchanged() {
        let stored = r#"{"v":1,"tasks":[{"kind":"started","taskId":"b","roomId":1253,"timestamp":5,"pushUserId":"u","pushStartTime":5,"pushStopTime":null,"groupId":null,"finishReason":null,"imSyncTime":null,"exceptionCount":null,"error":null},{"kind":"stopped","taskId":"a","roomId":1253,"timestamp":4,"pushUserId":"u","pushStartTime":1,"pushStopTime":4,"groupId":"1253","finishReason":"USER_CALL","imSyncTime":1,"exceptionCount":0,"error":null}]}"#;
        let room = Room::decode(stored).expect("an old value decodes");
        assert_eq!(room.encode(), stored);
        let kinds: Vec<PushKind> = room.tasks().iter().map(|t| t.kind).collect();
        assert_eq!(kinds, [PushKind::Started, PushKind::Stopped]);
    }

    #[test]
    fn redelivery_is_a_duplicate() {
        let mut room = Room::new();
        room.apply(started("t", 100, 100));
        let before = room.clone();
        assert_eq!(room.apply(started("t", 100, 100)), Outcome::Duplicate);
        assert_eq!(room, before);
    }

    #[test]
    fn same_kind_events_pick_greater_timestamp_then_content() {
        let mut room = Room::new();
        room.apply(started("t", 100, 101));
        assert_eq!(room.apply(started("t", 100, 100)), Outcome::Stale);
        let mut other_user = started("t", 100, 101);
        other_user.push_user_id = Some("zzz".into());
        assert_eq!(room.apply(other_user.clone()), Outcome::Applied);
        assert_eq!(room.apply(started("t", 100, 101)), Outcome::Stale);
        assert_eq!(room.tasks()[0], other_user);
    }

    #[test]
    fn only_the_sixteen_latest_tasks_are_kept() {
        let mut room = Room::new();
        for i in 0..20 {
            room.apply(started(&format!("t{i:02}"), 1000 + i, 1000 + i));
        }
        assert_eq!(room.tasks().len(), MAX_TASKS);
        assert_eq!(room.tasks()[0].task_id, "t19");
        assert_eq!(room.tasks()[15].task_id, "t04");
        assert_eq!(room.apply(started("t00", 1000, 1000)), Outcome::Stale);
        assert_eq!(room.apply(stopped("t01", 1001, 2000, 2000)), Outcome::Stale);
    }

    #[test]
    fn equal_start_times_rank_by_task_id() {
        let mut room = Room::new();
        room.apply(started("a", 5, 5));
        room.apply(started("b", 5, 5));
        assert_eq!(room.tasks()[0].task_id, "b");
    }

    #[test]
    fn start_time_falls_back_to_stop_time_then_timestamp() {
        let mut e = stopped("t", 1, 2, 3);
        assert_eq!(start_time(&e), Some(1));
        e.push_start_time = None;
        assert_eq!(start_time(&e), Some(2));
        e.push_stop_time = None;
        assert_eq!(start_time(&e), Some(3));
        assert_eq!(stop_time(&e), Some(3));
    }

    #[test]
    fn encode_decode_round_trips() {
        let mut room = Room::new();
        room.apply(started("a", 1, 1));
        room.apply(stopped("b", 2, 3, 3));
        room.apply(reconciled("c", 4, 5, 6));
        assert!(room.encode().contains(r#""kind":"reconciled""#));
        assert_eq!(Room::decode(&room.encode()), Ok(room));
    }

    #[test]
    fn decode_of_encode_is_the_same_room() {
        let mut room = Room::new();
        room.apply(started("a", 100, 100));
        room.apply(stopped("b", 300, 400, 400));
        room.apply(reconciled("c", 200, 250, 500));
        room.apply(started("d", 200, 200));
        let decoded = Room::decode(&room.encode()).expect("decodes");
        assert_eq!(decoded, room);
        assert_eq!(Room::decode(&Room::new().encode()), Ok(Room::new()));
    }

    #[test]
    fn an_unsorted_stored_value_decodes_sorted() {
        let mut sorted = Room::new();
        for event in [
            started("a", 100, 100),
            started("c", 300, 300),
            stopped("b", 200, 250, 250),
            started("d", 300, 300),
        ] {
            sorted.apply(event);
        }
        let mut unsorted = sorted.clone();
        unsorted.tasks.reverse();
        assert_ne!(unsorted, sorted);
        assert_eq!(Room::decode(&unsorted.encode()), Ok(sorted.clone()));
        let ids: Vec<&str> = sorted.tasks().iter().map(|t| t.task_id.as_str()).collect();
        assert_eq!(ids, ["d", "c", "b", "a"]);
    }

    #[test]
    fn a_stored_value_with_a_task_twice_keeps_its_greater_record() {
        let value = serde_json::to_string(&Room {
            v: FORMAT_VERSION,
            tasks: vec![
                started("a", 100, 100),
                started("b", 150, 150),
                stopped("a", 100, 200, 200),
            ],
        })
        .expect("serialises");
        let room = Room::decode(&value).expect("decodes");
        assert_eq!(room.tasks().len(), 2);
        assert_eq!(room.task("a"), Some(&stopped("a", 100, 200, 200)));
    }

    #[test]
    fn unreadable_values_are_errors_not_panics() {
        for stored in [
            "",
            "garbage",
            "{}",
            "{\"v\":2,\"tasks\":[]}",
            "{\"v\":1,\"tasks\":[{\"kind\":\"paused\"}]}",
            "{\"v\":1,\"tasks\":[],\"extra\":1}",
        ] {
            assert!(Room::decode(stored).is_err(), "{stored}");
        }
    }

    /// Member names of a stored room (all levels), and two it does not have.
    const ROOM_MEMBERS: &[&str] = &[
        "v",
        "tasks",
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
        "code",
        "message",
        "extra",
        "Kind",
    ];

    /// `{"v":1,"tasks":[task]}` with the task `started("t", 5, 5)` changed by `edit`.
    fn with_task(edit: impl FnOnce(&mut Map<String, Value>)) -> String {
        let mut task = serde_json::to_value(started("t", 5, 5)).expect("serialises");
        if let Value::Object(members) = &mut task {
            edit(members);
        }
        json!({"v": 1, "tasks": [task]}).to_string()
    }

    #[test]
    fn a_stored_record_is_read_as_its_serde_derive_read_it() {
        let set = |name: &'static str, value: Value| {
            with_task(move |task| {
                task.insert(name.into(), value);
            })
        };
        // Optional members may be absent or null; `error` is read whole.
        let read = |stored: &str| Room::decode(stored).map(|room| room.tasks()[0].clone());
        let mut bare = started("t", 5, 5);
        bare.push_user_id = None;
        assert_eq!(
            read(&with_task(|task| {
                task.remove("pushUserId");
            })),
            Ok(bare.clone())
        );
        assert_eq!(read(&set("pushUserId", Value::Null)), Ok(bare));
        let mut failed = started("t", 5, 5);
        failed.error = Some(PushError {
            code: "c".into(),
            message: "m".into(),
        });
        assert_eq!(
            read(&set("error", json!({"code": "c", "message": "m"}))),
            Ok(failed)
        );
        let mut widest = started("t", 5, 5);
        widest.room_id = u32::MAX;
        widest.timestamp = Some(i64::MAX);
        widest.push_start_time = Some(i64::MIN);
        assert_eq!(
            read(&with_task(|task| {
                task.insert("roomId".into(), json!(u32::MAX));
                task.insert("timestamp".into(), json!(i64::MAX));
                task.insert("pushStartTime".into(), json!(i64::MIN));
            })),
            Ok(widest)
        );
        // An unknown member, a missing required one, a wrong type, an integer out of range.
        for stored in [
            set("extra", json!(1)),
            set("error", json!({"code": "c", "message": "m", "extra": 1})),
            set("error", json!({"code": "c"})),
            set("error", json!("c")),
            with_task(|task| {
                task.remove("taskId");
            }),
            with_task(|task| {
                task.remove("kind");
            }),
            set("kind", json!("paused")),
            set("kind", json!("Started")),
            set("kind", json!(1)),
            set("taskId", json!(7)),
            set("taskId", Value::Null),
            set("roomId", json!(u64::from(u32::MAX) + 1)),
            set("roomId", json!(-1)),
            set("roomId", json!(1253.0)),
            set("timestamp", json!(u64::MAX)),
            set("timestamp", json!(9_223_372_036_854_775_808u64)),
            set("pushStartTime", json!(1.5)),
            set("exceptionCount", json!("0")),
            set("pushUserId", json!(5)),
            set("groupId", json!(["1253"])),
            json!({"v": 4_294_967_297u64, "tasks": []}).to_string(),
            json!({"v": "1", "tasks": []}).to_string(),
            json!({"v": 1, "tasks": {}}).to_string(),
            json!({"v": 1}).to_string(),
            "[1,[]]".to_string(),
        ] {
            assert!(Room::decode(&stored).is_err(), "{stored}");
        }
    }

    /// The serde derive `Room` was read with before `core::json`, kept to test against.
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SerdeRoom {
        v: u32,
        tasks: Vec<SerdeEvent>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct SerdeEvent {
        kind: SerdeKind,
        task_id: String,
        room_id: u32,
        timestamp: Option<i64>,
        push_user_id: Option<String>,
        push_start_time: Option<i64>,
        push_stop_time: Option<i64>,
        group_id: Option<String>,
        finish_reason: Option<String>,
        im_sync_time: Option<i64>,
        exception_count: Option<i64>,
        error: Option<SerdeError>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SerdeError {
        code: String,
        message: String,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum SerdeKind {
        Started,
        Reconciled,
        Stopped,
    }

    impl From<SerdeEvent> for PushEvent {
        fn from(e: SerdeEvent) -> PushEvent {
            PushEvent {
                kind: match e.kind {
                    SerdeKind::Started => PushKind::Started,
                    SerdeKind::Reconciled => PushKind::Reconciled,
                    SerdeKind::Stopped => PushKind::Stopped,
                },
                task_id: e.task_id,
                room_id: e.room_id,
                timestamp: e.timestamp,
                push_user_id: e.push_user_id,
                push_start_time: e.push_start_time,
                push_stop_time: e.push_stop_time,
                group_id: e.group_id,
                finish_reason: e.finish_reason,
                im_sync_time: e.im_sync_time,
                exception_count: e.exception_count,
                error: e.error.map(|e| PushError {
                    code: e.code,
                    message: e.message,
                }),
            }
        }
    }

    /// One change to a stored JSON value: in its `object`-th object (depth first, the value
    /// itself first), the member `name` removed (`None`) or set to `value`.
    #[derive(Debug, Clone)]
    pub struct Edit {
        object: usize,
        name: &'static str,
        value: Option<Value>,
    }

    /// Values of every JSON kind, and integers at the edges of the ranges stored formats use.
    fn edge_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            Just(json!(true)),
            Just(json!("x")),
            Just(json!("started")),
            Just(json!("stopped")),
            Just(json!(0)),
            Just(json!(1)),
            Just(json!(-1)),
            Just(json!(1.5)),
            Just(json!(u32::MAX)),
            Just(json!(u64::from(u32::MAX) + 1)),
            Just(json!(i64::MAX)),
            Just(json!(i64::MAX as u64 + 1)),
            Just(json!(i64::MIN)),
            Just(json!(u64::MAX)),
            Just(json!({})),
            Just(json!([])),
            Just(json!({"code": "c", "message": "m"})),
            Just(json!({"t": 5})),
        ]
    }

    /// Up to three edits, each of one of `names` (members of the format, and others).
    pub fn edits(names: &'static [&'static str]) -> impl Strategy<Value = Vec<Edit>> {
        let edit = (
            0..8usize,
            prop::sample::select(names),
            prop::option::weighted(0.8, edge_value()),
        )
            .prop_map(|(object, name, value)| Edit {
                object,
                name,
                value,
            });
        prop::collection::vec(edit, 0..4)
    }

    /// `value` with `edits` made, as text.
    pub fn edited(mut value: Value, edits: &[Edit]) -> String {
        for edit in edits {
            let mut n = edit.object % count_objects(&value).max(1);
            edit_nth(&mut value, &mut n, edit);
        }
        value.to_string()
    }

    fn count_objects(value: &Value) -> usize {
        match value {
            Value::Object(members) => 1 + members.values().map(count_objects).sum::<usize>(),
            Value::Array(items) => items.iter().map(count_objects).sum(),
            _ => 0,
        }
    }

    /// Makes `edit` in the `n`-th object of `value`, depth first; true once made.
    fn edit_nth(value: &mut Value, n: &mut usize, edit: &Edit) -> bool {
        match value {
            Value::Object(members) if *n == 0 => {
                match &edit.value {
                    Some(v) => members.insert(edit.name.into(), v.clone()),
                    None => members.remove(edit.name),
                };
                true
            }
            Value::Object(members) => {
                *n -= 1;
                members.values_mut().any(|child| edit_nth(child, n, edit))
            }
            Value::Array(items) => items.iter_mut().any(|item| edit_nth(item, n, edit)),
            _ => false,
        }
    }

    #[derive(Debug, Clone)]
    struct Spec {
        task: u8,
        kind: PushKind,
        ts: i64,
        user: u8,
    }

    fn kind() -> impl Strategy<Value = PushKind> {
        prop_oneof![
            Just(PushKind::Started),
            Just(PushKind::Reconciled),
            Just(PushKind::Stopped)
        ]
    }

    /// Events of up to `tasks` tasks — `Started`, reconciled stops and `Stopped`, with
    /// timestamps that interleave across kinds — where each task's events agree on its start
    /// time.
    fn events(tasks: u8) -> impl Strategy<Value = Vec<PushEvent>> {
        let spec = (0..tasks, kind(), 0..4i64, 0..3u8).prop_map(|(task, kind, ts, user)| Spec {
            task,
            kind,
            ts,
            user,
        });
        prop::collection::vec(spec, 1..40).prop_map(|specs| {
            specs
                .into_iter()
                .map(|s| {
                    let start = 1000 + i64::from(s.task % 7) * 10;
                    let id = format!("task-{}", s.task);
                    let mut e = match s.kind {
                        PushKind::Started => started(&id, start, 1000 + s.ts),
                        PushKind::Reconciled => {
                            reconciled(&id, start, start + 60 + s.ts, 1990 + 3 * s.ts)
                        }
                        PushKind::Stopped => stopped(&id, start, start + 50 + s.ts, 2000 + s.ts),
                    };
                    e.push_user_id = Some(format!("user-{}", s.user));
                    e
                })
                .collect()
        })
    }

    fn merge_all(events: &[PushEvent]) -> Room {
        let mut room = Room::new();
        for e in events {
            room.apply(e.clone());
        }
        room
    }

    proptest! {
        #[test]
        fn any_order_and_redelivery_give_the_same_state(
            (events, order, repeats) in events(24).prop_flat_map(|evs| {
                let n = evs.len();
                (Just(evs), Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
                 prop::collection::vec(0..n, 0..20))
            })
        ) {
            let reference = merge_all(&events);
            let mut delivery: Vec<PushEvent> = order.iter().map(|&i| events[i].clone()).collect();
            delivery.extend(repeats.iter().map(|&i| events[i].clone()));
            let shuffled = merge_all(&delivery);
            prop_assert_eq!(&shuffled, &reference);
            prop_assert!(shuffled.tasks().len() <= MAX_TASKS);
            prop_assert_eq!(Room::decode(&shuffled.encode()), Ok(shuffled.clone()));
        }

        #[test]
        fn each_kept_task_holds_its_greatest_kind(events in events(12)) {
            let room = merge_all(&events);
            for record in room.tasks() {
                let greatest = events
                    .iter()
                    .filter(|e| e.task_id == record.task_id)
                    .map(|e| e.kind)
                    .max();
                // A Stopped always beats a reconciled stop; either beats a Started.
                prop_assert_eq!(Some(record.kind), greatest);
            }
        }

        /// Decoding sorts and checks where it used to re-merge: for any stored order of any
        /// records (repeats included), it gives what re-merging them one by one gives.
        #[test]
        fn decoding_any_stored_order_is_re_merging_it(events in events(12), seed in any::<u64>()) {
            let mut tasks = events.clone();
            tasks.truncate(MAX_TASKS);
            let turn = (seed as usize) % tasks.len().max(1);
            tasks.rotate_left(turn);
            if seed % 2 == 0 { tasks.reverse(); }
            let stored = serde_json::to_string(&Room { v: FORMAT_VERSION, tasks: tasks.clone() })
                .expect("serialises");
            prop_assert_eq!(Room::decode(&stored), Ok(merge_all(&tasks)));
        }

        #[test]
        fn reapplying_any_event_changes_nothing(events in events(24)) {
            let mut room = merge_all(&events);
            let before = room.clone();
            for e in &events {
                let outcome = room.apply(e.clone());
                prop_assert!(matches!(outcome, Outcome::Duplicate | Outcome::Stale), "{:?}", outcome);
            }
            prop_assert_eq!(room, before);
        }

        #[test]
        fn small_rooms_are_order_independent_even_with_inconsistent_times(
            raw in prop::collection::vec((0..5u8, kind(), 0..5i64, 0..5i64, any::<bool>()), 1..30),
            seed in any::<u64>()
        ) {
            let events: Vec<PushEvent> = raw.iter().map(|&(t, kind, a, b, has_start)| {
                let id = format!("t{t}");
                let mut e = match kind {
                    PushKind::Started => started(&id, a, b),
                    PushKind::Reconciled => reconciled(&id, a, b, a * b),
                    PushKind::Stopped => stopped(&id, a, b, a + b),
                };
                if !has_start { e.push_start_time = None; }
                e
            }).collect();
            let mut reversed = events.clone();
            reversed.reverse();
            let mut rotated = events.clone();
            rotated.rotate_left((seed as usize) % events.len());
            prop_assert_eq!(merge_all(&events), merge_all(&reversed));
            prop_assert_eq!(merge_all(&events), merge_all(&rotated));
        }
    }

    proptest! {
        // Each case makes a few edits among many names, values and places: many cases.
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// Whatever is stored, `Room::decode` reads it as the serde derive it replaced read it
        /// (then checked the version): the same rooms accepted, the same refused.
        #[test]
        fn stored_rooms_read_as_the_serde_derive_read_them(
            events in events(4),
            failed in any::<bool>(),
            edits in edits(ROOM_MEMBERS),
        ) {
            let mut room = merge_all(&events);
            if failed {
                room.tasks[0].error = Some(PushError { code: "c".into(), message: "m".into() });
            }
            let value = serde_json::to_value(&room).expect("serialises");
            let stored = edited(value, &edits);
            let ours = json::parse(stored.as_bytes(), Limits::TRUSTED)
                .map_err(|e| e.to_string())
                .and_then(|json| Room::from_json(&json));
            let serde = serde_json::from_str::<SerdeRoom>(&stored)
                .ok()
                .filter(|room| room.v == FORMAT_VERSION)
                .map(|room| Room {
                    v: room.v,
                    tasks: room.tasks.into_iter().map(PushEvent::from).collect(),
                });
            prop_assert_eq!(ours.ok(), serde, "{}", stored);
        }
    }
}
