//! Any bytes as a term file: parsing returns a term or problems, never
//! panics, and every problem names a line inside the file.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
    match glossary_digest::content::parse_term(Path::new("content/fuzz.md"), "content/fuzz.md", data) {
        Ok(term) => {
            assert!(glossary_digest::content::is_valid_slug(&term.slug));
            assert!(!term.title.trim().is_empty());
            assert!(!term.body.trim().is_empty());
        }
        Err(problems) => {
            assert!(!problems.is_empty());
            for p in problems {
                assert!(p.line >= 1 && p.line <= lines + 1, "line {} of {lines}: {}", p.line, p.message);
            }
        }
    }
});
