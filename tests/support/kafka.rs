//! The test Kafka (hack/kafka.sh): one KRaft broker, read and administered
//! with Kafka's own tools (`TopicCommand`, the console consumer).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// The running broker: its address, its jars and its script folder.
pub struct Kafka {
    pub bootstrap: String,
    libs: String,
    pub dir: PathBuf,
}

/// The broker of TEST_KAFKA_ENV (a file written by `hack/kafka.sh up`),
/// else one started by that script under target/ (once per test binary).
pub fn kafka() -> Kafka {
    let (dir, v) = super::component_env("TEST_KAFKA_ENV", "kafka", "test-kafka");
    Kafka { bootstrap: v["KAFKA_BOOTSTRAP"].clone(), libs: v["KAFKA_LIBS"].clone(), dir }
}

/// One record as Kafka's console consumer printed it.
pub struct Message {
    pub headers: BTreeMap<String, Vec<u8>>,
    pub value: Vec<u8>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let head = String::from_utf8_lossy(&self.value[..self.value.len().min(40)]).into_owned();
        let headers: Vec<_> = self.headers.iter().map(|(k, v)| format!("{k} ({} bytes)", v.len())).collect();
        write!(f, "record {headers:?}, {} bytes: {head:?}…", self.value.len())
    }
}

/// Separators the console consumer puts between headers, the value and
/// records: lines no signature or base64 text holds.
const HEADER_SEP: &str = "\n~~header~~\n";
const VALUE_SEP: &str = "\n~~value~~\n";
const RECORD_END: &str = "\n~~end~~\n";

impl Kafka {
    fn tool(&self, class: &str) -> Command {
        let mut c = Command::new("java");
        let logs = format!("-Dlog4j2.configurationFile={}", self.dir.join("log4j2.properties").display());
        c.args(["-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", &logs, "-cp", &format!("{}/*", self.libs)]);
        c.arg(class);
        c.args(["--bootstrap-server", &self.bootstrap]);
        c
    }

    /// Creates `topic` with `partitions` (kafka-topics.sh --create).
    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let out = self
            .tool("org.apache.kafka.tools.TopicCommand")
            .args(["--create", "--topic", topic, "--partitions", &partitions.to_string()])
            .output()
            .expect("run TopicCommand");
        assert!(out.status.success(), "kafka-topics --create {topic}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Every record of `topic`, from the start, read by the console
    /// consumer (kafka-console-consumer.sh) until it has waited `idle_ms`
    /// for another.
    pub fn consume(&self, topic: &str, idle_ms: u32) -> Vec<Message> {
        let props = [
            "print.headers=true".to_string(),
            "print.value=true".into(),
            format!("headers.separator={HEADER_SEP}"),
            "headers.key.separator=:".into(),
            format!("key.separator={VALUE_SEP}"),
            format!("line.separator={RECORD_END}"),
        ];
        let mut c = self.tool("org.apache.kafka.tools.consumer.ConsoleConsumer");
        c.args(["--topic", topic, "--from-beginning", "--timeout-ms", &idle_ms.to_string()]);
        for p in &props {
            c.args(["--formatter-property", p]);
        }
        let out = c.output().expect("run ConsoleConsumer");
        let text = out.stdout;
        let mut messages = Vec::new();
        for record in split(&text, RECORD_END.as_bytes()).into_iter().filter(|r| !r.is_empty()) {
            let parts = split(record, VALUE_SEP.as_bytes());
            let [headers, value] = parts[..] else {
                panic!("a record without headers: {:?}", String::from_utf8_lossy(record))
            };
            let headers = split(headers, HEADER_SEP.as_bytes())
                .into_iter()
                .map(|h| {
                    let at = h.iter().position(|b| *b == b':').expect("header key:value");
                    (String::from_utf8(h[..at].to_vec()).unwrap(), h[at + 1..].to_vec())
                })
                .collect();
            messages.push(Message { headers, value: value.to_vec() });
        }
        messages
    }

    /// Sends the broker process SIG`name` (`STOP`: it stalls with its
    /// connections open; `CONT`: it goes on).
    pub fn signal(&self, name: &str) {
        let pid = std::fs::read_to_string(self.dir.join("kafka.pid")).expect("kafka.pid");
        let ok = Command::new("kill").args([&format!("-{name}"), pid.trim()]).status().is_ok_and(|s| s.success());
        assert!(ok, "kill -{name} the broker");
    }

    /// `hack/kafka.sh ACTION` on this broker (`stop`: an outage; `up`: back
    /// on the same port, with its data).
    pub fn script(&self, action: &str) {
        super::hack("kafka", action, &self.dir, &[]);
    }
}

/// `bytes` split at each `sep`.
fn split<'a>(bytes: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some(at) = rest.windows(sep.len()).position(|w| w == sep) {
        out.push(&rest[..at]);
        rest = &rest[at + sep.len()..];
    }
    out.push(rest);
    out
}
