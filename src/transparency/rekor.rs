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
//!   `Location`) is fetched again for a few seconds.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use reqwest::{StatusCode, header};

use super::entry::{self, Entry, LogKey};
use super::{LogEntry, TransparencyError, TransparencyLog};
use crate::config::LogEntryKind;
use crate::http::{USER_AGENT, error_chain};
use crate::signing::Signed;

/// Finished uploads remembered, oldest forgotten first.
const MEMO_SIZE: usize = 1024;

/// What every [`Rekor`] shares: the HTTP client, log keys and the memo.
pub struct Shared {
    http: reqwest::Client,
    keys: Mutex<HashMap<String, Arc<LogKey>>>,
    memo: Mutex<Memo>,
    /// Uploads in flight, by memo key: a second upload of the same entry
    /// waits for the first.
    inflight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// HTTP requests made to transparency logs.
    requests: Counter,
}

#[derive(Default)]
struct Memo {
    entries: HashMap<String, LogEntry>,
    order: VecDeque<String>,
}

impl Memo {
    fn insert(&mut self, key: String, entry: LogEntry) {
        if self.entries.insert(key.clone(), entry).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > MEMO_SIZE {
            if let Some(old) = self.order.pop_front() {
                self.entries.remove(&old);
            }
        }
    }
}

impl Shared {
    /// `requests` counts every HTTP request sent to a log.
    pub fn new(requests: Counter) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .user_agent(USER_AGENT)
            .build()
            .expect("an HTTP client with default TLS settings builds");
        Self { http, keys: Mutex::default(), memo: Mutex::default(), inflight: Mutex::default(), requests }
    }

    /// The log's public key, from the cache unless `refresh`.
    async fn log_key(&self, url: &str, refresh: bool) -> Result<Arc<LogKey>, TransparencyError> {
        if !refresh && let Some(k) = self.keys.lock().expect("keys lock").get(url) {
            return Ok(k.clone());
        }
        let res = self.send(url, self.http.get(format!("{url}/api/v1/log/publicKey"))).await?;
        let pem = expect_ok(url, res).await?;
        let key = LogKey::from_pem(&String::from_utf8_lossy(&pem)).map_err(|e| permanent(url, None, e.to_string()))?;
        let key = Arc::new(key);
        self.keys.lock().expect("keys lock").insert(url.to_string(), key.clone());
        Ok(key)
    }

    async fn send(&self, url: &str, req: reqwest::RequestBuilder) -> Result<reqwest::Response, TransparencyError> {
        self.requests.inc();
        req.send().await.map_err(|e| TransparencyError {
            url: url.to_string(),
            message: format!("unreachable: {}", error_chain(&e)),
            status: None,
            retryable: true,
        })
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
    async fn create(&self, body: Vec<u8>) -> Result<(String, Entry), TransparencyError> {
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
            let location = if location.starts_with("http") { location } else { format!("{url}{location}") };
            self.existing(&location).await?
        } else {
            expect_ok(url, res).await?
        };
        entry::parse(&answer).map_err(|e| permanent(url, None, e.to_string()))
    }

    /// The entry at `location` (after a 409). One that another upload has
    /// just sent may not be integrated yet (404): asked again for up to ~5 s.
    async fn existing(&self, location: &str) -> Result<Vec<u8>, TransparencyError> {
        let mut wait = Duration::from_millis(100);
        loop {
            let res = self.shared.send(&self.url, self.shared.http.get(location)).await?;
            match expect_ok(&self.url, res).await {
                Err(e) if e.status == Some(404) && wait < Duration::from_secs(3) => {
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                Err(e) if e.status == Some(404) => {
                    return Err(TransparencyError { retryable: true, ..e });
                }
                other => return other,
            }
        }
    }

    /// Uploads `body` (memo miss), checks the entry and remembers it.
    async fn upload_new(&self, body: Vec<u8>, memo_key: &str) -> Result<LogEntry, TransparencyError> {
        let url = &self.url;
        let (uuid, entry) = self.create(body).await?;
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
            uuid,
        };
        self.shared.memo.lock().expect("memo lock").insert(memo_key.to_string(), out.clone());
        Ok(out)
    }

    fn remembered(&self, memo_key: &str) -> Option<LogEntry> {
        self.shared.memo.lock().expect("memo lock").entries.get(memo_key).cloned()
    }
}

#[async_trait::async_trait]
impl TransparencyLog for Rekor {
    async fn upload(&self, signed: &Signed) -> Result<LogEntry, TransparencyError> {
        let url = &self.url;
        let body = serde_json::to_vec(&entry::proposed(signed, self.kind)).expect("entry serializes");
        let memo_key = format!("{url}\n{}", entry::sha256_hex(&body));
        if let Some(e) = self.remembered(&memo_key) {
            return Ok(e);
        }
        let lock = self.shared.inflight.lock().expect("inflight lock").entry(memo_key.clone()).or_default().clone();
        let result = {
            let _turn = lock.lock().await;
            match self.remembered(&memo_key) {
                Some(e) => Ok(e),
                None => self.upload_new(body, &memo_key).await,
            }
        };
        let mut inflight = self.shared.inflight.lock().expect("inflight lock");
        // Ours and the map's: nobody else waits for this entry.
        if Arc::strong_count(&lock) <= 2 {
            inflight.remove(&memo_key);
        }
        result
    }
}

/// The body of a 2xx answer; any other status becomes an error, retryable
/// for 5xx, 408 and 429.
async fn expect_ok(url: &str, res: reqwest::Response) -> Result<Vec<u8>, TransparencyError> {
    let status = res.status();
    let body = res.bytes().await.map_err(|e| TransparencyError {
        url: url.to_string(),
        message: format!("reading the answer: {}", error_chain(&e)),
        status: Some(status.as_u16()),
        retryable: true,
    })?;
    if status.is_success() {
        return Ok(body.to_vec());
    }
    // Rekor's errors are `{"code": n, "message": "..."}`.
    let detail = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect());
    let retryable =
        status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::REQUEST_TIMEOUT;
    Err(TransparencyError {
        url: url.to_string(),
        message: format!("{status}: {detail}"),
        status: Some(status.as_u16()),
        retryable,
    })
}

fn permanent(url: &str, status: Option<u16>, message: String) -> TransparencyError {
    TransparencyError { url: url.to_string(), message, status, retryable: false }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u64) -> LogEntry {
        LogEntry { log_index: i, uuid: i.to_string(), url: String::new(), bundle: None }
    }

    #[test]
    fn the_memo_is_bounded_and_forgets_the_oldest() {
        let mut m = Memo::default();
        for i in 0..(MEMO_SIZE as u64 + 10) {
            m.insert(i.to_string(), entry(i));
        }
        assert_eq!(m.entries.len(), MEMO_SIZE);
        assert!(!m.entries.contains_key("0"));
        assert!(m.entries.contains_key(&(MEMO_SIZE + 9).to_string()));
        m.insert("20".into(), entry(20));
        assert_eq!(m.order.len(), MEMO_SIZE);
    }
}
