//! One topic on one cluster: the connection, the topic's partition count
//! (asked again every few minutes and after a failure) and a client per
//! partition in use.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rskafka::client::error::Error as KafkaError;
use rskafka::client::partition::{PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use tokio::sync::Mutex;

use super::{Shared, classify, partition_of};
use crate::remote::RemoteError;

/// How long a topic's partition count is trusted before it is asked again.
const PARTITIONS_TTL: Duration = Duration::from_secs(300);

/// A connection to one cluster and what it knows of the topic.
struct Conn {
    client: Client,
    partitions: Option<(usize, Instant)>,
    clients: BTreeMap<i32, Arc<PartitionClient>>,
}

/// One topic on one cluster, and the connection to it.
pub struct Topic {
    pub shared: Arc<Shared>,
    servers: Vec<String>,
    topic: String,
    /// `kafka topic T at B1,B2`: where errors say they were going.
    pub target: String,
    conn: Mutex<Option<Conn>>,
    /// Records whose produce had no certain outcome.
    pub unsure: super::lookup::Unsure,
}

impl Topic {
    pub fn new(shared: Arc<Shared>, servers: &[String], topic: &str) -> Self {
        Self {
            shared,
            servers: servers.to_vec(),
            topic: topic.to_string(),
            target: format!("kafka topic {topic} at {}", servers.join(",")),
            conn: Mutex::new(None),
            unsure: Default::default(),
        }
    }

    fn fail(&self) -> impl Fn(KafkaError) -> RemoteError + '_ {
        |e| classify(&self.target, &e)
    }

    /// The partition for `key`, connecting and asking for the topic's
    /// partitions when needed.
    pub async fn partition_for(&self, key: &str) -> Result<i32, RemoteError> {
        let mut guard = self.conn.lock().await;
        let conn = self.connected(&mut guard).await?;
        let count = match conn.partitions {
            Some((n, at)) if at.elapsed() < PARTITIONS_TTL => n,
            _ => {
                self.shared.requests.inc();
                let topics = conn.client.list_topics().await.map_err(self.fail())?;
                let Some(t) = topics.iter().find(|t| t.name == self.topic) else {
                    let why = "the topic does not exist (create it; brokers do not on a produce)";
                    return Err(RemoteError::unreachable(&self.target, why.into(), false));
                };
                let n = t.partitions.len().max(1);
                if conn.partitions.is_some_and(|(old, _)| old != n) {
                    conn.clients.clear();
                }
                conn.partitions = Some((n, Instant::now()));
                n
            }
        };
        Ok(partition_of(key, count))
    }

    /// The client of partition `p`.
    pub async fn client(&self, p: i32) -> Result<Arc<PartitionClient>, RemoteError> {
        let mut guard = self.conn.lock().await;
        let conn = self.connected(&mut guard).await?;
        if let Some(c) = conn.clients.get(&p) {
            return Ok(c.clone());
        }
        let c = conn.client.partition_client(self.topic.clone(), p, UnknownTopicHandling::Error).await;
        let c = Arc::new(c.map_err(self.fail())?);
        conn.clients.insert(p, c.clone());
        Ok(c)
    }

    async fn connected<'a>(&self, guard: &'a mut Option<Conn>) -> Result<&'a mut Conn, RemoteError> {
        if guard.is_none() {
            // rskafka retries within a call; it stops well before our deadline,
            // so a request is rarely cut off mid-flight.
            let backoff = rskafka::BackoffConfig {
                init_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_millis(200),
                base: 2.0,
                deadline: Some(self.shared.timeout / 2),
            };
            let client = ClientBuilder::new(self.servers.clone())
                .client_id("tekton-chains-signer")
                .backoff_config(backoff)
                .build()
                .await
                .map_err(self.fail())?;
            *guard = Some(Conn { client, partitions: None, clients: BTreeMap::new() });
        }
        guard.as_mut().ok_or_else(|| RemoteError::unreachable(&self.target, "no connection".into(), true))
    }

    /// Forgets what is known of the topic (after a failure: the partitions
    /// or leaders may have moved); the connection is kept.
    pub async fn forget_topic(&self) {
        if let Some(conn) = self.conn.lock().await.as_mut() {
            conn.partitions = None;
            conn.clients.clear();
        }
    }
}
