//! The worker's TC3 signer (src/core/tencent.rs) against the stub of Tencent's API
//! (tests/support/tencent_stub.py), which checks signatures with Tencent's own Python SDK.
//!
//! A request the signer signs is accepted; the same request with one signed part changed is
//! refused with Tencent's `AuthFailure.SignatureFailure` shape; and every scripted answer of
//! the stub reaches `parse_answer` as the worker will see it. The end-to-end reconciliation
//! tests drive the same stub through [`TencentStub`].
//!
//! Needs `target/py-venv` with `tencentcloud-sdk-python-common` (scripts/test.sh installs it
//! through `ensure_tencent_sdk`); without it these tests fail, they never skip.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use support::tencent::{exchange, TencentStub};
use tiw_push_edge::core::tencent::{
    parse_answer, Answer, Api, Credentials, SignedRequest, TaskStatus,
};
use url::Url;

const SECRET_ID: &str = "AKIDstubTestKeyId0000000000000000000";
const SECRET_KEY: &str = "stub-test-secret-key-000000000000";
const APP: u64 = 1400000001;
const REGION: &str = "ap-singapore";

/// Sends a signed request as `fetch` would: its headers as they are, over HTTP/1.1.
fn send(port: u16, request: &SignedRequest, timeout: Duration) -> std::io::Result<Answer> {
    let path = Url::parse(&request.url)
        .map(|u| u.path().to_string())
        .unwrap_or_else(|_| "/".into());
    let mut raw = format!("POST {path} HTTP/1.1\r\n");
    for (name, value) in &request.headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n{}",
        request.body.len(),
        request.body
    ));
    let (status, body) = exchange(port, raw.as_bytes(), timeout)?;
    Ok(parse_answer(status, &body))
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn signed(
    stub: &TencentStub,
    credentials: &Credentials,
    region: &str,
    task: &str,
) -> SignedRequest {
    let endpoint = stub.endpoint();
    let api = Api {
        endpoint: &endpoint,
        region,
        credentials,
    };
    api.describe_whiteboard_push(APP, task, now())
}

fn set_header(request: &mut SignedRequest, name: &str, value: &str) {
    for (n, v) in request.headers.iter_mut() {
        if n.eq_ignore_ascii_case(name) {
            *v = value.to_string();
        }
    }
}

fn error_code(answer: &Answer) -> &str {
    match answer {
        Answer::Error(failure) => {
            assert!(failure.request_id.is_some(), "{answer:?}");
            &failure.code
        }
        other => panic!("expected Tencent's error shape, got {other:?}"),
    }
}

fn send_ok(stub: &TencentStub, request: &SignedRequest) -> Answer {
    send(stub.port, request, Duration::from_secs(10)).expect("the stub answers")
}

#[test]
fn the_stub_accepts_what_the_worker_signs_and_answers_per_script() {
    let stub = TencentStub::start(SECRET_ID, SECRET_KEY, Some(REGION), 30);
    stub.script(json!({"task-ok": ["PUSHING", "STOPPED"]}));
    let credentials = Credentials::new(SECRET_ID, SECRET_KEY);

    let first = send_ok(&stub, &signed(&stub, &credentials, REGION, "task-ok"));
    let Answer::Task(pushing) = &first else {
        panic!("not a task: {first:?}")
    };
    assert_eq!(pushing.status, TaskStatus::Pushing);
    assert_eq!(pushing.task_id.as_deref(), Some("task-ok"));
    assert!(pushing.request_id.is_some());

    for _ in 0..2 {
        // STOPPED is the last item, so it repeats.
        let answer = send_ok(&stub, &signed(&stub, &credentials, REGION, "task-ok"));
        let Answer::Task(stopped) = &answer else {
            panic!("not a task: {answer:?}")
        };
        assert_eq!(stopped.status, TaskStatus::Stopped);
        assert_eq!(stopped.finish_reason.as_deref(), Some("AUTO"));
        assert!(stopped
            .push_stop_time
            .is_some_and(|t| (t - now()).abs() < 60));
    }

    // A task without a script of its own gets the default, PUSHING.
    let other = send_ok(&stub, &signed(&stub, &credentials, REGION, "unscripted"));
    assert_eq!(other.code(), "PUSHING");

    assert_eq!(
        stub.count(),
        json!({"total": 4, "tasks": {"task-ok": 3, "unscripted": 1}})
    );
    let requests = stub.requests();
    let first_request = &requests[0];
    assert_eq!(first_request["verdict"], "ok");
    assert_eq!(first_request["headers"]["x-tc-region"], REGION);
    assert_eq!(
        first_request["headers"]["x-tc-action"],
        "DescribeWhiteboardPush"
    );
    assert_eq!(
        first_request["body"],
        r#"{"SdkAppId":1400000001,"TaskId":"task-ok"}"#
    );
}

#[test]
fn a_request_changed_after_signing_gets_tencents_signature_failure() {
    let stub = TencentStub::start(SECRET_ID, SECRET_KEY, None, 30);
    stub.script(json!({"*": ["STOPPED"]}));
    let credentials = Credentials::new(SECRET_ID, SECRET_KEY);

    let mut content_type = signed(&stub, &credentials, REGION, "t");
    set_header(
        &mut content_type,
        "Content-Type",
        "application/json; charset=utf-8",
    );
    let mut timestamp = signed(&stub, &credentials, REGION, "t");
    let ts = (now() + 1).to_string();
    set_header(&mut timestamp, "X-TC-Timestamp", &ts);
    let mut body = signed(&stub, &credentials, REGION, "t");
    body.body = body.body.replace("\"t\"", "\"u\"");
    let wrong_key = signed(
        &stub,
        &Credentials::new(SECRET_ID, "another-key"),
        REGION,
        "t",
    );
    for tampered in [&content_type, &timestamp, &body, &wrong_key] {
        let answer = send_ok(&stub, tampered);
        assert_eq!(
            error_code(&answer),
            "AuthFailure.SignatureFailure",
            "{tampered:?}"
        );
    }

    let unknown_id = signed(
        &stub,
        &Credentials::new("AKIDsomeoneElse", SECRET_KEY),
        REGION,
        "t",
    );
    assert_eq!(
        error_code(&send_ok(&stub, &unknown_id)),
        "AuthFailure.SecretIdNotFound"
    );
    let mut stale = signed(&stub, &credentials, REGION, "t");
    set_header(&mut stale, "X-TC-Timestamp", &(now() - 3600).to_string());
    assert_eq!(
        error_code(&send_ok(&stub, &stale)),
        "AuthFailure.SignatureExpire"
    );

    // The control: the same request untouched is accepted.
    let untouched = send_ok(&stub, &signed(&stub, &credentials, REGION, "t"));
    assert_eq!(untouched.code(), "STOPPED");
    let verdicts: Vec<Value> = stub
        .requests()
        .as_array()
        .map(|r| r.iter().map(|x| x["verdict"].clone()).collect())
        .unwrap_or_default();
    assert_eq!(
        verdicts.iter().filter(|v| **v == "ok").count(),
        1,
        "{verdicts:?}"
    );
    assert_eq!(stub.count()["total"], 7);
}

#[test]
fn a_region_the_stub_was_not_told_is_unsupported() {
    let stub = TencentStub::start(SECRET_ID, SECRET_KEY, Some(REGION), 30);
    let credentials = Credentials::new(SECRET_ID, SECRET_KEY);
    let answer = send_ok(&stub, &signed(&stub, &credentials, "ap-guangzhou", "t"));
    assert_eq!(error_code(&answer), "UnsupportedRegion");
}

#[test]
fn scripted_failures_reach_the_parser_as_the_worker_will_see_them() {
    let stub = TencentStub::start(SECRET_ID, SECRET_KEY, None, 5);
    stub.script(json!({
        "down": ["500"],
        "refused": ["authfail"],
        "gone": [{"Error": {"Code": "ResourceNotFound.TaskNotFound", "Message": "no such task"}}],
        "full": [{"Status": "STOPPED", "RoomId": 1253, "PushStopTime": 1700000000,
                  "FinishReason": "USER_CALL", "ExceptionCnt": 2}],
        "slow": ["timeout"],
    }));
    let credentials = Credentials::new(SECRET_ID, SECRET_KEY);

    match send_ok(&stub, &signed(&stub, &credentials, REGION, "down")) {
        Answer::Unparsable(why) => assert!(why.starts_with("HTTP 500"), "{why}"),
        other => panic!("expected unparsable, got {other:?}"),
    }
    let refused = send_ok(&stub, &signed(&stub, &credentials, REGION, "refused"));
    assert_eq!(error_code(&refused), "AuthFailure.SignatureFailure");
    let gone = send_ok(&stub, &signed(&stub, &credentials, REGION, "gone"));
    assert_eq!(error_code(&gone), "ResourceNotFound.TaskNotFound");
    let full = send_ok(&stub, &signed(&stub, &credentials, REGION, "full"));
    let Answer::Task(task) = &full else {
        panic!("not a task: {full:?}")
    };
    assert_eq!(
        (
            task.room_id,
            task.push_stop_time,
            task.finish_reason.as_deref(),
            task.exception_count
        ),
        (Some(1253), Some(1700000000), Some("USER_CALL"), Some(2))
    );

    let timed_out = send(
        stub.port,
        &signed(&stub, &credentials, REGION, "slow"),
        Duration::from_millis(1500),
    );
    assert!(
        timed_out.as_ref().is_err_and(|e| matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )),
        "{timed_out:?}"
    );
    assert_eq!(stub.count()["tasks"]["slow"], 1);
}
