//! DKIM: the key as `openssl` writes it, turned into lettre's signing
//! configuration, and the headers the signature covers.

use std::path::Path;

use anyhow::Context as _;
use base64::Engine as _;
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::HeaderName;

use crate::config::Dkim;

/// What the signature covers: what a receiver needs to trust the sender
/// and the unsubscribe headers.
const SIGNED_HEADERS: [&str; 8] = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

/// Load the DKIM key and build lettre's signing configuration: relaxed
/// canonicalization of headers and body, signing the headers a receiver
/// needs to trust the unsubscribe link. Content-Type is left out: lettre
/// 0.11 canonicalizes it wrongly in multipart messages.
pub fn dkim_config(dkim: &Dkim) -> anyhow::Result<DkimConfig> {
    let pem = std::fs::read_to_string(&dkim.private_key_file).with_context(|| {
        format!(
            "cannot read the DKIM key {} ([dkim] private_key_file)",
            dkim.private_key_file.display()
        )
    })?;
    let (key, algorithm) = signing_key(&pem, &dkim.private_key_file)?;
    let key = DkimSigningKey::new(&key, algorithm).map_err(|e| {
        crate::error::InputError(format!(
            "the DKIM key {} is not usable: {e}",
            dkim.private_key_file.display()
        ))
    })?;
    Ok(DkimConfig::new(
        dkim.selector.clone(),
        dkim.domain.clone(),
        key,
        SIGNED_HEADERS
            .iter()
            .map(|h| HeaderName::new_from_ascii_str(h))
            .collect(),
        DkimCanonicalization {
            header: DkimCanonicalizationType::Relaxed,
            body: DkimCanonicalizationType::Relaxed,
        },
    ))
}

/// The Ed25519 algorithm identifier, 1.3.101.112, as it appears in DER.
const ED25519_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];

/// A PEM private key in the form lettre takes: PKCS#1 PEM for RSA, the
/// base64 of the 32-byte seed for Ed25519. Accepts `BEGIN RSA PRIVATE KEY`
/// (PKCS#1), `BEGIN PRIVATE KEY` (PKCS#8, RSA or Ed25519) as `openssl genrsa`
/// and `openssl genpkey` write them.
fn signing_key(pem: &str, path: &Path) -> anyhow::Result<(String, DkimSigningAlgorithm)> {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    use rsa::pkcs8::DecodePrivateKey as _;
    let bad = |why: String| crate::error::InputError(format!("DKIM key {}: {why}", path.display()));
    if pem.contains("BEGIN RSA PRIVATE KEY") {
        return Ok((pem.to_string(), DkimSigningAlgorithm::Rsa));
    }
    if !pem.contains("BEGIN PRIVATE KEY") {
        return Err(bad(
            "not a PEM private key; expected `BEGIN PRIVATE KEY` or `BEGIN RSA PRIVATE KEY` \
             (make one with `openssl genrsa -out dkim.pem 2048`)"
                .into(),
        )
        .into());
    }
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| bad(format!("the PEM body is not base64 ({e})")))?;
    if der.windows(ED25519_OID.len()).any(|w| w == ED25519_OID) {
        // PKCS#8 Ed25519: ... OCTET STRING { OCTET STRING (32 bytes) }.
        let seed = der
            .get(der.len().saturating_sub(32)..)
            .filter(|_| der.len() >= 48)
            .ok_or_else(|| bad("the Ed25519 key is truncated".into()))?;
        return Ok((
            base64::engine::general_purpose::STANDARD.encode(seed),
            DkimSigningAlgorithm::Ed25519,
        ));
    }
    let key = rsa::RsaPrivateKey::from_pkcs8_der(&der)
        .map_err(|e| bad(format!("not an RSA or Ed25519 key ({e})")))?;
    let pkcs1 = key
        .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(|e| bad(format!("cannot convert the RSA key ({e})")))?;
    Ok((pkcs1.to_string(), DkimSigningAlgorithm::Rsa))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_keys_of_every_form_are_recognised() {
        let err = signing_key("hello", Path::new("k.pem"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a PEM private key"), "{err}");
        let (key, alg) = signing_key(
            "-----BEGIN RSA PRIVATE KEY-----\nAAA\n-----END RSA PRIVATE KEY-----\n",
            Path::new("k.pem"),
        )
        .unwrap();
        assert!(matches!(alg, DkimSigningAlgorithm::Rsa));
        assert!(key.contains("BEGIN RSA PRIVATE KEY"));
        // An Ed25519 PKCS#8 key as `openssl genpkey -algorithm ed25519` writes it.
        let ed = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n";
        let (seed, alg) = signing_key(ed, Path::new("k.pem")).unwrap();
        assert!(matches!(alg, DkimSigningAlgorithm::Ed25519));
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(seed)
                .unwrap()
                .len(),
            32
        );
    }
}
