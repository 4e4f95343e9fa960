//! Events -> merge -> encode -> decode, with API.md's merge invariants asserted: the stored
//! state depends only on the set of events (any order, any number of deliveries), a
//! re-delivery changes nothing, at most 16 tasks are kept in rank order, each kept task holds
//! its greatest event (`Stopped` > `Reconciled` > `Started`), and `decode(encode(x)) == x`.
//!
//! The guarantee of room.rs holds for at most 16 tasks, or when every event of a task gives
//! it the same start time (as TIW's do): each input is one of the two. Events
//! are what verified callbacks and reconciliation make: a `Started` always has a
//! `PushStartTime` (check 10), which its reconciled stop keeps.
#![no_main]

// The allocation cap (src/lib.rs).
use tiw_push_edge_fuzz as _;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use tiw_push_edge::core::callback::{PushError, PushEvent, PushKind};
use tiw_push_edge::core::room::{precedence, start_time, Outcome, Room, MAX_TASKS};
use tiw_push_edge::core::tencent::{PushTask, TaskStatus};

/// Task ids: few, so events collide; odd ones too, since a stored value may hold any string.
const TASKS: [&str; 24] = [
    "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "é",
    "a\u{0}", "A", "task-10", "task-9", "",
];

#[derive(Debug, Arbitrary)]
struct Input {
    /// Every event of a task gives it one start time, and up to 24 tasks compete for the 16
    /// places; else at most 16 tasks, with any times.
    consistent_start: bool,
    events: Vec<Spec>,
    /// Drives the second delivery order: swaps, then re-deliveries.
    order: Vec<u16>,
}

/// One event, from small ranges so that ties and collisions are common.
#[derive(Debug, Arbitrary)]
struct Spec {
    task: u8,
    kind: u8,
    timestamp: Option<i8>,
    push_start_time: Option<i8>,
    push_stop_time: Option<i8>,
    push_user_id: Option<u8>,
    finish_reason: Option<u8>,
    exception_count: Option<i8>,
    error: Option<(u8, u8)>,
    /// When set and `kind` is a `Started`, also the reconciled stop Tencent's answer makes.
    reconciled_at: Option<i8>,
}

fn small(n: u8) -> String {
    ["x", "y", "USER_CALL", "", "é"][usize::from(n) % 5].to_string()
}

impl Spec {
    fn event(&self, consistent_start: bool) -> PushEvent {
        let tasks = if consistent_start {
            TASKS.len()
        } else {
            MAX_TASKS
        };
        let task = TASKS[usize::from(self.task) % tasks];
        let kind = match self.kind % 3 {
            0 => PushKind::Started,
            1 => PushKind::Reconciled,
            _ => PushKind::Stopped,
        };
        // Check 10 gives every `Started` a `PushStartTime`; the other kinds may lack one.
        let task_start = Some(i64::from(self.task % 24) * 7);
        let push_start_time = match self.push_start_time {
            _ if consistent_start => task_start,
            None if kind == PushKind::Started => task_start,
            given => given.map(i64::from),
        };
        PushEvent {
            kind,
            task_id: task.to_string(),
            room_id: 1253,
            timestamp: self.timestamp.map(i64::from),
            push_user_id: self.push_user_id.map(small),
            push_start_time,
            push_stop_time: self.push_stop_time.map(i64::from),
            group_id: None,
            finish_reason: self.finish_reason.map(small),
            im_sync_time: None,
            exception_count: self.exception_count.map(i64::from),
            error: self.error.map(|(c, m)| PushError {
                code: small(c),
                message: small(m),
            }),
        }
    }

    /// The reconciled stop of this event when it is a `Started` (it keeps the start time).
    fn reconciled(&self, event: &PushEvent) -> Option<PushEvent> {
        let now = i64::from(self.reconciled_at?);
        let answer = PushTask {
            status: TaskStatus::Stopped,
            task_id: Some(event.task_id.clone()),
            room_id: Some(u64::from(event.room_id)),
            group_id: None,
            push_user_id: event.push_user_id.clone(),
            push_start_time: event.push_start_time,
            push_stop_time: self.push_stop_time.map(i64::from),
            finish_reason: self.finish_reason.map(small),
            exception_count: self.exception_count.map(i64::from),
            im_sync_time: None,
            backup: None,
            request_id: None,
        };
        PushEvent::reconciled_stop(event, &answer, now)
    }
}

/// Merges in order, checking that `Applied` is said exactly when the room changed.
fn merge(events: &[PushEvent]) -> Room {
    let mut room = Room::new();
    for event in events {
        let before = room.clone();
        let outcome = room.apply(event.clone());
        assert_eq!(
            outcome == Outcome::Applied,
            room != before,
            "{outcome:?} for {event:?}"
        );
    }
    room
}

fuzz_target!(|input: Input| {
    let consistent_start = input.consistent_start;
    let mut events = Vec::new();
    for spec in input.events.iter().take(64) {
        let event = spec.event(consistent_start);
        if let Some(stop) = spec.reconciled(&event) {
            assert_eq!(stop.kind, PushKind::Reconciled);
            assert_eq!(start_time(&stop), start_time(&event));
            events.push(stop);
        }
        events.push(event);
    }

    let room = merge(&events);

    // At most 16 tasks, distinct, greatest start time first (ties: greater task id).
    let tasks = room.tasks();
    assert!(tasks.len() <= MAX_TASKS);
    for pair in tasks.windows(2) {
        let key = |e: &PushEvent| (start_time(e), e.task_id.clone());
        assert!(key(&pair[0]) > key(&pair[1]), "rank order: {pair:?}");
    }
    // Each kept task holds the greatest of its events.
    for record in tasks {
        let greatest = events
            .iter()
            .filter(|e| e.task_id == record.task_id)
            .max_by(|a, b| precedence(a, b));
        assert_eq!(Some(record), greatest);
    }

    // Any other order, with re-deliveries, gives the same state.
    let mut shuffled = events.clone();
    for (i, &r) in input.order.iter().enumerate() {
        if shuffled.is_empty() {
            break;
        }
        let (a, b) = (i % shuffled.len(), usize::from(r) % shuffled.len());
        if i < 2 * events.len() {
            shuffled.swap(a, b);
        } else if shuffled.len() < 4 * events.len() {
            let again = shuffled[b].clone();
            shuffled.insert(a, again);
        }
    }
    shuffled.reverse();
    assert_eq!(merge(&shuffled), room);

    // Idempotent: every event again changes nothing.
    let mut again = room.clone();
    for event in &events {
        let outcome = again.apply(event.clone());
        assert!(
            matches!(outcome, Outcome::Duplicate | Outcome::Stale),
            "{outcome:?}"
        );
    }
    assert_eq!(again, room);

    // The stored value reads back as the same room.
    assert_eq!(Room::decode(&room.encode()), Ok(room));
});
