//! The `spiffe` token provider's edge: a JWT-SVID for audience `sigstore`
//! from the SPIFFE Workload API (a SPIRE agent's socket), as cosign's
//! provider gets it. The socket is `SPIFFE_ENDPOINT_SOCKET` (a path, or a
//! `unix:`/`tcp:` URI), else cosign's default
//! `/tmp/spire-agent/public/api.sock`.

use spiffe::{WorkloadApiClient, WorkloadApiError};

use super::{AUDIENCE, TOKEN_CAP};
use crate::http::REQUEST_TIMEOUT;
use crate::remote::RemoteError;

/// Where cosign looks for the Workload API when `SPIFFE_ENDPOINT_SOCKET` is unset.
pub const DEFAULT_SOCKET: &str = "/tmp/spire-agent/public/api.sock";

/// The Workload API endpoint URI for `socket` (a bare path gets `unix://`).
pub fn endpoint(socket: Option<String>) -> String {
    let socket = socket.filter(|s| !s.is_empty()).unwrap_or_else(|| DEFAULT_SOCKET.into());
    if socket.starts_with("unix:") || socket.starts_with("tcp:") { socket } else { format!("unix://{socket}") }
}

/// A JWT-SVID (the default identity) from the Workload API at `endpoint`;
/// `what` names it in errors. Everything is retryable: the agent may be
/// starting, or not yet have the workload's registration entry.
pub async fn fetch(endpoint: &str, what: &str) -> Result<String, RemoteError> {
    let call = async {
        let client = WorkloadApiClient::connect_to(endpoint).await?;
        client.fetch_jwt_token([AUDIENCE], None).await
    };
    let token = match tokio::time::timeout(REQUEST_TIMEOUT, call).await {
        Err(_) => return Err(RemoteError::unreachable(what, "timed out".into(), false)),
        Ok(Err(e)) => return Err(error(what, &e)),
        Ok(Ok(t)) => t,
    };
    if token.len() > TOKEN_CAP {
        return Err(RemoteError::invalid(None, format!("a JWT-SVID over {TOKEN_CAP} bytes")).at(what));
    }
    Ok(token)
}

/// `e` at `what`: refusals (no identity for this workload) as 403, the rest unreachable.
fn error(what: &str, e: &WorkloadApiError) -> RemoteError {
    match e {
        WorkloadApiError::NoIdentityIssued | WorkloadApiError::PermissionDenied(_) => RemoteError {
            status: Some(403),
            retryable: true,
            ..RemoteError::unreachable(what, format!("{e} (is there a registration entry for this workload?)"), false)
        },
        _ => RemoteError::unreachable(what, e.to_string(), true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_or_uri_names_the_socket() {
        assert_eq!(endpoint(None), "unix:///tmp/spire-agent/public/api.sock");
        assert_eq!(endpoint(Some(String::new())), "unix:///tmp/spire-agent/public/api.sock");
        assert_eq!(endpoint(Some("/run/spire/agent.sock".into())), "unix:///run/spire/agent.sock");
        assert_eq!(endpoint(Some("unix:///run/a.sock".into())), "unix:///run/a.sock");
        assert_eq!(endpoint(Some("tcp://127.0.0.1:8081".into())), "tcp://127.0.0.1:8081");
    }

    #[tokio::test]
    async fn no_agent_is_retryable_and_named() {
        let e =
            fetch(&endpoint(Some("/nonexistent/agent.sock".into())), "the SPIFFE Workload API x").await.unwrap_err();
        assert!(e.retryable && e.unavailable, "{e:?}");
        assert!(e.to_string().starts_with("the SPIFFE Workload API x"), "{e}");
    }
}
