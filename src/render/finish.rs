//! What a rendered template goes through before it is mail: CSS inlined
//! into the HTML (Gmail and most mail apps ignore stylesheets; only the
//! media queries stay in `<style>`), spaces and blank runs tidied away.

use anyhow::Context as _;

/// Inline the `<style>` rules into `style` attributes, keeping only the
/// `@media` rules in a `<style>` block.
pub fn inline_css(html: &str) -> anyhow::Result<String> {
    let inliner = css_inline::CSSInliner::options()
        .keep_style_tags(false)
        .keep_at_rules(true)
        .load_remote_stylesheets(false)
        .build();
    inliner
        .inline(html)
        .context("inlining the CSS of the HTML template failed")
}

/// Move `<meta charset>` to the top of `<head>`: the inliner writes the
/// kept media queries first, and a client reading the bytes must learn the
/// encoding before any text it decodes.
pub fn charset_first(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let (Some(head), Some(meta)) = (lower.find("<head>"), lower.find("<meta charset")) else {
        return html.to_string();
    };
    let head_end = head + "<head>".len();
    let Some(len) = lower[meta..].find('>').map(|i| i + 1) else {
        return html.to_string();
    };
    if meta < head_end || lower[head_end..meta].trim().is_empty() {
        return html.to_string();
    }
    let tag = &html[meta..meta + len];
    let mut out = String::with_capacity(html.len() + 1);
    out.push_str(&html[..head_end]);
    out.push_str(tag);
    out.push('\n');
    out.push_str(&html[head_end..meta]);
    out.push_str(
        html[meta + len..]
            .strip_prefix('\n')
            .unwrap_or(&html[meta + len..]),
    );
    out
}

/// Spaces left at line ends by indented template tags: bytes for nothing.
pub fn strip_line_ends(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    for line in html.lines() {
        out.push_str(line.trim_end_matches([' ', '\t']));
        out.push('\n');
    }
    out
}

/// Templates are easier to read with blank lines around their tags; the
/// email is not. Runs of blank lines become one, trailing spaces go (except
/// in the `-- ` signature separator), and the text ends with one newline.
pub fn tidy_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        let line = if line == "-- " { line } else { line.trim_end() };
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line);
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_charset_comes_first_in_head() {
        let cases = [
            (
                "<html><head><style>x</style>\n<meta charset=\"utf-8\">\n<title>t</title></head>",
                "<html><head><meta charset=\"utf-8\">\n<style>x</style>\n<title>t</title></head>",
            ),
            (
                "<html><head><meta charset=\"utf-8\"><style>x</style></head>",
                "<html><head><meta charset=\"utf-8\"><style>x</style></head>",
            ),
            ("<p>no head</p>", "<p>no head</p>"),
        ];
        for (html, expected) in cases {
            assert_eq!(charset_first(html), expected);
        }
    }

    #[test]
    fn tidy_text_collapses_blank_runs() {
        assert_eq!(tidy_text("a  \n\n\n\nb\n-- \nc\n\n"), "a\n\nb\n-- \nc\n");
    }

    #[test]
    fn inlining_keeps_only_media_queries_in_style() {
        let html = "<html><head><style>p { color: red; } @media (max-width: 600px) { p { color: blue !important; } }</style></head><body><p>x</p></body></html>";
        let out = inline_css(html).unwrap();
        assert!(out.contains("<p style=\"color: red;\">"), "{out}");
        assert!(out.contains("@media (max-width: 600px)"), "{out}");
        assert!(!out.contains("p { color: red; }"), "{out}");
    }
}
