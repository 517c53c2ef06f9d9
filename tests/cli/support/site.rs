//! The temporary site every test starts from, and generated subscribers.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assert_cmd::Command;
use tempfile::TempDir;

use super::config::Config;
use super::fmt::thousands;
use super::run::{digest_in, run};
use super::smtp::TestSmtp;

/// The repository root, where `content/`, `templates/` and `tests/fixtures/` are.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(path: &str) -> PathBuf {
    repo().join("tests/fixtures").join(path)
}

/// One SMTP server for every test that does not need its own.
pub fn shared_smtp() -> &'static TestSmtp {
    static SERVER: OnceLock<TestSmtp> = OnceLock::new();
    SERVER.get_or_init(TestSmtp::start)
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A temporary site: a folder with `digest.toml`, `content/` and whatever a
/// test adds. Commands run inside it, with a pinned clock.
pub struct Site {
    pub dir: TempDir,
}

impl Default for Site {
    fn default() -> Self {
        Site::new()
    }
}

impl Site {
    /// An empty site with a config that pins the things snapshots depend on.
    pub fn new() -> Site {
        let dir = tempfile::tempdir().expect("temp dir");
        let site = Site { dir };
        // Confirmation mail (`subscribe --pending`) goes to a server shared
        // by the whole test binary; tests that write their own config set
        // their own.
        site.config(&Config::new().smtp_url(&shared_smtp().url()));
        std::fs::create_dir_all(site.path("content")).unwrap();
        site
    }

    /// A site whose content is a copy of a fixture glossary folder.
    pub fn with_content(fixture_dir: &Path) -> Site {
        let site = Site::new();
        copy_dir(fixture_dir, &site.path("content"));
        site
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: impl AsRef<[u8]>) -> &Self {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    /// Replace `digest.toml`.
    pub fn config(&self, config: &Config) -> &Self {
        self.write("digest.toml", config.text())
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// `digest ARGS` run in the site folder at Sunday 2026-11-29 noon UTC
    /// (see [`digest_in`]).
    pub fn digest(&self, args: &[&str]) -> Command {
        digest_in(self.dir.path(), args)
    }
}

// ---------------------------------------------------------- subscribers --

/// One subscriber of a generated list.
#[derive(Clone, Debug)]
pub struct Sub {
    pub email: String,
    pub name: Option<String>,
    pub role: Option<&'static str>,
}

/// `n` subscribers in import (and id) order: the first is "Zoë Ünal", an
/// executive; every fourth has no name; roles rotate, some have none.
pub fn subscribers(n: usize) -> Vec<Sub> {
    (0..n)
        .map(|i| Sub {
            email: format!("reader{i:04}@example.org"),
            name: match i {
                0 => Some("Zoë Ünal".to_string()),
                _ if i % 4 == 3 => None,
                _ => Some(format!("Reader {i}")),
            },
            role: [
                Some("executive"),
                None,
                Some("technical_lead"),
                Some("business_owner"),
                Some("executive"),
            ][i % 5],
        })
        .collect()
}

/// The small fixture site with this config and `subs` imported as active
/// subscribers.
pub fn site_with(config: &Config, subs: &[Sub]) -> Site {
    let site = Site::with_content(&fixture("small/content"));
    site.config(config);
    import(&site, subs);
    site
}

/// `digest subscribers import` of `subs`, which must import every one.
pub fn import(site: &Site, subs: &[Sub]) {
    let mut csv = String::from("email,name,role\n");
    for s in subs {
        csv += &format!(
            "{},{},{}\n",
            s.email,
            s.name.as_deref().unwrap_or(""),
            s.role.unwrap_or("")
        );
    }
    site.write("import.csv", csv);
    let run = run(site, &["subscribers", "import", "import.csv"]);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (
            0,
            format!(
                "imported {}, skipped 0 existing, rejected 0\n",
                thousands(subs.len())
            )
            .as_str()
        ),
        "{}",
        run.stderr
    );
}
