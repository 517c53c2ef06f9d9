//! The classifier on small messages in the shapes real systems send; the
//! corpus under `tests/fixtures/inbound/` covers whole messages end to end.

use super::dsn::unrepeat;
use super::*;

fn addresses() -> Addresses {
    Addresses {
        bounce: Addresses::split("bounces@news.example.com"),
        unsubscribe: Addresses::split("unsubscribe@news.example.com"),
    }
}

fn dsn(to: &str, per_recipient: &str, returned: &str) -> String {
    format!(
        "From: MAILER-DAEMON@mx.example.net\r\nTo: {to}\r\nSubject: Undelivered Mail\r\n\
         Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
         --B\r\nContent-Type: text/plain\r\n\r\nSorry.\r\n\
         --B\r\nContent-Type: message/delivery-status\r\n\r\n\
         Reporting-MTA: dns; mx.example.net\r\n\r\n{per_recipient}\r\n\
         --B\r\nContent-Type: text/rfc822-headers\r\n\r\n{returned}\r\n--B--\r\n"
    )
}

#[test]
fn dsns_are_read_by_action_and_status() {
    let to = "bounces+2026w48-1-abcdefghijklmnop@news.example.com";
    let cases = [
        (
            "Final-Recipient: rfc822; ada@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown",
            Severity::Hard,
            "550 5.1.1 user unknown",
        ),
        (
            "Final-Recipient: rfc822; ada@example.com\r\nAction: failed\r\nStatus: 4.2.2\r\nDiagnostic-Code: smtp; 452 4.2.2 mailbox full",
            Severity::Soft,
            "452 4.2.2 mailbox full",
        ),
        (
            "Final-Recipient: rfc822; ada@example.com\r\nAction: FAILED\r\nDiagnostic-Code: smtp; 550 no such user",
            Severity::Hard,
            "550 no such user",
        ),
        (
            "Final-Recipient: rfc822; ada@example.com\r\nAction: failed",
            Severity::Hard,
            "failed",
        ),
        (
            "Final-Recipient: rfc822; ada@example.com\r\nAction: delayed\r\nStatus: 4.4.1",
            Severity::Event(Action::Delayed),
            "4.4.1",
        ),
        (
            "Final-Recipient: rfc822; ada@example.com\r\nAction: delivered\r\nStatus: 2.0.0",
            Severity::Event(Action::Delivered),
            "2.0.0",
        ),
        (
            "Final-Recipient: rfc822; ada@example.com\r\nAction: relayed\r\nStatus: 2.0.0",
            Severity::Event(Action::Relayed),
            "2.0.0",
        ),
        (
            "Final-Recipient: rfc822; ada@example.com\r\nAction: expanded (to 2 recipients)\r\nStatus: 2.0.0",
            Severity::Event(Action::Expanded),
            "2.0.0",
        ),
    ];
    for (fields, severity, reply) in cases {
        let r = classify(dsn(to, fields, "Subject: x").as_bytes(), &addresses(), &[]);
        let Kind::Dsn(recipients) = &r.kind else {
            panic!("{fields}: {:?}", r.kind)
        };
        assert_eq!(recipients[0].severity(), severity, "{fields}");
        assert_eq!(recipients[0].reply(), reply, "{fields}");
        assert_eq!(
            recipients[0].final_recipient.as_deref(),
            Some("ada@example.com")
        );
        assert_eq!(r.address_tags, ["2026w48-1-abcdefghijklmnop"], "{fields}");
    }
}

#[test]
fn where_a_message_names_its_delivery() {
    let returned = "Return-Path: <bounces+2026w47-2-aaaaaaaaaaaaaaaa@news.example.com>\r\n\
                    Message-ID: <2026w47-2-bbbbbbbbbbbbbbbb@glossary.example>\r\n\
                    List-Unsubscribe: <https://glossary.example/digest/unsubscribe/TOK_en-1>, \
                    <mailto:unsubscribe+TOK_en-2@news.example.com?subject=unsubscribe>\r\n";
    let r = classify(
        dsn(
            "bounces@news.example.com",
            "Final-Recipient: rfc822;grace@example.org\r\nAction: failed\r\nStatus: 5.0.0",
            returned,
        )
        .as_bytes(),
        &addresses(),
        &["bounces+env-tag@NEWS.example.com".to_string()],
    );
    assert_eq!(r.address_tags, ["env-tag", "2026w47-2-aaaaaaaaaaaaaaaa"]);
    assert_eq!(r.message_id_tags, ["2026w47-2-bbbbbbbbbbbbbbbb"]);
    assert_eq!(r.returned_tokens, ["TOK_en-1", "TOK_en-2"]);
}

#[test]
fn feedback_reports_are_complaints_only_when_abuse() {
    let arf = |kind: &str| {
        format!(
            "From: feedback@fbl.example.net\r\nTo: fbl@glossary.example\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/report; report-type=feedback-report; boundary=\"F\"\r\n\r\n\
             --F\r\nContent-Type: text/plain\r\n\r\nA complaint.\r\n\
             --F\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: {kind}\r\n\
             User-Agent: FBL/1.0\r\nVersion: 1\r\n\
             Original-Mail-From: <bounces+2026w48-3-cccccccccccccccc@news.example.com>\r\n\r\n\
             --F\r\nContent-Type: message/rfc822\r\n\r\nMessage-ID: <x@glossary.example>\r\nSubject: s\r\n\r\nbody\r\n--F--\r\n"
        )
    };
    let r = classify(arf("abuse").as_bytes(), &addresses(), &[]);
    assert_eq!(
        r.kind,
        Kind::Complaint {
            feedback_type: "abuse".into()
        }
    );
    assert_eq!(r.address_tags, ["2026w48-3-cccccccccccccccc"]);
    assert_eq!(r.message_id_tags, ["x"]);
    let r = classify(arf("not-spam").as_bytes(), &addresses(), &[]);
    assert!(
        matches!(&r.kind, Kind::Other(why) if why.contains("not-spam")),
        "{:?}",
        r.kind
    );
}

#[test]
fn everything_else_is_other_with_a_reason() {
    let cases: [(&[u8], &str); 8] = [
        (b"", "an empty message"),
        (b"\r\n\r\n  \n", "an empty message"),
        (b"\x00\x9f\x92\x96binary\xff", "not an email message"),
        (
            b"From: a@example.com\r\nTo: bounces+2026w48-1-x@news.example.com\r\nAuto-Submitted: auto-replied\r\nSubject: Out of office\r\n\r\nAway.\r\n",
            "an automatic reply (Auto-Submitted: auto-replied)",
        ),
        (
            b"From: a@example.com\r\nX-Autoreply: yes\r\n\r\nAway.\r\n",
            "an automatic reply (X-Autoreply)",
        ),
        (
            b"From: a@example.com\r\nPrecedence: auto_reply\r\n\r\nAway.\r\n",
            "an automatic reply (Precedence: auto_reply)",
        ),
        (
            b"From: Mail Delivery System <MAILER-DAEMON@old.example>\r\nSubject: failure notice\r\n\r\nSorry, no mailbox here by that name.\r\n",
            "a bounce that is not a delivery report (DSN)",
        ),
        (
            b"From: reader@example.com\r\nTo: digest@glossary.example\r\nSubject: Re: this week\r\n\r\nLoved it.\r\n",
            "not a bounce, complaint or unsubscribe",
        ),
    ];
    for (raw, reason) in cases {
        let r = classify(raw, &addresses(), &[]);
        assert_eq!(
            r.kind,
            Kind::Other(reason.into()),
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn a_message_to_the_unsubscribe_address_is_an_unsubscribe_whatever_it_says() {
    let cases = [
        "To: <unsubscribe+AbC-_9@news.example.com>\r\nSubject: unsubscribe\r\n\r\n",
        "To: someone@else.example\r\nDelivered-To: UNSUBSCRIBE+AbC-_9@News.Example.Com\r\n\r\nplease stop\r\n",
        "To: unsubscribe+AbC-_9@news.example.com\r\nAuto-Submitted: auto-generated\r\n\r\n",
    ];
    for raw in cases {
        let r = classify(raw.as_bytes(), &addresses(), &[]);
        assert_eq!(
            r.kind,
            Kind::Unsubscribe {
                token: "AbC-_9".into()
            },
            "{raw}"
        );
    }
    let other_domain = "To: unsubscribe+AbC@elsewhere.example\r\n\r\n";
    let r = classify(other_domain.as_bytes(), &addresses(), &[]);
    assert!(matches!(r.kind, Kind::Other(_)));
    let without_config = classify(cases[0].as_bytes(), &Addresses::default(), &[]);
    assert!(matches!(without_config.kind, Kind::Other(_)));
}

#[test]
fn addresses_are_found_in_any_header_shape() {
    let cases = [
        ("Ada <ada@example.com>", vec!["ada@example.com"]),
        (
            "a@x.example, \"B\" <b+tag@y.example>",
            vec!["a@x.example", "b+tag@y.example"],
        ),
        ("rfc822;c@z.example.", vec!["c@z.example"]),
        ("no address here", vec![]),
        ("@@@", vec![]),
    ];
    for (value, expected) in cases {
        assert_eq!(addresses_in(value), expected, "{value}");
    }
}

#[test]
fn folded_multi_line_replies_lose_their_repeated_codes() {
    let cases = [
        (
            "550-5.1.1 The account does not exist. Please try 550-5.1.1 double-checking 550 5.1.1 https://x.example/p - gsmtp",
            "550-5.1.1 The account does not exist. Please try double-checking https://x.example/p - gsmtp",
        ),
        ("550 5.1.1 user unknown", "550 5.1.1 user unknown"),
        (
            "user unknown, code 550 later",
            "user unknown, code 550 later",
        ),
        ("x O\u{fffd}- é-5.1.1 ünï", "x O\u{fffd}- é-5.1.1 ünï"),
        ("", ""),
    ];
    for (input, expected) in cases {
        assert_eq!(unrepeat(input), expected, "{input}");
    }
}

#[test]
fn an_mbox_from_line_before_the_headers_is_skipped() {
    let dsn = dsn(
        "bounces+2026w48-1-abcdefghijklmnop@news.example.com",
        "Final-Recipient: rfc822; ada@example.com\r\nAction: failed\r\nStatus: 5.1.1",
        "Subject: x",
    );
    let piped = format!("From MAILER-DAEMON  Tue Dec  1 23:00:55 2026\n{dsn}");
    let r = classify(piped.as_bytes(), &addresses(), &[]);
    assert!(matches!(r.kind, Kind::Dsn(_)), "{:?}", r.kind);
    assert_eq!(r.address_tags, ["2026w48-1-abcdefghijklmnop"]);
    // A header named From is not an mbox line.
    let header = classify(b"From: a@example.com\r\n\r\nhi", &addresses(), &[]);
    assert_eq!(
        header.kind,
        Kind::Other("not a bounce, complaint or unsubscribe".into())
    );
}
