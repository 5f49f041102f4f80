//! Letter bodies and answers are Markdown written by organizers and recipients: rendered to
//! HTML, then sanitized with ammonia, so a `<script>`, an event handler or a `javascript:` link
//! in the text is inert.

use pulldown_cmark::{html, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// Markdown to safe HTML, with headings one level below the page's title (a `#` in a letter
/// becomes `<h2>`), so the page's outline stays the page's.
pub fn render_markdown(source: &str) -> String {
    render_markdown_under(source, 1)
}

/// Markdown to safe HTML with every heading moved down `shift` levels (capped at `<h6>`).
/// Raw HTML in the source survives only as far as ammonia's allow list; links get
/// `rel="noopener noreferrer"` and images are dropped (the CSP would block remote ones anyway,
/// and a tracking pixel in a letter should not even be attempted).
pub fn render_markdown_under(source: &str, shift: u8) -> String {
    let parser = Parser::new_ext(
        source,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
    )
    .map(|event| match event {
        Event::Start(Tag::Heading {
            level,
            id,
            classes,
            attrs,
        }) => Event::Start(Tag::Heading {
            level: lower(level, shift),
            id,
            classes,
            attrs,
        }),
        Event::End(TagEnd::Heading(level)) => Event::End(TagEnd::Heading(lower(level, shift))),
        other => other,
    });
    let mut raw = String::new();
    html::push_html(&mut raw, parser);
    ammonia::Builder::default()
        .rm_tags(&["img"])
        .link_rel(Some("noopener noreferrer nofollow"))
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .clean(&raw)
        .to_string()
}

fn lower(level: HeadingLevel, shift: u8) -> HeadingLevel {
    let n = (level as u8).saturating_add(shift).min(6);
    match n {
        0 | 1 => HeadingLevel::H1,
        2 => HeadingLevel::H2,
        3 => HeadingLevel::H3,
        4 => HeadingLevel::H4,
        5 => HeadingLevel::H5,
        _ => HeadingLevel::H6,
    }
}
