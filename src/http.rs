//! What the HTTP edges (registries, the transparency log, token endpoints)
//! share: the User-Agent, error chains, size-capped body reads, and the
//! short, escaped excerpts of remote text that may go into Events and logs.

use std::time::Duration;

/// The User-Agent of every request this binary makes.
pub const USER_AGENT: &str = concat!("tekton-chains-operator/", env!("CARGO_PKG_VERSION"));

/// How long one HTTP request may take, connect to last body byte.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a TCP/TLS connection may take to set up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of an error body read (the rest is dropped unread).
pub const ERROR_BODY_CAP: usize = 64 << 10;
/// Characters of remote text shown in messages.
pub const EXCERPT_CHARS: usize = 200;

/// The base URL of a Google API: `google`, or the emulator a client
/// library's `*_EMULATOR_HOST` variable names (`host:port` means plain HTTP).
pub fn google_or_emulator(google: &str, emulator: Option<&str>) -> String {
    match emulator.map(str::trim).filter(|h| !h.is_empty()) {
        None => google.into(),
        Some(h) if h.starts_with("http://") || h.starts_with("https://") => h.trim_end_matches('/').into(),
        Some(h) => format!("http://{}", h.trim_end_matches('/')),
    }
}

/// A client builder with the project's user agent, `timeout` per request
/// (connecting within [`CONNECT_TIMEOUT`] of it) and no redirects followed.
pub fn client_builder(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(USER_AGENT)
}

/// An error with its sources, `a: b: c` (reqwest hides the cause in them).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    excerpt(out.as_bytes(), 4 * EXCERPT_CHARS)
}

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The body is longer than the cap allows.
    #[error("answer larger than the {cap}-byte limit")]
    TooLarge { cap: usize },
    /// The connection failed or timed out mid-body.
    #[error("reading the answer: {0}")]
    Read(String),
}

/// Reads a response body of at most `cap` bytes. A `Content-Length` over the
/// cap is refused before reading; a body that grows past it is cut off.
pub async fn read_capped(mut res: reqwest::Response, cap: usize) -> Result<Vec<u8>, BodyError> {
    if res.content_length().is_some_and(|n| n > cap as u64) {
        return Err(BodyError::TooLarge { cap });
    }
    let mut out = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|e| BodyError::Read(error_chain(&e)))? {
        if out.len() + chunk.len() > cap {
            return Err(BodyError::TooLarge { cap });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The start of an error body, as an excerpt (an unreadable body gives "").
pub async fn error_excerpt(res: reqwest::Response) -> String {
    match read_capped(res, ERROR_BODY_CAP).await {
        Ok(b) => excerpt(&b, EXCERPT_CHARS),
        Err(BodyError::TooLarge { .. }) => "(a body over 64 KiB, not shown)".into(),
        Err(BodyError::Read(_)) => String::new(),
    }
}

/// At most `max` characters of remote text, made safe for logs and Events:
/// invalid UTF-8 replaced, control characters and quotes escaped, an
/// ellipsis when cut.
pub fn excerpt(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}') => {
                out.extend(c.escape_default())
            }
            c => out.push(c),
        }
    }
    out
}

/// True when two absolute URLs share scheme, host and port.
pub fn same_origin(a: &url::Url, b: &url::Url) -> bool {
    a.scheme() == b.scheme() && a.host_str() == b.host_str() && a.port_or_known_default() == b.port_or_known_default()
}

/// `value` with any `user:password@` part of a URL replaced by `***@`.
pub fn redact_userinfo(value: &str) -> String {
    let Some((scheme, rest)) = value.split_once("://") else { return value.to_string() };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_short_single_line_and_escaped() {
        assert_eq!(excerpt(b"  hello\nworld\r\n", 200), "hello world");
        assert_eq!(excerpt("x".repeat(300).as_bytes(), 5), "xxxxx…");
        assert_eq!(excerpt(b"a\x1b[31mred\x07", 200), "a\\u{1b}[31mred\\u{7}");
        assert_eq!(excerpt(b"\xff\xfeok", 200), "\u{fffd}\u{fffd}ok");
        assert_eq!(excerpt("rtl\u{202e}txt".as_bytes(), 200), "rtl\\u{202e}txt");
    }

    #[test]
    fn userinfo_is_redacted_from_urls_only() {
        assert_eq!(redact_userinfo("mongo://user:pw@db:27017/x?y=z"), "mongo://***@db:27017/x?y=z");
        assert_eq!(redact_userinfo("https://rekor.example/api"), "https://rekor.example/api");
        assert_eq!(redact_userinfo("https://h/p@q"), "https://h/p@q");
        assert_eq!(redact_userinfo("plain text"), "plain text");
        assert_eq!(redact_userinfo("x://a@b@c/d"), "x://***@c/d");
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        assert!(same_origin(&u("https://r.example/a"), &u("https://r.example:443/b?c")));
        assert!(!same_origin(&u("https://r.example/a"), &u("https://evil.example/a")));
        assert!(!same_origin(&u("http://r.example/a"), &u("https://r.example/a")));
        assert!(!same_origin(&u("http://127.0.0.1:1/a"), &u("http://127.0.0.1:2/a")));
    }
}
