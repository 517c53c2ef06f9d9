//! The archive as an Atom 1.0 feed (RFC 4287): entries in, XML out.
//!
//! An Atom document here is a handful of fixed elements, so it is written
//! by hand rather than through an XML library; what has to be right is the
//! escaping, which lives in [`escape`] and is used for every piece of text
//! and every attribute. The feed never carries anything personal: its
//! entries are the web versions the archive pages show, built by the
//! caller, and this module adds only the public archive links.
//!
//! Ids are the archive URLs (the index for the feed, `/archive/{week}` for
//! an entry): they never change for a given issue, which is what a reader
//! needs to tell a new issue from one it has already shown.

use std::fmt::Write as _;

use crate::timestamp::Timestamp;

/// The feed's `updated` when it has no entry: a fixed time, so that an
/// empty feed reads the same on every request and never looks changed.
pub const EMPTY_UPDATED: &str = "1970-01-01T00:00:00Z";

/// The feed as a whole; `entries` in the order they are written (the
/// archive gives them newest first).
#[derive(Debug, Clone)]
pub struct Feed {
    pub title: String,
    /// The feed's `author`, required at feed level when an entry has none.
    pub author: String,
    pub id: String,
    /// Where the feed itself is served (`rel="self"`).
    pub self_url: String,
    /// The archive index (`rel="alternate"`).
    pub alternate: String,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub id: String,
    pub title: String,
    /// The web version (`rel="alternate"`).
    pub link: String,
    pub updated: Timestamp,
    /// The web version's HTML; `None` writes an entry without content,
    /// which its alternate link then stands for.
    pub content_html: Option<String>,
}

/// The feed's XML. `updated` is the latest of the entries' times, or
/// [`EMPTY_UPDATED`] without entries.
pub fn atom(feed: &Feed) -> String {
    let updated = feed
        .entries
        .iter()
        .map(|e| e.updated)
        .max()
        .map_or_else(|| EMPTY_UPDATED.to_string(), |t| t.to_string());
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    out.push_str("<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    let _ = writeln!(out, "  <title>{}</title>", escape(&feed.title));
    let _ = writeln!(out, "  <id>{}</id>", escape(&feed.id));
    let _ = writeln!(out, "  <updated>{updated}</updated>");
    let _ = writeln!(
        out,
        "  <link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>",
        escape(&feed.self_url)
    );
    let _ = writeln!(
        out,
        "  <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>",
        escape(&feed.alternate)
    );
    let _ = writeln!(
        out,
        "  <author><name>{}</name></author>",
        escape(&feed.author)
    );
    for entry in &feed.entries {
        out.push_str("  <entry>\n");
        let _ = writeln!(out, "    <title>{}</title>", escape(&entry.title));
        let _ = writeln!(out, "    <id>{}</id>", escape(&entry.id));
        let _ = writeln!(out, "    <updated>{}</updated>", entry.updated);
        let _ = writeln!(
            out,
            "    <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>",
            escape(&entry.link)
        );
        if let Some(html) = &entry.content_html {
            let _ = writeln!(out, "    <content type=\"html\">{}</content>", escape(html));
        }
        out.push_str("  </entry>\n");
    }
    out.push_str("</feed>\n");
    out
}

/// `text` as XML character data or an attribute value: the five markup
/// characters become entities, and the characters XML 1.0 does not allow
/// at all (control characters other than tab and line breaks, U+FFFE and
/// U+FFFF), which no entity can carry either, are left out.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => {}
            _ => out.push(c),
        }
    }
    out
}

/// What is inside `<body ...>` and `</body>` of an HTML document (the
/// head, with its title and stylesheet, has no place in a feed entry);
/// the whole text when it has no body element.
pub fn html_body(html: &str) -> &str {
    // ASCII lower-casing keeps every byte offset where it was.
    let lower = html.to_ascii_lowercase();
    let open = lower.match_indices("<body").find_map(|(i, _)| {
        let after = i + "<body".len();
        match lower.as_bytes().get(after) {
            Some(b'>' | b' ' | b'\t' | b'\n' | b'\r' | b'/') => {
                lower[after..].find('>').map(|end| after + end + 1)
            }
            _ => None,
        }
    });
    let Some(start) = open else {
        return html;
    };
    let end = lower[start..]
        .rfind("</body")
        .map_or(html.len(), |i| start + i);
    html[start..end].trim_matches(['\n', '\r'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn entry(week: &str, title: &str, updated: &str, html: Option<&str>) -> Entry {
        Entry {
            id: format!("https://g.example/d/archive/{week}"),
            title: title.into(),
            link: format!("https://g.example/d/archive/{week}"),
            updated: at(updated),
            content_html: html.map(str::to_string),
        }
    }

    fn feed(title: &str, entries: Vec<Entry>) -> Feed {
        Feed {
            title: title.into(),
            author: title.into(),
            id: "https://g.example/d/archive".into(),
            self_url: "https://g.example/d/archive.atom".into(),
            alternate: "https://g.example/d/archive".into(),
            entries,
        }
    }

    #[test]
    fn a_feed_is_written_element_by_element_newest_entry_first() {
        let xml = atom(&feed(
            "Weekly",
            vec![
                entry(
                    "2026-W48",
                    "Embeddings",
                    "2026-11-29T07:00:00Z",
                    Some("<p>Hi</p>"),
                ),
                entry("2026-W47", "Tokens", "2026-11-22T07:00:00Z", None),
            ],
        ));
        assert_eq!(
            xml,
            r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Weekly</title>
  <id>https://g.example/d/archive</id>
  <updated>2026-11-29T07:00:00Z</updated>
  <link rel="self" type="application/atom+xml" href="https://g.example/d/archive.atom"/>
  <link rel="alternate" type="text/html" href="https://g.example/d/archive"/>
  <author><name>Weekly</name></author>
  <entry>
    <title>Embeddings</title>
    <id>https://g.example/d/archive/2026-W48</id>
    <updated>2026-11-29T07:00:00Z</updated>
    <link rel="alternate" type="text/html" href="https://g.example/d/archive/2026-W48"/>
    <content type="html">&lt;p&gt;Hi&lt;/p&gt;</content>
  </entry>
  <entry>
    <title>Tokens</title>
    <id>https://g.example/d/archive/2026-W47</id>
    <updated>2026-11-22T07:00:00Z</updated>
    <link rel="alternate" type="text/html" href="https://g.example/d/archive/2026-W47"/>
  </entry>
</feed>
"#
        );
    }

    #[test]
    fn the_feed_is_as_new_as_its_newest_entry_and_an_empty_one_never_changes() {
        let cases = [
            (vec![], EMPTY_UPDATED),
            (
                vec![entry("2026-W47", "a", "2026-11-22T07:00:00Z", None)],
                "2026-11-22T07:00:00Z",
            ),
            // A later send of an older week: the latest time wins.
            (
                vec![
                    entry("2026-W48", "b", "2026-11-29T07:00:00Z", None),
                    entry("2026-W47", "a", "2026-12-01T09:30:00Z", None),
                ],
                "2026-12-01T09:30:00Z",
            ),
        ];
        for (entries, updated) in cases {
            let xml = atom(&feed("W", entries));
            let feed_updated = format!(
                "<feed xmlns=\"http://www.w3.org/2005/Atom\">\n  <title>W</title>\n  <id>https://g.example/d/archive</id>\n  <updated>{updated}</updated>\n"
            );
            assert!(xml.contains(&feed_updated), "{updated}:\n{xml}");
        }
    }

    #[test]
    fn subjects_names_and_content_are_escaped() {
        // (feed title / entry subject, how it is written)
        let cases = [
            ("Plain", "Plain"),
            ("RAG <and> you", "RAG &lt;and&gt; you"),
            ("Q&A: tokens", "Q&amp;A: tokens"),
            ("Already &amp; escaped", "Already &amp;amp; escaped"),
            (
                r#""Quoted" and 'single'"#,
                "&quot;Quoted&quot; and &apos;single&apos;",
            ),
            (
                "</title><script>x</script>",
                "&lt;/title&gt;&lt;script&gt;x&lt;/script&gt;",
            ),
            ("]]> ends CDATA", "]]&gt; ends CDATA"),
            ("bell\u{7} and nul\u{0} dropped", "bell and nul dropped"),
            ("tab\tkept, é and 🙂 kept", "tab\tkept, é and 🙂 kept"),
        ];
        for (text, written) in cases {
            let xml = atom(&feed(
                text,
                vec![entry(
                    "2026-W48",
                    text,
                    "2026-11-29T07:00:00Z",
                    Some(&format!("<p title=\"{text}\">{text}</p>")),
                )],
            ));
            assert!(
                xml.contains(&format!("  <title>{written}</title>\n")),
                "{text:?}:\n{xml}"
            );
            assert!(
                xml.contains(&format!("    <title>{written}</title>\n")),
                "{text:?}:\n{xml}"
            );
            assert!(
                xml.contains(&format!("<author><name>{written}</name></author>")),
                "{text:?}:\n{xml}"
            );
            let html = escape(&format!("<p title=\"{text}\">{text}</p>"));
            assert!(
                xml.contains(&format!("<content type=\"html\">{html}</content>")),
                "{text:?}:\n{xml}"
            );
            // No markup character is left bare inside the elements' text.
            for line in xml.lines().filter(|l| l.contains("<title>")) {
                let inner = &line[line.find('>').unwrap() + 1..line.rfind('<').unwrap()];
                assert!(!inner.contains(['<', '>', '"', '\'']), "{line}");
            }
        }
    }

    #[test]
    fn links_are_escaped_in_attributes() {
        let mut f = feed("W", vec![entry("a\"b", "t", "2026-11-29T07:00:00Z", None)]);
        f.self_url = "https://g.example/x?a=1&b=\"2\"".into();
        let xml = atom(&f);
        assert!(
            xml.contains(r#"href="https://g.example/x?a=1&amp;b=&quot;2&quot;""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"href="https://g.example/d/archive/a&quot;b""#),
            "{xml}"
        );
    }

    #[test]
    fn the_body_of_a_document_is_what_goes_into_an_entry() {
        let cases = [
            (
                "<!DOCTYPE html><html><head><title>t</title></head>\n<body style=\"margin: 0\">\n<p>Hi</p>\n</body>\n</html>\n",
                "<p>Hi</p>",
            ),
            ("<HTML><BODY><p>Up</p></BODY></HTML>", "<p>Up</p>"),
            ("<html><body><p>unclosed</p>", "<p>unclosed</p>"),
            (
                "<html><head><style>body { margin: 0 }</style></head><body><p>a</p></body></html>",
                "<p>a</p>",
            ),
            (
                "<bodyguard>not a body</bodyguard>",
                "<bodyguard>not a body</bodyguard>",
            ),
            ("<p>no document</p>", "<p>no document</p>"),
            ("", ""),
        ];
        for (html, body) in cases {
            assert_eq!(html_body(html), body, "{html}");
        }
    }
}
