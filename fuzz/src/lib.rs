//! What every fuzz target links: a global allocator that aborts on any single allocation
//! larger than [`MAX_ALLOCATION`], so an unbounded allocation is a crash libFuzzer reports and
//! keeps the input of, even without a sanitizer. (libFuzzer's `-malloc_limit_mb` hooks malloc
//! only through a sanitizer's runtime; `-rss_limit_mb` works everywhere and bounds the total.)
//!
//! Also the plain model of "a JSON body" that targets hold the worker's parsers to:
//! [`strict_json`].

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// 256 times the largest input any target is given (a 64 KiB callback body).
pub const MAX_ALLOCATION: usize = 16 << 20;

struct Capped;

fn check(size: usize) {
    if size > MAX_ALLOCATION {
        // Nothing here may allocate.
        let _ = std::io::stderr().write_all(b"fuzz: an allocation larger than 16 MiB\n");
        std::process::abort();
    }
}

// SAFETY: every call is passed on to the system allocator unchanged; `check` only aborts.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static CAPPED: Capped = Capped;

/// JSON the slow way: the whole value with serde_json, refusing a member name twice in one
/// object at any depth (API.md, check 2 and the replay body). serde_json's own limits apply
/// (128 levels, numbers within the range of an `f64`).
pub fn strict_json(data: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice::<Strict>(data).map(|Strict(value)| value)
}

struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            let Strict(value) = map.next_value()?;
            if members.insert(name, value).is_some() {
                return Err(de::Error::custom("a name twice"));
            }
        }
        Ok(Value::Object(members))
    }
}
