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

/// Random bytes are read for this many tokens at a time, not one system
/// call per token.
const BATCH: usize = 4096;

/// Fresh tokens for an import, sorted: inserted in this order they fill the
/// token index from left to right instead of at random places. 24 bytes a
/// token and no `Debug`, like [`Token`].
pub struct SortedTokens {
    tokens: Vec<[u8; 24]>,
    at: usize,
}

impl SortedTokens {
    /// `n` fresh tokens, each 144 bits from the OS random source.
    pub fn generate(n: usize) -> anyhow::Result<SortedTokens> {
        let mut tokens = Vec::with_capacity(n);
        let mut bytes = vec![0u8; 18 * BATCH];
        while tokens.len() < n {
            getrandom::fill(&mut bytes)
                .map_err(|e| anyhow::anyhow!("the OS random source failed: {e}"))?;
            for chunk in bytes.chunks_exact(18).take(n - tokens.len()) {
                let mut token = [0u8; 24];
                token.copy_from_slice(base64url(chunk).as_bytes());
                tokens.push(token);
            }
        }
        bytes.fill(0);
        tokens.sort_unstable();
        Ok(SortedTokens { tokens, at: 0 })
    }

    /// The next token, in ascending order; `None` once all `n` are used.
    pub fn next_token(&mut self) -> Option<&str> {
        let token = self.tokens.get(self.at)?;
        self.at += 1;
        // base64url is ASCII.
        std::str::from_utf8(token).ok()
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
    fn sorted_tokens_are_distinct_ascending_and_as_many_as_asked() {
        // More than one batch of randomness, and not a multiple of it.
        let n = BATCH + 17;
        let mut batch = SortedTokens::generate(n).unwrap();
        let mut all = Vec::new();
        while let Some(t) = batch.next_token() {
            assert_eq!(t.len(), 24);
            assert!(
                t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
            all.push(t.to_string());
        }
        assert_eq!(all.len(), n);
        assert!(
            all.windows(2).all(|w| w[0] < w[1]),
            "ascending and distinct"
        );
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
