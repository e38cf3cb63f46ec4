//! URLs in exception messages: HTTP and SDK errors often name the URL they failed on
//! (`error sending request for url (https://user:pw@host/key?X-Amz-Signature=…)`), and a
//! message goes into the document as it is. Each URL in a message is cleaned as
//! `http.request.url` is: userinfo, query and fragment removed, or `[redacted]` when it
//! cannot be read with confidence.

use xray_core::model::sanitize;
use xray_core::{Sink, SliceSink};

/// Characters that end a URL inside prose.
fn ends_url(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '"' | '\'' | '<' | '>' | '(' | ')' | '`' | '{' | '}' | '|'
        )
}

/// `text` with every URL (`scheme://…`) in it cleaned, written into `buf` (cut at a char
/// boundary when it does not fit).
pub(crate) fn scrub_urls<'b>(text: &str, buf: &'b mut [u8]) -> &'b str {
    let mut sink = SliceSink::new(buf);
    let mut kept = 0;
    let mut from = 0;
    let mut full = false;
    while let Some(at) = text[from..].find("://").map(|i| from + i) {
        let start = text[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |i| i + 1);
        let end = text[at..].find(ends_url).map_or(text.len(), |i| at + i);
        if start < at {
            full |= write(&mut sink, &text[kept..start]);
            // On a full buffer the sanitizer leaves the sink as it was.
            full |= sanitize::url(&mut sink, &text[start..end], false).is_err();
            kept = end;
        }
        from = end.max(at + 3);
        if full {
            break;
        }
    }
    if !full {
        let _ = write(&mut sink, &text[kept..]);
    }
    let n = sink.len();
    let written = &buf[..n];
    match std::str::from_utf8(written) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&written[..e.valid_up_to()]).unwrap_or_default(),
    }
}

/// Writes as much of `text` as fits; says whether it was cut.
fn write(sink: &mut SliceSink<'_>, text: &str) -> bool {
    let room = sink.remaining().min(text.len());
    let mut cut = room;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let _ = sink.write(&text.as_bytes()[..cut]);
    cut < text.len()
}

#[cfg(test)]
mod tests {
    use super::scrub_urls;

    fn scrub(text: &str) -> String {
        let mut buf = [0u8; 1024];
        scrub_urls(text, &mut buf).to_owned()
    }

    #[test]
    fn urls_in_messages_lose_their_secrets() {
        assert_eq!(
            scrub(
                "error sending request for url (https://u:pw@h.example/k?X-Amz-Signature=abc): timed out"
            ),
            "error sending request for url (https://h.example/k): timed out"
        );
        assert_eq!(
            scrub("connect to postgres://me:s3cret@db:5432/app failed"),
            "connect to postgres://db:5432/app failed"
        );
        assert_eq!(scrub("bad https://user:secret"), "bad [redacted]");
        assert_eq!(scrub("no url here: a://"), "no url here: a://");
        assert_eq!(scrub("plain text"), "plain text");
        assert_eq!(scrub("://x"), "://x");
    }

    #[test]
    fn a_full_buffer_cuts_the_message_not_into_a_url() {
        let mut buf = [0u8; 12];
        let text = "see https://user:password@host.example/";
        let out = scrub_urls(text, &mut buf).to_owned();
        assert!(!out.contains("password") && !out.contains("user"), "{out}");
        assert!(out.starts_with("see "));
    }
}
