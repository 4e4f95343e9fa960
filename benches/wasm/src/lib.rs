//! `callback::verify` on the hostile bodies of benches/core.rs, exported to a wasm host.
//!
//! run.mjs drives it: `prepare(case)` builds one body, `run(n)` verifies it `n` times, and
//! the host times the calls. Names and answers are read as UTF-8 from `text_ptr`/`text_len`.

#[path = "hostile.rs"]
mod hostile;

use std::sync::Mutex;

use tiw_push_edge::core::callback;
use tiw_push_edge::core::config::Config;

const NOW: i64 = 1_700_000_000;

struct Bench {
    config: Option<Config>,
    bodies: Vec<(&'static str, Vec<u8>)>,
    body: Vec<u8>,
    text: String,
}

static BENCH: Mutex<Bench> = Mutex::new(Bench {
    config: None,
    bodies: Vec::new(),
    body: Vec::new(),
    text: String::new(),
});

fn with<T>(f: impl FnOnce(&mut Bench) -> T) -> T {
    let mut bench = BENCH
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if bench.config.is_none() {
        bench.config = Config::from_lookup(|name| match name {
            "SDK_APP_IDS" => Some(hostile::APP.to_string()),
            "CALLBACK_KEY" => Some("bench-callback-key".to_string()),
            _ => None,
        })
        .ok();
        bench.bodies = hostile::bodies();
    }
    f(&mut bench)
}

/// How many hostile bodies there are.
#[no_mangle]
pub extern "C" fn cases() -> u32 {
    with(|b| b.bodies.len() as u32)
}

/// Makes body `case` the one `run` verifies; its name becomes the text. Returns its length.
#[no_mangle]
pub extern "C" fn prepare(case: u32) -> u32 {
    with(|b| {
        let (name, body) = b.bodies.get(case as usize).cloned().unwrap_or_default();
        b.text = name.to_string();
        b.body = body;
        b.body.len() as u32
    })
}

/// Verifies the prepared body `n` times; the last answer's code becomes the text.
#[no_mangle]
pub extern "C" fn run(n: u32) {
    with(|b| {
        let Some(config) = &b.config else {
            b.text = "no config".into();
            return;
        };
        let mut answer = "";
        for _ in 0..n {
            answer = match callback::verify(std::hint::black_box(&b.body), config, NOW) {
                Ok(_) => "verified",
                Err(e) => e.code(),
            };
        }
        b.text = answer.to_string();
    })
}

#[no_mangle]
pub extern "C" fn text_ptr() -> *const u8 {
    with(|b| b.text.as_ptr())
}

#[no_mangle]
pub extern "C" fn text_len() -> u32 {
    with(|b| b.text.len() as u32)
}
