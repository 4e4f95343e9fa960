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

use crate::core::http::ApiError;

/// What a request asks for, once its method and path are known to fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `OPTIONS` on any path.
    Preflight,
    Callback,
    /// `/rooms/{roomId}`, with the raw id segment (validated by the handler).
    Room(String),
    Rooms,
    Health,
    ClientScript,
    Page,
    OpenApi,
}

impl Route {
    /// The route's template, for logs.
    pub fn template(&self) -> &'static str {
        match self {
            Route::Preflight => "OPTIONS *",
            Route::Callback => "/callback",
            Route::Room(_) => "/rooms/{roomId}",
            Route::Rooms => "/rooms",
            Route::Health => "/healthz",
            Route::ClientScript => "/client.js",
            Route::Page => "/",
            Route::OpenApi => "/openapi.json",
        }
    }
}

const ALLOW_CALLBACK: &str = "POST, OPTIONS";
const ALLOW_READ: &str = "GET, HEAD, OPTIONS";

/// Which handler a method and path go to: 404 for an unknown path, 405 with `Allow` for a
/// known path and a wrong method.
pub fn route(method: &str, path: &str) -> Result<Route, ApiError> {
    if method == "OPTIONS" {
        return Ok(Route::Preflight);
    }
    let (route, allow) = match path {
        "/callback" => (Route::Callback, ALLOW_CALLBACK),
        "/rooms" => (Route::Rooms, ALLOW_READ),
        "/healthz" => (Route::Health, ALLOW_READ),
        "/client.js" => (Route::ClientScript, ALLOW_READ),
        "/openapi.json" => (Route::OpenApi, ALLOW_READ),
        "/" => (Route::Page, ALLOW_READ),
        _ => match path.strip_prefix("/rooms/") {
            Some(id) if !id.contains('/') => (Route::Room(id.to_string()), ALLOW_READ),
            _ => return Err(ApiError::NotFound),
        },
    };
    let method_fits = match route {
        Route::Callback => method == "POST",
        _ => matches!(method, "GET" | "HEAD"),
    };
    if method_fits {
        Ok(route)
    } else {
        Err(ApiError::MethodNotAllowed(allow))
    }
}

#[cfg(target_arch = "wasm32")]
#[worker::event(fetch)]
async fn fetch(
    req: worker::Request,
    env: worker::Env,
    _ctx: worker::Context,
) -> worker::Result<worker::Response> {
    edge::fetch::handle(req, env).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_paths_route_to_their_handlers() {
        assert_eq!(route("POST", "/callback"), Ok(Route::Callback));
        assert_eq!(route("GET", "/rooms/1253"), Ok(Route::Room("1253".into())));
        assert_eq!(route("HEAD", "/rooms/1253"), Ok(Route::Room("1253".into())));
        assert_eq!(route("GET", "/rooms"), Ok(Route::Rooms));
        assert_eq!(route("GET", "/healthz"), Ok(Route::Health));
        assert_eq!(route("GET", "/client.js"), Ok(Route::ClientScript));
        assert_eq!(route("GET", "/"), Ok(Route::Page));
    }

    #[test]
    fn openapi_document_is_read_only() {
        assert_eq!(route("GET", "/openapi.json"), Ok(Route::OpenApi));
        assert_eq!(route("HEAD", "/openapi.json"), Ok(Route::OpenApi));
        assert_eq!(
            route("POST", "/openapi.json"),
            Err(ApiError::MethodNotAllowed("GET, HEAD, OPTIONS"))
        );
    }

    #[test]
    fn preflight_answers_on_any_path() {
        assert_eq!(route("OPTIONS", "/nowhere"), Ok(Route::Preflight));
    }

    #[test]
    fn unknown_paths_are_not_found() {
        for path in ["/rooms/1/x", "/callback/", "/nope", "/rooms/1/"] {
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
            route("DELETE", "/healthz"),
            Err(ApiError::MethodNotAllowed("GET, HEAD, OPTIONS"))
        );
    }
}
