//! Sanitizers: what of a URL or a connection string reaches a segment document.
//!
//! The recorder runs them on [`HttpRequest::url`](super::HttpRequest::url),
//! [`Sql::url`](super::Sql::url) and [`Sql::connection_string`](super::Sql::connection_string);
//! they are public so that a program can clean a value it records elsewhere (in metadata, an
//! annotation, an exception message) the same way.
//!
//! Each dialect is read by its own grammar, written from the standard or the driver that
//! defines it (the forms tables of [`url`](fn@url), [`database_url`] and
//! [`connection_string`](fn@connection_string) say which, with an example of each form and
//! what is recorded; every row is a test). Then:
//!
//! - userinfo (`user:password@`) is removed from URLs, wherever a URL parser finds it;
//! - the value of a secret key (see [`SECRET_PARTS`], [`SECRET_KEYS`] and
//!   [`NOT_SECRET_ENDINGS`]: `password`, `pwd`, `secret`, `token`, `AccountKey`,
//!   `X-Amz-Signature`, …, compared case-insensitively) is replaced by [`MASK`];
//! - what a document does not need is dropped: fragments, queries (kept for HTTP URLs only
//!   when asked, then with secret values masked);
//! - **when the input cannot be read with confidence, the whole value is replaced by
//!   [`REDACTED`]** rather than guessed at. This is reported as [`Sanitized::Redacted`], by
//!   the recorder as [`Outcome::Redacted`](crate::Outcome::Redacted) and counted in
//!   [`RecorderStats::values_redacted`](crate::RecorderStats::values_redacted).
//!
//! Whatever a grammar got wrong, one check runs on what would be written before anything is:
//! if the kept text still holds a secret key followed by `=` and a value, or a URL whose
//! authority holds an `@`, the value is redacted whole. (A value without `=` and `@` skips
//! it: its kept text cannot hold either.)
//!
//! The sanitizers are allocation-free and read their input a constant number of times. They
//! write at most three bytes per input byte (a mask for a one-byte value, a percent-encoded
//! trailing space), or [`REDACTED`].
//!
//! The public functions write plain text (not JSON) into a [`Sink`]; on [`Full`] the sink is
//! left as it was.

mod connection_string;
mod key_value;
mod keys;
mod output;
mod scan;
mod url;

pub use keys::{NOT_SECRET_ENDINGS, SECRET_KEYS, SECRET_PARTS};

use crate::sink::{Full, Sink};
use output::{Check, JsonText, Output, Plain};
use scan::scan;

/// What replaces the value of a secret key.
pub const MASK: &str = "***";

/// What replaces a whole value that could not be read with confidence.
pub const REDACTED: &str = "[redacted]";

/// What a sanitizer did to a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sanitized {
    /// Written as given.
    Kept,
    /// Written with userinfo, secret values, queries or fragments removed or masked.
    Cleaned,
    /// Not understood with confidence: [`REDACTED`] was written instead.
    Redacted,
}

/// The kind of value, which picks the grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Form {
    /// `http.request.url`.
    HttpUrl {
        /// Keep the query string (with secret values masked).
        keep_query: bool,
    },
    /// `sql.url`.
    DatabaseUrl,
    /// `sql.connection_string`.
    ConnectionString,
}

/// A dialect's reader: writes what it keeps of a text, or stops.
type Reader<'r> = &'r dyn Fn(&str, &mut dyn Output) -> Result<(), output::Stop>;

/// Calls `f` with the reader of `form`. Inlined, so that a caller with a constant form (every
/// recorder field) links only its own dialect: firmware that records `http.request.url` does
/// not carry the connection-string grammars.
#[inline(always)]
fn with_reader<T>(form: Form, f: impl FnOnce(Reader<'_>, bool) -> T) -> T {
    match form {
        // An HTTP URL's reader decides everything before it writes: it may run in one pass.
        Form::HttpUrl { keep_query } => f(&|t, o| url::http(t, keep_query, o), true),
        Form::DatabaseUrl => f(&connection_string::write_url, false),
        Form::ConnectionString => f(&connection_string::write, false),
    }
}

/// Checks what `read` would write, then writes it, or [`REDACTED`]. `decides_first`: the
/// reader decides everything before it writes. `may_object`: the text holds `=` or `@`.
fn sanitize(
    read: Reader<'_>,
    decides_first: bool,
    may_object: bool,
    text: &str,
    out: &mut dyn Output,
) -> Result<Sanitized, Full> {
    // The check objects only to a kept `=` (after a secret key) or a kept `@` (in a URL's
    // authority). Kept text is slices of the input and ASCII literals (`?`, `;`,
    // percent-encoded C0 controls and spaces) that hold neither: without `=` and `@` in the
    // input the check cannot object, and is not run. What the verdict needs is counted.
    if !may_object {
        let unsure = |out: &mut dyn Output| {
            out.keep(REDACTED)?;
            Ok(Sanitized::Redacted)
        };
        if decides_first {
            let mut counted = Counted::new(&mut *out);
            return match read(text, &mut counted) {
                Ok(()) => Ok(counted.verdict(text)),
                Err(output::Stop::Full) => Err(Full),
                Err(output::Stop::Unsure) => unsure(out),
            };
        }
        // The reader may find it is unsure after it wrote: a first reading, into nothing,
        // says whether it will.
        let mut nothing = Nothing;
        let mut counted = Counted::new(&mut nothing);
        if read(text, &mut counted).is_err() {
            return unsure(out);
        }
        read(text, out).map_err(|_| Full)?;
        return Ok(counted.verdict(text));
    }
    let mut check = Check::default();
    if read(text, &mut check).is_err() || check.unsure {
        out.keep(REDACTED)?;
        return Ok(Sanitized::Redacted);
    }
    // The same reading as the check's: it cannot be unsure now, only full.
    read(text, out).map_err(|_| Full)?;
    Ok(check.verdict(text))
}

/// What a sanitizer did, from how many bytes of `input` it kept and how many masks it wrote.
fn verdict(kept: usize, masks: usize, input: &str) -> Sanitized {
    if masks == 0 && kept == input.len() {
        Sanitized::Kept
    } else {
        Sanitized::Cleaned
    }
}

/// Passes writes on, counting them for the verdict.
struct Counted<'o> {
    out: &'o mut dyn Output,
    kept: usize,
    masks: usize,
}

impl<'o> Counted<'o> {
    fn new(out: &'o mut dyn Output) -> Self {
        Self {
            out,
            kept: 0,
            masks: 0,
        }
    }

    fn verdict(&self, input: &str) -> Sanitized {
        verdict(self.kept, self.masks, input)
    }
}

/// Writes nothing.
struct Nothing;

impl Output for Nothing {
    fn keep(&mut self, _: &str) -> Result<(), Full> {
        Ok(())
    }
    fn mask(&mut self) -> Result<(), Full> {
        Ok(())
    }
}

impl Output for Counted<'_> {
    fn keep(&mut self, text: &str) -> Result<(), Full> {
        self.kept += text.len();
        self.out.keep(text)
    }
    fn mask(&mut self) -> Result<(), Full> {
        self.masks += 1;
        self.out.mask()
    }
}

/// Writes `text` sanitized as `form` as a JSON string cut to `max_chars` characters. Returns
/// what was done and whether the text was cut.
#[inline(always)]
pub(crate) fn write_json<S: Sink + ?Sized>(
    s: &mut S,
    text: &str,
    form: Form,
    max_chars: usize,
) -> Result<(Sanitized, bool), Full> {
    let seen = scan(text.as_bytes());
    with_reader(form, |read, decides_first| {
        s.byte(b'"')?;
        let mut out = JsonText::new(s, max_chars, seen);
        let done = sanitize(read, decides_first, seen.eq_or_at, text, &mut out)?;
        let cut = out.cut;
        s.byte(b'"')?;
        Ok((done, cut))
    })
}

/// Writes `text` sanitized as `form` into `sink`; on [`Full`] the sink is as it was.
fn write_plain<S: Sink + ?Sized>(sink: &mut S, text: &str, form: Form) -> Result<Sanitized, Full> {
    let mark = sink.len();
    let may_object = scan(text.as_bytes()).eq_or_at;
    let r = with_reader(form, |read, decides_first| {
        sanitize(
            read,
            decides_first,
            may_object,
            text,
            &mut Plain(&mut *sink),
        )
    });
    if r.is_err() {
        sink.truncate(mark);
    }
    r
}

#[doc = include_str!("url_forms.md")]
pub fn url<S: Sink + ?Sized>(sink: &mut S, url: &str, keep_query: bool) -> Result<Sanitized, Full> {
    write_plain(sink, url, Form::HttpUrl { keep_query })
}

#[doc = include_str!("database_url_forms.md")]
pub fn database_url<S: Sink + ?Sized>(sink: &mut S, url: &str) -> Result<Sanitized, Full> {
    write_plain(sink, url, Form::DatabaseUrl)
}

#[doc = include_str!("connection_string_forms.md")]
pub fn connection_string<S: Sink + ?Sized>(sink: &mut S, text: &str) -> Result<Sanitized, Full> {
    write_plain(sink, text, Form::ConnectionString)
}

#[cfg(test)]
mod tests;
