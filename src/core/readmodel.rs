//! When the room object writes the room's KV value (the read model).
//!
//! Workers KV takes at most one write per second per key, so every change is stored in the
//! room object first and copied to KV by its alarm: at most one KV write (or attempt) per
//! second, always of the latest state, so a burst of changes costs one write. A failed write
//! (KV's 429 included) is tried again with a doubling delay until it lands; the sender never
//! sees it.
//! Pure bookkeeping: the object persists a [`ReadModel`] with its state and asks it for times.

use serde::Serialize;

use crate::core::json::Json;

/// The least time between two KV writes (or attempts) of one room.
pub const MIN_WRITE_GAP_MS: u64 = 1_000;
/// The longest wait between attempts after failures.
pub const MAX_RETRY_GAP_MS: u64 = 60_000;

/// How far the room's KV value is behind its stored state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadModel {
    /// Bumped by every applied change.
    pub rev: u64,
    /// The `rev` that KV holds.
    pub written_rev: u64,
    /// When the last KV write was started (ms), whatever its result.
    pub attempted_at_ms: Option<u64>,
    /// Failed attempts since the last success.
    pub failures: u32,
}

impl ReadModel {
    /// As the object stores it (its `Serialize`); members it does not know are let go.
    pub fn from_json(json: &Json) -> Option<ReadModel> {
        Some(ReadModel {
            rev: json.get("rev")?.as_u64()?,
            written_rev: json.get("writtenRev")?.as_u64()?,
            attempted_at_ms: json.optional("attemptedAtMs", Json::as_u64)?,
            failures: json.get("failures")?.as_u32()?,
        })
    }

    /// A room seeded from (or agreeing with) its KV value.
    pub fn in_sync() -> ReadModel {
        ReadModel::default()
    }

    pub fn is_dirty(&self) -> bool {
        self.rev != self.written_rev
    }

    /// A change was stored.
    pub fn changed(&mut self) {
        self.rev += 1;
    }

    /// When the next write may start: `None` when KV is current.
    pub fn next_write_at(&self, now_ms: u64) -> Option<u64> {
        if !self.is_dirty() {
            return None;
        }
        let Some(last) = self.attempted_at_ms else {
            return Some(now_ms);
        };
        Some(now_ms.max(last + self.gap_ms()))
    }

    /// A write of `rev` starts now.
    pub fn attempt(&mut self, now_ms: u64) {
        self.attempted_at_ms = Some(now_ms);
    }

    /// The write of `rev` landed.
    pub fn written(&mut self, rev: u64) {
        self.written_rev = self.written_rev.max(rev);
        self.failures = 0;
    }

    /// The write failed; the next one waits longer.
    pub fn failed(&mut self) {
        self.failures = self.failures.saturating_add(1);
    }

    fn gap_ms(&self) -> u64 {
        let doubled = MIN_WRITE_GAP_MS.saturating_mul(1u64 << self.failures.min(16));
        doubled.min(MAX_RETRY_GAP_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_change_is_written_at_once() {
        let mut m = ReadModel::in_sync();
        assert_eq!(m.next_write_at(5_000), None);
        m.changed();
        assert_eq!(m.next_write_at(5_000), Some(5_000));
    }

    #[test]
    fn writes_are_at_least_a_second_apart_and_bursts_coalesce() {
        let mut m = ReadModel::in_sync();
        m.changed();
        m.attempt(10_000);
        m.written(1);
        assert!(!m.is_dirty());
        // Sixteen changes in the next 100 ms: one write, a second after the last one.
        for _ in 0..16 {
            m.changed();
        }
        assert_eq!(m.next_write_at(10_100), Some(11_000));
        m.attempt(11_000);
        m.written(m.rev);
        assert_eq!(m.next_write_at(11_000), None);
    }

    #[test]
    fn a_change_during_a_write_keeps_the_room_dirty() {
        let mut m = ReadModel::in_sync();
        m.changed();
        let writing = m.rev;
        m.attempt(0);
        m.changed();
        m.written(writing);
        assert!(m.is_dirty());
        assert_eq!(m.next_write_at(200), Some(1_000));
    }

    #[test]
    fn failures_back_off_doubling_up_to_a_minute() {
        let mut m = ReadModel::in_sync();
        m.changed();
        let mut gaps = Vec::new();
        for _ in 0..10 {
            m.attempt(0);
            m.failed();
            gaps.push(m.next_write_at(0).unwrap_or_default());
        }
        assert_eq!(
            gaps,
            [2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000, 60_000, 60_000]
        );
        m.attempt(0);
        m.written(m.rev);
        assert_eq!(m.failures, 0);
        assert_eq!(m.next_write_at(0), None);
    }

    #[test]
    fn an_old_write_landing_late_never_moves_written_rev_back() {
        let mut m = ReadModel::in_sync();
        m.changed();
        m.changed();
        m.written(2);
        m.written(1);
        assert_eq!(m.written_rev, 2);
    }
}
