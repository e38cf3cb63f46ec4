//! Where the parts of a URL are, found as the WHATWG URL standard's basic URL parser finds
//! them, and the sanitizer of `http.request.url` built on it.
//!
//! The parser's steps that decide where the authority is (and so what is userinfo):
//!
//! - leading and trailing C0 controls and spaces are ignored, and tabs and newlines anywhere;
//! - a scheme is an ASCII letter, then letters, digits, `+`, `-` or `.`, then `:`;
//! - after a special scheme (`http`, `https`, `ws`, `wss`, `ftp`) any run of `/` and `\`,
//!   even none (`http:user:pw@host`), leads to the authority; after `file:` exactly two;
//!   after another scheme exactly `//`, else there is no authority (an opaque path such as
//!   `mailto:a@b`, or a path such as `foo:/a@b`);
//! - the authority ends at the first `/`, `?` or `#` (and `\` for special schemes);
//! - userinfo is everything in the authority up to its **last** `@`.
//!
//! Without a scheme (a relative reference) a special base is assumed, as for a request
//! target: two or more `/` or `\` start an authority (`//user:pw@host`, `\\user@host`).

use super::keys::KeyClass;
use super::output::{Output, Stop};
use crate::sink::Full;

/// WHATWG removes these anywhere in the input before parsing.
const fn is_tab_or_newline(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\r')
}

/// `text[from..to]`; the sanitizers only cut at ASCII bytes, so this never fails (an empty
/// slice, which drops text rather than leaking it, would be the result if it did).
pub(super) fn slice(text: &str, from: usize, to: usize) -> &str {
    text.get(from..to).unwrap_or_default()
}

/// The first index in `from..to` whose byte satisfies `pred`, or `to`.
pub(super) fn find(b: &[u8], from: usize, to: usize, pred: impl Fn(u8) -> bool) -> usize {
    b.get(from..to)
        .and_then(|s| s.iter().position(|&c| pred(c)))
        .map_or(to, |i| from + i)
}

/// The first index at or after `i` (below `to`) that is not a tab or newline.
fn skip_tabs(b: &[u8], mut i: usize, to: usize) -> usize {
    while i < to && is_tab_or_newline(b[i]) {
        i += 1;
    }
    i
}

/// What kind of scheme a URL has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Scheme {
    /// `http`, `https`, `ws`, `wss`, `ftp`.
    Special,
    /// `file`.
    File,
    /// Any other scheme.
    Other,
    /// No scheme: a relative reference, read against a special base.
    None,
}

/// How a caller reads URLs.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rules {
    /// The authority may hold several comma-separated hosts (database URLs).
    pub(super) host_list: bool,
    /// `;` also ends the authority (SQL Server JDBC URLs).
    pub(super) semicolon_ends_authority: bool,
    /// Hosts may not hold `(`, `)`, `=`, quotes or whitespace (database URLs, where those
    /// mean a key/value host form this reader does not parse).
    pub(super) plain_hosts: bool,
}

impl Rules {
    /// `http.request.url`.
    pub(super) const HTTP: Rules = Rules {
        host_list: false,
        semicolon_ends_authority: false,
        plain_hosts: false,
    };
}

/// The authority: `start..host` is userinfo with its last `@` (empty without), `host..end`
/// the host and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Authority {
    pub(super) start: usize,
    pub(super) host: usize,
    pub(super) end: usize,
    /// A `:` after a host: a port (maybe empty).
    pub(super) port: bool,
}

/// Where the parts of a URL are, as byte offsets into the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Url {
    /// The first byte after leading C0 controls and spaces.
    pub(super) start: usize,
    /// The end, before trailing C0 controls and spaces.
    pub(super) end: usize,
    pub(super) scheme: Scheme,
    pub(super) authority: Option<Authority>,
    /// Where the path starts: after the authority, or after the scheme.
    pub(super) path_start: usize,
    /// The first `?` or `#` after the path start (or the end).
    pub(super) path_end: usize,
    /// The first `#` at or after `path_end` (or the end).
    pub(super) query_end: usize,
}

/// Finds the parts of `text`. [`Stop::Unsure`] when it is not a URL that can be read with
/// confidence: a port that is not a number up to 65535, an unclosed `[`, a relative path
/// whose first segment holds `:` or `@`, or a host that the rules forbid.
pub(super) fn locate(text: &str, rules: Rules) -> Result<Url, Stop> {
    let b = text.as_bytes();
    // The `small` build reads every URL the one way.
    let general_only = cfg!(feature = "small")
        || rules.host_list
        || rules.semicolon_ends_authority
        || rules.plain_hosts;
    if !general_only && let Some(u) = locate_ordinary(b) {
        return Ok(u);
    }
    locate_any(text, rules)
}

/// [`locate`] for the common form, `http[s]://host[:port][/path][?query][#fragment]` (or
/// `ws`, `wss`, `ftp`) with nothing to trim, exactly two slashes, and no tab, newline,
/// space, control, `\` or `[` in the scheme and authority, read in one pass. `None` for
/// anything else (also a port that is not a number up to 65535), which [`locate_any`] reads.
/// For every text where this finds the parts, `locate_any` finds the same (a property test).
pub(super) fn locate_ordinary(b: &[u8]) -> Option<Url> {
    if *b.last()? <= b' ' {
        return None;
    }
    // The scheme and its `//`, compared as one word.
    let first = u64::from_le_bytes(*b.first_chunk::<8>()?);
    let a = ORDINARY_STARTS
        .iter()
        .find(|s| (first | s.lower) & s.keep == s.word)?
        .len;
    if matches!(b.get(a), Some(b'/' | b'\\')) {
        return None;
    }
    let (mut host, mut port_at, mut end_a) = (a, None, b.len());
    for (i, &c) in b.iter().enumerate().skip(a) {
        match c {
            b'/' | b'?' | b'#' => {
                end_a = i;
                break;
            }
            b'@' => (host, port_at) = (i + 1, None),
            b':' if port_at.is_none() => port_at = Some(i),
            b'\\' | b'[' | 0..=b' ' => return None,
            _ => {}
        }
    }
    if let Some(p) = port_at {
        // A port is digits, at most 65535.
        b.get(p + 1..end_a)?.iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit()
                .then(|| n * 10 + u32::from(d - b'0'))
                .filter(|&n| n <= 65_535)
        })?;
    }
    let rest = b.get(end_a..).unwrap_or_default();
    let path_end = end_a
        + rest
            .iter()
            .position(|&c| c == b'?' || c == b'#')
            .unwrap_or(rest.len());
    let rest = b.get(path_end..).unwrap_or_default();
    let query_end = path_end + rest.iter().position(|&c| c == b'#').unwrap_or(rest.len());
    Some(Url {
        start: 0,
        end: b.len(),
        scheme: Scheme::Special,
        authority: Some(Authority {
            start: a,
            host,
            end: end_a,
            port: port_at.is_some(),
        }),
        path_start: end_a,
        path_end,
        query_end,
    })
}

/// The start of an ordinary URL as the first bytes of a word (the first byte lowest).
struct OrdinaryStart {
    word: u64,
    /// The bytes of the word that are compared.
    keep: u64,
    /// `0x20` in each letter: or-ed in, it lowercases an ASCII letter, and makes no other
    /// byte one.
    lower: u64,
    len: usize,
}

const fn ordinary_start(start: &str) -> OrdinaryStart {
    let b = start.as_bytes();
    let (mut word, mut keep, mut lower) = (0, 0, 0);
    let mut i = 0;
    while i < b.len() {
        word |= (b[i] as u64) << (8 * i);
        keep |= 0xff << (8 * i);
        if b[i].is_ascii_lowercase() {
            lower |= 0x20 << (8 * i);
        }
        i += 1;
    }
    assert!(b.len() <= 8);
    OrdinaryStart {
        word,
        keep,
        lower,
        len: b.len(),
    }
}

/// The special schemes, as an ordinary URL starts with them.
const ORDINARY_STARTS: [OrdinaryStart; 5] = [
    ordinary_start("https://"),
    ordinary_start("http://"),
    ordinary_start("wss://"),
    ordinary_start("ws://"),
    ordinary_start("ftp://"),
];

/// [`locate`] for any text.
pub(super) fn locate_any(text: &str, rules: Rules) -> Result<Url, Stop> {
    let b = text.as_bytes();
    let start = find(b, 0, b.len(), |c| c > b' ');
    let end = b.iter().rposition(|&c| c > b' ').map_or(start, |i| i + 1);
    let (scheme, after_scheme) = scheme(b, start, end);
    let slash = |c: u8| c == b'/' || (scheme != Scheme::Other && c == b'\\');
    let authority_start = match scheme {
        Scheme::Special => Some(find(b, after_scheme, end, |c| {
            !(c == b'/' || c == b'\\' || is_tab_or_newline(c))
        })),
        Scheme::File | Scheme::Other => {
            let first = skip_tabs(b, after_scheme, end);
            let second = skip_tabs(b, first + 1, end);
            (first < end && slash(b[first]) && second < end && slash(b[second]))
                .then_some(second + 1)
        }
        Scheme::None => {
            let first = skip_tabs(b, start, end);
            let second = skip_tabs(b, first + 1, end);
            (first < end && slash(b[first]) && second < end && slash(b[second])).then(|| {
                find(b, second, end, |c| {
                    !(c == b'/' || c == b'\\' || is_tab_or_newline(c))
                })
            })
        }
    };
    let ends_authority =
        |c: u8| c == b'?' || c == b'#' || slash(c) || (rules.semicolon_ends_authority && c == b';');
    let authority = match authority_start {
        Some(a) => {
            let end_a = find(b, a, end, ends_authority);
            let host = b[a..end_a]
                .iter()
                .rposition(|&c| c == b'@')
                .map_or(a, |i| a + i + 1);
            let port = check_hosts(b, host, end_a, rules)?;
            Some(Authority {
                start: a,
                host,
                end: end_a,
                port,
            })
        }
        None => None,
    };
    let path_start = authority.map_or(after_scheme, |a| a.end);
    if scheme == Scheme::None && authority.is_none() {
        // A relative path's first segment cannot hold `:` (it would be a scheme) and, read
        // by hand, `user:pw@host` or `user@host` there is an authority without its `//`.
        let first = skip_tabs(b, start, end);
        if first < end && !slash(b[first]) {
            let seg_end = find(b, first, end, |c| matches!(c, b'/' | b'\\' | b'?' | b'#'));
            if b[first..seg_end].iter().any(|&c| c == b':' || c == b'@') {
                return Err(Stop::Unsure);
            }
        }
    }
    let path_end = find(b, path_start, end, |c| c == b'?' || c == b'#');
    let query_end = find(b, path_end, end, |c| c == b'#');
    Ok(Url {
        start,
        end,
        scheme,
        authority,
        path_start,
        path_end,
        query_end,
    })
}

/// The scheme of `b[start..end]` and the index after its `:` (or `start` without one).
fn scheme(b: &[u8], start: usize, end: usize) -> (Scheme, usize) {
    if !(start < end && b[start].is_ascii_alphabetic()) {
        return (Scheme::None, start);
    }
    let mut name = [0u8; 5];
    let mut n = 0;
    let mut i = start;
    while i < end
        && (b[i].is_ascii_alphanumeric()
            || matches!(b[i], b'+' | b'-' | b'.')
            || is_tab_or_newline(b[i]))
    {
        if !is_tab_or_newline(b[i]) {
            if let Some(slot) = name.get_mut(n) {
                *slot = b[i].to_ascii_lowercase();
            }
            n += 1;
        }
        i += 1;
    }
    if !(i < end && b[i] == b':') {
        return (Scheme::None, start);
    }
    let kind = match name.get(..n) {
        Some(b"file") => Scheme::File,
        Some(b"http" | b"https" | b"ws" | b"wss" | b"ftp") => Scheme::Special,
        _ => Scheme::Other,
    };
    (kind, i + 1)
}

/// Checks the host(s) and port(s) in `b[from..to]`; says whether a port separator was seen.
fn check_hosts(b: &[u8], from: usize, to: usize, rules: Rules) -> Result<bool, Stop> {
    let mut port_seen = false;
    let mut at = from;
    loop {
        let end = if rules.host_list {
            find(b, at, to, |c| c == b',')
        } else {
            to
        };
        port_seen |= check_host(&b[at..end], rules)?;
        if end >= to {
            return Ok(port_seen);
        }
        at = end + 1;
    }
}

/// Checks one `host[:port]`; says whether it has a `:`.
fn check_host(h: &[u8], rules: Rules) -> Result<bool, Stop> {
    let first = skip_tabs(h, 0, h.len());
    let port_at = if h.get(first) == Some(&b'[') {
        let close = find(h, first, h.len(), |c| c == b']');
        if close == h.len() {
            return Err(Stop::Unsure);
        }
        let after = skip_tabs(h, close + 1, h.len());
        match h.get(after) {
            None => None,
            Some(b':') => Some(after),
            Some(_) => return Err(Stop::Unsure),
        }
    } else {
        let colon = find(h, first, h.len(), |c| c == b':');
        (colon < h.len()).then_some(colon)
    };
    if rules.plain_hosts
        && h.iter().any(|&c| {
            matches!(c, b'(' | b')' | b'=' | b'"' | b'\'' | b'@') || c.is_ascii_whitespace()
        })
    {
        return Err(Stop::Unsure);
    }
    let Some(colon) = port_at else {
        return Ok(false);
    };
    // A port is digits (tabs and newlines aside), at most 65535: anything else may be a
    // password whose `@` is missing or came after a `/`, `?` or `#`.
    let mut port: u32 = 0;
    for &c in &h[colon + 1..] {
        match c {
            b'0'..=b'9' => {
                port = port * 10 + u32::from(c - b'0');
                if port > 65_535 {
                    return Err(Stop::Unsure);
                }
            }
            _ if is_tab_or_newline(c) => {}
            _ => return Err(Stop::Unsure),
        }
    }
    Ok(true)
}

/// Writes `http.request.url`: userinfo removed, the fragment dropped, the query dropped or,
/// with `keep_query`, filtered by [`query`].
pub(super) fn http(text: &str, keep_query: bool, out: &mut dyn Output) -> Result<(), Stop> {
    let u = locate(text, Rules::HTTP)?;
    let b = text.as_bytes();
    match u.authority {
        Some(a) => {
            // What follows a removed userinfo or a port may hold the rest of a password
            // that had an unencoded `/`, `?` or `#` in it.
            if (a.host > a.start || a.port) && b[a.end..u.end].contains(&b'@') {
                return Err(Stop::Unsure);
            }
            let tail = trailing_spaces(b, a.host, u.path_end);
            if a.host == a.start {
                // No userinfo: what is kept is one slice, escaped in one go.
                out.keep(slice(text, u.start, tail))?;
            } else {
                out.keep(slice(text, u.start, a.start))?;
                out.keep(slice(text, a.host, tail))?;
            }
            escaped_tail(&b[tail..u.path_end], out)?;
        }
        None => {
            // No authority (`mailto:a@b`, `foo:/u:p@h`): an `@` in the path is userinfo to
            // any reader who does not know the scheme.
            if u.scheme != Scheme::None && b[u.path_start..u.path_end].contains(&b'@') {
                return Err(Stop::Unsure);
            }
            let tail = trailing_spaces(b, u.start, u.path_end);
            out.keep(slice(text, u.start, tail))?;
            // An opaque path (`foo:bar`) keeps spaces raw, and cannot end with one: they
            // are left out.
            let opaque = u.scheme == Scheme::Other && b.get(u.path_start) != Some(&b'/');
            if !opaque {
                escaped_tail(&b[tail..u.path_end], out)?;
            }
        }
    }
    if keep_query && b.get(u.path_end) == Some(&b'?') {
        let tail = trailing_spaces(b, u.path_end + 1, u.query_end);
        out.keep("?")?;
        query(slice(text, u.path_end + 1, tail), out)?;
        escaped_tail(&b[tail..u.query_end], out)?;
    }
    Ok(())
}

/// Where the spaces and C0 controls at the end of `b[from..to]` start.
fn trailing_spaces(b: &[u8], from: usize, to: usize) -> usize {
    b[from..to]
        .iter()
        .rposition(|&c| c > b' ')
        .map_or(from, |i| from + i + 1)
}

/// Writes spaces and C0 controls that end a kept part, but no longer the URL (what followed
/// them was dropped), percent-encoded as a URL parser reads them there: otherwise they
/// would be trimmed and the path or query would change. Tabs and newlines are ignored by
/// parsers anywhere, so they are left out.
fn escaped_tail(tail: &[u8], out: &mut dyn Output) -> Result<(), Full> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &c in tail {
        if !is_tab_or_newline(c) {
            let e = [b'%', HEX[usize::from(c >> 4)], HEX[usize::from(c & 0xf)]];
            out.keep(core::str::from_utf8(&e).unwrap_or_default())?;
        }
    }
    Ok(())
}

/// Writes a query string (without its `?`), parameter by parameter (`&` or `;` between
/// them): the value of a secret key (see [`keys`](super::keys); keys are percent-decoded
/// first) is masked, as is a value holding `@` (a nested URL's userinfo, an address); a
/// parameter whose name holds `@` is masked whole.
pub(super) fn query(q: &str, out: &mut dyn Output) -> Result<(), Full> {
    let b = q.as_bytes();
    let mut at = 0;
    loop {
        let end = find(b, at, b.len(), |c| c == b'&' || c == b';');
        param(slice(q, at, end), out)?;
        if end >= b.len() {
            return Ok(());
        }
        out.keep(slice(q, end, end + 1))?;
        at = end + 1;
    }
}

fn has_at(text: &[u8]) -> bool {
    text.contains(&b'@') || text.windows(3).any(|w| w.eq_ignore_ascii_case(b"%40"))
}

fn param(p: &str, out: &mut dyn Output) -> Result<(), Full> {
    let b = p.as_bytes();
    let eq = find(b, 0, b.len(), |c| c == b'=');
    let (name, value) = (&b[..eq], b.get(eq + 1..).unwrap_or_default());
    if has_at(name) {
        return out.mask();
    }
    let mut key = KeyClass::default();
    key.feed_percent_decoded(name);
    if eq < b.len() && !value.is_empty() && (key.is_secret() || has_at(value)) {
        out.keep(slice(p, 0, eq + 1))?;
        return out.mask();
    }
    out.keep(p)
}
