//! The header-like fields of a delivery-status or feedback-report part.
//!
//! RFC 3464 and RFC 5965 write their reports as groups of `Name: value`
//! fields, groups separated by a blank line, long values folded onto lines
//! that start with white space. Real reports bend that: CRLF or LF, stray
//! lines without a colon, a value folded with tabs. This reads the groups
//! and skips what it cannot read; it never fails and never panics (it is
//! fuzzed with the classifier).

/// One field: the name lower-cased, the value unfolded and trimmed.
pub type Field = (String, String);

/// At most this many fields are read: a report has a dozen or two.
const MAX_FIELDS: usize = 2000;

/// The groups of fields in `text`, in order; empty groups are dropped.
pub fn groups(text: &str) -> Vec<Vec<Field>> {
    let mut groups = Vec::new();
    let mut group: Vec<Field> = Vec::new();
    let mut count = 0;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            if !group.is_empty() {
                groups.push(std::mem::take(&mut group));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = group.last_mut() {
                if !value.is_empty() {
                    value.push(' ');
                }
                value.push_str(line.trim());
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
            continue;
        }
        count += 1;
        if count > MAX_FIELDS {
            break;
        }
        group.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    if !group.is_empty() {
        groups.push(group);
    }
    groups
}

/// The first value of `name` (lower case) in `group`.
pub fn get<'a>(group: &'a [Field], name: &str) -> Option<&'a str> {
    group
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// The address in a typed address field: `rfc822; <Ada@Example.COM>` →
/// `Ada@Example.COM`. `None` when there is no `@` in it.
pub fn address(value: &str) -> Option<String> {
    let bare = match value.split_once(';') {
        Some((_, rest)) => rest,
        None => value,
    };
    let bare = bare
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    (bare.contains('@') && !bare.contains(char::is_whitespace)).then(|| bare.to_string())
}

/// The enhanced status code (`5.1.1`) at the start of a `Status` value, or
/// anywhere in a diagnostic; else one made from a basic SMTP reply code
/// (`550` → `5.0.0`).
pub fn status_code(value: &str) -> Option<String> {
    let words = || {
        value
            .split(|c: char| c.is_whitespace() || c == ';' || c == '(' || c == ')' || c == ',')
            .filter(|w| !w.is_empty())
    };
    for word in words() {
        let word = word.trim_end_matches(['.', ':']);
        // `552-5.2.2`: a multi-line SMTP reply's code, then the status.
        let word = match word.split_once('-') {
            Some((code, rest)) if code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()) => {
                rest
            }
            _ => word,
        };
        let mut parts = word.split('.');
        if let (Some(class), Some(subject), Some(detail), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
            && matches!(class, "2" | "4" | "5")
            && (1..=3).contains(&subject.len())
            && (1..=3).contains(&detail.len())
            && subject
                .bytes()
                .chain(detail.bytes())
                .all(|b| b.is_ascii_digit())
        {
            return Some(word.to_string());
        }
    }
    for word in words() {
        let word = word.trim_end_matches(['-', ':']);
        if word.len() == 3
            && word.bytes().all(|b| b.is_ascii_digit())
            && matches!(word.as_bytes()[0], b'2' | b'4' | b'5')
        {
            return Some(format!("{}.0.0", &word[..1]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_split_by_blank_lines_and_values_unfolded() {
        let text = "Reporting-MTA: dns; mx.example.net\r\nArrival-Date: Sun, 29 Nov 2026\r\n\r\n\
                    Final-Recipient: rfc822; ada@example.com\r\nAction: failed\r\n\
                    Diagnostic-Code: smtp; 550 5.1.1 <ada@example.com>:\r\n    \
                    Recipient address rejected\r\nnonsense line\r\n: empty name\r\n\r\n\r\n";
        let g = groups(text);
        assert_eq!(g.len(), 2);
        assert_eq!(get(&g[0], "reporting-mta"), Some("dns; mx.example.net"));
        assert_eq!(get(&g[1], "action"), Some("failed"));
        assert_eq!(
            get(&g[1], "diagnostic-code"),
            Some("smtp; 550 5.1.1 <ada@example.com>: Recipient address rejected")
        );
        assert_eq!(get(&g[1], "status"), None);
    }

    #[test]
    fn typed_addresses_lose_their_type_and_brackets() {
        let cases = [
            ("rfc822; ada@example.com", Some("ada@example.com")),
            ("RFC822;<Ada@Example.COM>", Some("Ada@Example.COM")),
            ("rfc822;   grace@example.org  ", Some("grace@example.org")),
            ("ada@example.com", Some("ada@example.com")),
            ("rfc822; ", None),
            ("x400; C=GB; A=X", None),
            ("rfc822; two words@example.com", None),
        ];
        for (value, expected) in cases {
            assert_eq!(address(value).as_deref(), expected, "{value}");
        }
    }

    #[test]
    fn status_codes_come_from_status_or_diagnostic() {
        let cases = [
            ("5.1.1", Some("5.1.1")),
            ("4.2.2 (mailbox full)", Some("4.2.2")),
            (
                "smtp; 550 5.1.10 RESOLVER.ADR.RecipientNotFound",
                Some("5.1.10"),
            ),
            (
                "smtp; 552-5.2.2 The email account is over quota",
                Some("5.2.2"),
            ),
            ("smtp;550 Requested action not taken", Some("5.0.0")),
            ("smtp; 421 try later", Some("4.0.0")),
            ("2.0.0", Some("2.0.0")),
            ("user unknown", None),
            ("9.9.9", None),
            ("5.1234.1", None),
            ("", None),
        ];
        for (value, expected) in cases {
            assert_eq!(status_code(value).as_deref(), expected, "{value}");
        }
    }
}
