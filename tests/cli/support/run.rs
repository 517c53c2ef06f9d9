//! `digest` as the tests run it, and what a finished run left.

use std::path::Path;
use std::time::{Duration, Instant};

use assert_cmd::Command;

use super::site::Site;

/// The pinned clock of every run: Sunday 2026-11-29, noon UTC (in 2026-W48).
pub const NOW: &str = "2026-11-29T12:00:00Z";

/// How long any single command may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(90);

/// Variables of the test's own environment that a run must not see.
const UNSET: [&str; 6] = [
    "DIGEST_CONFIG",
    "DIGEST_DB",
    "RUST_LOG",
    "DIGEST_SMTP_USERNAME",
    "DIGEST_SMTP_PASSWORD",
    "DIGEST_SMTP_PASSWORD_FILE",
];

/// `digest ARGS` in `dir` at [`NOW`], without configuration, database,
/// log level or SMTP credentials from the environment, killed after
/// [`PATIENCE`].
pub fn digest_in(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("digest").expect("binary built");
    cmd.current_dir(dir);
    for var in UNSET {
        cmd.env_remove(var);
    }
    cmd.env("DIGEST_NOW", NOW).args(args).timeout(PATIENCE);
    cmd
}

/// The same environment for another program (such as `script` running
/// `digest` on a terminal).
pub fn pin_env(cmd: &mut std::process::Command) -> &mut std::process::Command {
    for var in UNSET {
        cmd.env_remove(var);
    }
    cmd.env("DIGEST_NOW", NOW)
}

/// A `std::process::Command` with exactly the program, arguments,
/// environment and folder of `cmd`, to spawn in the background.
pub fn to_std(cmd: &Command) -> std::process::Command {
    let mut std_cmd = std::process::Command::new(cmd.get_program());
    std_cmd.args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => std_cmd.env(key, v),
            None => std_cmd.env_remove(key),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        std_cmd.current_dir(dir);
    }
    std_cmd
}

/// A finished command.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Compares exit code, standard output and standard error (not the time).
impl PartialEq<(i32, String, String)> for Run {
    fn eq(&self, (code, stdout, stderr): &(i32, String, String)) -> bool {
        self.code == *code && self.stdout == *stdout && self.stderr == *stderr
    }
}

/// Run `cmd` to the end; panics when it was killed (by a signal or the
/// [`PATIENCE`] timeout).
pub fn finish(mut cmd: Command) -> Run {
    let started = Instant::now();
    let assert = cmd.assert();
    let elapsed = started.elapsed();
    let (stdout, stderr) = output(&assert);
    let code = assert.get_output().status.code().unwrap_or_else(|| {
        panic!(
            "killed (by a signal or the {PATIENCE:?} timeout)\nstdout:\n{stdout}\nstderr:\n{stderr}"
        )
    });
    Run {
        code,
        stdout,
        stderr,
        elapsed,
    }
}

/// `digest ARGS` in the site, to the end.
pub fn run(site: &Site, args: &[&str]) -> Run {
    finish(site.digest(args))
}

/// `digest ARGS` at another time than [`NOW`].
pub fn run_at(site: &Site, now: &str, args: &[&str]) -> Run {
    let mut cmd = site.digest(args);
    cmd.env("DIGEST_NOW", now);
    finish(cmd)
}

/// `digest ARGS`, which must succeed and print nothing on standard error;
/// its standard output.
pub fn ok(site: &Site, args: &[&str]) -> String {
    let Run {
        code,
        stdout,
        stderr,
        ..
    } = run(site, args);
    assert_eq!(
        code, 0,
        "digest {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(stderr, "", "digest {args:?}");
    stdout
}

/// Standard output and error of a finished command, as text.
pub fn output(assert: &assert_cmd::assert::Assert) -> (String, String) {
    let out = assert.get_output();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
