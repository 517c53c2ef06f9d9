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
    let pem = read_key(dkim)?;
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

/// The text of `[dkim] private_key_file`.
fn read_key(dkim: &Dkim) -> anyhow::Result<String> {
    std::fs::read_to_string(&dkim.private_key_file).with_context(|| {
        format!(
            "cannot read the DKIM key {} ([dkim] private_key_file)",
            dkim.private_key_file.display()
        )
    })
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

/// The public half of a DKIM key: what its DNS record must publish.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    Rsa(rsa::RsaPublicKey),
    Ed25519([u8; 32]),
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({}, {})", self.describe(), self.fingerprint())
    }
}

impl PublicKey {
    /// The public half of the key in `[dkim] private_key_file`.
    pub fn of_private_key(dkim: &Dkim) -> anyhow::Result<PublicKey> {
        use rsa::pkcs1::DecodeRsaPrivateKey as _;
        let path = &dkim.private_key_file;
        let pem = read_key(dkim)?;
        let bad =
            |why: String| crate::error::InputError(format!("DKIM key {}: {why}", path.display()));
        match signing_key(&pem, path)? {
            (pkcs1, DkimSigningAlgorithm::Rsa) => {
                let key = rsa::RsaPrivateKey::from_pkcs1_pem(&pkcs1)
                    .map_err(|e| bad(format!("not an RSA private key ({e})")))?;
                Ok(PublicKey::Rsa(key.to_public_key()))
            }
            (seed, DkimSigningAlgorithm::Ed25519) => {
                let seed = base64::engine::general_purpose::STANDARD
                    .decode(seed)
                    .map_err(|e| bad(format!("the Ed25519 seed is not base64 ({e})")))?;
                let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed)
                    .map_err(|_| bad("not a usable Ed25519 key".into()))?;
                use ring::signature::KeyPair as _;
                let mut public = [0u8; 32];
                public.copy_from_slice(pair.public_key().as_ref());
                Ok(PublicKey::Ed25519(public))
            }
        }
    }

    /// The key a DNS record publishes: its `k=` (default `rsa`) and the
    /// base64 of its `p=`. RSA keys are read as SubjectPublicKeyInfo (what
    /// `openssl rsa -pubout` writes) or as a bare PKCS#1 RSAPublicKey.
    pub fn from_record(k: &str, p: &str) -> Result<PublicKey, String> {
        use rsa::pkcs1::DecodeRsaPublicKey as _;
        use rsa::pkcs8::DecodePublicKey as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(p)
            .map_err(|e| format!("its p= is not base64 ({e})"))?;
        match k.to_ascii_lowercase().as_str() {
            "rsa" => rsa::RsaPublicKey::from_public_key_der(&bytes)
                .or_else(|_| rsa::RsaPublicKey::from_pkcs1_der(&bytes))
                .map(PublicKey::Rsa)
                .map_err(|_| "its p= is not an RSA public key".to_string()),
            "ed25519" => <[u8; 32]>::try_from(bytes.as_slice())
                .map(PublicKey::Ed25519)
                .map_err(|_| format!("its p= is {} bytes, not a 32-byte Ed25519 key", bytes.len())),
            other => Err(format!(
                "k={other} is not a key type DKIM signs with (rsa or ed25519)"
            )),
        }
    }

    /// The bytes `p=` carries: SubjectPublicKeyInfo DER for RSA, the raw
    /// key for Ed25519 (RFC 8463).
    fn record_bytes(&self) -> Vec<u8> {
        use rsa::pkcs8::EncodePublicKey as _;
        match self {
            PublicKey::Rsa(key) => key
                .to_public_key_der()
                .map(|der| der.as_bytes().to_vec())
                .unwrap_or_default(),
            PublicKey::Ed25519(key) => key.to_vec(),
        }
    }

    /// The TXT record that publishes this key.
    pub fn record(&self) -> String {
        let k = match self {
            PublicKey::Rsa(_) => "rsa",
            PublicKey::Ed25519(_) => "ed25519",
        };
        format!(
            "v=DKIM1; k={k}; p={}",
            base64::engine::general_purpose::STANDARD.encode(self.record_bytes())
        )
    }

    /// `SHA256:` and the first 16 hex digits of the hash of `p=`'s
    /// bytes: short enough to compare by eye.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest as _;
        let hash = sha2::Sha256::digest(self.record_bytes());
        let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
        format!("SHA256:{hex}")
    }

    /// `RSA 2048-bit` or `Ed25519`.
    pub fn describe(&self) -> String {
        use rsa::traits::PublicKeyParts as _;
        match self {
            PublicKey::Rsa(key) => format!("RSA {}-bit", key.size() * 8),
            PublicKey::Ed25519(_) => "Ed25519".to_string(),
        }
    }
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
