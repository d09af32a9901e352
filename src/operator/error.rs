//! The operator loop's error type.

/// Errors of the operator loop; each says which object and what was being done.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} {object}: {source}")]
    Kube {
        action: &'static str,
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
}

impl Error {
    /// Whether a later reconcile can succeed without a change to the object.
    pub fn retryable(&self) -> bool {
        !matches!(self, Error::Decode { .. })
    }

    /// Short label for the `reason` of `operator_reconcile_errors_total`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube { action, .. } => action,
            Error::Finalizer { .. } => "finalizer",
            Error::Decode { .. } => "decode",
            Error::KeyGeneration { .. } => "keygen",
            Error::NotOurs { .. } => "not_ours",
        }
    }

    pub(crate) fn kube(action: &'static str, object: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let object = object.into();
        move |source| Error::Kube { action, object, source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
