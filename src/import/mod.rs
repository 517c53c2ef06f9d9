//! Reading a subscriber CSV for import.
//!
//! The reader streams: one record in memory at a time, so a file of a million
//! rows costs no more than a file of ten. Each record becomes either a valid
//! [`ImportRow`] or a [`Rejected`] with the line it starts on and the reason;
//! only a file that cannot be read at all, or has no `email` column, stops
//! the import before anything is written.

use std::cell::Cell;
use std::io::Read;
use std::rc::Rc;

use csv::{ByteRecord, ReaderBuilder};

use crate::address::{SubscriberEmail, SubscriberName};
use crate::role::Role;
use crate::status::Status;
use crate::store::{ImportRow, Rejected};
use crate::timestamp::Timestamp;

mod formats;
pub mod zip;

use formats::Field;
pub use formats::{Format, Members, Source};

/// Where each known column is in the header row, and the format it is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Columns {
    format: Format,
    email: usize,
    /// By [`Field`], in the order of [`Field::ALL`].
    slots: [Option<usize>; Field::ALL.len()],
}

impl Columns {
    fn at(&self, field: Field) -> Option<usize> {
        self.slots[field as usize]
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeaderError {
    #[error(
        "the file is empty; it needs a header row with an `email` column, e.g. `email,name,role`"
    )]
    Empty,
    #[error(
        "the header row has no `email` column (found: {0}); the first row must name the columns, e.g. `email,name,role`"
    )]
    NoEmail(String),
    #[error("the header row has two `{0}` columns; keep one")]
    Duplicate(String),
    #[error(
        "the file is not {format}: its header row lacks {missing}; check the file, or leave out --from to let the import recognise it"
    )]
    Missing {
        format: &'static str,
        missing: String,
    },
    #[error("cannot read the header row: {0}")]
    Unreadable(String),
    #[error(
        "the file is UTF-16 text; save it as UTF-8 (in Excel: \"CSV UTF-8\") and import it again"
    )]
    Utf16,
    #[error(
        "the file is not CSV text (its first line is binary or not UTF-8); export the list as a UTF-8 CSV file"
    )]
    NotText,
}

fn header_name(field: &[u8]) -> String {
    let s = String::from_utf8_lossy(field);
    s.trim_start_matches('\u{feff}').trim().to_ascii_lowercase()
}

impl Columns {
    fn from_header(header: &ByteRecord, source: Option<Source>) -> Result<Columns, HeaderError> {
        if header.is_empty() || (header.len() == 1 && header[0].iter().all(u8::is_ascii_whitespace))
        {
            return Err(HeaderError::Empty);
        }
        let names: Vec<String> = header.iter().map(header_name).collect();
        let format = match source {
            None => Format::detect(&names),
            Some(source) => {
                Format::named(source, &names).map_err(|missing| HeaderError::Missing {
                    format: Format::named(source, &[])
                        .map_or_else(|_| source_name(source), Format::describe),
                    missing: missing
                        .iter()
                        .map(|m| format!("`{m}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                })?
            }
        };
        let mut slots = [None; Field::ALL.len()];
        for (slot, field) in slots.iter_mut().zip(Field::ALL) {
            let wanted = format.column_names(field);
            for (i, name) in names.iter().enumerate() {
                if wanted.contains(&name.as_str()) {
                    if slot.is_some() {
                        return Err(HeaderError::Duplicate(name.clone()));
                    }
                    *slot = Some(i);
                }
            }
        }
        let email = slots[Field::Email as usize];
        let Some(email) = email else {
            let found: Vec<String> = names
                .iter()
                .take(10)
                .map(|name| {
                    let name: String = name.chars().take(40).collect();
                    format!("`{}`", name.escape_debug())
                })
                .collect();
            return Err(HeaderError::NoEmail(found.join(", ")));
        };
        Ok(Columns {
            format,
            email,
            slots,
        })
    }
}

/// How `--from` names a format when the header says too little to say
/// which of its files it is.
fn source_name(source: Source) -> &'static str {
    match source {
        Source::Csv => "a CSV file",
        Source::Mailchimp => "a Mailchimp export",
        Source::Listmonk => "a listmonk export",
        Source::Substack => "a Substack export",
        Source::Buttondown => "a Buttondown export",
    }
}

/// Why a Buttondown subscriber of a type we do not import is left out:
/// paid states (their subscription lives in Stripe, not in a list), and
/// addresses Buttondown stopped mailing, which come in as nothing rather
/// than as a guess. `None` for a type Buttondown does not have.
fn buttondown_skip(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "premium" => "premium in Buttondown",
        "trialed" => "trialed in Buttondown",
        "gifted" => "gifted in Buttondown",
        "unpaid" => "unpaid in Buttondown",
        "churning" => "churning in Buttondown",
        "churned" => "churned in Buttondown",
        "past_due" => "past due in Buttondown",
        "paused" => "paused in Buttondown",
        "upcoming" => "upcoming in Buttondown",
        "undeliverable" => "undeliverable in Buttondown",
        "complained" => "complained in Buttondown",
        "blocked" => "blocked in Buttondown",
        "removed" => "removed in Buttondown",
        // Types of older exports, since folded into `undeliverable`.
        "spammy" | "malformed" => "undeliverable in Buttondown",
        "disabled" => "disabled in Buttondown",
        _ => return None,
    })
}

/// Counts the `"` bytes read, so that a quote left open at the end of the
/// file can be told from a field that legitimately spans lines.
struct QuoteCounter<R> {
    inner: R,
    quotes: Rc<Cell<u64>>,
}

impl<R: Read> Read for QuoteCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let quotes = buf[..n].iter().filter(|&&b| b == b'"').count() as u64;
        self.quotes.set(self.quotes.get() + quotes);
        Ok(n)
    }
}

type Input<R> = QuoteCounter<std::io::Chain<std::io::Cursor<Vec<u8>>, R>>;

pub struct ImportReader<R: Read> {
    reader: csv::Reader<Input<R>>,
    columns: Columns,
    header_len: usize,
    default_status: Status,
    quotes: Rc<Cell<u64>>,
    /// The record being parsed, and the one after it: knowing whether a
    /// record is the last is how an unclosed quote is found.
    record: ByteRecord,
    lookahead: ByteRecord,
    has_lookahead: bool,
    started: bool,
    skipped: Skips,
    /// Which file of the import this is, for its rows.
    file: u32,
}

/// Rows a format says to leave out (listmonk's `disabled`, Substack's
/// deletion requests), counted by why: shared with the caller, who reads
/// it once the rows are consumed.
pub type Skips = Rc<std::cell::RefCell<std::collections::BTreeMap<&'static str, u64>>>;

/// A record read: a row to import, or one the format leaves out.
enum Parsed {
    Row(ImportRow),
    Skip(&'static str),
}

impl<R: Read> ImportReader<R> {
    /// Read the header row of our own CSV or a format it recognises.
    /// `default_status` applies to rows without a `status` value.
    pub fn new(input: R, default_status: Status) -> Result<ImportReader<R>, HeaderError> {
        ImportReader::from_source(input, default_status, None)
    }

    /// The format found (or named with `--from`).
    pub fn format(&self) -> Format {
        self.columns.format
    }

    /// The reader of file number `file` of an import of several.
    pub fn in_file(mut self, file: u32) -> ImportReader<R> {
        self.file = file;
        self
    }

    /// The counts of rows left out by the format, filled as rows are read.
    pub fn skips(&self) -> Skips {
        self.skipped.clone()
    }

    /// Like [`ImportReader::new`], with the format named (`--from`).
    pub fn from_source(
        mut input: R,
        default_status: Status,
        source: Option<Source>,
    ) -> Result<ImportReader<R>, HeaderError> {
        // Sniff the first bytes: a UTF-16 file (what Excel saves as "Unicode
        // Text") would otherwise fail as a header without an email column.
        let mut head = vec![0u8; 4];
        let mut got = 0;
        while got < head.len() {
            match input.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(HeaderError::Unreadable(e.to_string())),
            }
        }
        head.truncate(got);
        if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
            return Err(HeaderError::Utf16);
        }
        let quotes = Rc::new(Cell::new(0));
        let counted = QuoteCounter {
            inner: std::io::Cursor::new(head).chain(input),
            quotes: quotes.clone(),
        };
        // Records end at `\n` only, and a `\r` before it is removed from the
        // last field by hand: with CRLF as a terminator the csv crate counts
        // lines one short, and every rejected row must name its true line.
        let mut reader = ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_reader(counted);
        let header = reader
            .byte_headers()
            .map_err(|e| HeaderError::Unreadable(e.to_string()))?
            .clone();
        let raw: Vec<u8> = header.iter().flatten().copied().collect();
        if raw.contains(&0) {
            let nul_every_other =
                raw.iter().skip(1).step_by(2).filter(|&&b| b == 0).count() * 2 >= raw.len() / 2;
            return Err(if nul_every_other {
                HeaderError::Utf16
            } else {
                HeaderError::NotText
            });
        }
        if std::str::from_utf8(&raw).is_err() {
            return Err(HeaderError::NotText);
        }
        let columns = Columns::from_header(&header, source)?;
        let header_len = header.len();
        Ok(ImportReader {
            reader,
            columns,
            header_len,
            default_status,
            quotes,
            record: ByteRecord::new(),
            lookahead: ByteRecord::new(),
            has_lookahead: false,
            started: false,
            skipped: Skips::default(),
            file: 0,
        })
    }

    fn parse(&self, line: u64) -> Result<Parsed, Rejected> {
        let reject = |reason: String| Rejected {
            file: self.file,
            line,
            reason,
        };
        let last = self.record.len().saturating_sub(1);
        let field = |f: Field| -> Result<&str, Rejected> {
            let i = if f == Field::Email {
                Some(self.columns.email)
            } else {
                self.columns.at(f)
            };
            let mut bytes = i.and_then(|i| self.record.get(i)).unwrap_or(b"");
            if i == Some(last) {
                bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
            }
            std::str::from_utf8(bytes).map_err(|_| {
                reject("not valid UTF-8; save the file as UTF-8 (it looks like Latin-1 or Windows-1252)".into())
            })
        };
        let format = self.columns.format;
        let email = SubscriberEmail::parse(field(Field::Email)?)
            .map_err(|e| reject(format!("invalid address: {e}")))?;
        let name_text: std::borrow::Cow<'_, str> = match format {
            Format::Mailchimp(_) => format!(
                "{} {}",
                field(Field::FirstName)?.trim(),
                field(Field::LastName)?.trim()
            )
            .into(),
            _ => field(Field::Name)?.into(),
        };
        let name = SubscriberName::parse(name_text.trim())
            .map_err(|e| reject(format!("bad name for {email}: {e}")))?;
        // listmonk keeps a role and a zone, when it has them, in its JSON.
        let attributes: Option<serde_json::Value> = match field(Field::Attributes)?.trim() {
            "" => None,
            json => serde_json::from_str(json).ok(),
        };
        let attribute = |key: &str| {
            attributes
                .as_ref()
                .and_then(|a| a.get(key))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let role = match format {
            Format::Csv => match field(Field::Role)?.trim() {
                "" => None,
                r => Some(
                    r.parse::<Role>()
                        .map_err(|e| reject(format!("bad role for {email}: {e}")))?,
                ),
            },
            _ => attribute("role").and_then(|r| r.parse::<Role>().ok()),
        };
        let status = match format {
            Format::Csv => match field(Field::Status)?.trim() {
                "" => self.default_status,
                s => s
                    .parse::<Status>()
                    .map_err(|e| reject(format!("bad status for {email}: {e}")))?,
            },
            Format::Mailchimp(Members::Subscribed) => Status::Active,
            Format::Mailchimp(Members::Unsubscribed) => Status::Unsubscribed,
            Format::Mailchimp(Members::Cleaned) => Status::Bounced,
            Format::Listmonk => match field(Field::Status)?.trim() {
                "enabled" => Status::Active,
                "blocklisted" => Status::Unsubscribed,
                "disabled" => return Ok(Parsed::Skip("disabled in listmonk")),
                other => {
                    return Err(reject(format!(
                        "bad status for {email}: `{other}` is not a listmonk status (enabled, blocklisted or disabled)"
                    )));
                }
            },
            Format::Buttondown => match field(Field::Status)?.trim() {
                "regular" => Status::Active,
                "unactivated" => Status::Pending,
                "unsubscribed" => Status::Unsubscribed,
                other => match buttondown_skip(other) {
                    Some(why) => return Ok(Parsed::Skip(why)),
                    None => {
                        return Err(reject(format!(
                            "bad subscriber_type for {email}: `{other}` is not a Buttondown subscriber type (regular, unactivated, unsubscribed, premium, undeliverable, …)"
                        )));
                    }
                },
            },
            Format::Substack => {
                if email.as_str().ends_with("@deletion-request.substack.com") {
                    return Ok(Parsed::Skip("deletion requests"));
                }
                match field(Field::Disabled)?.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" => Status::Unsubscribed,
                    _ => Status::Active,
                }
            }
        };
        let time = |f: Field, what: &str| -> Result<Option<Timestamp>, Rejected> {
            match field(f)?.trim() {
                "" => Ok(None),
                t => format
                    .parse_time(t)
                    .map(|t| Some(Timestamp::from(t)))
                    .ok_or_else(|| {
                        let like = match format {
                            Format::Csv => "an RFC 3339 time like 2026-11-29T12:00:00Z",
                            _ => "a time like 2026-11-29 12:00:00",
                        };
                        reject(format!("bad {what} for {email}: `{t}` is not {like}"))
                    }),
            }
        };
        let zone: std::borrow::Cow<'_, str> = match format {
            Format::Listmonk => attribute("timezone").unwrap_or_default().into(),
            _ => field(Field::Timezone)?.trim().into(),
        };
        let timezone = match (zone.as_ref(), format) {
            ("", _) => None,
            (z, Format::Csv) => Some(
                z.parse::<chrono_tz::Tz>()
                    .map_err(|_| {
                        reject(format!(
                            "bad timezone for {email}: `{z}` is not an IANA time zone such as Europe/Paris"
                        ))
                    })?
                    .name()
                    .to_string(),
            ),
            // Another tool's zone is kept when it is an IANA name.
            (z, _) => z.parse::<chrono_tz::Tz>().ok().map(|tz| tz.name().to_string()),
        };
        let paused_until = match field(Field::PausedUntil)?.trim() {
            "" => None,
            d => Some(
                chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                    .map_err(|_| {
                        reject(format!(
                            "bad paused_until for {email}: `{d}` is not a date like 2026-12-31"
                        ))
                    })?
                    .to_string(),
            ),
        };
        // Only Mailchimp's files say why someone left.
        let (reason, other) = (
            field(Field::Reason)?.trim(),
            field(Field::ReasonOther)?.trim(),
        );
        let unsubscribe_reason = match (reason, other) {
            ("", "") => None,
            (r, "") | ("", r) => Some(r.to_string()),
            (r, o) => Some(format!("{r}: {o}")),
        }
        .map(|reason| {
            reason
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(crate::store::REASON_TEXT_MAX)
                .collect()
        });
        // Mailchimp's cleaned members have a CLEAN_TIME where others have
        // the time they left: when they took their status, but not an
        // unsubscribe.
        let left_at = time(Field::UnsubscribedAt, "unsubscribed_at")?;
        let unsubscribed_at = match format {
            Format::Mailchimp(Members::Cleaned) => None,
            _ => left_at,
        };
        let created_at = time(Field::CreatedAt, "created_at")?;
        let confirmed_at = time(Field::ConfirmedAt, "confirmed_at")?;
        let changed_at = match status {
            Status::Unsubscribed | Status::Bounced => left_at,
            Status::Active | Status::Pending => confirmed_at.or(created_at),
        };
        Ok(Parsed::Row(ImportRow {
            file: self.file,
            line,
            changed_at,
            timezone,
            paused_until,
            unsubscribe_reason,
            created_at,
            confirmed_at,
            unsubscribed_at,
            email,
            name,
            role,
            status,
        }))
    }
}

impl<R: Read> Iterator for ImportReader<R> {
    /// `Err` for a file that stopped being readable; `Ok(Err)` for a row
    /// that was read but rejected.
    type Item = anyhow::Result<Result<ImportRow, Rejected>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if !self.started {
                self.started = true;
                match self.reader.read_byte_record(&mut self.lookahead) {
                    Ok(more) => self.has_lookahead = more,
                    Err(e) => {
                        return Some(Err(
                            anyhow::Error::new(e).context("cannot read the CSV file")
                        ));
                    }
                }
            }
            if !self.has_lookahead {
                return None;
            }
            std::mem::swap(&mut self.record, &mut self.lookahead);
            match self.reader.read_byte_record(&mut self.lookahead) {
                Ok(more) => self.has_lookahead = more,
                Err(e) => {
                    return Some(Err(
                        anyhow::Error::new(e).context("cannot read the CSV file")
                    ));
                }
            }
            let line = self.record.position().map_or(0, |p| p.line());
            // A blank line (or a trailing one) is not a record.
            if self
                .record
                .iter()
                .all(|f| f.iter().all(u8::is_ascii_whitespace))
            {
                continue;
            }
            match self.check_shape(line).and_then(|()| self.parse(line)) {
                Ok(Parsed::Row(row)) => return Some(Ok(Ok(row))),
                Ok(Parsed::Skip(why)) => {
                    *self.skipped.borrow_mut().entry(why).or_default() += 1;
                }
                Err(rejected) => return Some(Ok(Err(rejected))),
            }
        }
    }
}

impl<R: Read> ImportReader<R> {
    /// Problems with the record as a whole, before its fields are read.
    fn check_shape(&self, line: u64) -> Result<(), Rejected> {
        let is_last = !self.has_lookahead;
        let spans_lines = self.record.iter().any(|f| f.contains(&b'\n'));
        if is_last && spans_lines && self.quotes.get() % 2 == 1 {
            let newlines: usize = self
                .record
                .iter()
                .map(|f| f.trim_ascii_end().iter().filter(|&&b| b == b'\n').count())
                .sum();
            return Err(Rejected {
                file: self.file,
                line,
                reason: format!(
                    "a quoted field that starts on this line is never closed, so lines {line} to {} were read as one row; close the quote",
                    line + newlines as u64
                ),
            });
        }
        let extra = self.record.iter().skip(self.header_len);
        if self.record.len() > self.header_len && extra.clone().any(|f| !f.trim_ascii().is_empty())
        {
            return Err(Rejected {
                file: self.file,
                line,
                reason: format!(
                    "the row has {} fields but the header has {}; put any field that contains a comma in double quotes",
                    self.record.len(),
                    self.header_len
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &[u8]) -> Result<Vec<Result<ImportRow, Rejected>>, HeaderError> {
        let reader = ImportReader::new(input, Status::Active)?;
        Ok(reader.map(|r| r.unwrap()).collect())
    }

    fn emails(rows: &[Result<ImportRow, Rejected>]) -> Vec<String> {
        rows.iter()
            .map(|r| match r {
                Ok(row) => format!("{}:{}", row.line, row.email),
                Err(rej) => format!("{}: {}", rej.line, rej.reason),
            })
            .collect()
    }

    #[test]
    fn bom_crlf_quoted_commas_and_a_trailing_blank_line() {
        let input = "\u{feff}Email,Name,Role\r\nada@example.com,\"Lovelace, Ada\",executive\r\n\"bob@example.com\",Bob,\r\n\r\n";
        let rows = read(input.as_bytes()).unwrap();
        assert_eq!(emails(&rows), ["2:ada@example.com", "3:bob@example.com"]);
        let ada = rows[0].as_ref().unwrap();
        assert_eq!(ada.name.as_ref().unwrap().as_str(), "Lovelace, Ada");
        assert_eq!(ada.role, Some(Role::Executive));
    }

    #[test]
    fn rejected_rows_name_their_line_and_reason() {
        let input = b"email,name,role,status\n\
            ok@example.com,,,\n\
            not-an-address,,,\n\
            a@b,,,\n\
            eve@example.com,=cmd|' /C calc'!A0,,\n\
            carl@example.com,,ceo,\n\
            dan@example.com,,,gone\n\
            \"multi\nline\"@example.com,,,\n\
            late@example.com,\"Two\nLines\",,\n";
        let rows = read(input).unwrap();
        let got = emails(&rows);
        let expected = [
            "2:ok@example.com",
            "3: invalid address: `not-an-address` is not an email address: there is no @",
            "4: invalid address: `a@b` is not an email address: the domain has no dot (expected something like example.com)",
            "5: bad name for eve@example.com: the name starts with `=`, which a spreadsheet would run as a formula; remove it",
            "6: bad role for carl@example.com: unknown role `ceo`; use one of technical_lead, business_owner, executive",
            "7: bad status for dan@example.com: unknown status `gone`; use pending, active, unsubscribed or bounced",
            "8: invalid address: `multi\\nline@example.com` is not an email address: it contains a control character",
            "10: bad name for late@example.com: the name contains a control character (such as a line break); names go into email headers",
        ];
        assert_eq!(got, expected);
    }

    #[test]
    fn latin1_rows_are_rejected_not_mangled() {
        let mut input = b"email,name\nok@example.com,Ok\nzoe@example.com,Zo".to_vec();
        input.push(0xEB);
        input.extend_from_slice(b"\n");
        let rows = read(&input).unwrap();
        assert!(rows[0].is_ok());
        assert!(
            rows[1]
                .as_ref()
                .unwrap_err()
                .reason
                .contains("not valid UTF-8")
        );
    }

    #[test]
    fn headers_without_email_are_refused() {
        let cases: &[(&[u8], HeaderError)] = &[
            (b"", HeaderError::Empty),
            (b"\n", HeaderError::Empty),
            (
                b"name,role\nAda,executive\n",
                HeaderError::NoEmail("`name`, `role`".into()),
            ),
            (
                b"ada@example.com\nbob@example.com\n",
                HeaderError::NoEmail("`ada@example.com`".into()),
            ),
            (b"email,Email\n", HeaderError::Duplicate("email".into())),
            (b"\xff\xfee\0m\0a\0i\0l\0\n\0", HeaderError::Utf16),
            (b"e\0m\0a\0i\0l\0\n\0", HeaderError::Utf16),
            (b"\x89PNG\r\n\x1a\n\0\0\0", HeaderError::NotText),
        ];
        for (input, expected) in cases {
            let err = ImportReader::new(*input, Status::Active).err().unwrap();
            assert_eq!(&err, expected, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn an_unclosed_quote_and_extra_fields_are_rejected_not_swallowed() {
        let rows = read(b"email,name\nada@example.com,Ada,\nbob@example.com,Hopper, Grace\ncarl@example.com,\"oops\ndan@example.com,x\n").unwrap();
        assert_eq!(
            emails(&rows),
            [
                "2:ada@example.com",
                "3: the row has 3 fields but the header has 2; put any field that contains a comma in double quotes",
                "4: a quoted field that starts on this line is never closed, so lines 4 to 5 were read as one row; close the quote",
            ]
        );
        // A closed multi-line field at the end is fine.
        let rows = read(b"email,notes\nada@example.com,\"two\nlines\"\n").unwrap();
        assert_eq!(emails(&rows), ["2:ada@example.com"]);
    }

    #[test]
    fn the_status_column_wins_over_the_default() {
        let input = b"email,status,created_at\na@example.com,unsubscribed,2026-01-02T03:04:05+01:00\nb@example.com,,\n";
        let rows: Vec<_> = ImportReader::new(&input[..], Status::Pending)
            .unwrap()
            .map(|r| r.unwrap().unwrap())
            .collect();
        assert_eq!(rows[0].status, Status::Unsubscribed);
        assert_eq!(
            rows[0].created_at.map(|t| t.to_string()).as_deref(),
            Some("2026-01-02T02:04:05Z")
        );
        assert_eq!(rows[1].status, Status::Pending);
    }
}
