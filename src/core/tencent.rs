//! Tencent Cloud API 3.0, as far as reconciliation needs it: a signed `DescribeWhiteboardPush`
//! request, and its answer as a typed value.
//!
//! Pure: [`Api::describe_whiteboard_push`] returns the URL, headers and body the shell sends
//! with `fetch`, and [`parse_answer`] reads what came back. Signing is TC3-HMAC-SHA256 as
//! Tencent's SDKs do it: `POST`, JSON body, signed headers `content-type;host`. Nothing here
//! sends, retries or logs; and no `Debug` output of this module shows a secret key or an
//! `Authorization` value.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::core::json::{self, Json, Limits};
use crate::core::weburl::Url;

/// The API's service name: the `tiw` of the credential scope.
pub const SERVICE: &str = "tiw";
pub const DESCRIBE_WHITEBOARD_PUSH: &str = "DescribeWhiteboardPush";
/// The TIW API version `DescribeWhiteboardPush` belongs to.
pub const API_VERSION: &str = "2019-09-19";
const ALGORITHM: &str = "TC3-HMAC-SHA256";
const CONTENT_TYPE: &str = "application/json";
const SIGNED_HEADERS: &str = "content-type;host";

/// A Tencent Cloud API key pair. Its `Debug` shows neither half.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    secret_id: String,
    secret_key: String,
}

impl Credentials {
    pub fn new(secret_id: impl Into<String>, secret_key: impl Into<String>) -> Credentials {
        Credentials {
            secret_id: secret_id.into(),
            secret_key: secret_key.into(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials { .. }")
    }
}

/// Where and as whom requests are signed: the parts of the configuration signing needs.
#[derive(Debug, Clone, Copy)]
pub struct Api<'a> {
    pub endpoint: &'a Url,
    pub region: &'a str,
    pub credentials: &'a Credentials,
}

/// A request ready for `fetch`: `POST url` with these headers and this body.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl fmt::Debug for SignedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, value)| {
                let shown = if name.eq_ignore_ascii_case("authorization") {
                    "<redacted>"
                } else {
                    value.as_str()
                };
                (name.as_str(), shown)
            })
            .collect();
        f.debug_struct("SignedRequest")
            .field("url", &self.url)
            .field("headers", &headers)
            .field("body", &self.body)
            .finish()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeWhiteboardPush<'a> {
    sdk_app_id: u64,
    task_id: &'a str,
}

impl Api<'_> {
    /// `DescribeWhiteboardPush` for one task, signed for `timestamp` (Unix seconds, now).
    pub fn describe_whiteboard_push(
        &self,
        sdk_app_id: u64,
        task_id: &str,
        timestamp: i64,
    ) -> SignedRequest {
        let params = DescribeWhiteboardPush {
            sdk_app_id,
            task_id,
        };
        // A struct of an integer and a string always serialises.
        let body = serde_json::to_string(&params).unwrap_or_default();
        self.sign(DESCRIBE_WHITEBOARD_PUSH, API_VERSION, body, timestamp)
    }

    /// Any action of the `tiw` service: its JSON `body` signed for `timestamp`.
    pub fn sign(&self, action: &str, version: &str, body: String, timestamp: i64) -> SignedRequest {
        let host = host_header(self.endpoint);
        let date = utc_date(timestamp);
        let canonical = canonical_request(&host, self.endpoint.path(), &body);
        let to_sign = string_to_sign(timestamp, &date, &canonical);
        let signature = signature(&self.credentials.secret_key, &date, &to_sign);
        let authorization = format!(
            "{ALGORITHM} Credential={}/{date}/{SERVICE}/tc3_request, \
             SignedHeaders={SIGNED_HEADERS}, Signature={signature}",
            self.credentials.secret_id
        );
        let headers = [
            ("Authorization", authorization),
            ("Content-Type", CONTENT_TYPE.to_string()),
            ("Host", host),
            ("X-TC-Action", action.to_string()),
            ("X-TC-Version", version.to_string()),
            ("X-TC-Timestamp", timestamp.to_string()),
            ("X-TC-Region", self.region.to_string()),
        ];
        SignedRequest {
            url: self.endpoint.as_str().to_string(),
            headers: headers
                .into_iter()
                .map(|(name, value)| (name.to_string(), value))
                .collect(),
            body,
        }
    }
}

/// The `Host` a client sends for this URL: the host, and the port unless it is the default.
fn host_header(url: &Url) -> String {
    url.authority().to_string()
}

/// Step 1 of TC3: method, URI, (empty) query, the two signed headers, the body's SHA-256.
pub fn canonical_request(host: &str, path: &str, body: &str) -> String {
    format!(
        "POST\n{path}\n\ncontent-type:{CONTENT_TYPE}\nhost:{host}\n\n{SIGNED_HEADERS}\n{}",
        sha256_hex(body.as_bytes())
    )
}

/// Step 2 of TC3: algorithm, timestamp, credential scope, the canonical request's SHA-256.
pub fn string_to_sign(timestamp: i64, date: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{timestamp}\n{date}/{SERVICE}/tc3_request\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// Step 3 of TC3: the key derived from the secret key, the date and the service signs the
/// string; lowercase hex.
pub fn signature(secret_key: &str, date: &str, string_to_sign: &str) -> String {
    let k_date = hmac_sha256(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let k_service = hmac_sha256(&k_date, SERVICE.as_bytes());
    let k_signing = hmac_sha256(&k_service, b"tc3_request");
    hex::encode(hmac_sha256(&k_signing, string_to_sign.as_bytes()))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length, so `new_from_slice` never fails for it; the empty
    // result is unreachable and would only make Tencent refuse the signature.
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
        return Vec::new();
    };
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// The UTC calendar date of a Unix time, `YYYY-MM-DD`: the date of the credential scope.
pub fn utc_date(timestamp: i64) -> String {
    // Days to civil date, after Howard Hinnant's `civil_from_days`.
    let days = timestamp.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// What `DescribeWhiteboardPush` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The task's state.
    Task(PushTask),
    /// Tencent's error shape, `Response.Error`.
    Error(ApiFailure),
    /// Anything else (not JSON, no `Response`, no `Status`, a non-2xx without an error):
    /// why, in a few words, never the body.
    Unparsable(String),
}

/// `Status` of a push task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskStatus {
    Prepared,
    Pushing,
    Stopped,
    /// A status this worker does not know, kept as Tencent wrote it.
    Other(String),
}

impl TaskStatus {
    pub fn as_str(&self) -> &str {
        match self {
            TaskStatus::Prepared => "PREPARED",
            TaskStatus::Pushing => "PUSHING",
            TaskStatus::Stopped => "STOPPED",
            TaskStatus::Other(other) => other,
        }
    }
}

/// A successful answer: the fields of `DescribeWhiteboardPushResponse` (as listed in the
/// `tencentcloud-sdk-python-tiw` models), in the sender's words. A field that is absent,
/// null or of the wrong type is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushTask {
    pub status: TaskStatus,
    pub task_id: Option<String>,
    pub room_id: Option<u64>,
    pub group_id: Option<String>,
    pub push_user_id: Option<String>,
    pub push_start_time: Option<i64>,
    pub push_stop_time: Option<i64>,
    pub finish_reason: Option<String>,
    pub exception_count: Option<i64>,
    pub im_sync_time: Option<i64>,
    /// `Backup`: the backup push task's result, a string Tencent does not specify further.
    pub backup: Option<String>,
    pub request_id: Option<String>,
}

/// `Response.Error` with the request's id, and the HTTP status it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    pub http_status: u16,
    /// E.g. `AuthFailure.SignatureFailure`, `ResourceNotFound.TaskNotFound`.
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
}

impl Answer {
    /// For the log line: the task's status, Tencent's error code, or `unparsable`.
    pub fn code(&self) -> &str {
        match self {
            Answer::Task(task) => task.status.as_str(),
            Answer::Error(failure) => &failure.code,
            Answer::Unparsable(_) => "unparsable",
        }
    }

    /// For the log line: Tencent's `RequestId`, when the answer had one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Answer::Task(task) => task.request_id.as_deref(),
            Answer::Error(failure) => failure.request_id.as_deref(),
            Answer::Unparsable(_) => None,
        }
    }
}

/// Reads an answer: `{"Response": {..., "RequestId"}}`, or `{"Response": {"Error":
/// {"Code", "Message"}, "RequestId"}}` (which Tencent sends with HTTP 200).
pub fn parse_answer(http_status: u16, body: &[u8]) -> Answer {
    let unparsable = |why: &str| Answer::Unparsable(format!("HTTP {http_status}: {why}"));
    let top = match json::parse(body, Limits::TRUSTED) {
        Ok(top @ Json::Object(_)) => top,
        _ => return unparsable("not a JSON object"),
    };
    let Some(response @ Json::Object(_)) = top.get("Response") else {
        return unparsable("no Response object");
    };
    let request_id = response.string("RequestId");
    if let Some(error @ Json::Object(_)) = response.get("Error") {
        return match error.string("Code") {
            Some(code) => Answer::Error(ApiFailure {
                http_status,
                code,
                message: error.string("Message").unwrap_or_default(),
                request_id,
            }),
            None => unparsable("an Error without a Code"),
        };
    }
    if !(200..300).contains(&http_status) {
        return unparsable("not a success status");
    }
    let status = match response.get("Status").and_then(Json::as_str) {
        Some("PREPARED") => TaskStatus::Prepared,
        Some("PUSHING") => TaskStatus::Pushing,
        Some("STOPPED") => TaskStatus::Stopped,
        Some(other) => TaskStatus::Other(other.to_string()),
        None => return unparsable("no Status"),
    };
    let integer = |name: &str| response.get(name).and_then(Json::as_i64);
    Answer::Task(PushTask {
        status,
        task_id: response.string("TaskId"),
        room_id: response.get("RoomId").and_then(Json::as_u64),
        group_id: response.string("GroupId"),
        push_user_id: response.string("PushUserId"),
        push_start_time: integer("PushStartTime"),
        push_stop_time: integer("PushStopTime"),
        finish_reason: response.string("FinishReason"),
        exception_count: integer("ExceptionCnt"),
        im_sync_time: integer("IMSyncTime"),
        backup: response.string("Backup"),
        request_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // The fixed inputs of the pinned vectors: Tencent's documented example key pair (not a
    // real one), the endpoint's host, and a task id of the shape TIW issues.
    const SECRET_ID: &str = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE";
    const SECRET_KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";
    const TIMESTAMP: i64 = 1_700_000_000;
    const APP: u64 = 1400000001;
    const TASK: &str = "bj0mt2l23osdj300hl30";

    fn endpoint(raw: &str) -> Url {
        Url::parse(raw).expect("test URL")
    }

    fn header<'a>(request: &'a SignedRequest, name: &str) -> Option<&'a str> {
        request
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Expected values computed by Tencent's own code, `tencentcloud-sdk-python-common`
    /// 3.1.195 (PyPI), `tencentcloud.common.sign.Sign.sign_tc3(secret_key, date, service,
    /// str2sign)` with secret_key = SECRET_KEY, date = "2023-11-14", service = "tiw", and
    /// str2sign built as that SDK's `AbstractClient._get_tc3_signature` builds it for
    /// `POST /`, content-type `application/json`, host `tiw.tencentcloudapi.com`, timestamp
    /// 1700000000 and the body `{"SdkAppId":1400000001,"TaskId":"bj0mt2l23osdj300hl30"}`
    /// (region `ap-singapore` is sent as `X-TC-Region` and is not signed).
    #[test]
    fn signature_matches_tencents_sign_tc3_vector() {
        let credentials = Credentials::new(SECRET_ID, SECRET_KEY);
        let url = endpoint("https://tiw.tencentcloudapi.com");
        let api = Api {
            endpoint: &url,
            region: "ap-singapore",
            credentials: &credentials,
        };
        let request = api.describe_whiteboard_push(APP, TASK, TIMESTAMP);
        assert_eq!(
            request.body,
            r#"{"SdkAppId":1400000001,"TaskId":"bj0mt2l23osdj300hl30"}"#
        );
        assert_eq!(
            sha256_hex(canonical_request("tiw.tencentcloudapi.com", "/", &request.body).as_bytes()),
            "ef89f1d2dad120b7ebfe4936d697c1fd3e7d43b37611e1370ca13c4a68ff9f9f"
        );
        assert_eq!(
            header(&request, "Authorization"),
            Some(
                "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2023-11-14/tiw/tc3_request, \
                 SignedHeaders=content-type;host, \
                 Signature=4b81f8d2aa910ccb948c8fc89316144358100ccef987df3abf4322fff2ed668d"
            )
        );
        assert_eq!(request.url, "https://tiw.tencentcloudapi.com/");
        assert_eq!(
            header(&request, "X-TC-Action"),
            Some("DescribeWhiteboardPush")
        );
        assert_eq!(header(&request, "X-TC-Version"), Some("2019-09-19"));
        assert_eq!(header(&request, "X-TC-Timestamp"), Some("1700000000"));
        assert_eq!(header(&request, "X-TC-Region"), Some("ap-singapore"));
        assert_eq!(header(&request, "Content-Type"), Some("application/json"));
        assert_eq!(header(&request, "Host"), Some("tiw.tencentcloudapi.com"));
    }

    /// The whole `Authorization` header as the SDK's client builds it: the same package and
    /// version, `TiwClient(Credential(SECRET_ID, SECRET_KEY), "ap-singapore")` with endpoint
    /// `tiw.tencentcloudapi.com`, `_build_req_with_tc3_signature("DescribeWhiteboardPush",
    /// {"SdkAppId": 1400000001, "TaskId": "bj0mt2l23osdj300hl30"}, ...)` with `time.time`
    /// fixed at 1700000000. Its body is `json.dumps`'s, with spaces, so the signature differs
    /// from the vector above.
    #[test]
    fn whole_header_matches_the_sdk_clients_request() {
        let credentials = Credentials::new(SECRET_ID, SECRET_KEY);
        let url = endpoint("https://tiw.tencentcloudapi.com");
        let api = Api {
            endpoint: &url,
            region: "ap-singapore",
            credentials: &credentials,
        };
        let body = r#"{"SdkAppId": 1400000001, "TaskId": "bj0mt2l23osdj300hl30"}"#;
        let request = api.sign(
            DESCRIBE_WHITEBOARD_PUSH,
            API_VERSION,
            body.into(),
            TIMESTAMP,
        );
        assert_eq!(
            header(&request, "Authorization"),
            Some(
                "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2023-11-14/tiw/tc3_request, \
                 SignedHeaders=content-type;host, \
                 Signature=e5cc43236b0e5ccb0e7059f4c590a2c4a791e1ce215f28e18f6915b455cd8f58"
            )
        );
    }

    #[test]
    fn a_non_default_port_is_part_of_the_signed_host() {
        let credentials = Credentials::new(SECRET_ID, SECRET_KEY);
        let url = endpoint("http://127.0.0.1:8123");
        let api = Api {
            endpoint: &url,
            region: "ap-singapore",
            credentials: &credentials,
        };
        let request = api.describe_whiteboard_push(APP, TASK, TIMESTAMP);
        assert_eq!(header(&request, "Host"), Some("127.0.0.1:8123"));
        assert_eq!(request.url, "http://127.0.0.1:8123/");
        let date = utc_date(TIMESTAMP);
        let expected = signature(
            SECRET_KEY,
            &date,
            &string_to_sign(
                TIMESTAMP,
                &date,
                &canonical_request("127.0.0.1:8123", "/", &request.body),
            ),
        );
        assert!(header(&request, "Authorization")
            .is_some_and(|a| a.ends_with(&format!("Signature={expected}"))));
        let default_port = endpoint("https://tiw.tencentcloudapi.com:443/");
        assert_eq!(host_header(&default_port), "tiw.tencentcloudapi.com");
    }

    #[test]
    fn the_credential_date_is_the_utc_day_of_the_timestamp() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(1_704_067_199), "2023-12-31");
        assert_eq!(utc_date(1_704_067_200), "2024-01-01");
        assert_eq!(utc_date(1_709_164_800), "2024-02-29");
        assert_eq!(utc_date(4_102_444_800), "2100-01-01");
        assert_eq!(utc_date(-1), "1969-12-31");
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let credentials = Credentials::new(SECRET_ID, SECRET_KEY);
        let url = endpoint("https://tiw.tencentcloudapi.com");
        let api = Api {
            endpoint: &url,
            region: "ap-singapore",
            credentials: &credentials,
        };
        let request = api.describe_whiteboard_push(APP, TASK, TIMESTAMP);
        for shown in [format!("{api:?}"), format!("{request:?}")] {
            assert!(!shown.contains(SECRET_KEY), "{shown}");
            assert!(!shown.contains(SECRET_ID), "{shown}");
            assert!(!shown.contains("Signature="), "{shown}");
        }
        assert!(format!("{request:?}").contains("DescribeWhiteboardPush"));
    }

    #[test]
    fn a_stopped_answer_parses_with_every_field() {
        let body = json!({"Response": {
            "FinishReason": "AUTO", "TaskId": TASK, "Status": "STOPPED", "RoomId": 1253,
            "GroupId": "1253", "PushUserId": "tic_push_user_1253_01",
            "PushStartTime": 1611128000, "PushStopTime": 1611128339, "ExceptionCnt": 2,
            "IMSyncTime": 1611128001, "Backup": null,
            "RequestId": "eac6b301-a322-493a-8e36-83b295459397"
        }});
        let answer = parse_answer(200, body.to_string().as_bytes());
        assert_eq!(
            answer,
            Answer::Task(PushTask {
                status: TaskStatus::Stopped,
                task_id: Some(TASK.into()),
                room_id: Some(1253),
                group_id: Some("1253".into()),
                push_user_id: Some("tic_push_user_1253_01".into()),
                push_start_time: Some(1611128000),
                push_stop_time: Some(1611128339),
                finish_reason: Some("AUTO".into()),
                exception_count: Some(2),
                im_sync_time: Some(1611128001),
                backup: None,
                request_id: Some("eac6b301-a322-493a-8e36-83b295459397".into()),
            })
        );
        assert_eq!(answer.code(), "STOPPED");
        assert_eq!(
            answer.request_id(),
            Some("eac6b301-a322-493a-8e36-83b295459397")
        );
    }

    #[test]
    fn statuses_are_typed_and_unknown_ones_kept_as_text() {
        let status = |s: &str| match parse_answer(
            200,
            json!({"Response": {"Status": s, "RequestId": "r"}})
                .to_string()
                .as_bytes(),
        ) {
            Answer::Task(task) => task.status,
            other => panic!("not a task: {other:?}"),
        };
        assert_eq!(status("PREPARED"), TaskStatus::Prepared);
        assert_eq!(status("PUSHING"), TaskStatus::Pushing);
        assert_eq!(status("STOPPED"), TaskStatus::Stopped);
        assert_eq!(status("PAUSED"), TaskStatus::Other("PAUSED".into()));
        assert_eq!(status("PAUSED").as_str(), "PAUSED");
    }

    #[test]
    fn tencents_error_shape_is_an_error_with_code_and_request_id() {
        let body = json!({"Response": {
            "Error": {"Code": "AuthFailure.SignatureFailure",
                      "Message": "The provided credentials could not be validated."},
            "RequestId": "req-9"
        }});
        let answer = parse_answer(200, body.to_string().as_bytes());
        assert_eq!(
            answer,
            Answer::Error(ApiFailure {
                http_status: 200,
                code: "AuthFailure.SignatureFailure".into(),
                message: "The provided credentials could not be validated.".into(),
                request_id: Some("req-9".into()),
            })
        );
        assert_eq!(answer.code(), "AuthFailure.SignatureFailure");
        assert_eq!(answer.request_id(), Some("req-9"));
        // The same shape on a non-2xx status is still Tencent's error.
        assert!(matches!(
            parse_answer(500, body.to_string().as_bytes()),
            Answer::Error(ApiFailure {
                http_status: 500,
                ..
            })
        ));
    }

    #[test]
    fn anything_else_is_unparsable_and_never_echoes_the_body() {
        let cases: [(u16, &[u8]); 9] = [
            (200, b""),
            (200, b"<html>secret-looking body</html>"),
            (200, b"[1]"),
            (200, br#"{"Status":"STOPPED"}"#),
            (200, br#"{"Response":{"RequestId":"r"}}"#),
            (200, br#"{"Response":{"Status":7}}"#),
            (200, br#"{"Response":{"Error":{"Message":"no code"}}}"#),
            (502, br#"{"Response":{"Status":"STOPPED"}}"#),
            // Which one would it mean? serde_json's `Value` kept the last; `core::json` refuses.
            (
                200,
                br#"{"Response":{"Status":"PUSHING","Status":"STOPPED"}}"#,
            ),
        ];
        for (status, body) in cases {
            match parse_answer(status, body) {
                Answer::Unparsable(why) => {
                    assert!(why.starts_with(&format!("HTTP {status}: ")), "{why}");
                    assert!(!why.contains("secret-looking"), "{why}");
                }
                other => panic!("{status} {body:?} parsed as {other:?}"),
            }
        }
        assert_eq!(Answer::Unparsable("x".into()).code(), "unparsable");
    }

    #[test]
    fn fields_of_the_wrong_type_are_absent() {
        let body = json!({"Response": {
            "Status": "STOPPED", "PushStopTime": "late", "ExceptionCnt": 1.5, "RoomId": -1,
            "FinishReason": 3, "GroupId": null
        }});
        let Answer::Task(task) = parse_answer(200, body.to_string().as_bytes()) else {
            panic!("not a task")
        };
        assert_eq!(task.push_stop_time, None);
        assert_eq!(task.exception_count, None);
        assert_eq!(task.room_id, None);
        assert_eq!(task.finish_reason, None);
        assert_eq!(task.group_id, None);
        assert_eq!(task.request_id, None);
    }
}
