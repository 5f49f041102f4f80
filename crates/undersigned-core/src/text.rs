//! Text a person reads (titles, letter text, comments, names, answers, organization names):
//! refused when it carries characters that reorder or hide what is shown.
//!
//! A right-to-left override (U+202E) or an invisible character lets a title, a comment or a
//! recipient's name display as something other than what was signed and logged. Such text is
//! refused, not cleaned: silently changing it would change what a signature covers. Every path
//! that accepts readable text calls [`check_readable`], so the rule is the same everywhere.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Whether a field may span several lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lines {
    One,
    Many,
}

/// Why a text was refused; names the field and the character.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error(
        "{field}: the invisible formatting character U+{code:04X} is not allowed (it can reorder or hide what is shown)"
    )]
    Invisible { field: &'static str, code: u32 },
    #[error("{field}: the control character U+{code:04X} is not allowed")]
    Control { field: &'static str, code: u32 },
}

/// Zero-width joiner and non-joiner: format characters that Persian, Indic scripts and emoji
/// sequences need, and that cannot reorder text.
const JOINERS: [char; 2] = ['\u{200C}', '\u{200D}'];

/// Bidirectional controls (embeddings, overrides, isolates, marks): the spoofing characters.
/// All are in category Cf; listed so the intent is visible and tested on its own.
pub const BIDI_CONTROLS: [char; 12] = [
    '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}',
    '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
];

/// A character that changes how text is shown without being shown itself: every format
/// character (Unicode category Cf: bidi controls, zero-width space, word joiner, BOM, tag
/// characters, soft hyphen) but the two joiners.
pub fn is_invisible_format(c: char) -> bool {
    BIDI_CONTROLS.contains(&c)
        || (c.general_category() == GeneralCategory::Format && !JOINERS.contains(&c))
}

/// Refuses invisible formatting characters, and control characters other than a line break or
/// tab in a multi-line field.
pub fn check_readable(field: &'static str, text: &str, lines: Lines) -> Result<(), TextError> {
    for c in text.chars() {
        if is_invisible_format(c) {
            return Err(TextError::Invisible {
                field,
                code: u32::from(c),
            });
        }
        let allowed_control = lines == Lines::Many && matches!(c, '\n' | '\t');
        if c.is_control() && !allowed_control {
            return Err(TextError::Control {
                field,
                code: u32::from(c),
            });
        }
    }
    Ok(())
}

/// Text between a first-strong isolate (U+2068) and a pop (U+2069): the plain-text `<bdi>`, for
/// mails, so a name written right to left cannot pull the words around it along. The input
/// itself holds no bidi controls (see [`check_readable`]), so the pair always balances.
pub fn isolate(text: &str) -> String {
    format!("\u{2068}{text}\u{2069}")
}
