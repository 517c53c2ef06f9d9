//! Quoted-printable (RFC 2045), written for the message factory: it keeps
//! the token placeholder whole on one line and says where it went, so a
//! subscriber's body is the encoded bytes with their token copied in.

/// Quoted-printable (RFC 2045) with CRLF line ends and lines of at most 76
/// characters. `keep` is never split across a soft line break, and its
/// offsets in the output are returned.
pub fn quoted_printable(text: &str, keep: &str) -> (Vec<u8>, Vec<usize>) {
    const MAX: usize = 75; // plus the `=` of a soft break
    let mut out = Vec::with_capacity(text.len() + text.len() / 20);
    let mut found = Vec::new();
    let mut line_len = 0;
    let input = text.as_bytes();
    let keep = keep.as_bytes();
    let mut i = 0;
    let soft_break = |out: &mut Vec<u8>, line_len: &mut usize| {
        out.extend_from_slice(b"=\r\n");
        *line_len = 0;
    };
    while i < input.len() {
        let b = input[i];
        if !keep.is_empty() && input[i..].starts_with(keep) {
            if line_len + keep.len() > MAX {
                soft_break(&mut out, &mut line_len);
            }
            found.push(out.len());
            out.extend_from_slice(keep);
            line_len += keep.len();
            i += keep.len();
            continue;
        }
        if b == b'\n' || (b == b'\r' && input.get(i + 1) == Some(&b'\n')) {
            // Trailing whitespace before a line break must be encoded.
            if let Some(&last) = out.last()
                && (last == b' ' || last == b'\t')
                && line_len > 0
            {
                out.pop();
                if line_len - 1 + 3 > MAX {
                    soft_break(&mut out, &mut line_len);
                }
                out.extend_from_slice(format!("={last:02X}").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            line_len = 0;
            i += if b == b'\r' { 2 } else { 1 };
            continue;
        }
        let literal = (b == b'\t' || (b' '..=b'~').contains(&b)) && b != b'=';
        // A line must not start with "." alone or "From " ambiguity is
        // handled by SMTP dot-stuffing; nothing to do here.
        let width = if literal { 1 } else { 3 };
        if line_len + width > MAX {
            soft_break(&mut out, &mut line_len);
        }
        if literal {
            out.push(b);
        } else {
            out.extend_from_slice(format!("={b:02X}").as_bytes());
        }
        line_len += width;
        i += 1;
    }
    // Trailing whitespace at the very end.
    if let Some(&last) = out.last()
        && (last == b' ' || last == b'\t')
    {
        out.pop();
        out.extend_from_slice(format!("={last:02X}").as_bytes());
    }
    (out, found)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Decode quoted-printable, to check the encoder.
    pub(in crate::mail) fn decode_quoted_printable(encoded: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(encoded.len());
        let mut i = 0;
        while i < encoded.len() {
            match encoded[i] {
                b'=' if encoded[i + 1..].starts_with(b"\r\n") => i += 3,
                b'=' if encoded[i + 1..].starts_with(b"\n") => i += 2,
                b'=' if i + 3 <= encoded.len() => {
                    let hex = std::str::from_utf8(&encoded[i + 1..i + 3]).unwrap_or("");
                    match u8::from_str_radix(hex, 16) {
                        Ok(v) => out.push(v),
                        Err(_) => out.extend_from_slice(&encoded[i..i + 3]),
                    }
                    i += 3;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        out
    }

    #[test]
    fn quoted_printable_round_trips_and_keeps_lines_short() {
        let long = "word ".repeat(60);
        let cases = [
            "plain ascii",
            "café — naïve “quotes”",
            "a=b and 100% = done",
            "trailing space \nnext line\t\nend ",
            long.as_str(),
            "line one\r\nline two\r\n",
        ];
        for text in cases {
            let (enc, _) = quoted_printable(text, super::super::TOKEN_PLACEHOLDER);
            let expected = text.replace("\r\n", "\n").replace('\n', "\r\n");
            assert_eq!(
                String::from_utf8(decode_quoted_printable(&enc)).unwrap(),
                expected,
                "{text:?}"
            );
            for line in enc.split(|&b| b == b'\n') {
                assert!(line.len() <= 77, "{:?}", String::from_utf8_lossy(line));
                assert!(line.iter().all(|b| b.is_ascii()), "7-bit only");
            }
        }
    }
}
