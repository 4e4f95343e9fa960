//! The wasm-only shell: the only code that touches `worker` types (requests, KV, the Cache
//! API, queues, `fetch` to the origin, the clock). It moves data in and out of the pure core.

mod admin;
mod dead_letters;
pub mod fetch;
mod origin;
pub mod queue;
mod store;
