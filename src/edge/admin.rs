//! `/admin/dead-letters`: list, replay and delete the deliveries that ran out of retries
//! (API.md, "Dead letters").
//!
//! Off (every `/admin/...` path 404, preflights too) unless `ADMIN_TOKEN` is set; then every
//! request needs `Authorization: Bearer <ADMIN_TOKEN>` before anything else is looked at, so
//! a caller without the token learns nothing about which paths exist. No CORS: this is for
//! operators and their tools (`npm run dead-letters`), not browsers.

use worker::{Env, Request};

use super::bindings::Queue;
use super::dead_letters::DeadLetters;
use super::fetch::{header, read_body};
use crate::core::config::Config;
use crate::core::delivery::{self, AdminRoute, DeliveryQueue, Replay, QUEUE_BINDING};
use crate::core::http::{self, ApiError, Reply};
use crate::core::json::Members;
use crate::core::log::RequestLog;

pub async fn handle(
    req: &mut Request,
    env: &Env,
    config: &Config,
    route: Result<AdminRoute, ApiError>,
    log: &mut RequestLog,
) -> Result<Reply, ApiError> {
    let Some(token) = &config.admin_token else {
        return Err(ApiError::NotFound);
    };
    if !http::bearer_matches(header(req, "authorization").as_deref(), token) {
        return Err(ApiError::Unauthorized);
    }
    let store = DeadLetters::new(env)?;
    match route? {
        AdminRoute::List => list(req, &store).await,
        AdminRoute::Replay => replay(req, env, &store, log).await,
        AdminRoute::Delete(id) => match store.remove(&id).await? {
            true => Ok(Reply::empty(204)),
            false => Err(ApiError::NotFound),
        },
    }
}

/// `GET /admin/dead-letters[?cursor=]`: one page, oldest first.
async fn list(req: &Request, store: &DeadLetters) -> Result<Reply, ApiError> {
    let cursor = http::query_param(&req.inner().url(), "cursor").filter(|c| !c.is_empty());
    let (entries, next) = store.page(cursor).await?;
    // Written as text: the entries with the `Serialize` that writes their KV metadata.
    let entries = serde_json::to_string(&entries).map_err(|_| ApiError::Internal)?;
    let body = Members::new()
        .opt_str("cursor", next.as_deref())
        .raw("deadLetters", &entries)
        .object();
    let mut reply = Reply::bytes(200, http::JSON_CONTENT_TYPE, body.into_bytes());
    reply.header("cache-control", "no-store");
    Ok(reply)
}

/// `POST /admin/dead-letters/replay`: each dead letter is queued again with its original
/// bytes and delivery id, then removed. `{"all": true}` replays up to one page
/// (`core::delivery::DEAD_LETTER_PAGE`) per request; `more` says whether others are left.
async fn replay(
    req: &mut Request,
    env: &Env,
    store: &DeadLetters,
    log: &mut RequestLog,
) -> Result<Reply, ApiError> {
    let request = delivery::parse_replay(&read_body(req).await?)?;
    let queue = Queue::bound(env, QUEUE_BINDING).ok_or(ApiError::NotConfigured(QUEUE_BINDING))?;
    let (ids, all, more) = match request {
        Replay::Ids(ids) => (ids, false, false),
        Replay::All => {
            let (entries, next) = store.page(None).await?;
            (
                entries.into_iter().map(|e| e.id).collect(),
                true,
                next.is_some(),
            )
        }
    };
    let mut replayed = 0u64;
    let mut missing = Vec::new();
    for id in ids {
        let Some(dead) = store.get(&id).await? else {
            // With `all`, a listed id that is gone was removed meanwhile (KV lists lag).
            if !all {
                missing.push(id);
            }
            continue;
        };
        queue.send(&dead.replay()).await.map_err(|e| {
            log.warn(format!(
                "replay of {id}: the delivery queue refused it: {e}"
            ));
            ApiError::QueueUnavailable
        })?;
        store.forget(&dead).await?;
        replayed += 1;
    }
    Ok(Reply::json(
        200,
        Members::new()
            .num("replayed", replayed)
            .strs("missing", &missing)
            .bool("more", more),
    ))
}
