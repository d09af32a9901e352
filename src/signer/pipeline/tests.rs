//! The pipeline without a cluster: fake signers, backends and logs check its
//! ordering and error handling; the real-component tests prove behaviour.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use super::*;
use crate::formats::detect;
use crate::remote::RemoteError;
use crate::seam::{Fixed, Registry};
use crate::signer::worker::{needs_signing, patch_body};
use crate::signing::{KeyError, LogEntry, SignError, Signature, Verifier};
use crate::tekton::annotations::{RETRIES, SIGNED};

const KAFKA_TOPIC: (&str, &str) = ("storage.pubsub.topic", "chains");
const KAFKA_SERVERS: (&str, &str) = ("storage.pubsub.kafka.bootstrap.servers", "127.0.0.1:9");
const D: &str = "sha256:abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789";

fn config(pairs: &[(&str, &str)]) -> Arc<ChainsConfig> {
    Arc::new(ChainsConfig::parse(&pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()).unwrap())
}

fn taskrun() -> serde_json::Value {
    json!({
        "metadata": { "name": "tr", "namespace": "ns", "uid": "u-1", "resourceVersion": "42",
                      "finalizers": ["other/keep", "chains.tekton.dev/taskrun"] },
        "status": { "conditions": [{ "type": "Succeeded", "status": "True" }],
                    "results": [{ "name": "IMAGE_URL", "value": "quay.io/a/b" }, { "name": "IMAGE_DIGEST", "value": D }] },
    })
}

/// Everything the fakes saw, in order.
type Journal = Arc<Mutex<Vec<String>>>;

/// Signs by prefixing `sig:`; fails when `fail` is set.
struct FakeSigner {
    journal: Journal,
    fail: Option<KeyError>,
}

#[async_trait::async_trait]
impl Signer for FakeSigner {
    async fn sign(&self, msg: &[u8]) -> Result<Signature, SignError> {
        self.journal.lock().unwrap().push(format!("sign {}", msg.len()));
        if let Some(e) = &self.fail {
            return Err(e.clone().into());
        }
        Ok(Signature { bytes: [b"sig:", msg].concat(), verifier: self.verifier().await? })
    }
    async fn verifier(&self) -> Result<Verifier, SignError> {
        Ok(Verifier { public_key_pem: "PUB".into(), cert: Some("CERT".into()), chain: None })
    }
}

struct FakeLog(Journal);

#[async_trait::async_trait]
impl TransparencyLog for FakeLog {
    async fn upload(&self, signed: &Signed) -> Result<LogEntry, RemoteError> {
        self.0.lock().unwrap().push(format!("log {}", signed.key));
        if signed.key.starts_with("abcdef") {
            return Ok(LogEntry {
                log_index: 2,
                uuid: "u2".into(),
                url: "http://log/2".into(),
                bundle: None,
                tlog_entry: None,
            });
        }
        Ok(LogEntry { log_index: 1, uuid: "u1".into(), url: "http://log/1".into(), bundle: None, tlog_entry: None })
    }
}

/// A backend that journals and then fails with `error`, if given.
struct FakeBackend {
    journal: Journal,
    error: Option<RemoteError>,
}

#[async_trait::async_trait]
impl Backend for FakeBackend {
    async fn store(&self, _run: &Run<'_>, signed: &Signed) -> Result<Annotations, RemoteError> {
        let logged = signed.log_entry.as_ref().map(|e| e.log_index);
        self.journal.lock().unwrap().push(format!("store {} logged={logged:?}", signed.key));
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(Annotations::new()),
        }
    }
}

/// Serves the local-key identity only, as the key folder does.
struct KeysOnly(Arc<FakeSigner>);

impl crate::seam::Factory<crate::config::SigningIdentity, dyn Signer> for KeysOnly {
    fn name(&self) -> &'static str {
        "x509"
    }
    fn build(&self, id: &crate::config::SigningIdentity) -> Option<Result<Arc<dyn Signer>, Unsupported>> {
        matches!(id, crate::config::SigningIdentity::Keys).then(|| Ok(self.0.clone() as Arc<dyn Signer>))
    }
}

/// The real storage factories (with an API client that is never called),
/// a fake signer and a fake log.
fn parts(journal: &Journal, fail: Option<KeyError>) -> Parts {
    parts_lacking(journal, fail, "")
}

/// [`parts`] of a release without the `lacking` storage backend.
fn parts_lacking(journal: &Journal, fail: Option<KeyError>, lacking: &str) -> Parts {
    // The client's buffer task needs a runtime to be spawned on (it never runs a request).
    static RT: std::sync::LazyLock<tokio::runtime::Runtime> =
        std::sync::LazyLock::new(|| tokio::runtime::Builder::new_current_thread().build().unwrap());
    let _rt = RT.enter();
    let client = kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap())).unwrap();
    let env = Env { client: Some(client), ..Env::default() };
    let signer = Arc::new(FakeSigner { journal: journal.clone(), fail });
    let log = Arc::new(FakeLog(journal.clone()));
    Parts {
        signers: Arc::new(Registry::of(vec![Arc::new(KeysOnly(signer))])),
        storage: Arc::new(Backends::prepare(&without(lacking, &env), &env)),
        logs: Arc::new(Registry::of(vec![Arc::new(Fixed { name: "rekor", part: log as Arc<dyn TransparencyLog> })])),
        storage_failures: Default::default(),
    }
}

/// The storage makers of this release but `name`.
fn without(name: &str, env: &Env) -> Vec<crate::seam::Maker<crate::config::Storage, dyn Backend>> {
    storage::BACKENDS.iter().copied().filter(|make| make(env).is_none_or(|f| f.name() != name)).collect()
}

/// A pipeline whose `oci` route stores through `backend` (as the OCI backend will).
fn with_backend(mut p: Pipeline, backend: FakeBackend) -> Pipeline {
    if let Route::On { backends, .. } = &mut p.oci {
        *backends = vec![("oci", Arc::new(backend))];
    } else {
        p.oci = Route::On { signer: p.oci_signer(), backends: vec![("oci", Arc::new(backend))] };
    }
    p
}

impl Pipeline {
    fn oci_signer(&self) -> Arc<dyn Signer> {
        match &self.taskrun {
            Route::On { signer, .. } => signer.clone(),
            _ => panic!("taskrun route is on in these tests"),
        }
    }
}

fn run_pipeline(p: &Pipeline, obj: &serde_json::Value) -> Result<Done, Error> {
    run_pipeline_failed(p, obj).map_err(|f| f.error)
}

fn run_pipeline_failed(p: &Pipeline, obj: &serde_json::Value) -> Result<Done, Box<Failed>> {
    let run = Run::new(RunKind::TaskRun, obj);
    let payloads = p
        .plan(&run, &detect(&run), &[])
        .map_err(|error| Box::new(Failed { error, annotations: Default::default() }))?;
    futures::executor::block_on(p.execute(&run, payloads))
}

#[test]
fn a_backend_this_release_lacks_is_refused_at_build_time() {
    let journal = Journal::default();
    let obj = taskrun();
    let run = Run::new(RunKind::TaskRun, &obj);
    let p = Pipeline::build(
        config(&[("artifacts.oci.storage", "kafka"), KAFKA_TOPIC, KAFKA_SERVERS]),
        &parts_lacking(&journal, None, "kafka"),
    );
    // Refused once, when the config is loaded; not per run.
    let refusals = p.refusals();
    assert_eq!(refusals.len(), 1);
    assert_eq!(
        refused(&refusals[0]).to_string(),
        "storage backend \"kafka\" (artifacts.oci.storage) is not supported yet; supported: \"tekton\", \"oci\", \"gcs\", \"docdb\", \"grafeas\", \"archivista\""
    );
    let err = p.plan(&run, &detect(&run), &[]).unwrap_err();
    assert!(!err.retryable(), "retrying an unsupported backend cannot help");
    assert_eq!(err.metric_label(), "unsupported");

    let p = Pipeline::build(config(&[("artifacts.oci.storage", "tekton")]), &parts(&journal, None));
    let s = p.plan(&run, &detect(&run), &[]).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!((s[0].key.as_str(), s[0].dsse, s[0].artifact), ("taskrun-u-1", true, Artifact::TaskRun));
    assert_eq!((s[1].key.as_str(), s[1].dsse, s[1].artifact), ("abcdef012345", false, Artifact::Oci));
    assert!(journal.lock().unwrap().is_empty(), "planning signs nothing");
}

#[test]
fn signer_none_and_empty_storage_disable_an_artifact_type() {
    let obj = taskrun();
    let run = Run::new(RunKind::TaskRun, &obj);
    let c = config(&[("artifacts.oci.signer", "none"), ("artifacts.taskrun.storage", "")]);
    let p = Pipeline::build(c, &parts(&Journal::default(), None));
    assert!(p.plan(&run, &detect(&run), &[]).unwrap().is_empty());
    assert!(p.refusals().is_empty());
}

#[test]
fn tekton_storage_annotations_carry_base64_payload_signature_and_cert() {
    let journal = Journal::default();
    let c = config(&[("artifacts.oci.storage", "tekton"), ("artifacts.taskrun.format", "tekton")]);
    let p = Pipeline::build(c, &parts(&journal, None));
    let done = run_pipeline(&p, &taskrun()).unwrap();
    let keys: Vec<_> = done.annotations.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "chains.tekton.dev/cert-abcdef012345",
            "chains.tekton.dev/cert-taskrun-u-1",
            "chains.tekton.dev/chain-abcdef012345",
            "chains.tekton.dev/chain-taskrun-u-1",
            "chains.tekton.dev/payload-abcdef012345",
            "chains.tekton.dev/payload-taskrun-u-1",
            "chains.tekton.dev/signature-abcdef012345",
            "chains.tekton.dev/signature-taskrun-u-1",
        ]
    );
    let a = &done.annotations;
    let payload = STANDARD.decode(&a["chains.tekton.dev/payload-taskrun-u-1"]).unwrap();
    let sig = STANDARD.decode(&a["chains.tekton.dev/signature-taskrun-u-1"]).unwrap();
    assert_eq!(sig, [b"sig:".as_slice(), &payload].concat(), "the tekton format is signed as-is");
    assert_eq!(STANDARD.decode(&a["chains.tekton.dev/cert-taskrun-u-1"]).unwrap(), b"CERT");
    assert_eq!(a["chains.tekton.dev/chain-taskrun-u-1"], "");
    assert_eq!((done.signed, done.stored, done.uploaded), (2, 2, 0), "transparency is off");
}

#[test]
fn in_toto_payloads_are_signed_over_the_dsse_pae_and_stored_as_the_envelope() {
    let journal = Journal::default();
    let p = Pipeline::build(config(&[("artifacts.oci.storage", "")]), &parts(&journal, None));
    let done = run_pipeline(&p, &taskrun()).unwrap();
    let a = &done.annotations;
    let statement = STANDARD.decode(&a["chains.tekton.dev/payload-taskrun-u-1"]).unwrap();
    let env: crate::signing::dsse::Envelope =
        serde_json::from_slice(&STANDARD.decode(&a["chains.tekton.dev/signature-taskrun-u-1"]).unwrap()).unwrap();
    assert_eq!(env.payload_type, IN_TOTO_PAYLOAD_TYPE);
    assert_eq!(STANDARD.decode(&env.payload).unwrap(), statement);
    let sig = STANDARD.decode(&env.signatures[0].sig).unwrap();
    assert_eq!(sig, [b"sig:".as_slice(), &dsse::pae(IN_TOTO_PAYLOAD_TYPE, &statement)].concat());
}

#[test]
fn the_log_entry_comes_before_storage_and_only_the_run_gets_the_transparency_annotation() {
    let journal = Journal::default();
    let c = config(&[("transparency.enabled", "true"), ("artifacts.oci.storage", "tekton")]);
    let p =
        with_backend(Pipeline::build(c, &parts(&journal, None)), FakeBackend { journal: journal.clone(), error: None });
    let done = run_pipeline(&p, &taskrun()).unwrap();
    assert_eq!(done.annotations["chains.tekton.dev/transparency"], "http://log/1");
    assert_eq!((done.signed, done.uploaded), (2, 2));
    let j = journal.lock().unwrap();
    let at = |what: &str| j.iter().position(|l| l.starts_with(what)).unwrap_or_else(|| panic!("{what} in {j:?}"));
    assert!(at("log abcdef012345") < at("store abcdef012345 logged=Some(2)"), "{j:?}");
    at("log taskrun-u-1");
}

#[test]
fn manual_transparency_uploads_only_runs_that_ask_for_it() {
    let journal = Journal::default();
    let c = config(&[("transparency.enabled", "manual"), ("artifacts.oci.storage", "")]);
    let p = Pipeline::build(c, &parts(&journal, None));
    let done = run_pipeline(&p, &taskrun()).unwrap();
    assert_eq!(done.uploaded, 0);
    let mut obj = taskrun();
    obj["metadata"]["annotations"] = json!({ "chains.tekton.dev/transparency-upload": "true" });
    let done = run_pipeline(&p, &obj).unwrap();
    assert_eq!(done.uploaded, 1);
    assert_eq!(done.annotations["chains.tekton.dev/transparency"], "http://log/1");
}

#[test]
fn a_backend_failure_fails_the_run_with_its_context_and_keeps_what_other_backends_stored() {
    let journal = Journal::default();
    let error = RemoteError {
        target: "registry.local/app".into(),
        message: "HTTP 503".into(),
        status: Some(503),
        retryable: true,
        unavailable: true,
    };
    let c = config(&[]);
    let p = with_backend(
        Pipeline::build(c, &parts(&journal, None)),
        FakeBackend { journal: journal.clone(), error: Some(error) },
    );
    let failed = run_pipeline_failed(&p, &taskrun()).unwrap_err();
    // The TaskRun's own payload went to `tekton` storage; the image's failed.
    assert!(failed.annotations.contains_key("chains.tekton.dev/payload-taskrun-u-1"));
    assert!(!failed.annotations.contains_key(SIGNED));
    let err = failed.error;
    assert!(err.retryable());
    assert_eq!(err.metric_label(), "storage");
    assert_eq!(err.to_string(), format!("storing oci quay.io/a/b@{D} in oci storage: registry.local/app: HTTP 503"));
    // Counted under the backend's registry name and the error's fixed label.
    let labels = BackendFailure { backend: "oci", reason: "server_error" };
    assert_eq!(p.storage_failures.get_or_create(&labels).get(), 1);
}

/// A backend that only exists in this test: one factory, nothing else.
mod noop {
    use super::*;
    use crate::config::Storage;
    use crate::seam::Factory;

    pub struct Noop;

    #[async_trait::async_trait]
    impl Backend for Noop {
        async fn store(&self, _: &Run<'_>, signed: &Signed) -> Result<Annotations, RemoteError> {
            Ok(Annotations::from([(format!("noop/{}", signed.key), "stored".into())]))
        }
    }

    /// Serves the `kafka` section (a word the config already has) in a
    /// release without kafka, as a new backend's factory would serve its own.
    impl Factory<Storage, dyn Backend> for Noop {
        fn name(&self) -> &'static str {
            "noop"
        }
        fn build(&self, section: &Storage) -> Option<Result<Arc<dyn Backend>, Unsupported>> {
            matches!(section, Storage::Kafka { .. }).then(|| Ok(Arc::new(Noop) as Arc<dyn Backend>))
        }
    }

    pub fn factory(_: &Env) -> Option<Arc<dyn Factory<Storage, dyn Backend>>> {
        Some(Arc::new(Noop))
    }
}

#[test]
fn a_new_backend_is_one_factory_and_the_pipeline_needs_no_change() {
    let journal = Journal::default();
    let mut parts = parts(&journal, None);
    let makers: Vec<_> = without("kafka", &Env::default()).into_iter().chain([noop::factory as _]).collect();
    parts.storage = Arc::new(Backends::prepare(&makers, &Env::default()));
    assert_eq!(
        parts.storage.names(),
        ["tekton", "gcs", "docdb", "grafeas", "archivista", "noop"],
        "oci needs an API client, which this Env lacks"
    );
    let p = Pipeline::build(
        config(&[
            ("artifacts.taskrun.storage", "tekton,kafka"),
            ("artifacts.oci.storage", ""),
            KAFKA_TOPIC,
            KAFKA_SERVERS,
        ]),
        &parts,
    );
    assert!(p.refusals().is_empty());
    let done = run_pipeline(&p, &taskrun()).unwrap();
    assert_eq!(done.annotations.get("noop/taskrun-u-1").map(String::as_str), Some("stored"));
    assert!(done.annotations.contains_key("chains.tekton.dev/payload-taskrun-u-1"));
    assert_eq!(done.stored, 2);
}

#[test]
fn a_key_failure_stores_nothing() {
    let journal = Journal::default();
    let missing = KeyError::Missing { dir: "/etc/signing-secrets".into(), looked_for: "x509.pem".into() };
    let p = with_backend(
        Pipeline::build(config(&[]), &parts(&journal, Some(missing))),
        FakeBackend { journal: journal.clone(), error: None },
    );
    let err = run_pipeline(&p, &taskrun()).unwrap_err();
    assert_eq!(err.metric_label(), "key_missing");
    assert!(err.to_string().contains("no signing key in /etc/signing-secrets"), "{err}");
    assert!(!journal.lock().unwrap().iter().any(|l| l.starts_with("store")));
}

#[test]
fn the_signed_patch_is_conditional_and_drops_only_our_finalizer() {
    let obj = taskrun();
    let run = Run::new(RunKind::TaskRun, &obj);
    let body = patch_body(&run, BTreeMap::from([(SIGNED.to_string(), "true".to_string())]));
    assert_eq!(
        body,
        json!({ "metadata": { "resourceVersion": "42", "annotations": { SIGNED: "true" }, "finalizers": ["other/keep"] } })
    );
    // A retry keeps the finalizer: the run is not done with yet.
    let retry = patch_body(&run, BTreeMap::from([(RETRIES.to_string(), "1".to_string())]));
    assert!(retry["metadata"].get("finalizers").is_none());
}

#[test]
fn only_finished_unsigned_runs_need_signing() {
    let mut obj = taskrun();
    assert!(needs_signing(&Run::new(RunKind::TaskRun, &obj)));
    obj["metadata"]["annotations"] = json!({ SIGNED: "failed" });
    assert!(!needs_signing(&Run::new(RunKind::TaskRun, &obj)));
    obj["metadata"]["annotations"] = json!({});
    obj["status"]["conditions"][0]["status"] = json!("Unknown");
    assert!(!needs_signing(&Run::new(RunKind::TaskRun, &obj)));
}

#[test]
fn kms_and_keyless_are_refused_rather_than_signed_with_the_local_key() {
    let obj = taskrun();
    let run = Run::new(RunKind::TaskRun, &obj);
    let journal = Journal::default();
    let kms = [("artifacts.taskrun.signer", "kms"), ("signers.kms.kmsref", "awskms:///alias/chains")];
    let p = Pipeline::build(config(&kms), &parts(&journal, None));
    let err = p.plan(&run, &detect(&run), &[]).unwrap_err();
    let want = "KMS \"awskms:///alias/chains\" (signers.kms.kmsref) is not supported yet";
    assert!(err.to_string().starts_with(want), "{err}");
    let p = Pipeline::build(config(&[("signers.x509.fulcio.enabled", "true")]), &parts(&journal, None));
    let err = p.plan(&run, &detect(&run), &[]).unwrap_err();
    assert!(err.to_string().starts_with("keyless signing \"true\" (signers.x509.fulcio.enabled)"), "{err}");
    assert!(journal.lock().unwrap().is_empty());
}

#[test]
fn with_sigstore_bundles_an_image_signature_is_cosign_v3s_dsse_statement() {
    let journal = Journal::default();
    let bundles = config(&[("storage.oci.encoding-format", "sigstore-bundle")]);
    let p = Pipeline::build(bundles, &parts(&journal, None));
    assert!(p.refusals().is_empty(), "{:?}", p.refusals());
    let obj = taskrun();
    let run = Run::new(RunKind::TaskRun, &obj);
    let plan = p.plan(&run, &detect(&run), &[]).unwrap();
    let image = plan.iter().find(|x| x.artifact == Artifact::Oci).unwrap();
    assert!(image.dsse);
    let v: serde_json::Value = serde_json::from_slice(&image.bytes).unwrap();
    assert_eq!(v["predicateType"], crate::formats::simplesigning::COSIGN_SIGN_PREDICATE);
    assert_eq!(v["subject"][0]["digest"]["sha256"], D.trim_start_matches("sha256:"));
    // Without bundles (or when `oci` storage is not used for images) it stays simplesigning.
    let tekton_only =
        config(&[("storage.oci.encoding-format", "sigstore-bundle"), ("artifacts.oci.storage", "tekton")]);
    for c in [config(&[]), tekton_only] {
        let p = Pipeline::build(c, &parts(&journal, None));
        let plan = p.plan(&run, &detect(&run), &[]).unwrap();
        let image = plan.iter().find(|x| x.artifact == Artifact::Oci).unwrap();
        assert!(!image.dsse);
        assert!(String::from_utf8_lossy(&image.bytes).contains("cosign container image signature"));
    }
}

/// A backend that fails its first `fails` stores, then stores.
struct Flaky {
    journal: Journal,
    fails: Mutex<u32>,
}

#[async_trait::async_trait]
impl Backend for Flaky {
    async fn store(&self, _run: &Run<'_>, signed: &Signed) -> Result<Annotations, RemoteError> {
        self.journal.lock().unwrap().push(format!("flaky {}", signed.key));
        let mut fails = self.fails.lock().unwrap();
        if *fails == 0 {
            return Ok(Annotations::new());
        }
        *fails -= 1;
        Err(RemoteError::unreachable("flaky", "down".into(), true))
    }
}

#[test]
fn a_retry_reuses_the_signature_and_log_entry_and_skips_backends_that_stored() {
    let journal = Journal::default();
    let c = config(&[("transparency.enabled", "true")]);
    let mut p = Pipeline::build(c, &parts(&journal, None));
    let steady = Arc::new(FakeBackend { journal: journal.clone(), error: None });
    let flaky = Arc::new(Flaky { journal: journal.clone(), fails: Mutex::new(1) });
    p.oci = Route::On { signer: p.oci_signer(), backends: vec![("oci", steady), ("flaky", flaky)] };
    let count = |what: &str| journal.lock().unwrap().iter().filter(|l| l.starts_with(what)).count();

    let failed = run_pipeline_failed(&p, &taskrun()).unwrap_err();
    assert!(failed.error.retryable());
    assert_eq!((count("sign"), count("log abcdef"), count("store abcdef"), count("flaky")), (2, 1, 1, 1));
    assert_eq!(p.progress.len(), 2, "both payloads' progress is kept until the run is done");

    let done = run_pipeline(&p, &taskrun()).unwrap();
    assert_eq!((count("sign"), count("log")), (2, 2), "nothing is signed or logged again");
    assert_eq!(count("store abcdef"), 1, "no second push where it was stored");
    assert!(done.annotations.contains_key("chains.tekton.dev/signature-taskrun-u-1"), "tekton's part is in the patch");
    assert_eq!(count("flaky"), 2);
    assert_eq!(done.annotations["chains.tekton.dev/transparency"], "http://log/1");
    assert!(p.progress.is_empty(), "stored everywhere: forgotten");
}
