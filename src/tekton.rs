//! Tekton and Chains names shared by the operator and the signer: run kinds
//! and their API resources, finalizers, annotation keys, object names and
//! mount paths. Every such name is spelled here once.

use kube::core::{ApiResource, GroupVersionKind};

/// Which kind of run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RunKind {
    TaskRun,
    PipelineRun,
}

impl RunKind {
    /// `taskrun` / `pipelinerun`, as in config keys and annotation keys.
    pub fn lower(self) -> &'static str {
        match self {
            Self::TaskRun => "taskrun",
            Self::PipelineRun => "pipelinerun",
        }
    }

    /// `TaskRun` / `PipelineRun`.
    pub fn kind(self) -> &'static str {
        match self {
            Self::TaskRun => "TaskRun",
            Self::PipelineRun => "PipelineRun",
        }
    }

    /// The `tekton.dev/v1` resource of this kind.
    pub fn api_resource(self) -> ApiResource {
        let gvk = GroupVersionKind::gvk("tekton.dev", "v1", self.kind());
        ApiResource::from_gvk_with_plural(&gvk, &format!("{}s", self.lower()))
    }

    /// The finalizer Chains keeps on a run of this kind until it is signed.
    pub fn finalizer(self) -> &'static str {
        match self {
            Self::TaskRun => annotations::FINALIZER_TASKRUN,
            Self::PipelineRun => annotations::FINALIZER_PIPELINERUN,
        }
    }
}

/// Annotation keys (and finalizers) Chains reads and writes on runs.
pub mod annotations {
    /// Prefix of everything Chains writes.
    pub const PREFIX: &str = "chains.tekton.dev/";
    /// `true` once signed, `failed` once given up on.
    pub const SIGNED: &str = "chains.tekton.dev/signed";
    /// Failed attempts so far.
    pub const RETRIES: &str = "chains.tekton.dev/retries";
    /// The Rekor entry of the run's own signature.
    pub const TRANSPARENCY: &str = "chains.tekton.dev/transparency";
    /// `"true"` asks for a Rekor upload under `transparency.enabled: manual`.
    pub const TRANSPARENCY_UPLOAD: &str = "chains.tekton.dev/transparency-upload";
    /// The gitoid Archivista gave the run's provenance (`archivista` storage).
    pub const ARCHIVISTA_GITOID: &str = "chains.tekton.dev/archivista-gitoid";
    /// The Archivista server it is in (`storage.archivista.url`).
    pub const ARCHIVISTA_URL: &str = "chains.tekton.dev/archivista-url";
    /// Marks a run whose provenance may be reproducible (a label).
    pub const REPRODUCIBLE: &str = "chains.tekton.dev/reproducible";
    pub const FINALIZER_TASKRUN: &str = "chains.tekton.dev/taskrun";
    pub const FINALIZER_PIPELINERUN: &str = "chains.tekton.dev/pipelinerun";
    /// On a bucket's Lease: a replica holding fewer than its share asks
    /// the holder to hand the bucket over.
    pub const BUCKET_WANTED_BY: &str = "chains.tekton.dev/bucket-wanted-by";

    /// True when a `signed` annotation value means Chains is done with the
    /// run (`true` or `failed`): it is never signed again.
    pub fn is_settled(signed: Option<&str>) -> bool {
        matches!(signed, Some("true" | "failed"))
    }
}

/// Names of the objects of a Chains install, as upstream Chains uses them.
pub mod objects {
    pub const SERVICE_ACCOUNT: &str = "tekton-chains-controller";
    pub const DEPLOYMENT: &str = "tekton-chains-controller";
    /// The controller's container name and Event reporter.
    pub const CONTROLLER: &str = "tekton-chains-controller";
    pub const SERVICE: &str = "tekton-chains-metrics";
    pub const SIGNING_SECRET: &str = "signing-secrets";
    pub const CHAINS_CONFIG: &str = "chains-config";
    pub const CONFIG_LOGGING: &str = "config-logging";
    pub const CONFIG_OBSERVABILITY: &str = "tekton-chains-config-observability";
    pub const CONFIG_LEADER_ELECTION: &str = "tekton-chains-config-leader-election";
    pub const CHAINS_INFO: &str = "chains-info";
    pub const CLUSTER_ROLE: &str = "tekton-chains-controller-cluster-access";
    pub const ROLE: &str = "tekton-chains-leader-election";
    /// The signer's Role (and binding) in each namespace it watches under
    /// `--namespace`, instead of the ClusterRole.
    pub const SCOPED_ROLE: &str = "tekton-chains-controller-namespace-access";
    /// The signer's leader-election Lease (of bucket 0 of 1; see [`lease_name`]).
    pub const LEASE: &str = "tekton-chains-signer";
    /// Most buckets upstream (and our CRD) allows.
    pub const MAX_BUCKETS: u32 = 10;

    /// The Lease of bucket `b` of `n`: [`LEASE`] when there is one bucket
    /// (the name single-replica installs have always used), else
    /// `tekton-chains-signer.BB-of-NN`, so a rolling change of the count
    /// never mixes two bucket layouts under one name.
    pub fn lease_name(b: u32, n: u32) -> String {
        if n <= 1 { LEASE.to_string() } else { format!("{LEASE}.{b:02}-of-{n:02}") }
    }

    /// Every Lease name any bucket count can use (what the RBAC rules list).
    pub fn all_lease_names() -> Vec<String> {
        (1..=MAX_BUCKETS).flat_map(|n| (0..n).map(move |b| lease_name(b, n))).collect()
    }

    /// CA bundle ConfigMap OpenShift's network operator fills (`ca-bundle.crt`)
    /// when it carries [`INJECT_TRUSTED_CABUNDLE`]; OpenShift Pipelines' name.
    pub const TRUSTED_CA_BUNDLE: &str = "config-trusted-cabundle";
    /// CA bundle ConfigMap OpenShift's service CA operator fills
    /// (`service-ca.crt`: the internal registry's CA) when it carries [`INJECT_SERVICE_CABUNDLE`].
    pub const SERVICE_CA_BUNDLE: &str = "config-service-cabundle";
    /// Label that asks for the cluster's trusted CA bundle.
    pub const INJECT_TRUSTED_CABUNDLE: &str = "config.openshift.io/inject-trusted-cabundle";
    /// Annotation that asks for the service CA.
    pub const INJECT_SERVICE_CABUNDLE: &str = "service.beta.openshift.io/inject-cabundle";
    /// Where the Deployment mounts the two CA bundles (the signer's `--registry-ca-file` folders).
    pub const CA_BUNDLE_PATHS: [(&str, &str); 2] =
        [(TRUSTED_CA_BUNDLE, "/tekton-custom-certs/trusted"), (SERVICE_CA_BUNDLE, "/tekton-custom-certs/service")];

    /// ConfigMaps the controller reads only at start: a change of their data rolls it.
    pub const READ_AT_START: [&str; 3] = [CONFIG_LEADER_ELECTION, TRUSTED_CA_BUNDLE, SERVICE_CA_BUNDLE];

    /// ConfigMaps the operator installs (and that `options.configMaps` may target).
    pub const CONFIG_MAPS: &[&str] = &[
        CHAINS_CONFIG,
        CONFIG_LOGGING,
        CONFIG_OBSERVABILITY,
        CONFIG_LEADER_ELECTION,
        CHAINS_INFO,
        TRUSTED_CA_BUNDLE,
        SERVICE_CA_BUNDLE,
    ];

    /// Where the Deployment mounts signing-secrets (the signer's default key folder).
    pub const SIGNING_SECRETS_PATH: &str = "/etc/signing-secrets";
    /// Files of signing-secrets that hold a key, in lookup order (upstream's order).
    pub const KEY_FILES: &[&str] = &["x509.pem", "cosign.key"];
    /// The password file that goes with `cosign.key`.
    pub const COSIGN_PASSWORD: &str = "cosign.password";
    /// The pod's ServiceAccount token (the default JWT of a KMS login).
    pub const SERVICE_ACCOUNT_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
}
