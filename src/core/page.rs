//! The drop-in browser client (`GET /client.js`), the status page that uses it (`GET /`), and
//! the OpenAPI document of the worker's HTTP interface (`GET /openapi.json`).
//!
//! All are compiled into the worker, so a deployment needs no asset bucket; they get an
//! `ETag` like the status API, so a revalidation costs a 304.

use crate::core::http::Reply;
use crate::core::status::{etag, if_none_match};

const CLIENT_JS: &str = include_str!("../../static/client.js");
const INDEX_HTML: &str = include_str!("../../static/index.html");
/// OpenAPI 3.1; docs/API.md is the same contract in prose.
const OPENAPI_JSON: &str = include_str!("../../static/openapi.json");

pub fn client_script(if_none_match_header: Option<&str>) -> Reply {
    asset(
        "text/javascript; charset=utf-8",
        CLIENT_JS,
        if_none_match_header,
    )
}

pub fn openapi_document(if_none_match_header: Option<&str>) -> Reply {
    asset(
        "application/json; charset=utf-8",
        OPENAPI_JSON,
        if_none_match_header,
    )
}

pub fn index_page(if_none_match_header: Option<&str>) -> Reply {
    let mut reply = asset("text/html; charset=utf-8", INDEX_HTML, if_none_match_header);
    reply.header(
        "content-security-policy",
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; \
         connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    reply
}

fn asset(content_type: &str, text: &str, if_none_match_header: Option<&str>) -> Reply {
    let tag = etag(text.as_bytes());
    let mut reply = if if_none_match(if_none_match_header, &tag) {
        Reply::empty(304)
    } else {
        Reply::bytes(200, content_type, text.as_bytes().to_vec())
    };
    reply.header("etag", &tag);
    // Short, so a redeploy reaches browsers soon; the ETag keeps revalidation cheap.
    reply.header("cache-control", "public, max-age=300");
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_script_exports_watch_room() {
        let reply = client_script(None);
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.header_value("content-type"),
            Some("text/javascript; charset=utf-8")
        );
        let text = String::from_utf8(reply.body).unwrap_or_default();
        assert!(text.contains("export function watchRoom("));
    }

    #[test]
    fn page_revalidates_with_its_etag() {
        let first = index_page(None);
        let tag = first.header_value("etag").unwrap_or_default().to_string();
        let again = index_page(Some(&tag));
        assert_eq!(again.status, 304);
        assert!(again.body.is_empty());
        assert!(String::from_utf8_lossy(&first.body).contains("./client.js"));
    }

    #[test]
    fn openapi_document_is_openapi_3_1_of_this_version_and_revalidates() {
        let reply = openapi_document(None);
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.header_value("content-type"),
            Some("application/json; charset=utf-8")
        );
        let doc: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        let tag = reply.header_value("etag").unwrap_or_default().to_string();
        assert_eq!(openapi_document(Some(&tag)).status, 304);
    }
}
