//! Subscriber tokens: the credential in every personal link.
//!
//! A token is 144 bits from the OS random source, written as 24 URL-safe
//! base64 characters (an imported reader's: 120 random bits and the number
//! of its run, see [`AscendingTokens`]). Whoever holds one can unsubscribe that reader, so a
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

/// Fresh tokens for an import, each greater than the one before: inserted
/// in this order they fill the token index from left to right instead of
/// at random places, which for a million rows is the difference between
/// appending to the index and rewriting it page by page.
///
/// The import cannot know how many rows are coming, so the tokens come in
/// runs of `BATCH` (4,096): each token is 18 bytes, the first 3 the run's number
/// and the other 15 (120 bits) from the OS random source; a run is sorted
/// and written in an alphabet that sorts as its bytes do. The run number
/// says only how far into an import a reader was; the 120 random bits are
/// the credential. No `Debug`, like [`Token`].
pub struct AscendingTokens {
    run: Vec<String>,
    at: usize,
    /// The number of the next run.
    next_run: u32,
}

/// The 64 characters of URL-safe base64 in ASCII order: text written in
/// it sorts as the bytes it encodes.
const SORTABLE: &[u8; 64] = b"-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

/// Runs are numbered in 3 bytes.
const RUNS: u32 = 1 << 24;

impl AscendingTokens {
    pub fn new() -> AscendingTokens {
        AscendingTokens {
            run: Vec::new(),
            at: 0,
            next_run: 0,
        }
    }

    /// The next token, greater than every token this value gave before.
    pub fn next_token(&mut self) -> anyhow::Result<String> {
        if self.at == self.run.len() {
            self.refill()?;
        }
        let token = std::mem::take(&mut self.run[self.at]);
        self.at += 1;
        Ok(token)
    }

    fn refill(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.next_run < RUNS,
            "an import ran out of fresh tokens ({} runs of {BATCH})",
            RUNS
        );
        let mut bytes = vec![0u8; 18 * BATCH];
        fill_random(&mut bytes)?;
        let prefix = self.next_run.to_be_bytes();
        let mut raw: Vec<[u8; 18]> = bytes
            .chunks_exact(18)
            .map(|chunk| {
                let mut token = [0u8; 18];
                token.copy_from_slice(chunk);
                token[..3].copy_from_slice(&prefix[1..]);
                token
            })
            .collect();
        bytes.fill(0);
        raw.sort_unstable();
        self.run.clear();
        self.run.extend(raw.iter().map(|t| encode(SORTABLE, t)));
        raw.iter_mut().for_each(|t| t.fill(0));
        self.at = 0;
        self.next_run += 1;
        Ok(())
    }
}

impl Default for AscendingTokens {
    fn default() -> AscendingTokens {
        AscendingTokens::new()
    }
}

/// 144 random bits as 24 URL-safe characters: tokens, and the random part
/// of Message-IDs and lease holders.
pub fn random_id() -> anyhow::Result<String> {
    let mut bytes = [0u8; 18];
    fill_random(&mut bytes)?;
    Ok(base64url(&bytes))
}

fn fill_random(bytes: &mut [u8]) -> anyhow::Result<()> {
    getrandom::fill(bytes).map_err(|e| anyhow::anyhow!("the OS random source failed: {e}"))
}

/// The alphabet of URL-safe base64 (RFC 4648 §5).
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// URL-safe base64 without padding (RFC 4648 §5).
pub fn base64url(bytes: &[u8]) -> String {
    encode(URL_SAFE, bytes)
}

/// Base64 without padding in `alphabet`.
fn encode(alphabet: &[u8; 64], bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 63) as usize]));
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
    fn import_tokens_ascend_across_runs_and_stay_url_safe_and_distinct() {
        let mut tokens = AscendingTokens::new();
        let n = 2 * BATCH + 17;
        let mut all = Vec::new();
        for _ in 0..n {
            let t = tokens.next_token().unwrap();
            assert_eq!(t.len(), 24);
            assert!(
                t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
            all.push(t.to_string());
        }
        assert!(
            all.windows(2).all(|w| w[0] < w[1]),
            "ascending and distinct"
        );
        // A fresh source starts again at the bottom.
        let first = AscendingTokens::new().next_token().unwrap().to_string();
        assert!(first.starts_with("----"), "{first}");
    }

    #[test]
    fn the_sortable_alphabet_is_base64url_s_in_ascii_order() {
        let mut standard: Vec<u8> = URL_SAFE.to_vec();
        standard.sort_unstable();
        assert_eq!(standard, SORTABLE);
        // Bytes in order encode to text in order.
        let cases: [[u8; 18]; 4] = [
            [0; 18],
            [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            [0x7f; 18],
            [0xff; 18],
        ];
        let encoded: Vec<String> = cases.iter().map(|c| encode(SORTABLE, c)).collect();
        assert!(encoded.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(encoded[0], "------------------------");
        assert_eq!(encoded[3], "zzzzzzzzzzzzzzzzzzzzzzzz");
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
