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

#[cfg(test)]
mod tests {
    use super::*;

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
