//! The worker against its published contract, end to end: `GET /openapi.json` serves
//! static/openapi.json, a valid OpenAPI 3.1 document; schemathesis sends generated requests
//! to a live worker and fails on any answer the document does not describe; and the types of
//! static/client.d.ts fit the bodies the worker really answers (`tsc`).
//!
//! Needs `target/schemathesis` (schemathesis and openapi-spec-validator in a Python venv) and
//! `node_modules/.bin/tsc`; scripts/test.sh installs both, besides the usual harness needs.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

/// The rooms of the document's examples: the examples phase of schemathesis reads them, so
/// the run checks a streaming and a stopped room against the schema, not only idle ones.
const STREAMING_ROOM: u32 = 1253;
const STOPPED_ROOM: u32 = 880528;
const UNSEEN_ROOM: u32 = 7;
/// Enables the admin routes, so the run gets their answers (a wrong token: 401) rather than
/// the 404 of a worker without them; schemathesis sends it on every request.
const ADMIN_TOKEN: &str = "e2e-admin-token";
/// Each tool bounds itself well under this; this only guards against a hung process.
const RUN_LIMIT: Duration = Duration::from_secs(240);

fn worker() -> &'static Worker {
    static WORKER: OnceLock<Worker> = OnceLock::new();
    WORKER.get_or_init(|| {
        let mut vars = signed_vars();
        vars.push(("ADMIN_TOKEN", ADMIN_TOKEN.into()));
        let worker = Worker::start(&vars);
        let start = now() - 120;
        let streaming = started(STREAMING_ROOM, "bj0mt2l23osdj300hl30", start);
        assert_eq!(outcome(&worker, &signed(streaming)), "applied");
        let stopped = stopped(STOPPED_ROOM, "ghucnligqtgtvk2624mb", start, start + 60);
        assert_eq!(outcome(&worker, &signed(stopped)), "applied");
        worker
    })
}

/// A tool of the schemathesis venv (scripts/test.sh installs it).
fn venv_tool(name: &str) -> PathBuf {
    let path = root().join("target/schemathesis/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/test.sh (it installs schemathesis first)",
        path.display()
    );
    path
}

/// What a finished tool printed, and whether it succeeded.
struct Run {
    ok: bool,
    output: String,
    seconds: f64,
}

/// Runs `cmd` in `dir` with its output in a file, ending it after [`RUN_LIMIT`].
fn run_bounded(mut cmd: Command, dir: &Path) -> Run {
    let out_path = dir.join("output.log");
    let out = std::fs::File::create(&out_path).expect("create output log");
    let started = Instant::now();
    let mut child = cmd
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log handle"))
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {cmd:?}: {e}"));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for tool") {
            break Some(status);
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = std::fs::read_to_string(&out_path).unwrap_or_default();
    Run {
        ok: status.is_some_and(|s| s.success()),
        output: match status {
            Some(_) => output,
            None => format!("{output}\n(killed after {} s)", RUN_LIMIT.as_secs()),
        },
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// `schemathesis run` with the suite's settings (tests/schemathesis.toml) against
/// the seeded worker, reading the document from `schema` (a URL or a file).
fn schemathesis(schema: &str, extra: &[&str], dir: &Path) -> Run {
    let admin = format!("Authorization: Bearer {ADMIN_TOKEN}");
    let mut args = vec!["-H", &admin];
    args.extend_from_slice(extra);
    schemathesis_against(worker(), schema, &args, dir)
}

fn schemathesis_against(target: &Worker, schema: &str, extra: &[&str], dir: &Path) -> Run {
    let mut cmd = Command::new(venv_tool("schemathesis"));
    cmd.arg("--config-file")
        .arg(root().join("tests/schemathesis.toml"))
        .args(["run", schema, "--url", &target.base])
        .args(["--no-color", "--request-timeout", "20"])
        .args(extra)
        .env("NO_COLOR", "1");
    run_bounded(cmd, dir)
}

fn document() -> Value {
    let text = std::fs::read_to_string(root().join("static/openapi.json")).expect("read document");
    serde_json::from_str(&text).expect("static/openapi.json is JSON")
}

#[test]
fn worker_serves_the_repository_document_with_an_etag() {
    let res = worker().get("/openapi.json");
    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let file = std::fs::read(root().join("static/openapi.json")).expect("read document");
    assert!(
        res.body == file,
        "GET /openapi.json is not static/openapi.json"
    );
    let tag = res.header("etag").expect("an ETag").to_string();
    let again = worker().get_with("/openapi.json", &[("if-none-match", &tag)]);
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
}

#[test]
fn document_is_valid_openapi_3_1() {
    let mut cmd = Command::new(venv_tool("openapi-spec-validator"));
    cmd.arg(root().join("static/openapi.json"));
    let run = run_bounded(cmd, &temp_dir("spec-validator"));
    assert!(run.ok, "static/openapi.json is not valid:\n{}", run.output);
    assert_eq!(document()["openapi"], "3.1.0");
}

#[test]
fn every_answer_of_the_live_worker_is_one_the_document_describes() {
    let run = schemathesis(
        &format!("{}/openapi.json", worker().base),
        &[],
        &temp_dir("schemathesis"),
    );
    eprintln!("schemathesis ({:.1} s):\n{}", run.seconds, run.output);
    assert!(
        run.ok,
        "the worker and static/openapi.json disagree (schemathesis output above); worker log:\n{}",
        worker().logs()
    );
    // It really ran the operations (not an empty selection).
    assert!(run.output.contains("Tested: "), "{}", run.output);
}

#[test]
fn every_answer_of_an_unconfigured_worker_is_one_the_document_describes() {
    // No SDK_APP_IDS: every route but /healthz answers 503 `not_configured`, before routing.
    let unconfigured = Worker::start(&[]);
    assert_eq!(unconfigured.get("/healthz").status, 503);
    let run = schemathesis_against(
        &unconfigured,
        &format!("{}/openapi.json", worker().base),
        // A 503 is the documented answer here, also to a wrong method or a missing token.
        &[
            "--exclude-checks",
            "not_a_server_error,unsupported_method,allow_header_conformance,missing_required_header",
        ],
        &temp_dir("schemathesis-unconfigured"),
    );
    eprintln!("schemathesis ({:.1} s):\n{}", run.seconds, run.output);
    assert!(
        run.ok,
        "an unconfigured worker and static/openapi.json disagree:\n{}",
        run.output
    );
}

#[test]
fn schemathesis_fails_when_a_body_breaks_the_document() {
    // A document whose room status lacks `updatedAt`, which every real status body has.
    let mut doc = document();
    let room = &mut doc["components"]["schemas"]["RoomStatus"];
    room["properties"]
        .as_object_mut()
        .and_then(|p| p.remove("updatedAt"))
        .expect("RoomStatus has updatedAt");
    room["required"]
        .as_array_mut()
        .expect("RoomStatus lists required fields")
        .retain(|f| f != "updatedAt");
    let dir = temp_dir("schemathesis-broken");
    let path = dir.join("broken.json");
    std::fs::write(&path, doc.to_string()).expect("write broken document");

    let run = schemathesis(
        &path.display().to_string(),
        &["--include-operation-id", "getRoom", "--phases", "examples"],
        &dir,
    );
    assert!(
        !run.ok,
        "schemathesis passed a body the document forbids:\n{}",
        run.output
    );
    assert!(
        run.output.contains("Response violates schema"),
        "failed for another reason:\n{}",
        run.output
    );
}

#[test]
fn client_types_fit_the_bodies_the_worker_answers() {
    let w = worker();
    let body = |path: &str| {
        let res = w.get(path);
        assert_eq!(res.status, 200, "{path}: {}", res.text());
        res.text()
    };
    let streaming = body(&format!("/rooms/{STREAMING_ROOM}"));
    let stopped = body(&format!("/rooms/{STOPPED_ROOM}"));
    let idle = body(&format!("/rooms/{UNSEEN_ROOM}"));
    let batch = body(&format!(
        "/rooms?ids={STREAMING_ROOM},{STOPPED_ROOM},{UNSEEN_ROOM}"
    ));
    assert!(streaming.contains("\"streaming\"") && stopped.contains("\"stopped\""));

    let dir = temp_dir("types");
    let client = root().join("static/client.js");
    let header = format!(
        "import type {{ Room, Rooms }} from {:?};\n",
        client.display().to_string()
    );
    let real = format!(
        "{header}export const streaming = {streaming} satisfies Room;\n\
         export const stopped = {stopped} satisfies Room;\n\
         export const idle = {idle} satisfies Room;\n\
         export const batch = {batch} satisfies Rooms;\n"
    );
    // The same streaming body with a field the types do not know: tsc must refuse it, or the
    // check above could not fail.
    let drifted_body = streaming.replacen('{', "{\"surprise\":1,", 1);
    let drifted = format!("{header}export const drifted = {drifted_body} satisfies Room;\n");
    std::fs::write(dir.join("real.ts"), real).expect("write real.ts");
    std::fs::write(dir.join("drifted.ts"), drifted).expect("write drifted.ts");
    std::fs::write(
        dir.join("tsconfig.json"),
        r#"{"compilerOptions": {"strict": true, "noEmit": true, "target": "es2022",
            "module": "esnext", "moduleResolution": "bundler", "lib": ["es2022", "dom"],
            "exactOptionalPropertyTypes": true}, "files": ["real.ts", "drifted.ts"]}"#,
    )
    .expect("write tsconfig.json");

    let tsc = root().join("node_modules/.bin/tsc");
    assert!(
        tsc.exists(),
        "node_modules/.bin/tsc is missing: run scripts/test.sh (it installs the npm packages)"
    );
    let mut cmd = node_command(&tsc);
    cmd.args(["--noEmit", "-p", "tsconfig.json", "--pretty", "false"]);
    let run = run_bounded(cmd, &dir);
    let errors: Vec<&str> = run
        .output
        .lines()
        .filter(|l| l.contains("error TS"))
        .collect();
    assert!(
        errors.iter().all(|l| l.starts_with("drifted.ts")),
        "static/client.d.ts does not fit a body the worker answered:\n{}",
        run.output
    );
    assert!(
        errors.iter().any(|l| l.contains("surprise")),
        "tsc accepted a body with a field the types lack:\n{}",
        run.output
    );
}

#[test]
fn a_method_the_runtime_does_not_know_is_refused_not_read_as_get() {
    for path in ["/rooms/1253", "/healthz", "/openapi.json"] {
        let res = worker().request("QUERY", path, &[], b"");
        assert_eq!(res.status, 405, "QUERY {path}: {}", res.text());
        assert_eq!(res.error_code(), "method_not_allowed");
        assert_eq!(res.header("allow"), Some("GET, HEAD, OPTIONS"));
    }
}
