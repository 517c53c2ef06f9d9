//! `/webhooks/ses`: SNS messages signed with an RSA key and certificate
//! made with openssl, the certificate served over HTTPS by a stand-in for
//! `sns.us-east-1.amazonaws.com` (its TLS certificate from a CA of the
//! test's own). The digest reaches it through `[webhooks] sns_connect_to`
//! and trusts its CA through `sns_ca_file`; the host rule is the
//! production one.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use super::{Lab, SECRETS, TOPIC, webhook_config};
use crate::inbound::sent_with;
use crate::support::server::Server;
use crate::support::{fixture, repo};

const HOST: &str = "sns.us-east-1.amazonaws.com";
const CERT_URL: &str =
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem";

/// The keys and certificates, made once per test run with openssl.
fn pki() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("digest-sns-pki-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl").args(args).current_dir(&dir).output().expect("openssl runs");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let rsa = ["-newkey", "rsa:2048", "-nodes", "-days", "30"];
        openssl(&[&["req", "-x509"], &rsa[..], &[
            "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=Digest test SNS CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
        ]].concat());
        openssl(&[&["req"], &rsa[..2], &["-nodes", "-keyout", "tls.key", "-out", "tls.csr", "-subj", &format!("/CN={HOST}")]].concat());
        std::fs::write(
            dir.join("tls.ext"),
            format!("subjectAltName=DNS:{HOST}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"),
        )
        .unwrap();
        openssl(&["x509", "-req", "-in", "tls.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "tls.pem", "-days", "30", "-extfile", "tls.ext"]);
        // The signing certificate SNS would publish.
        openssl(&[&["req", "-x509"], &rsa[..], &["-keyout", "signing.key", "-out", "signing.pem", "-subj", "/CN=sns.amazonaws.com"]].concat());
        dir
    })
}

/// The stand-in SNS host.
struct Sns {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Sns {
    fn start(dir: &Path) -> Sns {
        let pki = pki();
        let port_file = dir.join("sns.port");
        let log = dir.join("sns.log");
        std::fs::write(&log, "").unwrap();
        let child = Command::new("python3")
            .arg(fixture("webhooks/sns_server.py"))
            .arg(&port_file)
            .arg(pki.join("tls.pem"))
            .arg(pki.join("tls.key"))
            .arg(pki.join("signing.pem"))
            .arg(&log)
            .current_dir(repo())
            .spawn()
            .expect("python3 runs");
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = loop {
            if let Ok(p) = std::fs::read_to_string(&port_file) {
                break p.trim().parse().unwrap();
            }
            assert!(Instant::now() < deadline, "the SNS stand-in did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        Sns { child, port, log }
    }

    fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Sns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A list with every webhook on and SNS reachable, with its stand-in.
fn lab() -> (Lab, Sns) {
    let dir = tempfile::tempdir().unwrap().keep();
    let sns = Sns::start(&dir);
    let connect = format!("127.0.0.1:{}", sns.port);
    let ca = pki().join("ca.pem");
    let sent = sent_with(|url| webhook_config(url, Some((&connect, &ca))));
    let server = Server::start(&sent.site, &SECRETS);
    (Lab { sent, server }, sns)
}

/// An SNS message of `kind` carrying `message`, signed as version
/// `version` with the test's signing key (by openssl, as SNS signs).
fn signed(kind: &str, topic: &str, message: &str, version: &str) -> Value {
    let mut m = json!({
        "Type": kind,
        "MessageId": format!("5c1b7c5e-{}", message.len()),
        "TopicArn": topic,
        "Message": message,
        "Timestamp": "2026-11-29T12:05:00.000Z",
        "SignatureVersion": version,
        "SigningCertURL": CERT_URL,
    });
    let mut fields = vec!["Message", "MessageId"];
    if kind == "Notification" {
        m["Subject"] = json!("Amazon SES Email Event Notification");
        m["UnsubscribeURL"] = json!(format!(
            "https://{HOST}/?Action=Unsubscribe&SubscriptionArn={topic}:1"
        ));
        fields.extend(["Subject", "Timestamp"]);
    } else {
        m["Token"] = json!("2336412f37fb687f5d51e6e2425c464de12884c4");
        m["SubscribeURL"] = json!(format!(
            "https://{HOST}/?Action=ConfirmSubscription&TopicArn={topic}&Token=2336412f"
        ));
        fields.extend(["SubscribeURL", "Timestamp", "Token"]);
    }
    fields.extend(["TopicArn", "Type"]);
    let text: String = fields
        .iter()
        .map(|f| format!("{f}\n{}\n", m[*f].as_str().unwrap()))
        .collect();
    m["Signature"] = json!(sign(&text, version));
    m
}

fn sign(text: &str, version: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in"), text).unwrap();
    let digest = if version == "1" { "-sha1" } else { "-sha256" };
    let out = Command::new("openssl")
        .args(["dgst", digest, "-sign"])
        .arg(pki().join("signing.key"))
        .arg(dir.path().join("in"))
        .output()
        .unwrap();
    assert!(out.status.success());
    base64::engine::general_purpose::STANDARD.encode(out.stdout)
}

/// An SES bounce or complaint notification, as SES writes it with
/// "include original headers" on.
fn notification(lab: &Lab, what: &str, email: &str, week: &str, bounce_type: &str) -> String {
    let tag = lab.tag(email, week);
    let mail = json!({
        "timestamp": "2026-11-29T12:00:01.000Z",
        "source": "digest@glossary.example",
        "sendingAccountId": "123456789012",
        "messageId": "0100018c-0a0b-4c2d-9e1f-000000000000-000000",
        "destination": [email],
        "headersTruncated": false,
        "headers": [
            {"name": "From", "value": "AI Glossary <digest@glossary.example>"},
            {"name": "Message-ID", "value": format!("<{tag}@glossary.example>")}
        ],
        "commonHeaders": {"messageId": format!("<{tag}@glossary.example>"), "to": [email]}
    });
    let body = match what {
        "Bounce" => json!({
            "notificationType": "Bounce",
            "bounce": {
                "bounceType": bounce_type,
                "bounceSubType": "General",
                "bouncedRecipients": [{"emailAddress": email, "action": "failed", "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
                "timestamp": "2026-11-29T12:04:00.000Z",
                "feedbackId": "0100018c-feedback",
                "reportingMTA": "dsn; a8-1.smtp-out.amazonses.com"
            },
            "mail": mail
        }),
        _ => json!({
            "notificationType": "Complaint",
            "complaint": {
                "complainedRecipients": [{"emailAddress": email}],
                "timestamp": "2026-11-29T13:00:00.000Z",
                "feedbackId": "0100018c-complaint",
                "complaintFeedbackType": "abuse"
            },
            "mail": mail
        }),
    };
    body.to_string()
}

fn post(lab: &Lab, message: &Value) -> (u16, String) {
    let kind = message["Type"].as_str().unwrap_or_default().to_string();
    lab.server.post(
        "/webhooks/ses",
        &[
            ("Content-Type", "text/plain; charset=UTF-8"),
            ("x-amz-sns-message-type", &kind),
        ],
        message.to_string().as_bytes(),
    )
}

fn pem_fetches(sns: &Sns) -> usize {
    sns.requests().iter().filter(|r| r.contains(".pem")).count()
}

#[test]
fn signed_notifications_of_both_versions_are_applied_once_and_the_certificate_is_fetched_once() {
    let (lab, sns) = lab();
    let bounce = signed(
        "Notification",
        TOPIC,
        &notification(&lab, "Bounce", "ada@example.com", "2026-W48", "Permanent"),
        "1",
    );
    assert_eq!(post(&lab, &bounce).0, 200, "{}", lab.server.log());
    assert_eq!(lab.status("ada@example.com"), "bounced");
    assert_eq!(
        lab.events("ada@example.com")[..2],
        [
            ("bounced".to_string(), "2026-W48".to_string()),
            ("hard_bounce".to_string(), "2026-W48".to_string()),
        ]
    );
    let complaint = signed(
        "Notification",
        TOPIC,
        &notification(&lab, "Complaint", "grace@example.org", "2026-W47", ""),
        "2",
    );
    assert_eq!(post(&lab, &complaint).0, 200);
    assert_eq!(lab.status("grace@example.org"), "unsubscribed");
    assert_eq!(lab.events("grace@example.org")[0].0, "unsubscribed");

    // A transient bounce is soft: one of the two in a row allowed.
    let soft = signed(
        "Notification",
        TOPIC,
        &notification(&lab, "Bounce", "alan@example.net", "2026-W48", "Transient"),
        "2",
    );
    assert_eq!(post(&lab, &soft).0, 200);
    assert_eq!(lab.status("alan@example.net"), "active");
    assert_eq!(lab.events("alan@example.net")[0].0, "soft_bounce");

    // SNS delivers at least once: the same notification again changes
    // nothing.
    let before = lab.history("ada@example.com");
    let (status, body) = post(&lab, &bounce);
    assert_eq!(
        (status, body.as_str()),
        (200, "1 events: 1 recorded, 0 ignored\n")
    );
    assert_eq!(lab.history("ada@example.com"), before);
    assert!(
        lab.server
            .log()
            .contains("already recorded: hard bounce: ada@example.com"),
        "{}",
        lab.server.log()
    );

    assert_eq!(pem_fetches(&sns), 1, "{:?}", sns.requests());
    assert!(
        sns.requests()[0].ends_with(&format!("Host={HOST}")),
        "{:?}",
        sns.requests()
    );
}

#[test]
fn a_subscription_to_a_listed_topic_is_confirmed_and_one_to_another_topic_is_not() {
    let (lab, sns) = lab();
    let other = "arn:aws:sns:us-east-1:999999999999:someone-else";
    let (status, _) = post(
        &lab,
        &signed(
            "SubscriptionConfirmation",
            other,
            "You have chosen to subscribe",
            "1",
        ),
    );
    assert_eq!(status, 200);
    assert!(sns.requests().is_empty(), "{:?}", sns.requests());
    assert!(
        lab.server
            .log()
            .contains("not in [webhooks] ses_topic_arns")
    );

    let (status, body) = post(
        &lab,
        &signed(
            "SubscriptionConfirmation",
            TOPIC,
            "You have chosen to subscribe",
            "2",
        ),
    );
    assert_eq!(
        (status, body.as_str()),
        (200, "subscription confirmed\n"),
        "{}",
        lab.server.log()
    );
    let confirms: Vec<String> = sns
        .requests()
        .into_iter()
        .filter(|r| r.contains("Action=ConfirmSubscription"))
        .collect();
    assert_eq!(confirms.len(), 1, "{:?}", sns.requests());
    assert!(confirms[0].contains(&format!("TopicArn={TOPIC}")));
    // The confirmation's token never reaches the log.
    assert!(
        !lab.server.log().contains("2336412f"),
        "{}",
        lab.server.log()
    );
}

#[test]
fn bad_signatures_certificates_and_hosts_are_401_and_change_nothing() {
    let (lab, sns) = lab();
    let good = signed(
        "Notification",
        TOPIC,
        &notification(&lab, "Bounce", "ada@example.com", "2026-W48", "Permanent"),
        "2",
    );
    let mut tampered = good.clone();
    tampered["Message"] = json!(notification(
        &lab,
        "Bounce",
        "grace@example.org",
        "2026-W48",
        "Permanent"
    ));
    let mut wrong_version = good.clone();
    wrong_version["SignatureVersion"] = json!("1");
    let mut v3 = good.clone();
    v3["SignatureVersion"] = json!("3");
    let mut garbage = good.clone();
    garbage["Signature"] = json!("not base64!");
    let cases = [
        (tampered, "the signature does not verify"),
        (wrong_version, "the signature does not verify"),
        (v3, "SignatureVersion"),
        (garbage, "not base64"),
    ];
    for (message, says) in cases {
        let (status, body) = post(&lab, &message);
        assert_eq!(status, 401, "{body}");
        assert!(body.contains(says), "{body}");
    }
    for url in [
        "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
        "http://sns.us-east-1.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com:8443/x.pem",
        "https://sns.us-east-1.amazonaws.com/x.txt",
    ] {
        let mut m = good.clone();
        m["SigningCertURL"] = json!(url);
        let (status, body) = post(&lab, &m);
        assert_eq!(status, 401, "{url}: {body}");
    }
    // Only the first good-host message fetched the certificate; no host
    // outside the rule was asked for anything.
    assert_eq!(pem_fetches(&sns), 1, "{:?}", sns.requests());
    for email in ["ada@example.com", "grace@example.org"] {
        assert_eq!(lab.status(email), "active", "{email}");
    }
    let (status, _) = post(&lab, &json!({"Type": "Notification"}));
    assert_eq!(status, 400);
    assert_eq!(post(&lab, &good).0, 200);
    assert_eq!(lab.status("ada@example.com"), "bounced");
}

#[test]
fn without_the_stand_in_ca_the_certificate_host_is_not_trusted() {
    // The same stand-in, but the digest trusts only the public roots: the
    // fetch fails TLS, the request is answered 502 (SNS retries), and
    // nothing changes.
    let dir = tempfile::tempdir().unwrap().keep();
    let sns = Sns::start(&dir);
    let connect = format!("127.0.0.1:{}", sns.port);
    let sent = sent_with(|url| {
        webhook_config(url, None).set("webhooks", "sns_connect_to", connect.as_str())
    });
    let server = Server::start(&sent.site, &SECRETS);
    let lab = Lab { sent, server };
    let m = signed(
        "Notification",
        TOPIC,
        &notification(&lab, "Bounce", "ada@example.com", "2026-W48", "Permanent"),
        "2",
    );
    assert_eq!(post(&lab, &m).0, 502);
    assert_eq!(lab.status("ada@example.com"), "active");
    assert!(
        lab.server
            .log()
            .contains("TLS with sns.us-east-1.amazonaws.com failed"),
        "{}",
        lab.server.log()
    );
}
