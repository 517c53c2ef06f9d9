//! DKIM signatures checked by an independent verifier: dkimpy (with PyNaCl
//! for Ed25519), installed by `scripts/install-test-deps.sh`. The tests
//! that call [`verify`] are `#[ignore]`d outside CI when `build.rs` finds
//! no dkimpy (cfg `missing_dkimpy`, `missing_pynacl`).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use base64::Engine as _;

use super::site::{Site, fixture};

/// The DER inside a PEM file.
fn pem_der(path: &Path) -> Vec<u8> {
    let pem = std::fs::read_to_string(path).unwrap();
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

/// The DNS TXT record for the public half of a key in `tests/fixtures/dkim/`.
pub fn dkim_record(public_pem: &str, ed25519: bool) -> String {
    let der = pem_der(&fixture(&format!("dkim/{public_pem}")));
    let b64 = base64::engine::general_purpose::STANDARD;
    if ed25519 {
        // SubjectPublicKeyInfo of Ed25519: a 12-byte prefix, then the key.
        assert_eq!(der.len(), 44);
        format!("v=DKIM1; k=ed25519; p={}", b64.encode(&der[12..]))
    } else {
        format!("v=DKIM1; k=rsa; p={}", b64.encode(&der))
    }
}

/// Panics unless python3 can import `modules` (a test that got this far
/// was not ignored: the tool must be there).
pub fn require_python(modules: &str) {
    let ok = std::process::Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "`python3 -c 'import {modules}'` fails: run scripts/install-test-deps.sh \
         (pip install dkimpy pynacl)"
    );
}

const VERIFY_PY: &str = r#"
import sys, dkim
record = sys.argv[1].encode()
def dnsfunc(name, timeout=5):
    if name.rstrip(b".") == b"digest._domainkey.glossary.example":
        return record
    return None
bad = 0
for path in sys.argv[2:]:
    message = open(path, "rb").read()
    if not dkim.verify(message, dnsfunc=dnsfunc):
        print("FAIL", path)
        bad += 1
    else:
        print("ok", path)
sys.exit(1 if bad else 0)
"#;

/// dkimpy's verdict on the messages at `paths`, with `record` as the DNS
/// TXT record of `digest._domainkey.glossary.example`: its output, which
/// succeeded when every signature verified.
pub fn verify(site: &Site, record: &str, paths: &[PathBuf]) -> std::process::Output {
    require_python("dkim");
    site.write("verify.py", VERIFY_PY);
    std::process::Command::new("python3")
        .arg(site.path("verify.py"))
        .arg(record)
        .args(paths)
        .output()
        .expect("run python3")
}
