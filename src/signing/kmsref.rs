//! What every KMS signer's factory does first: take the `signers.kms.kmsref`
//! of its scheme, and parse it or refuse it naming the key.

use crate::config::{KmsAuth, SigningIdentity};
use crate::seam::Unsupported;

/// A kmsref of `scheme` parsed by `parse`: `None` for another identity or
/// scheme (another factory's), else the kmsref, its auth and the parsed
/// reference, or the refusal `what` gives.
pub fn of_scheme<'a, R>(
    identity: &'a SigningIdentity,
    scheme: &str,
    what: &'static str,
    parse: impl Fn(&str) -> Result<R, String>,
) -> Option<Result<(&'a str, &'a KmsAuth, R), Unsupported>> {
    let SigningIdentity::Kms { kmsref, auth } = identity else { return None };
    if !kmsref.starts_with(scheme) {
        return None;
    }
    Some(match parse(kmsref) {
        Ok(r) => Ok((kmsref, auth, r)),
        Err(supported) => Err(Unsupported { what, key: "signers.kms.kmsref".into(), value: kmsref.clone(), supported }),
    })
}
