//! Fulcio, pure: the identity token's subject (the proof-of-possession
//! challenge), the `POST /api/v2/signingCert` body, and the reply: the
//! certificate chain, checked to be for our key, and when to renew it.
//! Replies and tokens are untrusted: nothing here panics on them.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use pkcs8::der::{DecodePem as _, Encode as _};
use serde::Deserialize;
use x509_cert::Certificate;

/// The least time before expiry a certificate is renewed.
const MIN_MARGIN: Duration = Duration::from_secs(30);

/// What an OIDC token's subject is to Fulcio: its `email` when it has one,
/// else its `sub` (what the proof of possession signs, as cosign does).
pub fn subject(token: &str) -> Result<String, String> {
    let payload = token.split('.').nth(1).ok_or("the identity token is not a JWT")?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|e| format!("the identity token's claims: {e}"))?;
    let claims: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("the identity token's claims: {e}"))?;
    let text = |k: &str| claims.get(k).and_then(|v| v.as_str()).filter(|s| !s.is_empty()).map(str::to_string);
    text("email").or_else(|| text("sub")).ok_or_else(|| "the identity token has neither email nor sub".into())
}

/// The body of `POST /api/v2/signingCert`.
pub fn request(token: &str, public_pem: &str, proof: &[u8]) -> serde_json::Value {
    serde_json::json!({
        "credentials": { "oidcIdentityToken": token },
        "publicKeyRequest": {
            "publicKey": { "algorithm": "ECDSA", "content": public_pem },
            "proofOfPossession": STANDARD.encode(proof),
        },
    })
}

/// A certificate for our key: the leaf and the rest of its chain (PEM), and
/// when it should be renewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub cert: String,
    pub chain: String,
    pub not_after: SystemTime,
    pub renew_at: SystemTime,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reply {
    signed_certificate_embedded_sct: Option<Signed>,
    signed_certificate_detached_sct: Option<Signed>,
}

#[derive(Deserialize)]
struct Signed {
    chain: Chain,
}

#[derive(Deserialize)]
struct Chain {
    certificates: Vec<String>,
}

/// Parses Fulcio's reply; the leaf must certify `public_der` (our key's SPKI).
pub fn parse(reply: &[u8], public_der: &[u8]) -> Result<Issued, String> {
    let r: Reply = serde_json::from_slice(reply).map_err(|e| format!("signingCert reply: {e}"))?;
    let signed = r
        .signed_certificate_embedded_sct
        .or(r.signed_certificate_detached_sct)
        .ok_or("signingCert reply: no signedCertificateEmbeddedSct or signedCertificateDetachedSct")?;
    let mut certs = signed.chain.certificates.into_iter();
    let leaf_pem = certs.next().ok_or("signingCert reply: an empty chain")?;
    let leaf =
        Certificate::from_pem(leaf_pem.as_bytes()).map_err(|e| format!("signingCert reply: the certificate: {e}"))?;
    let tbs = leaf.tbs_certificate();
    let spki = tbs.subject_public_key_info().to_der().map_err(|e| format!("signingCert reply: {e}"))?;
    if spki != public_der {
        return Err("signingCert reply: the certificate is not for the key we sent".into());
    }
    let (not_before, not_after) =
        (tbs.validity().not_before.to_system_time(), tbs.validity().not_after.to_system_time());
    let life =
        not_after.duration_since(not_before).map_err(|_| "signingCert reply: the certificate ends before it starts")?;
    let chain: Vec<String> = certs.collect();
    for c in &chain {
        Certificate::from_pem(c.as_bytes()).map_err(|e| format!("signingCert reply: a chain certificate: {e}"))?;
    }
    let with_newline = |s: &str| if s.ends_with('\n') { s.to_string() } else { format!("{s}\n") };
    Ok(Issued {
        cert: with_newline(&leaf_pem),
        chain: chain.iter().map(|c| with_newline(c)).collect(),
        not_after,
        renew_at: not_after - (life / 4).max(MIN_MARGIN).min(life),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: serde_json::Value) -> String {
        format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(claims.to_string()))
    }

    #[test]
    fn the_challenge_is_the_email_else_the_subject() {
        let sa = "system:serviceaccount:ns:tekton-chains-controller";
        assert_eq!(subject(&jwt(serde_json::json!({"sub": sa}))).unwrap(), sa);
        assert_eq!(subject(&jwt(serde_json::json!({"sub": "1", "email": "a@b.c"}))).unwrap(), "a@b.c");
        for bad in ["", "x", "a.!!.c", &jwt(serde_json::json!([])), &jwt(serde_json::json!({"sub": 1}))] {
            assert!(subject(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hostile_replies_are_errors() {
        for junk in [
            &b"[]"[..],
            b"{}",
            b"1",
            br#"{"signedCertificateEmbeddedSct":{"chain":{"certificates":[]}}}"#,
            br#"{"signedCertificateDetachedSct":{"chain":{"certificates":["not pem"]}}}"#,
        ] {
            assert!(parse(junk, b"").is_err());
        }
    }
}
