//! tiw-push-edge: a Cloudflare Worker between Tencent Cloud Interactive Whiteboard (TIW) and an
//! app. It verifies whiteboard-push callbacks, keeps every room's push state in Workers KV,
//! serves a status API for polling frontends and forwards verified callbacks to the origin.
//!
//! This file holds the route table (pure, tested natively) and, in wasm, the fetch entry.
//! Everything up to a merged room state or a rendered status is plain Rust in the modules
//! in `core/`; the `worker`-facing shell in `edge/` only exists in wasm.

pub mod core;
#[cfg(target_arch = "wasm32")]
mod edge;

use crate::core::assets::StaticFile;
use crate::core::delivery::{self, AdminRoute};
use crate::core::http::ApiError;

/// What a request asks for, once its method and path are known to fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `OPTIONS` on any path.
    Preflight,
    Callback,
    /// `/rooms/{roomId}`, with the raw id segment (validated by the handler).
    Room(String),
    /// `/rooms/{roomId}/live`, with the raw id segment: a WebSocket of the room's changes.
    Live(String),
    Rooms,
    Health,
    /// `/`, `/client.js`, `/client.d.ts`, `/openapi.json`: a file of the assets binding.
    Static(StaticFile),
    /// Anything under `/admin/`, with what it asks for or why it cannot be served. The admin
    /// handler checks `ADMIN_TOKEN` and the bearer token before it looks at either.
    Admin(Result<AdminRoute, ApiError>),
}

impl Route {
    /// The route's template, for logs.
    pub fn template(&self) -> &'static str {
        match self {
            Route::Preflight => "OPTIONS *",
            Route::Callback => "/callback",
            Route::Room(_) => "/rooms/{roomId}",
            Route::Live(_) => "/rooms/{roomId}/live",
            Route::Rooms => "/rooms",
            Route::Health => "/healthz",
            Route::Static(file) => file.path(),
            Route::Admin(Ok(admin)) => admin.template(),
            Route::Admin(Err(_)) => "/admin/*",
        }
    }
}

const ALLOW_CALLBACK: &str = "POST, OPTIONS";
const ALLOW_READ: &str = "GET, HEAD, OPTIONS";
const ALLOW_LIVE: &str = "GET, OPTIONS";

/// Which handler a method and path go to: 404 for an unknown path, 405 with `Allow` for a
/// known path and a wrong method. Paths under `/admin/` always go to the admin handler
/// (never to a preflight), which answers 404 for all of them when admin is off.
pub fn route(method: &str, path: &str) -> Result<Route, ApiError> {
    if delivery::is_admin_path(path) {
        return Ok(Route::Admin(delivery::admin_route(method, path)));
    }
    if method == "OPTIONS" {
        return Ok(Route::Preflight);
    }
    let (route, allow) = match path {
        "/callback" => (Route::Callback, ALLOW_CALLBACK),
        "/rooms" => (Route::Rooms, ALLOW_READ),
        "/healthz" => (Route::Health, ALLOW_READ),
        _ => match path
            .strip_prefix("/rooms/")
            .map(|rest| rest.split_once('/'))
        {
            Some(None) => (Route::Room(path["/rooms/".len()..].to_string()), ALLOW_READ),
            Some(Some((id, "live"))) => (Route::Live(id.to_string()), ALLOW_LIVE),
            _ => match StaticFile::at(path) {
                Some(file) => (Route::Static(file), ALLOW_READ),
                None => return Err(ApiError::NotFound),
            },
        },
    };
    let method_fits = match route {
        Route::Callback => method == "POST",
        Route::Live(_) => method == "GET",
        _ => matches!(method, "GET" | "HEAD"),
    };
    if method_fits {
        Ok(route)
    } else {
        Err(ApiError::MethodNotAllowed(allow))
    }
}

/// The fetch entry: the export `#[worker::event(fetch)]` would make, without its glue (which
/// boxes errors as `dyn Error` on three paths; 2.2 KB of wasm).
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(
    wasm_bindgen_futures = worker::wasm_bindgen_futures,
    js_sys = worker::js_sys
)]
pub async fn fetch(
    req: worker::web_sys::Request,
    env: worker::Env,
    _ctx: worker::worker_sys::Context,
) -> Result<wasm_bindgen::JsValue, wasm_bindgen::JsValue> {
    let response = match edge::fetch::handle(req.into(), env).await {
        Ok(response) => response,
        // A reply whose headers the runtime refused: answered like workers-rs answers it.
        Err(e) => {
            worker::console_error!("{}", worker::Error::from(e));
            edge::into_response(crate::core::http::Reply {
                status: 500,
                headers: Vec::new(),
                body: b"INTERNAL SERVER ERROR".to_vec(),
            })?
        }
    };
    Ok(response.into())
}

/// The delivery queue's consumer (and its dead-letter queue's). Never fails: each message is
/// acked or retried on its own, since an `Err` here would fail the whole batch.
/// The export `#[worker::event(queue)]` would make, over the runtime's own batch: workers-rs's
/// `MessageBatch` retries a message through serde_wasm_bindgen (about 3 KB of wasm).
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(
    wasm_bindgen_futures = worker::wasm_bindgen_futures,
    js_sys = worker::js_sys
)]
pub async fn queue(
    batch: worker::worker_sys::MessageBatch,
    env: worker::Env,
    _ctx: worker::worker_sys::Context,
) -> Result<wasm_bindgen::JsValue, wasm_bindgen::JsValue> {
    edge::queue::consume(batch, env).await;
    Ok(wasm_bindgen::JsValue::UNDEFINED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_paths_route_to_their_handlers() {
        assert_eq!(route("POST", "/callback"), Ok(Route::Callback));
        assert_eq!(route("GET", "/rooms/1253"), Ok(Route::Room("1253".into())));
        assert_eq!(route("HEAD", "/rooms/1253"), Ok(Route::Room("1253".into())));
        assert_eq!(
            route("GET", "/rooms/1253/live"),
            Ok(Route::Live("1253".into()))
        );
        assert_eq!(route("GET", "/rooms"), Ok(Route::Rooms));
        assert_eq!(route("GET", "/healthz"), Ok(Route::Health));
    }

    #[test]
    fn static_files_are_read_only_routes_of_the_worker() {
        // The worker runs first for them too (wrangler.toml `run_worker_first = true`).
        for file in StaticFile::ALL {
            let path = file.path();
            assert_eq!(route("GET", path), Ok(Route::Static(file)), "{path}");
            assert_eq!(route("HEAD", path), Ok(Route::Static(file)), "{path}");
            assert_eq!(route("OPTIONS", path), Ok(Route::Preflight), "{path}");
            for method in ["POST", "PUT", "DELETE", "QUERY"] {
                assert_eq!(
                    route(method, path),
                    Err(ApiError::MethodNotAllowed("GET, HEAD, OPTIONS")),
                    "{method} {path}"
                );
            }
        }
        assert_eq!(route("GET", "/index.html"), Err(ApiError::NotFound));
    }

    #[test]
    fn preflight_answers_on_any_path() {
        assert_eq!(route("OPTIONS", "/nowhere"), Ok(Route::Preflight));
    }

    #[test]
    fn admin_paths_go_to_the_admin_handler_whatever_the_method() {
        assert_eq!(
            route("GET", "/admin/dead-letters"),
            Ok(Route::Admin(Ok(AdminRoute::List)))
        );
        assert_eq!(
            route("POST", "/admin/dead-letters/replay"),
            Ok(Route::Admin(Ok(AdminRoute::Replay)))
        );
        assert_eq!(
            route("DELETE", "/admin/dead-letters/x"),
            Ok(Route::Admin(Ok(AdminRoute::Delete("x".into()))))
        );
        assert_eq!(
            route("OPTIONS", "/admin/dead-letters"),
            Ok(Route::Admin(Err(ApiError::MethodNotAllowed("GET"))))
        );
        assert_eq!(
            route("GET", "/admin/nothing"),
            Ok(Route::Admin(Err(ApiError::NotFound)))
        );
        assert_eq!(route("OPTIONS", "/administrator"), Ok(Route::Preflight));
    }

    #[test]
    fn unknown_paths_are_not_found() {
        for path in [
            "/rooms/1/x",
            "/callback/",
            "/nope",
            "/rooms/1/",
            "/rooms/1/live/",
            "/rooms/1/live/x",
        ] {
            assert_eq!(route("GET", path), Err(ApiError::NotFound), "{path}");
        }
    }

    #[test]
    fn wrong_methods_name_the_allowed_ones() {
        assert_eq!(
            route("GET", "/callback"),
            Err(ApiError::MethodNotAllowed("POST, OPTIONS"))
        );
        assert_eq!(
            route("POST", "/rooms/1"),
            Err(ApiError::MethodNotAllowed("GET, HEAD, OPTIONS"))
        );
        assert_eq!(
            route("HEAD", "/rooms/1/live"),
            Err(ApiError::MethodNotAllowed("GET, OPTIONS"))
        );
        assert_eq!(
            route("DELETE", "/healthz"),
            Err(ApiError::MethodNotAllowed("GET, HEAD, OPTIONS"))
        );
    }
}
