//! The operator loop's settings and the state both reconcilers share.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use kube::Client;

use super::apply::Applier;
use super::desired::BuildContext;
use super::metrics::OperatorMetrics;

/// Settings of the operator loop.
#[derive(Debug, Clone)]
pub struct Options {
    /// Image the installed Deployment runs (this binary, in `signer` mode).
    pub signer_image: String,
    /// targetNamespace when TektonConfig does not set one.
    pub default_namespace: String,
    /// What happens before the controllers start.
    pub startup: Startup,
}

/// Start-up settings. The default (both off) is for embedding and tests;
/// the command line turns `auto_install` on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Startup {
    /// Create TektonConfig `config` when it is missing (upstream's AUTOINSTALL_COMPONENTS).
    pub auto_install: bool,
    /// Start even when another Tekton operator is found (then create no TektonConfig).
    pub allow_other_operator: bool,
}

/// Shared state of both reconcilers.
pub struct Context {
    /// Every write to the API goes through it (and is counted).
    pub applier: Applier,
    pub build: BuildContext,
    /// targetNamespace when TektonConfig does not set one.
    pub default_namespace: String,
    pub startup: Startup,
    /// Reconciles finished (TektonChain and TektonConfig), successful or not.
    pub reconciles: AtomicU64,
    pub metrics: Arc<OperatorMetrics>,
}

impl Context {
    /// A fresh context: no writes or reconciles counted yet.
    pub fn new(client: Client, opts: &Options) -> Self {
        Self {
            applier: Applier::new(client, Arc::new(AtomicU64::new(0))),
            build: BuildContext { image: opts.signer_image.clone(), version: version() },
            default_namespace: opts.default_namespace.clone(),
            startup: opts.startup,
            reconciles: AtomicU64::new(0),
            metrics: Arc::default(),
        }
    }
}

/// Version reported in status and chains-info.
pub fn version() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}
