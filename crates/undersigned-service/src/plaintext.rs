//! A letter's Markdown as plain text for mail: recipients read the letter in their mail client,
//! where raw `##` and `**` are noise. Headings are underlined, lists keep a dash, links show
//! their address after the text, and emphasis marks are dropped; the words are the signed ones.

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// The plain-text rendering of `source` (Markdown), paragraphs separated by a blank line.
pub fn markdown_to_text(source: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    let mut lists: Vec<Option<u64>> = Vec::new();
    let mut links: Vec<String> = Vec::new();
    let mut heading: Option<HeadingLevel> = None;
    let flush = |out: &mut String, line: &mut String| {
        let l = line.trim_end();
        if !l.is_empty() {
            out.push_str(l);
            out.push('\n');
        }
        line.clear();
    };
    let blank = |out: &mut String| {
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push('\n');
        }
    };
    for event in Parser::new_ext(
        source,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
    ) {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                blank(&mut out);
                heading = Some(level);
            }
            Event::End(TagEnd::Heading(_)) => {
                let width = line.trim_end().chars().count().min(72);
                let mark = if heading == Some(HeadingLevel::H1) {
                    "="
                } else {
                    "-"
                };
                flush(&mut out, &mut line);
                out.push_str(&mark.repeat(width));
                out.push_str("\n\n");
                heading = None;
            }
            Event::Start(Tag::Paragraph) if lists.is_empty() => blank(&mut out),
            Event::End(TagEnd::Paragraph) => {
                flush(&mut out, &mut line);
                if lists.is_empty() {
                    out.push('\n');
                }
            }
            Event::Start(Tag::List(first)) => {
                if lists.is_empty() {
                    blank(&mut out);
                } else {
                    flush(&mut out, &mut line);
                }
                lists.push(first);
            }
            Event::End(TagEnd::List(_)) => {
                flush(&mut out, &mut line);
                lists.pop();
                if lists.is_empty() {
                    out.push('\n');
                }
            }
            Event::Start(Tag::Item) => {
                flush(&mut out, &mut line);
                line.push_str(&"  ".repeat(lists.len().saturating_sub(1)));
                match lists.last_mut() {
                    Some(Some(n)) => {
                        line.push_str(&format!("{n}. "));
                        *n += 1;
                    }
                    _ => line.push_str("- "),
                }
            }
            Event::End(TagEnd::Item) => flush(&mut out, &mut line),
            Event::Start(Tag::BlockQuote(_)) => blank(&mut out),
            Event::Start(Tag::Link { dest_url, .. }) => links.push(dest_url.to_string()),
            Event::End(TagEnd::Link) => {
                if let Some(url) = links.pop() {
                    if !line.ends_with(url.as_str()) {
                        line.push_str(&format!(" ({url})"));
                    }
                }
            }
            Event::Text(t) | Event::Code(t) => line.push_str(&t),
            Event::SoftBreak => line.push(' '),
            Event::HardBreak => flush(&mut out, &mut line),
            Event::Rule => {
                blank(&mut out);
                out.push_str("----\n\n");
            }
            Event::End(TagEnd::TableRow | TagEnd::TableHead) => flush(&mut out, &mut line),
            Event::End(TagEnd::TableCell) => line.push_str("  "),
            Event::End(TagEnd::CodeBlock) => flush(&mut out, &mut line),
            // HTML in a letter is shown as the text it is, never interpreted.
            Event::Html(t) | Event::InlineHtml(t) => line.push_str(&t),
            _ => {}
        }
    }
    flush(&mut out, &mut line);
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::markdown_to_text;

    #[test]
    fn headings_lists_links_and_emphasis_read_as_text() {
        let text = markdown_to_text(
            "## What we have seen\n\nWe ask for **three** things:\n\n1. a *ceasefire*;\n2. aid.\n\n- one\n- two\n\nSee [the report](https://example.org/r).\n",
        );
        assert_eq!(
            text,
            "What we have seen\n-----------------\n\nWe ask for three things:\n\n1. a ceasefire;\n2. aid.\n\n- one\n- two\n\nSee the report (https://example.org/r)."
        );
        assert!(!text.contains("**") && !text.contains("##"));
    }

    #[test]
    fn plain_paragraphs_are_unchanged() {
        assert_eq!(
            markdown_to_text("One.\n\nTwo\nlines."),
            "One.\n\nTwo lines."
        );
    }
}
