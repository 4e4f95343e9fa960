//! The pure core: plain Rust with no `worker` types. Everything from a callback's bytes to a
//! merged room state, and the rendering of every answer, compiles and is tested natively.

pub mod accept;
pub mod assets;
pub mod base64;
pub mod cache;
pub mod callback;
pub mod config;
pub mod delivery;
#[cfg(test)]
mod doubles;
pub mod http;
pub mod json;
pub mod live;
pub mod log;
pub mod object;
pub mod readmodel;
pub mod reconcile;
pub mod room;
pub mod signature;
pub mod status;
pub mod tencent;
pub mod weburl;
