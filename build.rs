//! Finds the external tools some tests need, so that a test whose tool is
//! missing shows as ignored instead of passing without checking anything.
//!
//! For each tool that is missing this sets a cfg, used in `tests/cli/` as
//! `#[cfg_attr(missing_chromium, ignore = "...")]`:
//!
//! | cfg | missing |
//! | --- | --- |
//! | `missing_chromium` | `/usr/bin/chromium` or `/usr/bin/chromedriver` |
//! | `missing_spamassassin` | `spamassassin` on `PATH` |
//! | `missing_dkimpy` | `python3 -c 'import dkim'` fails |
//! | `missing_pynacl` | `python3 -c 'import nacl'` fails |
//! | `missing_html_validate` | `target/test-tools/node_modules/.bin/html-validate` |
//! | `missing_flufl` | `python3 -c 'import flufl.bounce'` fails |
//! | `missing_feedparser` | `python3 -c 'import feedparser'` fails |
//! | `missing_postfix` | `/usr/sbin/postfix` |
//! | `missing_dovecot` | `/usr/sbin/dovecot` |
//! | `missing_dnsmasq` | `/usr/sbin/dnsmasq` |
//! | `missing_doiuse_email` | `target/test-tools/node_modules/@jsx-email/doiuse-email` |
//!
//! Under CI (`CI` set) none is set: there a missing tool fails its tests.
//!
//! The script runs again when `CI` or `PATH` changes, or when this file is
//! touched (`scripts/install-test-deps.sh` touches it after installing
//! something). It uses no crate and starts at most one process (python3).
//!
//! It also lists the built-in templates: every `.html` and `.txt` file
//! under `templates/` is embedded in the binary (`render::BUILTINS`), so a
//! template added to the folder is built in without a list to keep.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const CFGS: [&str; 11] = [
    "missing_chromium",
    "missing_spamassassin",
    "missing_dkimpy",
    "missing_pynacl",
    "missing_html_validate",
    "missing_flufl",
    "missing_feedparser",
    "missing_postfix",
    "missing_dovecot",
    "missing_dnsmasq",
    "missing_doiuse_email",
];

fn main() {
    embed_templates();
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-changed=build.rs");
    for cfg in CFGS {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }
    if env::var_os("CI").is_some() {
        return;
    }

    let root = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let [dkim, nacl, flufl, feedparser] = python_modules();
    let present = [
        Path::new("/usr/bin/chromium").exists() && Path::new("/usr/bin/chromedriver").exists(),
        on_path("spamassassin"),
        dkim,
        nacl,
        root.join("target/test-tools/node_modules/.bin/html-validate")
            .exists(),
        flufl,
        feedparser,
        Path::new("/usr/sbin/postfix").exists(),
        Path::new("/usr/sbin/dovecot").exists(),
        Path::new("/usr/sbin/dnsmasq").exists(),
        root.join("target/test-tools/node_modules/@jsx-email/doiuse-email/package.json")
            .exists(),
    ];
    for (cfg, present) in CFGS.into_iter().zip(present) {
        if !present {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}

fn on_path(name: &str) -> bool {
    env::var_os("PATH")
        .is_some_and(|path| env::split_paths(&path).any(|dir| dir.join(name).is_file()))
}

/// The Python modules the tests use, as independent checkers.
const PYTHON_MODULES: [&str; 4] = ["dkim", "nacl", "flufl.bounce", "feedparser"];

/// Whether python3 can import each of [`PYTHON_MODULES`], in one run of
/// python3.
fn python_modules() -> [bool; 4] {
    let names = PYTHON_MODULES
        .iter()
        .map(|m| format!("'{m}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let script = format!(
        "import importlib.util as u\n\
         def has(m):\n\
         \x20   try: return u.find_spec(m) is not None\n\
         \x20   except ImportError: return False\n\
         print(*(has(m) for m in ({names},)))"
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    let mut present = [false; PYTHON_MODULES.len()];
    if let Ok(out) = out
        && out.status.success()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        for (slot, word) in present.iter_mut().zip(text.split_whitespace()) {
            *slot = word == "True";
        }
    }
    present
}

/// Write `$OUT_DIR/builtin_templates.rs`: `(name, include_str!(path))` for
/// every template under `templates/`, sorted by name.
fn embed_templates() {
    let root = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dir = root.join("templates");
    println!("cargo::rerun-if-changed=templates");
    let mut found = Vec::new();
    collect_templates(&dir, &dir, &mut found);
    found.sort();
    let mut out = String::from("&[\n");
    for (name, path) in found {
        out.push_str(&format!("    ({name:?}, include_str!({path:?})),\n"));
    }
    out.push_str("]\n");
    let target =
        PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("builtin_templates.rs");
    std::fs::write(&target, out).expect("OUT_DIR is writable");
}

fn collect_templates(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_templates(root, &path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("html" | "txt")
        ) && let Ok(rel) = path.strip_prefix(root)
        {
            let name = rel.to_string_lossy().replace('\\', "/");
            out.push((name, path.to_string_lossy().into_owned()));
        }
    }
}
