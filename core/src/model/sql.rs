//! The `sql` block of a database subsegment. Passwords never reach the document.

use super::http::{sanitized_url_parts, write_parts};
use super::{Limits, Members};
use crate::sink::{Full, Sink};

/// How the query was prepared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preparation {
    /// `"call"`: a prepared call.
    Call,
    /// `"statement"`: a prepared statement.
    Statement,
}

/// A database call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sql<'a> {
    /// A connection string; `password=`/`pwd=` values and URL passwords are removed.
    pub connection_string: Option<&'a str>,
    /// The database URL; userinfo is removed, as is the query string.
    pub url: Option<&'a str>,
    /// The query with every user-provided value removed or replaced by a placeholder. The
    /// recorder cannot check this: never pass raw query text here.
    pub sanitized_query: Option<&'a str>,
    /// `database_type` (`PostgreSQL`).
    pub database_type: Option<&'a str>,
    /// `database_version`.
    pub database_version: Option<&'a str>,
    /// `driver_version`.
    pub driver_version: Option<&'a str>,
    /// `user` (cut to 250 characters).
    pub user: Option<&'a str>,
    /// `preparation`.
    pub preparation: Option<Preparation>,
}

/// Writes a connection string with the values of password keys replaced by `***`, and URL
/// userinfo removed. Key/value style: `Host=db;User Id=me;Password=secret` becomes
/// `Host=db;User Id=me;Password=***`.
fn write_connection_string<S: Sink + ?Sized>(
    s: &mut S,
    text: &str,
    max: usize,
) -> Result<bool, Full> {
    if text.contains("://") {
        return write_parts(s, &sanitized_url_parts(text, false), max);
    }
    // Up to 16 parts are kept (16 parts, 15 separators, 16 masks fit 48 slots); the rest is
    // dropped rather than risk leaking a secret.
    let mut parts: [&str; 48] = [""; 48];
    let mut n = 0;
    let mut truncated = false;
    for (i, part) in text.split(';').enumerate() {
        if i == 16 {
            truncated = true;
            break;
        }
        let secret = part.split_once('=').is_some_and(|(k, _)| {
            let k = k.trim();
            k.eq_ignore_ascii_case("password") || k.eq_ignore_ascii_case("pwd")
        });
        if i > 0 {
            parts[n] = ";";
            n += 1;
        }
        parts[n] = if secret {
            part.split_once('=').map_or(part, |(k, _)| k)
        } else {
            part
        };
        n += 1;
        if secret {
            parts[n] = "=***";
            n += 1;
        }
    }
    let n = n.min(parts.len());
    Ok(write_parts(s, &parts[..n], max)? || truncated)
}

impl Sql<'_> {
    pub(crate) fn write_members<S: Sink + ?Sized>(
        &self,
        m: &mut Members<'_, S>,
        limits: Limits,
    ) -> Result<(), Full> {
        let max = limits.max_chars;
        if let Some(cs) = self.connection_string {
            let mut cut = false;
            m.raw("connection_string", |s| {
                write_connection_string(s, cs, max).map(|c| cut = c)
            })?;
            m.cut |= cut;
        }
        if let Some(url) = self.url {
            let parts = sanitized_url_parts(url, false);
            let mut cut = false;
            m.raw("url", |s| write_parts(s, &parts, max).map(|c| cut = c))?;
            m.cut |= cut;
        }
        m.str("sanitized_query", self.sanitized_query, max)?;
        m.str("database_type", self.database_type, max)?;
        m.str("database_version", self.database_version, max)?;
        m.str("driver_version", self.driver_version, max)?;
        m.str("user", self.user, limits.short())?;
        m.str(
            "preparation",
            self.preparation.map(|p| match p {
                Preparation::Call => "call",
                Preparation::Statement => "statement",
            }),
            16,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::SliceSink;

    fn cs(text: &str) -> heapless::String<256> {
        let mut buf = [0u8; 256];
        let mut s = SliceSink::new(&mut buf);
        write_connection_string(&mut s, text, 1000).unwrap();
        let mut out = heapless::String::new();
        out.push_str(core::str::from_utf8(s.as_bytes()).unwrap())
            .unwrap();
        out
    }

    #[test]
    fn connection_strings_lose_passwords() {
        assert_eq!(
            cs("Host=db;User Id=me;Password=s3cret;Port=5432"),
            r#""Host=db;User Id=me;Password=***;Port=5432""#
        );
        assert_eq!(cs("server=x; PWD = hunter2"), r#""server=x; PWD =***""#);
        assert_eq!(
            cs("postgres://me:s3cret@db:5432/app?sslmode=require"),
            r#""postgres://db:5432/app""#
        );
        assert!(
            !cs(&"a=1;".repeat(40))
                .contains("a=1;a=1;a=1;a=1;a=1;a=1;a=1;a=1;a=1;a=1;a=1;a=1;a=1;a=1;a=1;a=1;a=1")
        );
    }
}
