//! Reconciliation with Tencent end to end: the room object's alarm asks a stub of TIW's API
//! (which checks the TC3 signature with Tencent's own Python SDK) about tasks stuck in
//! `Started`, and heals them when TIW says `STOPPED`.

mod support;

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use support::tencent::TencentStub;
use support::*;

const SECRET_ID: &str = "AKIDreconcileTestKeyId000000000000000";
const SECRET_KEY: &str = "reconcile-test-secret-key-0000000000";
const AFTER_SECONDS: u64 = 2;
/// The stub holds a "timeout" answer longer than the worker waits (5 s).
const HANG_SECONDS: u32 = 8;

fn stub() -> &'static TencentStub {
    static STUB: OnceLock<TencentStub> = OnceLock::new();
    STUB.get_or_init(|| TencentStub::start(SECRET_ID, SECRET_KEY, None, HANG_SECONDS))
}

fn reconciling_vars(stub: &TencentStub) -> Vec<(&'static str, String)> {
    let mut vars = signed_vars();
    vars.push(("TENCENT_SECRET_ID", SECRET_ID.into()));
    vars.push(("TENCENT_SECRET_KEY", SECRET_KEY.into()));
    vars.push(("TIW_API_ENDPOINT", stub.endpoint().to_string()));
    vars.push(("TIW_API_REGION", "ap-singapore".into()));
    vars.push(("RECONCILE_AFTER_SECONDS", AFTER_SECONDS.to_string()));
    vars.push(("POLL_INTERVAL_SECONDS", "1".into()));
    vars
}

fn worker() -> &'static Worker {
    static WORKER: OnceLock<Worker> = OnceLock::new();
    WORKER.get_or_init(|| Worker::start(&reconciling_vars(stub())))
}

fn unique_task(label: &str) -> String {
    format!("{label}-{}", unique_room())
}

fn calls(stub: &TencentStub, task: &str) -> u64 {
    stub.count()["tasks"][task].as_u64().unwrap_or(0)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// Waits for a live message whose room is `stopped`; returns it and when it arrived (ms).
fn wait_for_stop(socket: &mut Live) -> (Value, u64) {
    loop {
        let message = next_message(socket);
        if message["room"]["state"] == "stopped" {
            return (message, now_ms());
        }
    }
}

#[test]
fn a_room_whose_stopped_never_came_is_healed_and_the_real_stopped_still_wins() {
    let (w, stub) = (worker(), stub());
    let room = unique_room();
    let task = unique_task("healed");
    stub.script(json!({ &task: ["PUSHING", "STOPPED"] }));
    let mut socket = live_connect(w, &format!("/rooms/{room}/live"), &[])
        .unwrap_or_else(|res| panic!("live refused: {} {}", res.status, res.text()));
    assert_eq!(next_message(&mut socket)["room"]["state"], "idle");

    let t = now();
    assert_eq!(outcome(w, &signed(started(room, &task, t))), "applied");
    assert_eq!(next_message(&mut socket)["room"]["state"], "streaming");

    // PUSHING at the first check changes nothing; STOPPED at the second heals the room.
    let (message, flipped_at) = wait_for_stop(&mut socket);
    let record = &message["room"]["tasks"][0];
    assert_eq!(record["taskId"], task.as_str(), "{message}");
    assert_eq!(record["source"], "reconciled", "{message}");
    assert_eq!(message["room"]["finishReason"], "AUTO", "{message}");
    assert_eq!(calls(stub, &task), 2);
    let stopped_answer_at = stub.requests().as_array().and_then(|all| {
        all.iter()
            .filter(|r| r["body"].as_str().is_some_and(|b| b.contains(&task)))
            .filter(|r| r["answer"] == "STOPPED")
            .filter_map(|r| r["atMs"].as_u64())
            .next()
    });
    let stopped_answer_at = stopped_answer_at.expect("the stub answered STOPPED");
    eprintln!(
        "reconcile: room flipped {} ms after the stub answered STOPPED \
         (RECONCILE_AFTER_SECONDS={AFTER_SECONDS})",
        flipped_at.saturating_sub(stopped_answer_at)
    );
    // The status read (the KV read model, through this location's cache) agrees within the
    // coalescing delay and one poll interval.
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        let status = w.room(room);
        if status["state"] == "stopped" {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the status read never showed the stop"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(status["tasks"][0]["source"], "reconciled");

    // A stopped task is not asked about again.
    std::thread::sleep(Duration::from_secs(AFTER_SECONDS * 2));
    assert_eq!(calls(stub, &task), 2, "a reconciled task was checked again");

    // Tencent's real Stopped arriving afterwards replaces the reconciled stop.
    assert_eq!(
        outcome(w, &signed(stopped(room, &task, t, t + 30))),
        "applied"
    );
    let message = next_message(&mut socket);
    assert_eq!(
        message["room"]["tasks"][0]["source"], "callback",
        "{message}"
    );
    assert_eq!(message["room"]["finishReason"], "USER_CALL", "{message}");
    // And a late Started loses to both.
    assert_eq!(outcome(w, &signed(started(room, &task, t))), "stale");
}

#[test]
fn a_stopped_that_arrives_before_the_check_means_no_call_at_all() {
    let (w, stub) = (worker(), stub());
    let room = unique_room();
    let task = unique_task("prompt");
    stub.script(json!({ &task: ["STOPPED"] }));
    let t = now();
    assert_eq!(outcome(w, &signed(started(room, &task, t))), "applied");
    assert_eq!(
        outcome(w, &signed(stopped(room, &task, t, t + 1))),
        "applied"
    );
    std::thread::sleep(Duration::from_secs(AFTER_SECONDS * 2 + 1));
    assert_eq!(
        calls(stub, &task),
        0,
        "a task that is not streaming was checked"
    );
    assert_eq!(w.room(room)["tasks"][0]["source"], "callback");
}

#[test]
fn api_errors_and_timeouts_change_nothing_and_are_tried_again() {
    let (w, stub) = (worker(), stub());
    let room = unique_room();
    let task = unique_task("flaky");
    let failure = json!({"Error": {"Code": "InternalError", "Message": "try later"}});
    stub.script(json!({ &task: ["authfail", "500", failure, "timeout", "STOPPED"] }));
    let t = now();
    assert_eq!(outcome(w, &signed(started(room, &task, t))), "applied");

    let started_at = Instant::now();
    let deadline = started_at + Duration::from_secs(60);
    while calls(stub, &task) < 5 {
        // Until TIW says STOPPED, the room stays as the callbacks left it.
        let status = w.room(room);
        assert_eq!(status["state"], "streaming", "{status}");
        assert!(
            Instant::now() < deadline,
            "only {} checks",
            calls(stub, &task)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while w.room(room)["state"] != "stopped" {
        assert!(Instant::now() < deadline, "never healed after STOPPED");
        std::thread::sleep(Duration::from_millis(300));
    }

    // Each failure was logged with Tencent's code (and RequestId where it had one), never a
    // secret.
    let checks: Vec<Value> = object_events(w, "reconcile")
        .into_iter()
        .filter(|l| l["taskId"] == task.as_str())
        .collect();
    let answers: Vec<&str> = checks.iter().filter_map(|l| l["answer"].as_str()).collect();
    assert_eq!(
        answers,
        [
            "AuthFailure.SignatureFailure",
            "unparsable",
            "InternalError",
            "no_answer",
            "STOPPED"
        ],
        "{checks:?}"
    );
    assert!(checks[0]["requestId"].is_string(), "{checks:?}");
    assert_eq!(checks[4]["outcome"], "applied");
    let logs = w.logs();
    assert!(!logs.contains(SECRET_KEY) && !logs.contains(SECRET_ID));
}

#[test]
fn the_schedule_survives_a_restart_of_the_runtime() {
    let stub = stub();
    let vars = reconciling_vars(stub);
    let w = Worker::start(&vars);
    let room = unique_room();
    let task = unique_task("restart");
    stub.script(json!({ &task: ["STOPPED"] }));
    assert_eq!(outcome(&w, &signed(started(room, &task, now()))), "applied");
    // Stopped before the first check is due.
    let state_dir = w.stop();
    assert_eq!(calls(stub, &task), 0);

    let w = Worker::start_with_state(&vars, state_dir);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // No request reaches this room: only its stored alarm can make the call.
        if calls(stub, &task) >= 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the alarm did not survive the restart"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let mut socket = live_connect(&w, &format!("/rooms/{room}/live"), &[])
        .unwrap_or_else(|res| panic!("live refused: {} {}", res.status, res.text()));
    let first = next_message(&mut socket);
    let (message, _) = if first["room"]["state"] == "stopped" {
        (first, 0)
    } else {
        wait_for_stop(&mut socket)
    };
    assert_eq!(message["room"]["tasks"][0]["source"], "reconciled");
}

#[test]
fn without_credentials_nothing_is_scheduled_or_called() {
    let quiet_stub = TencentStub::start(SECRET_ID, SECRET_KEY, None, 1);
    let mut vars = signed_vars();
    vars.push(("TIW_API_ENDPOINT", quiet_stub.endpoint().to_string()));
    vars.push(("RECONCILE_AFTER_SECONDS", "1".into()));
    let w = Worker::start(&vars);
    assert_eq!(w.get("/healthz").json()["reconcile"], false);
    assert_eq!(worker().get("/healthz").json()["reconcile"], true);

    let room = unique_room();
    assert_eq!(
        outcome(&w, &signed(started(room, "no-credentials", now() - 3600))),
        "applied"
    );
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(quiet_stub.count()["total"], 0);
    assert_eq!(w.room(room)["state"], "streaming");

    // Only one of the two secrets: refused, naming the missing one.
    let mut half = signed_vars();
    half.push(("TENCENT_SECRET_ID", SECRET_ID.into()));
    let w = Worker::start(&half);
    let res = w.get("/healthz");
    assert_eq!(res.status, 503);
    assert_eq!(res.json()["variable"], "TENCENT_SECRET_KEY");
}

#[test]
fn the_origin_hears_of_a_reconciled_stop_through_the_delivery_queue() {
    let stub = stub();
    let origin = support::origin::Origin::start();
    let mut vars = reconciling_vars(stub);
    vars.push(("ORIGIN_URL", origin.url("/ok/reconciled")));
    vars.push(("ORIGIN_DELIVERY", "queue".into()));
    vars.push(("ORIGIN_RETRY_BASE_SECONDS", "1".into()));
    let w = Worker::start(&vars);
    let room = unique_room();
    let task = unique_task("told");
    stub.script(json!({ &task: ["STOPPED"] }));
    assert_eq!(outcome(&w, &signed(started(room, &task, now()))), "applied");

    let deadline = Instant::now() + Duration::from_secs(30);
    let reconciled = loop {
        let found = origin
            .received("/ok/reconciled")
            .into_iter()
            .find(|r| r.header("x-tiw-source") == Some("reconciled"));
        if let Some(found) = found {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "the origin never heard of the stop"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(reconciled.header("x-tiw-verified"), Some("0"));
    assert_eq!(
        reconciled.header("x-tiw-event-type"),
        Some("WhiteboardPushReconciled")
    );
    assert!(reconciled.header("x-tiw-delivery-id").is_some());
    let body: Value = serde_json::from_slice(&reconciled.body).expect("a JSON body");
    assert_eq!(body["EventType"], "WhiteboardPushReconciled");
    assert_eq!(body["SdkAppId"], APP);
    assert_eq!(body["EventData"]["TaskId"], task.as_str());
    assert_eq!(body["EventData"]["RoomId"], room);
    assert_eq!(body["EventData"]["Status"], "STOPPED");
    assert!(body["Timestamp"].is_i64(), "{body}");
    // The started callback went to the origin too, as Tencent's bytes, verified.
    assert!(origin
        .received("/ok/reconciled")
        .iter()
        .any(|r| r.header("x-tiw-verified") == Some("1")));
}
