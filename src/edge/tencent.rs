//! Sends a signed Tencent Cloud API request (`core::tencent`) and reads the answer, with a
//! timeout: the room object's way to ask TIW about a task.

use worker::{web_sys, AbortSignal, Fetch, Headers, Method, Request, RequestInit};

use crate::core::tencent::{parse_answer, Answer, SignedRequest};

/// `Err` is a network error or no whole answer within `timeout_ms`, in a few words. The
/// runtime aborts the fetch, the answer's body included, when the timeout passes
/// (`AbortSignal.timeout`).
pub async fn send(request: &SignedRequest, timeout_ms: u64) -> Result<Answer, String> {
    let built = build(request).map_err(|e| format!("the request could not be built: {e}"))?;
    let timeout = u32::try_from(timeout_ms).unwrap_or(u32::MAX);
    let signal = AbortSignal::from(web_sys::AbortSignal::timeout_with_u32(timeout));
    let late = || format!("no answer within {timeout_ms} ms");
    let response = match Fetch::Request(built).send_with_signal(&signal).await {
        Ok(response) => response,
        Err(_) if signal.aborted() => return Err(late()),
        Err(_) => return Err("Tencent's API could not be reached".into()),
    };
    let status = response.status_code();
    match super::body_text(response).await {
        Some(body) => Ok(parse_answer(status, body.as_bytes())),
        None if signal.aborted() => Err(late()),
        None => Err("the answer could not be read".into()),
    }
}

fn build(request: &SignedRequest) -> worker::Result<Request> {
    let headers = Headers::new();
    for (name, value) in &request.headers {
        // fetch derives Host from the URL (the same value the signature covers).
        if !name.eq_ignore_ascii_case("host") {
            headers.set(name, value)?;
        }
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(request.body.as_str().into()));
    super::new_request(&request.url, &init)
}
