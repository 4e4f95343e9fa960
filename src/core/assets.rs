//! The static files: the status page (`GET /`), the drop-in browser client (`/client.js`) and
//! its types (`/client.d.ts`), and the OpenAPI document of the worker's HTTP interface
//! (`/openapi.json`).
//!
//! Their bytes are not compiled into the worker: they are Workers Static Assets (static/,
//! wrangler.toml `[assets]`), which the edge fetches through the `ASSETS` binding. The worker
//! runs first for every request (`run_worker_first = true`), so these paths keep the contract
//! of every other route (request id, method rules, preflight, 503 when unconfigured, the log
//! line). What the answer holds besides the bytes (type, ETag and 304, caching, the page's
//! CSP) is decided here, as it was when the files were compiled in.

use crate::core::http::{ApiError, Reply};
use crate::core::status::{etag, if_none_match};

/// The assets binding (wrangler.toml `[assets] binding`).
pub const BINDING: &str = "ASSETS";

/// The page's policy: its own script and style inline, data only from this worker.
pub const PAGE_CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; \
     style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// One of the static files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaticFile {
    Page,
    ClientScript,
    ClientTypes,
    OpenApi,
}

impl StaticFile {
    pub const ALL: [StaticFile; 4] = [
        StaticFile::Page,
        StaticFile::ClientScript,
        StaticFile::ClientTypes,
        StaticFile::OpenApi,
    ];

    /// The file served at a request path, if any (exact paths only: no `/index.html`).
    pub fn at(path: &str) -> Option<StaticFile> {
        StaticFile::ALL.into_iter().find(|f| f.path() == path)
    }

    /// The request path, which is also the route's template in logs.
    pub fn path(self) -> &'static str {
        match self {
            StaticFile::Page => "/",
            StaticFile::ClientScript => "/client.js",
            StaticFile::ClientTypes => "/client.d.ts",
            StaticFile::OpenApi => "/openapi.json",
        }
    }

    /// The path the `ASSETS` binding is asked for: the file's name under static/
    /// (`html_handling = "none"`, so `/index.html` is the file itself, not a redirect).
    pub fn asset_path(self) -> &'static str {
        match self {
            StaticFile::Page => "/index.html",
            other => other.path(),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            StaticFile::Page => "text/html; charset=utf-8",
            StaticFile::ClientScript => "text/javascript; charset=utf-8",
            // By its extension alone a `.ts` file would be video/mp2t (MPEG transport stream).
            StaticFile::ClientTypes => "text/plain; charset=utf-8",
            StaticFile::OpenApi => "application/json; charset=utf-8",
        }
    }
}

/// The worker's answer to `GET`/`HEAD` of `file`, given what the assets binding answered
/// (its status and body): the file with its type, an ETag of its bytes (a 304 for a matching
/// `If-None-Match`, compared as for the status API), five minutes of caching and `nosniff`,
/// and on the page its CSP. A file the assets do not have (404) means a deployment without
/// it: `not_configured` naming the binding; any other status is an internal error.
pub fn reply(
    file: StaticFile,
    assets_status: u16,
    body: String,
    if_none_match_header: Option<&str>,
) -> Result<Reply, ApiError> {
    match assets_status {
        200 => {}
        404 => return Err(ApiError::NotConfigured(BINDING)),
        _ => return Err(ApiError::Internal),
    }
    let tag = etag(body.as_bytes());
    let mut reply = if if_none_match(if_none_match_header, &tag) {
        Reply::empty(304)
    } else {
        Reply::bytes(200, file.content_type(), body.into_bytes())
    };
    reply.header("etag", &tag);
    // Short, so a redeploy reaches browsers soon; the ETag keeps revalidation cheap.
    reply.header("cache-control", "public, max-age=300");
    reply.header("x-content-type-options", "nosniff");
    if file == StaticFile::Page {
        reply.header("content-security-policy", PAGE_CSP);
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_text(file: StaticFile) -> String {
        let path = format!("{}/static{}", env!("CARGO_MANIFEST_DIR"), file.asset_path());
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn each_file_has_one_path_and_names_a_file_under_static() {
        for file in StaticFile::ALL {
            assert_eq!(StaticFile::at(file.path()), Some(file));
            assert!(!file_text(file).is_empty(), "{file:?}");
        }
        for path in [
            "/index.html",
            "/client.js/",
            "/CLIENT.JS",
            "/_headers",
            "/client",
            "",
        ] {
            assert_eq!(StaticFile::at(path), None, "{path}");
        }
    }

    #[test]
    fn the_file_is_served_with_its_type_caching_and_nosniff() {
        for file in StaticFile::ALL {
            let text = file_text(file);
            let reply = reply(file, 200, text.clone(), None).expect("served");
            assert_eq!(reply.status, 200);
            assert_eq!(reply.body, text.as_bytes());
            assert_eq!(
                reply.header_value("content-type"),
                Some(file.content_type())
            );
            assert_eq!(
                reply.header_value("cache-control"),
                Some("public, max-age=300")
            );
            assert_eq!(
                reply.header_value("x-content-type-options"),
                Some("nosniff")
            );
            let csp = reply.header_value("content-security-policy");
            assert_eq!(csp.is_some(), file == StaticFile::Page, "{file:?}");
        }
    }

    #[test]
    fn the_client_script_exports_watch_room_and_the_page_loads_it() {
        assert!(file_text(StaticFile::ClientScript).contains("export function watchRoom("));
        assert!(file_text(StaticFile::Page).contains("./client.js"));
        assert!(PAGE_CSP.contains("connect-src 'self'"));
        assert!(PAGE_CSP.contains("frame-ancestors 'none'"));
    }

    #[test]
    fn openapi_document_is_openapi_3_1_of_this_version() {
        let doc: serde_json::Value =
            serde_json::from_str(&file_text(StaticFile::OpenApi)).unwrap_or_default();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn a_matching_if_none_match_revalidates_with_a_304() {
        let text = file_text(StaticFile::OpenApi);
        let first = reply(StaticFile::OpenApi, 200, text.clone(), None).expect("served");
        let tag = first.header_value("etag").unwrap_or_default().to_string();
        assert!(tag.starts_with('"') && tag.len() > 2, "{tag}");
        for value in [
            tag.clone(),
            format!("W/{tag}"),
            format!("\"x\", {tag}"),
            "*".into(),
        ] {
            let again =
                reply(StaticFile::OpenApi, 200, text.clone(), Some(&value)).expect("served");
            assert_eq!(again.status, 304, "{value}");
            assert!(again.body.is_empty());
            assert_eq!(again.header_value("etag"), Some(tag.as_str()));
        }
        let other = reply(StaticFile::OpenApi, 200, text, Some("\"x\"")).expect("served");
        assert_eq!(other.status, 200);
    }

    #[test]
    fn a_file_the_assets_lack_is_a_configuration_error_and_others_internal() {
        assert_eq!(
            reply(StaticFile::Page, 404, String::new(), None),
            Err(ApiError::NotConfigured(BINDING))
        );
        for status in [304, 405, 500] {
            assert_eq!(
                reply(StaticFile::Page, status, String::new(), None),
                Err(ApiError::Internal),
                "{status}"
            );
        }
    }
}
