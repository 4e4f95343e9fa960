//! Getting a callback to the origin the way `ORIGIN_DELIVERY` says: forwarded before the
//! answer (`direct`), or put on the delivery queue (`queue`) and delivered by the consumer in
//! this file, with retries, backoff and dead letters.
//!
//! The consumer never returns an error (workers-rs turns one into a panic that fails the
//! whole batch): every message is acked or retried on its own. A failed attempt is acked and
//! sent again as a new message with the next attempt number and the backoff as its delay,
//! because a queue message's own retry count is not readable from workers-rs. Only when that
//! send fails is the message itself retried. Deliveries of a batch run concurrently, at most
//! [`CONCURRENT_DELIVERIES`] at once.
//! Not here: the policy (`core::delivery`), the HTTP request (`origin`), KV (`dead_letters`).

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;

use worker::worker_sys::MessageBatch;
use worker::{js_sys, Env};

use super::bindings::{self, Queue, QueueMessage};
use super::dead_letters::DeadLetters;
use super::now_ms;
use super::origin::{self, Forward};
use crate::core::accept::Origin;
use crate::core::config::{Config, OriginDelivery};
use crate::core::delivery::{
    self, Attempt, DeadLetter, Delivery, DeliveryLog, DeliveryQueue, Next, QUEUE_BINDING,
};
use crate::core::http::ApiError;
use crate::core::log::RequestLog;

/// A Worker invocation keeps at most six connections open at once; more would only queue
/// inside the runtime.
const CONCURRENT_DELIVERIES: usize = 6;
/// How long a message waits before the queue brings it back when the consumer cannot act on
/// it (no valid configuration, KV or the queue failing).
const REDELIVER_SECONDS: u32 = 60;

/// Hands one callback (or a body the worker wrote itself: `call.source` then names it) to the
/// origin through the active `ORIGIN_DELIVERY`; does nothing without `ORIGIN_URL`.
/// Direct: `Err(OriginUnavailable)` when the origin failed. Queue: `Err(QueueUnavailable)`
/// when the queue did not accept it; the origin's state does not matter.
pub async fn deliver(
    env: &Env,
    config: &Config,
    call: &Forward<'_>,
    log: &mut RequestLog,
) -> Result<(), ApiError> {
    let Some(url) = &config.origin_url else {
        return Ok(());
    };
    match config.origin_delivery {
        OriginDelivery::Direct => {
            let forwarded = origin::forward(config, url, call).await;
            log.forwarded = Some(forwarded.is_ok());
            forwarded.map(|_| ())
        }
        OriginDelivery::Queue => enqueue(env, call, log).await,
    }
}

async fn enqueue(env: &Env, call: &Forward<'_>, log: &mut RequestLog) -> Result<(), ApiError> {
    let Some(queue) = Queue::bound(env, QUEUE_BINDING) else {
        log.enqueued = Some(false);
        return Err(ApiError::NotConfigured(QUEUE_BINDING));
    };
    delivery::enqueue(&queue, call.body, &call.headers(), now_ms(), log).await
}

/// The delivery queue, for `core::delivery::enqueue`.
impl DeliveryQueue for Queue {
    async fn send(&self, delivery: &Delivery) -> Result<(), String> {
        let json = serde_json::to_string(delivery).map_err(|e| e.to_string())?;
        self.send_json(&json, None).await
    }
}

/// One verified callback on its way to the origin, for `core::accept`.
pub struct Deliverer<'a> {
    pub env: &'a Env,
    pub config: &'a Config,
    pub body: &'a [u8],
    pub event_type: &'a str,
    pub signed: bool,
    pub request_id: &'a str,
}

impl Origin for Deliverer<'_> {
    async fn deliver(&self, outcome: &'static str, log: &mut RequestLog) -> Result<(), ApiError> {
        let call = Forward {
            body: self.body,
            event_type: self.event_type,
            outcome,
            signed: self.signed,
            request_id: self.request_id,
            source: None,
        };
        deliver(self.env, self.config, &call, log).await
    }
}

/// `ORIGIN_DELIVERY=queue` needs the producer binding (checked with the rest of the
/// configuration, so a missing binding fails closed like a missing variable).
pub fn has_queue(env: &Env) -> bool {
    Queue::bound(env, QUEUE_BINDING).is_some()
}

/// The queue entry: a batch from the delivery queue is delivered; a batch from its
/// dead-letter queue (messages the consumer failed on until the queue gave up) is kept as
/// dead letters.
pub async fn consume(batch: MessageBatch, env: Env) {
    let (queue, messages) = bindings::batch_messages(&batch);
    let messages: Vec<Message> = messages
        .into_iter()
        .filter_map(|m| match m.json_body() {
            Some(text) => Some((m, text)),
            // Not a JSON message: nothing this worker sent. The queue acks it when the
            // handler returns.
            None => {
                log_unreadable("a queue message is not JSON");
                None
            }
        })
        .collect();
    if delivery::is_dead_letter_queue(&queue) {
        keep_dead_letter_queue(messages, &env).await;
    } else {
        deliver_batch(messages, &env).await;
    }
}

async fn deliver_batch(messages: Vec<Message>, env: &Env) {
    let config = match super::fetch::load_config(env) {
        Ok(config) => config,
        Err(e) => {
            log_unreadable(&format!(
                "the configuration is invalid ({}): deliveries wait",
                e.variable
            ));
            messages
                .iter()
                .for_each(|(m, _)| redeliver(m, REDELIVER_SECONDS));
            return;
        }
    };
    let queue = Queue::bound(env, QUEUE_BINDING);
    let dead_letters = DeadLetters::new(env).ok();
    let consumer = Consumer {
        config: &config,
        queue: queue.as_ref(),
        dead_letters: dead_letters.as_ref(),
    };
    // Six lanes, each taking the next message when done with one: what a stream's
    // `buffer_unordered` does, without its `FuturesUnordered` (-1.7 KB of wasm).
    let next = Cell::new(0);
    let lane = || -> Pin<Box<dyn Future<Output = ()> + '_>> {
        Box::pin(async {
            while let Some(message) = messages.get(next.replace(next.get() + 1)) {
                consumer.handle(message).await;
            }
        })
    };
    let mut lanes: Vec<_> = (0..CONCURRENT_DELIVERIES).map(|_| lane()).collect();
    poll_fn(|cx| {
        lanes.retain_mut(|lane| lane.as_mut().poll(cx).is_pending());
        match lanes.is_empty() {
            true => Poll::Ready(()),
            false => Poll::Pending,
        }
    })
    .await;
}

/// A queue message with its body as JSON text. Read as text rather than through
/// workers-rs's typed messages: `Delivery::read` is in the wasm already (dead letters are
/// read from KV text), and a `from_value` copy of it, with serde_wasm_bindgen, costs several
/// KB.
type Message = (QueueMessage, String);

struct Consumer<'a> {
    config: &'a Config,
    queue: Option<&'a Queue>,
    dead_letters: Option<&'a DeadLetters>,
}

impl Consumer<'_> {
    /// One message: one attempt, then ack, retry or dead letter; always acks or retries it.
    async fn handle(&self, (message, body): &Message) {
        let started = now_ms();
        let Some(delivery) = Delivery::read(body) else {
            log_unreadable("a queue message is not a delivery; dropped");
            message.ack();
            return;
        };
        let mut log = DeliveryLog {
            kind: "delivery",
            delivery_id: delivery.id.clone(),
            request_id: delivery.request_id.clone(),
            attempt: delivery.attempt,
            ..DeliveryLog::default()
        };
        let Some(url) = &self.config.origin_url else {
            log.result = "error";
            log.error = Some("ORIGIN_URL is not set: the delivery waits".into());
            redeliver(message, REDELIVER_SECONDS);
            return finish(&mut log, started);
        };

        let attempt = origin::post(
            self.config,
            url,
            delivery.body.as_bytes(),
            &delivery.headers(),
        )
        .await;
        let error = match &attempt {
            Attempt::Delivered(status) => {
                log.status = Some(*status);
                None
            }
            Attempt::Failed { error, status, .. } => {
                log.status = *status;
                Some(error.clone())
            }
        };
        log.error = error.clone();
        let next = delivery::next_step(
            delivery.attempt,
            self.config.origin_max_attempts,
            self.config.origin_retry_base_seconds,
            &attempt,
            js_sys::Math::random(),
        );
        match next {
            Next::Done => {
                log.result = "delivered";
                message.ack();
            }
            Next::RetryIn(seconds) => {
                log.retry_in_seconds = Some(seconds);
                match self.send_later(&delivery.next_attempt(), seconds).await {
                    Ok(()) => {
                        log.result = "retry";
                        message.ack();
                    }
                    Err(e) => {
                        // The same attempt comes back instead; nothing is lost.
                        log.result = "error";
                        log.error = Some(format!(
                            "{}; the retry could not be queued: {e}",
                            error.unwrap_or_default()
                        ));
                        redeliver(message, seconds);
                    }
                }
            }
            Next::DeadLetter => {
                let dead = DeadLetter::new(delivery, &error.unwrap_or_default(), now_ms());
                log.dead_letter_id = Some(dead.id());
                match self.keep(&dead).await {
                    Ok(()) => {
                        log.result = "dead_letter";
                        message.ack();
                    }
                    Err(e) => {
                        log.result = "error";
                        log.error = Some(format!(
                            "{}; the dead letter could not be kept: {e}",
                            dead.last_error
                        ));
                        redeliver(message, REDELIVER_SECONDS);
                    }
                }
            }
        }
        finish(&mut log, started);
    }

    async fn send_later(&self, delivery: &Delivery, seconds: u32) -> Result<(), String> {
        let queue = self.queue.ok_or(format!("no {QUEUE_BINDING} binding"))?;
        let json = serde_json::to_string(delivery).map_err(|e| e.to_string())?;
        queue.send_json(&json, Some(seconds)).await
    }

    async fn keep(&self, dead: &DeadLetter) -> Result<(), String> {
        let store = self.dead_letters.ok_or("no PUSH_STATE binding")?;
        store.keep(dead).await
    }
}

/// Messages the consumer failed on `max_retries + 1` times (it crashed, or could neither
/// retry nor keep them) arrive here and become dead letters like any other.
async fn keep_dead_letter_queue(messages: Vec<Message>, env: &Env) {
    let store = DeadLetters::new(env).ok();
    for (message, body) in &messages {
        let started = now_ms();
        let Some(delivery) = Delivery::read(body) else {
            log_unreadable("a dead-letter queue message is not a delivery; dropped");
            message.ack();
            continue;
        };
        let dead = DeadLetter::new(
            delivery,
            "the consumer failed on this message until the queue gave up (dead-letter queue)",
            now_ms(),
        );
        let mut log = DeliveryLog {
            kind: "dead_letter_queue",
            delivery_id: dead.delivery.id.clone(),
            request_id: dead.delivery.request_id.clone(),
            attempt: dead.attempts,
            dead_letter_id: Some(dead.id()),
            error: Some(dead.last_error.clone()),
            ..DeliveryLog::default()
        };
        let kept = match &store {
            Some(store) => store.keep(&dead).await,
            None => Err("no PUSH_STATE binding".into()),
        };
        match kept {
            Ok(()) => {
                log.result = "dead_letter";
                message.ack();
            }
            Err(e) => {
                log.result = "error";
                log.error = Some(format!("the dead letter could not be kept: {e}"));
                redeliver(message, REDELIVER_SECONDS);
            }
        }
        finish(&mut log, started);
    }
}

fn redeliver(message: &QueueMessage, seconds: u32) {
    message.retry_in(seconds);
}

fn finish(log: &mut DeliveryLog, started_ms: u64) {
    log.duration_ms = now_ms().saturating_sub(started_ms);
    super::log(&log.line());
}

fn log_unreadable(error: &str) {
    let mut log = DeliveryLog {
        kind: "delivery",
        result: "error",
        error: Some(error.to_string()),
        ..DeliveryLog::default()
    };
    super::log(&log.line());
}
