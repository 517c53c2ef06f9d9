//! Header fields of a raw message, as the SMTP server received it.

/// The header section of a raw message (without the blank line).
pub fn header_bytes(raw: &[u8]) -> &[u8] {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a blank line after the headers");
    &raw[..end]
}

/// The top-level header fields, unfolded: (name, value without the
/// leading space).
pub fn raw_headers(raw: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(header_bytes(raw));
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            let last = fields.last_mut().expect("no continuation before a field");
            last.1.push_str(line);
        } else {
            let (name, value) = line.split_once(':').expect("a header field");
            fields.push((name.to_string(), value.trim_start().to_string()));
        }
    }
    fields
}

/// The values of every top-level field with this name.
pub fn fields(raw: &[u8], name: &str) -> Vec<String> {
    raw_headers(raw)
        .into_iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .collect()
}

/// The only field with this name.
pub fn field(raw: &[u8], name: &str) -> String {
    let mut found = fields(raw, name);
    assert_eq!(found.len(), 1, "exactly one {name}: {found:?}");
    found.remove(0)
}
