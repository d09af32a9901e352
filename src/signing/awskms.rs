//! `signers.kms.kmsref: awskms://[ENDPOINT]/KEY`: signatures made by an AWS
//! KMS key (key id, key ARN, alias or alias ARN), as sigstore's awskms makes
//! them, so `cosign verify --key awskms://…` checks them.
//!
//! - Region and credentials: the standard AWS chain (`AWS_REGION`, `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, profiles,
//!   `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN` (EKS IRSA), container and
//!   instance roles). An ARN's region wins over the environment's.
//! - Endpoint: `https://ENDPOINT` when the reference names one, else
//!   `AWS_ENDPOINT_URL_KMS` / `AWS_ENDPOINT_URL`, else AWS.
//! - One request per signature: the public key is fetched once per process
//!   and per key; when an alias is moved to another key, the first signature
//!   by it fetches that key's public key, once.
//! - Retries are ours (the SDK's are off); each request has `--http-timeout`.

pub(super) mod key;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kms::config::http::HttpResponse;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};
use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;

use self::key::{Algorithm, Reference, SCHEME};
use super::{SignError, Signature, Signer, Verifier};
use crate::config::SigningIdentity;
use crate::http::REQUEST_TIMEOUT;
use crate::remote::RemoteError;
use crate::seam::{Env, Factory, Unsupported};

/// An AWS KMS error code that trying again can help with.
const RETRYABLE_CODES: &[&str] = &["KMSInternalException", "DependencyTimeoutException", "KeyUnavailableException"];

/// A KMS key as fetched: its ARN, how it signs, and its public key.
struct Key {
    arn: String,
    algorithm: Algorithm,
    pem: Arc<str>,
}

/// One `awskms://` reference.
pub struct AwsKey {
    requests: Counter,
    /// The kmsref, for messages (never a credential).
    target: String,
    reference: Reference,
    timeout: Duration,
    client: tokio::sync::OnceCell<aws_sdk_kms::Client>,
    current: Mutex<Option<Arc<Key>>>,
    /// Held while a key is fetched.
    fetching: tokio::sync::Mutex<()>,
}

/// An SDK error as a [`RemoteError`] at `target`.
fn remote<E>(target: &str, e: aws_sdk_kms::error::SdkError<E, HttpResponse>) -> RemoteError
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    crate::aws::remote(target, e, RETRYABLE_CODES)
}

impl AwsKey {
    fn invalid(&self, message: String) -> SignError {
        SignError::Remote(RemoteError::invalid(None, message).at(&self.target))
    }

    async fn client(&self) -> &aws_sdk_kms::Client {
        self.client
            .get_or_init(|| async {
                let sdk = crate::aws::sdk_config(self.timeout, self.reference.region.as_deref(), None).await;
                let mut conf = aws_sdk_kms::config::Builder::from(&sdk);
                if let Some(endpoint) = &self.reference.endpoint {
                    conf = conf.endpoint_url(format!("https://{endpoint}"));
                }
                aws_sdk_kms::Client::from_conf(conf.build())
            })
            .await
    }

    /// The key in force, from memory unless `arn` names another one (an
    /// alias moved); fetched once however many signatures ask at a time.
    async fn key(&self, arn: Option<&str>) -> Result<Arc<Key>, SignError> {
        let cached = || self.current.lock().clone().filter(|k| arn.is_none_or(|a| a == k.arn));
        if let Some(k) = cached() {
            return Ok(k);
        }
        let _one = self.fetching.lock().await;
        if let Some(k) = cached() {
            return Ok(k);
        }
        let id = arn.unwrap_or(&self.reference.key_id);
        self.requests.inc();
        let out = self.client().await.get_public_key().key_id(id).send().await.map_err(|e| remote(&self.target, e))?;
        let offered: Vec<&str> = out.signing_algorithms().iter().map(SigningAlgorithmSpec::as_str).collect();
        let algorithm = Algorithm::choose(&offered).map_err(|e| self.invalid(e))?;
        let der = out.public_key().ok_or_else(|| self.invalid("GetPublicKey: no PublicKey".into()))?;
        let pem = key::public_pem(der.as_ref()).map_err(|e| self.invalid(e))?;
        let arn = out.key_id().ok_or_else(|| self.invalid("GetPublicKey: no KeyId".into()))?.to_string();
        let k = Arc::new(Key { arn, algorithm, pem: pem.into() });
        *self.current.lock() = Some(k.clone());
        Ok(k)
    }

    /// `Sign` of `msg`'s digest with `key`'s algorithm: (the ARN that signed, the signature).
    async fn sign_with(&self, key: &Key, msg: &[u8]) -> Result<(String, Vec<u8>), RemoteError> {
        self.requests.inc();
        let out = (self.client().await.sign())
            .key_id(&self.reference.key_id)
            .message(Blob::new(key.algorithm.digest(msg)))
            .message_type(MessageType::Digest)
            .signing_algorithm(SigningAlgorithmSpec::from(key.algorithm.name()))
            .send()
            .await
            .map_err(|e| remote(&self.target, e))?;
        let bad = |m: &str| RemoteError::invalid(None, format!("Sign: {m}")).at(&self.target);
        let sig = out.signature().ok_or_else(|| bad("no Signature"))?.as_ref().to_vec();
        Ok((out.key_id().ok_or_else(|| bad("no KeyId"))?.to_string(), sig))
    }
}

#[async_trait::async_trait]
impl Signer for AwsKey {
    async fn sign(&self, msg: &[u8]) -> Result<Signature, SignError> {
        let mut key = self.key(None).await?;
        let (arn, bytes) = match self.sign_with(&key, msg).await {
            Ok(done) => done,
            // An alias moved to a key that signs otherwise: look again, once.
            Err(e) if !e.retryable && e.status.is_some() => {
                *self.current.lock() = None;
                let fresh = self.key(None).await?;
                if fresh.arn == key.arn && fresh.algorithm == key.algorithm {
                    return Err(e.into());
                }
                key = fresh;
                self.sign_with(&key, msg).await?
            }
            Err(e) => return Err(e.into()),
        };
        if arn != key.arn {
            // The alias points to another key now: its public key, fetched once.
            key = self.key(Some(&arn)).await?;
        }
        Ok(Signature { bytes, verifier: Verifier { public_key_pem: key.pem.clone(), cert: None, chain: None } })
    }

    async fn verifier(&self) -> Result<Verifier, SignError> {
        let key = self.key(None).await?;
        Ok(Verifier { public_key_pem: key.pem.clone(), cert: None, chain: None })
    }
}

/// The awskms factory: one [`AwsKey`] per reference, kept across config
/// changes (so keys are fetched once per process).
pub struct AwsKms {
    requests: Counter,
    timeout: Duration,
    keys: Mutex<std::collections::HashMap<String, Arc<AwsKey>>>,
}

/// Makes the awskms factory.
pub fn factory(env: &Env) -> Option<Arc<dyn Factory<SigningIdentity, dyn Signer>>> {
    Some(Arc::new(AwsKms {
        requests: env.kms_requests.clone(),
        timeout: env.http_timeout.unwrap_or(REQUEST_TIMEOUT),
        keys: Mutex::default(),
    }))
}

impl Factory<SigningIdentity, dyn Signer> for AwsKms {
    fn name(&self) -> &'static str {
        "awskms"
    }

    fn build(&self, identity: &SigningIdentity) -> Option<Result<Arc<dyn Signer>, Unsupported>> {
        let (kmsref, _, reference) = match super::kmsref::of_scheme(identity, SCHEME, "awskms signer", key::parse)? {
            Ok(parsed) => parsed,
            Err(refusal) => return Some(Err(refusal)),
        };
        let mut keys = self.keys.lock();
        let k = keys.entry(kmsref.to_string()).or_insert_with(|| {
            Arc::new(AwsKey {
                requests: self.requests.clone(),
                target: kmsref.to_string(),
                reference,
                timeout: self.timeout,
                client: tokio::sync::OnceCell::new(),
                current: Mutex::new(None),
                fetching: tokio::sync::Mutex::new(()),
            })
        });
        Some(Ok(k.clone() as Arc<dyn Signer>))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KmsAuth;

    fn kms(kmsref: &str) -> SigningIdentity {
        SigningIdentity::Kms { kmsref: kmsref.into(), auth: KmsAuth::default() }
    }

    #[test]
    fn it_serves_only_awskms_references_and_keeps_each_one() {
        let f = factory(&Env::default()).unwrap();
        assert!(f.build(&SigningIdentity::Keys).is_none());
        assert!(f.build(&kms("hashivault://k")).is_none());
        let (Some(Ok(a)), Some(Ok(b))) = (f.build(&kms("awskms:///alias/c")), f.build(&kms("awskms:///alias/c")))
        else {
            panic!()
        };
        assert!(Arc::ptr_eq(&a, &b), "its key cache is kept");
        let Some(Err(e)) = f.build(&kms("awskms:///c")) else { panic!() };
        assert_eq!(e.key, "signers.kms.kmsref");
        assert!(e.supported.contains("alias/NAME"), "{e:?}");
    }
}
