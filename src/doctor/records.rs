//! Reading the TXT records receivers judge a sender by: a DKIM key record,
//! SPF, DMARC; and the alignment DMARC asks for. Pure: the lookups are in
//! `domain.rs`.

/// A DKIM key record (RFC 6376 §3.6.1): its tags, `p=` still base64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimRecord {
    /// `k=`, `rsa` when absent.
    pub key_type: String,
    /// `p=`, whitespace removed; empty means the key was revoked.
    pub public_key: String,
    /// `t=y`: the domain is testing DKIM; receivers may ignore failures.
    pub testing: bool,
}

/// A tag-value list (`v=DKIM1; k=rsa; p=…`): the tags in order, names
/// lower-cased, values trimmed. `None` when an entry has no `=`.
fn tags(record: &str) -> Option<Vec<(String, String)>> {
    record
        .split(';')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            let (name, value) = t.split_once('=')?;
            Some((name.trim().to_ascii_lowercase(), value.trim().to_string()))
        })
        .collect()
}

/// Read one TXT record as a DKIM key record.
pub fn dkim_record(txt: &str) -> Result<DkimRecord, String> {
    let tags = tags(txt).ok_or("it is not a list of tag=value pairs")?;
    let get = |name: &str| {
        tags.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    if let Some(v) = get("v")
        && v != "DKIM1"
    {
        return Err(format!("v={v}, not v=DKIM1"));
    }
    if tags.first().is_some_and(|(n, _)| n != "v") && get("v").is_some() {
        return Err("v=DKIM1 must come first".into());
    }
    let public_key: String = get("p")
        .ok_or("it has no p= (the public key)")?
        .split_whitespace()
        .collect();
    Ok(DkimRecord {
        key_type: get("k").unwrap_or("rsa").to_string(),
        public_key,
        testing: get("t").is_some_and(|t| t.split(':').any(|f| f.trim() == "y")),
    })
}

/// The TXT records that are SPF policies (`v=spf1`, alone or followed by
/// a space, in any case).
pub fn spf_records(txts: &[String]) -> Vec<&str> {
    txts.iter()
        .map(String::as_str)
        .filter(|t| {
            let t = t.trim_start();
            t.len() >= 6
                && t[..6].eq_ignore_ascii_case("v=spf1")
                && (t.len() == 6 || t.as_bytes()[6] == b' ')
        })
        .collect()
}

/// A DMARC policy record (RFC 7489 §6.3), as far as the doctor reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dmarc {
    /// `p=`: none, quarantine or reject.
    pub policy: String,
    /// `rua=`: where aggregate reports go.
    pub rua: Option<String>,
    /// `pct=`, 100 when absent.
    pub pct: u32,
}

/// The DMARC record among the TXT records at `_dmarc.DOMAIN`: `Ok(None)`
/// when none starts with `v=DMARC1`, an error when one does but cannot
/// be used.
pub fn dmarc_record(txts: &[String]) -> Result<Option<Dmarc>, String> {
    let mut found = txts
        .iter()
        .filter(|t| t.trim_start().to_ascii_uppercase().starts_with("V=DMARC1"));
    let Some(record) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() {
        return Err("there are two v=DMARC1 records; receivers then apply none".into());
    }
    let tags = tags(record).ok_or("it is not a list of tag=value pairs")?;
    let get = |name: &str| tags.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let policy = get("p").ok_or("it has no p= policy")?.to_ascii_lowercase();
    if !matches!(policy.as_str(), "none" | "quarantine" | "reject") {
        return Err(format!(
            "p={policy} is not a policy (none, quarantine or reject)"
        ));
    }
    let pct = match get("pct") {
        None => 100,
        Some(p) => p
            .parse::<u32>()
            .ok()
            .filter(|p| *p <= 100)
            .ok_or(format!("pct={p} is not a percentage from 0 to 100"))?,
    };
    Ok(Some(Dmarc {
        policy,
        rua: get("rua").filter(|r| !r.is_empty()),
        pct,
    }))
}

/// Second-level labels under which registrations are made, for the
/// country domains most newsletters send from. Without the full Public
/// Suffix List this is an approximation: a domain under any other such
/// suffix is taken as registered one label too high, which only makes
/// the alignment check stricter.
const TWO_LABEL_SUFFIXES: &[&str] = &[
    "co.uk", "org.uk", "ac.uk", "gov.uk", "me.uk", "ltd.uk", "plc.uk", "com.au", "net.au",
    "org.au", "edu.au", "co.nz", "org.nz", "net.nz", "co.jp", "ne.jp", "or.jp", "co.za", "org.za",
    "com.br", "net.br", "org.br", "com.mx", "com.ar", "com.tr", "com.cn", "com.hk", "com.sg",
    "com.tw", "co.in", "net.in", "org.in", "co.kr", "co.il", "com.pl", "co.id",
];

/// The organisational domain (RFC 7489 §3.2): the registered name, one
/// label below its public suffix. `news.example.co.uk` → `example.co.uk`.
pub fn organisational_domain(domain: &str) -> String {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let keep = if labels.len() >= 3
        && TWO_LABEL_SUFFIXES.contains(&labels[labels.len() - 2..].join(".").as_str())
    {
        3
    } else {
        2
    };
    labels[labels.len().saturating_sub(keep)..].join(".")
}

/// Relaxed alignment: the two domains share an organisational domain.
pub fn aligned(a: &str, b: &str) -> bool {
    organisational_domain(a) == organisational_domain(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dkim_records_are_read_or_refused() {
        let ok = dkim_record("v=DKIM1; k=rsa; p=MIIB IjAN\tBgkq").unwrap();
        assert_eq!(ok.key_type, "rsa");
        assert_eq!(ok.public_key, "MIIBIjANBgkq");
        assert!(!ok.testing);
        let ed = dkim_record("k=ed25519; t=s:y; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
            .unwrap();
        assert_eq!(ed.key_type, "ed25519");
        assert!(ed.testing);
        assert_eq!(dkim_record("v=DKIM1; p=").unwrap().public_key, "");
        for (txt, why) in [
            ("v=DKIM2; p=abc", "v=DKIM2"),
            ("k=rsa; v=DKIM1; p=abc", "must come first"),
            ("v=DKIM1; k=rsa", "no p="),
            ("hello world", "tag=value"),
        ] {
            let err = dkim_record(txt).unwrap_err();
            assert!(err.contains(why), "{txt}: {err}");
        }
    }

    #[test]
    fn spf_records_are_told_from_other_txt_records() {
        let txts: Vec<String> = [
            "v=spf1 include:amazonses.com -all",
            "V=SPF1 -all",
            "v=spf1",
            "v=spf10 -all",
            "google-site-verification=abc",
            "  v=spf1 mx ~all",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            spf_records(&txts),
            [
                "v=spf1 include:amazonses.com -all",
                "V=SPF1 -all",
                "v=spf1",
                "  v=spf1 mx ~all"
            ]
        );
    }

    #[test]
    fn dmarc_records_are_read_or_refused() {
        let one = |t: &str| dmarc_record(&[t.to_string(), "other".to_string()]);
        assert_eq!(
            one("v=DMARC1; p=reject; rua=mailto:dmarc@example.com; pct=50").unwrap(),
            Some(Dmarc {
                policy: "reject".into(),
                rua: Some("mailto:dmarc@example.com".into()),
                pct: 50
            })
        );
        assert_eq!(one("v=DMARC1; p=None").unwrap().unwrap().policy, "none");
        assert_eq!(one("something else").unwrap(), None);
        for (txt, why) in [
            ("v=DMARC1; rua=mailto:x@y", "no p="),
            ("v=DMARC1; p=block", "not a policy"),
            ("v=DMARC1; p=reject; pct=150", "percentage"),
        ] {
            let err = one(txt).unwrap_err();
            assert!(err.contains(why), "{txt}: {err}");
        }
        let two = dmarc_record(&["v=DMARC1; p=none".into(), "v=DMARC1; p=reject".into()]);
        assert!(two.unwrap_err().contains("two"));
    }

    #[test]
    fn organisational_domains_and_alignment() {
        for (domain, org) in [
            ("example.com", "example.com"),
            ("news.example.com", "example.com"),
            ("a.b.Example.COM.", "example.com"),
            ("news.example.co.uk", "example.co.uk"),
            ("example.co.uk", "example.co.uk"),
            ("localhost", "localhost"),
        ] {
            assert_eq!(organisational_domain(domain), org, "{domain}");
        }
        assert!(aligned("bounces.example.com", "example.com"));
        assert!(!aligned("amazonses.com", "example.com"));
        assert!(!aligned("a.co.uk", "b.co.uk"));
    }
}
