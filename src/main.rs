//! Command line: `operator`, `signer`, `run` (both loops) and `crd`.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::sync::Arc;

use tekton_chains_operator::{crd, operator, signer, telemetry};

#[derive(Parser)]
#[command(version, about = "Tekton Chains operator and signing controller")]
struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value = "text", env = "LOG_FORMAT")]
    log_format: telemetry::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Reconcile TektonConfig and TektonChain into a Chains install.
    Operator {
        #[command(flatten)]
        operator: OperatorArgs,
        /// Address of /metrics, /healthz and /readyz (in `run`, the signer's addresses serve both).
        #[arg(long, default_value = "0.0.0.0:9090")]
        metrics_addr: String,
    },
    /// Sign finished TaskRuns and PipelineRuns.
    Signer(signer::Options),
    /// Run the operator and signer loops in one process.
    Run {
        #[command(flatten)]
        operator: OperatorArgs,
        #[command(flatten)]
        signer: signer::Options,
    },
    /// Print the CRDs as YAML.
    Crd {
        /// Write the OLM bundle (ClusterServiceVersion, CRDs, metadata) under this folder instead.
        #[arg(long, value_name = "DIR")]
        olm_bundle: Option<std::path::PathBuf>,
    },
}

#[derive(clap::Args)]
struct OperatorArgs {
    /// Image the installed controller Deployment runs (this binary).
    #[arg(long, env = "CHAINS_SIGNER_IMAGE", default_value = concat!("tekton-chains-operator:v", env!("CARGO_PKG_VERSION")))]
    signer_image: String,
    /// targetNamespace when TektonConfig does not set one.
    #[arg(long, env = "DEFAULT_TARGET_NAMESPACE", default_value = "openshift-pipelines")]
    default_target_namespace: String,
    /// Create TektonConfig `config` (targetNamespace the default one) when it is missing; never changes one that exists.
    #[arg(long, env = "AUTOINSTALL_COMPONENTS", default_value_t = true, action = clap::ArgAction::Set)]
    auto_install_components: bool,
    /// Start even though the OpenShift Pipelines / tektoncd operator's CRD or Deployment is found (for leftovers of an uninstalled one).
    #[arg(long, env = "ALLOW_OTHER_OPERATOR")]
    allow_other_operator: bool,
}

impl OperatorArgs {
    fn options(&self) -> operator::Options {
        operator::Options {
            signer_image: self.signer_image.clone(),
            default_namespace: self.default_target_namespace.clone(),
            startup: operator::Startup {
                auto_install: self.auto_install_components,
                allow_other_operator: self.allow_other_operator,
            },
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Crd { olm_bundle } = &cli.command {
        match olm_bundle {
            Some(dir) => crd::bundle::write(dir).with_context(|| format!("writing {}", dir.display()))?,
            None => print!("{}", crd::crds_yaml()),
        }
        return Ok(());
    }
    telemetry::init(cli.log_format);
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = || async { kube::Client::try_default().await.context("connecting to the Kubernetes API") };
    // The signer's client keeps to --kube-api-qps / --kube-api-burst.
    let throttled = |o: &signer::Options| {
        let (qps, burst) = (o.kube_api_qps, o.kube_api_burst);
        async move { signer::throttle::client(qps, burst).await.context("connecting to the Kubernetes API") }
    };
    match cli.command {
        Command::Operator { operator: args, metrics_addr } => {
            let client = client().await?;
            let ctx = Arc::new(operator::Context::new(client.clone(), &args.options()));
            let m = ctx.metrics.clone();
            let sources: Vec<telemetry::Render> = vec![Arc::new(move || m.render())];
            tokio::select! {
                res = operator::run_with(client, ctx) => res.context("operator")?,
                res = telemetry::serve(metrics_addr, sources, telemetry::Probes::ok()) => res.context("metrics endpoint")?,
            }
        }
        Command::Signer(opts) => signer::run(throttled(&opts).await?, opts, Vec::new()).await.context("signer")?,
        Command::Run { operator: args, signer: opts } => {
            let client = throttled(&opts).await?;
            let ctx = Arc::new(operator::Context::new(client.clone(), &args.options()));
            let m = ctx.metrics.clone();
            let extra: Vec<telemetry::Render> = vec![Arc::new(move || m.render())];
            tokio::select! {
                res = operator::run_with(client.clone(), ctx) => res.context("operator")?,
                res = signer::run(client, opts, extra) => res.context("signer")?,
            }
        }
        Command::Crd { .. } => unreachable!(),
    }
    Ok(())
}
