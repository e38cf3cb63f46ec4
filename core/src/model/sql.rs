//! The `sql` block of a database subsegment. Passwords never reach the document: the URL
//! and the connection string go through [`sanitize`](super::sanitize).

use super::sanitize::Form;
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
    /// A connection string: userinfo is removed, the values of secret keys are masked, and
    /// a string that cannot be read with confidence is recorded as `[redacted]`. See
    /// [`sanitize::connection_string`] for every dialect and form.
    ///
    /// [`sanitize::connection_string`]: super::sanitize::connection_string()
    pub connection_string: Option<&'a str>,
    /// The database URL: userinfo is removed, as are the query string and fragment; a URL
    /// that cannot be read with confidence is recorded as `[redacted]`. See
    /// [`sanitize::database_url`].
    ///
    /// [`sanitize::database_url`]: super::sanitize::database_url()
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

impl Sql<'_> {
    pub(crate) fn write_members<S: Sink + ?Sized>(
        &self,
        m: &mut Members<'_, S>,
        limits: Limits,
    ) -> Result<(), Full> {
        let max = limits.max_chars;
        m.sanitized(
            "connection_string",
            self.connection_string,
            Form::ConnectionString,
            max,
        )?;
        m.sanitized("url", self.url, Form::DatabaseUrl, max)?;
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
