//! Sending a callback to the app's origin server ("edge filtering").
//!
//! The origin receives the exact bytes Tencent sent, so it may re-verify the signature, plus
//! headers saying what the edge concluded (`core::delivery::OriginHeaders`). A non-2xx answer
//! (redirects included: they are not followed), a network error or no answer within
//! `ORIGIN_TIMEOUT_MS` is a failed attempt: in direct delivery the handler answers it with
//! 502, so the sender retries; in queued delivery the consumer tries again later.

use worker::{
    js_sys::Uint8Array, web_sys, AbortSignal, Fetch, Headers, Method, Request, RequestInit,
    RequestRedirect,
};

use crate::core::config::Config;
use crate::core::delivery::{Attempt, OriginHeaders};
use crate::core::http::ApiError;
use crate::core::weburl::Url;

/// What the origin is told about a callback besides its bytes.
pub struct Forward<'a> {
    pub body: &'a [u8],
    pub event_type: &'a str,
    pub outcome: &'a str,
    pub signed: bool,
    pub request_id: &'a str,
    /// `x-tiw-source`, for bodies the worker wrote itself (e.g. `reconciled`); `None` for
    /// Tencent's callbacks.
    pub source: Option<&'a str>,
}

impl Forward<'_> {
    /// The headers of a direct delivery (queued ones add their delivery id and attempt).
    pub fn headers(&self) -> OriginHeaders<'_> {
        OriginHeaders {
            event_type: self.event_type,
            outcome: self.outcome,
            verified: self.signed,
            request_id: self.request_id,
            source: self.source,
            queued: None,
        }
    }
}

/// POSTs one callback to `url` (`ORIGIN_URL`); `Ok` with the origin's status when it was 2xx.
pub async fn forward(config: &Config, url: &Url, call: &Forward<'_>) -> Result<u16, ApiError> {
    match post(config, url, call.body, &call.headers()).await {
        Attempt::Delivered(status) => Ok(status),
        Attempt::Failed { error, .. } => Err(ApiError::OriginUnavailable(error)),
    }
}

/// One attempt: POSTs `body` with `headers` (and `ORIGIN_TOKEN`) to `url`.
pub async fn post(config: &Config, url: &Url, body: &[u8], headers: &OriginHeaders<'_>) -> Attempt {
    let failed = |error: String| Attempt::Failed {
        error,
        status: None,
        retry_after: None,
    };
    let Ok(request) = build_request(config, url.as_str(), body, headers) else {
        return failed("the forward request could not be built".into());
    };

    // The runtime aborts the fetch when the timeout passes (`AbortSignal.timeout`).
    let signal = AbortSignal::from(web_sys::AbortSignal::timeout_with_u32(
        config.origin_timeout_ms,
    ));
    let answer = Fetch::Request(request).send_with_signal(&signal).await;
    match answer {
        Ok(response) => match response.status_code() {
            status @ 200..=299 => Attempt::Delivered(status),
            status => Attempt::Failed {
                error: format!("it answered HTTP {status}"),
                status: Some(status),
                retry_after: response.headers().get("retry-after").ok().flatten(),
            },
        },
        Err(_) if signal.aborted() => {
            failed(format!("no answer within {} ms", config.origin_timeout_ms))
        }
        Err(_) => failed("it could not be reached".into()),
    }
}

fn build_request(
    config: &Config,
    url: &str,
    body: &[u8],
    edge_headers: &OriginHeaders<'_>,
) -> worker::Result<Request> {
    let headers = Headers::new();
    for (name, value) in edge_headers.list() {
        headers.set(name, &value)?;
    }
    if let Some(token) = &config.origin_token {
        headers.set("authorization", &format!("Bearer {token}"))?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual)
        .with_body(Some(Uint8Array::from(body).into()));
    super::new_request(url, &init)
}
