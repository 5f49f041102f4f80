//! What a message says, for the outbox page and the tests: its subject and its text body, read
//! by `mail-parser` (RFC 5322 headers, RFC 2045-2047 MIME, transfer encodings and charsets).
//! Lenient by design: malformed input yields best-effort text, never an error.

/// Returns `(subject, body_text)` for a raw message: the `text/plain` body (or the text of
/// the first HTML part when there is none), line endings normalised to `\n`, trailing line
/// breaks trimmed.
pub(crate) fn summarize(raw: &str) -> (String, String) {
    let Some(msg) = mail_parser::MessageParser::default().parse(raw.as_bytes()) else {
        return (String::new(), String::new());
    };
    let subject = msg.subject().unwrap_or_default().to_owned();
    let text = msg
        .body_text(0)
        .map(|t| t.replace("\r\n", "\n").trim_end_matches('\n').to_owned())
        .unwrap_or_default();
    (subject, text)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_soft_breaks_and_escapes() {
        let raw = "Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\
                   Content-Transfer-Encoding: quoted-printable\r\n\r\n\
                   D=C3=A9part=\r\nment =E2=80=94 ok\r\nnext\r\n";
        assert_eq!(summarize(raw).1, "Départment — ok\nnext");
    }

    #[test]
    fn encoded_words_adjacent() {
        let raw = "Subject: =?utf-8?b?RMOp?= =?utf-8?q?part_=E2=9C=93?= tail\r\n\r\nbody";
        assert_eq!(
            summarize(raw),
            ("Départ ✓ tail".to_owned(), "body".to_owned())
        );
    }

    #[test]
    fn latin1_body() {
        let raw = "Content-Type: text/plain; charset=iso-8859-1\r\n\
                   Content-Transfer-Encoding: quoted-printable\r\n\r\nD=E9part\r\n";
        assert_eq!(summarize(raw).1, "Départ");
    }

    #[test]
    fn garbage_does_not_panic() {
        for s in [
            "Subject: =?",
            "Subject: =?utf-8?b??=",
            "Subject: =?=?=?",
            "Subject: =?é?q?é?=",
            "Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n--\r\n",
            "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n",
            "\n",
            "",
        ] {
            let _ = summarize(s);
        }
    }

    #[test]
    fn random_input_does_not_panic() {
        const TOKENS: &[&str] = &[
            "=?",
            "?=",
            "?b?",
            "?Q?",
            "utf-8",
            "latin1",
            "--",
            "b1",
            "\r\n",
            "\n",
            " ",
            "\t",
            "Content-Type: multipart/alternative; boundary=b1\r\n",
            "Content-Type: text/plain; charset=\"utf-8\"\r\n",
            "Content-Transfer-Encoding: base64\r\n",
            "Content-Transfer-Encoding: quoted-printable\r\n",
            "Subject: ",
            "=",
            "=E2",
            "=\r\n",
            "é",
            "✓",
            ";",
            "\"",
            "\\",
            "boundary=",
            ":",
            "AAAA",
            "_",
            "\u{0}",
        ];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..3000 {
            let mut s = String::new();
            let n = (x % 60) as usize;
            for _ in 0..n {
                // xorshift64: deterministic, no extra dependency.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push_str(TOKENS[(x % TOKENS.len() as u64) as usize]);
            }
            let _ = summarize(&s);
        }
    }

    #[test]
    fn multipart_alternative_picks_plain() {
        let raw = "Subject: hi\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n\
                   preamble\r\n--b1\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n\
                   --b1\r\nContent-Type: text/plain; charset=utf-8\r\n\
                   Content-Transfer-Encoding: base64\r\n\r\ncGxhaW4gdGV4dA==\r\n--b1--\r\n";
        assert_eq!(summarize(raw), ("hi".to_owned(), "plain text".to_owned()));
    }
}
