//! DSSE envelopes (in-toto attestations): PAE and the envelope JSON.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

/// Payload type of in-toto statements.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// A DSSE envelope, with field names and order as in the DSSE spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// base64 of the payload.
    pub payload: String,
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature in an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    pub keyid: String,
    /// base64 of the signature bytes.
    pub sig: String,
}

/// Pre-Authentication Encoding: `DSSEv1 <len(type)> <type> <len(body)> <body>`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Signs `payload` into an envelope with `sign` (which signs the PAE bytes).
pub fn wrap(payload_type: &str, payload: &[u8], sign: impl FnOnce(&[u8]) -> Vec<u8>) -> Envelope {
    envelope(payload_type, payload, &sign(&pae(payload_type, payload)))
}

/// The envelope of `payload` with `sig`, a signature over its PAE.
pub fn envelope(payload_type: &str, payload: &[u8], sig: &[u8]) -> Envelope {
    Envelope {
        payload_type: payload_type.into(),
        payload: STANDARD.encode(payload),
        signatures: vec![EnvelopeSignature { keyid: String::new(), sig: STANDARD.encode(sig) }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_spec_example() {
        // From the DSSE spec: PAE("http://example.com/HelloWorld", "hello world")
        let got = pae("http://example.com/HelloWorld", b"hello world");
        assert_eq!(got, b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec());
    }

    #[test]
    fn envelope_field_order_and_base64() {
        let env = wrap(IN_TOTO_PAYLOAD_TYPE, b"{}", |m| m[..4].to_vec());
        let json = serde_json::to_string(&env).unwrap();
        assert_eq!(
            json,
            r#"{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"","sig":"RFNTRQ=="}]}"#
        );
    }
}
