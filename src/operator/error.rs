//! The operator loop's error type.

/// The API call an [`Error::Kube`] came from; its label is the metric's `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Get,
    Create,
    Apply,
    Delete,
    Release,
    /// Writing a generated key pair into signing-secrets.
    WriteKey,
    /// Writing a custom resource's status.
    WriteStatus,
}

impl Step {
    /// The fixed word for `operator_reconcile_errors_total{reason}`.
    pub const fn label(self) -> &'static str {
        match self {
            Step::Get => "get",
            Step::Create => "create",
            Step::Apply => "apply",
            Step::Delete => "delete",
            Step::Release => "release",
            Step::WriteKey => "write_key",
            Step::WriteStatus => "write_status",
        }
    }

    /// How the step reads in an error message ("write status of TektonChain chain: …").
    pub const fn phrase(self) -> &'static str {
        match self {
            Step::WriteKey => "write generated key to",
            Step::WriteStatus => "write status of",
            other => other.label(),
        }
    }
}

/// Errors of the operator loop; each says which object and what was being done.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{} {object}: {source}", .step.phrase())]
    Kube {
        step: Step,
        object: String,
        #[source]
        source: kube::Error,
    },
    #[error("finalizer on {object}: {message}")]
    Finalizer { object: String, message: String },
    #[error("reading {object}: {message}")]
    Decode { object: String, message: String },
    #[error("generating the signing key for {secret}: {message}")]
    KeyGeneration { secret: String, message: String },
    /// An object of the install's name exists and is not the operator's: it
    /// is never adopted (a forced apply would take it over, and uninstall
    /// would then delete it).
    #[error(
        "{object} exists and was not created by this operator; it is left alone (delete it, or install into another targetNamespace)"
    )]
    NotOurs { object: String },
    /// A bug: an object that must not exist was handed to apply.
    #[error("{object} is to be absent, not applied (a bug)")]
    Absent { object: String },
    /// The tektoncd / OpenShift Pipelines operator reconciles the same CRs.
    #[error(
        "another Tekton operator is installed ({}): it reconciles the same TektonConfig and TektonChain, so this operator does not start beside it. Keep one: uninstall the OpenShift Pipelines (or tektoncd) operator, or this one. If what was found is left over from an uninstalled operator, delete it, or start this one with --allow-other-operator (it then creates no TektonConfig)",
        .found.join(", ")
    )]
    OtherOperator { found: Vec<String> },
}

impl Error {
    /// Fixed word for the `reason` of `operator_reconcile_errors_total`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube { step, .. } => step.label(),
            Error::Finalizer { .. } => "finalizer",
            Error::Decode { .. } => "decode",
            Error::KeyGeneration { .. } => "keygen",
            Error::NotOurs { .. } => "not_ours",
            Error::Absent { .. } => "internal",
            Error::OtherOperator { .. } => "other_operator",
        }
    }

    /// Wraps a kube error of `step` on `object`, for `map_err`.
    pub(crate) fn kube(step: Step, object: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let object = object.into();
        move |source| Error::Kube { step, object, source }
    }
}

/// Result of the operator loop.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_fixed_words_and_messages_unchanged() {
        let steps =
            [Step::Get, Step::Create, Step::Apply, Step::Delete, Step::Release, Step::WriteKey, Step::WriteStatus];
        let labels: Vec<_> = steps.iter().map(|s| s.label()).collect();
        assert_eq!(labels, ["get", "create", "apply", "delete", "release", "write_key", "write_status"]);
        assert_eq!(Step::Apply.phrase(), "apply");
        assert_eq!(Step::WriteStatus.phrase(), "write status of");
        let e = Error::Decode { object: "TektonChain chain".into(), message: "bad".into() };
        assert_eq!((e.metric_label(), e.to_string().as_str()), ("decode", "reading TektonChain chain: bad"));
        assert_eq!(Error::NotOurs { object: "x".into() }.metric_label(), "not_ours");
        let other = Error::OtherOperator { found: vec!["Deployment a/b".into(), "CustomResourceDefinition c".into()] };
        assert_eq!(other.metric_label(), "other_operator");
        assert!(other.to_string().contains("(Deployment a/b, CustomResourceDefinition c)"), "{other}");
    }
}
