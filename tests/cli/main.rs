//! The command line, tested against the built binary: one module per
//! command, and a small builder for a temporary site (content, config,
//! database) so each test starts from a known state.

mod browser;
mod deliverability;
mod hostile;
mod preview;
mod send;
mod serve;
mod smtp;
mod subscribers;
mod terms;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use tempfile::TempDir;

/// The repository root, where `content/`, `templates/` and `tests/fixtures/` are.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(path: &str) -> PathBuf {
    repo().join("tests/fixtures").join(path)
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
        site.write(
            "digest.toml",
            format!(
                "[smtp]\nurl = \"{}\"\ntimeout_secs = 5\n",
                shared_smtp().url()
            ),
        );
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

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// `digest ARGS` run in the site folder at Sunday 2026-11-29 noon UTC.
    pub fn digest(&self, args: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("digest").expect("binary built");
        cmd.current_dir(self.dir.path())
            .env_remove("DIGEST_CONFIG")
            .env_remove("DIGEST_DB")
            .env_remove("RUST_LOG")
            .env("DIGEST_NOW", "2026-11-29T12:00:00Z")
            .args(args);
        cmd
    }
}

/// One SMTP server for every test that does not need its own.
pub fn shared_smtp() -> &'static smtp::TestSmtp {
    static SERVER: std::sync::OnceLock<smtp::TestSmtp> = std::sync::OnceLock::new();
    SERVER.get_or_init(smtp::TestSmtp::start)
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

/// Standard output and error of a finished command, as text.
pub fn output(assert: &assert_cmd::assert::Assert) -> (String, String) {
    let out = assert.get_output();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
