//! `digest serve` as a child process on a free port, and raw HTTP/1.1
//! requests to it: for the tests that need the real server (its peer
//! addresses, its log, its environment).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::ports::free_port;
use super::run::to_std;
use super::site::Site;

/// A running `digest serve`, stopped when dropped.
pub struct Server {
    pub port: u16,
    child: Child,
    log: PathBuf,
}

impl Server {
    /// Start it in `site` with these extra environment variables, and
    /// wait until `/healthz` answers.
    pub fn start(site: &Site, env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let log = site.path("serve.log");
        let mut cmd = to_std(&site.digest(&["serve", "--listen", &format!("127.0.0.1:{port}")]));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("a log file"))
            .spawn()
            .expect("digest serve starts");
        let mut server = Server { port, child, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("digest serve exited early ({status}):\n{}", server.log());
            }
            if let Ok((200, _)) = server.request("GET", "/healthz", &[], b"") {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "no answer on port {port}:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `POST path`, which must get an answer: (status, body).
    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
        self.request("POST", path, headers, body)
            .unwrap_or_else(|e| panic!("POST {path}: {e}\n{}", self.log()))
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            head += &format!("{k}: {v}\r\n");
        }
        head += "\r\n";
        stream.write_all(head.as_bytes())?;
        // A server may answer (413) before reading a large body.
        let _ = stream.write_all(body);
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        let text = String::from_utf8_lossy(&response).to_string();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("no status line in {text:?}")))?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Ok((status, body))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
