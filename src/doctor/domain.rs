//! The From domain's DNS records, as Gmail and Yahoo judge a bulk sender:
//! DKIM (the key file against its published record, and `d=` aligned
//! with From), SPF on the envelope sender's domain, DMARC, and an MX.

use std::time::Duration;

use super::Report;
use super::records::{self, aligned, organisational_domain};
use crate::config::{Config, Dkim};
use crate::dns::{DnsError, Resolver};
use crate::mail::PublicKey;

/// How long one name server answer may take.
const DNS_TIMEOUT: Duration = Duration::from_secs(4);

pub(super) fn check(config: &Config, report: &mut Report) {
    let resolver = match config.dns.nameserver {
        Some(server) => Resolver {
            server,
            timeout: DNS_TIMEOUT,
        },
        None => Resolver::system(DNS_TIMEOUT),
    };
    let from = config.newsletter.from.email.domain().to_ascii_lowercase();
    // The envelope sender: the VERP bounce address when set, else From.
    let envelope = config
        .inbound
        .bounce_address
        .as_ref()
        .map_or_else(|| from.clone(), |a| a.domain().to_ascii_lowercase());

    let dkim_aligned = match &config.dkim {
        None => {
            report.warn(
                "dkim",
                "no [dkim] section: the digest does not sign its mail, and Gmail and Yahoo \
                 require DKIM of bulk senders",
                "make a key (`openssl genrsa -out dkim.pem 2048`), set [dkim], and publish \
                 the record `digest doctor` then prints; skip this only if your relay signs \
                 with your own domain",
            );
            false
        }
        Some(dkim) => {
            dkim_key_and_record(dkim, &resolver, report);
            dkim_alignment(dkim, &from, report)
        }
    };
    spf(&envelope, &resolver, report);
    alignment(
        &from,
        &envelope,
        dkim_aligned,
        config.dkim.is_some(),
        report,
    );
    dmarc(&from, &resolver, report);
    mx(&from, &resolver, report);
}

fn lookup_failed(report: &mut Report, topic: &str, name: &str, e: &DnsError) {
    report.fail(
        topic,
        format!("cannot look up {name}: {e}"),
        "check the network, or name a reachable resolver in [dns] nameserver",
    );
}

/// The key file loads, and the record at `SELECTOR._domainkey.DOMAIN`
/// publishes its public half.
fn dkim_key_and_record(dkim: &Dkim, resolver: &Resolver, report: &mut Report) {
    let path = &dkim.private_key_file;
    let key = match PublicKey::of_private_key(dkim) {
        Ok(key) => key,
        Err(e) => {
            return report.fail(
                "dkim key",
                format!("{e:#}"),
                "point [dkim] private_key_file at the PEM private key (`openssl genrsa -out dkim.pem 2048`)",
            );
        }
    };
    let shown = format!(
        "{}: {}, {}",
        path.display(),
        key.describe(),
        key.fingerprint()
    );
    match key_permissions(path) {
        Some(mode) => report.warn(
            "dkim key",
            format!("{shown}, readable by other users (mode {mode:03o})"),
            format!(
                "chmod 600 {} and give it to the user the digest runs as",
                path.display()
            ),
        ),
        None => report.ok("dkim key", shown),
    }
    let name = format!("{}._domainkey.{}", dkim.selector, dkim.domain);
    let publish = format!("publish a TXT record at {name}: \"{}\"", key.record());
    let txts = match resolver.txt(&name) {
        Ok(txts) => txts,
        Err(e) => return lookup_failed(report, "dkim record", &name, &e),
    };
    let Some(found) = txts.iter().find(|t| t.contains("p=")) else {
        return report.fail("dkim record", format!("no DKIM record at {name}"), publish);
    };
    let unusable = |why: String| format!("the record at {name} is not usable: {why}");
    let read = records::dkim_record(found)
        .map_err(unusable)
        .and_then(|record| {
            if record.public_key.is_empty() {
                return Err(format!(
                    "the record at {name} has an empty p=: the key is revoked"
                ));
            }
            PublicKey::from_record(&record.key_type, &record.public_key)
                .map(|published| (record, published))
                .map_err(unusable)
        });
    let (record, published) = match read {
        Ok(read) => read,
        Err(message) => return report.fail("dkim record", message, publish),
    };
    if published != key {
        return report.fail(
            "dkim record",
            format!(
                "{name} publishes another key: the record's is {} {}, the key file's {} {}",
                published.describe(),
                published.fingerprint(),
                key.describe(),
                key.fingerprint()
            ),
            format!(
                "{publish}, or point [dkim] private_key_file at the key that record was made from"
            ),
        );
    }
    let testing = if record.testing {
        " (t=y: marked as testing)"
    } else {
        ""
    };
    report.ok(
        "dkim record",
        format!("{name} publishes this key ({}){testing}", key.fingerprint()),
    );
}

/// The mode bits that let others read the key, when any are set.
fn key_permissions(path: &std::path::Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

fn dkim_alignment(dkim: &Dkim, from: &str, report: &mut Report) -> bool {
    let d = dkim.domain.to_ascii_lowercase();
    if aligned(&d, from) {
        report.ok(
            "dkim alignment",
            format!("d={d} aligns with the From domain {from}"),
        );
        true
    } else {
        report.fail(
            "dkim alignment",
            format!(
                "d={d} does not align with the From domain {from}: DMARC passes on DKIM only \
                 when the signing domain shares the From address's domain"
            ),
            format!(
                "set [dkim] domain to {from} (or a subdomain of {})",
                organisational_domain(from)
            ),
        );
        false
    }
}

/// One SPF policy on the envelope sender's domain.
fn spf(domain: &str, resolver: &Resolver, report: &mut Report) {
    let txts = match resolver.txt(domain) {
        Ok(txts) => txts,
        Err(e) => return lookup_failed(report, "spf", domain, &e),
    };
    match records::spf_records(&txts)[..] {
        [] => report.warn(
            "spf",
            format!("no SPF record on {domain}, the envelope sender's domain"),
            format!(
                "publish a TXT record at {domain} naming your relay, e.g. \
                 \"v=spf1 include:amazonses.com -all\" (see the README, Deploying)"
            ),
        ),
        [one] => report.ok("spf", format!("{domain}: {one}")),
        ref several => report.fail(
            "spf",
            format!(
                "{domain} has {} SPF records: receivers then treat SPF as a permanent error",
                several.len()
            ),
            "merge them into one v=spf1 record (one `include:` per relay)",
        ),
    }
}

/// DMARC passes when DKIM or SPF passes *aligned*: say which can.
fn alignment(from: &str, envelope: &str, dkim_aligned: bool, signing: bool, report: &mut Report) {
    let spf_aligned = aligned(envelope, from);
    match (dkim_aligned, spf_aligned) {
        (true, true) => report.ok(
            "alignment",
            format!("both DKIM and the envelope sender ({envelope}) align with From ({from})"),
        ),
        (true, false) => report.ok(
            "alignment",
            format!("DKIM aligns with From ({from}); the envelope sender ({envelope}) does not, which DMARC allows"),
        ),
        (false, true) if !signing => report.warn(
            "alignment",
            format!(
                "without DKIM, DMARC can pass only through SPF on the envelope sender \
                 ({envelope}), and a forwarded issue then fails it"
            ),
            "sign with DKIM in the From domain ([dkim]), or have the relay sign with it \
             (SES, Postmark and Mailgun do once their DKIM records are published)",
        ),
        (false, true) => report.warn(
            "alignment",
            format!("only SPF aligns (envelope sender {envelope}): a forwarded issue then fails DMARC"),
            format!("set [dkim] domain to {from}"),
        ),
        (false, false) => report.fail(
            "alignment",
            format!(
                "neither DKIM nor the envelope sender ({envelope}) aligns with From ({from}): \
                 every issue fails DMARC"
            ),
            format!("sign with [dkim] domain = {from}, or set [inbound] bounce_address in {from}"),
        ),
    }
}

/// A DMARC policy at `_dmarc.FROM`, or at the organisational domain's.
fn dmarc(from: &str, resolver: &Resolver, report: &mut Report) {
    let org = organisational_domain(from);
    let mut names = vec![format!("_dmarc.{from}")];
    if org != from {
        names.push(format!("_dmarc.{org}"));
    }
    let mut found = None;
    for name in &names {
        let txts = match resolver.txt(name) {
            Ok(txts) => txts,
            Err(e) => return lookup_failed(report, "dmarc", name, &e),
        };
        match records::dmarc_record(&txts) {
            Ok(None) => continue,
            Ok(Some(record)) => {
                found = Some((name, record));
                break;
            }
            Err(why) => {
                return report.fail(
                    "dmarc",
                    format!("the record at {name} is not usable: {why}"),
                    format!("publish one record at {name}, e.g. \"v=DMARC1; p=none; rua=mailto:dmarc@{org}\""),
                );
            }
        }
    }
    let Some((name, record)) = found else {
        return report.fail(
            "dmarc",
            format!(
                "no DMARC record at {}: Gmail and Yahoo require one of bulk senders",
                names.join(" or ")
            ),
            format!(
                "publish a TXT record at _dmarc.{org}: \"v=DMARC1; p=none; rua=mailto:dmarc@{org}\" \
                 to start, then move to p=quarantine once its reports show your mail passing"
            ),
        );
    };
    let reports = match &record.rua {
        Some(rua) => format!("reports to {rua}"),
        None => "no rua=, so no reports".to_string(),
    };
    let pct = if record.pct < 100 {
        format!(", pct={}", record.pct)
    } else {
        String::new()
    };
    if record.policy == "none" {
        report.warn(
            "dmarc",
            format!("{name}: p=none{pct}, {reports}: receivers take no action against mail forged in your name"),
            match &record.rua {
                Some(_) => "once the reports show your mail passing, move to p=quarantine, then p=reject".to_string(),
                None => format!(
                    "add rua=mailto:dmarc@{org} to get reports; once they show your mail passing, \
                     move to p=quarantine, then p=reject"
                ),
            },
        );
    } else {
        report.ok(
            "dmarc",
            format!("{name}: p={}{pct}, {reports}", record.policy),
        );
    }
}

/// The From domain receives mail.
fn mx(from: &str, resolver: &Resolver, report: &mut Report) {
    match resolver.mx(from) {
        Err(e) => lookup_failed(report, "mx", from, &e),
        Ok(found) if found.is_empty() => report.warn(
            "mx",
            format!("no MX record for {from}: replies to the From address bounce, and some receivers distrust such a sender"),
            format!("publish an MX record for {from}, or set [newsletter] reply_to to an address that receives mail"),
        ),
        Ok(found) => {
            let list: Vec<String> = found
                .iter()
                .map(|m| format!("{} {}", m.preference, m.exchange))
                .collect();
            report.ok("mx", format!("{from}: {}", list.join(", ")));
        }
    }
}
