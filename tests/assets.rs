//! The static files (static/: the status page, client.js, client.d.ts, openapi.json), end to
//! end on `wrangler dev`. Their bytes are Workers Static Assets, not part of the wasm, but the
//! worker runs first for every request (wrangler.toml `[assets] run_worker_first = true`) and
//! reads them through the `ASSETS` binding, so these paths keep the contract of every other
//! route: the bytes of the file with its type, an `ETag` and 304s, a request id, CORS by
//! `ALLOWED_ORIGINS`, the preflight on `OPTIONS`, the JSON 405 with `Allow` for other methods,
//! 503 `not_configured` before anything else when the configuration is invalid, and one log
//! line per request; a worker without the binding says so (503 naming `ASSETS`).

mod support;

use std::sync::OnceLock;

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
        // A list, so the answers show the worker's origin rules (not a blanket `*`).
        vars.push(("ALLOWED_ORIGINS", ORIGIN_A.into()));
        Worker::start(&vars)
    })
}

fn file_bytes(file: &str) -> Vec<u8> {
    std::fs::read(root().join("static").join(file)).expect("read static file")
}

/// The worker answered (a request id) and logged the request with this status and route.
fn assert_logged(w: &Worker, res: &Response, route: &str, what: &str) {
    let id = res
        .header("x-request-id")
        .unwrap_or_else(|| panic!("{what}: no x-request-id"));
    let line = w.log_line(id);
    assert_eq!(line["status"], res.status, "{what}: {line}");
    assert_eq!(line["route"], route, "{what}: {line}");
}

/// The headers the worker puts on a static file (200 or 304) for a request from `ORIGIN_A`.
fn assert_file_headers(res: &Response, what: &str) {
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
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some(ORIGIN_A),
        "{what}"
    );
    assert_eq!(res.header("vary"), Some("Origin"), "{what}");
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

#[test]
fn each_static_file_is_served_by_the_worker_with_its_type_and_an_etag() {
    let w = worker();
    let from_a = [("origin", ORIGIN_A)];
    for (path, file, content_type) in FILES {
        let res = w.get_with(path, &from_a);
        let what = format!("GET {path}");
        assert_eq!(res.status, 200, "{what}: {}", res.text());
        assert!(res.body == file_bytes(file), "{what} is not static/{file}");
        assert_eq!(res.header("content-type"), Some(content_type), "{what}");
        assert_file_headers(&res, &what);
        assert_logged(w, &res, path, &what);
        let tag = etag(&res, &what);

        let head = w.request("HEAD", path, &from_a, b"");
        let what = format!("HEAD {path}");
        assert_eq!(head.status, 200, "{what}");
        assert!(head.body.is_empty(), "{what}");
        assert_eq!(head.header("content-type"), Some(content_type), "{what}");
        assert_eq!(head.header("etag"), Some(tag.as_str()), "{what}");
        assert_file_headers(&head, &what);
        assert_logged(w, &head, path, &what);

        // A query string names the same file.
        let queried = w.get(&format!("{path}?room=1253"));
        assert_eq!(queried.status, 200, "GET {path}?room=1253");
        assert_eq!(queried.header("etag"), Some(tag.as_str()), "{path}?room=1");

        // An origin not in ALLOWED_ORIGINS gets the file but no CORS grant.
        let other = w.get_with(path, &[("origin", "https://evil.example")]);
        assert_eq!(other.status, 200, "{path} from another origin");
        assert_eq!(other.header("access-control-allow-origin"), None, "{path}");
    }
}

#[test]
fn a_matching_if_none_match_gets_a_304_and_anything_else_the_file() {
    let w = worker();
    for (path, _, _) in FILES {
        let tag = etag(&w.get(path), path);
        let weak = format!("W/{tag}");
        let list = format!("\"other\", {tag}");
        for method in ["GET", "HEAD"] {
            // Compared as the status API compares it: weakly, in a list, or `*`.
            for value in [tag.as_str(), weak.as_str(), list.as_str(), "*"] {
                let res = w.request(
                    method,
                    path,
                    &[("if-none-match", value), ("origin", ORIGIN_A)],
                    b"",
                );
                let what = format!("{method} {path} with If-None-Match: {value}");
                assert_eq!(res.status, 304, "{what}: {}", res.text());
                assert!(res.body.is_empty(), "{what}");
                assert_eq!(res.header("etag"), Some(tag.as_str()), "{what}");
                assert_file_headers(&res, &what);
                assert_logged(w, &res, path, &what);
            }
        }
        for value in ["\"other\"", "W/\"other\""] {
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
fn other_methods_on_static_files_get_the_workers_json_405() {
    let w = worker();
    for (path, _, _) in FILES {
        for method in ["POST", "PUT", "DELETE", "PATCH", "QUERY"] {
            let res = w.request(
                method,
                path,
                &[("origin", ORIGIN_A), ("content-type", "application/json")],
                b"{}",
            );
            let what = format!("{method} {path}");
            assert_eq!(res.status, 405, "{what}: {}", res.text());
            assert_eq!(res.error_code(), "method_not_allowed", "{what}");
            assert_eq!(res.header("allow"), Some("GET, HEAD, OPTIONS"), "{what}");
            assert_eq!(
                res.header("access-control-allow-origin"),
                Some(ORIGIN_A),
                "{what}"
            );
            // Logged as every refused method is: no route matched.
            assert_logged(w, &res, "unknown", &what);
        }
    }
}

#[test]
fn options_on_static_files_is_the_preflight() {
    let w = worker();
    for (path, _, _) in FILES {
        let res = w.request(
            "OPTIONS",
            path,
            &[
                ("origin", ORIGIN_A),
                ("access-control-request-method", "GET"),
            ],
            b"",
        );
        let what = format!("OPTIONS {path}");
        assert_eq!(res.status, 204, "{what}: {}", res.text());
        assert!(res.body.is_empty(), "{what}");
        assert_eq!(
            res.header("access-control-allow-origin"),
            Some(ORIGIN_A),
            "{what}"
        );
        assert_eq!(
            res.header("access-control-allow-methods"),
            Some("GET, HEAD, OPTIONS"),
            "{what}"
        );
        assert_logged(w, &res, "OPTIONS *", &what);
        // Another origin: still 204, but no grant.
        let other = w.request("OPTIONS", path, &[("origin", "https://evil.example")], b"");
        assert_eq!(other.status, 204, "{what} from another origin");
        assert_eq!(other.header("access-control-allow-origin"), None, "{what}");
    }
}

#[test]
fn paths_beside_the_static_files_are_the_workers_404() {
    let w = worker();
    // The files' own names (/index.html, /_headers-like paths) too: the worker runs first for
    // every path, and only the four routes read the assets.
    for path in [
        "/nowhere",
        "/index.html",
        "/index",
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
        let what = format!("GET {path}");
        assert_eq!(res.status, 404, "{what}: {}", res.text());
        assert_eq!(res.error_code(), "not_found", "{what}");
        assert_eq!(
            res.header("access-control-allow-origin"),
            Some(ORIGIN_A),
            "{what}"
        );
        let id = res.header("x-request-id").expect("the worker's answer");
        assert_eq!(w.log_line(id)["status"], 404, "{what}");
    }
}

#[test]
fn an_unconfigured_worker_answers_503_on_the_static_files_too() {
    // No SDK_APP_IDS: every request (but /healthz) is 503 `not_configured`, before any other
    // rule: no file, no 405, no preflight.
    let w = Worker::start(&[]);
    for (path, _, _) in FILES {
        for method in ["GET", "HEAD", "POST", "OPTIONS"] {
            let res = w.request(method, path, &[("origin", ORIGIN_A)], b"");
            let what = format!("{method} {path}");
            assert_eq!(res.status, 503, "{what}: {}", res.text());
            if method != "HEAD" {
                assert_eq!(res.error_code(), "not_configured", "{what}");
                assert_eq!(res.json()["variable"], "SDK_APP_IDS", "{what}");
            }
            assert_eq!(res.header("etag"), None, "{what}");
            let id = res.header("x-request-id").expect("the worker's answer");
            let line = w.log_line(id);
            assert_eq!(line["status"], 503, "{what}: {line}");
            assert_eq!(line["error"], "not_configured", "{what}: {line}");
        }
    }
}

#[test]
fn without_the_assets_binding_the_static_files_are_503_naming_it() {
    // A deployment that lost `[assets]`: the API still works, the files say what is missing.
    let w = Worker::start_without_assets(&signed_vars());
    assert_eq!(w.get("/healthz").status, 200);
    for (path, _, _) in FILES {
        let res = w.get(path);
        let what = format!("GET {path}");
        assert_eq!(res.status, 503, "{what}: {}", res.text());
        assert_eq!(res.error_code(), "not_configured", "{what}");
        assert_eq!(res.json()["variable"], "ASSETS", "{what}");
        let id = res.header("x-request-id").expect("the worker's answer");
        assert_eq!(w.log_line(id)["error"], "not_configured", "{what}");
        // The method rules and the preflight do not need the files.
        assert_eq!(w.request("POST", path, &[], b"{}").status, 405, "{path}");
        assert_eq!(w.request("OPTIONS", path, &[], b"").status, 204, "{path}");
    }
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
    for setting in [
        "binding",
        "run_worker_first",
        "html_handling",
        "not_found_handling",
    ] {
        let line = assets
            .lines()
            .find(|l| l.starts_with(setting))
            .unwrap_or_else(|| panic!("wrangler.toml's [assets] sets no {setting}"));
        assert!(
            harness.lines().any(|l| l == line),
            "the harness differs from wrangler.toml on {line}:\n{harness}"
        );
    }
    // The worker runs first for every path, and reads the files through this binding.
    assert!(assets.contains("run_worker_first = true\n"), "{assets}");
    assert!(assets.contains("binding = \"ASSETS\"\n"), "{assets}");
}
