//! `simplesigning`: the cosign container image signature payload.

use serde_json::json;

use super::Image;

/// `{"critical":{"identity":{"docker-reference":..},"image":{"docker-manifest-digest":..},"type":..},"optional":{}}`
pub fn payload(image: &Image) -> Vec<u8> {
    let v = json!({
        "critical": {
            "identity": { "docker-reference": image.repo },
            "image": { "docker-manifest-digest": image.digest },
            "type": "cosign container image signature",
        },
        "optional": {},
    });
    serde_json::to_vec(&v).expect("JSON value serializes")
}

/// The predicate type of an image signature in the sigstore bundle format.
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

/// An image signature as cosign v3 `sign` makes it for the sigstore bundle
/// format: an in-toto v1 statement about the image with an empty
/// `https://sigstore.dev/cosign/sign/v1` predicate, signed in a DSSE
/// envelope. (`cosign verify --new-bundle-format` takes only DSSE bundles.)
pub fn cosign_sign_statement(image: &Image) -> Vec<u8> {
    let v = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{ "name": image.repo, "digest": { "sha256": image.digest_hex() } }],
        "predicateType": COSIGN_SIGN_PREDICATE,
        "predicate": {},
    });
    serde_json::to_vec(&v).expect("JSON value serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_statement_names_the_image_by_digest() {
        let img = Image { repo: "quay.io/a/b".into(), digest: format!("sha256:{}", "2".repeat(64)) };
        let v: serde_json::Value = serde_json::from_slice(&cosign_sign_statement(&img)).unwrap();
        assert_eq!(v["predicateType"], COSIGN_SIGN_PREDICATE);
        assert_eq!(v["subject"][0]["digest"]["sha256"], "2".repeat(64));
        assert_eq!(v["subject"][0]["name"], "quay.io/a/b");
        assert_eq!(v["predicate"], json!({}));
    }

    #[test]
    fn matches_cosign_layout() {
        let img = Image { repo: "quay.io/a/b".into(), digest: format!("sha256:{}", "1".repeat(64)) };
        let got = String::from_utf8(payload(&img)).unwrap();
        assert_eq!(
            got,
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"quay.io/a/b"}},"image":{{"docker-manifest-digest":"sha256:{}"}},"type":"cosign container image signature"}},"optional":{{}}}}"#,
                "1".repeat(64)
            )
        );
    }
}
