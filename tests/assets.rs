//! The static files (static/: the status page, client.js, client.d.ts, openapi.json) as
//! Workers Static Assets, end to end on `wrangler dev`: the assets layer answers `GET` and
//! `HEAD` of them with their type, an `ETag`, a 304 to a matching `If-None-Match` and the
//! headers of static/_headers, refuses every other method with its own 405, and never runs the
//! worker for them, whatever its configuration; every other path is still the worker's.

mod support;

use std::sync::OnceLock;

use serde_json::Value;
use support::*;

const ORIGIN_A: &str = "https://app.example";

/// Each static file: its path, its name under static/, and its `Content-Type`.
const FILES: [(&str, &str, &str); 4] = [
    ("/", "index.html", "text/html; charset=utf-8"),
    ("/client.js", "client.js", "text/javascript; charset=utf-8"),
    ("/client.d.ts", "client.d.ts", "text/plain; charset=utf-8"),
    (
        "/openapi.json",
        "openapi.json",
        "application/json; charset=utf-8",
    ),
];

fn worker() -> &'static Worker {
    static WORKER: OnceLock<Worker> = OnceLock::new();
    WORKER.get_or_init(|| {
        let mut vars = signed_vars();
        // A list: the worker's own answers name the origin, the static files stay `*`.
        vars.push(("ALLOWED_ORIGINS", ORIGIN_A.into()));
        Worker::start(&vars)
    })
}

/// The headers static/_headers gives every answer of the assets layer, and no trace of the
/// worker (which sets `x-request-id` on every answer it makes).
fn assert_static_headers(res: &Response, what: &str) {
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("*"),
        "{what}"
    );
    assert_eq!(res.header("allow"), Some("GET, HEAD"), "{what}");
    assert_eq!(
        res.header("cache-control"),
        Some("public, max-age=300"),
        "{what}"
    );
    assert_eq!(
        res.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(res.header("x-request-id"), None, "{what}: the worker ran");
}

fn etag(res: &Response, what: &str) -> String {
    let tag = res
        .header("etag")
        .unwrap_or_else(|| panic!("{what}: no ETag"));
    assert!(
        tag.len() > 2 && tag.starts_with('"') && tag.ends_with('"'),
        "{what}: not a strong entity tag: {tag}"
    );
    tag.to_string()
}

/// The worker's JSON log lines so far.
fn worker_log_lines(w: &Worker) -> usize {
    w.logs()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
        .filter(|v| v["requestId"].is_string())
        .count()
}

#[test]
fn each_static_file_is_served_with_its_type_and_an_etag() {
    let w = worker();
    for (path, file, content_type) in FILES {
        let bytes = std::fs::read(root().join("static").join(file)).expect("read static file");
        let res = w.get_with(path, &[("origin", ORIGIN_A)]);
        assert_eq!(res.status, 200, "GET {path}: {}", res.text());
        assert!(res.body == bytes, "GET {path} is not static/{file}");
        assert_eq!(res.header("content-type"), Some(content_type), "GET {path}");
        assert_static_headers(&res, &format!("GET {path}"));
        let tag = etag(&res, path);

        let head = w.request("HEAD", path, &[], b"");
        assert_eq!(head.status, 200, "HEAD {path}");
        assert!(head.body.is_empty(), "HEAD {path}");
        assert_eq!(
            head.header("content-type"),
            Some(content_type),
            "HEAD {path}"
        );
        assert_eq!(head.header("etag"), Some(tag.as_str()), "HEAD {path}");
        assert_static_headers(&head, &format!("HEAD {path}"));

        // A query string names the same file.
        let queried = w.get(&format!("{path}?room=1253"));
        assert_eq!(queried.status, 200, "GET {path}?room=1253");
        assert_eq!(
            queried.header("etag"),
            Some(tag.as_str()),
            "{path}?room=1253"
        );
    }
}

#[test]
fn a_matching_if_none_match_gets_a_304_and_anything_else_the_file() {
    let w = worker();
    for (path, _, _) in FILES {
        let tag = etag(&w.get(path), path);
        let weak = format!("W/{tag}");
        for method in ["GET", "HEAD"] {
            for value in [tag.as_str(), weak.as_str()] {
                let res = w.request(method, path, &[("if-none-match", value)], b"");
                let what = format!("{method} {path} with If-None-Match: {value}");
                assert_eq!(res.status, 304, "{what}: {}", res.text());
                assert!(res.body.is_empty(), "{what}");
                assert_eq!(res.header("etag"), Some(tag.as_str()), "{what}");
                assert_static_headers(&res, &what);
            }
        }
        // The assets layer compares the header as one tag: another tag, a list (even one
        // that holds the tag) and `*` all get the file (docs/API.md, "Static files").
        let list = format!("\"other\", {tag}");
        for value in ["\"other\"", list.as_str(), "*"] {
            let res = w.get_with(path, &[("if-none-match", value)]);
            assert_eq!(res.status, 200, "GET {path} with If-None-Match: {value}");
            assert!(
                !res.body.is_empty(),
                "GET {path} with If-None-Match: {value}"
            );
        }
    }
}

#[test]
fn the_page_carries_its_content_security_policy_and_loads_the_client_from_here() {
    let w = worker();
    let page = w.get("/?room=1253");
    assert_eq!(page.status, 200);
    let csp = page
        .header("content-security-policy")
        .expect("the page has a CSP");
    assert!(csp.starts_with("default-src 'self'; "), "{csp}");
    for directive in [
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing: {csp}");
    }
    assert!(page.text().contains("./client.js"), "{}", page.text());
    // Only the page: the script, types and document are not documents that run in a frame.
    for path in ["/client.js", "/client.d.ts", "/openapi.json"] {
        assert_eq!(
            w.get(path).header("content-security-policy"),
            None,
            "{path}"
        );
    }
}

#[test]
fn other_methods_on_static_files_get_the_assets_layers_405() {
    let w = worker();
    for (path, _, _) in FILES {
        for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "QUERY"] {
            let res = w.request(
                method,
                path,
                &[
                    ("origin", ORIGIN_A),
                    ("access-control-request-method", "GET"),
                    ("content-type", "application/json"),
                ],
                b"{}",
            );
            let what = format!("{method} {path}");
            assert_eq!(res.status, 405, "{what}: {}", res.text());
            assert!(res.body.is_empty(), "{what}: {}", res.text());
            assert_static_headers(&res, &what);
        }
    }
}

#[test]
fn paths_beside_the_static_files_are_the_workers() {
    let w = worker();
    for path in [
        "/nowhere",
        "/client.js/",
        "/client",
        "/client.d",
        "/openapi.json/",
        "/openapi",
        "/_headers",
        "/static/client.js",
        "/index.htm",
        "/CLIENT.JS",
    ] {
        let res = w.get_with(path, &[("origin", ORIGIN_A)]);
        assert_eq!(res.status, 404, "GET {path}: {}", res.text());
        assert_eq!(res.error_code(), "not_found", "GET {path}");
        // The worker's CORS: the listed origin, not the static files' `*`.
        assert_eq!(
            res.header("access-control-allow-origin"),
            Some(ORIGIN_A),
            "GET {path}"
        );
    }
    let res = w.request("POST", "/nowhere", &[], b"{}");
    assert_eq!(res.status, 404);
    assert_eq!(res.error_code(), "not_found");
    let pre = w.request("OPTIONS", "/nowhere", &[("origin", ORIGIN_A)], b"");
    assert_eq!(pre.status, 204);
    assert_eq!(pre.header("access-control-allow-origin"), Some(ORIGIN_A));
    assert!(pre.header("x-request-id").is_some());
    let health = w.get("/healthz");
    assert_eq!(health.status, 200);
    assert!(health.header("x-request-id").is_some());
    assert_eq!(health.header("allow"), None);

    // html_handling: the page has one address, `/`; its file names redirect there.
    for path in ["/index.html", "/index"] {
        let res = w.get(path);
        assert_eq!(res.status, 307, "GET {path}: {}", res.text());
        assert_eq!(res.header("location"), Some("/"), "GET {path}");
        assert_eq!(res.header("x-request-id"), None, "GET {path}");
    }
}

#[test]
fn an_unconfigured_worker_still_serves_the_static_files_without_running() {
    // No SDK_APP_IDS: every request the worker sees (but /healthz) is 503 `not_configured`.
    let w = Worker::start(&[]);
    let health = w.get("/healthz");
    assert_eq!(health.status, 503);
    w.log_line(health.header("x-request-id").expect("the worker's answer"));
    let before = worker_log_lines(&w);

    for (path, file, _) in FILES {
        let bytes = std::fs::read(root().join("static").join(file)).expect("read static file");
        let res = w.get(path);
        assert_eq!(res.status, 200, "GET {path}: {}", res.text());
        assert!(res.body == bytes, "GET {path} is not static/{file}");
        assert_static_headers(&res, &format!("GET {path}"));
        assert_eq!(w.request("HEAD", path, &[], b"").status, 200, "HEAD {path}");
        assert_eq!(
            w.request("POST", path, &[], b"{}").status,
            405,
            "POST {path}"
        );
    }

    let refused = w.get("/nowhere");
    assert_eq!(refused.status, 503);
    assert_eq!(refused.error_code(), "not_configured");
    w.log_line(refused.header("x-request-id").expect("the worker's answer"));
    // One log line since `before`: /nowhere's. The twelve static requests never ran it.
    assert_eq!(worker_log_lines(&w), before + 1, "{}", w.logs());
}

#[test]
fn the_harness_serves_the_static_files_as_wrangler_toml_does() {
    let toml = std::fs::read_to_string(root().join("wrangler.toml")).expect("read wrangler.toml");
    let assets = toml
        .split("\n[assets]\n")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .expect("wrangler.toml has an [assets] table");
    assert!(
        assets.contains("directory = \"./static\"\n"),
        "[assets] of wrangler.toml:\n{assets}"
    );
    let harness = assets_table();
    for setting in ["html_handling", "not_found_handling"] {
        let line = assets
            .lines()
            .find(|l| l.starts_with(setting))
            .unwrap_or_else(|| panic!("wrangler.toml's [assets] sets no {setting}"));
        assert!(
            harness.lines().any(|l| l == line),
            "the harness differs from wrangler.toml on {line}:\n{harness}"
        );
    }
    // Every other path falls through to the worker.
    assert!(assets.contains("not_found_handling = \"none\""), "{assets}");
}
