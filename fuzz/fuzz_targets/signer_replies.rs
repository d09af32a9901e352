//! The replies of remote signers, untrusted: Vault Transit (key versions,
//! signatures, logins), AWS KMS (public keys, references), Cloud KMS
//! (public keys, version lists, signatures, references) and Fulcio
//! (certificate chains, identity token subjects). Property: no panic; what
//! parses is consistent (a Transit key lists its latest version, a Fulcio
//! certificate is renewed before it expires).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tekton_chains_operator::signing::replies::*;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(k) = vault_key(data) {
        assert!(k.public.contains_key(&k.latest), "the latest version has a key");
    }
    let _ = vault_signature(data);
    let _ = vault_login(data);
    let _ = vault_key_name(&text);
    let _ = aws_public_pem(data);
    let _ = aws_reference(&text);
    let _ = gcp_reference(&text);
    let _ = gcp_public_key(data, "asked");
    let _ = gcp_newest_enabled(data, "projects/p/locations/l/keyRings/r/cryptoKeys/k");
    for input in [GcpInput::Sha256, GcpInput::Message] {
        let _ = gcp_signature(data, input);
    }
    let _ = token_subject(&text);
    // The first 91 bytes as "our key" (a P-256 SPKI is 91 bytes), the rest as the reply.
    let (key, reply) = data.split_at(data.len().min(91));
    if let Ok(issued) = fulcio_certificate(reply, key) {
        assert!(issued.renew_at <= issued.not_after, "renewed before it expires");
    }
});
