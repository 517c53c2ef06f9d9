//! `/webhooks/postmark`, `/webhooks/mailgun` and `/webhooks/sendgrid`,
//! and the answers every webhook route shares.

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use ring::rand::SystemRandom;
use serde_json::{Value, json};
use sha2::Sha256;

use super::{Lab, MAILGUN_KEY, POSTMARK_PASSWORD, POSTMARK_USER, SECRETS, now_secs, sendgrid_key};
use crate::inbound::{hearing_config, sent};
use crate::support::server::Server;
use crate::support::{Site, fixture, run};

// ------------------------------------------------------------ postmark --

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// A Postmark bounce webhook body, as its documentation shows one.
fn postmark(record: &str, kind: &str, email: &str, tag: Option<&str>, at: &str) -> String {
    let mut body = json!({
        "RecordType": record,
        "ID": 4323372036854775807u64,
        "Type": kind,
        "TypeCode": 1,
        "Name": "Hard bounce",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "ServerID": 23,
        "MessageStream": "broadcast",
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": email,
        "From": "digest@glossary.example",
        "BouncedAt": at,
        "DumpAvailable": true,
        "Inactive": true,
        "CanActivate": true,
        "Subject": "The AI Glossary Weekly",
        "Metadata": {}
    });
    if let Some(tag) = tag {
        body["Metadata"] = json!({ "digest_tag": tag });
    }
    body.to_string()
}

fn post_postmark(lab: &Lab, auth: &str, body: &str) -> (u16, String) {
    lab.server.post(
        "/webhooks/postmark",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", auth),
        ],
        body.as_bytes(),
    )
}

#[test]
fn postmark_events_map_to_bounces_complaints_and_notices() {
    let lab = Lab::start();
    let auth = basic(POSTMARK_USER, POSTMARK_PASSWORD);
    let ada = lab.tag("ada@example.com", "2026-W48");
    let hard = postmark(
        "Bounce",
        "HardBounce",
        "ada@example.com",
        Some(&ada),
        "2026-11-29T12:03:00Z",
    );
    assert_eq!(
        post_postmark(&lab, &auth, &hard),
        (200, "1 events: 1 recorded, 0 ignored\n".into())
    );
    assert_eq!(lab.status("ada@example.com"), "bounced");

    // Matched by address: each soft bounce to the issue sent by its time,
    // and two issues in a row make the address bounced.
    for (kind, at) in [
        ("SoftBounce", "2026-11-23T08:00:00Z"),
        ("Transient", "2026-11-29T12:30:00Z"),
    ] {
        let body = postmark("Bounce", kind, "alan@example.net", None, at);
        assert_eq!(post_postmark(&lab, &auth, &body).0, 200);
    }
    assert_eq!(lab.status("alan@example.net"), "bounced");
    let alan = lab.events("alan@example.net");
    assert!(
        alan.contains(&("soft_bounce".into(), "2026-W47".into())),
        "{alan:?}"
    );
    assert!(
        alan.contains(&("soft_bounce".into(), "2026-W48".into())),
        "{alan:?}"
    );

    let spam = postmark(
        "SpamComplaint",
        "SpamComplaint",
        "grace@example.org",
        None,
        "2026-11-29T14:00:00Z",
    );
    assert_eq!(post_postmark(&lab, &auth, &spam).0, 200);
    assert_eq!(lab.status("grace@example.org"), "unsubscribed");

    let auto = postmark(
        "Bounce",
        "AutoResponder",
        "edsger@example.com",
        None,
        "2026-11-29T12:10:00Z",
    );
    assert_eq!(post_postmark(&lab, &auth, &auto).0, 200);
    assert_eq!(lab.status("edsger@example.com"), "active");
    let history = lab.history("edsger@example.com");
    assert_eq!(history[0]["kind"], "notice");
    assert!(
        history[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("postmark: AutoResponder"),
        "{history}"
    );

    // Replayed: nothing changes.
    let before = lab.history("ada@example.com");
    assert_eq!(post_postmark(&lab, &auth, &hard).0, 200);
    assert_eq!(lab.history("ada@example.com"), before);

    // Deliveries and opens are not ours to record.
    let open = json!({"RecordType": "Open", "Recipient": "barbara@example.org"}).to_string();
    assert_eq!(
        post_postmark(&lab, &auth, &open),
        (200, "0 events: 0 recorded, 0 ignored\n".into())
    );
}

#[test]
fn postmark_without_the_right_credentials_is_401_and_changes_nothing() {
    let lab = Lab::start();
    let hard = postmark(
        "Bounce",
        "HardBounce",
        "ada@example.com",
        None,
        "2026-11-29T12:03:00Z",
    );
    for auth in [
        basic(POSTMARK_USER, "wrong"),
        basic("someone", POSTMARK_PASSWORD),
        "Bearer x".into(),
        String::new(),
    ] {
        let (status, _) = post_postmark(&lab, &auth, &hard);
        assert_eq!(status, 401, "{auth}");
    }
    assert_eq!(lab.status("ada@example.com"), "active");
    let log = lab.server.log();
    assert!(log.contains("POST /webhooks/postmark 401"), "{log}");
    for secret in [
        POSTMARK_PASSWORD,
        MAILGUN_KEY,
        &basic(POSTMARK_USER, POSTMARK_PASSWORD)[6..],
    ] {
        assert!(!log.contains(secret), "the log shows a secret:\n{log}");
    }
}

fn post_path(lab: &Lab, path: &str, auth: &str, body: &str) -> u16 {
    lab.server
        .post(path, &[("Authorization", auth)], body.as_bytes())
        .0
}

// ------------------------------------------------------------- mailgun --

fn mailgun_signature(key: &str, timestamp: i64, token: &str) -> Value {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(format!("{timestamp}{token}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    json!({"timestamp": timestamp.to_string(), "token": token, "signature": hex})
}

/// A Mailgun webhook body, as its documentation shows one.
fn mailgun(
    signature: Value,
    event: &str,
    severity: &str,
    email: &str,
    tag: Option<&str>,
) -> String {
    let mut variables = json!({});
    if let Some(tag) = tag {
        variables = json!({ "digest_tag": tag });
    }
    json!({
        "signature": signature,
        "event-data": {
            "id": "G9Bn5sl1TC6hebw-n53t1w",
            "timestamp": (now_secs() + 120) as f64 + 0.25,
            "log-level": "error",
            "event": event,
            "severity": severity,
            "reason": "bounce",
            "recipient": email,
            "recipient-domain": email.split('@').nth(1).unwrap(),
            "delivery-status": {
                "code": 550,
                "message": "5.1.1 The email account that you tried to reach does not exist",
                "description": "",
                "attempt-no": 1
            },
            "message": {"headers": {"to": email, "from": "digest@glossary.example", "subject": "The AI Glossary Weekly"}},
            "user-variables": variables
        }
    })
    .to_string()
}

fn post_mailgun(lab: &Lab, body: &str) -> (u16, String) {
    lab.server.post(
        "/webhooks/mailgun",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

#[test]
fn mailgun_events_apply_when_signed_and_fresh_and_a_token_is_good_once() {
    let lab = Lab::start();
    let now = now_secs();
    let ada = lab.tag("ada@example.com", "2026-W47");
    let failed = mailgun(
        mailgun_signature(MAILGUN_KEY, now, "token-aaaa-1"),
        "failed",
        "permanent",
        "ada@example.com",
        Some(&ada),
    );
    assert_eq!(post_mailgun(&lab, &failed).0, 200, "{}", lab.server.log());
    assert_eq!(lab.status("ada@example.com"), "bounced");
    // The tag named W47, though W48 is the latest issue.
    assert!(
        lab.events("ada@example.com")
            .contains(&("hard_bounce".into(), "2026-W47".into()))
    );

    let (status, body) = post_mailgun(&lab, &failed);
    assert_eq!(status, 401);
    assert!(body.contains("used before"), "{body}");

    let temporary = mailgun(
        mailgun_signature(MAILGUN_KEY, now - 200, "token-bbbb-2"),
        "failed",
        "temporary",
        "grace@example.org",
        None,
    );
    assert_eq!(post_mailgun(&lab, &temporary).0, 200);
    assert_eq!(
        lab.events("grace@example.org")[0],
        ("soft_bounce".into(), "2026-W48".into())
    );
    assert_eq!(lab.status("grace@example.org"), "active");

    let complained = mailgun(
        mailgun_signature(MAILGUN_KEY, now, "token-cccc-3"),
        "complained",
        "",
        "alan@example.net",
        None,
    );
    assert_eq!(post_mailgun(&lab, &complained).0, 200);
    assert_eq!(lab.status("alan@example.net"), "unsubscribed");

    for (signature, says) in [
        (
            mailgun_signature(MAILGUN_KEY, now - 301, "token-dddd-4"),
            "5 minutes",
        ),
        (
            mailgun_signature(MAILGUN_KEY, now + 301, "token-eeee-5"),
            "5 minutes",
        ),
        (
            mailgun_signature("another-key", now, "token-ffff-6"),
            "does not verify",
        ),
    ] {
        let body = mailgun(signature, "failed", "permanent", "edsger@example.com", None);
        let (status, answer) = post_mailgun(&lab, &body);
        assert_eq!(status, 401, "{answer}");
        assert!(answer.contains(says), "{answer}");
    }
    assert_eq!(lab.status("edsger@example.com"), "active");
    assert!(!lab.server.log().contains(MAILGUN_KEY));
}

// ------------------------------------------------------------ sendgrid --

fn sendgrid_signature(timestamp: &str, body: &[u8]) -> String {
    let mut signed = timestamp.as_bytes().to_vec();
    signed.extend_from_slice(body);
    let sig = sendgrid_key()
        .0
        .sign(&SystemRandom::new(), &signed)
        .unwrap();
    base64::engine::general_purpose::STANDARD.encode(sig)
}

fn post_sendgrid(
    lab: &Lab,
    signature: Option<&str>,
    timestamp: &str,
    body: &[u8],
) -> (u16, String) {
    let mut headers = vec![
        ("Content-Type", "application/json"),
        ("X-Twilio-Email-Event-Webhook-Timestamp", timestamp),
    ];
    if let Some(s) = signature {
        headers.push(("X-Twilio-Email-Event-Webhook-Signature", s));
    }
    lab.server.post("/webhooks/sendgrid", &headers, body)
}

#[test]
fn a_signed_sendgrid_batch_applies_each_event_and_a_bad_signature_none() {
    let lab = Lab::start();
    let ada = lab.tag("ada@example.com", "2026-W48");
    let at = now_secs() + 60;
    let batch = json!([
        {"email": "ada@example.com", "timestamp": at, "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>", "event": "bounce",
         "category": ["digest"], "sg_event_id": "6g4ZI7SA-xmRDv57GoPIPw==", "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
         "reason": "500 unknown recipient", "status": "5.0.0", "type": "bounce", "digest_tag": ada},
        {"email": "grace@example.org", "timestamp": at, "event": "bounce", "type": "blocked", "status": "4.0.0",
         "reason": "421 try again later", "sg_event_id": "b2"},
        {"email": "alan@example.net", "timestamp": at, "event": "dropped", "reason": "Bounced Address", "sg_event_id": "c3"},
        {"email": "edsger@example.com", "timestamp": at, "event": "spamreport", "sg_event_id": "d4"},
        {"email": "barbara@example.org", "timestamp": at, "event": "open", "sg_event_id": "e5"},
        {"email": "stranger@example.net", "timestamp": at, "event": "bounce", "type": "bounce", "sg_event_id": "f6"}
    ])
    .to_string();
    let ts = at.to_string();

    let forged = sendgrid_signature(&ts, b"[]");
    for signature in [None, Some(forged.as_str()), Some("!!")] {
        assert_eq!(
            post_sendgrid(&lab, signature, &ts, batch.as_bytes()).0,
            401,
            "{signature:?}"
        );
    }
    for email in ["ada@example.com", "edsger@example.com"] {
        assert_eq!(lab.status(email), "active");
    }

    let signature = sendgrid_signature(&ts, batch.as_bytes());
    let (status, body) = post_sendgrid(&lab, Some(&signature), &ts, batch.as_bytes());
    assert_eq!(
        (status, body.as_str()),
        (200, "5 events: 4 recorded, 1 ignored\n"),
        "{}",
        lab.server.log()
    );
    assert_eq!(lab.status("ada@example.com"), "bounced");
    assert_eq!(lab.status("grace@example.org"), "active");
    assert_eq!(lab.events("grace@example.org")[0].0, "soft_bounce");
    assert_eq!(lab.status("alan@example.net"), "active");
    assert_eq!(
        lab.events("alan@example.net")[0],
        ("dropped".into(), "2026-W48".into())
    );
    assert_eq!(lab.status("edsger@example.com"), "unsubscribed");
    assert_eq!(
        lab.events("barbara@example.org"),
        Vec::<(String, String)>::new()
    );
    assert!(
        lab.server
            .log()
            .contains("ignored: a sendgrid event about stranger@example.net")
    );

    // The same batch again: every event is recognised.
    let before: Vec<Value> = ["ada@example.com", "grace@example.org", "alan@example.net"]
        .iter()
        .map(|e| lab.history(e))
        .collect();
    assert_eq!(
        post_sendgrid(&lab, Some(&signature), &ts, batch.as_bytes()).0,
        200
    );
    let after: Vec<Value> = ["ada@example.com", "grace@example.org", "alan@example.net"]
        .iter()
        .map(|e| lab.history(e))
        .collect();
    assert_eq!(before, after);
}

// ------------------------------------------------------ every route --

#[test]
fn bad_bodies_get_400_and_413_unknown_addresses_200_and_the_form_limit_does_not_apply() {
    let lab = Lab::start();
    let auth = basic(POSTMARK_USER, POSTMARK_PASSWORD);
    assert_eq!(post_postmark(&lab, &auth, "{not json").0, 400);
    let ts = now_secs().to_string();
    let object = br#"{"event":"bounce"}"#;
    assert_eq!(
        post_sendgrid(&lab, Some(&sendgrid_signature(&ts, object)), &ts, object).0,
        400
    );
    assert_eq!(post_mailgun(&lab, r#"{"signature": 1}"#).0, 400);
    assert_eq!(lab.server.post("/webhooks/sparkpost", &[], b"[]").0, 404);
    // Under the public URL's path too, as a proxy may pass it on.
    assert_eq!(
        post_path(&lab, "/digest/webhooks/postmark", &auth, "{not json"),
        400
    );

    // Over 1 MiB is refused; well over the form's 16 KiB is fine.
    let big = format!(
        "[{}]",
        vec![r#"{"event":"open","email":"x@example.com"}"#; 30_000].join(",")
    );
    assert!(big.len() > 1024 * 1024);
    assert_eq!(post_sendgrid(&lab, Some("x"), &ts, big.as_bytes()).0, 413);
    let medium = format!(
        "[{}]",
        vec![r#"{"event":"open","email":"x@example.com"}"#; 2_000].join(",")
    );
    assert!(medium.len() > 64 * 1024);
    assert_eq!(
        post_sendgrid(
            &lab,
            Some(&sendgrid_signature(&ts, medium.as_bytes())),
            &ts,
            medium.as_bytes()
        )
        .0,
        200
    );

    // Addresses that are not ours: answered, ignored; and more requests
    // than the form allows in a minute are all answered.
    for i in 0..15 {
        let body = postmark(
            "Bounce",
            "HardBounce",
            &format!("nobody{i}@example.net"),
            Some("2026w48-1-aaaaaaaaaaaaaaaa"),
            "2026-11-29T12:03:00Z",
        );
        assert_eq!(
            post_postmark(&lab, &auth, &body),
            (200, "1 events: 0 recorded, 1 ignored\n".into()),
            "{i}"
        );
    }
}

#[test]
fn webhooks_have_their_own_rate_limit() {
    let sent = crate::inbound::sent_with(|url| {
        super::webhook_config(url, None).set("webhooks", "rate_per_minute", 3)
    });
    let server = Server::start(&sent.site, &SECRETS);
    let auth = basic(POSTMARK_USER, POSTMARK_PASSWORD);
    let body = postmark(
        "Bounce",
        "AutoResponder",
        "nobody@example.net",
        None,
        "2026-11-29T12:03:00Z",
    );
    let statuses: Vec<u16> = (0..4)
        .map(|_| {
            server
                .post(
                    "/webhooks/postmark",
                    &[("Authorization", &auth)],
                    body.as_bytes(),
                )
                .0
        })
        .collect();
    assert_eq!(statuses, [200, 200, 200, 429]);
    // The form's own limit is untouched by them.
    let (status, _) = server.post(
        "/subscribe",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"email=new%40example.com",
    );
    assert_eq!(status, 200);
}

#[test]
fn routes_that_are_not_configured_answer_404() {
    let sent = sent();
    let server = Server::start(&sent.site, &SECRETS);
    for provider in ["ses", "postmark", "mailgun", "sendgrid"] {
        let (status, _) = server.post(&format!("/webhooks/{provider}"), &[], b"{}");
        assert_eq!(status, 404, "{provider}");
    }
}

#[test]
fn a_provider_turned_on_without_its_secret_stops_serve_with_exit_2() {
    let site = Site::with_content(&fixture("small/content"));
    site.config(&hearing_config("smtp://127.0.0.1:1").set("webhooks", "mailgun", true));
    let r = run(&site, &["serve", "--listen", "127.0.0.1:1"]);
    assert_eq!(r.code, 2, "{r:#?}");
    assert!(
        r.stderr
            .contains("[webhooks] mailgun = true needs DIGEST_MAILGUN_SIGNING_KEY"),
        "{}",
        r.stderr
    );
}
