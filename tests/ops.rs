//! Operator tooling end to end: the deploy configuration bundles offline for the local
//! config and for production (`wrangler deploy --dry-run`), and the signing tool
//! (`scripts/sign.mjs`, `npm run sign`) sends callbacks the real local runtime accepts or
//! refuses the way docs/RUNBOOK.md says.

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};

use serde_json::Value;
use support::*;

fn signed_worker() -> &'static Worker {
    static WORKER: OnceLock<Worker> = OnceLock::new();
    WORKER.get_or_init(|| Worker::start(&signed_vars()))
}

/// The dry-run rebuilds `build/`, which the running worker serves: it never runs while a
/// signing test talks to the worker.
fn build_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What a finished tool printed, and how it exited.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// The body the signing tool printed (and sent): its one JSON line.
    fn body(&self) -> Value {
        let line = self
            .stdout
            .lines()
            .find(|l| l.starts_with("{\"EventType\""))
            .unwrap_or_else(|| panic!("no body printed:\n{}", self.output()));
        serde_json::from_str(line).unwrap_or_else(|e| panic!("body not JSON ({e}): {line}"))
    }

    /// The `x-request-id` the worker answered with, as the tool printed it.
    fn request_id(&self) -> String {
        self.stdout
            .split("x-request-id: ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no x-request-id printed:\n{}", self.output()))
            .to_string()
    }
}

/// `program` from `node_modules/.bin` first, run in `dir`, with wrangler offline and quiet
/// and no callback key inherited from the caller's environment.
fn tool(program: &str, dir: &Path) -> Command {
    let mut cmd = node_command(program);
    cmd.current_dir(dir).env_remove("CALLBACK_KEY");
    cmd
}

fn run(mut cmd: Command) -> Run {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"));
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `node scripts/sign.mjs <args>` from the repository root.
fn sign_tool(args: &[&str]) -> Run {
    sign_tool_with(&root(), &[], args)
}

fn sign_tool_with(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = tool("node", dir);
    cmd.arg(root().join("scripts/sign.mjs")).args(args);
    for (name, value) in env {
        cmd.env(name, value);
    }
    run(cmd)
}

fn callback_url(w: &Worker) -> String {
    format!("{}/callback", w.base)
}

#[test]
fn deploy_dry_run_bundles_the_local_and_production_configs_offline() {
    let _build = build_lock();
    let mut local_kv_id = None;
    // Staging has the same shape as production; each dry-run costs a worker build (20-60 s).
    for env in [None, Some("production")] {
        let label = env.unwrap_or("top-level");
        let outdir = temp_dir(&format!("deploy-{label}"));
        let mut cmd = tool(
            &root().join("node_modules/.bin/wrangler").to_string_lossy(),
            &root(),
        );
        cmd.args(["deploy", "--dry-run", "--outdir"]).arg(&outdir);
        if let Some(env) = env {
            cmd.args(["--env", env]);
        }
        let started = std::time::Instant::now();
        let result = run(cmd);
        eprintln!(
            "wrangler deploy --dry-run ({label}): {:?}",
            started.elapsed()
        );
        let output = result.output();
        assert_eq!(result.code, Some(0), "dry-run ({label}) failed:\n{output}");
        assert!(output.contains("--dry-run: exiting now"), "{output}");
        // The static files go up as Workers Static Assets in every environment ([assets] is
        // inherited, its binding too): the whole of static/, read by the worker via ASSETS.
        let static_dir = root().join("static");
        let count = std::fs::read_dir(&static_dir).expect("static/").count();
        let assets = format!(
            "Read {count} files from the assets directory {}",
            static_dir.display()
        );
        assert!(output.contains(&assets), "({label}) no {assets}:\n{output}");
        assert!(
            output
                .lines()
                .any(|l| l.trim_start().starts_with("env.ASSETS ") && l.contains("Assets")),
            "({label}) no ASSETS binding:\n{output}"
        );

        let files: Vec<String> = std::fs::read_dir(&outdir)
            .expect("read outdir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            files.iter().any(|f| f == "index.js"),
            "no bundled worker in {files:?}"
        );
        assert!(
            files.iter().any(|f| f.ends_with(".wasm")),
            "no wasm module in {files:?}"
        );

        // Vars and KV bindings are not inherited by environments: each must carry its own.
        assert!(
            !output.contains("not inherited by environments"),
            "({label}) {output}"
        );
        assert!(output.contains("env.SDK_APP_IDS"), "({label}) {output}");
        // Durable Object bindings are not inherited either; the migration is.
        assert!(
            output.contains("env.ROOMS (RoomObject)"),
            "({label}) {output}"
        );
        assert!(
            output.contains("env.MAX_LIVE_CONNECTIONS_PER_ROOM"),
            "({label}) {output}"
        );
        let kv_id = output
            .split("env.PUSH_STATE (")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .unwrap_or_else(|| panic!("({label}) no PUSH_STATE binding:\n{output}"))
            .to_string();
        // Queued delivery's producer: each environment names its own queue.
        let queue = format!(
            "env.ORIGIN_QUEUE (tiw-push-edge{}-origin)",
            env.map(|e| format!("-{e}")).unwrap_or_default()
        );
        assert!(output.contains(&queue), "({label}) no {queue}:\n{output}");
        match env {
            None => local_kv_id = Some(kv_id),
            Some(_) => assert_ne!(
                Some(&kv_id),
                local_kv_id.as_ref(),
                "{label} must not share the local KV namespace"
            ),
        }
    }
}

#[test]
fn sign_tool_started_then_stopped_flips_the_room() {
    let w = signed_worker();
    let _build = build_lock();
    let room = unique_room();
    let room_arg = room.to_string();
    let url = callback_url(w);

    let started = sign_tool(&["started", "--url", &url, "--room", &room_arg, "--key", KEY]);
    assert_eq!(started.code, Some(0), "{}", started.output());
    assert!(started.stdout.contains("HTTP 200"), "{}", started.output());
    assert!(!started.output().contains(KEY), "the key was printed");
    let status = w.room(room);
    assert_eq!(status["state"], "streaming");
    assert_eq!(status["taskId"], format!("cli-{room}"));
    assert_eq!(status["pushUserId"], format!("tic_push_user_{room}_01"));

    // The printed request id finds the worker's log line (RUNBOOK: "Logs").
    let line = w.log_line(&started.request_id());
    assert_eq!(line["route"], "/callback");
    assert_eq!(line["status"], 200);
    assert_eq!(line["outcome"], "applied");
    assert_eq!(line["eventType"], "WhiteboardPushStarted");
    assert_eq!(line["roomId"], room);

    let stopped = sign_tool(&["stopped", "--url", &url, "--room", &room_arg, "--key", KEY]);
    assert_eq!(stopped.code, Some(0), "{}", stopped.output());
    let status = w.room(room);
    assert_eq!(status["state"], "stopped");
    assert_eq!(status["finishReason"], "USER_CALL");
    assert_eq!(status["tasks"].as_array().map(Vec::len), Some(1));
}

#[test]
fn sign_tool_with_a_wrong_key_exits_non_zero_and_shows_bad_signature() {
    let w = signed_worker();
    let _build = build_lock();
    let room = unique_room();
    let result = sign_tool(&[
        "started",
        "--url",
        &callback_url(w),
        "--room",
        &room.to_string(),
        "--key",
        "not-the-worker-key",
    ]);
    let output = result.output();
    assert_eq!(result.code, Some(1), "{output}");
    assert!(output.contains("HTTP 401"), "{output}");
    assert!(output.contains("bad_signature"), "{output}");
    assert!(output.contains("hint:"), "{output}");
    assert_eq!(w.room(room)["state"], "idle");
}

#[test]
fn sign_tool_takes_the_key_from_the_environment_or_dev_vars() {
    let w = signed_worker();
    let _build = build_lock();
    let url = callback_url(w);

    let room = unique_room().to_string();
    let from_env = sign_tool_with(
        &root(),
        &[("CALLBACK_KEY", KEY)],
        &["started", "--url", &url, "--room", &room],
    );
    assert_eq!(from_env.code, Some(0), "{}", from_env.output());
    assert!(
        from_env.stderr.contains("$CALLBACK_KEY"),
        "{}",
        from_env.output()
    );

    // A .dev.vars in the current directory wins over the repository's; here it holds the
    // previous key, which the worker still accepts while a rotation is under way.
    let dir = temp_dir("dev-vars");
    std::fs::write(
        dir.join(".dev.vars"),
        format!("# rotation check\nCALLBACK_KEY=\"{PREVIOUS_KEY}\"\n"),
    )
    .expect("write .dev.vars");
    let room = unique_room();
    let from_file = sign_tool_with(
        &dir,
        &[],
        &["started", "--url", &url, "--room", &room.to_string()],
    );
    assert_eq!(from_file.code, Some(0), "{}", from_file.output());
    assert!(
        from_file.stderr.contains(".dev.vars"),
        "{}",
        from_file.output()
    );
    assert!(
        !from_file.output().contains(PREVIOUS_KEY),
        "the key was printed"
    );
    assert_eq!(w.room(room)["state"], "streaming");
}

#[test]
fn sign_tool_dry_run_sends_nothing_and_signs_like_the_worker() {
    // Nobody listens on this port: a dry run must not try.
    let url = format!("http://127.0.0.1:{}/callback", free_port());
    let result = sign_tool(&[
        "stopped",
        "--dry-run",
        "--url",
        &url,
        "--room",
        "1253",
        "--task",
        "t-1",
        "--key",
        KEY,
        "--start",
        "1610545438",
        "--stop",
        "1610545500",
        "--reason",
        "AUTO",
    ]);
    assert_eq!(result.code, Some(0), "{}", result.output());
    assert!(!result.stdout.contains("HTTP "), "{}", result.output());

    let body = result.body();
    assert_eq!(body["EventType"], "WhiteboardPushStopped");
    assert_eq!(
        body["SdkAppId"], APP,
        "the default app is wrangler.toml's first"
    );
    let expire = body["ExpireTime"].as_i64().expect("integer ExpireTime");
    assert!((expire - (now() + 300)).abs() <= 5, "ExpireTime {expire}");
    assert_eq!(
        body["Sign"],
        tiw_push_edge::core::signature::sign(KEY, &expire.to_string())
    );
    let data = &body["EventData"];
    assert_eq!(data["TaskId"], "t-1");
    assert_eq!(data["RoomId"], 1253);
    assert_eq!(data["GroupId"], "1253");
    assert_eq!(data["FinishReason"], "AUTO");
    assert_eq!(data["PushStartTime"], 1610545438);
    assert_eq!(data["PushStopTime"], 1610545500);
}

#[test]
fn sign_tool_selftest_reproduces_tencents_published_vector() {
    const VECTOR: &str = "a2dabb362a9b811c0e26953a6276a41c";
    assert_eq!(
        tiw_push_edge::core::signature::sign("Xz4ZgayTr7rMgWQrH", "1588040109"),
        VECTOR
    );
    let result = sign_tool(&["--selftest"]);
    assert_eq!(result.code, Some(0), "{}", result.output());
    assert!(result.stdout.contains(VECTOR), "{}", result.output());

    // The same through the npm script the README walks through.
    let mut npm = tool("npm", &root());
    npm.args(["run", "--silent", "sign", "--", "--selftest"]);
    let result = run(npm);
    assert_eq!(result.code, Some(0), "{}", result.output());
    assert!(result.stdout.contains(VECTOR), "{}", result.output());
}

#[test]
fn sign_tool_reports_an_unreachable_worker_and_bad_arguments() {
    let url = format!("http://127.0.0.1:{}/callback", free_port());
    let unreachable = sign_tool(&["started", "--url", &url, "--key", KEY]);
    assert_eq!(unreachable.code, Some(3), "{}", unreachable.output());
    assert!(
        unreachable.stderr.contains("could not reach"),
        "{}",
        unreachable.output()
    );

    for args in [
        &["--key", KEY][..],
        &["paused", "--key", KEY],
        &["started", "--room", "0", "--key", KEY],
        &["started", "--room", "12x", "--key", KEY],
        &["started", "--no-such-option"],
    ] {
        let result = sign_tool(&[&["--dry-run"][..], args].concat());
        assert_eq!(result.code, Some(2), "{args:?}: {}", result.output());
        assert!(
            result.stderr.contains("error:"),
            "{args:?}: {}",
            result.output()
        );
    }
}
