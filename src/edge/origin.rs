//! Forwarding verified callbacks to the app's origin server ("edge filtering").
//!
//! The origin receives the exact bytes Tencent sent, so it may re-verify the signature, plus
//! headers saying what the edge concluded. A non-2xx answer (redirects included: they are not
//! followed), a network error or no answer within `ORIGIN_TIMEOUT_MS` is a failure the
//! handler answers with 502, so the sender retries.

use std::time::Duration;

use futures_util::future::{select, Either};
use worker::{
    js_sys::Uint8Array, AbortController, Delay, Fetch, Headers, Method, Request, RequestInit,
    RequestRedirect, Url,
};

use crate::core::config::Config;
use crate::core::http::{header_safe, ApiError};

/// What the origin is told about a callback besides its bytes.
pub struct Forward<'a> {
    pub body: &'a [u8],
    pub event_type: &'a str,
    pub outcome: &'a str,
    pub signed: bool,
    pub request_id: &'a str,
}

/// POSTs one callback to `url` (`ORIGIN_URL`); `Ok` with the origin's status when it was 2xx.
pub async fn forward(config: &Config, url: &Url, call: &Forward<'_>) -> Result<u16, ApiError> {
    let request = build_request(config, url.as_str(), call).map_err(|_| {
        ApiError::OriginUnavailable("the forward request could not be built".into())
    })?;

    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(request);
    let send = Box::pin(fetch.send_with_signal(&signal));
    let timeout = Box::pin(Delay::from(Duration::from_millis(
        config.origin_timeout_ms.into(),
    )));
    let answer = select(send, timeout).await;
    match answer {
        Either::Left((Ok(response), _)) => match response.status_code() {
            status @ 200..=299 => Ok(status),
            status => Err(ApiError::OriginUnavailable(format!(
                "it answered HTTP {status}"
            ))),
        },
        Either::Left((Err(_), _)) => Err(ApiError::OriginUnavailable(
            "it could not be reached".into(),
        )),
        Either::Right(((), _)) => {
            controller.abort();
            Err(ApiError::OriginUnavailable(format!(
                "no answer within {} ms",
                config.origin_timeout_ms
            )))
        }
    }
}

fn build_request(config: &Config, url: &str, call: &Forward<'_>) -> worker::Result<Request> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    headers.set("x-tiw-verified", if call.signed { "1" } else { "0" })?;
    headers.set("x-tiw-event-type", &header_safe(call.event_type))?;
    headers.set("x-tiw-outcome", call.outcome)?;
    headers.set("x-request-id", call.request_id)?;
    if let Some(token) = &config.origin_token {
        headers.set("authorization", &format!("Bearer {token}"))?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual)
        .with_body(Some(Uint8Array::from(call.body).into()));
    Request::new_with_init(url, &init)
}
