//! The http(s) URLs of the configuration: `ORIGIN_URL`, `TIW_API_ENDPOINT` and the origins of
//! `ALLOWED_ORIGINS`.
//!
//! A strict parser instead of the `url` crate, whose WHATWG parser (~33 KB of wasm) only ever
//! read these few settings. It accepts the URLs a person writes, `scheme://host[:port][/path]
//! [?query][#fragment]`, and keeps each exactly as `url::Url` would serialise it: scheme and
//! host lowercased, the scheme's default port dropped, `/` for an empty path. Anything the
//! WHATWG parser would have to rewrite (user info, backslashes, `.` or `..` segments, spaces or
//! other characters it percent-encodes, numeric host forms other than a dotted quad, non-ASCII
//! host names: punycode `xn--` is the way to write those) is an error instead, so a setting
//! never means something other than what it says.

use std::fmt;
use std::net::Ipv6Addr;

/// A parsed http or https URL. Its text is the `url::Url` serialisation of the same input.
#[derive(Clone, PartialEq, Eq)]
pub struct Url {
    serialization: String,
    /// `http` or `https`: the text before `://`.
    scheme_end: usize,
    /// Host and port (when not the default) end here, where the path begins.
    host_end: usize,
    port: Option<u16>,
    query_start: Option<usize>,
    fragment_start: Option<usize>,
}

/// The input is not a URL this parser accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUrl;

impl Url {
    /// Parses `input` as it is (no trimming).
    pub fn parse(input: &str) -> Result<Url, InvalidUrl> {
        let (scheme, rest) = input.split_once(':').ok_or(InvalidUrl)?;
        let rest = rest.strip_prefix("//").ok_or(InvalidUrl)?;
        let (scheme, default_port) = if scheme.eq_ignore_ascii_case("http") {
            ("http", 80)
        } else if scheme.eq_ignore_ascii_case("https") {
            ("https", 443)
        } else {
            return Err(InvalidUrl);
        };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let (host, port) = match authority.strip_prefix('[') {
            Some(bracketed) => {
                let (address, after) = bracketed.split_once(']').ok_or(InvalidUrl)?;
                let port = match after {
                    "" => None,
                    _ => Some(after.strip_prefix(':').ok_or(InvalidUrl)?),
                };
                (ipv6(address)?, port)
            }
            None => {
                let (host, port) = match authority.split_once(':') {
                    Some((host, port)) => (host, Some(port)),
                    None => (authority, None),
                };
                (domain_or_ipv4(host)?, port)
            }
        };
        let port = match port {
            None | Some("") => None,
            Some(digits) if digits.bytes().all(|b| b.is_ascii_digit()) => {
                Some(digits.parse::<u16>().map_err(|_| InvalidUrl)?)
            }
            Some(_) => return Err(InvalidUrl),
        }
        .filter(|&p| p != default_port);

        let (before_fragment, fragment) = match tail.split_once('#') {
            Some((before, fragment)) => (before, Some(fragment)),
            None => (tail, None),
        };
        let (path, query) = match before_fragment.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (before_fragment, None),
        };
        let path = if path.is_empty() { "/" } else { path };
        if !path.split('/').all(is_plain_segment)
            || !query.is_none_or(|q| q.bytes().all(|b| kept(b, b"\"#<>'")))
            || !fragment.is_none_or(|f| f.bytes().all(|b| kept(b, b"\"<>`")))
        {
            return Err(InvalidUrl);
        }

        let mut serialization = String::with_capacity(input.len() + 1);
        serialization.push_str(scheme);
        serialization.push_str("://");
        serialization.push_str(&host);
        if let Some(port) = port {
            serialization.push(':');
            serialization.push_str(&port.to_string());
        }
        let host_end = serialization.len();
        serialization.push_str(path);
        let query_start = query.map(|query| {
            serialization.push('?');
            let start = serialization.len();
            serialization.push_str(query);
            start
        });
        let fragment_start = fragment.map(|fragment| {
            serialization.push('#');
            let start = serialization.len();
            serialization.push_str(fragment);
            start
        });
        Ok(Url {
            serialization,
            scheme_end: scheme.len(),
            host_end,
            port,
            query_start,
            fragment_start,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.serialization
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &str {
        &self.serialization[..self.scheme_end]
    }

    /// The host as it is sent: a lowercase name, a dotted quad, or `[IPv6]`.
    pub fn host(&self) -> &str {
        let authority = &self.serialization[self.scheme_end + 3..self.host_end];
        match self.port {
            Some(_) => authority
                .rsplit_once(':')
                .map_or(authority, |(host, _)| host),
            None => authority,
        }
    }

    /// The port, unless it is the scheme's default.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Host and port as a `Host` header carries them.
    pub fn authority(&self) -> &str {
        &self.serialization[self.scheme_end + 3..self.host_end]
    }

    /// `/` at least.
    pub fn path(&self) -> &str {
        let end = self
            .query_start
            .or(self.fragment_start)
            .map_or(self.serialization.len(), |start| start - 1);
        &self.serialization[self.host_end..end]
    }

    /// After `?` (empty for a bare `?`), without the fragment.
    pub fn query(&self) -> Option<&str> {
        let start = self.query_start?;
        let end = self
            .fragment_start
            .map_or(self.serialization.len(), |start| start - 1);
        Some(&self.serialization[start..end])
    }

    /// After `#` (empty for a bare `#`).
    pub fn fragment(&self) -> Option<&str> {
        self.fragment_start
            .map(|start| &self.serialization[start..])
    }

    /// The origin, `scheme://host[:port]`, as a browser's `Origin` header writes it.
    pub fn origin(&self) -> &str {
        &self.serialization[..self.host_end]
    }
}

impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Url").field(&self.serialization).finish()
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.serialization)
    }
}

impl From<Url> for String {
    fn from(url: Url) -> String {
        url.serialization
    }
}

/// A printable ASCII byte that is none of `also_encoded`: the WHATWG parser keeps it as it is.
fn kept(b: u8, also_encoded: &[u8]) -> bool {
    b.is_ascii_graphic() && !also_encoded.contains(&b)
}

/// A path segment the WHATWG parser keeps as it is: no dot segment (which it would resolve),
/// no backslash (a separator to it) and nothing it percent-encodes.
fn is_plain_segment(segment: &str) -> bool {
    let dot_segment = matches!(
        segment.to_ascii_lowercase().as_str(),
        "." | "%2e" | ".." | ".%2e" | "%2e." | "%2e%2e"
    );
    !dot_segment && segment.bytes().all(|b| kept(b, b"\"<>`{}\\"))
}

/// A host name (ASCII letters, digits, `-`, `_`, `.`; lowercased) or, when its last label is
/// a number, a dotted-quad IPv4 address written in its canonical form. An `xn--` label is kept
/// as written: unlike `url`, no punycode decoding checks it (a bad one fails at DNS instead).
fn domain_or_ipv4(host: &str) -> Result<String, InvalidUrl> {
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(InvalidUrl);
    }
    let host = host.to_ascii_lowercase();
    let last = host.strip_suffix('.').unwrap_or(&host);
    let last = last.rsplit('.').next().unwrap_or_default();
    // The WHATWG "ends in a number" rule: such a host is an IPv4 address or invalid.
    let numeric = !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit())
        || last
            .strip_prefix("0x")
            .is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()));
    if numeric && !is_dotted_quad(&host) {
        return Err(InvalidUrl);
    }
    Ok(host)
}

/// Four decimal numbers 0–255 without leading zeros: the only IPv4 form kept as written.
fn is_dotted_quad(host: &str) -> bool {
    let parts: Vec<&str> = host.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|part| {
            (1..=3).contains(&part.len())
                && part.bytes().all(|b| b.is_ascii_digit())
                && (part.len() == 1 || !part.starts_with('0'))
                && part.parse::<u8>().is_ok()
        })
}

/// `[address]` in the WHATWG serialisation: lowercase hex, the longest run of two or more zero
/// pieces (the first of equals) written `::`.
fn ipv6(address: &str) -> Result<String, InvalidUrl> {
    let pieces = address
        .parse::<Ipv6Addr>()
        .map_err(|_| InvalidUrl)?
        .segments();
    let (mut zeros_start, mut zeros_len) = (8, 0);
    let mut i = 0;
    while i < 8 {
        let run = pieces[i..].iter().take_while(|&&p| p == 0).count();
        if run > zeros_len {
            (zeros_start, zeros_len) = (i, run);
        }
        i += run.max(1);
    }
    if zeros_len < 2 {
        zeros_start = 8;
    }
    let mut out = String::from("[");
    let mut i = 0;
    while i < 8 {
        if i == zeros_start {
            out.push_str(if i == 0 { "::" } else { ":" });
            i += zeros_len;
            continue;
        }
        out.push_str(&format!("{:x}", pieces[i]));
        if i < 7 {
            out.push(':');
        }
        i += 1;
    }
    out.push(']');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parsed(raw: &str) -> String {
        Url::parse(raw).map(String::from).unwrap_or_default()
    }

    #[test]
    fn settings_urls_serialise_as_the_url_crate_does() {
        for (raw, expected) in [
            (
                "https://tiw.tencentcloudapi.com",
                "https://tiw.tencentcloudapi.com/",
            ),
            (
                "HTTPS://Tiw.TencentCloudAPI.com:443/",
                "https://tiw.tencentcloudapi.com/",
            ),
            ("http://127.0.0.1:8123", "http://127.0.0.1:8123/"),
            (
                "http://localhost:80/tiw?x=1#f",
                "http://localhost/tiw?x=1#f",
            ),
            ("https://app.example:0443", "https://app.example/"),
            ("https://app.example:", "https://app.example/"),
            ("https://app.example?", "https://app.example/?"),
            ("https://app.example#", "https://app.example/#"),
            ("http://[::1]:8080/hook", "http://[::1]:8080/hook"),
            (
                "http://[2001:DB8:0:0:1:0:0:1]/",
                "http://[2001:db8::1:0:0:1]/",
            ),
            ("http://[::ffff:1.2.3.4]/", "http://[::ffff:102:304]/"),
            (
                "https://xn--bcher-kva.example./a/b%20c",
                "https://xn--bcher-kva.example./a/b%20c",
            ),
        ] {
            assert_eq!(parsed(raw), expected, "{raw}");
            let reference = url::Url::parse(raw).expect("reference URL");
            assert_eq!(reference.as_str(), expected, "{raw}");
        }
    }

    #[test]
    fn parts_read_as_the_url_crate_reads_them() {
        let url = Url::parse("HTTP://Host.Example:8080/a/b?c=d&e#f?g").unwrap();
        assert_eq!(url.scheme(), "http");
        assert_eq!(url.host(), "host.example");
        assert_eq!(url.port(), Some(8080));
        assert_eq!(url.authority(), "host.example:8080");
        assert_eq!(url.path(), "/a/b");
        assert_eq!(url.query(), Some("c=d&e"));
        assert_eq!(url.fragment(), Some("f?g"));
        assert_eq!(url.origin(), "http://host.example:8080");
        let bare = Url::parse("https://[::1]").unwrap();
        assert_eq!(
            (bare.host(), bare.port(), bare.path()),
            ("[::1]", None, "/")
        );
        assert_eq!((bare.query(), bare.fragment()), (None, None));
        assert_eq!(bare.to_string(), "https://[::1]/");
    }

    #[test]
    fn anything_the_whatwg_parser_would_rewrite_is_refused() {
        for raw in [
            "",
            "not a url",
            "tiw.tencentcloudapi.com",
            "ftp://example.com/",
            "https:example.com",
            "https:/example.com",
            "https:///example.com",
            "https://",
            "https://:443/",
            "https://user:pass@example.com/",
            "https://b\u{fc}cher.example/",
            "https://ex%41mple.com/",
            "https://exa mple.com/",
            "https://example.com:65536/",
            "https://example.com:-1/",
            "https://example.com:8o/",
            "https://example.123/",
            "https://0x7f.0.0.1/",
            "https://127.1/",
            "https://127.0.0.01/",
            "https://256.0.0.1/",
            "https://1.2.3.4./",
            "https://[::1/",
            "https://[::1]x/",
            "https://[1:2:3:4:5:6:7:8:9]/",
            "https://[fe80::1%25eth0]/",
            "https://example.com\\a",
            "https://example.com/a/../b",
            "https://example.com/a/%2E",
            "https://example.com/a b",
            "https://example.com/{a}",
            "https://example.com/caf\u{e9}",
            "https://example.com/?a b",
            "https://example.com/?it's",
            "https://example.com/#a b",
            "https://example.com/\t",
        ] {
            assert_eq!(Url::parse(raw), Err(InvalidUrl), "{raw:?}");
        }
    }

    fn label() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9_-]{1,8}",
            "[0-9]{1,4}",
            "0[xX][0-9a-fA-F]{0,3}",
            Just(String::new()),
            Just("xn--bcher-kva".to_string()),
        ]
    }

    fn host() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::collection::vec(label(), 1..5).prop_map(|labels| labels.join(".")),
            any::<[u8; 4]>().prop_map(|q| format!("{}.{}.{}.{}", q[0], q[1], q[2], q[3])),
            (any::<[u16; 8]>(), 0usize..8, 0usize..8).prop_map(|(pieces, zero_from, zeros)| {
                let pieces: Vec<String> = pieces
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        let p = if (zero_from..zero_from + zeros).contains(&i) {
                            0
                        } else {
                            *p
                        };
                        format!("{p:X}")
                    })
                    .collect();
                format!("[{}]", pieces.join(":"))
            }),
            "\\[[0-9a-f:.]{0,20}\\]",
        ]
    }

    fn tail() -> impl Strategy<Value = String> {
        prop_oneof![
            "[ -~]{0,24}",
            "(/[a-zA-Z.%2eE\\\\]{0,4}){0,3}(\\?[a-z'% ]{0,4})?(#[a-z`%]{0,3})?",
        ]
    }

    /// Hosts, ports, paths, queries and fragments that need no rewriting but case, default
    /// port and an empty path.
    fn plain_url() -> impl Strategy<Value = String> {
        let host = prop_oneof![
            "([a-zA-Z0-9_-]{1,6}\\.){0,3}[a-zA-Z][a-zA-Z0-9_-]{0,6}\\.?",
            any::<[u8; 4]>().prop_map(|q| format!("{}.{}.{}.{}", q[0], q[1], q[2], q[3])),
            any::<[u16; 8]>().prop_map(|p| format!("[{}]", std::net::Ipv6Addr::from(p))),
        ];
        let port = prop_oneof![
            Just(String::new()),
            Just(":".to_string()),
            any::<u16>().prop_map(|p| format!(":{p}")),
            Just(":443".to_string()),
            Just(":80".to_string()),
        ];
        let segment = "[a-zA-Z0-9!$&'()*+,;=:@%._~|^\\[\\]-]{0,6}"
            .prop_filter("dot segment", |s| is_plain_segment(s));
        let path = prop::collection::vec(segment, 0..4)
            .prop_map(|segments| segments.iter().map(|s| format!("/{s}")).collect::<String>());
        let query = prop::option::of("[a-zA-Z0-9!$&()*+,;=:@%./?_~|^\\[\\]{}`-]{0,8}");
        let fragment = prop::option::of("[a-zA-Z0-9!$&'()*+,;=:@%./?#_~|^\\[\\]{}-]{0,8}");
        (
            prop_oneof![Just("http"), Just("https"), Just("HTTPS"), Just("Http")],
            host,
            port,
            path,
            query,
            fragment,
        )
            .prop_map(|(scheme, host, port, path, query, fragment)| {
                let query = query.map(|q| format!("?{q}")).unwrap_or_default();
                let fragment = fragment.map(|f| format!("#{f}")).unwrap_or_default();
                format!("{scheme}://{host}{port}{path}{query}{fragment}")
            })
    }

    fn assert_same_parts(ours: &Url, reference: &url::Url) -> Result<(), TestCaseError> {
        prop_assert_eq!(ours.as_str(), reference.as_str());
        prop_assert_eq!(ours.scheme(), reference.scheme());
        prop_assert_eq!(Some(ours.host()), reference.host_str());
        prop_assert_eq!(ours.port(), reference.port());
        prop_assert_eq!(ours.path(), reference.path());
        prop_assert_eq!(ours.query(), reference.query());
        prop_assert_eq!(ours.fragment(), reference.fragment());
        prop_assert_eq!(ours.origin(), reference.origin().ascii_serialization());
        let host = reference.host_str().unwrap_or_default();
        let authority = match reference.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        prop_assert_eq!(ours.authority(), authority);
        Ok(())
    }

    proptest! {
        /// Whatever this parser accepts, `url::Url` accepts and reads the same way.
        #[test]
        fn what_it_accepts_the_url_crate_reads_the_same_way(
            scheme in prop_oneof![Just("http"), Just("https"), Just("HTTPS"), Just("ftp")],
            host in host(),
            port in prop_oneof![Just(String::new()), Just(":".to_string()), "[0-9]{1,6}".prop_map(|p| format!(":{p}"))],
            tail in tail(),
        ) {
            let raw = format!("{scheme}://{host}{port}{tail}");
            if let Ok(ours) = Url::parse(&raw) {
                match url::Url::parse(&raw) {
                    Ok(reference) => assert_same_parts(&ours, &reference)?,
                    // The one known difference: `url` decodes punycode and refuses a label
                    // that does not decode to a valid name; this parser keeps `xn--` labels
                    // as written.
                    Err(_) => prop_assert!(ours.host().contains("xn--"), "url refuses {}", raw),
                }
            }
        }

        /// A URL written plainly is accepted, and read as `url::Url` reads it.
        #[test]
        fn a_plain_url_is_accepted_as_the_url_crate_reads_it(raw in plain_url()) {
            let reference = url::Url::parse(&raw);
            prop_assert!(reference.is_ok(), "url refuses {}", raw);
            let ours = Url::parse(&raw);
            prop_assert!(ours.is_ok(), "refused: {}", raw);
            assert_same_parts(&ours.expect("checked"), &reference.expect("checked"))?;
        }
    }
}
