//! Hostile callback bodies of at most 64 KiB (the shell's limit): the shapes that make a JSON
//! parser work hardest per byte. Shared by the native bench (benches/core.rs) and the wasm
//! bench (benches/wasm), so both time the very same bytes.
//!
//! Each body starts like a real callback (`EventType`, `SdkAppId` of [`APP`]) and is unsigned,
//! so whatever survives check 2 runs checks 3 to 6; the cost is the parse. Most shapes come
//! twice: filling the 64 KiB, and stopping just within check 2's limits ([`MAX_VALUES`],
//! [`MAX_DEPTH`]), the costliest body that passes check 2.

use tiw_push_edge::core::callback::{MAX_DEPTH, MAX_VALUES};
use tiw_push_edge::core::http::MAX_BODY_BYTES;

/// The app id the benches configure.
pub const APP: u64 = 1400000001;
/// The shell's body limit (API.md check 1); every body here is at most this long.
pub const LIMIT: usize = MAX_BODY_BYTES;
/// serde_json's own nesting limit, the only one check 2 had before [`MAX_DEPTH`].
const SERDE_JSON_DEPTH: usize = 128;
/// Values in `HEAD` plus an object or array around the filling.
const HEAD_VALUES: usize = 4;
/// Units of `per_unit` values that fit within [`MAX_VALUES`] after `HEAD_VALUES`.
const fn within(per_unit: usize) -> usize {
    (MAX_VALUES - HEAD_VALUES) / per_unit
}
/// No limit but the body's size.
const ALL: usize = usize::MAX;

const HEAD: &str = r#"{"EventType":"WhiteboardPushStopped","SdkAppId":1400000001,"#;

/// Every hostile body, named.
pub fn bodies() -> Vec<(&'static str, Vec<u8>)> {
    let event_data = r#""EventData":{"TaskId":"t","RoomId":1,"#;
    vec![
        (
            "members: 3-char names in EventData",
            members(event_data, "}}", 3, ALL),
        ),
        (
            "members: 3-char names in EventData, within limits",
            members(event_data, "}}", 3, within(1) - 2),
        ),
        (
            "members: 2-char names at the top level",
            members("", "}", 2, ALL),
        ),
        (
            "members: escaped names",
            repeat("", |i| format!(r#""\u0061{}":0"#, name(i, 3)), "}", ALL),
        ),
        (
            "members: escaped names, within limits",
            repeat(
                "",
                |i| format!(r#""\u0061{}":0"#, name(i, 3)),
                "}",
                within(1),
            ),
        ),
        (
            "members: short names in many small objects",
            repeat(
                r#""X":["#,
                |i| format!(r#"{{"{}":0}}"#, name(i % 8, 1)),
                "]}",
                ALL,
            ),
        ),
        (
            "members: small objects, within limits",
            repeat(
                r#""X":["#,
                |i| format!(r#"{{"{}":0}}"#, name(i % 8, 1)),
                "]}",
                within(2),
            ),
        ),
        ("array: 0s", repeat(r#""X":["#, |_| "0".into(), "]}", ALL)),
        (
            "array: 0s, within limits",
            repeat(r#""X":["#, |_| "0".into(), "]}", within(1)),
        ),
        (
            "array: empty objects",
            repeat(r#""X":["#, |_| "{}".into(), "]}", ALL),
        ),
        (
            "array: empty objects, within limits",
            repeat(r#""X":["#, |_| "{}".into(), "]}", within(1)),
        ),
        (
            "array: empty strings",
            repeat(r#""X":["#, |_| r#""""#.into(), "]}", ALL),
        ),
        (
            "array: nulls",
            repeat(r#""X":["#, |_| "null".into(), "]}", ALL),
        ),
        (
            "nesting: arrays 125 deep, repeated",
            repeat(
                r#""X":["#,
                |_| nested("[", "]", SERDE_JSON_DEPTH - 3),
                "]}",
                ALL,
            ),
        ),
        (
            "nesting: objects 124 deep, repeated",
            repeat(
                r#""X":["#,
                |_| nested(r#"{"a":"#, "}", SERDE_JSON_DEPTH - 4),
                "]}",
                ALL,
            ),
        ),
        (
            "nesting: objects at the depth limit, within limits",
            repeat(
                r#""X":["#,
                |_| nested(r#"{"a":"#, "}", MAX_DEPTH - 2),
                "]}",
                within(MAX_DEPTH - 1),
            ),
        ),
        ("nesting: 10,000 arrays deep", deep_array(10_000)),
        (
            "string: one long string",
            repeat(r#""X":""#, |_| "x".into(), "\"}", ALL),
        ),
        (
            "string: 2-byte escapes",
            repeat(r#""X":""#, |_| r"\n".into(), "\"}", ALL),
        ),
        (
            "string: \\u escapes of non-ASCII",
            repeat(r#""X":""#, |_| r"\u00e9".into(), "\"}", ALL),
        ),
        (
            "string: surrogate-pair escapes",
            repeat(r#""X":""#, |_| r"\ud83d\ude00".into(), "\"}", ALL),
        ),
        (
            "string: raw 2-byte UTF-8",
            repeat(r#""X":""#, |_| "é".into(), "\"}", ALL),
        ),
        (
            "numbers: one integer of 64 KiB of digits",
            repeat(r#""X":1"#, |_| "0".into(), "}", ALL),
        ),
        (
            "numbers: largest floats",
            repeat(r#""X":["#, |_| "1.7976931348623157e308".into(), "]}", ALL),
        ),
        (
            "numbers: 40-digit decimals",
            repeat(
                r#""X":["#,
                |_| "0.1234567890123456789012345678901234567891".into(),
                "]}",
                ALL,
            ),
        ),
        (
            "numbers: integers beyond 64 bits",
            repeat(r#""X":["#, |_| "18446744073709551616".into(), "]}", ALL),
        ),
        (
            "numbers: exponents out of range",
            repeat(r#""X":["#, |_| "1e400".into(), "]}", ALL),
        ),
        ("duplicate name at depth, last", duplicate_at_the_end()),
        (
            "invalid UTF-8 at the end",
            with_byte_from_end(repeat(r#""X":""#, |_| "x".into(), "\"}", ALL), 3, 0xff),
        ),
        (
            "members: 3-char names, then not JSON",
            with_byte_from_end(members("", "}", 3, ALL), 1, b'!'),
        ),
    ]
}

/// `HEAD + prefix`, then `unit(0), unit(1), ...` separated by commas where the prefix opened
/// an array or object, at most `units` of them and as many as fit before `suffix` within
/// [`LIMIT`].
fn repeat(prefix: &str, unit: impl Fn(usize) -> String, suffix: &str, units: usize) -> Vec<u8> {
    let mut body = format!("{HEAD}{prefix}");
    let comma = prefix.ends_with('[') || prefix.is_empty();
    for i in 0..units {
        let piece = unit(i);
        let sep = if comma && i > 0 { "," } else { "" };
        if body.len() + sep.len() + piece.len() + suffix.len() > LIMIT {
            break;
        }
        body.push_str(sep);
        body.push_str(&piece);
    }
    body.push_str(suffix);
    body.into_bytes()
}

/// An object after `HEAD + prefix` filled with at most `units` `"name":0` members of
/// distinct names of `width` characters (names of other widths cannot collide with them).
fn members(prefix: &str, suffix: &str, width: usize, units: usize) -> Vec<u8> {
    let mut body = format!("{HEAD}{prefix}");
    let mut sep = "";
    for i in 0..units {
        let piece = format!(r#"{sep}"{}":0"#, name(i, width));
        if body.len() + piece.len() + suffix.len() > LIMIT {
            break;
        }
        body.push_str(&piece);
        sep = ",";
    }
    body.push_str(suffix);
    body.into_bytes()
}

/// The `i`-th name of `width` characters from a 62-letter alphabet, distinct for distinct `i`
/// below 62^width.
fn name(mut i: usize, width: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..width)
        .map(|_| {
            let c = ALPHABET[i % ALPHABET.len()] as char;
            i /= ALPHABET.len();
            c
        })
        .collect()
}

fn nested(open: &str, close: &str, depth: usize) -> String {
    format!("{}0{}", open.repeat(depth), close.repeat(depth))
}

/// Far deeper than any parser should follow, and still within the limit.
fn deep_array(depth: usize) -> Vec<u8> {
    format!(r#"{HEAD}"X":{}0{}}}"#, "[".repeat(depth), "]".repeat(depth)).into_bytes()
}

/// Objects of many members whose last object, deep down, names one member twice: a checker
/// that finds duplicates only at the end pays for the whole body.
fn duplicate_at_the_end() -> Vec<u8> {
    let tail = r#"{"a":{"b":{"c":1,"c":2}}}]}"#;
    let mut body = format!(r#"{HEAD}"X":["#);
    for i in 0.. {
        let piece = format!(r#"{{"{}":0,"{}":1}},"#, name(i, 2), name(i + 1, 2));
        if body.len() + piece.len() + tail.len() > LIMIT {
            break;
        }
        body.push_str(&piece);
    }
    body.push_str(tail);
    body.into_bytes()
}

/// The body with its `n`-th byte from the end replaced (1 is the last).
fn with_byte_from_end(mut body: Vec<u8>, n: usize, byte: u8) -> Vec<u8> {
    let at = body.len() - n;
    body[at] = byte;
    body
}
