//! The `chains-config` keys, declared once in [`chains_keys!`]: name, value
//! kind, default, CR field type and doc line. The validator, the typed
//! reader, the CR fields (`crd::ChainConfigFields`) and the README's key
//! table are all derived from that one table.

use super::values::{
    BuildType, Format, ImageFormat, LogEntryKind, OciEncoding, PubSubProvider, SignerKind, StorageKind,
};

/// What values a key accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// One of a fixed set of words.
    OneOf(&'static [&'static str]),
    /// A comma-separated list of storage backends; empty disables storage.
    StorageList,
    /// A comma-separated list of free words (blanks ignored).
    List,
    /// A boolean, as Go's `strconv.ParseBool` reads it.
    Bool,
    /// `true`, `false` or `manual` (transparency.enabled).
    BoolOrManual,
    /// An absolute http(s) URL, or empty.
    Url,
    /// A KMS reference with one of these scheme prefixes, or empty.
    KmsRef(&'static [&'static str]),
    /// Free text.
    Text,
    /// Free text that must never be echoed (tokens, URLs with passwords).
    Secret,
    /// A deprecated name of another key: read as that key, with a deprecation Event.
    Alias(&'static str),
}

/// One `chains-config` key.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    pub key: &'static str,
    pub kind: ValueKind,
    pub default: &'static str,
    /// One line for the README and the CRD.
    pub doc: &'static str,
}

/// Formats for TaskRun and PipelineRun payloads.
pub const RUN_FORMATS: &[&str] = Format::WORDS;
/// Storage backends.
pub const STORAGES: &[&str] = StorageKind::WORDS;
/// Signers.
pub const SIGNERS: &[&str] = SignerKind::WORDS;
/// KMS reference schemes.
pub const KMS_SCHEMES: &[&str] = &["gcpkms://", "awskms://", "azurekms://", "hashivault://"];
/// Values Go's `strconv.ParseBool` accepts, upstream Chains' parser.
pub const TRUE_WORDS: &[&str] = &["1", "t", "T", "TRUE", "true", "True"];
pub const FALSE_WORDS: &[&str] = &["0", "f", "F", "FALSE", "false", "False"];
/// `spec.managedBy` values that are always signed (besides an unset one).
pub const ALWAYS_MANAGED_BY: &[&str] = &["tekton.dev/pipeline"];

/// Signer words kept from Chains 1.10 (`cosign` meant the local key, now `x509`).
pub const DEPRECATED_SIGNER_WORDS: &[(&str, SignerKind)] = &[("cosign", SignerKind::X509)];

/// The key table. Calls `$m!` with one row per key, in the reference's order:
/// `field: "key", kind, "default", CR type, "doc";`. The CR type is `Text`
/// (a string) or `Flag` (a boolean or its string).
macro_rules! chains_keys {
    ($m:ident) => { $m! {
        artifacts_taskrun_format: "artifacts.taskrun.format", OneOf(RUN_FORMATS), "in-toto", Text,
            "TaskRun payload format.";
        artifacts_taskrun_storage: "artifacts.taskrun.storage", StorageList, "tekton", Text,
            "TaskRun storage backends; \"\" disables.";
        artifacts_taskrun_signer: "artifacts.taskrun.signer", OneOf(SIGNERS), "x509", Text,
            "TaskRun signer (`cosign` is read as `x509`, deprecated).";
        artifacts_pipelinerun_format: "artifacts.pipelinerun.format", OneOf(RUN_FORMATS), "in-toto", Text,
            "PipelineRun payload format.";
        artifacts_pipelinerun_storage: "artifacts.pipelinerun.storage", StorageList, "tekton", Text,
            "PipelineRun storage backends; \"\" disables.";
        artifacts_pipelinerun_signer: "artifacts.pipelinerun.signer", OneOf(SIGNERS), "x509", Text,
            "PipelineRun signer (`cosign` is read as `x509`, deprecated).";
        artifacts_pipelinerun_enable_deep_inspection: "artifacts.pipelinerun.enable-deep-inspection", Bool, "false", Flag,
            "Take the subjects of a PipelineRun's child TaskRuns.";
        artifacts_oci_format: "artifacts.oci.format", OneOf(ImageFormat::WORDS), "simplesigning", Text,
            "Image payload format.";
        artifacts_oci_storage: "artifacts.oci.storage", StorageList, "oci", Text,
            "Image signature storage backends; \"\" disables.";
        artifacts_oci_signer: "artifacts.oci.signer", OneOf(SIGNERS), "x509", Text,
            "Image signer (`cosign` is read as `x509`, deprecated).";
        artifacts_oci_repository: "artifacts.oci.repository", Alias("storage.oci.repository"), "", Text,
            "Deprecated name (Chains 1.10) of storage.oci.repository.";
        storage_gcs_bucket: "storage.gcs.bucket", Text, "", Text,
            "GCS bucket of the gcs backend (needed when gcs is selected).";
        storage_oci_repository: "storage.oci.repository", Text, "", Text,
            "Repository for .sig and .att instead of the image's own.";
        storage_oci_repository_insecure: "storage.oci.repository.insecure", Bool, "false", Flag,
            "Talk plain HTTP to storage.oci.repository.";
        storage_oci_encoding_format: "storage.oci.encoding-format", OneOf(OciEncoding::WORDS), "dsse", Text,
            "How OCI storage writes signatures and attestations: cosign's `.sig`/`.att` tags (`dsse`), or sigstore bundles v0.3 as OCI 1.1 referrers (`sigstore-bundle`).";
        storage_docdb_url: "storage.docdb.url", Text, "", Text,
            "docdb collection: mongo://DB/COLL?id_field=Name, dynamodb://TABLE?partition_key=Name or firestore://projects/P/databases/D/documents/COLL?name_field=Name (needed when docdb is selected).";
        storage_docdb_mongo_server_url: "storage.docdb.mongo-server-url", Secret, "", Text,
            "MongoDB server URL of docdb (mongo://); never echoed.";
        storage_docdb_mongo_server_url_dir: "storage.docdb.mongo-server-url-dir", Text, "", Text,
            "Folder holding a MONGO_SERVER_URL file (re-read at each write).";
        storage_docdb_mongo_server_url_path: "storage.docdb.mongo-server-url-path", Text, "", Text,
            "File holding the MongoDB server URL (re-read at each write; wins over the others).";
        storage_grafeas_projectid: "storage.grafeas.projectid", Text, "", Text,
            "Grafeas (Container Analysis) project; required when grafeas is in a storage list.";
        storage_grafeas_noteid: "storage.grafeas.noteid", Text, "", Text,
            "Prefix of the notes <noteid>-simplesigning and <noteid>-<taskrun|pipelinerun>-intoto (default tekton-<namespace>).";
        storage_grafeas_notehint: "storage.grafeas.notehint", Text, "", Text,
            "Human-readable name of the attestation note (empty: \"This attestation note was generated by Tekton Chains\").";
        storage_archivista_url: "storage.archivista.url", Url, "", Text,
            "Archivista server URL; required when archivista is in a storage list (runs' in-toto provenance only).";
        storage_pubsub_provider: "storage.pubsub.provider", OneOf(PubSubProvider::WORDS), "", Text,
            "Pub/Sub provider of the kafka backend (empty: kafka; inmemory is refused when kafka is in a storage list).";
        storage_pubsub_topic: "storage.pubsub.topic", Text, "", Text,
            "Kafka topic (it must exist); required when kafka is in a storage list.";
        storage_pubsub_kafka_bootstrap_servers: "storage.pubsub.kafka.bootstrap.servers", List, "", Text,
            "Kafka bootstrap servers, HOST:PORT comma-separated (plaintext); required when kafka is in a storage list.";
        transparency_enabled: "transparency.enabled", BoolOrManual, "false", Flag,
            "Log signatures in Rekor; manual: only runs annotated chains.tekton.dev/transparency-upload.";
        transparency_url: "transparency.url", Url, "https://rekor.sigstore.dev", Text,
            "Rekor v1 URL.";
        transparency_entry_kind: "transparency.entry-kind", OneOf(LogEntryKind::WORDS), "intoto", Text,
            "Rekor entry kind of in-toto attestations.";
        signers_x509_fulcio_enabled: "signers.x509.fulcio.enabled", Bool, "false", Flag,
            "Keyless signing with Fulcio.";
        signers_x509_fulcio_address: "signers.x509.fulcio.address", Url, "https://fulcio.sigstore.dev", Text,
            "Fulcio URL.";
        signers_x509_fulcio_issuer: "signers.x509.fulcio.issuer", Url, "https://oauth2.sigstore.dev/auth", Text,
            "OIDC issuer URL for Fulcio.";
        signers_x509_fulcio_provider: "signers.x509.fulcio.provider", OneOf(&["", "google", "spiffe", "github", "filesystem"]), "", Text,
            "OIDC token provider.";
        signers_x509_identity_token_file: "signers.x509.identity.token.file", Text, "", Text,
            "Path of the OIDC token file (filesystem provider).";
        signers_x509_tuf_mirror_url: "signers.x509.tuf.mirror.url", Url, "", Text,
            "TUF mirror URL.";
        signers_verify_before_skip: "signers.verify-before-skip", Bool, "false", Flag,
            "Check a run marked signed=true before skipping it; sign it again when its stored signature does not verify.";
        signers_kms_kmsref: "signers.kms.kmsref", KmsRef(KMS_SCHEMES), "", Text,
            "KMS key reference.";
        signers_kms_auth_address: "signers.kms.auth.address", Text, "", Text,
            "KMS server address.";
        signers_kms_auth_token: "signers.kms.auth.token", Secret, "", Text,
            "KMS auth token; never echoed.";
        signers_kms_auth_token_path: "signers.kms.auth.token-path", Text, "", Text,
            "Path of a file holding the KMS auth token.";
        signers_kms_auth_oidc_path: "signers.kms.auth.oidc.path", Text, "", Text,
            "Vault OIDC auth path.";
        signers_kms_auth_oidc_role: "signers.kms.auth.oidc.role", Text, "", Text,
            "Vault OIDC role.";
        signers_kms_auth_oidc_token_path: "signers.kms.auth.oidc.token-path", Text, "", Text,
            "Path of the OIDC token file for Vault auth.";
        signers_kms_auth_spire_sock: "signers.kms.auth.spire.sock", Text, "", Text,
            "SPIRE agent socket.";
        signers_kms_auth_spire_audience: "signers.kms.auth.spire.audience", Text, "", Text,
            "SPIRE audience.";
        builder_id: "builder.id", Text, "https://tekton.dev/chains/v2", Text,
            "Builder id in provenance.";
        builddefinition_buildtype: "builddefinition.buildtype", OneOf(BuildType::WORDS), "https://tekton.dev/chains/v2/slsa", Text,
            "SLSA v1 buildType.";
        filter_managed_by: "filter.managed-by", List, "", Text,
            "Also sign runs whose spec.managedBy is one of these (comma-separated); runs with no spec.managedBy or tekton.dev/pipeline are always signed.";
    } };
}

macro_rules! key_specs {
    ($($field:ident: $key:literal, $kind:expr, $default:literal, $cr:ident, $doc:literal;)*) => {
        /// Every key Chains reads, in the order of the reference table.
        pub const KEYS: &[KeySpec] = &[$(KeySpec { key: $key, kind: $kind, default: $default, doc: $doc }),*];
    };
}

macro_rules! key_names {
    ($($field:ident: $key:literal, $kind:expr, $default:literal, $cr:ident, $doc:literal;)*) => {
        /// Every key's name as a constant named after its CR field, so code
        /// never spells a key twice.
        #[allow(non_upper_case_globals)]
        pub mod name {
            $(#[doc = $doc] pub const $field: &str = $key;)*
        }
    };
}

pub(crate) use chains_keys;

use ValueKind::*;
chains_keys!(key_specs);
chains_keys!(key_names);

/// Looks up a key's spec by name.
pub fn spec(name: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|k| k.key == name)
}

/// The position of a key in [`KEYS`] (unknown keys last), for ordering errors.
pub fn position(name: &str) -> usize {
    KEYS.iter().position(|k| k.key == name).unwrap_or(KEYS.len())
}

/// Keys whose values are secrets and never appear in messages.
pub fn is_sensitive(name: &str) -> bool {
    matches!(spec(name), Some(KeySpec { kind: Secret, .. }))
}

/// The key an alias stands for (`None` for a key that is no alias).
pub fn alias_of(name: &str) -> Option<&'static str> {
    match spec(name)?.kind {
        Alias(to) => Some(to),
        _ => None,
    }
}

/// The README's key table, generated from [`KEYS`] (a test keeps the
/// README equal to it).
pub fn readme_table() -> String {
    let ticks = |w: &str| if w.is_empty() { "`\"\"`".to_string() } else { format!("`{w}`") };
    let words = |ws: &[&str]| ws.iter().map(|w| ticks(w)).collect::<Vec<_>>().join(", ");
    let mut out = String::from("| key | default | values | meaning |\n|---|---|---|---|\n");
    for k in KEYS {
        let values = match k.kind {
            OneOf(ws) => words(ws),
            StorageList => format!("comma-separated: {}; `\"\"` disables", words(STORAGES)),
            List => "comma-separated text".into(),
            Bool => "`true`, `false`".into(),
            BoolOrManual => "`true`, `false`, `manual`".into(),
            Url => "absolute http(s) URL".into(),
            KmsRef(schemes) => format!("reference starting with {}", words(schemes)),
            Text => "text".into(),
            Secret => "text (never echoed)".into(),
            Alias(to) => format!("as `{to}` (deprecated name)"),
        };
        let default = if k.default.is_empty() { "(empty)".to_string() } else { ticks(k.default) };
        out.push_str(&format!("| `{}` | {default} | {values} | {} |\n", k.key, k.doc.replace('|', "\\|")));
    }
    out
}
