//! The one reader of the peer's bytes: a line at a time, bounded, so a peer that never sends a
//! line break costs no more memory than the longest line allowed.

use std::io;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Outcome of reading one line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A complete line, without its line terminator, in the caller's buffer.
    Ok,
    /// The line exceeded the limit; it was consumed and discarded.
    TooLong,
    /// The peer closed the connection (a partial last line is dropped).
    Eof,
}

/// Reads one `\n`-terminated line of at most `max` bytes (terminator included) into
/// `out`, stripping the `\n` and an optional preceding `\r`. Overlong lines are drained
/// without being buffered, so memory stays bounded by `max`.
pub(crate) async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    max: usize,
    out: &mut Vec<u8>,
) -> io::Result<Line> {
    out.clear();
    let mut overflow = false;
    loop {
        let avail = r.fill_buf().await?;
        if avail.is_empty() {
            return Ok(Line::Eof);
        }
        let (chunk, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (avail.get(..=i).unwrap_or(avail), true),
            None => (avail, false),
        };
        let n = chunk.len();
        if !overflow {
            if out.len().saturating_add(n) > max {
                overflow = true;
                out.clear();
            } else {
                out.extend_from_slice(chunk);
            }
        }
        r.consume(n);
        if done {
            break;
        }
    }
    if overflow {
        return Ok(Line::TooLong);
    }
    if out.last() == Some(&b'\n') {
        out.pop();
    }
    if out.last() == Some(&b'\r') {
        out.pop();
    }
    Ok(Line::Ok)
}
