//! Dead letters in Workers KV: `dead:{id}` keys in the `PUSH_STATE` namespace, each kept
//! 14 days (`expirationTtl`), with the list entry as the key's metadata so a page of
//! `/admin/dead-letters` is one KV list and no reads. Ids start with the receipt time, so
//! KV's key order is oldest first.
//! Not here: what a dead letter holds and when a delivery becomes one (`core::delivery`).

use worker::Env;

use super::bindings::Kv;
use crate::core::delivery::{
    self, DeadLetter, Summary, DEAD_LETTER_PAGE, DEAD_LETTER_PREFIX, DEAD_LETTER_TTL_SECONDS,
};
use crate::core::http::ApiError;

const KV_BINDING: &str = "PUSH_STATE";

pub struct DeadLetters {
    kv: Kv,
}

impl DeadLetters {
    pub fn new(env: &Env) -> Result<DeadLetters, ApiError> {
        let kv = Kv::bound(env, KV_BINDING).ok_or(ApiError::NotConfigured(KV_BINDING))?;
        Ok(DeadLetters { kv })
    }

    /// Keeps one dead letter; the error is a sentence for the log.
    pub async fn keep(&self, dead: &DeadLetter) -> Result<(), String> {
        let value = serde_json::to_string(dead).map_err(|e| e.to_string())?;
        let summary = serde_json::to_string(&dead.summary()).map_err(|e| e.to_string())?;
        let key = dead.key();
        self.kv
            .put_expiring(&key, &value, DEAD_LETTER_TTL_SECONDS, &summary)
            .await
            .map_err(|e| format!("kv put {key} failed: {e}"))
    }

    /// One page of dead letters, oldest first, and the cursor of the next page (`None` on
    /// the last).
    pub async fn page(
        &self,
        cursor: Option<String>,
    ) -> Result<(Vec<Summary>, Option<String>), ApiError> {
        let page = self
            .kv
            .list(DEAD_LETTER_PREFIX, DEAD_LETTER_PAGE, cursor.as_deref())
            .await
            .map_err(|_| ApiError::StorageUnavailable)?;
        let mut entries = Vec::with_capacity(page.keys.len());
        for (name, metadata) in page.keys {
            let summary = metadata.as_deref().and_then(Summary::read);
            let summary = match summary {
                Some(summary) => summary,
                // Metadata lost or from another format: read the record itself.
                None => match self.read_key(&name).await? {
                    Some(dead) => dead.summary(),
                    None => continue,
                },
            };
            entries.push(summary);
        }
        Ok((entries, page.cursor.filter(|c| !c.is_empty())))
    }

    /// The dead letter with this id, if it is kept.
    pub async fn get(&self, id: &str) -> Result<Option<DeadLetter>, ApiError> {
        if !delivery::is_dead_letter_id(id) {
            return Ok(None);
        }
        self.read_key(&delivery::dead_letter_key(id)).await
    }

    async fn read_key(&self, key: &str) -> Result<Option<DeadLetter>, ApiError> {
        let text = self
            .kv
            .get(key)
            .await
            .map_err(|_| ApiError::StorageUnavailable)?;
        // A record that does not parse cannot be replayed; it is listed by its metadata
        // until it expires or is deleted.
        Ok(text.as_deref().and_then(DeadLetter::read))
    }

    /// Removes a dead letter that was just read (after its replay was queued).
    pub async fn forget(&self, dead: &DeadLetter) -> Result<(), ApiError> {
        self.kv
            .delete(&dead.key())
            .await
            .map_err(|_| ApiError::StorageUnavailable)
    }

    /// Removes a dead letter; `false` when there was none with this id.
    pub async fn remove(&self, id: &str) -> Result<bool, ApiError> {
        if !delivery::is_dead_letter_id(id) {
            return Ok(false);
        }
        let key = delivery::dead_letter_key(id);
        let exists = self
            .kv
            .get(&key)
            .await
            .map_err(|_| ApiError::StorageUnavailable)?
            .is_some();
        if exists {
            self.kv
                .delete(&key)
                .await
                .map_err(|_| ApiError::StorageUnavailable)?;
        }
        Ok(exists)
    }
}
