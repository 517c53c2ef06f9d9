//! Subscriber tokens: the credential in every personal link.
//!
//! A token is 144 bits from the OS random source, written as 24 URL-safe
//! base64 characters. Whoever holds one can unsubscribe that reader, so a
//! token never appears in a log line or a `Debug` output: [`Token`] prints
//! as `Token(…)`.

use std::fmt;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Token(String);

impl Token {
    /// A fresh random token.
    pub fn generate() -> anyhow::Result<Token> {
        Ok(Token(random_id()?))
    }

    /// A token read back from the database or a link.
    pub fn from_stored(s: String) -> Token {
        Token(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(…)")
    }
}

/// Many fresh tokens (an import): the same 144 bits from the OS random
/// source each, read for 4,096 tokens at a time instead of one system call
/// per token.
#[derive(Default)]
pub struct Tokens {
    bytes: Vec<u8>,
    at: usize,
}

impl Tokens {
    const BATCH: usize = 4096;

    pub fn next_token(&mut self) -> anyhow::Result<Token> {
        if self.at + 18 > self.bytes.len() {
            self.bytes.resize(18 * Self::BATCH, 0);
            getrandom::fill(&mut self.bytes)
                .map_err(|e| anyhow::anyhow!("the OS random source failed: {e}"))?;
            self.at = 0;
        }
        let token = Token(base64url(&self.bytes[self.at..self.at + 18]));
        // Each token's bytes are used once: overwrite them.
        self.bytes[self.at..self.at + 18].fill(0);
        self.at += 18;
        Ok(token)
    }
}

/// 144 random bits as 24 URL-safe characters: tokens, and the random part
/// of Message-IDs and lease holders.
pub fn random_id() -> anyhow::Result<String> {
    let mut bytes = [0u8; 18];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("the OS random source failed: {e}"))?;
    Ok(base64url(&bytes))
}

/// URL-safe base64 without padding (RFC 4648 §5).
pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_url_safe_distinct_and_never_debug_printed() {
        let a = Token::generate().unwrap();
        let b = Token::generate().unwrap();
        assert_eq!(a.as_str().len(), 24);
        assert_ne!(a, b);
        assert!(
            a.as_str()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_eq!(format!("{a:?}"), "Token(…)");
    }

    #[test]
    fn batched_tokens_are_the_same_shape_and_all_distinct_across_batches() {
        let mut tokens = Tokens::default();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..(Tokens::BATCH * 2 + 5) {
            let t = tokens.next_token().unwrap();
            assert_eq!(t.as_str().len(), 24);
            assert!(seen.insert(t.as_str().to_string()), "a token came twice");
        }
    }

    #[test]
    fn base64url_matches_the_rfc_examples() {
        let cases = [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, expected) in cases {
            assert_eq!(base64url(input.as_bytes()), expected);
        }
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }
}
