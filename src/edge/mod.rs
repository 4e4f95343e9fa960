//! The wasm-only shell: the only code that touches `worker` types (requests, KV, the Cache
//! API, queues, `fetch` to the origin, the clock). It moves data in and out of the pure core.

mod admin;
mod bindings;
mod dead_letters;
pub mod fetch;
mod origin;
pub mod queue;
pub mod room_object;
mod store;
mod tencent;

use std::future::Future;

use worker::{
    js_sys, wasm_bindgen::JsValue, wasm_bindgen_futures::JsFuture, web_sys, Env, Request,
    RequestInit,
};

use crate::core::http::Reply;

/// A var or secret as text. A `[vars]` number or boolean (`SDK_APP_IDS = 1400000001`) is read
/// as its text too, so a config that looks right is not refused over TOML quoting.
pub fn env_string(env: &Env, name: &str) -> Option<String> {
    let value = js_sys::Reflect::get(env, &name.into()).ok()?;
    if let Some(text) = value.as_string() {
        return Some(text);
    }
    if let Some(number) = value.as_f64() {
        // Written as an integer: formatting an f64 would link float printing (~14 KB of wasm).
        return (number.fract() == 0.0 && number.abs() < 9.0e15)
            .then(|| (number as i64).to_string());
    }
    value.as_bool().map(|b| b.to_string())
}

/// The configuration in an env's vars and secrets. One function for the fetch handler and
/// the room object alike: `Config::from_lookup` is generic over its lookup, and each closure
/// type would be a copy of the whole parser (~3.5 KB of wasm).
pub fn env_config(
    env: &Env,
) -> Result<crate::core::config::Config, crate::core::config::ConfigError> {
    crate::core::config::Config::from_lookup(|name| env_string(env, name))
}

/// The clock, in Unix milliseconds (`Date.now()`: no `Date` object made to read it).
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// Prints one log line (`console.log`). workers-rs's `console_log!` would copy each line
/// through `format!` first.
pub fn log(line: &str) {
    web_sys::console::log_1(&line.into());
}

/// A reply as the runtime's response, made directly rather than as workers-rs's `Response`
/// and then converted.
pub fn into_response(reply: Reply) -> Result<web_sys::Response, JsValue> {
    let headers = web_sys::Headers::new()?;
    for (name, value) in &reply.headers {
        headers.set(name, value)?;
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(reply.status);
    init.set_headers(&headers);
    let body = (!reply.body.is_empty()).then(|| js_sys::Uint8Array::from(&reply.body[..]));
    web_sys::Response::new_with_opt_js_u8_array_and_init(body.as_ref(), &init)
}

/// A response's whole body as text, in one read (`Response.text()`). worker's own `text()` and
/// `bytes()` read a streamed body chunk by chunk through a stream reader: a JS↔wasm crossing
/// and a promise per chunk, the largest part of a small body's cost (bench/profile.mjs).
/// `None` when the body cannot be read or is not text. The runtime's own response is read as
/// it is: made into workers-rs's first, it would be rebuilt on the way back.
pub fn body_text(response: impl Into<web_sys::Response>) -> impl Future<Output = Option<String>> {
    text(response.into())
}

async fn text(response: web_sys::Response) -> Option<String> {
    JsFuture::from(response.text().ok()?)
        .await
        .ok()?
        .as_string()
}

/// `Request::new_with_init` without the `cf` properties: worker converts its whole
/// `CfProperties` into the JS init whatever is set (about 11 KB of wasm), and no request made
/// here sets any. Method, headers, body, redirect and cache mode are carried over as worker does.
pub fn new_request(url: &str, init: &RequestInit) -> worker::Result<Request> {
    let js_init = web_sys::RequestInit::new();
    js_init.set_method(init.method.as_ref());
    js_init.set_headers(init.headers.as_ref());
    js_init.set_redirect(init.redirect.into());
    if let Some(cache) = init.cache {
        js_init.set_cache(cache.into());
    }
    if let Some(body) = &init.body {
        js_init.set_body(body);
    }
    let request = web_sys::Request::new_with_str_and_init(url, &js_init)?;
    Ok(request.into())
}
