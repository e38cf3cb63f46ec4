//! Where sanitizers write: the JSON string of a document field, a plain sink, or the check
//! that looks at what would be written before anything is.

use super::MASK;
use super::keys::KeyClass;
use super::scan::Scan;
use crate::json;
use crate::sink::{Full, Sink};

/// Why a sanitizer stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stop {
    /// The input does not parse with confidence: the value is redacted whole.
    Unsure,
    /// The sink is full.
    Full,
}

impl From<Full> for Stop {
    fn from(_: Full) -> Self {
        Stop::Full
    }
}

/// What a sanitizer writes: kept slices of its input, and masks in place of secrets.
/// Dropped parts (userinfo, queries, fragments) are simply not kept.
pub(super) trait Output {
    /// Writes a slice of the input as it is.
    fn keep(&mut self, text: &str) -> Result<(), Full>;
    /// Writes [`MASK`] in place of a secret.
    fn mask(&mut self) -> Result<(), Full>;
}

/// Writes the contents of a JSON string (escaped, without quotes), cut to a number of
/// characters.
pub(super) struct JsonText<'s, S: Sink + ?Sized> {
    sink: &'s mut S,
    left: usize,
    /// Everything kept is ASCII (the input is): characters are bytes.
    ascii: bool,
    /// Nothing kept needs escaping (nothing in the input does).
    plain: bool,
    /// Whether the text was cut.
    pub(super) cut: bool,
}

impl<'s, S: Sink + ?Sized> JsonText<'s, S> {
    /// What [`scan`](super::scan::scan) found in the input holds for everything kept.
    pub(super) fn new(sink: &'s mut S, max_chars: usize, input: Scan) -> Self {
        Self {
            sink,
            left: max_chars,
            ascii: input.ascii,
            plain: input.json_plain,
            cut: false,
        }
    }
}

impl<S: Sink + ?Sized> Output for JsonText<'_, S> {
    fn keep(&mut self, text: &str) -> Result<(), Full> {
        if self.cut {
            return Ok(());
        }
        // The `small` build has one way (its scan never says `ascii` or `plain`).
        let fast = !cfg!(feature = "small");
        let (kept, cut, chars) = if fast && self.ascii {
            debug_assert!(text.is_ascii());
            let n = text.len().min(self.left);
            (text.get(..n).unwrap_or_default(), n < text.len(), n)
        } else {
            let (kept, cut) = json::cut_chars(text, self.left);
            (kept, cut, kept.chars().count())
        };
        if fast && self.plain {
            debug_assert!(!kept.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\'));
            self.sink.write(kept.as_bytes())?;
        } else {
            json::escaped(self.sink, kept)?;
        }
        self.left = self.left.saturating_sub(chars);
        self.cut = cut;
        Ok(())
    }
    fn mask(&mut self) -> Result<(), Full> {
        self.keep(MASK)
    }
}

/// Writes the text as it is (for callers that sanitize a value for their own use).
pub(super) struct Plain<'s, S: Sink + ?Sized>(pub(super) &'s mut S);

impl<S: Sink + ?Sized> Output for Plain<'_, S> {
    fn keep(&mut self, text: &str) -> Result<(), Full> {
        self.0.write(text.as_bytes())
    }
    fn mask(&mut self) -> Result<(), Full> {
        self.0.write(MASK.as_bytes())
    }
}

/// Writes nothing: looks at what a sanitizer would write, and says whether a secret could
/// still be in it. This is the net under every dialect: whatever a parser got wrong, kept
/// text never holds
///
/// - a secret key (see [`keys`](super::keys)) followed by `=` and a value, or
/// - a URL (`://`) whose authority holds an `@` (userinfo nested in a value or a path).
#[derive(Debug, Default)]
pub(super) struct Check {
    /// The key-like run of bytes since the last separator.
    key: KeyClass,
    /// The last byte was `=` after a secret key, or whitespace after that.
    after_secret_eq: bool,
    /// The last three bytes, to find `://`.
    tail: u32,
    /// Inside the authority of a URL found in kept text.
    in_authority: bool,
    /// Bytes kept.
    kept: usize,
    /// Masks written.
    masks: usize,
    /// A secret could be in the kept text.
    pub(super) unsure: bool,
}

impl Check {
    fn byte(&mut self, b: u8) {
        if self.after_secret_eq {
            if b == b' ' || b == b'\t' {
                return;
            }
            self.unsure = true;
            self.after_secret_eq = false;
        }
        if self.in_authority {
            match b {
                b'@' => self.unsure = true,
                b'/' | b'\\' | b'?' | b'#' | b';' | b'&' | b'"' | b'\'' | b')' | b'}' | b'<'
                | b'>' | b'|' | b'^' | b'`' => self.in_authority = false,
                _ if b.is_ascii_whitespace() => self.in_authority = false,
                _ => {}
            }
        }
        self.tail = (self.tail << 8 | u32::from(b)) & 0x00ff_ffff;
        if self.tail == u32::from_be_bytes([0, b':', b'/', b'/']) {
            self.in_authority = true;
        }
        match b {
            b'=' => {
                self.after_secret_eq = self.key.is_secret();
                self.key = KeyClass::default();
            }
            b' ' | b'_' | b'-' | b'.' => {}
            _ if b.is_ascii_alphanumeric() => self.key.feed(b),
            _ => self.key = KeyClass::default(),
        }
    }

    /// What the sanitizer did, from what it kept of `input`.
    pub(super) fn verdict(&self, input: &str) -> super::Sanitized {
        super::verdict(self.kept, self.masks, input)
    }
}

impl Output for Check {
    fn keep(&mut self, text: &str) -> Result<(), Full> {
        for &b in text.as_bytes() {
            self.byte(b);
        }
        self.kept += text.len();
        Ok(())
    }
    fn mask(&mut self) -> Result<(), Full> {
        self.after_secret_eq = false;
        self.in_authority = false;
        self.key = KeyClass::default();
        self.tail = 0;
        self.masks += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unsure(pieces: &[Option<&str>]) -> bool {
        let mut c = Check::default();
        for p in pieces {
            match p {
                Some(t) => c.keep(t).unwrap(),
                None => c.mask().unwrap(),
            }
        }
        c.unsure
    }

    #[test]
    fn a_secret_key_with_a_kept_value_is_caught() {
        assert!(unsure(&[Some("host=h password=x")]));
        assert!(unsure(&[Some("Server=h;Pass"), Some("word = 'x'")]));
        assert!(unsure(&[Some("a;X-Amz-Signature=abc")]));
        assert!(unsure(&[Some("/app;jsessionid=ABC")]));
    }

    #[test]
    fn a_masked_or_empty_secret_value_is_fine() {
        assert!(!unsure(&[
            Some("Server=h;Password="),
            None,
            Some(";Port=1")
        ]));
        assert!(!unsure(&[Some("password = "), None]));
        assert!(!unsure(&[Some("Password=")]));
        assert!(!unsure(&[Some(
            "Data Source=(DESCRIPTION=(HOST=h)(PORT=1521))"
        )]));
        assert!(!unsure(&[Some("sslkey=/k.pem passfile=/p")]));
    }

    #[test]
    fn nested_userinfo_is_caught() {
        assert!(unsure(&[Some("Data Source=https://u:p@h/x")]));
        assert!(unsure(&[Some("https://h/go/http://u:p@x/")]));
        assert!(!unsure(&[Some("https://h/users/@me?x=a@b")]));
        assert!(!unsure(&[Some("mongodb://h1:1,h2:2/db")]));
    }
}
