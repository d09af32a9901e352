//! `kafka` storage (upstream's `pubsub` backend with `storage.pubsub.provider:
//! kafka`): each signed artifact published to `storage.pubsub.topic` on the
//! brokers of `storage.pubsub.kafka.bootstrap.servers`, as upstream publishes
//! it: the value is the signature (the DSSE envelope JSON for in-toto), and
//! two headers carry `payload` (the signed bytes, base64) and `signature`.
//! The record has no key, as upstream's has none.
//!
//! Where we differ from upstream:
//! - a comma list of bootstrap servers is split (upstream dials the whole
//!   string as one address);
//! - the `signature` header of a raw signature (an image's simplesigning
//!   one) is its base64: a header holds text, and upstream's publish of the
//!   raw bytes is refused by its own client as not UTF-8;
//! - one connection per brokers and topic, kept across artifact types and
//!   config changes (upstream connects, sends and disconnects per artifact);
//! - the record goes to a partition picked from the artifact's storage key,
//!   so a run's records stay in one partition, in order.
//!
//! The topic must exist (brokers usually refuse to create it on a produce);
//! a missing one is retried, as an admin may create it. A retry after a
//! produce with no certain outcome looks for the record before it publishes
//! again ([`lookup`]), so a lost reply does not make a duplicate.

mod lookup;
mod topic;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use prometheus_client::metrics::counter::Counter;
use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::client::partition::Compression;
use rskafka::record::Record;
use topic::Topic;

use super::{Annotations, Backend};
use crate::config::{Storage, StorageKind};
use crate::formats::Run;
use crate::http::{EXCERPT_CHARS, REQUEST_TIMEOUT};
use crate::remote::RemoteError;
use crate::seam::{BackendLabel, Env, Factory, Unsupported};
use crate::signing::Signed;

/// The header holding the signed bytes, base64 (upstream's name).
pub const PAYLOAD_HEADER: &str = "payload";
/// The header holding the signature (upstream's name).
pub const SIGNATURE_HEADER: &str = "signature";

/// The record published for `signed`: upstream's value and headers.
pub fn record(signed: &Signed, now: rskafka::chrono::DateTime<rskafka::chrono::Utc>) -> Record {
    let value = signed.stored_signature();
    // The envelope is JSON text already; a raw signature goes as its base64.
    let signature = if signed.envelope.is_some() { value.clone() } else { STANDARD.encode(&value).into_bytes() };
    let headers = BTreeMap::from([
        (PAYLOAD_HEADER.to_string(), STANDARD.encode(&signed.payload).into_bytes()),
        (SIGNATURE_HEADER.to_string(), signature),
    ]);
    Record { key: None, value: Some(value), headers, timestamp: now }
}

/// The partition of `key` among `count`: the same key, the same partition.
pub fn partition_of(key: &str, count: usize) -> i32 {
    let count = count.max(1) as u32;
    (crc32c::crc32c(key.as_bytes()) % count) as i32
}

/// A broker error as a [`RemoteError`] at `target`: whether it can pass.
fn classify(target: &str, e: &KafkaError) -> RemoteError {
    use ProtocolError as P;
    match e {
        KafkaError::ServerError { protocol_error, error_message, .. } => {
            let message = match error_message {
                Some(m) => format!("{protocol_error}: {}", crate::http::excerpt(m.as_bytes(), EXCERPT_CHARS)),
                None => protocol_error.to_string(),
            };
            let permanent = matches!(
                protocol_error,
                P::MessageTooLarge
                    | P::RecordListTooLarge
                    | P::InvalidTopicException
                    | P::TopicAuthorizationFailed
                    | P::ClusterAuthorizationFailed
                    | P::InvalidRecord
                    | P::UnsupportedVersion
            );
            if permanent {
                RemoteError::invalid(None, message).at(target)
            } else {
                let missing = matches!(protocol_error, P::UnknownTopicOrPartition);
                let message = if missing { format!("{message} (the topic must exist)") } else { message };
                RemoteError::unreachable(target, message, !missing)
            }
        }
        KafkaError::InvalidResponse(m) => {
            RemoteError::invalid(None, crate::http::excerpt(m.as_bytes(), EXCERPT_CHARS)).at(target)
        }
        other => RemoteError::unreachable(target, format!("unreachable: {other}"), true),
    }
}

/// What every `kafka` backend shares: its metric, deadline and the
/// connections in use, one per (brokers, topic), whichever artifact types
/// and config versions use them.
pub struct Shared {
    requests: Counter,
    timeout: Duration,
    topics: parking_lot::Mutex<HashMap<TopicId, Weak<Topic>>>,
}

/// A topic's brokers and name.
type TopicId = (Vec<String>, String);

/// The `kafka` backend of one chains-config: its topic.
pub struct Kafka(Arc<Topic>);

#[async_trait::async_trait]
impl Backend for Kafka {
    async fn store(&self, _run: &Run<'_>, signed: &Signed) -> Result<Annotations, RemoteError> {
        let t = &self.0;
        let timeout = t.shared.timeout;
        let mut record = record(signed, rskafka::chrono::Utc::now());
        let digest = lookup::digest(&record);
        // A retry after an unsure attempt republishes with that attempt's
        // time, so the record it may have left is told apart from others.
        let unsure = t.unsure.get(&digest);
        if let Some(at) = unsure.and_then(|(_, ms)| rskafka::chrono::DateTime::from_timestamp_millis(ms)) {
            record.timestamp = at;
        }
        let partition = std::sync::Mutex::new(None);
        let sent = tokio::time::timeout(timeout, async {
            if let Some((p, _)) = unsure {
                let found = lookup::written(&*t.client(p).await?, &record, &t.shared.requests).await;
                if found.map_err(|e| classify(&t.target, &e))? {
                    return Ok(());
                }
            }
            let p = t.partition_for(&signed.key).await?;
            let client = t.client(p).await?;
            *partition.lock().unwrap_or_else(|e| e.into_inner()) = Some(p);
            t.shared.requests.inc();
            client
                .produce(vec![record.clone()], Compression::NoCompression)
                .await
                .map_err(|e| classify(&t.target, &e))?;
            Ok(())
        })
        .await;
        let sent_to = *partition.lock().unwrap_or_else(|e| e.into_inner());
        let result = match sent {
            Ok(r) => r,
            // Stuck before the produce was sent: the brokers cannot be reached.
            Err(_) if sent_to.is_none() => {
                Err(RemoteError::unreachable(&t.target, format!("unreachable: no answer within {timeout:?}"), true))
            }
            Err(_) => Err(RemoteError::unreachable(&t.target, format!("produce timed out after {timeout:?}"), false)),
        };
        match &result {
            Ok(()) => t.unsure.forget(&digest),
            Err(e) => {
                // A produce was sent and may have been appended: the retry looks first.
                if let (Some(p), true) = (sent_to, e.retryable) {
                    t.unsure.note(digest, p, record.timestamp.timestamp_millis());
                }
                t.forget_topic().await;
            }
        }
        result.map(|()| Annotations::new())
    }
}

/// Makes the `kafka` factory.
pub fn factory(env: &Env) -> Option<Arc<dyn Factory<Storage, dyn Backend>>> {
    let shared = Shared {
        requests: env.storage_requests.get_or_create(&BackendLabel { backend: StorageKind::Kafka.as_str() }).clone(),
        timeout: env.http_timeout.unwrap_or(REQUEST_TIMEOUT),
        topics: Default::default(),
    };
    Some(Arc::new(Arc::new(shared)))
}

impl Factory<Storage, dyn Backend> for Arc<Shared> {
    fn name(&self) -> &'static str {
        StorageKind::Kafka.as_str()
    }

    fn build(&self, section: &Storage) -> Option<Result<Arc<dyn Backend>, Unsupported>> {
        let Storage::Kafka { topic, bootstrap_servers, .. } = section else { return None };
        let mut topics = self.topics.lock();
        topics.retain(|_, t| t.strong_count() > 0);
        let key = (bootstrap_servers.clone(), topic.clone());
        let t = match topics.get(&key).and_then(Weak::upgrade) {
            Some(t) => t,
            None => {
                let t = Arc::new(Topic::new(self.clone(), bootstrap_servers, topic));
                topics.insert(key, Arc::downgrade(&t));
                t
            }
        };
        Some(Ok(Arc::new(Kafka(t))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Artifact;

    #[test]
    fn records_carry_upstreams_value_and_headers() {
        let now = rskafka::chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let dsse = Signed::fixture(Artifact::TaskRun, "taskrun-u-1", br#"{"_type":"x"}"#, None, true);
        let r = record(&dsse, now);
        let value = r.value.clone().unwrap();
        assert_eq!(value, dsse.stored_signature(), "the value is the envelope");
        assert_eq!(r.headers[SIGNATURE_HEADER], value);
        assert_eq!(r.headers[PAYLOAD_HEADER], STANDARD.encode(br#"{"_type":"x"}"#).into_bytes());
        assert_eq!((r.key, r.timestamp), (None, now));

        let raw = Signed::fixture(Artifact::Oci, "9a1d1e0e7d3c", b"simple", None, false);
        let r = record(&raw, now);
        assert_eq!(r.value.unwrap(), raw.signature, "the value is the raw signature");
        assert_eq!(r.headers[SIGNATURE_HEADER], STANDARD.encode(&raw.signature).into_bytes(), "as text");
    }

    #[test]
    fn a_key_keeps_its_partition() {
        assert_eq!(partition_of("taskrun-1", 1), 0);
        assert_eq!(partition_of("taskrun-1", 0), 0, "no partitions listed: the first");
        let p = partition_of("taskrun-abc", 7);
        assert!((0..7).contains(&p));
        assert_eq!(p, partition_of("taskrun-abc", 7));
        let spread: std::collections::BTreeSet<i32> = (0..64).map(|i| partition_of(&format!("k{i}"), 4)).collect();
        assert_eq!(spread.len(), 4, "keys spread over the partitions");
    }

    #[test]
    fn broker_errors_say_whether_a_retry_can_help() {
        let server = |e: ProtocolError| KafkaError::ServerError {
            protocol_error: e,
            error_message: Some("no\nsuch".into()),
            request: rskafka::client::error::RequestContext::Topic("t".into()),
            response: None,
            is_virtual: false,
        };
        let e = classify("kafka topic t at k:9092", &server(ProtocolError::MessageTooLarge));
        assert!(!e.retryable && e.target == "kafka topic t at k:9092", "{e:?}");
        let e = classify("t", &server(ProtocolError::UnknownTopicOrPartition));
        assert!(e.retryable && !e.unavailable && e.message.contains("the topic must exist"), "{e:?}");
        let e = classify("t", &server(ProtocolError::NotLeaderOrFollower));
        assert!(e.retryable && e.unavailable, "{e:?}");
        assert!(!classify("t", &KafkaError::InvalidResponse("bad".into())).retryable);
        assert!(classify("t", &KafkaError::Timeout).retryable);
    }
}
