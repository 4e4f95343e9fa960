//! One JSON log line per request, for operators to search (Workers Logs, `wrangler tail`).
//!
//! The line holds what happened — ids, route, status, error code, event, outcome, duration —
//! and never a key, token, signature or body.

use serde::Serialize;

use crate::core::json::Members;

#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestLog {
    pub level: &'static str,
    pub request_id: String,
    pub method: String,
    /// The route's template (`/rooms/{roomId}`), not the raw path, so lines group by route.
    pub route: &'static str,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sdk_app_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarded: Option<bool>,
    /// Queued delivery (`ORIGIN_DELIVERY=queue`): whether the delivery queue accepted it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enqueued: Option<bool>,
    /// Queued delivery: the `x-tiw-delivery-id` the origin will see.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<String>,
    /// What the request cost in storage, counted where the shell does each operation (never
    /// assumed), on every line so a line with none says 0: rooms whose state came from KV
    /// rather than the cache (status reads), ...
    pub kv_reads: u32,
    /// ... KV puts (0 on the edge: the room object's alarm writes KV, see its `kv_write`
    /// lines), ...
    pub kv_writes: u32,
    /// ... Cache API lookups and puts, ...
    pub cache_reads: u32,
    pub cache_writes: u32,
    /// ... and requests to room objects (a callback's apply, a live upgrade).
    pub object_calls: u32,
    pub duration_ms: u64,
    /// Things an operator should see that did not fail the request: dropped optional
    /// fields, unreadable stored state, a missing cache.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl RequestLog {
    pub fn new(request_id: String, method: &str) -> RequestLog {
        RequestLog {
            level: "info",
            request_id,
            method: method.to_string(),
            route: "unknown",
            ..RequestLog::default()
        }
    }

    pub fn warn(&mut self, warning: impl Into<String>) {
        self.warnings.push(warning.into());
    }

    /// The finished line: `level` follows the status so 5xx lines stand out.
    pub fn line(&mut self, status: u16, duration_ms: u64) -> String {
        self.status = status;
        self.duration_ms = duration_ms;
        self.level = match status {
            500.. => "error",
            _ if !self.warnings.is_empty() => "warn",
            _ => "info",
        };
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Where a room object's lines go: the shell prints each at once, tests keep them.
pub trait ObjectLog {
    fn write(&self, line: ObjectLine);
}

/// One line of a room object (`"component": "room-object"`), searchable by `event`, as the
/// object's flows (`core::object`) write it.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectLine {
    pub level: &'static str,
    pub event: &'static str,
    /// The members that follow `level`, `component` and `event` (never one of those names).
    pub fields: Members,
}

impl ObjectLine {
    pub fn new(level: &'static str, event: &'static str, fields: Members) -> ObjectLine {
        ObjectLine {
            level,
            event,
            fields,
        }
    }

    /// The line as printed: one JSON object.
    pub fn line(self) -> String {
        Members::new()
            .str("level", self.level)
            .str("component", "room-object")
            .str("event", self.event)
            .and(self.fields)
            .object()
    }

    /// What a test expects of a line: `fields` and the three searchable members, compared
    /// with the printed line read back as JSON.
    #[cfg(test)]
    pub fn expected(
        level: &'static str,
        event: &'static str,
        fields: serde_json::Value,
    ) -> serde_json::Value {
        let mut line = fields;
        line["level"] = level.into();
        line["component"] = "room-object".into();
        line["event"] = event.into();
        line
    }
}

#[cfg(test)]
impl PartialEq<serde_json::Value> for ObjectLine {
    fn eq(&self, expected: &serde_json::Value) -> bool {
        serde_json::from_str::<serde_json::Value>(&self.clone().line()).ok()
            == Some(expected.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_one_json_object_with_the_searchable_fields() {
        let mut log = RequestLog::new("req-1".into(), "POST");
        log.route = "/callback";
        log.error = Some("bad_signature");
        log.sdk_app_id = Some(1400000001);
        let line = log.line(401, 3);
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(v["requestId"], "req-1");
        assert_eq!(v["route"], "/callback");
        assert_eq!(v["status"], 401);
        assert_eq!(v["error"], "bad_signature");
        assert_eq!(v["durationMs"], 3);
        assert_eq!(v["level"], "info");
    }

    #[test]
    fn every_line_counts_its_storage_operations_even_when_none() {
        let mut log = RequestLog::new("r".into(), "POST");
        let v: serde_json::Value = serde_json::from_str(&log.line(401, 0)).expect("valid JSON");
        for counter in [
            "kvReads",
            "kvWrites",
            "cacheReads",
            "cacheWrites",
            "objectCalls",
        ] {
            assert_eq!(v[counter], 0, "{counter}");
        }
        log.kv_reads += 2;
        log.cache_writes += 1;
        log.object_calls += 1;
        let v: serde_json::Value = serde_json::from_str(&log.line(200, 0)).expect("valid JSON");
        assert_eq!(v["kvReads"], 2);
        assert_eq!(v["cacheWrites"], 1);
        assert_eq!(v["objectCalls"], 1);
        assert_eq!(v["cacheReads"], 0);
    }

    #[test]
    fn an_object_line_is_one_object_of_the_searchable_three_then_the_fields() {
        let line = ObjectLine::new(
            "warn",
            "kv_write_failed",
            Members::new()
                .str("key", "room:1:2")
                .num("rev", 3)
                .num("atMs", 4)
                .str("why", "a \"quote\""),
        );
        assert_eq!(
            line.line(),
            r#"{"level":"warn","component":"room-object","event":"kv_write_failed","key":"room:1:2","rev":3,"atMs":4,"why":"a \"quote\""}"#
        );
        assert_eq!(
            ObjectLine::new("info", "seed", Members::new()).line(),
            r#"{"level":"info","component":"room-object","event":"seed"}"#
        );
    }

    #[test]
    fn server_failures_and_warnings_raise_the_level() {
        let mut log = RequestLog::new("r".into(), "GET");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&log.line(503, 0))
                .map(|v| v["level"].clone())
                .ok(),
            Some("error".into())
        );
        log.warn("dropped optional field GroupId");
        let v: serde_json::Value = serde_json::from_str(&log.line(200, 0)).expect("valid JSON");
        assert_eq!(v["level"], "warn");
        assert_eq!(v["warnings"][0], "dropped optional field GroupId");
    }
}
