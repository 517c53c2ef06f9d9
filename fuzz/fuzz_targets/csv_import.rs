//! Any bytes as an import file, in any format: the reader refuses the header or yields
//! rows and rejections with line numbers in the file, and never panics.
#![no_main]

use glossary_digest::import::{ImportReader, Source};
use glossary_digest::status::Status;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    // The first byte picks the format: recognised, or named with --from.
    let Some((&pick, data)) = input.split_first() else {
        return;
    };
    let source = [
        None,
        Some(Source::Csv),
        Some(Source::Mailchimp),
        Some(Source::Listmonk),
        Some(Source::Substack),
    ][usize::from(pick) % 5];
    let lines = data.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let Ok(reader) = ImportReader::from_source(data, Status::Active, source) else {
        return;
    };
    for item in reader {
        match item {
            Ok(Ok(row)) => {
                assert!(row.line >= 2 && row.line <= lines, "row line {} of {lines}", row.line);
                // A parsed address parses again to itself.
                let again = glossary_digest::address::SubscriberEmail::parse(row.email.as_str()).unwrap();
                assert_eq!(again, row.email);
            }
            Ok(Err(rejected)) => {
                assert!(rejected.line >= 2 && rejected.line <= lines, "rejected line {} of {lines}", rejected.line);
                assert!(!rejected.reason.is_empty());
            }
            Err(_) => return,
        }
    }
});
