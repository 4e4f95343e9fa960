//! Workers KV and queues (sending, and a batch's messages), called directly. workers-rs
//! converts every option object, value and answer of these APIs with serde_wasm_bindgen (31 KB
//! of the wasm, 14 KB gzip); every value this worker keeps or sends is JSON text written by
//! serde_json already, so here it goes to the runtime as a string, or as `JSON.parse` of that
//! text where the runtime wants an object, and options are set field by field. Durable Object
//! stubs and the env's typed bindings are reached here too, without workers-rs's wrappers.
//! Not here: what is stored under which key (`store`, `dead_letters`, `room_object`).

use worker::js_sys::{Array, Map, Object, Promise, Reflect, JSON};
use worker::wasm_bindgen::{prelude::wasm_bindgen, JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::{Message, MessageBatch};
use worker::{web_sys, Env};

#[wasm_bindgen]
extern "C" {
    /// A KV namespace binding.
    type KvNamespace;

    #[wasm_bindgen(method, catch)]
    fn get(this: &KvNamespace, key: &JsValue, options: &JsValue) -> Result<Promise, JsValue>;

    #[wasm_bindgen(method, catch)]
    fn put(
        this: &KvNamespace,
        key: &str,
        value: &str,
        options: &JsValue,
    ) -> Result<Promise, JsValue>;

    #[wasm_bindgen(method, catch)]
    fn list(this: &KvNamespace, options: &JsValue) -> Result<Promise, JsValue>;

    #[wasm_bindgen(method, catch)]
    fn delete(this: &KvNamespace, key: &str) -> Result<Promise, JsValue>;
}

#[wasm_bindgen]
extern "C" {
    /// A Durable Object namespace binding.
    pub type ObjectNamespace;

    #[wasm_bindgen(method, catch, js_name = getByName)]
    fn get_by_name(this: &ObjectNamespace, name: &str) -> Result<ObjectStub, JsValue>;

    /// A Durable Object's stub.
    type ObjectStub;

    #[wasm_bindgen(method, catch)]
    fn fetch(this: &ObjectStub, request: &web_sys::Request) -> Result<Promise, JsValue>;
}

impl ObjectNamespace {
    /// Sends `request` to the object named `name`: `Ok` with its response, `Err` when the
    /// object cannot be reached (or is not named).
    pub async fn send(
        &self,
        name: &str,
        request: &web_sys::Request,
    ) -> Result<web_sys::Response, String> {
        let stub = self.get_by_name(name).map_err(js_error)?;
        settle(stub.fetch(request))
            .await
            .map(JsCast::unchecked_into)
    }
}

/// A KV namespace. Errors are the runtime's, as a sentence for the log.
pub struct Kv(KvNamespace);

/// One page of a KV list: each key with its metadata as JSON text, and the cursor of the
/// next page (`None` when the list is complete).
pub struct KvPage {
    pub keys: Vec<(String, Option<String>)>,
    pub cursor: Option<String>,
}

impl Kv {
    /// The namespace bound as `binding`, if the env has one.
    pub fn bound(env: &Env, binding: &str) -> Option<Kv> {
        let value = Reflect::get(env, &binding.into()).ok()?;
        (!value.is_undefined()).then(|| Kv(value.unchecked_into()))
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, String> {
        let value = settle(self.0.get(&key.into(), &text_type())).await?;
        Ok(value.as_string())
    }

    /// The values of `keys` in one operation (a bulk get), in the same order.
    pub async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<String>>, String> {
        let names: Array = keys.iter().map(|&key| JsValue::from(key)).collect();
        let found: Map = settle(self.0.get(&names, &text_type()))
            .await?
            .unchecked_into();
        Ok(keys
            .iter()
            .map(|&key| found.get(&key.into()).as_string())
            .collect())
    }

    pub async fn put(&self, key: &str, value: &str) -> Result<(), String> {
        settle(self.0.put(key, value, &JsValue::UNDEFINED))
            .await
            .map(drop)
    }

    /// A put that expires after `ttl_seconds`, with `metadata` (JSON text) kept with the key.
    pub async fn put_expiring(
        &self,
        key: &str,
        value: &str,
        ttl_seconds: u64,
        metadata: &str,
    ) -> Result<(), String> {
        let metadata = JSON::parse(metadata).map_err(js_error)?;
        let options = options(&[
            ("expirationTtl", JsValue::from_f64(ttl_seconds as f64)),
            ("metadata", metadata),
        ]);
        settle(self.0.put(key, value, &options)).await.map(drop)
    }

    /// Up to `limit` keys starting with `prefix`, in key order, from `cursor` on.
    pub async fn list(
        &self,
        prefix: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<KvPage, String> {
        let mut fields = vec![
            ("prefix", JsValue::from(prefix)),
            ("limit", JsValue::from_f64(limit as f64)),
        ];
        if let Some(cursor) = cursor {
            fields.push(("cursor", cursor.into()));
        }
        let page = settle(self.0.list(&options(&fields))).await?;
        let field = |target: &JsValue, name: &str| Reflect::get(target, &name.into()).ok();
        let keys = field(&page, "keys")
            .filter(Array::is_array)
            .map(|keys| Array::from(&keys))
            .ok_or("the KV list answer has no keys")?;
        let keys = keys
            .iter()
            .map(|key| {
                let name = field(&key, "name").and_then(|n| n.as_string());
                let metadata = field(&key, "metadata")
                    .filter(|m| !m.is_null() && !m.is_undefined())
                    .and_then(|m| JSON::stringify(&m).ok())
                    .and_then(|m| m.as_string());
                name.map(|name| (name, metadata))
                    .ok_or("a key of the KV list answer has no name")
            })
            .collect::<Result<_, _>>()?;
        let complete = field(&page, "list_complete").is_some_and(|c| c.is_truthy());
        let cursor = field(&page, "cursor")
            .and_then(|c| c.as_string())
            .filter(|_| !complete);
        Ok(KvPage { keys, cursor })
    }

    pub async fn delete(&self, key: &str) -> Result<(), String> {
        settle(self.0.delete(key)).await.map(drop)
    }
}

/// A queue producer binding.
pub struct Queue(worker::worker_sys::Queue);

impl Queue {
    /// The queue bound as `binding`, if the env has one.
    pub fn bound(env: &Env, binding: &str) -> Option<Queue> {
        class_binding(env, binding, "WorkerQueue").map(Queue)
    }

    /// Sends one message of content type `json`: the object `json` (JSON text) describes,
    /// delivered no sooner than `delay_seconds` from now.
    pub async fn send_json(&self, json: &str, delay_seconds: Option<u32>) -> Result<(), String> {
        let message = JSON::parse(json).map_err(js_error)?;
        let mut fields = vec![("contentType", JsValue::from("json"))];
        if let Some(seconds) = delay_seconds {
            fields.push(("delaySeconds", seconds.into()));
        }
        settle(self.0.send(message, options(&fields)))
            .await
            .map(drop)
    }
}

/// The binding `name` of `env` if it is an object of the JS class `class`: the check
/// workers-rs's `Env` getters (`queue`, `durable_object`, `assets`) make, in one function for
/// all of them (each of theirs is a copy, with its own error sentences).
pub fn class_binding<T: JsCast>(env: &Env, name: &str, class: &str) -> Option<T> {
    binding_of_class(env, name, class).map(JsCast::unchecked_into)
}

fn binding_of_class(env: &Env, name: &str, class: &str) -> Option<JsValue> {
    let value = Reflect::get(env, &name.into()).ok()?;
    if value.is_undefined() {
        return None;
    }
    (Object::from(value.clone()).constructor().name() == class).then_some(value)
}

/// The messages of a queue batch, and the name of the queue they came from.
pub fn batch_messages(batch: &MessageBatch) -> (String, Vec<QueueMessage>) {
    let queue = batch.queue().map(String::from).unwrap_or_default();
    let messages = batch
        .messages()
        .map(|all| {
            all.iter()
                .map(|m| QueueMessage(m.unchecked_into()))
                .collect()
        })
        .unwrap_or_default();
    (queue, messages)
}

/// One message of a queue batch. Acking or retrying it only marks it; the runtime acts
/// once the handler returns, so neither can fail in a way worth telling.
pub struct QueueMessage(Message);

impl QueueMessage {
    /// The body as JSON text (`JSON.stringify`); `None` for a body JSON cannot hold.
    pub fn json_body(&self) -> Option<String> {
        JSON::stringify(&self.0.body().ok()?).ok()?.as_string()
    }

    pub fn ack(&self) {
        let _ = self.0.ack();
    }

    /// Brings the message back after `delay_seconds`.
    pub fn retry_in(&self, delay_seconds: u32) {
        let _ = self
            .0
            .retry(options(&[("delaySeconds", delay_seconds.into())]));
    }
}

/// A `{ "type": "text" }` get options object.
fn text_type() -> JsValue {
    options(&[("type", "text".into())])
}

fn options(fields: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (name, value) in fields {
        // Setting a property of a fresh plain object cannot fail.
        let _ = Reflect::set(&object, &(*name).into(), value);
    }
    object.into()
}

/// A runtime call's promise, awaited.
async fn settle(call: Result<Promise, JsValue>) -> Result<JsValue, String> {
    JsFuture::from(call.map_err(js_error)?)
        .await
        .map_err(js_error)
}

/// A runtime error as a sentence for the log.
pub fn js_error(error: JsValue) -> String {
    worker::Error::from(error).to_string()
}
