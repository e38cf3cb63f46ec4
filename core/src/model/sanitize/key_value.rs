//! Key/value connection strings: ADO.NET / OLE DB / ODBC (`key=value;…`), libpq
//! (`keyword=value …`) and StackExchange.Redis (`host:port,option=value,…`), each read by
//! its own grammar.
//!
//! A string is read by every grammar that parses all of it, and a value is masked when any
//! of those readings makes it the value of a secret key: `host=h password=x;y=z` is one
//! libpq pair `password` = `x;y=z`, and one ADO pair `host` = `h password=x` and `y` = `z`;
//! masking both readings' secrets keeps the password out whichever reading the driver uses.
//! When no grammar parses the string, it is redacted whole.

use super::keys;
use super::output::{Output, Stop};
use super::url::slice;
use crate::sink::Full;

/// A byte range of the input.
type Span = (usize, usize);

/// One pair: the key's span and the value's span (quotes included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pair {
    key: Span,
    value: Span,
}

/// A syntax error: the grammar does not read this string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Unparsed;

/// A grammar: reads pairs in order.
trait Grammar {
    fn next_pair(&mut self) -> Option<Result<Pair, Unparsed>>;
}

/// ADO.NET, OLE DB and ODBC: `key=value` pairs separated by `;`. Keys are trimmed and may
/// hold spaces (`User Id`); values are trimmed, or quoted with `"…"` or `'…'` (the quote
/// doubled inside) or `{…}` (`}}` inside), and then may hold `;`. A non-empty segment without
/// `=`, an empty key, an unclosed quote or text after a closing quote is a syntax error, as
/// in `DbConnectionStringBuilder`.
///
/// `==` in a key is a literal `=` to ADO.NET (`literal_eq`), but a driver that splits a pair
/// at its first `=` reads `pwd==x` as `pwd` = `=x`: both readings are taken (a fuzzer found
/// the second one's secret kept as part of the first one's key).
struct Ado<'t> {
    b: &'t [u8],
    i: usize,
    /// Whether `==` in a key is a literal `=` (ADO.NET), rather than the end of the key.
    literal_eq: bool,
}

impl Grammar for Ado<'_> {
    fn next_pair(&mut self) -> Option<Result<Pair, Unparsed>> {
        let b = self.b;
        let n = b.len();
        while self.i < n && (b[self.i] == b';' || b[self.i].is_ascii_whitespace()) {
            self.i += 1;
        }
        if self.i >= n {
            return None;
        }
        let key_start = self.i;
        let mut i = self.i;
        loop {
            match b.get(i) {
                None | Some(b';') => return Some(Err(Unparsed)),
                Some(b'=') if self.literal_eq && b.get(i + 1) == Some(&b'=') => i += 2,
                Some(b'=') => break,
                Some(_) => i += 1,
            }
        }
        let key = (key_start, trim_end(b, key_start, i));
        if key.0 == key.1 {
            return Some(Err(Unparsed));
        }
        i += 1;
        while i < n && b[i] != b';' && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let value_start = i;
        let value_end;
        match b.get(i) {
            Some(&q @ (b'"' | b'\'' | b'{')) => {
                let close = if q == b'{' { b'}' } else { q };
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Some(Err(Unparsed)),
                        Some(&c) if c == close && b.get(i + 1) == Some(&close) => i += 2,
                        Some(&c) if c == close => break,
                        Some(_) => i += 1,
                    }
                }
                i += 1;
                value_end = i;
                while i < n && b[i] != b';' && b[i].is_ascii_whitespace() {
                    i += 1;
                }
                if i < n && b[i] != b';' {
                    return Some(Err(Unparsed));
                }
            }
            _ => {
                while i < n && b[i] != b';' {
                    i += 1;
                }
                value_end = trim_end(b, value_start, i);
            }
        }
        self.i = i;
        Some(Ok(Pair {
            key,
            value: (value_start, value_end),
        }))
    }
}

/// `b[from..to]` without trailing whitespace: its new end.
fn trim_end(b: &[u8], from: usize, mut to: usize) -> usize {
    while to > from && b[to - 1].is_ascii_whitespace() {
        to -= 1;
    }
    to
}

/// libpq's keywords (PostgreSQL 18): a libpq string with any other keyword does not connect,
/// so this grammar reads only these, as libpq does (case-sensitively).
const LIBPQ_KEYWORDS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "require_auth",
    "channel_binding",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "replication",
    "gssencmode",
    "sslmode",
    "sslnegotiation",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslkeylogfile",
    "sslpassword",
    "sslcertmode",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "requiressl",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "min_protocol_version",
    "max_protocol_version",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "service",
    "target_session_attrs",
    "load_balance_hosts",
    "oauth_issuer",
    "oauth_client_id",
    "oauth_client_secret",
    "oauth_scope",
];

/// libpq keyword/value strings (`conninfo_parse`): `keyword = value` pairs separated by
/// whitespace; a value is single-quoted (`\` escapes the next character, `\'` a quote) or a
/// run of non-whitespace (`\` escapes there too). After `=`, whitespace is skipped, so in
/// `password= host=h` the password is `host=h`.
struct Libpq<'t> {
    b: &'t [u8],
    i: usize,
}

impl Grammar for Libpq<'_> {
    fn next_pair(&mut self) -> Option<Result<Pair, Unparsed>> {
        let b = self.b;
        let n = b.len();
        let space = |c: u8| c.is_ascii_whitespace() || c == 0x0b;
        let mut i = self.i;
        while i < n && space(b[i]) {
            i += 1;
        }
        if i >= n {
            return None;
        }
        let key_start = i;
        while i < n && b[i] != b'=' && !space(b[i]) {
            i += 1;
        }
        let key = (key_start, i);
        while i < n && space(b[i]) {
            i += 1;
        }
        if b.get(i) != Some(&b'=') {
            return Some(Err(Unparsed));
        }
        let name = &b[key.0..key.1];
        if !LIBPQ_KEYWORDS.iter().any(|k| k.as_bytes() == name) {
            return Some(Err(Unparsed));
        }
        i += 1;
        while i < n && space(b[i]) {
            i += 1;
        }
        let value_start = i;
        if b.get(i) == Some(&b'\'') {
            i += 1;
            loop {
                match b.get(i) {
                    None => return Some(Err(Unparsed)),
                    Some(b'\\') => i += 2,
                    Some(b'\'') => break,
                    Some(_) => i += 1,
                }
            }
            i += 1;
        } else {
            while i < n && !space(b[i]) {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
        }
        let i = i.min(n);
        self.i = i;
        Some(Ok(Pair {
            key,
            value: (value_start, i),
        }))
    }
}

/// Whether `g` reads the whole string.
fn parses(mut g: impl Grammar) -> bool {
    while let Some(p) = g.next_pair() {
        if p.is_err() {
            return false;
        }
    }
    true
}

/// The spans of secret values (non-empty) that `g` reads, in order.
fn secret_values<'g>(text: &'g [u8], mut g: impl Grammar + 'g) -> impl Iterator<Item = Span> + 'g {
    core::iter::from_fn(move || g.next_pair()?.ok())
        .filter(|p| p.value.0 < p.value.1 && keys::is_secret(&text[p.key.0..p.key.1]))
        .map(|p| p.value)
}

/// The secret spans of one reading (a variant per grammar: no allocation, no `dyn`; both
/// ADO readings are `Ado`).
enum Spans<A, L, R> {
    Ado(A),
    Libpq(L),
    Redis(R),
}

impl<A, L, R> Spans<A, L, R>
where
    A: Iterator<Item = Span>,
    L: Iterator<Item = Span>,
    R: Iterator<Item = Span>,
{
    fn next(&mut self) -> Option<Span> {
        match self {
            Spans::Ado(i) => i.next(),
            Spans::Libpq(i) => i.next(),
            Spans::Redis(i) => i.next(),
        }
    }
}

/// StackExchange.Redis configuration strings (`host:6379,password=p,ssl=True`): items
/// separated by `,`, each an endpoint or `option=value`, option names made of letters,
/// digits, `_`, `.`, `-` and `$`, values unquoted and running to the next `,`.
struct Redis<'t> {
    b: &'t [u8],
    i: usize,
}

impl Grammar for Redis<'_> {
    fn next_pair(&mut self) -> Option<Result<Pair, Unparsed>> {
        let b = self.b;
        loop {
            if self.i > b.len() {
                return None;
            }
            let start = self.i;
            let end = start
                + b[start..]
                    .iter()
                    .position(|&c| c == b',')
                    .unwrap_or(b.len() - start);
            self.i = end + 1;
            let Some(eq) = b[start..end].iter().position(|&c| c == b'=') else {
                continue;
            };
            let key_end = trim_end(b, start, start + eq);
            let key_start = start
                + b[start..key_end]
                    .iter()
                    .take_while(|c| c.is_ascii_whitespace())
                    .count();
            let name = &b[key_start..key_end];
            let option_char = |c: &u8| c.is_ascii_alphanumeric() || b"_.-$".contains(c);
            if name.is_empty() || !name.iter().all(option_char) {
                return Some(Err(Unparsed));
            }
            let mut value_start = start + eq + 1;
            while value_start < end && b[value_start].is_ascii_whitespace() {
                value_start += 1;
            }
            return Some(Ok(Pair {
                key: (key_start, key_end),
                value: (value_start, trim_end(b, value_start, end)),
            }));
        }
    }
}

/// Which grammars a caller allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Dialects {
    /// ADO.NET / OLE DB / ODBC and libpq.
    Any,
    /// ADO-style `;` properties only (the tail of a JDBC URL).
    Properties,
}

/// Writes `text` with the values of secret keys masked, as every grammar allowed by
/// `dialects` that parses it reads it. [`Stop::Unsure`] when none parses it.
pub(super) fn write(text: &str, dialects: Dialects, out: &mut dyn Output) -> Result<(), Stop> {
    let b = text.as_bytes();
    let ado_at = |literal_eq| Ado {
        b,
        i: 0,
        literal_eq,
    };
    let ado = parses(ado_at(true));
    // Without `==` in the text both ADO readings are the same: the second is not taken.
    let ado_first_eq = doubled(b, b'=') && parses(ado_at(false));
    let any = dialects == Dialects::Any;
    let libpq = any && parses(Libpq { b, i: 0 });
    let redis = any && b.contains(&b',') && parses(Redis { b, i: 0 });
    if !ado && !ado_first_eq && !libpq && !redis {
        return Err(Stop::Unsure);
    }
    let mut readings = [
        ado.then(|| Spans::Ado(secret_values(b, ado_at(true)))),
        ado_first_eq.then(|| Spans::Ado(secret_values(b, ado_at(false)))),
        libpq.then(|| Spans::Libpq(secret_values(b, Libpq { b, i: 0 }))),
        redis.then(|| Spans::Redis(secret_values(b, Redis { b, i: 0 }))),
    ];
    let mut heads = [None; 4];
    for (head, r) in heads.iter_mut().zip(readings.iter_mut()) {
        *head = r.as_mut().and_then(Spans::next);
    }
    let mut written = 0;
    let mut pending: Option<Span> = None;
    // The span that starts first, from any reading, until none is left.
    while let Some(k) = (0..heads.len())
        .filter(|&k| heads[k].is_some())
        .min_by_key(|&k| heads[k].map_or(usize::MAX, |s| s.0))
    {
        let Some(span) = heads[k] else { break };
        heads[k] = readings[k].as_mut().and_then(Spans::next);
        pending = match pending {
            Some(p) if span.0 < p.1 => Some((p.0, p.1.max(span.1))),
            Some(p) => {
                written = masked(text, written, p, out)?;
                Some(span)
            }
            None => Some(span),
        };
    }
    if let Some(p) = pending {
        written = masked(text, written, p, out)?;
    }
    out.keep(slice(text, written, text.len()))?;
    Ok(())
}

/// Whether `c` appears twice in a row in `b`.
fn doubled(b: &[u8], c: u8) -> bool {
    b.windows(2).any(|w| w[0] == c && w[1] == c)
}

/// Keeps `text[from..span.0]`, masks the span, and returns where the next kept text starts.
fn masked(text: &str, from: usize, span: Span, out: &mut dyn Output) -> Result<usize, Full> {
    out.keep(slice(text, from, span.0))?;
    out.mask()?;
    Ok(span.1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;
    use std::vec::Vec;

    fn pairs(g: impl Grammar, text: &str) -> Result<Vec<(String, String)>, Unparsed> {
        let mut g = g;
        let mut out = Vec::new();
        while let Some(p) = g.next_pair() {
            let p = p?;
            out.push((
                text[p.key.0..p.key.1].into(),
                text[p.value.0..p.value.1].into(),
            ));
        }
        Ok(out)
    }

    fn ado(text: &str) -> Result<Vec<(String, String)>, Unparsed> {
        pairs(
            Ado {
                b: text.as_bytes(),
                i: 0,
                literal_eq: true,
            },
            text,
        )
    }

    fn ado_first_eq(text: &str) -> Result<Vec<(String, String)>, Unparsed> {
        pairs(
            Ado {
                b: text.as_bytes(),
                i: 0,
                literal_eq: false,
            },
            text,
        )
    }

    fn libpq(text: &str) -> Result<Vec<(String, String)>, Unparsed> {
        pairs(
            Libpq {
                b: text.as_bytes(),
                i: 0,
            },
            text,
        )
    }

    fn kv(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
    }

    #[test]
    fn ado_grammar() {
        assert_eq!(
            ado(" Server = h ; User Id=u;;Password=\"a;\"\"b\" ;Key={x;}}y}").unwrap(),
            kv(&[
                ("Server", "h"),
                ("User Id", "u"),
                ("Password", "\"a;\"\"b\""),
                ("Key", "{x;}}y}")
            ])
        );
        assert_eq!(ado("a==b=c").unwrap(), kv(&[("a==b", "c")]));
        assert_eq!(ado("k='it''s'").unwrap(), kv(&[("k", "'it''s'")]));
        assert_eq!(
            ado("AccountKey=abc==").unwrap(),
            kv(&[("AccountKey", "abc==")])
        );
        assert_eq!(ado("k=").unwrap(), kv(&[("k", "")]));
        for bad in [
            "a",
            "a=1;b",
            "=x",
            "k=\"open",
            "k={open",
            "k=\"q\" tail",
            "a==b",
        ] {
            assert_eq!(ado(bad), Err(Unparsed), "{bad:?}");
        }
    }

    #[test]
    fn ado_grammar_split_at_the_first_eq() {
        assert_eq!(
            ado_first_eq("a==b=c;pwd==x").unwrap(),
            kv(&[("a", "=b=c"), ("pwd", "=x")])
        );
        assert_eq!(ado_first_eq("a==b").unwrap(), kv(&[("a", "=b")]));
        assert_eq!(ado("a==b"), Err(Unparsed));
    }

    #[test]
    fn libpq_grammar() {
        assert_eq!(
            libpq("host=h  password = 'a\\' b' dbname=x\\ y").unwrap(),
            kv(&[("host", "h"), ("password", "'a\\' b'"), ("dbname", "x\\ y")])
        );
        assert_eq!(
            libpq("password= host=h").unwrap(),
            kv(&[("password", "host=h")])
        );
        assert_eq!(libpq("password=").unwrap(), kv(&[("password", "")]));
        for bad in [
            "host",
            "Host=h",
            "host=h;Password=x y",
            "password='open",
            "nokey=1",
            "host=h x",
        ] {
            assert_eq!(libpq(bad), Err(Unparsed), "{bad:?}");
        }
    }
}
