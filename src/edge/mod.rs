//! The wasm-only shell: the only code that touches `worker` types (requests, KV, the Cache
//! API, `fetch` to the origin, the clock). It moves data in and out of the pure core.

pub mod fetch;
mod origin;
mod store;
