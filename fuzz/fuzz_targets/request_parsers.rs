//! The request-facing parsers of the status and live routes: `roomId`, `?ids=`, `?sdkAppId=`,
//! bearer and query tokens, `If-None-Match`, and the header-safe echo of sender values.
//!
//! Each is checked against a plain statement of its rule from API.md, so a fuzz finding is a
//! contract violation, not only a panic.
#![no_main]

// The allocation cap (src/lib.rs).
use tiw_push_edge_fuzz as _;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use tiw_push_edge::core::http::{self, MAX_BATCH_ROOMS};
use tiw_push_edge::core::{live, status};

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    raw: &'a str,
    header: Option<&'a str>,
    token: &'a str,
    query_token: Option<&'a str>,
    apps: Vec<u64>,
    close_code: u16,
}

/// API.md: ASCII decimal digits, leading zeros allowed, value 1 to 4294967295.
fn room_id_rule(raw: &str) -> Option<u32> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value = raw.bytes().try_fold(0u64, |n, b| {
        n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })?;
    u32::try_from(value).ok().filter(|&id| id >= 1)
}

fuzz_target!(|input: Input| {
    let Input {
        raw,
        header,
        token,
        query_token,
        apps,
        close_code,
    } = input;

    // `GET /rooms/{roomId}`.
    match status::parse_room_id(raw) {
        Ok(id) => assert_eq!(Some(id), room_id_rule(raw), "{raw:?}"),
        Err(e) => {
            assert_eq!(e.code(), "invalid_room_id");
            assert_eq!(room_id_rule(raw), None, "{raw:?}");
        }
    }

    // `GET /rooms?ids=`: every id valid, then at most 100 distinct, in first-appearance order.
    let parts: Option<Vec<u32>> = raw.split(',').map(|p| room_id_rule(p.trim())).collect();
    match (status::parse_room_ids(Some(raw)), parts) {
        (Ok(ids), Some(parts)) => {
            assert!(ids.len() <= MAX_BATCH_ROOMS);
            let mut expected = Vec::new();
            for id in parts {
                if !expected.contains(&id) {
                    expected.push(id);
                }
            }
            assert_eq!(ids, expected);
        }
        (Err(e), None) => assert_eq!(e.code(), "invalid_room_id"),
        (Err(e), Some(parts)) => {
            assert_eq!(e.code(), "too_many_rooms");
            let mut distinct = parts;
            distinct.sort_unstable();
            distinct.dedup();
            assert!(distinct.len() > MAX_BATCH_ROOMS);
        }
        (Ok(ids), None) => panic!("{raw:?} accepted as {ids:?}"),
    }
    assert_eq!(
        status::parse_room_ids(None).map_err(|e| e.code()),
        Err("invalid_room_id")
    );

    // `?sdkAppId=`: one of the listed apps, else `unknown_app`; the first when absent.
    match status::pick_app(Some(raw), &apps) {
        Ok(app) => {
            assert!(apps.contains(&app));
            assert_eq!(raw.trim().parse::<u64>(), Ok(app));
        }
        Err(e) => {
            assert_eq!(e.code(), "unknown_app");
            assert!(raw
                .trim()
                .parse::<u64>()
                .map_or(true, |a| !apps.contains(&a)));
        }
    }
    assert_eq!(status::pick_app(None, &apps).ok(), apps.first().copied());

    // Tokens: `Authorization: Bearer <token>` (scheme in any case), or `?token=` for live.
    let bearer = http::bearer_matches(header, token);
    if bearer {
        let value = header.unwrap_or_default().trim();
        assert!(value.len() >= 6 && value[..6].eq_ignore_ascii_case("bearer"));
        assert_eq!(value[6..].trim(), token);
    }
    if token == token.trim() && !token.is_empty() {
        assert!(http::bearer_matches(
            Some(&format!("Bearer {token}")),
            token
        ));
        assert!(http::bearer_matches(
            Some(&format!(" bearer  {token} ")),
            token
        ));
    }
    assert!(!http::bearer_matches(None, token));
    assert_eq!(
        live::token_matches(header, query_token, token),
        bearer || query_token == Some(token)
    );

    // `If-None-Match` against the ETag of some body.
    let etag = status::etag(raw.as_bytes());
    assert!(status::if_none_match(Some(&etag), &etag));
    assert!(status::if_none_match(Some(&format!("W/{etag}")), &etag));
    assert!(status::if_none_match(
        Some(&format!("\"x\", {etag}")),
        &etag
    ));
    assert!(status::if_none_match(Some(" * "), &etag));
    assert!(!status::if_none_match(None, &etag));
    if status::if_none_match(header, &etag) {
        let header = header.unwrap_or_default();
        assert!(header.trim() == "*" || header.contains(&etag), "{header:?}");
    }

    // Values from the sender's body echoed in headers or logs.
    let safe = http::header_safe(raw);
    assert!(safe.chars().count() <= 128);
    assert!(safe.bytes().all(|b| b.is_ascii_graphic() || b == b' '));
    if let Some(id) = http::request_id_from_ray(header) {
        assert!(!id.is_empty() && id.len() <= 128);
        assert!(!id.bytes().any(|b| b.is_ascii_control() || b == b' '));
    }

    // The close code answered to a viewer is one that may be sent.
    let reply = live::close_reply_code(close_code);
    assert!(!matches!(reply, 1004..=1006 | 1015));
    assert!((1000..=4999).contains(&reply));
});
