//! `tekton` storage: payload, signature, cert and chain as base64 annotations
//! on the run (`chains.tekton.dev/{payload,signature,cert,chain}-<key>`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use std::sync::Arc;

use super::{Annotations, Backend};
use crate::config::{Storage, StorageKind};
use crate::formats::Run;
use crate::remote::RemoteError;
use crate::seam::{Env, Factory, Unsupported};
use crate::signing::Signed;
use crate::tekton::annotations::PREFIX;

/// Annotations on the run itself; no I/O (they go out in the run's final patch).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tekton;

impl Tekton {
    /// The four annotations of one signed artifact (pure).
    pub fn annotations(signed: &Signed) -> Annotations {
        let pem = |v: &Option<std::sync::Arc<str>>| v.as_deref().map(|s| STANDARD.encode(s)).unwrap_or_default();
        let k = &signed.key;
        Annotations::from([
            (format!("{PREFIX}payload-{k}"), STANDARD.encode(&signed.payload)),
            (format!("{PREFIX}signature-{k}"), STANDARD.encode(signed.stored_signature())),
            (format!("{PREFIX}cert-{k}"), pem(&signed.verifier.cert)),
            (format!("{PREFIX}chain-{k}"), pem(&signed.verifier.chain)),
        ])
    }
}

#[async_trait::async_trait]
impl Backend for Tekton {
    async fn store(&self, _run: &Run<'_>, signed: &Signed) -> Result<Annotations, RemoteError> {
        Ok(Self::annotations(signed))
    }
}

/// Makes the `tekton` factory (it needs nothing).
pub fn factory(_: &Env) -> Option<Arc<dyn Factory<Storage, dyn Backend>>> {
    Some(Arc::new(Tekton))
}

impl Factory<Storage, dyn Backend> for Tekton {
    fn name(&self) -> &'static str {
        StorageKind::Tekton.as_str()
    }

    fn build(&self, section: &Storage) -> Option<Result<Arc<dyn Backend>, Unsupported>> {
        matches!(section, Storage::Tekton).then(|| Ok(Arc::new(Tekton) as Arc<dyn Backend>))
    }
}
