//! Markdown to HTML for the HTML part, and to wrapped plain text for the
//! text part.
//!
//! The text part is written from the same Markdown rather than by stripping
//! tags from the HTML: paragraphs stay paragraphs, list items keep their
//! bullets, and every link shows its full URL, which is what a reader of a
//! plain-text mail client can actually click.

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd, html};
use textwrap::{Options as WrapOptions, WordSeparator, WordSplitter};

fn parser(md: &str) -> Parser<'_> {
    Parser::new_ext(md, Options::ENABLE_STRIKETHROUGH)
}

/// Markdown to HTML. Raw HTML in the source is shown as text, never passed
/// through: the email must not carry markup the templates did not write.
pub fn to_html(md: &str) -> String {
    let events = parser(md).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        other => other,
    });
    let mut out = String::with_capacity(md.len() * 3 / 2);
    html::push_html(&mut out, events);
    out
}

/// `md` with every link whose destination `drop` accepts replaced by its
/// text, the rest of the source untouched: how a term's body stops linking
/// to a term that is not published yet.
pub fn unlink(md: &str, mut drop: impl FnMut(&str) -> bool) -> String {
    let mut out = String::with_capacity(md.len());
    let mut copied = 0;
    // The link being dropped: its whole span, and the span of its text.
    let mut open: Option<(std::ops::Range<usize>, Option<std::ops::Range<usize>>)> = None;
    for (event, range) in parser(md).into_offset_iter() {
        match (&event, &mut open) {
            (Event::Start(Tag::Link { dest_url, .. }), None) if drop(dest_url) => {
                open = Some((range, None));
            }
            (Event::End(TagEnd::Link), Some((link, inner))) => {
                out.push_str(&md[copied..link.start]);
                if let Some(inner) = inner {
                    out.push_str(&md[inner.clone()]);
                }
                copied = link.end;
                open = None;
            }
            (_, Some((_, inner))) => {
                *inner = Some(match inner.take() {
                    Some(seen) => seen.start.min(range.start)..seen.end.max(range.end),
                    None => range,
                });
            }
            _ => {}
        }
    }
    out.push_str(&md[copied..]);
    out
}

/// A block of text with the prefixes for its first and following lines.
struct Block {
    first: String,
    rest: String,
    text: String,
    /// Separated from the previous block by a blank line (paragraphs), or
    /// not (consecutive list items).
    tight: bool,
    item: bool,
}

/// Markdown to plain text wrapped at `width` columns.
pub fn to_text(md: &str, width: usize) -> String {
    let mut blocks: Vec<Block> = Vec::new();
    let mut current: Option<Block> = None;
    // One entry per open list: the next number for an ordered list.
    let mut lists: Vec<Option<u64>> = Vec::new();
    let mut link_stack: Vec<(String, usize)> = Vec::new();
    let mut quote_depth = 0usize;
    let mut item_open = false;

    let flush = |current: &mut Option<Block>, blocks: &mut Vec<Block>| {
        if let Some(block) = current.take()
            && !block.text.trim().is_empty()
        {
            blocks.push(block);
        }
    };
    let quote_prefix = |depth: usize| "> ".repeat(depth);

    for event in parser(md) {
        match event {
            Event::Start(Tag::Paragraph) | Event::Start(Tag::Heading { .. }) => {
                if item_open && current.is_some() {
                    continue;
                }
                flush(&mut current, &mut blocks);
                let indent = "   ".repeat(lists.len());
                let prefix = format!("{}{indent}", quote_prefix(quote_depth));
                current = Some(Block {
                    first: prefix.clone(),
                    rest: prefix,
                    text: String::new(),
                    tight: false,
                    item: false,
                });
            }
            Event::End(TagEnd::Heading(level)) => {
                if let Some(b) = current.as_mut()
                    && level <= HeadingLevel::H2
                {
                    b.text = b.text.to_uppercase();
                }
                flush(&mut current, &mut blocks);
            }
            Event::End(TagEnd::Paragraph) if !item_open => {
                flush(&mut current, &mut blocks);
            }
            Event::Start(Tag::BlockQuote(_)) => {
                flush(&mut current, &mut blocks);
                quote_depth += 1;
            }
            Event::End(TagEnd::BlockQuote(_)) => {
                flush(&mut current, &mut blocks);
                quote_depth = quote_depth.saturating_sub(1);
            }
            Event::Start(Tag::List(start)) => {
                flush(&mut current, &mut blocks);
                item_open = false;
                lists.push(start);
            }
            Event::End(TagEnd::List(_)) => {
                flush(&mut current, &mut blocks);
                lists.pop();
                item_open = false;
            }
            Event::Start(Tag::Item) => {
                flush(&mut current, &mut blocks);
                let depth = lists.len().saturating_sub(1);
                let indent = "   ".repeat(depth);
                let marker = match lists.last_mut() {
                    Some(Some(n)) => {
                        let m = format!("{n}. ");
                        *n += 1;
                        m
                    }
                    _ => "- ".to_string(),
                };
                let q = quote_prefix(quote_depth);
                let tight = blocks.last().is_some_and(|b| b.item);
                current = Some(Block {
                    first: format!("{q}{indent}{marker}"),
                    rest: format!("{q}{indent}{}", " ".repeat(marker.len())),
                    text: String::new(),
                    tight,
                    item: true,
                });
                item_open = true;
            }
            Event::End(TagEnd::Item) => {
                flush(&mut current, &mut blocks);
                item_open = false;
            }
            Event::Start(Tag::Link { dest_url, .. }) => {
                let at = current.as_ref().map_or(0, |b| b.text.len());
                link_stack.push((dest_url.to_string(), at));
            }
            Event::End(TagEnd::Link) => {
                if let (Some((url, start)), Some(block)) = (link_stack.pop(), current.as_mut()) {
                    let label = block.text[start..].trim();
                    if label != url && !url.starts_with('#') {
                        block.text.push_str(&format!(" ({url})"));
                    }
                }
            }
            Event::Text(t) | Event::Code(t) | Event::Html(t) | Event::InlineHtml(t) => {
                let block = current.get_or_insert_with(|| Block {
                    first: quote_prefix(quote_depth),
                    rest: quote_prefix(quote_depth),
                    text: String::new(),
                    tight: false,
                    item: false,
                });
                block.text.push_str(&t);
            }
            Event::SoftBreak => {
                if let Some(b) = current.as_mut() {
                    b.text.push(' ');
                }
            }
            Event::HardBreak => {
                if let Some(b) = current.as_mut() {
                    b.text.push('\n');
                }
            }
            Event::Rule => {
                flush(&mut current, &mut blocks);
                blocks.push(Block {
                    first: String::new(),
                    rest: String::new(),
                    text: "-".repeat(width.min(20)),
                    tight: false,
                    item: false,
                });
            }
            _ => {}
        }
    }
    flush(&mut current, &mut blocks);

    let mut out = String::new();
    for (i, block) in blocks.iter().enumerate() {
        if i > 0 {
            out.push_str(if block.tight { "\n" } else { "\n\n" });
        }
        out.push_str(&wrap_with(&block.text, width, &block.first, &block.rest));
    }
    out
}

/// Wrap `text` at `width` columns; each line of the input is a paragraph of
/// its own. Words are never split, so a long URL stays whole on its line.
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    wrap_with(text, width, indent, indent)
}

/// Like [`wrap`], with a different prefix on the very first line ("Q: ").
pub fn wrap_first(text: &str, width: usize, first: &str, indent: &str) -> String {
    wrap_with(text, width, first, indent)
}

fn wrap_with(text: &str, width: usize, first: &str, rest: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let collapsed = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if collapsed.is_empty() {
            continue;
        }
        let (initial, subsequent) = if i == 0 { (first, rest) } else { (rest, rest) };
        let options = WrapOptions::new(width)
            .initial_indent(initial)
            .subsequent_indent(subsequent)
            .break_words(false)
            .word_separator(WordSeparator::AsciiSpace)
            .word_splitter(WordSplitter::NoHyphenation);
        out.push_str(&textwrap::wrap(&collapsed, options).join("\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlink_keeps_the_text_of_the_links_it_drops() {
        let gone = |url: &str| url.ends_with("/glossary/lora");
        let cases = [
            ("See [LoRA](https://g.example/glossary/lora).", "See LoRA."),
            (
                "[**Low-rank** adapters](https://g.example/glossary/lora) and [RAG](https://g.example/glossary/rag)",
                "**Low-rank** adapters and [RAG](https://g.example/glossary/rag)",
            ),
            (
                "- a [LoRA][l]\n\n[l]: https://g.example/glossary/lora",
                "- a LoRA\n\n[l]: https://g.example/glossary/lora",
            ),
            ("No links at all.", "No links at all."),
            (
                "`[LoRA](https://g.example/glossary/lora)` in code",
                "`[LoRA](https://g.example/glossary/lora)` in code",
            ),
        ];
        for (md, expected) in cases {
            assert_eq!(unlink(md, gone), expected, "{md}");
        }
    }

    #[test]
    fn html_never_passes_raw_markup_through() {
        let cases = [
            ("Hello **world**", "<p>Hello <strong>world</strong></p>\n"),
            (
                "<script>alert(1)</script>",
                "&lt;script&gt;alert(1)&lt;/script&gt;",
            ),
            ("a <b>x</b>", "<p>a &lt;b&gt;x&lt;/b&gt;</p>\n"),
        ];
        for (md, expected) in cases {
            let got = to_html(md);
            assert!(got.contains(expected), "{md}: {got}");
        }
    }

    #[test]
    fn text_keeps_structure_and_full_urls() {
        let cases: &[(&str, &str)] = &[
            ("One\ntwo.\n\nThree.", "One two.\n\nThree."),
            (
                "See [RAG](https://g.example/glossary/rag) now.",
                "See RAG (https://g.example/glossary/rag) now.",
            ),
            ("<https://g.example/x>", "https://g.example/x"),
            ("Use *this* and **that**.", "Use this and that."),
            ("- one\n- two\n\nAfter.", "- one\n- two\n\nAfter."),
            ("1. one\n2. two", "1. one\n2. two"),
            ("Intro:\n\n- a\n- b", "Intro:\n\n- a\n- b"),
            ("> quoted words", "> quoted words"),
            ("## Heading\n\nText", "HEADING\n\nText"),
        ];
        for (md, expected) in cases {
            assert_eq!(to_text(md, 72), *expected, "{md}");
        }
    }

    #[test]
    fn text_wraps_at_the_width_without_breaking_words_or_urls() {
        let md = "word ".repeat(40)
            + "https://glossary.example/glossary/retrieval-augmented-generation-with-a-long-name end";
        let text = to_text(&md, 72);
        for line in text.lines() {
            assert!(line.len() <= 72 || !line.contains(' '), "{line:?}");
        }
        assert!(text.contains(
            "https://glossary.example/glossary/retrieval-augmented-generation-with-a-long-name"
        ));
    }

    #[test]
    fn list_items_wrap_with_a_hanging_indent() {
        let md = format!("- {}", "alpha ".repeat(20));
        let text = to_text(&md, 40);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("- alpha"));
        assert!(lines[1].starts_with("  alpha"), "{text}");
    }
}
