//! Names of the installed objects, as upstream Chains uses them.

pub const SERVICE_ACCOUNT: &str = "tekton-chains-controller";
pub const DEPLOYMENT: &str = "tekton-chains-controller";
pub const SERVICE: &str = "tekton-chains-metrics";
pub const SIGNING_SECRET: &str = "signing-secrets";
pub const CHAINS_CONFIG: &str = "chains-config";
pub const CONFIG_LOGGING: &str = "config-logging";
pub const CONFIG_OBSERVABILITY: &str = "tekton-chains-config-observability";
pub const CONFIG_LEADER_ELECTION: &str = "tekton-chains-config-leader-election";
pub const CHAINS_INFO: &str = "chains-info";
pub const CLUSTER_ROLE: &str = "tekton-chains-controller-cluster-access";
pub const ROLE: &str = "tekton-chains-leader-election";

/// ConfigMaps the operator installs (and that `options.configMaps` may target).
pub const CONFIG_MAPS: &[&str] =
    &[CHAINS_CONFIG, CONFIG_LOGGING, CONFIG_OBSERVABILITY, CONFIG_LEADER_ELECTION, CHAINS_INFO];

/// Where the Deployment mounts signing-secrets.
pub const SIGNING_SECRETS_PATH: &str = "/etc/signing-secrets";
