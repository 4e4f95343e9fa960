//! TIW's callback signature and its expiry window.
//!
//! `Sign = hex(md5(CallbackKey + ExpireTime))`, with `ExpireTime` exactly as its decimal
//! digits were received. The signature does not cover the body: `ExpireTime` is the only
//! replay bound the sender gives, which is why `MAX_EXPIRE_AHEAD_SECONDS` exists.

use md5::{Digest, Md5};

use crate::core::http::{constant_time_eq, ApiError};

/// The signature Tencent computes for `key` and the received `ExpireTime` digits.
pub fn sign(key: &str, expire_time: &str) -> String {
    let mut md5 = Md5::new();
    md5.update(key.as_bytes());
    md5.update(expire_time.as_bytes());
    hex::encode(md5.finalize())
}

/// True when `given` is the signature of any of `keys`, compared in constant time and
/// case-insensitively. Every key is checked, so timing does not reveal which one matched.
pub fn matches_any<'k>(
    keys: impl IntoIterator<Item = &'k str>,
    expire_time: &str,
    given: &str,
) -> bool {
    let given = given.to_ascii_lowercase();
    keys.into_iter().fold(false, |found, key| {
        constant_time_eq(sign(key, expire_time).as_bytes(), given.as_bytes()) | found
    })
}

/// Checks 8 and 9 of API.md: not expired (with leeway), and not valid too far ahead.
pub fn check_window(
    expire_time: i64,
    now: i64,
    leeway_seconds: i64,
    max_ahead_seconds: Option<i64>,
) -> Result<(), ApiError> {
    if expire_time.saturating_add(leeway_seconds) < now {
        return Err(ApiError::Expired);
    }
    if let Some(ahead) = max_ahead_seconds {
        if expire_time > now.saturating_add(ahead) {
            return Err(ApiError::ExpireTooFar);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tencent_published_vector() {
        assert_eq!(
            sign("Xz4ZgayTr7rMgWQrH", "1588040109"),
            "a2dabb362a9b811c0e26953a6276a41c"
        );
    }

    #[test]
    fn signature_matches_in_either_case() {
        let keys = ["Xz4ZgayTr7rMgWQrH"];
        assert!(matches_any(
            keys,
            "1588040109",
            "a2dabb362a9b811c0e26953a6276a41c"
        ));
        assert!(matches_any(
            keys,
            "1588040109",
            "A2DABB362A9B811C0E26953A6276A41C"
        ));
    }

    #[test]
    fn signature_is_bound_to_the_expire_digits_as_received() {
        let keys = ["Xz4ZgayTr7rMgWQrH"];
        assert!(!matches_any(
            keys,
            "01588040109",
            "a2dabb362a9b811c0e26953a6276a41c"
        ));
        assert!(!matches_any(
            keys,
            "1588040110",
            "a2dabb362a9b811c0e26953a6276a41c"
        ));
    }

    #[test]
    fn previous_key_is_accepted_during_rotation() {
        let old = sign("old-key", "1700000000");
        assert!(matches_any(["new-key", "old-key"], "1700000000", &old));
        assert!(!matches_any(["new-key"], "1700000000", &old));
    }

    #[test]
    fn wrong_length_or_garbage_never_matches() {
        let keys = ["k"];
        assert!(!matches_any(keys, "1", ""));
        assert!(!matches_any(keys, "1", &sign("k", "1")[..31]));
        assert!(!matches_any(keys, "1", "zz"));
    }

    #[test]
    fn window_honours_leeway_and_ceiling() {
        assert_eq!(check_window(1000, 1000, 0, None), Ok(()));
        assert_eq!(check_window(999, 1000, 0, None), Err(ApiError::Expired));
        assert_eq!(check_window(970, 1000, 30, None), Ok(()));
        assert_eq!(check_window(969, 1000, 30, None), Err(ApiError::Expired));
        assert_eq!(check_window(1300, 1000, 30, Some(300)), Ok(()));
        assert_eq!(
            check_window(1301, 1000, 30, Some(300)),
            Err(ApiError::ExpireTooFar)
        );
        assert_eq!(check_window(i64::MAX, 1000, 30, None), Ok(()));
    }
}
