//! What every AWS edge shares (the awskms signer, `docdb` on DynamoDB): the
//! SDK's configuration from the standard chain, with our timeouts and no
//! SDK retries (ours run per run), and SDK errors as [`RemoteError`]s.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::http::CONNECT_TIMEOUT;
use crate::remote::RemoteError;

/// Error codes that trying again can help with, whatever the service.
const THROTTLED: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
];

/// The standard chain (environment, profiles, web identity, container and
/// instance roles), `region` and `profile` winning when given, each
/// request within `timeout`.
pub async fn sdk_config(timeout: Duration, region: Option<&str>, profile: Option<&str>) -> aws_config::SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        .operation_attempt_timeout(timeout)
        .operation_timeout(timeout)
        .build();
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).retry_config(RetryConfig::disabled()).timeout_config(timeouts);
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_string()));
    }
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    loader.load().await
}

/// An SDK error as a [`RemoteError`] at `target`; `retryable_codes` are
/// the service's own codes worth another try (5xx and throttling always are).
pub fn remote<E>(target: &str, e: SdkError<E, HttpResponse>, retryable_codes: &[&str]) -> RemoteError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let message = crate::http::excerpt(DisplayErrorContext(&e).to_string().as_bytes(), 800);
    match &e {
        SdkError::TimeoutError(_) => RemoteError::unreachable(target, format!("timed out: {message}"), false),
        SdkError::DispatchFailure(d) => {
            RemoteError::unreachable(target, format!("unreachable: {message}"), !d.is_timeout())
        }
        SdkError::ResponseError(_) => RemoteError::unreachable(target, format!("bad reply: {message}"), false),
        SdkError::ServiceError(s) => {
            let code = s.err().code().unwrap_or_default();
            let throttled = THROTTLED.contains(&code);
            let status = if throttled { 429 } else { s.raw().status().as_u16() };
            let retryable = status >= 500 || throttled || retryable_codes.contains(&code);
            let mut r =
                RemoteError::invalid(Some(status), format!("{code}: {}", s.err().message().unwrap_or_default()));
            r.retryable = retryable;
            r.unavailable = retryable;
            r.at(target)
        }
        // No region or no credentials: nothing was sent.
        _ => RemoteError::invalid(None, format!("not sent: {message}")).at(target),
    }
}
