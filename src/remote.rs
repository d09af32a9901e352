//! [`RemoteError`]: the one error type of every network edge (registries,
//! token endpoints, transparency logs, the API server reads of storage, and
//! later KMS, Fulcio and the other storage backends).

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
}
