//! The tally by organization as a bar chart drawn by the server, so the page needs no script to
//! show it. Labels and values are HTML text (they wrap and keep the page's font size on a
//! phone); each bar is a small SVG scaled to its row. Cells below k are drawn as a short
//! hatched bar labelled `<k`: their exact value is withheld on purpose.

use maud::{html, Markup};
use undersigned_core::tally::Cell;

/// Bar lengths are drawn in a 0..=100 box.
const SCALE: u64 = 100;

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

/// A horizontal bar chart scaled to the largest bar; empty input draws nothing. The chart
/// repeats the table beside it, so assistive technology is pointed at the table instead.
pub fn bar_chart(title: &str, bars: &[Bar]) -> Markup {
    let max = bars.iter().map(|b| value(b.cell)).max().unwrap_or(0).max(1);
    html! {
        div.chart aria-hidden="true" title=(title) {
            @for bar in bars {
                @let w = (value(bar.cell).saturating_mul(SCALE) / max).max(1);
                div.chart-row {
                    span.chart-label { (bar.label) }
                    span.chart-bar {
                        svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 10" preserveAspectRatio="none" focusable="false" {
                            @match bar.cell {
                                Cell::Count(_) => rect.bar x="0" y="0" width=(w) height="10" {},
                                Cell::BelowK(_) => rect.bar-small x="0" y="0" width=(w) height="10" {},
                            }
                        }
                    }
                    span.chart-value { (bar.cell) }
                }
            }
        }
    }
}
