//! The tally by organization as an inline SVG bar chart, drawn by the server so the page needs
//! no script to show it. Cells below k are drawn as a short hatched bar labelled `<k`: their
//! exact value is withheld on purpose.

use maud::{html, Markup};
use undersigned_core::tally::Cell;

const BAR_HEIGHT: u32 = 22;
const GAP: u32 = 8;
const LABEL_WIDTH: u32 = 210;
const BAR_SPACE: u32 = 300;
const VALUE_WIDTH: u32 = 60;

/// One bar: a label (organization name) and its published cell.
pub struct Bar {
    pub label: String,
    pub cell: Cell,
}

fn value(cell: Cell) -> u64 {
    match cell {
        Cell::Count(n) => n,
        // Drawn at k-1, the most it can be, so a `<k` bar never looks bigger than a real count.
        Cell::BelowK(k) => u64::from(k.saturating_sub(1)),
    }
}

/// A horizontal bar chart scaled to the largest bar; empty input draws nothing.
pub fn bar_chart(title: &str, bars: &[Bar]) -> Markup {
    let max = bars.iter().map(|b| value(b.cell)).max().unwrap_or(0).max(1);
    let count = u32::try_from(bars.len()).unwrap_or(u32::MAX);
    let height = count.saturating_mul(BAR_HEIGHT + GAP).max(BAR_HEIGHT);
    let width = LABEL_WIDTH + BAR_SPACE + VALUE_WIDTH;
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" role="img"
            viewBox=(format!("0 0 {width} {height}"))
            aria-label=(title) {
            title { (title) }
            defs {
                pattern #hatch width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)" {
                    rect width="6" height="6" class="hatch-bg" {}
                    line x1="0" y1="0" x2="0" y2="6" class="hatch-line" {}
                }
            }
            @for (i, bar) in bars.iter().enumerate() {
                @let y = u32::try_from(i).unwrap_or(0).saturating_mul(BAR_HEIGHT + GAP);
                @let w = (value(bar.cell).saturating_mul(u64::from(BAR_SPACE)) / max).max(2);
                g.row {
                    text.label x=(LABEL_WIDTH - 8) y=(y + 16) text-anchor="end" { (shorten(&bar.label)) }
                    @match bar.cell {
                        Cell::Count(_) => rect.bar x=(LABEL_WIDTH) y=(y) width=(w) height=(BAR_HEIGHT) {},
                        Cell::BelowK(_) => rect.bar-small x=(LABEL_WIDTH) y=(y) width=(w) height=(BAR_HEIGHT) fill="url(#hatch)" {},
                    }
                    text.value x=(u64::from(LABEL_WIDTH) + w + 6) y=(y + 16) { (bar.cell) }
                }
            }
        }
    }
}

/// Long agency names would run off the label column; the table below the chart has them whole.
fn shorten(label: &str) -> String {
    const MAX: usize = 30;
    if label.chars().count() <= MAX {
        label.to_owned()
    } else {
        let mut s: String = label.chars().take(MAX - 1).collect();
        s.push('…');
        s
    }
}
