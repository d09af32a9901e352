//! The operator loop's Prometheus metrics: reconciles and reconcile errors,
//! labelled by kind and by the error's metric label.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Labels of `operator_reconciles_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct KindLabels {
    /// `TektonChain` or `TektonConfig`.
    pub kind: &'static str,
}

/// Labels of `operator_reconcile_errors_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ErrorLabels {
    pub kind: &'static str,
    /// [`super::Error::metric_label`]: a fixed word per failed step.
    pub reason: &'static str,
}

/// All operator metrics.
pub struct OperatorMetrics {
    pub reconciles: Family<KindLabels, Counter>,
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    registry: Registry,
}

impl Default for OperatorMetrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let reconciles = Family::<KindLabels, Counter>::default();
        registry.register("operator_reconciles", "Reconciles finished, by kind", reconciles.clone());
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "operator_reconcile_errors",
            "Reconciles that failed, by kind and reason",
            reconcile_errors.clone(),
        );
        Self { reconciles, reconcile_errors, registry }
    }
}

impl OperatorMetrics {
    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("metrics encode");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_counted_by_kind_and_reason() {
        let m = OperatorMetrics::default();
        m.reconciles.get_or_create(&KindLabels { kind: "TektonChain" }).inc();
        m.reconcile_errors.get_or_create(&ErrorLabels { kind: "TektonConfig", reason: "kube" }).inc();
        let text = m.render();
        assert!(text.contains(r#"operator_reconciles_total{kind="TektonChain"} 1"#), "{text}");
        assert!(text.contains(r#"operator_reconcile_errors_total{kind="TektonConfig",reason="kube"} 1"#), "{text}");
    }
}
