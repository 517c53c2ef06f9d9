//! The export formats of the tools a newsletter moves from: which one a
//! header row is, and how its columns and values read.
//!
//! Each format is known by the columns only it has (Mailchimp's `LEID` and
//! `EUID`, listmonk's `uuid` and `attributes`, Substack's `email_disabled`,
//! Buttondown's `subscriber_type`),
//! so detection never guesses from the data. A format named with `--from`
//! must have its required columns, or the import stops before a row is
//! read, naming the ones missing.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// Where a list comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Source {
    /// Our own columns (`email,name,role,status,…`), as `export` writes them.
    Csv,
    Mailchimp,
    Listmonk,
    Substack,
    Buttondown,
}

/// A format as read from one header row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    /// One of Mailchimp's three audience files.
    Mailchimp(Members),
    Listmonk,
    Substack,
    Buttondown,
}

/// Which of Mailchimp's audience files: its members' status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Members {
    Subscribed,
    Unsubscribed,
    Cleaned,
}

impl Format {
    /// How the summary names it: `a Mailchimp export (cleaned members)`.
    pub fn describe(self) -> &'static str {
        match self {
            Format::Csv => "a CSV file",
            Format::Mailchimp(Members::Subscribed) => "a Mailchimp export (subscribed members)",
            Format::Mailchimp(Members::Unsubscribed) => "a Mailchimp export (unsubscribed members)",
            Format::Mailchimp(Members::Cleaned) => "a Mailchimp export (cleaned members)",
            Format::Listmonk => "a listmonk export",
            Format::Substack => "a Substack export",
            Format::Buttondown => "a Buttondown export",
        }
    }

    /// The tool alone, for an import of several of its files.
    pub fn tool(self) -> &'static str {
        match self {
            Format::Csv => "CSV files",
            Format::Mailchimp(_) => "a Mailchimp export",
            Format::Listmonk => "a listmonk export",
            Format::Substack => "a Substack export",
            Format::Buttondown => "a Buttondown export",
        }
    }

    /// The format of a header row (names lower-cased and trimmed).
    pub fn detect(names: &[String]) -> Format {
        let has = |n: &str| names.iter().any(|h| h == n);
        if has("email address") && (has("leid") || has("euid") || has("optin_time")) {
            Format::Mailchimp(Members::of(names))
        } else if has("uuid") && has("email") && has("attributes") && has("status") {
            Format::Listmonk
        } else if has("email") && has("email_disabled") {
            Format::Substack
        } else if (has("email") && has("subscriber_type"))
            || (has("email_address") && has("type") && has("creation_date"))
        {
            // The dashboard's CSV, or the API's newer names for its columns.
            Format::Buttondown
        } else {
            Format::Csv
        }
    }

    /// The format `--from` names, checked against the header: the columns
    /// it needs and the header lacks, when any.
    pub fn named(source: Source, names: &[String]) -> Result<Format, Vec<&'static str>> {
        let (format, required): (Format, &[&'static str]) = match source {
            Source::Csv => (Format::Csv, &[]),
            Source::Mailchimp => (Format::Mailchimp(Members::of(names)), &["Email Address"]),
            Source::Listmonk => (Format::Listmonk, &["email", "status"]),
            Source::Substack => (Format::Substack, &["email", "email_disabled"]),
            // The dashboard's names, unless the file uses the API's.
            Source::Buttondown if names.iter().any(|h| h == "email_address") => {
                (Format::Buttondown, &["email_address", "type"])
            }
            Source::Buttondown => (Format::Buttondown, &["email", "subscriber_type"]),
        };
        let missing: Vec<&'static str> = required
            .iter()
            .copied()
            .filter(|r| !names.iter().any(|h| h.eq_ignore_ascii_case(r)))
            .collect();
        if missing.is_empty() {
            Ok(format)
        } else {
            Err(missing)
        }
    }

    /// The header names each of our fields is read from in this format.
    pub fn column_names(self, field: Field) -> &'static [&'static str] {
        use Field::*;
        match (self, field) {
            (Format::Csv, Email) => &["email", "e-mail", "email address", "email_address"],
            (Format::Csv, Name) => &["name"],
            (Format::Csv, Role) => &["role"],
            (Format::Csv, Status) => &["status"],
            (Format::Csv, CreatedAt) => &["created_at"],
            (Format::Csv, ConfirmedAt) => &["confirmed_at"],
            (Format::Csv, UnsubscribedAt) => &["unsubscribed_at"],
            (Format::Csv, Timezone) => &["timezone"],
            (Format::Csv, PausedUntil) => &["paused_until"],
            (Format::Mailchimp(_), Email) => &["email address"],
            (Format::Mailchimp(_), FirstName) => &["first name"],
            (Format::Mailchimp(_), LastName) => &["last name"],
            (Format::Mailchimp(_), CreatedAt) => &["optin_time"],
            (Format::Mailchimp(_), ConfirmedAt) => &["confirm_time"],
            (Format::Mailchimp(Members::Unsubscribed), UnsubscribedAt) => &["unsub_time"],
            (Format::Mailchimp(Members::Cleaned), UnsubscribedAt) => &["clean_time"],
            (Format::Mailchimp(_), Timezone) => &["timezone"],
            (Format::Mailchimp(_), Reason) => &["unsub_reason"],
            (Format::Mailchimp(_), ReasonOther) => &["unsub_reason_other"],
            (Format::Listmonk, Email) => &["email"],
            (Format::Listmonk, Name) => &["name"],
            (Format::Listmonk, Status) => &["status"],
            (Format::Listmonk, CreatedAt) => &["created_at"],
            (Format::Listmonk, Attributes) => &["attributes"],
            (Format::Substack, Email) => &["email"],
            (Format::Substack, CreatedAt) => &["created_at"],
            (Format::Substack, Disabled) => &["email_disabled"],
            (Format::Buttondown, Email) => &["email", "email_address"],
            (Format::Buttondown, Status) => &["subscriber_type", "type"],
            (Format::Buttondown, CreatedAt) => &["creation_date"],
            (Format::Buttondown, ConfirmedAt) => &["subscription_date"],
            (Format::Buttondown, UnsubscribedAt) => &["unsubscription_date"],
            _ => &[],
        }
    }

    /// Whether times are our RFC 3339 only, or the tool's own forms.
    pub fn parse_time(self, text: &str) -> Option<DateTime<Utc>> {
        match self {
            Format::Csv => DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            _ => foreign_time(text),
        }
    }
}

impl Members {
    fn of(names: &[String]) -> Members {
        if names.iter().any(|h| h == "unsub_time") {
            Members::Unsubscribed
        } else if names.iter().any(|h| h == "clean_time") {
            Members::Cleaned
        } else {
            Members::Subscribed
        }
    }
}

/// The fields an import fills, whatever the column is called; a field's
/// value is its place in [`Field::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Email,
    Name,
    FirstName,
    LastName,
    Role,
    Status,
    CreatedAt,
    ConfirmedAt,
    UnsubscribedAt,
    Timezone,
    PausedUntil,
    Reason,
    ReasonOther,
    /// listmonk's JSON `attributes`.
    Attributes,
    /// Substack's `email_disabled`.
    Disabled,
}

impl Field {
    pub const ALL: [Field; 15] = [
        Field::Email,
        Field::Name,
        Field::FirstName,
        Field::LastName,
        Field::Role,
        Field::Status,
        Field::CreatedAt,
        Field::ConfirmedAt,
        Field::UnsubscribedAt,
        Field::Timezone,
        Field::PausedUntil,
        Field::Reason,
        Field::ReasonOther,
        Field::Attributes,
        Field::Disabled,
    ];
}

/// A time as the tools write it, read as UTC when it names no zone:
/// RFC 3339; Mailchimp's `2018-02-12 10:54:27`; Go's
/// `2024-01-02 15:04:05.123456 +0000 UTC` (listmonk); Python's
/// `2024-03-13 00:03:09.183465+00:00` (Buttondown); a bare date.
pub fn foreign_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    // Mailchimp's form first, by its shape: an export has three of these a
    // row, and trying the other forms before it was most of the read.
    if text.len() == 19
        && text.as_bytes()[10] == b' '
        && let Ok(t) = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
    {
        return Some(t.and_utc());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    // Go's form ends with the zone's abbreviation after the offset.
    let without_name = match text.rsplit_once(' ') {
        Some((head, tail)) if tail.chars().all(|c| c.is_ascii_alphabetic()) => head,
        _ => text,
    };
    if let Ok(t) = DateTime::parse_from_str(without_name, "%Y-%m-%d %H:%M:%S%.f %z") {
        return Some(t.with_timezone(&Utc));
    }
    // Python's `isoformat(" ")`, as Buttondown writes it.
    if let Ok(t) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f") {
        return Some(t.and_utc());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(header: &str) -> Vec<String> {
        header
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .collect()
    }

    #[test]
    fn each_format_is_known_by_its_own_columns() {
        let cases = [
            ("email,name,role", Format::Csv),
            (
                "Email Address,First Name,Last Name,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,LAST_CHANGED,LEID,EUID,NOTES,TAGS",
                Format::Mailchimp(Members::Subscribed),
            ),
            (
                "Email Address,First Name,LEID,EUID,UNSUB_TIME,UNSUB_CAMPAIGN_TITLE,UNSUB_CAMPAIGN_ID,UNSUB_REASON,UNSUB_REASON_OTHER",
                Format::Mailchimp(Members::Unsubscribed),
            ),
            (
                "Email Address,LEID,EUID,CLEAN_TIME,CLEAN_CAMPAIGN_TITLE,CLEAN_CAMPAIGN_ID",
                Format::Mailchimp(Members::Cleaned),
            ),
            (
                "uuid,email,name,attributes,status,created_at,updated_at",
                Format::Listmonk,
            ),
            (
                "email,active_subscription,expiry,email_disabled,created_at",
                Format::Substack,
            ),
            (
                "email,type,active_subscription,expiry,email_disabled,created_at",
                Format::Substack,
            ),
            (
                "id,secondary_id,email,notes,subscriber_type,referrer_url,utm_source,utm_medium,utm_campaign,creation_date,ip_address,subscription_date,unsubscription_date,tags,metadata",
                Format::Buttondown,
            ),
            (
                "id,email_address,type,creation_date,notes,tags",
                Format::Buttondown,
            ),
            ("email,type,created_at", Format::Csv),
            ("Email Address,name", Format::Csv),
        ];
        for (header, format) in cases {
            assert_eq!(Format::detect(&names(header)), format, "{header}");
        }
    }

    #[test]
    fn every_field_is_at_its_own_place_in_all() {
        for (i, field) in Field::ALL.into_iter().enumerate() {
            assert_eq!(field as usize, i, "{field:?}");
        }
    }

    #[test]
    fn a_named_format_needs_its_columns() {
        assert_eq!(
            Format::named(Source::Substack, &names("email,created_at")),
            Err(vec!["email_disabled"])
        );
        assert_eq!(
            Format::named(Source::Listmonk, &names("name")),
            Err(vec!["email", "status"])
        );
        assert_eq!(Format::named(Source::Csv, &names("name")), Ok(Format::Csv));
        assert_eq!(
            Format::named(Source::Buttondown, &names("email,creation_date")),
            Err(vec!["subscriber_type"])
        );
        assert_eq!(
            Format::named(Source::Buttondown, &names("email_address,type")),
            Ok(Format::Buttondown)
        );
        assert_eq!(
            Format::named(Source::Mailchimp, &names("Email Address,UNSUB_TIME")),
            Ok(Format::Mailchimp(Members::Unsubscribed))
        );
    }

    #[test]
    fn the_tools_times_are_read_as_utc() {
        let cases = [
            ("2018-02-12 10:54:27", Some("2018-02-12T10:54:27+00:00")),
            (
                "2024-01-02 15:04:05.123456 +0000 UTC",
                Some("2024-01-02T15:04:05.123456+00:00"),
            ),
            (
                "2024-01-02 16:04:05 +0100 CET",
                Some("2024-01-02T15:04:05+00:00"),
            ),
            (
                "2021-03-04T05:06:07.000Z",
                Some("2021-03-04T05:06:07+00:00"),
            ),
            ("2021-03-04", Some("2021-03-04T00:00:00+00:00")),
            // Buttondown: Python's isoformat with a space.
            (
                "2024-03-13 00:03:09.183465+00:00",
                Some("2024-03-13T00:03:09.183465+00:00"),
            ),
            ("last Tuesday", None),
            ("", None),
        ];
        for (text, expected) in cases {
            assert_eq!(
                foreign_time(text).map(|t| t.to_rfc3339()).as_deref(),
                expected,
                "{text}"
            );
        }
    }
}
