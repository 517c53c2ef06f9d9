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
//!
//! Under CI (`CI` set) none is set: there a missing tool fails its tests.
//!
//! The script runs again when `CI` or `PATH` changes, or when this file is
//! touched (`scripts/install-test-deps.sh` touches it after installing
//! something). It uses no crate and starts at most one process (python3).

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const CFGS: [&str; 5] = [
    "missing_chromium",
    "missing_spamassassin",
    "missing_dkimpy",
    "missing_pynacl",
    "missing_html_validate",
];

fn main() {
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
    let (dkim, nacl) = python_modules();
    let present = [
        Path::new("/usr/bin/chromium").exists() && Path::new("/usr/bin/chromedriver").exists(),
        on_path("spamassassin"),
        dkim,
        nacl,
        root.join("target/test-tools/node_modules/.bin/html-validate")
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

/// Whether python3 can import `dkim` and `nacl`, in one run of python3.
fn python_modules() -> (bool, bool) {
    let out = Command::new("python3")
        .args([
            "-c",
            "import importlib.util as u\n\
             print(*(u.find_spec(m) is not None for m in ('dkim', 'nacl')))",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    match out {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let mut answers = text.split_whitespace().map(|w| w == "True");
            (
                answers.next().unwrap_or(false),
                answers.next().unwrap_or(false),
            )
        }
        _ => (false, false),
    }
}
