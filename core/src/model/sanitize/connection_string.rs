//! Connection strings and database URLs: the dialect is told by the string's start, and each
//! is read by its own grammar.

use super::key_value::{self, Dialects};
use super::output::{Output, Stop};
use super::url::{self, Rules, Scheme, find, slice};

/// Database URLs: several hosts, plain host names.
const DB_URL: Rules = Rules {
    host_list: true,
    semicolon_ends_authority: false,
    plain_hosts: true,
};

/// Writes a connection string with its secrets removed (see the forms table in
/// [`connection_string`](fn@super::connection_string)).
pub(super) fn write(text: &str, out: &mut dyn Output) -> Result<(), Stop> {
    let t = text.trim_matches(|c: char| c.is_ascii_whitespace() || c.is_ascii_control());
    let b = t.as_bytes();
    if b.len() >= 5 && b[..5].eq_ignore_ascii_case(b"jdbc:") {
        return jdbc(t, out);
    }
    let scheme_len = scheme_len(b);
    if is_url(b, scheme_len) {
        return database_url(t, DB_URL, false, out);
    }
    if let Some(n) = scheme_len {
        let scheme = &b[..n];
        if [&b"sqlite"[..], b"sqlite3", b"file"]
            .iter()
            .any(|s| scheme.eq_ignore_ascii_case(s))
        {
            return opaque(t, out);
        }
    }
    if b.contains(&b'=') {
        return key_value::write(t, Dialects::Any, out);
    }
    if endpoints(b) {
        return Ok(out.keep(t)?);
    }
    Err(Stop::Unsure)
}

/// Writes `sql.url`: a database URL, a JDBC URL, or any URL (its query and fragment dropped).
pub(super) fn write_url(text: &str, out: &mut dyn Output) -> Result<(), Stop> {
    let t = text.trim_matches(|c: char| c.is_ascii_whitespace() || c.is_ascii_control());
    let b = t.as_bytes();
    if b.len() >= 5 && b[..5].eq_ignore_ascii_case(b"jdbc:") {
        return jdbc(t, out);
    }
    if is_url(b, scheme_len(b)) {
        return database_url(t, DB_URL, false, out);
    }
    url::http(t, false, out)
}

/// Bytes of a scheme after its first letter (`[A-Za-z0-9+.-]`).
const SCHEME_BYTE: [bool; 256] =
    byte_table!(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));

/// Bytes of a host name in a seed list (`[A-Za-z0-9._-]`).
const HOST_BYTE: [bool; 256] =
    byte_table!(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));

/// The length of a leading scheme (`[A-Za-z][A-Za-z0-9+.-]*`) followed by `:`.
fn scheme_len(b: &[u8]) -> Option<usize> {
    if !b.first()?.is_ascii_alphabetic() {
        return None;
    }
    let n = b.iter().position(|&c| !SCHEME_BYTE[usize::from(c)])?;
    (b[n] == b':').then_some(n)
}

/// `scheme://…` or `//…`, given the length of the leading scheme.
fn is_url(b: &[u8], scheme_len: Option<usize>) -> bool {
    let rest = scheme_len.map_or(b, |n| &b[n + 1..]);
    rest.starts_with(b"//")
}

/// A list of `host[:port]` separated by commas (a Redis or MongoDB seed list): nothing in it
/// can be a secret's key.
fn endpoints(b: &[u8]) -> bool {
    !b.is_empty()
        && b.split(|&c| c == b',').all(|h| {
            let h = h.trim_ascii();
            let (host, port) = match h.iter().rposition(|&c| c == b':') {
                Some(i) if !h.starts_with(b"[") || h[..i].ends_with(b"]") => (&h[..i], &h[i + 1..]),
                _ => (h, &b"1"[..]),
            };
            let v6 = host.starts_with(b"[") && host.ends_with(b"]");
            !host.is_empty()
                && (v6 || host.iter().all(|&c| HOST_BYTE[usize::from(c)]))
                && (1..=5).contains(&port.len())
                && port.iter().all(u8::is_ascii_digit)
        })
}

/// `sqlite:`, `sqlite3:` or `file:` without `//` (`sqlite:app.db`, `file:db?mode=ro`): kept
/// up to its query, unless the rest holds an `@`.
fn opaque(t: &str, out: &mut dyn Output) -> Result<(), Stop> {
    let b = t.as_bytes();
    let end = find(b, 0, b.len(), |c| c == b'?' || c == b'#');
    if b[..end].contains(&b'@') {
        return Err(Stop::Unsure);
    }
    Ok(out.keep(slice(t, 0, end))?)
}

/// A database URL (`postgres://`, `mysql://`, `mongodb+srv://`, `redis://`, or the part of a
/// JDBC URL from `//`): userinfo removed, hosts and ports checked, the path kept, `;`
/// properties after the path masked, the query and fragment dropped. With `jdbc_path_props`,
/// a `:` in the path starts properties too (DB2: `/db:user=u;password=p;`).
fn database_url(
    t: &str,
    rules: Rules,
    jdbc_path_props: bool,
    out: &mut dyn Output,
) -> Result<(), Stop> {
    let u = url::locate(t, rules)?;
    let b = t.as_bytes();
    let Some(a) = u.authority else {
        return Err(Stop::Unsure);
    };
    if u.scheme == Scheme::Special || u.scheme == Scheme::File {
        // Not a database scheme: read it as a URL is read.
        return url::http(t, false, out);
    }
    let path_end = find(b, a.end, u.end, |c| {
        matches!(c, b'?' | b'#' | b';') || (jdbc_path_props && c == b':')
    });
    // An `@` in the path, or anywhere after userinfo or a port, may be the end of a
    // password with an unencoded `/`, `?`, `#` or `;` in it. SQL Server's `;` properties
    // (its authority has no userinfo) are read by their grammar instead.
    let dropped_tail = matches!(b.get(path_end), Some(b'?' | b'#'));
    let checked_to = if dropped_tail || !rules.semicolon_ends_authority {
        u.end
    } else {
        path_end
    };
    if b[a.end..path_end].contains(&b'@')
        || ((a.host > a.start || a.port) && b[a.end..checked_to].contains(&b'@'))
    {
        return Err(Stop::Unsure);
    }
    out.keep(slice(t, u.start, a.start))?;
    out.keep(slice(t, a.host, path_end))?;
    if matches!(b.get(path_end), Some(b';' | b':')) {
        // Properties run to the end: a quoted value may hold `?` or `#`.
        out.keep(slice(t, path_end, path_end + 1))?;
        key_value::write(slice(t, path_end + 1, u.end), Dialects::Properties, out)?;
    }
    Ok(())
}

/// A JDBC URL: `jdbc:` and the subprotocol (`postgresql:`, `mysql:loadbalance:`, `h2:mem:`),
/// then
///
/// - `//…`: a database URL; for SQL Server, jTDS and Sybase the authority ends at `;` and
///   `;` properties follow (`jdbc:sqlserver://h\inst:1433;user=u;password={p;w}`);
/// - Oracle (`jdbc:oracle:thin:user/password@host:1521:SID`): everything up to the last `@`
///   is credentials and is removed, and the query after it is dropped; no `@` and something
///   there is not understood;
/// - anything else (`jdbc:h2:mem:db;PASSWORD=p`, `jdbc:derby:db;password=p`,
///   `jdbc:sqlite:/data.db`): kept up to the first `;` (properties, masked) or `?` (dropped);
///   an `@` before them is not understood.
fn jdbc(t: &str, out: &mut dyn Output) -> Result<(), Stop> {
    let b = t.as_bytes();
    // The subprotocol: `name:` repeated.
    let mut at = 5;
    let mut first: Option<(usize, usize)> = None;
    let mut last = at;
    while let Some(n) = scheme_len(&b[at..]) {
        first.get_or_insert((at, at + n));
        last = at;
        at += n + 1;
        if b[at..].starts_with(b"//") {
            break;
        }
    }
    let sub = first.map_or(&b""[..], |(s, e)| &b[s..e]);
    let is = |name: &str| sub.eq_ignore_ascii_case(name.as_bytes());
    if b[at..].starts_with(b"//") {
        // The last subprotocol name is read as the URL's scheme (never a special one), so
        // that `\` in `//host\instance` is part of the host, as for any non-special URL.
        out.keep(slice(t, 0, last))?;
        let semicolon = is("sqlserver") || is("jtds") || is("sybase");
        let rules = Rules {
            semicolon_ends_authority: semicolon,
            ..DB_URL
        };
        return database_url(slice(t, last, t.len()), rules, !semicolon, out);
    }
    if is("oracle") {
        // The last `@` anywhere: a password may hold `?` or `@`.
        let rest = &b[at..];
        return match rest.iter().rposition(|&c| c == b'@') {
            Some(i) => {
                let end = find(rest, i, rest.len(), |c| c == b'?');
                out.keep(slice(t, 0, at))?;
                Ok(out.keep(slice(t, at + i, at + end))?)
            }
            None if rest.is_empty() => Ok(out.keep(t)?),
            None => Err(Stop::Unsure),
        };
    }
    let end = find(b, at, b.len(), |c| c == b';' || c == b'?');
    if b[at..end].contains(&b'@') {
        return Err(Stop::Unsure);
    }
    out.keep(slice(t, 0, end))?;
    if b.get(end) == Some(&b';') {
        out.keep(";")?;
        key_value::write(slice(t, end + 1, t.len()), Dialects::Properties, out)?;
    }
    Ok(())
}
