//! What the private Postfix and Dovecot share: a daemon whose master
//! writes a pid file after it binds its port, on a machine whose init may
//! leave orphans as zombies for a while.

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::thread;
use std::time::{Duration, Instant};

/// Whether, before `deadline` from now, `port` on 127.0.0.1 accepts a
/// connection and the master has written its pid file (`master_pid`);
/// false as soon as the master is gone. The port alone is not enough: the
/// master binds it before it daemonizes and writes the pid file, which
/// stopping it needs.
pub fn wait_for_port(master_pid: impl Fn() -> Option<u32>, port: u16, deadline: Duration) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + deadline;
    while Instant::now() < deadline {
        match master_pid() {
            Some(pid) if !alive(pid) => return false,
            Some(_) if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() => {
                return true;
            }
            _ => {}
        }
        thread::sleep(Duration::from_millis(10));
    }
    false
}

/// Whether a process runs: it exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    // "pid (comm) state ...": comm may hold spaces and parentheses.
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let (_, rest) = stat.rsplit_once(')')?;
            rest.split_whitespace().next().map(|s| s != "Z" && s != "X")
        })
        .unwrap_or(false)
}

pub fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

/// A command's output, for a panic message.
pub fn output_text(out: &Output) -> String {
    format!("--- output:\n{}", String::from_utf8_lossy(&out.stdout))
}

/// The pid in a daemon's pid file.
pub fn read_pid(file: &Path) -> Option<u32> {
    fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// SIGKILL to `pid`'s process group (a master that leads its own session,
/// and every process it started).
pub fn kill_group(pid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .status();
}
