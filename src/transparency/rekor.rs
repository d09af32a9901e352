//! Rekor v1 over HTTP: the edge of the transparency log.
//!
//! - one HTTP client for every log and config, so connections are reused;
//! - `POST /api/v1/log/entries`; a 409 means the entry exists, and the one
//!   at its `Location` is used, so a retry or a restart never logs twice;
//! - every entry's SignedEntryTimestamp is checked with the log's key
//!   (`GET /api/v1/log/publicKey`, fetched once, again if it stops
//!   verifying) before it is stored anywhere;
//! - finished uploads are remembered (a bounded memo), so a run whose
//!   storage failed does not upload again when it is retried, and the same
//!   entry wanted by several runs at once is sent once while the others wait;
//! - an entry that exists but is not yet integrated (409, then 404 for its
//!   `Location`) is fetched again for a few seconds;
//! - every answer is read up to a cap ([`REPLY_CAP`], [`KEY_CAP`]), every
//!   upload ends within two request timeouts, a `Location` on another host is
//!   never followed, and the entry the log answers with must record what
//!   was sent (same kind and digests).

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use prometheus_client::metrics::counter::Counter;
use reqwest::{StatusCode, header};

use super::entry::{self, Entry, LogKey};
use super::{LogEntry, TransparencyLog};
use crate::config::LogConfig;
use crate::config::LogEntryKind;
use crate::http::{self, REQUEST_TIMEOUT};
use crate::remote::{RemoteError, expect_ok, not_sent};
use crate::seam::{Env, Factory, Unsupported};
use crate::signing::Signed;

/// Finished uploads remembered, least recently used forgotten first.
const MEMO_SIZE: usize = 1024;
/// Largest entry answer read (an entry, with its attestation).
pub const REPLY_CAP: usize = 8 << 20;
/// Largest public key answer read.
pub const KEY_CAP: usize = 64 << 10;
/// How long one upload (POST, 409 follow-up, key fetch) may take in all, in
/// request timeouts (30 s each by default: one minute).
pub const UPLOAD_DEADLINE_REQUESTS: u32 = 2;
/// Logs whose public key is kept.
const KEYS_KEPT: usize = 16;

/// What every [`Rekor`] shares: the HTTP client, log keys and the memo.
pub struct Shared {
    http: reqwest::Client,
    keys: Mutex<lru::LruCache<String, Arc<LogKey>>>,
    memo: Mutex<lru::LruCache<String, LogEntry>>,
    /// Uploads in flight, by memo key: a second upload of the same entry
    /// waits for the first.
    inflight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// HTTP requests made to transparency logs.
    requests: Counter,
    /// The whole-upload deadline.
    deadline: Duration,
}

impl Shared {
    /// `requests` counts every HTTP request sent to a log; each ends within
    /// `timeout` ([`REQUEST_TIMEOUT`] by default).
    pub fn new(requests: Counter, timeout: Option<Duration>) -> Self {
        let timeout = timeout.unwrap_or(REQUEST_TIMEOUT);
        let http = http::client_builder(timeout).build().expect("an HTTP client with default TLS settings builds");
        let n = |n| NonZeroUsize::new(n).expect("non-zero");
        Self {
            http,
            keys: Mutex::new(lru::LruCache::new(n(KEYS_KEPT))),
            memo: Mutex::new(lru::LruCache::new(n(MEMO_SIZE))),
            inflight: Mutex::default(),
            requests,
            deadline: timeout.saturating_mul(UPLOAD_DEADLINE_REQUESTS),
        }
    }

    /// The log's public key, from the cache unless `refresh`.
    async fn log_key(&self, url: &str, refresh: bool) -> Result<Arc<LogKey>, RemoteError> {
        if !refresh && let Some(k) = self.keys.lock().get(url) {
            return Ok(k.clone());
        }
        let res = self.send(url, self.http.get(format!("{url}/api/v1/log/publicKey"))).await?;
        let pem = expect_ok(url, res, KEY_CAP).await?;
        let key = LogKey::from_pem(&String::from_utf8_lossy(&pem)).map_err(|e| permanent(url, None, e.to_string()))?;
        let key = Arc::new(key);
        self.keys.lock().put(url.to_string(), key.clone());
        Ok(key)
    }

    async fn send(&self, url: &str, req: reqwest::RequestBuilder) -> Result<reqwest::Response, RemoteError> {
        self.requests.inc();
        req.send().await.map_err(|e| not_sent(url, &e))
    }
}

/// One Rekor v1 log under one chains-config.
pub struct Rekor {
    shared: Arc<Shared>,
    /// `transparency.url`, without a trailing slash.
    url: String,
    kind: LogEntryKind,
}

impl Rekor {
    /// The log at `url`; attestations become `kind` entries.
    pub fn new(shared: Arc<Shared>, url: &str, kind: LogEntryKind) -> Self {
        Self { shared, url: url.trim_end_matches('/').to_string(), kind }
    }

    /// Creates the entry, or fetches the existing one on 409.
    async fn create(&self, body: Vec<u8>) -> Result<(String, Entry), RemoteError> {
        let url = &self.url;
        let req = self
            .shared
            .http
            .post(format!("{url}/api/v1/log/entries"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body);
        let res = self.shared.send(url, req).await?;
        let answer = if res.status() == StatusCode::CONFLICT {
            let location = res.headers().get(header::LOCATION).and_then(|l| l.to_str().ok()).map(str::to_string);
            let Some(location) = location else {
                return Err(permanent(url, Some(409), "409 Conflict without a Location header".into()));
            };
            self.existing(&same_origin_location(url, &location)?).await?
        } else {
            expect_ok(url, res, REPLY_CAP).await?
        };
        entry::parse(&answer).map_err(|e| permanent(url, None, e.to_string()))
    }

    /// The entry at `location` (after a 409). One that another upload has
    /// just sent may not be integrated yet (404): asked again for up to ~5 s.
    async fn existing(&self, location: &str) -> Result<Vec<u8>, RemoteError> {
        let mut wait = Duration::from_millis(100);
        loop {
            let res = self.shared.send(&self.url, self.shared.http.get(location)).await?;
            match expect_ok(&self.url, res, REPLY_CAP).await {
                Err(e) if e.status == Some(404) && wait < Duration::from_secs(3) => {
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                Err(e) if e.status == Some(404) => {
                    return Err(RemoteError { retryable: true, unavailable: true, ..e });
                }
                other => return other,
            }
        }
    }

    /// Uploads `body` (memo miss), checks the entry and remembers it.
    async fn upload_new(
        &self,
        sent: &serde_json::Value,
        body: Vec<u8>,
        memo_key: &str,
    ) -> Result<LogEntry, RemoteError> {
        let url = &self.url;
        let (uuid, entry) = self.create(body).await?;
        entry
            .matches(sent)
            .map_err(|e| permanent(url, None, format!("entry {}: {e}", http::excerpt(uuid.as_bytes(), 80))))?;
        let key = self.shared.log_key(url, false).await?;
        if entry.verify(&key).is_err() {
            // The log may have a new key: fetch it once before refusing the entry.
            let key = self.shared.log_key(url, true).await?;
            entry.verify(&key).map_err(|e| permanent(url, None, format!("entry {uuid}: {e}")))?;
        }
        let out = LogEntry {
            log_index: entry.log_index,
            url: format!("{url}/api/v1/log/entries?logIndex={}", entry.log_index),
            bundle: Some(entry.bundle()),
            tlog_entry: entry.tlog_entry(),
            uuid,
        };
        self.shared.memo.lock().put(memo_key.to_string(), out.clone());
        Ok(out)
    }

    fn remembered(&self, memo_key: &str) -> Option<LogEntry> {
        self.shared.memo.lock().get(memo_key).cloned()
    }
}

#[async_trait::async_trait]
impl TransparencyLog for Rekor {
    async fn upload(&self, signed: &Signed) -> Result<LogEntry, RemoteError> {
        match tokio::time::timeout(self.shared.deadline, self.upload_now(signed)).await {
            Ok(r) => r,
            Err(_) => Err(RemoteError {
                target: self.url.clone(),
                message: format!("gave up after {:?} (the log is too slow)", self.shared.deadline),
                status: None,
                retryable: true,
                unavailable: false,
            }),
        }
    }
}

impl Rekor {
    async fn upload_now(&self, signed: &Signed) -> Result<LogEntry, RemoteError> {
        let url = &self.url;
        let sent = entry::proposed(signed, self.kind);
        let body = serde_json::to_vec(&sent).expect("entry serializes");
        let memo_key = format!("{url}\n{}", entry::sha256_hex(&body));
        if let Some(e) = self.remembered(&memo_key) {
            return Ok(e);
        }
        let lock = self.shared.inflight.lock().entry(memo_key.clone()).or_default().clone();
        let result = {
            let _turn = lock.lock().await;
            match self.remembered(&memo_key) {
                Some(e) => Ok(e),
                None => self.upload_new(&sent, body, &memo_key).await,
            }
        };
        let mut inflight = self.shared.inflight.lock();
        // Ours and the map's: nobody else waits for this entry.
        if Arc::strong_count(&lock) <= 2 {
            inflight.remove(&memo_key);
        }
        result
    }
}

/// The URL of a 409's `Location`: relative to the log, or absolute on the
/// log's own origin; anything else is refused (never followed).
pub fn same_origin_location(log: &str, location: &str) -> Result<String, RemoteError> {
    let base = url::Url::parse(log).map_err(|e| permanent(log, Some(409), format!("log URL: {e}")))?;
    let joined =
        base.join(location).map_err(|_| permanent(log, Some(409), "409 with a Location that is not a URL".into()))?;
    if !http::same_origin(&base, &joined) {
        let other = joined.origin().ascii_serialization();
        return Err(permanent(log, Some(409), format!("409 with a Location on another host ({other}); not followed")));
    }
    Ok(joined.to_string())
}

fn permanent(url: &str, status: Option<u16>, message: String) -> RemoteError {
    RemoteError { target: url.to_string(), message, status, retryable: false, unavailable: false }
}

/// Makes the Rekor v1 factory: one HTTP client and memo for every config.
pub fn factory(env: &Env) -> Option<Arc<dyn Factory<LogConfig, dyn TransparencyLog>>> {
    Some(Arc::new(Arc::new(Shared::new(env.transparency_requests.clone(), env.http_timeout))))
}

impl Factory<LogConfig, dyn TransparencyLog> for Arc<Shared> {
    fn name(&self) -> &'static str {
        "rekor"
    }

    fn build(&self, log: &LogConfig) -> Option<Result<Arc<dyn TransparencyLog>, Unsupported>> {
        Some(Ok(Arc::new(Rekor::new(self.clone(), &log.url, log.entry_kind))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_409_location_is_followed_on_the_log_only() {
        let log = "http://127.0.0.1:3000";
        assert_eq!(
            same_origin_location(log, "/api/v1/log/entries/ab").unwrap(),
            "http://127.0.0.1:3000/api/v1/log/entries/ab"
        );
        assert_eq!(
            same_origin_location(log, "http://127.0.0.1:3000/api/v1/log/entries/ab").unwrap(),
            "http://127.0.0.1:3000/api/v1/log/entries/ab"
        );
        let e = same_origin_location(log, "http://169.254.169.254/latest/meta-data").unwrap_err();
        assert!(!e.retryable && e.message.contains("another host"), "{e}");
        assert!(same_origin_location(log, "https://127.0.0.1:3000/x").is_err());
    }
}
