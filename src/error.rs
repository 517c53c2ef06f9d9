//! Errors that decide the exit code.
//!
//! Everything that can go wrong is an `anyhow::Error` with context, printed
//! once at the top with its whole cause chain. The only thing a caller needs
//! to branch on is *whose* problem it is: bad input or usage is the user's to
//! fix (exit 2); anything else is an operation that failed (exit 1).

use std::fmt;

/// Bad input or usage: the message says what is wrong and how to fix it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

/// An error with its own exit code: a send that was interrupted by a
/// signal (130, 143) or could not deliver to everyone (1).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Exit {
    pub code: u8,
    pub message: String,
}

/// Several problems found at once (every broken term file, every bad CSV
/// row): each is printed on its own line, then the summary.
#[derive(Debug, thiserror::Error)]
pub struct Problems {
    pub problems: Vec<Problem>,
    pub summary: String,
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for problem in &self.problems {
            writeln!(f, "{problem}")?;
        }
        write!(f, "{}", self.summary)
    }
}

/// One problem in one file, printed `path:line: message` like a compiler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub line: usize,
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, line: usize, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            // About a whole file or folder, not a line in it.
            write!(f, "{}: {}", self.path, self.message)
        } else {
            write!(f, "{}:{}: {}", self.path, self.line, self.message)
        }
    }
}

/// Shorthand for returning an [`InputError`] from a function returning
/// `anyhow::Result`.
#[macro_export]
macro_rules! bad_input {
    ($($arg:tt)*) => {
        return Err(anyhow::Error::new($crate::error::InputError(format!($($arg)*))))
    };
}

/// The process exit code for an error: 2 when the user can fix the input,
/// 1 when an operation failed.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if let Some(exit) = err.chain().find_map(|c| c.downcast_ref::<Exit>()) {
        return exit.code;
    }
    let is_input = err
        .chain()
        .any(|cause| cause.is::<InputError>() || cause.is::<Problems>());
    if is_input { 2 } else { 1 }
}

/// 1-based line number of a byte offset in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The closest candidate to `word`, if one is close enough to be a likely
/// typo. Used for "did you mean" hints.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_suggests_close_words_only() {
        let cases = [
            ("sumary", Some("summary")),
            ("relatd", Some("related")),
            ("zzz", None),
        ];
        for (word, expected) in cases {
            assert_eq!(
                nearest(word, ["summary", "related", "title"]),
                expected,
                "{word}"
            );
        }
    }

    #[test]
    fn line_of_counts_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 99), 3);
    }
}
