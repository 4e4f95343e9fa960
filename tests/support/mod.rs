//! End-to-end harness: starts the real local runtime (`wrangler dev`: workerd + local KV) on
//! a free port with its own KV directory, and talks to it over plain HTTP/1.1.
//!
//! Needs `build/` (scripts/test.sh builds it) and `node_modules` (scripts/test.sh installs it).
//! Each worker runs under `tests/support/guard.sh`, which ends wrangler and workerd when this
//! test process exits, however it exits.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod origin;
pub mod tencent;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

pub const APP: u64 = 1400000001;
pub const OTHER_APP: u64 = 1400000002;
pub const KEY: &str = "e2e-callback-key";
pub const PREVIOUS_KEY: &str = "e2e-previous-key";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// A fresh directory under `target/e2e/<pid>/`, unique to this process and call. The first
/// call removes what earlier, finished test processes left there.
pub fn temp_dir(label: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let base = root().join("target/e2e");
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    if n == 0 {
        sweep_finished_runs(&base);
    }
    let dir = base
        .join(std::process::id().to_string())
        .join(format!("{label}-{n}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

fn sweep_finished_runs(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let alive = Path::new("/proc").join(&name).exists();
        if name.parse::<u32>().is_ok() && !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Variables that are secrets in production: the harness puts them in `.dev.vars`, as a
/// developer would, so wrangler hides their values.
const SECRETS: &[&str] = &[
    "CALLBACK_KEY",
    "CALLBACK_KEY_PREVIOUS",
    "ORIGIN_TOKEN",
    "STATUS_TOKEN",
    "TENCENT_SECRET_ID",
    "TENCENT_SECRET_KEY",
    "ADMIN_TOKEN",
];

/// A port nobody listens on right now, taken from below the kernel's ephemeral range
/// (`ip_local_port_range`, 32768 and up by default). A port that `bind(0)` handed out could be
/// given again to workerd's own listeners or to an outgoing connection before wrangler binds
/// it (CI saw "Address already in use" for an inspector port that way); these ports are only
/// ever taken by someone asking for them by number. Each test process starts at its own
/// offset and walks the range, so concurrent test binaries rarely try the same one.
pub fn free_port() -> u16 {
    const LOW: u32 = 20_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let high = ephemeral_low().clamp(LOW + 1_000, 32_768);
    let span = high - LOW;
    let start = std::process::id().wrapping_mul(7_919) % span;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let port = (LOW + (start + n) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {LOW}..{high}");
}

/// The first port of the kernel's ephemeral range.
fn ephemeral_low() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// A command for `program` with `node_modules/.bin` (Node 22, wrangler) first on PATH and
/// wrangler offline and quiet.
pub fn node_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let path = format!(
        "{}:{}",
        root().join("node_modules/.bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new(program);
    cmd.env("PATH", path)
        .env("WRANGLER_SEND_METRICS", "false")
        .env("DO_NOT_TRACK", "1")
        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
        .env("WRANGLER_HIDE_BANNER", "true")
        .env("NO_COLOR", "1");
    cmd
}

/// The vars of the usual test deployment: two apps, the key and a previous key.
/// Marks a var value that `wrangler_toml` writes as it is (a TOML number or boolean) rather
/// than as a string; see [`toml_literal`].
const TOML_LITERAL: &str = "\u{1}toml:";

/// A var value written into wrangler.toml unquoted, e.g. `toml_literal("1400000001")` for
/// `SDK_APP_IDS = 1400000001`.
pub fn toml_literal(literal: &str) -> String {
    format!("{TOML_LITERAL}{literal}")
}

pub fn signed_vars() -> Vec<(&'static str, String)> {
    vec![
        ("SDK_APP_IDS", format!("{APP},{OTHER_APP}")),
        ("CALLBACK_KEY", KEY.into()),
        ("CALLBACK_KEY_PREVIOUS", PREVIOUS_KEY.into()),
        ("MAX_EXPIRE_AHEAD_SECONDS", "3600".into()),
    ]
}

/// How a start of `wrangler dev` went.
enum Ready {
    Yes,
    /// Wrangler could not bind one of its ports.
    PortTaken,
    /// No answer within the deadline.
    No,
}

/// One `wrangler dev` process with its own config, port and KV directory.
pub struct Worker {
    pub base: String,
    pub port: u16,
    pub state_dir: PathBuf,
    log_path: PathBuf,
    child: Child,
    guard_stdin: Option<ChildStdin>,
}

impl Worker {
    pub fn start(vars: &[(&str, String)]) -> Worker {
        Worker::start_with_state(vars, temp_dir("kv"))
    }

    /// Starts on an existing KV directory (to test persistence across restarts).
    pub fn start_with_state(vars: &[(&str, String)], state_dir: PathBuf) -> Worker {
        Worker::launch(vars, state_dir, Bindings::All)
    }

    /// Starts without the delivery queue bindings (to test that queued delivery fails
    /// closed without them).
    pub fn start_without_queues(vars: &[(&str, String)]) -> Worker {
        Worker::launch(vars, temp_dir("kv"), Bindings::NoQueues)
    }

    /// Starts without `[assets]` (to test that the static files fail clearly without them).
    pub fn start_without_assets(vars: &[(&str, String)]) -> Worker {
        Worker::launch(vars, temp_dir("kv"), Bindings::NoAssets)
    }

    fn launch(vars: &[(&str, String)], state_dir: PathBuf, bindings: Bindings) -> Worker {
        let main = root().join("build/index.js");
        assert!(
            main.exists(),
            "build/index.js is missing: run scripts/test.sh (it builds the worker first)"
        );
        let dir = temp_dir("config");
        let config = dir.join("wrangler.toml");
        let (secrets, plain): (Vec<_>, Vec<_>) = vars
            .iter()
            .cloned()
            .partition(|(name, _)| SECRETS.contains(name));
        std::fs::write(&config, wrangler_toml(&main, &plain, bindings)).expect("write config");
        let dev_vars: String = secrets
            .iter()
            .map(|(name, value)| format!("{name}={value:?}\n"))
            .collect();
        std::fs::write(dir.join(".dev.vars"), dev_vars).expect("write .dev.vars");
        Worker::run(&config, &dir, state_dir)
    }

    /// Starts `wrangler dev` on a config file as it is (the bench's no-op worker).
    pub fn start_with_config(config: &Path) -> Worker {
        Worker::run(config, &temp_dir("config"), temp_dir("kv"))
    }

    /// `wrangler dev --config config` from `dir` (where its logs go), on `state_dir`.
    fn run(config: &Path, dir: &Path, state_dir: PathBuf) -> Worker {
        let wrangler = root().join("node_modules/.bin/wrangler");
        assert!(
            wrangler.exists(),
            "node_modules is missing: run scripts/test.sh (it installs wrangler first)"
        );
        // A port can still be taken between the check and wrangler's bind (by a process
        // outside this harness): then wrangler says so and hangs, and it is started again on
        // other ports.
        for attempt in 1.. {
            let log_path = dir.join(format!("wrangler-{attempt}.log"));
            let log = std::fs::File::create(&log_path).expect("create log");
            let port = free_port();
            let inspector = free_port();
            let mut child = node_command("bash")
                .arg(root().join("tests/support/guard.sh"))
                .arg(&wrangler)
                .args(["dev", "--config"])
                .arg(config)
                .args(["--ip", "127.0.0.1", "--port", &port.to_string()])
                .args(["--inspector-port", &inspector.to_string()])
                .arg("--persist-to")
                .arg(&state_dir)
                .args(["--show-interactive-dev-session=false", "--log-level", "log"])
                .current_dir(dir)
                .stdin(Stdio::piped())
                .stdout(log.try_clone().expect("log handle"))
                .stderr(log)
                .spawn()
                .expect("start wrangler dev");
            let guard_stdin = child.stdin.take();
            let mut worker = Worker {
                base: format!("http://127.0.0.1:{port}"),
                port,
                state_dir: state_dir.clone(),
                log_path,
                child,
                guard_stdin,
            };
            match worker.wait_ready() {
                Ready::Yes => return worker,
                Ready::PortTaken if attempt < 3 => worker.shutdown(),
                _ => panic!("wrangler dev did not answer in 90 s:\n{}", worker.logs()),
            }
        }
        unreachable!("the loop returns or panics")
    }

    fn wait_ready(&mut self) -> Ready {
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("wrangler dev exited ({status}):\n{}", self.logs());
            }
            if let Ok(res) = try_request(self.port, "GET", "/healthz", &[], b"") {
                if res.status > 0 {
                    return Ready::Yes;
                }
            }
            if self.logs().contains("Address already in use") {
                return Ready::PortTaken;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ready::No
    }

    /// CPU time (user + system, ms) used so far by the `workerd` processes that run this
    /// worker (wrangler's runtime), read from /proc: for benchmarks, never asserted.
    pub fn workerd_cpu_ms(&self) -> f64 {
        workerd_cpu_ms_under(self.child.id())
    }

    /// Everything wrangler printed, the worker's log lines included.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The worker's JSON log line of the request with this id (waits for it briefly).
    pub fn log_line(&self, request_id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            for line in self.logs().lines() {
                if let Ok(v) = serde_json::from_str::<Value>(line.trim()) {
                    if v["requestId"] == request_id {
                        return v;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "no log line for request {request_id}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops wrangler and workerd; returns the KV directory for a restart.
    pub fn stop(mut self) -> PathBuf {
        self.shutdown();
        self.state_dir.clone()
    }

    fn shutdown(&mut self) {
        // Closing the guard's stdin makes it end wrangler's whole process group.
        self.guard_stdin.take();
        let _ = self.child.wait();
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        try_request(self.port, method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.logs()))
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.request("GET", path, headers, b"")
    }

    pub fn post(&self, path: &str, body: &[u8]) -> Response {
        self.request("POST", path, &[("content-type", "application/json")], body)
    }

    pub fn post_json(&self, body: &Value) -> Response {
        self.post("/callback", body.to_string().as_bytes())
    }

    /// Sends bytes as they are (for chunked bodies and lying headers).
    pub fn raw(&self, request: &[u8]) -> Response {
        raw_request(self.port, request).unwrap_or_else(|e| panic!("raw request: {e}"))
    }

    /// The room's status body (asserting a 200).
    pub fn room(&self, room_id: u32) -> Value {
        let res = self.get(&format!("/rooms/{room_id}"));
        assert_eq!(res.status, 200, "{}", res.text());
        res.json()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Which bindings a test worker gets besides `PUSH_STATE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bindings {
    All,
    NoQueues,
    NoAssets,
}

/// Queued delivery (`ORIGIN_DELIVERY=queue`): the producer, the consumer with its limits set
/// explicitly (wrangler dev's defaults differ from production's), the dead-letter queue and
/// its consumer (the same worker), as in wrangler.toml. The dead-letter queue's name ends in
/// `-dlq`, which is how the consumer tells its batches apart.
const QUEUE_BINDINGS: &str = r#"
[[queues.producers]]
binding = "ORIGIN_QUEUE"
queue = "tiw-push-edge-e2e-origin"

[[queues.consumers]]
queue = "tiw-push-edge-e2e-origin"
max_batch_size = 10
max_batch_timeout = 1
max_retries = 3
dead_letter_queue = "tiw-push-edge-e2e-origin-dlq"

[[queues.consumers]]
queue = "tiw-push-edge-e2e-origin-dlq"
max_batch_size = 10
max_batch_timeout = 1
max_retries = 3
"#;

/// The static files as in wrangler.toml's `[assets]`: the worker runs first for every path and
/// reads the files through the `ASSETS` binding.
pub fn assets_table() -> String {
    format!(
        "\n[assets]\ndirectory = {:?}\nbinding = \"ASSETS\"\nrun_worker_first = true\n\
         html_handling = \"none\"\nnot_found_handling = \"none\"\n",
        root().join("static").display().to_string()
    )
}

fn wrangler_toml(main: &Path, vars: &[(&str, String)], bindings: Bindings) -> String {
    let mut toml = format!(
        "name = \"tiw-push-edge-e2e\"\nmain = {main:?}\ncompatibility_date = \"2026-11-01\"\n\
         send_metrics = false\n\n[[kv_namespaces]]\nbinding = \"PUSH_STATE\"\nid = \"e2e\"\n\n\
         [[durable_objects.bindings]]\nname = \"ROOMS\"\nclass_name = \"RoomObject\"\n\n\
         [[migrations]]\ntag = \"v1\"\nnew_sqlite_classes = [\"RoomObject\"]\n",
        main = main.display().to_string()
    );
    if bindings != Bindings::NoAssets {
        toml.push_str(&assets_table());
    }
    if bindings != Bindings::NoQueues {
        toml.push_str(QUEUE_BINDINGS);
    }
    toml.push_str("\n[vars]\n");
    for (name, value) in vars {
        match value.strip_prefix(TOML_LITERAL) {
            Some(literal) => toml.push_str(&format!("{name} = {literal}\n")),
            None => toml.push_str(&format!("{name} = {value:?}\n")),
        }
    }
    toml
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// Asserts the JSON error shape of API.md and returns the `error` code.
    pub fn error_code(&self) -> String {
        let body = self.json();
        assert_eq!(body["error_code"], self.status, "{body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        assert!(self.header("x-request-id").is_some());
        body["error"].as_str().unwrap_or_default().to_string()
    }
}

pub fn try_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let bytes = request_bytes(port, method, path, headers, body);
    request_within(port, &bytes, method == "HEAD", Duration::from_secs(30))
}

/// An HTTP/1.1 request as bytes, with `connection: close` and a `content-length` (but for a
/// bodiless GET or HEAD).
pub fn request_bytes(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\n");
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    if method != "GET" && method != "HEAD" || !body.is_empty() {
        req.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

pub fn raw_request(port: u16, request: &[u8]) -> std::io::Result<Response> {
    request_within(port, request, false, Duration::from_secs(30))
}

/// Sends `request` as it is and reads the answer to the end; an error when no byte came for
/// `timeout` (a bound on the answer, for tests that require one in bounded time).
pub fn request_within(
    port: u16,
    request: &[u8],
    head: bool,
    timeout: Duration,
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(request)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw, head)
}

fn parse_response(raw: &[u8], head: bool) -> std::io::Result<Response> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head_text = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head_text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if head {
        Vec::new()
    } else if chunked {
        dechunk(rest).ok_or_else(|| bad("bad chunked body"))?
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// CPU time (user + system, ms) used so far by the `workerd` processes descended from `root`,
/// read from /proc: for benchmarks, never asserted.
pub fn workerd_cpu_ms_under(root: u32) -> f64 {
    let stats: Vec<(u32, u32, String, u64)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // "pid (comm) state ppid ... utime stime": comm may hold spaces.
            let (head, rest) = stat.rsplit_once(") ")?;
            let comm = head.split_once(" (")?.1.to_string();
            let fields: Vec<&str> = rest.split(' ').collect();
            let ppid = fields.get(1)?.parse().ok()?;
            let ticks =
                fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
            Some((pid, ppid, comm, ticks))
        })
        .collect();
    let mut family = vec![root];
    let mut i = 0;
    while i < family.len() {
        let parent = family[i];
        family.extend(stats.iter().filter(|s| s.1 == parent).map(|s| s.0));
        i += 1;
    }
    let ticks: u64 = stats
        .iter()
        .filter(|s| family.contains(&s.0) && s.2 == "workerd")
        .map(|s| s.3)
        .sum();
    // Linux reports these in USER_HZ, 100 per second.
    ticks as f64 * 10.0
}

// ---- callbacks ----

/// Adds `ExpireTime` (now + 5 min) and its `Sign` for `key`.
pub fn sign_with(key: &str, mut body: Value) -> Value {
    let expire = now() + 300;
    body["ExpireTime"] = json!(expire);
    body["Sign"] = json!(tiw_push_edge::core::signature::sign(
        key,
        &expire.to_string()
    ));
    body
}

pub fn signed(body: Value) -> Value {
    sign_with(KEY, body)
}

pub fn started(room: u32, task: &str, start: i64) -> Value {
    json!({
        "EventType": "WhiteboardPushStarted",
        "SdkAppId": APP,
        "Timestamp": start,
        "EventData": {
            "TaskId": task,
            "RoomId": room,
            "PushUserId": format!("tic_push_user_{room}_01"),
            "PushStartTime": start,
        }
    })
}

pub fn stopped(room: u32, task: &str, start: i64, stop: i64) -> Value {
    json!({
        "EventType": "WhiteboardPushStopped",
        "SdkAppId": APP,
        "Timestamp": stop,
        "EventData": {
            "TaskId": task,
            "RoomId": room,
            "GroupId": room.to_string(),
            "PushUserId": format!("tic_push_user_{room}_01"),
            "FinishReason": "USER_CALL",
            "PushStartTime": start,
            "PushStopTime": stop,
            "IMSyncTime": start,
            "ExceptionCnt": 0,
        }
    })
}

/// A room id no other test uses (tests share workers and run in parallel).
pub fn unique_room() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let salt = (std::process::id() % 1000) * 100_000;
    10_000_000 + salt + NEXT.fetch_add(1, Ordering::SeqCst)
}

/// Posts a callback and returns its `outcome` (asserting a 200).
pub fn outcome(worker: &Worker, body: &Value) -> String {
    let res = worker.post_json(body);
    assert_eq!(res.status, 200, "{}", res.text());
    let json = res.json();
    assert_eq!(json["error_code"], 0);
    json["outcome"].as_str().unwrap_or_default().to_string()
}

/// Writes a KV value behind the worker's back (the worker should be stopped), as an older
/// version of the worker or a stray `wrangler kv key put` would.
pub fn put_local_kv(state_dir: &Path, key: &str, value: &str) {
    let dir = temp_dir("kvput");
    let config = dir.join("wrangler.toml");
    std::fs::write(
        &config,
        "name = \"kv-put\"\ncompatibility_date = \"2026-11-01\"\nsend_metrics = false\n\
         [[kv_namespaces]]\nbinding = \"PUSH_STATE\"\nid = \"e2e\"\n",
    )
    .expect("write config");
    let status = node_command(root().join("node_modules/.bin/wrangler"))
        .args([
            "kv",
            "key",
            "put",
            key,
            value,
            "--binding",
            "PUSH_STATE",
            "--local",
        ])
        .arg("--config")
        .arg(&config)
        .arg("--persist-to")
        .arg(state_dir)
        .status()
        .expect("run wrangler kv key put");
    assert!(status.success(), "wrangler kv key put failed");
}

// ---- live updates ----

pub type Live = tungstenite::WebSocket<TcpStream>;

/// Opens `GET {path}` as a WebSocket with extra headers; `Err` is the refusal's HTTP answer
/// (status and body) or a transport failure (status 0).
pub fn live_connect(
    worker: &Worker,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Live, Response> {
    use tungstenite::client::IntoClientRequest;
    let failed = |why: String| Response {
        status: 0,
        headers: Vec::new(),
        body: why.into_bytes(),
    };
    let url = format!("ws://127.0.0.1:{}{path}", worker.port);
    let mut request = url
        .into_client_request()
        .map_err(|e| failed(e.to_string()))?;
    for (name, value) in headers {
        let name = tungstenite::http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| failed(e.to_string()))?;
        let value =
            tungstenite::http::HeaderValue::from_str(value).map_err(|e| failed(e.to_string()))?;
        request.headers_mut().insert(name, value);
    }
    let stream =
        TcpStream::connect(("127.0.0.1", worker.port)).map_err(|e| failed(e.to_string()))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .map_err(|e| failed(e.to_string()))?;
    match tungstenite::client(request, stream) {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(res))) => Err(Response {
            status: res.status().as_u16(),
            headers: res
                .headers()
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_string()))
                .collect(),
            body: res.body().clone().unwrap_or_default(),
        }),
        Err(e) => Err(failed(e.to_string())),
    }
}

/// Sends a WebSocket upgrade that is expected to be refused, as plain HTTP, and returns the
/// answer with its body (a 101 would leave the body empty).
pub fn live_refusal(worker: &Worker, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut all = vec![
        ("upgrade", "websocket"),
        ("connection", "Upgrade"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("sec-websocket-version", "13"),
    ];
    all.extend_from_slice(headers);
    worker.request("GET", path, &all, b"")
}

/// The next text message, parsed as JSON (panics on a timeout or a non-text frame).
pub fn next_message(socket: &mut Live) -> Value {
    loop {
        match socket.read() {
            Ok(tungstenite::Message::Text(text)) => {
                return serde_json::from_str(text.as_str())
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
            }
            Ok(tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_)) => continue,
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

/// True when nothing arrives on `socket` within `wait`.
pub fn stays_quiet(socket: &mut Live, wait: Duration) -> bool {
    let _ = socket.get_ref().set_read_timeout(Some(wait));
    let quiet = match socket.read() {
        Err(tungstenite::Error::Io(e)) => matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        _ => false,
    };
    let _ = socket
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(15)));
    quiet
}

/// The worker's JSON log lines of one room object event (`kv_write`, `seeded`, ...).
pub fn object_events(worker: &Worker, event: &str) -> Vec<Value> {
    worker
        .logs()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
        .filter(|v| v["component"] == "room-object" && v["event"] == event)
        .collect()
}
