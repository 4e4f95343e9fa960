//! Sends a signed Tencent Cloud API request (`core::tencent`) and reads the answer, with a
//! timeout: the room object's way to ask TIW about a task.

use std::time::Duration;

use futures_util::future::{select, Either};
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit};

use crate::core::tencent::{parse_answer, Answer, SignedRequest};

/// `Err` is a network error or no answer within `timeout_ms`, in a few words.
pub async fn send(request: &SignedRequest, timeout_ms: u64) -> Result<Answer, String> {
    let built = build(request).map_err(|e| format!("the request could not be built: {e}"))?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(built);
    let send = Box::pin(fetch.send_with_signal(&signal));
    let timeout = Box::pin(Delay::from(Duration::from_millis(timeout_ms)));
    let raced = select(send, timeout).await;
    let result = match raced {
        Either::Left((Ok(mut response), _)) => {
            let status = response.status_code();
            let body = response
                .bytes()
                .await
                .map_err(|_| "the answer could not be read")?;
            Ok(parse_answer(status, &body))
        }
        Either::Left((Err(_), _)) => Err("Tencent's API could not be reached".into()),
        Either::Right(((), _)) => {
            controller.abort();
            Err(format!("no answer within {timeout_ms} ms"))
        }
    };
    result
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
