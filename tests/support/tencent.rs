//! A stub of Tencent's API on 127.0.0.1 (`tencent_stub.py`), for the signer's tests and the
//! end-to-end reconciliation tests: it checks TC3 signatures with Tencent's own Python SDK,
//! answers per task from a script, and counts requests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tiw_push_edge::core::weburl::Url;

/// A running stub of Tencent's API on 127.0.0.1; ended when dropped.
pub struct TencentStub {
    pub port: u16,
    child: Child,
    stdin: Option<ChildStdin>,
}

impl TencentStub {
    /// Starts the stub for this key pair; `region`, when given, is the only one it accepts.
    pub fn start(
        secret_id: &str,
        secret_key: &str,
        region: Option<&str>,
        hang_seconds: u32,
    ) -> TencentStub {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let python = root.join("target/py-venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run `source scripts/lib.sh && ensure_tencent_sdk` \
             (scripts/test.sh does) to install Tencent's Python SDK for the stub",
            python.display()
        );
        let mut child = Command::new(&python)
            .arg(root.join("tests/support/tencent_stub.py"))
            .args(["--secret-id", secret_id, "--secret-key", secret_key])
            .args(["--region", region.unwrap_or_default()])
            .args(["--hang-seconds", &hang_seconds.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tests/support/tencent_stub.py");
        let stdin = child.stdin.take();
        let mut first_line = String::new();
        if let Some(stdout) = child.stdout.take() {
            let _ = BufReader::new(stdout).read_line(&mut first_line);
        }
        let port = serde_json::from_str::<Value>(&first_line)
            .ok()
            .and_then(|v| v["port"].as_u64())
            .and_then(|p| u16::try_from(p).ok());
        let Some(port) = port else {
            let _ = child.kill();
            let status = child.wait();
            panic!(
                "the Tencent stub did not start ({status:?}; printed {first_line:?}): is \
                 tencentcloud-sdk-python-common installed in target/py-venv? \
                 Run `source scripts/lib.sh && ensure_tencent_sdk`."
            );
        };
        TencentStub { port, child, stdin }
    }

    /// What `TIW_API_ENDPOINT` should be to reach the stub.
    pub fn endpoint(&self) -> Url {
        Url::parse(&format!("http://127.0.0.1:{}", self.port)).expect("stub URL")
    }

    /// `POST /__script`: what each task answers next (see tencent_stub.py).
    pub fn script(&self, script: Value) {
        let (status, body) = self.control("POST", "/__script", &script.to_string());
        assert_eq!(status, 200, "{body}");
    }

    /// `GET /__count`: `{"total": N, "tasks": {"<task id>": N}}`.
    pub fn count(&self) -> Value {
        self.control("GET", "/__count", "").1
    }

    /// `GET /__requests`: every API request with its headers, body and verdict.
    pub fn requests(&self) -> Value {
        self.control("GET", "/__requests", "").1
    }

    fn control(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let raw = format!(
            "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        );
        let (status, bytes) = exchange(self.port, raw.as_bytes(), Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("stub {method} {path}: {e}"));
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, json)
    }
}

impl Drop for TencentStub {
    fn drop(&mut self) {
        // Closing stdin ends the stub; killing our own child makes sure of it.
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 exchange over loopback: the status and the body.
pub fn exchange(port: u16, request: &[u8], timeout: Duration) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(request)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let status = String::from_utf8_lossy(&raw[..split])
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    Ok((status, raw[split + 4..].to_vec()))
}
