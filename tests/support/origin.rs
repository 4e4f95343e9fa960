//! A real HTTP origin server on 127.0.0.1 for forwarding tests: records every request it
//! gets, byte for byte, and answers by path: `/ok*` 200, `/fail*` 500, `/slow*` after 3 s,
//! `/redirect*` 302.
//!
//! A [`Plan`] set for a marker (found in the path or the body) overrides that for matching
//! requests: down (the connection is dropped unanswered), fail the next N (any status, with
//! `Retry-After` if wanted), or hang the next N before answering.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When the request had been read.
    pub at: Instant,
    /// What the origin answered; 0 when it dropped the connection (down).
    pub status: u16,
}

/// How the origin treats requests whose path or body contains a marker.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Drop every matching connection without an answer.
    pub down: bool,
    /// Answer the next `fail_times` matching requests with `fail_status`.
    pub fail_times: u32,
    pub fail_status: u16,
    pub retry_after: Option<String>,
    /// Wait `hang` before answering the next `hang_times` matching requests.
    pub hang_times: u32,
    pub hang: Duration,
}

enum Action {
    Drop,
    Answer(u16, Option<String>),
    HangThenAnswer(Duration),
    ByPath,
}

impl Plan {
    fn next(&mut self) -> Action {
        if self.down {
            Action::Drop
        } else if self.fail_times > 0 {
            self.fail_times -= 1;
            Action::Answer(self.fail_status, self.retry_after.clone())
        } else if self.hang_times > 0 {
            self.hang_times -= 1;
            Action::HangThenAnswer(self.hang)
        } else {
            Action::ByPath
        }
    }
}

type Plans = Arc<Mutex<Vec<(String, Plan)>>>;

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct Origin {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    plans: Plans,
}

impl Origin {
    pub fn start() -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind origin");
        let port = listener.local_addr().expect("origin addr").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let plans: Plans = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        let rules = Arc::clone(&plans);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = Arc::clone(&log);
                let rules = Arc::clone(&rules);
                std::thread::spawn(move || {
                    let _ = serve(stream, &log, &rules);
                });
            }
        });
        Origin {
            port,
            received,
            plans,
        }
    }

    /// Sets (or replaces) the plan for requests whose path or body contains `marker`.
    pub fn set_plan(&self, marker: &str, plan: Plan) {
        if let Ok(mut plans) = self.plans.lock() {
            plans.retain(|(m, _)| m != marker);
            plans.push((marker.to_string(), plan));
        }
    }

    /// Requests matching `marker` are dropped unanswered until [`Origin::up`].
    pub fn down(&self, marker: &str) {
        self.set_plan(
            marker,
            Plan {
                down: true,
                ..Plan::default()
            },
        );
    }

    /// Back to the answers by path.
    pub fn up(&self, marker: &str) {
        if let Ok(mut plans) = self.plans.lock() {
            plans.retain(|(m, _)| m != marker);
        }
    }

    /// The next `times` requests matching `marker` get `status`.
    pub fn fail_next(&self, marker: &str, times: u32, status: u16) {
        self.set_plan(
            marker,
            Plan {
                fail_times: times,
                fail_status: status,
                ..Plan::default()
            },
        );
    }

    /// Every request received so far whose path or body contains `marker`.
    pub fn matching(&self, marker: &str) -> Vec<Received> {
        self.received("")
            .into_iter()
            .filter(|r| r.path.contains(marker) || contains(&r.body, marker))
            .collect()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Every request received so far whose path starts with `prefix`.
    pub fn received(&self, prefix: &str) -> Vec<Received> {
        self.received
            .lock()
            .map(|r| {
                r.iter()
                    .filter(|r| r.path.starts_with(prefix))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until a request with this `x-request-id` arrived.
    pub fn wait_for(&self, request_id: &str) -> Received {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(r) = self
                .received("")
                .into_iter()
                .find(|r| r.header("x-request-id") == Some(request_id))
            {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "origin never got request {request_id}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
}

fn serve(
    stream: std::net::TcpStream,
    log: &Mutex<Vec<Received>>,
    plans: &Mutex<Vec<(String, Plan)>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let at = Instant::now();
    let action = plans
        .lock()
        .ok()
        .and_then(|mut plans| {
            plans
                .iter_mut()
                .find(|(m, _)| path.contains(m.as_str()) || contains(&body, m))
                .map(|(_, plan)| plan.next())
        })
        .unwrap_or(Action::ByPath);
    let none = Duration::ZERO;
    let (status, extra, wait) = match action {
        Action::Drop => (String::new(), String::new(), none),
        Action::Answer(code, retry_after) => (
            format!("{code} Planned"),
            retry_after
                .map(|r| format!("retry-after: {r}\r\n"))
                .unwrap_or_default(),
            none,
        ),
        Action::HangThenAnswer(wait) => ("200 OK".into(), String::new(), wait),
        Action::ByPath if path.starts_with("/fail") => {
            ("500 Internal Server Error".into(), String::new(), none)
        }
        Action::ByPath if path.starts_with("/redirect") => (
            "302 Found".into(),
            "location: /ok-after-redirect\r\n".into(),
            none,
        ),
        Action::ByPath if path.starts_with("/slow") => {
            ("200 OK".into(), String::new(), Duration::from_secs(3))
        }
        Action::ByPath => ("200 OK".into(), String::new(), none),
    };
    let code = status
        .split(' ')
        .next()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    if let Ok(mut l) = log.lock() {
        l.push(Received {
            method,
            path: path.clone(),
            headers,
            body,
            at,
            status: code,
        });
    }
    if status.is_empty() {
        // Down: no answer at all.
        return stream.shutdown(std::net::Shutdown::Both);
    }
    std::thread::sleep(wait);
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status}\r\n{extra}content-type: text/plain\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
    )?;
    out.flush()
}
