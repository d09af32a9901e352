//! Attaching a sigstore bundle to an image as an OCI 1.1 referrer: the
//! bundle and empty config blobs, the referrer manifest pushed by digest,
//! and, when the registry does not answer `OCI-Subject` (no Referrers
//! API), the entry in the referrers-tag index (`sha256-<hex>`).

use serde_json::{Map, Value};

use super::super::Target;
use super::super::auth::Credential;
use super::super::bundle::{self, Descriptor, EMPTY_CONFIG, OCI_INDEX};
use super::super::distribution::{ACCEPT_IMAGES, Fetched};
use super::super::layout::{OCI_MANIFEST, sha256_digest};
use super::{Appended, Registries};
use crate::remote::RemoteError;

/// A bundle to attach, with its manifest annotations.
#[derive(Debug, Clone, PartialEq)]
pub struct Referrer {
    pub bundle: Vec<u8>,
    pub annotations: Map<String, Value>,
}

impl Registries {
    /// Attaches `r` to the image `subject` (a digest) in `t`'s repository;
    /// `t.tag` is its referrers tag. Serialised per referrers tag in this
    /// process; within the whole-append deadline.
    pub async fn attach(
        &self,
        t: &Target,
        subject: &str,
        cred: Option<&Credential>,
        r: &Referrer,
    ) -> Result<Appended, RemoteError> {
        self.within_deadline(self.attach_now(t, subject, cred, r)).await
    }

    async fn attach_now(
        &self,
        t: &Target,
        subject: &str,
        cred: Option<&Credential>,
        r: &Referrer,
    ) -> Result<Appended, RemoteError> {
        let ep = self.endpoint(&t.registry, t.insecure).await?;
        let http = self.http(t.insecure);
        let lock = self.tag_lock(&format!("{}/{}:{}", t.registry, t.repository, t.tag));
        let _held = lock.lock().await;
        let d = &self.distribution;
        let key = format!("{}/{}@{subject}", t.registry, t.repository);
        let known = self.subjects.lock().get(&key).cloned();
        let subject = match known {
            Some(s) => s,
            None => {
                let Some(image) = d.manifest(http, &ep, &t.repository, subject, ACCEPT_IMAGES, cred).await? else {
                    let shown = format!("the image {subject} is not in {}", t.repository);
                    return Err(RemoteError::invalid(Some(404), shown));
                };
                let s = descriptor(subject, &image)?;
                self.subjects.lock().put(key, s.clone());
                s
            }
        };
        let manifest = bundle::referrer_manifest(&r.bundle, &subject, &r.annotations);
        let index = d.manifest(http, &ep, &t.repository, &t.tag, OCI_INDEX, cred).await?;
        let index = match index {
            None => None,
            Some(f) => Some(
                serde_json::from_slice::<Value>(&f.body)
                    .map_err(|_| RemoteError::invalid(None, format!("the referrers index {} is not JSON", t.tag)))?,
            ),
        };
        let updated = bundle::index_with(index.as_ref(), &manifest, &r.annotations)
            .map_err(|e| RemoteError::invalid(None, format!("the referrers index {}: {e}", t.tag)))?;
        let Some(updated) = updated else {
            return Ok(Appended::Present);
        };
        d.push_blob(http, &ep, &t.repository, &sha256_digest(&r.bundle), &r.bundle, cred).await?;
        d.push_blob(http, &ep, &t.repository, &sha256_digest(EMPTY_CONFIG), EMPTY_CONFIG, cred).await?;
        let digest = sha256_digest(&manifest);
        let native = d.push_manifest(http, &ep, &t.repository, &digest, OCI_MANIFEST, &manifest, cred).await?;
        if !native {
            d.push_manifest(http, &ep, &t.repository, &t.tag, OCI_INDEX, &updated, cred).await?;
        }
        self.pushes.inc();
        Ok(Appended::Pushed)
    }
}

/// The subject descriptor of the image a registry answered with for
/// `digest`; refused when the bytes are not that digest's.
fn descriptor(digest: &str, image: &Fetched) -> Result<Descriptor, RemoteError> {
    let got = sha256_digest(&image.body);
    if got != digest {
        return Err(RemoteError::invalid(None, format!("the registry answered {digest} with a manifest of {got}")));
    }
    let named = serde_json::from_slice::<Value>(&image.body)
        .ok()
        .and_then(|v| v.get("mediaType").and_then(Value::as_str).map(str::to_string));
    let media_type = named.or_else(|| image.media_type.clone()).unwrap_or_else(|| OCI_MANIFEST.to_string());
    Ok(Descriptor { media_type, digest: digest.to_string(), size: image.body.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subject_is_the_manifest_the_digest_names() {
        let body = br#"{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#.to_vec();
        let digest = sha256_digest(&body);
        let fetched = Fetched { body: body.clone(), media_type: Some(OCI_MANIFEST.into()) };
        let d = descriptor(&digest, &fetched).unwrap();
        // The manifest's own mediaType wins over the header.
        assert_eq!(d, Descriptor { media_type: OCI_INDEX.into(), digest: digest.clone(), size: body.len() });
        let plain = Fetched { body: b"{}".to_vec(), media_type: None };
        assert_eq!(descriptor(&sha256_digest(b"{}"), &plain).unwrap().media_type, OCI_MANIFEST);
        // A registry that answers with other bytes than the digest's is refused.
        let err = descriptor(&digest, &plain).unwrap_err();
        assert!(err.message.contains("answered"), "{}", err.message);
    }
}
