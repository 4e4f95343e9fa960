//! Every variable and secret of the worker, parsed and validated in one place.
//!
//! A missing required value or an invalid one is a [`ConfigError`] naming the variable (never
//! its value); the shell answers it with 503 `not_configured` instead of running
//! half-configured. Empty strings count as unset, so a variable can be blanked in
//! `wrangler.toml`.

use crate::core::tencent::{Api, Credentials};
use crate::core::weburl::Url;

/// The parsed configuration of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Accepted `SdkAppId`s; the first is the default app of status reads.
    pub sdk_app_ids: Vec<u64>,
    pub callback_key: Option<String>,
    pub callback_key_previous: Option<String>,
    pub expire_leeway_seconds: i64,
    pub max_expire_ahead_seconds: Option<i64>,
    pub allow_unsigned: bool,
    pub origin_url: Option<Url>,
    pub origin_token: Option<String>,
    pub origin_timeout_ms: u32,
    pub allowed_origins: AllowedOrigins,
    pub poll_interval_seconds: u32,
    pub status_token: Option<String>,
    /// Open live (WebSocket) connections allowed per room.
    pub max_live_connections_per_room: u32,
    /// `TENCENT_SECRET_ID` and `TENCENT_SECRET_KEY`, when both are set: reconciliation is on.
    /// Their `Debug` shows neither.
    pub tencent_credentials: Option<Credentials>,
    pub tiw_api_endpoint: Url,
    pub tiw_api_region: String,
    pub reconcile_after_seconds: u32,
    pub origin_delivery: OriginDelivery,
    pub admin_token: Option<String>,
    pub origin_retry_base_seconds: u32,
    pub origin_max_attempts: u32,
}

/// `ORIGIN_DELIVERY`: forward before answering, or through the delivery queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginDelivery {
    Direct,
    Queue,
}

impl OriginDelivery {
    /// As `/healthz` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            OriginDelivery::Direct => "direct",
            OriginDelivery::Queue => "queue",
        }
    }
}

/// `ALLOWED_ORIGINS`: `*`, or the exact origins whose requests get CORS headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedOrigins {
    Any,
    List(Vec<String>),
}

/// A variable that is missing or invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: &'static str,
}

pub const DEFAULT_EXPIRE_LEEWAY_SECONDS: i64 = 30;
pub const DEFAULT_ORIGIN_TIMEOUT_MS: u32 = 8000;
pub const DEFAULT_POLL_INTERVAL_SECONDS: u32 = 5;
pub const DEFAULT_MAX_LIVE_CONNECTIONS_PER_ROOM: u32 = 1000;
/// Cloudflare's limit of hibernatable WebSockets per Durable Object is 32,768.
const MAX_LIVE_CONNECTIONS_PER_ROOM: u32 = 32_000;
/// A day: leeway or look-ahead beyond this is a typo, not a policy.
const MAX_WINDOW_SECONDS: i64 = 86_400;
/// Kept under the sender's 10 s wait (API.md).
const MAX_ORIGIN_TIMEOUT_MS: u32 = 9_999;
const MAX_POLL_INTERVAL_SECONDS: u32 = 3_600;
pub const DEFAULT_TIW_API_ENDPOINT: &str = "https://tiw.tencentcloudapi.com";
/// The region Tencent's international docs name for `DescribeWhiteboardPush`.
pub const DEFAULT_TIW_API_REGION: &str = "ap-singapore";
pub const DEFAULT_RECONCILE_AFTER_SECONDS: u32 = 900;
const MAX_RECONCILE_AFTER_SECONDS: u32 = 86_400;
pub const DEFAULT_ORIGIN_RETRY_BASE_SECONDS: u32 = 10;
pub const DEFAULT_ORIGIN_MAX_ATTEMPTS: u32 = 24;
const MAX_ORIGIN_RETRY_BASE_SECONDS: u32 = 3_600;
const MAX_ORIGIN_MAX_ATTEMPTS: u32 = 100;

impl Config {
    /// Reads every variable through `get` (the shell passes the Workers env; tests a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let var = |name: &str| get(name).filter(|v| !v.trim().is_empty());

        let sdk_app_ids = parse_app_ids(var("SDK_APP_IDS")).ok_or(ConfigError {
            variable: "SDK_APP_IDS",
        })?;
        let callback_key = var("CALLBACK_KEY");
        let callback_key_previous = var("CALLBACK_KEY_PREVIOUS");
        if callback_key_previous.is_some() && callback_key.is_none() {
            return Err(ConfigError {
                variable: "CALLBACK_KEY_PREVIOUS",
            });
        }
        let expire_leeway_seconds = parse_number(
            var("EXPIRE_LEEWAY_SECONDS"),
            "EXPIRE_LEEWAY_SECONDS",
            0..=MAX_WINDOW_SECONDS,
        )?
        .unwrap_or(DEFAULT_EXPIRE_LEEWAY_SECONDS);
        let max_expire_ahead_seconds = parse_number(
            var("MAX_EXPIRE_AHEAD_SECONDS"),
            "MAX_EXPIRE_AHEAD_SECONDS",
            0..=MAX_WINDOW_SECONDS * 365,
        )?;
        let allow_unsigned = match var("ALLOW_UNSIGNED").as_deref().map(str::trim) {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                return Err(ConfigError {
                    variable: "ALLOW_UNSIGNED",
                })
            }
        };
        let origin_url = var("ORIGIN_URL")
            .map(|raw| {
                Url::parse(raw.trim()).map_err(|_| ConfigError {
                    variable: "ORIGIN_URL",
                })
            })
            .transpose()?;
        let origin_timeout_ms = parse_number(
            var("ORIGIN_TIMEOUT_MS"),
            "ORIGIN_TIMEOUT_MS",
            1..=MAX_ORIGIN_TIMEOUT_MS,
        )?
        .unwrap_or(DEFAULT_ORIGIN_TIMEOUT_MS);
        let allowed_origins = match var("ALLOWED_ORIGINS") {
            None => AllowedOrigins::Any,
            Some(raw) => parse_allowed_origins(&raw).ok_or(ConfigError {
                variable: "ALLOWED_ORIGINS",
            })?,
        };
        let poll_interval_seconds = parse_number(
            var("POLL_INTERVAL_SECONDS"),
            "POLL_INTERVAL_SECONDS",
            1..=MAX_POLL_INTERVAL_SECONDS,
        )?
        .unwrap_or(DEFAULT_POLL_INTERVAL_SECONDS);
        let max_live_connections_per_room = parse_number(
            var("MAX_LIVE_CONNECTIONS_PER_ROOM"),
            "MAX_LIVE_CONNECTIONS_PER_ROOM",
            1..=MAX_LIVE_CONNECTIONS_PER_ROOM,
        )?
        .unwrap_or(DEFAULT_MAX_LIVE_CONNECTIONS_PER_ROOM);
        let tencent_credentials = match (var("TENCENT_SECRET_ID"), var("TENCENT_SECRET_KEY")) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError {
                    variable: "TENCENT_SECRET_KEY",
                })
            }
            (None, Some(_)) => {
                return Err(ConfigError {
                    variable: "TENCENT_SECRET_ID",
                })
            }
            // The id goes into the `Authorization` header as it is.
            (Some(id), Some(_)) if !id.bytes().all(|b| b.is_ascii_graphic()) => {
                return Err(ConfigError {
                    variable: "TENCENT_SECRET_ID",
                })
            }
            (Some(id), Some(key)) => Some(Credentials::new(id, key)),
        };
        let tiw_api_endpoint = parse_api_endpoint(
            var("TIW_API_ENDPOINT")
                .as_deref()
                .unwrap_or(DEFAULT_TIW_API_ENDPOINT),
        )
        .ok_or(ConfigError {
            variable: "TIW_API_ENDPOINT",
        })?;
        let tiw_api_region = match var("TIW_API_REGION") {
            None => DEFAULT_TIW_API_REGION.to_string(),
            Some(raw) => Some(raw.trim().to_string())
                .filter(|r| is_region(r))
                .ok_or(ConfigError {
                    variable: "TIW_API_REGION",
                })?,
        };
        let reconcile_after_seconds = parse_number(
            var("RECONCILE_AFTER_SECONDS"),
            "RECONCILE_AFTER_SECONDS",
            1..=MAX_RECONCILE_AFTER_SECONDS,
        )?
        .unwrap_or(DEFAULT_RECONCILE_AFTER_SECONDS);
        let origin_delivery = match var("ORIGIN_DELIVERY").as_deref().map(str::trim) {
            None | Some("direct") => OriginDelivery::Direct,
            Some("queue") => OriginDelivery::Queue,
            Some(_) => {
                return Err(ConfigError {
                    variable: "ORIGIN_DELIVERY",
                })
            }
        };
        // Queued delivery with nowhere to deliver would accept events and keep none of them.
        if origin_delivery == OriginDelivery::Queue && origin_url.is_none() {
            return Err(ConfigError {
                variable: "ORIGIN_URL",
            });
        }
        let origin_retry_base_seconds = parse_number(
            var("ORIGIN_RETRY_BASE_SECONDS"),
            "ORIGIN_RETRY_BASE_SECONDS",
            1..=MAX_ORIGIN_RETRY_BASE_SECONDS,
        )?
        .unwrap_or(DEFAULT_ORIGIN_RETRY_BASE_SECONDS);
        let origin_max_attempts = parse_number(
            var("ORIGIN_MAX_ATTEMPTS"),
            "ORIGIN_MAX_ATTEMPTS",
            1..=MAX_ORIGIN_MAX_ATTEMPTS,
        )?
        .unwrap_or(DEFAULT_ORIGIN_MAX_ATTEMPTS);

        Ok(Config {
            sdk_app_ids,
            callback_key,
            callback_key_previous,
            expire_leeway_seconds,
            max_expire_ahead_seconds,
            allow_unsigned,
            origin_url,
            origin_token: var("ORIGIN_TOKEN"),
            origin_timeout_ms,
            allowed_origins,
            poll_interval_seconds,
            status_token: var("STATUS_TOKEN"),
            origin_delivery,
            admin_token: var("ADMIN_TOKEN"),
            origin_retry_base_seconds,
            origin_max_attempts,
            max_live_connections_per_room,
            tencent_credentials,
            tiw_api_endpoint,
            tiw_api_region,
            reconcile_after_seconds,
        })
    }

    /// Reconciliation with Tencent is on: both secrets are set (`/healthz` `"reconcile"`).
    pub fn reconcile(&self) -> bool {
        self.tencent_credentials.is_some()
    }

    /// What signing `DescribeWhiteboardPush` needs, when reconciliation is on.
    pub fn tencent_api(&self) -> Option<Api<'_>> {
        self.tencent_credentials.as_ref().map(|credentials| Api {
            endpoint: &self.tiw_api_endpoint,
            region: &self.tiw_api_region,
            credentials,
        })
    }

    /// Callbacks are verified unless there is no key and `ALLOW_UNSIGNED=true`.
    pub fn signing(&self) -> Signing {
        match (&self.callback_key, self.allow_unsigned) {
            (Some(_), _) => Signing::Configured,
            (None, true) => Signing::Unsigned,
            (None, false) => Signing::Missing,
        }
    }

    /// Keys a `Sign` may match: the current key, then the previous one during a rotation.
    pub fn callback_keys(&self) -> impl Iterator<Item = &str> {
        self.callback_key
            .iter()
            .chain(self.callback_key_previous.iter())
            .map(String::as_str)
    }
}

/// How callbacks are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    Configured,
    /// No key and `ALLOW_UNSIGNED=true`: local development only.
    Unsigned,
    /// No key: callbacks are refused (fail closed).
    Missing,
}

fn parse_app_ids(raw: Option<String>) -> Option<Vec<u64>> {
    let mut ids = Vec::new();
    for part in raw?.split(',') {
        let id = parse_decimal(part.trim())?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Some(ids)
}

fn parse_number<T>(
    raw: Option<String>,
    variable: &'static str,
    range: std::ops::RangeInclusive<T>,
) -> Result<Option<T>, ConfigError>
where
    T: TryFrom<u64> + PartialOrd,
{
    let Some(raw) = raw else {
        return Ok(None);
    };
    parse_decimal(raw.trim())
        .and_then(|n| T::try_from(n).ok())
        .filter(|n| range.contains(n))
        .map(Some)
        .ok_or(ConfigError { variable })
}

/// ASCII decimal digits only: no sign, no spaces, no exponent.
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `TIW_API_ENDPOINT`: an http(s) URL (http so tests can use a local stub) with no query or
/// fragment, which the signer does not sign.
fn parse_api_endpoint(raw: &str) -> Option<Url> {
    Url::parse(raw.trim())
        .ok()
        .filter(|u| u.query().is_none() && u.fragment().is_none())
}

/// A region name such as `ap-singapore`: lowercase letters, digits and dashes.
fn is_region(raw: &str) -> bool {
    (1..=32).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn parse_allowed_origins(raw: &str) -> Option<AllowedOrigins> {
    if raw.trim() == "*" {
        return Some(AllowedOrigins::Any);
    }
    let mut origins = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let url = Url::parse(part).ok()?;
        let origin = url.origin();
        // An entry must be exactly an origin: no path, query or trailing slash surprises.
        if origin != part.trim_end_matches('/') {
            return None;
        }
        origins.push(origin.to_string());
    }
    (!origins.is_empty()).then_some(AllowedOrigins::List(origins))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    fn failing_variable(vars: &[(&str, &str)]) -> &'static str {
        match config(vars) {
            Err(e) => e.variable,
            Ok(c) => panic!("expected a config error, got {c:?}"),
        }
    }

    #[test]
    fn minimal_config_gets_documented_defaults() {
        let c = config(&[("SDK_APP_IDS", "1400000001")]).unwrap();
        assert_eq!(c.sdk_app_ids, vec![1400000001]);
        assert_eq!(c.expire_leeway_seconds, 30);
        assert_eq!(c.max_expire_ahead_seconds, None);
        assert!(!c.allow_unsigned);
        assert_eq!(c.origin_url, None);
        assert_eq!(c.origin_timeout_ms, 8000);
        assert_eq!(c.allowed_origins, AllowedOrigins::Any);
        assert_eq!(c.poll_interval_seconds, 5);
        assert_eq!(c.max_live_connections_per_room, 1000);
        assert_eq!(c.signing(), Signing::Missing);
        assert_eq!(c.tencent_credentials, None);
        assert!(!c.reconcile());
        assert!(c.tencent_api().is_none());
        assert_eq!(
            c.tiw_api_endpoint.as_str(),
            "https://tiw.tencentcloudapi.com/"
        );
        assert_eq!(c.tiw_api_region, "ap-singapore");
        assert_eq!(c.reconcile_after_seconds, 900);
        assert_eq!(c.origin_delivery, OriginDelivery::Direct);
        assert_eq!(c.admin_token, None);
        assert_eq!(c.origin_retry_base_seconds, 10);
        assert_eq!(c.origin_max_attempts, 24);
    }

    #[test]
    fn queued_delivery_needs_an_origin_url() {
        let app = ("SDK_APP_IDS", "1");
        assert_eq!(
            failing_variable(&[app, ("ORIGIN_DELIVERY", "queue")]),
            "ORIGIN_URL"
        );
        let c = config(&[
            app,
            ("ORIGIN_DELIVERY", "queue"),
            ("ORIGIN_URL", "https://app.example/tiw"),
            ("ADMIN_TOKEN", "admin"),
        ])
        .unwrap();
        assert_eq!(c.origin_delivery, OriginDelivery::Queue);
        assert_eq!(c.origin_delivery.as_str(), "queue");
        assert_eq!(c.admin_token.as_deref(), Some("admin"));
    }

    #[test]
    fn delivery_settings_outside_their_ranges_name_their_variable() {
        let app = ("SDK_APP_IDS", "1");
        for (name, value) in [
            ("ORIGIN_DELIVERY", "later"),
            ("ORIGIN_DELIVERY", "Queue"),
            ("ORIGIN_RETRY_BASE_SECONDS", "0"),
            ("ORIGIN_RETRY_BASE_SECONDS", "3601"),
            ("ORIGIN_RETRY_BASE_SECONDS", "1.5"),
            ("ORIGIN_MAX_ATTEMPTS", "0"),
            ("ORIGIN_MAX_ATTEMPTS", "101"),
        ] {
            assert_eq!(failing_variable(&[app, (name, value)]), name, "{value}");
        }
        let c = config(&[
            app,
            ("ORIGIN_RETRY_BASE_SECONDS", "3600"),
            ("ORIGIN_MAX_ATTEMPTS", "1"),
        ])
        .unwrap();
        assert_eq!(
            (c.origin_retry_base_seconds, c.origin_max_attempts),
            (3600, 1)
        );
        let c = config(&[
            app,
            ("ORIGIN_RETRY_BASE_SECONDS", "1"),
            ("ORIGIN_MAX_ATTEMPTS", "100"),
        ])
        .unwrap();
        assert_eq!(
            (c.origin_retry_base_seconds, c.origin_max_attempts),
            (1, 100)
        );
    }

    #[test]
    fn app_ids_keep_order_and_drop_repeats() {
        let c = config(&[("SDK_APP_IDS", " 1400000002, 1400000001 ,1400000002")]).unwrap();
        assert_eq!(c.sdk_app_ids, vec![1400000002, 1400000001]);
    }

    #[test]
    fn url_host_names_are_ascii_with_internationalised_ones_in_punycode() {
        let app = ("SDK_APP_IDS", "1400000001");
        assert_eq!(
            failing_variable(&[app, ("ORIGIN_URL", "https://b\u{fc}cher.example/")]),
            "ORIGIN_URL"
        );
        let c = config(&[app, ("ORIGIN_URL", "https://xn--bcher-kva.example/")]);
        assert_eq!(
            c.ok().and_then(|c| c.origin_url).map(String::from),
            Some("https://xn--bcher-kva.example/".to_string())
        );
    }

    #[test]
    fn each_invalid_value_names_its_variable() {
        let app = ("SDK_APP_IDS", "1400000001");
        assert_eq!(failing_variable(&[]), "SDK_APP_IDS");
        assert_eq!(failing_variable(&[("SDK_APP_IDS", "14x")]), "SDK_APP_IDS");
        assert_eq!(failing_variable(&[("SDK_APP_IDS", "1,")]), "SDK_APP_IDS");
        assert_eq!(
            failing_variable(&[app, ("CALLBACK_KEY_PREVIOUS", "old")]),
            "CALLBACK_KEY_PREVIOUS"
        );
        assert_eq!(
            failing_variable(&[app, ("ALLOW_UNSIGNED", "yes")]),
            "ALLOW_UNSIGNED"
        );
        assert_eq!(
            failing_variable(&[app, ("ORIGIN_URL", "not a url")]),
            "ORIGIN_URL"
        );
        assert_eq!(
            failing_variable(&[app, ("ORIGIN_URL", "ftp://example.com/")]),
            "ORIGIN_URL"
        );
        assert_eq!(
            failing_variable(&[app, ("ORIGIN_TIMEOUT_MS", "0")]),
            "ORIGIN_TIMEOUT_MS"
        );
        assert_eq!(
            failing_variable(&[app, ("ORIGIN_TIMEOUT_MS", "10000")]),
            "ORIGIN_TIMEOUT_MS"
        );
        assert_eq!(
            failing_variable(&[app, ("EXPIRE_LEEWAY_SECONDS", "-1")]),
            "EXPIRE_LEEWAY_SECONDS"
        );
        assert_eq!(
            failing_variable(&[app, ("MAX_EXPIRE_AHEAD_SECONDS", "soon")]),
            "MAX_EXPIRE_AHEAD_SECONDS"
        );
        assert_eq!(
            failing_variable(&[app, ("POLL_INTERVAL_SECONDS", "0")]),
            "POLL_INTERVAL_SECONDS"
        );
        assert_eq!(
            failing_variable(&[app, ("ALLOWED_ORIGINS", "https://a.example/path")]),
            "ALLOWED_ORIGINS"
        );
        for bad in ["0", "32001", "many"] {
            assert_eq!(
                failing_variable(&[app, ("MAX_LIVE_CONNECTIONS_PER_ROOM", bad)]),
                "MAX_LIVE_CONNECTIONS_PER_ROOM"
            );
        }
        for endpoint in [
            "tiw.tencentcloudapi.com",
            "ftp://tiw.tencentcloudapi.com",
            "https://",
            "https://tiw.tencentcloudapi.com/?Action=x",
            "https://tiw.tencentcloudapi.com/#x",
        ] {
            assert_eq!(
                failing_variable(&[app, ("TIW_API_ENDPOINT", endpoint)]),
                "TIW_API_ENDPOINT",
                "{endpoint}"
            );
        }
        for region in [
            "AP-SINGAPORE",
            "ap singapore",
            "ap_singapore",
            &"a".repeat(33),
        ] {
            assert_eq!(
                failing_variable(&[app, ("TIW_API_REGION", region)]),
                "TIW_API_REGION",
                "{region}"
            );
        }
        for after in ["0", "86401", "-5", "15m"] {
            assert_eq!(
                failing_variable(&[app, ("RECONCILE_AFTER_SECONDS", after)]),
                "RECONCILE_AFTER_SECONDS",
                "{after}"
            );
        }
    }

    #[test]
    fn one_tencent_secret_without_the_other_names_the_missing_one() {
        let app = ("SDK_APP_IDS", "1");
        assert_eq!(
            failing_variable(&[app, ("TENCENT_SECRET_ID", "AKIDexample")]),
            "TENCENT_SECRET_KEY"
        );
        assert_eq!(
            failing_variable(&[app, ("TENCENT_SECRET_KEY", "key")]),
            "TENCENT_SECRET_ID"
        );
        assert_eq!(
            failing_variable(&[
                app,
                ("TENCENT_SECRET_ID", "AKID example"),
                ("TENCENT_SECRET_KEY", "key")
            ]),
            "TENCENT_SECRET_ID"
        );
        let blank = config(&[app, ("TENCENT_SECRET_ID", " "), ("TENCENT_SECRET_KEY", "")]).unwrap();
        assert!(!blank.reconcile());
    }

    #[test]
    fn both_tencent_secrets_turn_reconciliation_on() {
        let c = config(&[
            ("SDK_APP_IDS", "1"),
            ("TENCENT_SECRET_ID", "AKIDexample"),
            ("TENCENT_SECRET_KEY", "tencent-key-s3cret"),
            ("TIW_API_ENDPOINT", "http://127.0.0.1:8123"),
            ("TIW_API_REGION", "ap-guangzhou"),
            ("RECONCILE_AFTER_SECONDS", "86400"),
        ])
        .unwrap();
        assert!(c.reconcile());
        assert_eq!(c.reconcile_after_seconds, 86_400);
        let api = c.tencent_api().expect("reconciliation is on");
        assert_eq!(api.endpoint.as_str(), "http://127.0.0.1:8123/");
        assert_eq!(api.region, "ap-guangzhou");
        assert_eq!(
            api.credentials,
            &Credentials::new("AKIDexample", "tencent-key-s3cret")
        );
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(!shown.contains("AKIDexample"), "{shown}");
        assert_eq!(
            config(&[("SDK_APP_IDS", "1"), ("RECONCILE_AFTER_SECONDS", "1")])
                .unwrap()
                .reconcile_after_seconds,
            1
        );
    }

    #[test]
    fn config_error_never_carries_the_value() {
        let err = config(&[("SDK_APP_IDS", "1"), ("ORIGIN_URL", "s3cret-value")]).unwrap_err();
        assert!(!format!("{err:?}").contains("s3cret"));
        let err = config(&[("SDK_APP_IDS", "1"), ("TENCENT_SECRET_ID", "s3cret-id")]).unwrap_err();
        assert!(!format!("{err:?}").contains("s3cret"));
    }

    #[test]
    fn timeout_bounds_are_inclusive() {
        let app = ("SDK_APP_IDS", "1");
        assert_eq!(
            config(&[app, ("ORIGIN_TIMEOUT_MS", "1")])
                .unwrap()
                .origin_timeout_ms,
            1
        );
        assert_eq!(
            config(&[app, ("ORIGIN_TIMEOUT_MS", "9999")])
                .unwrap()
                .origin_timeout_ms,
            9999
        );
    }

    #[test]
    fn allowed_origins_parse_into_a_list() {
        let c = config(&[
            ("SDK_APP_IDS", "1"),
            (
                "ALLOWED_ORIGINS",
                "https://a.example, http://localhost:8080/",
            ),
        ])
        .unwrap();
        assert_eq!(
            c.allowed_origins,
            AllowedOrigins::List(vec![
                "https://a.example".into(),
                "http://localhost:8080".into()
            ])
        );
    }

    #[test]
    fn signing_modes_follow_key_and_allow_unsigned() {
        let app = ("SDK_APP_IDS", "1");
        assert_eq!(
            config(&[app, ("ALLOW_UNSIGNED", "true")])
                .unwrap()
                .signing(),
            Signing::Unsigned
        );
        let keyed = config(&[app, ("CALLBACK_KEY", "k"), ("ALLOW_UNSIGNED", "true")]).unwrap();
        assert_eq!(keyed.signing(), Signing::Configured);
        let rotating = config(&[
            app,
            ("CALLBACK_KEY", "new"),
            ("CALLBACK_KEY_PREVIOUS", "old"),
        ])
        .unwrap();
        assert_eq!(
            rotating.callback_keys().collect::<Vec<_>>(),
            vec!["new", "old"]
        );
    }

    #[test]
    fn blank_values_count_as_unset() {
        let c = config(&[
            ("SDK_APP_IDS", "1"),
            ("ORIGIN_URL", ""),
            ("CALLBACK_KEY", " "),
        ])
        .unwrap();
        assert_eq!(c.origin_url, None);
        assert_eq!(c.callback_key, None);
    }
}
