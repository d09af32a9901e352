//! [`RemoteError`]: the one error type of every network edge (registries,
//! token endpoints, transparency logs, the API server reads of storage, and
//! later KMS, Fulcio and the other storage backends).

use reqwest::StatusCode;

use crate::http::{ERROR_BODY_CAP, EXCERPT_CHARS, error_chain, excerpt, read_capped};

/// A remote that could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{target}: {message}")]
pub struct RemoteError {
    /// Where it was going (registry/repository, bucket, URL); never a credential.
    pub target: String,
    /// What went wrong; never a credential.
    pub message: String,
    /// The remote's HTTP status, when there was one.
    pub status: Option<u16>,
    /// Whether trying again later can help.
    pub retryable: bool,
    /// The remote could not be reached, or answered 5xx/408/429: it may
    /// just be down for a while (retried for longer than other failures).
    pub unavailable: bool,
}

impl RemoteError {
    /// A reply that is wrong (not what the protocol allows): permanent.
    pub fn invalid(status: Option<u16>, message: String) -> Self {
        Self { target: String::new(), message, status, retryable: false, unavailable: false }
    }

    /// The remote could not be reached or was too slow (`unavailable` when
    /// it could not be reached at all): retryable.
    pub fn unreachable(target: &str, message: String, unavailable: bool) -> Self {
        Self { target: target.to_string(), message, status: None, retryable: true, unavailable }
    }

    /// The same error, at `target`.
    pub fn at(mut self, target: impl Into<String>) -> Self {
        self.target = target.into();
        self
    }

    /// 401 and 403: another credential may do.
    pub fn is_auth(&self) -> bool {
        matches!(self.status, Some(401 | 403))
    }

    /// Short label for the `reason` of failure metrics: a fixed word.
    pub fn metric_label(&self) -> &'static str {
        match self.status {
            Some(401 | 403) => "denied",
            Some(429) => "throttled",
            Some(s) if s >= 500 => "server_error",
            Some(_) => "refused",
            None if self.unavailable => "unreachable",
            None if self.retryable => "timeout",
            None => "invalid_reply",
        }
    }
}

/// A request that got no answer (`target` names where it went): retryable;
/// `unavailable` unless it only timed out.
pub fn not_sent(target: &str, e: &reqwest::Error) -> RemoteError {
    let what = if e.is_timeout() { "timed out" } else { "unreachable" };
    RemoteError {
        target: target.to_string(),
        message: format!("{what}: {}", error_chain(e)),
        status: None,
        retryable: true,
        unavailable: !e.is_timeout(),
    }
}

/// The body of a 2xx answer (at most `cap` bytes); any other status becomes
/// an error, retryable for 5xx, 408 and 429, with the remote's message
/// (`message`, as Rekor sends it, or `errors`, as Vault does) as a short,
/// escaped excerpt.
pub async fn expect_ok(target: &str, res: reqwest::Response, cap: usize) -> Result<Vec<u8>, RemoteError> {
    let status = res.status();
    if status.is_success() {
        return read_capped(res, cap).await.map_err(|e| RemoteError {
            target: target.to_string(),
            unavailable: false,
            message: e.to_string(),
            status: Some(status.as_u16()),
            retryable: true,
        });
    }
    let body = read_capped(res, ERROR_BODY_CAP).await.unwrap_or_default();
    let detail = error_detail(&body);
    let unavailable =
        status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::REQUEST_TIMEOUT;
    Err(RemoteError {
        target: target.to_string(),
        message: format!("{status}: {detail}"),
        status: Some(status.as_u16()),
        retryable: unavailable,
        unavailable,
    })
}

/// The message of an error body: `{"message": ..}`, `{"errors": [..]}`, or
/// the body itself, as a short escaped excerpt.
fn error_detail(body: &[u8]) -> String {
    let v = serde_json::from_slice::<serde_json::Value>(body).ok();
    let message = v.as_ref().and_then(|v| v.get("message")).and_then(|m| m.as_str()).map(str::to_string);
    let errors = v
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(|e| e.as_array())
        .map(|a| a.iter().filter_map(|e| e.as_str()).collect::<Vec<_>>().join("; "));
    let text = message.or(errors.filter(|e| !e.is_empty()));
    text.map_or_else(|| excerpt(body, EXCERPT_CHARS), |t| excerpt(t.as_bytes(), EXCERPT_CHARS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_fixed_words_from_the_status_and_kind() {
        let e = RemoteError::unreachable("registry r", "connection refused".into(), true);
        assert_eq!((e.metric_label(), e.retryable), ("unreachable", true));
        assert_eq!(RemoteError::unreachable("r", "slow".into(), false).metric_label(), "timeout");
        let e = RemoteError::invalid(Some(404), "no".into()).at("registry r");
        assert_eq!((e.metric_label(), e.to_string().as_str()), ("refused", "registry r: no"));
        assert!(RemoteError::invalid(Some(403), String::new()).is_auth());
        assert_eq!(RemoteError::invalid(Some(503), String::new()).metric_label(), "server_error");
        assert_eq!(RemoteError::invalid(None, String::new()).metric_label(), "invalid_reply");
    }

    #[test]
    fn error_bodies_give_their_message() {
        assert_eq!(error_detail(br#"{"code":400,"message":"bad entry"}"#), "bad entry");
        assert_eq!(error_detail(br#"{"errors":["permission denied","x"]}"#), "permission denied; x");
        assert!(error_detail(br#"{"errors":[]}"#).contains("errors"));
        assert_eq!(error_detail(b"plain"), "plain");
    }
}
