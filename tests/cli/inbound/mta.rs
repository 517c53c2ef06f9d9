//! A real MTA: a private Postfix is the relay for `digest send`; it bounces
//! the reader it has no mailbox for, writes the DSN itself to the VERP
//! address and pipes it through its alias table into `digest inbound -`.
//! A mailto unsubscribe mailed through it unsubscribes.
//!
//! The pipe runs as `nobody`, so the site (config, database, binary) lives
//! in a folder `nobody` can use; every wait is a poll with a deadline.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::status_of;
use crate::support::postfix::Postfix;
use crate::support::{Config, Site, fixture, run};

const DOMAIN: &str = "example.test";

/// Every file and folder under `dir` open to `nobody` (programs stay
/// programs).
fn open_to_everyone(dir: &Path) {
    let executable = std::fs::metadata(dir).unwrap().permissions().mode() & 0o100 != 0;
    let mode = if dir.is_dir() || executable {
        0o777
    } else {
        0o666
    };
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
    if dir.is_dir() {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            open_to_everyone(&entry.path());
        }
    }
}

/// One message over SMTP, the plain way a mail client would.
fn smtp_send(port: u16, from: &str, to: &str, raw: &str) {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let mut expect = |code: &str| loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.starts_with(code), "expected {code}, got {line:?}");
        if line.as_bytes().get(3) != Some(&b'-') {
            break;
        }
    };
    expect("220");
    for (command, code) in [
        ("EHLO reader.example.test".to_string(), "250"),
        (format!("MAIL FROM:<{from}>"), "250"),
        (format!("RCPT TO:<{to}>"), "250"),
        ("DATA".to_string(), "354"),
    ] {
        write!(writer, "{command}\r\n").unwrap();
        expect(code);
    }
    write!(writer, "{}\r\n.\r\n", raw.replace('\n', "\r\n")).unwrap();
    expect("250");
    write!(writer, "QUIT\r\n").unwrap();
}

/// Poll `check` until it holds, for up to a minute.
fn eventually(what: &str, postfix: &Postfix, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(
            Instant::now() < deadline,
            "{what}: not after 60 s\nPostfix log:\n{}",
            postfix.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
#[cfg_attr(
    missing_postfix,
    ignore = "needs Postfix (scripts/install-test-deps.sh installs it)"
)]
fn postfix_bounces_an_unknown_reader_into_digest_inbound_and_a_mailto_unsubscribe_goes_through() {
    let site = Site::with_content(&fixture("small/content"));
    let bin: PathBuf = site.path("bin/digest");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::copy(assert_cmd::cargo::cargo_bin("digest"), &bin).unwrap();
    let config = site.path("digest.toml");
    let pipe = format!("|{} --config {} inbound -", bin.display(), config.display());
    let mbox = |name: &str| site.path(&format!("mail/{name}.mbox"));
    std::fs::create_dir_all(site.path("mail")).unwrap();
    let postfix = Postfix::start(
        DOMAIN,
        &[
            ("bounces", pipe.clone()),
            ("unsubscribe", pipe),
            ("ada", mbox("ada").display().to_string()),
            ("grace", mbox("grace").display().to_string()),
        ],
    );
    site.config(
        &Config::for_send(&postfix.smtp_url())
            .newsletter("from", format!("AI Glossary <digest@{DOMAIN}>").as_str())
            .set(
                "inbound",
                "bounce_address",
                format!("bounces@{DOMAIN}").as_str(),
            )
            .set(
                "inbound",
                "unsubscribe_address",
                format!("unsubscribe@{DOMAIN}").as_str(),
            ),
    );
    site.write(
        "readers.csv",
        format!("email\nada@{DOMAIN}\ngrace@{DOMAIN}\nnobody-here@{DOMAIN}\n"),
    );
    let imported = run(&site, &["subscribers", "import", "readers.csv"]);
    assert_eq!(imported.code, 0, "{imported:#?}");
    // Postfix delivers and runs `digest inbound` as nobody, from the
    // moment the first message is in: the site is theirs too.
    open_to_everyone(site.dir.path());
    let sent = run(&site, &["send", "--week", "2026-W48"]);
    assert_eq!(sent.code, 0, "{sent:#?}");

    let nobody = format!("nobody-here@{DOMAIN}");
    eventually("the unknown reader bounced", &postfix, || {
        status_of(&site, &nobody) == "bounced"
    });
    let events = super::show(&site, &nobody)["events"].clone();
    assert_eq!(events[1]["kind"], "hard_bounce", "{events}");
    assert_eq!(events[1]["issue"], "2026-W48");
    let detail = events[1]["detail"].as_str().unwrap();
    assert!(
        detail.contains("5.1.1") || detail.contains("unknown user"),
        "{detail}"
    );
    assert_eq!(status_of(&site, &format!("ada@{DOMAIN}")), "active");
    assert_eq!(status_of(&site, &format!("grace@{DOMAIN}")), "active");

    // Grace presses "unsubscribe" in a client that uses the mailto.
    eventually("grace's issue delivered", &postfix, || {
        std::fs::read_to_string(mbox("grace")).is_ok_and(|m| m.contains("\nList-Unsubscribe-Post:"))
    });
    let delivered = std::fs::read_to_string(mbox("grace")).unwrap();
    // The mailbox is mbox (LF line ends): the header and its folded lines.
    let list_unsubscribe: String = delivered
        .lines()
        .skip_while(|l| !l.starts_with("List-Unsubscribe:"))
        .take_while(|l| l.starts_with("List-Unsubscribe:") || l.starts_with([' ', '\t']))
        .collect::<Vec<_>>()
        .join("");
    let mailto = list_unsubscribe
        .split("<mailto:")
        .nth(1)
        .and_then(|m| m.split('?').next())
        .unwrap_or_else(|| panic!("no mailto in {list_unsubscribe}"))
        .to_string();
    assert!(mailto.starts_with("unsubscribe+"), "{mailto}");
    smtp_send(
        postfix.port,
        &format!("grace@{DOMAIN}"),
        &mailto,
        &format!(
            "From: Grace <grace@{DOMAIN}>\nTo: {mailto}\nSubject: unsubscribe\n\nThis message was sent by the unsubscribe button of a mail client.\n"
        ),
    );
    eventually("grace unsubscribed", &postfix, || {
        status_of(&site, &format!("grace@{DOMAIN}")) == "unsubscribed"
    });
    assert_eq!(
        super::show(&site, &format!("grace@{DOMAIN}"))["unsubscribed_how"],
        "mailto"
    );
    assert_eq!(status_of(&site, &format!("ada@{DOMAIN}")), "active");
    postfix.wait_until_idle();
}
