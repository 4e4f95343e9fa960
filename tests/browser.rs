//! The status page and `client.js` in a real headless Chromium: `tests/browser.mjs` drives the
//! page against a `wrangler dev` worker while signed callbacks change the room.
//!
//! Needs `/usr/bin/chromium` (scripts/test.sh installs it) besides the usual harness needs.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

const CHROMIUM: &str = "/usr/bin/chromium";
/// browser.mjs bounds itself well under this; this only guards against a hung Node.
const RUN_LIMIT: Duration = Duration::from_secs(240);

#[test]
fn page_follows_a_room_through_start_and_stop_and_ended_watches_go_quiet() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run scripts/test.sh (it installs chromium first)"
    );
    let mut vars = signed_vars();
    vars.push(("POLL_INTERVAL_SECONDS", "1".into()));
    let worker = Worker::start(&vars);

    let dir = temp_dir("browser");
    let out_path = dir.join("browser.log");
    let out = std::fs::File::create(&out_path).expect("create browser log");
    let path = format!(
        "{}:{}",
        root().join("node_modules/.bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let started = Instant::now();
    let mut node = Command::new(root().join("node_modules/.bin/node"))
        .arg(root().join("tests/browser.mjs"))
        .args([worker.base.as_str(), KEY, &APP.to_string()])
        .current_dir(root())
        .env("PATH", path)
        .env("HOME", &dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log handle"))
        .stderr(out)
        .spawn()
        .expect("start node tests/browser.mjs");

    let status = loop {
        if let Some(status) = node.try_wait().expect("wait for node") {
            break Some(status);
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = node.kill();
            let _ = node.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = std::fs::read_to_string(&out_path).unwrap_or_default();
    eprintln!(
        "browser.mjs ({:.1} s):\n{output}",
        started.elapsed().as_secs_f64()
    );
    match status {
        Some(status) if status.success() => {}
        Some(status) => panic!(
            "browser.mjs failed ({status}), its output is above; worker log:\n{}",
            worker.logs()
        ),
        None => panic!(
            "browser.mjs did not finish in {} s, its output is above",
            RUN_LIMIT.as_secs()
        ),
    }
}
