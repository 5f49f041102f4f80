//! Letter bodies and answers are Markdown written by organizers and recipients: rendered to
//! HTML, then sanitized with ammonia, so a `<script>`, an event handler or a `javascript:` link
//! in the text is inert.

use pulldown_cmark::{html, Options, Parser};

/// Markdown to safe HTML. Raw HTML in the source survives only as far as ammonia's allow
/// list; links get `rel="noopener noreferrer"` and images are dropped (the CSP would block
/// remote ones anyway, and a tracking pixel in a letter should not even be attempted).
pub fn render_markdown(source: &str) -> String {
    let mut raw = String::new();
    html::push_html(
        &mut raw,
        Parser::new_ext(
            source,
            Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
        ),
    );
    ammonia::Builder::default()
        .rm_tags(&["img"])
        .link_rel(Some("noopener noreferrer nofollow"))
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .clean(&raw)
        .to_string()
}
