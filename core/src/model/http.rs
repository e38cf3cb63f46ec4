//! The `http` block: the request a segment served or a subsegment made, and its response.

use super::sanitize::Form;
use super::{Limits, Members};
use crate::sink::{Full, Sink};

/// An HTTP request. Strings are cut to 250 characters (the schema's limit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpRequest<'a> {
    /// The method (`GET`).
    pub method: Option<&'a str>,
    /// The full URL. Userinfo (`user:password@`) and the fragment are always removed; the
    /// query string is removed unless the recorder is configured to keep it, and then the
    /// values of secret keys (`X-Amz-Signature`, `token`, …) are masked. A URL that cannot be
    /// read with confidence is recorded as `[redacted]`. See [`sanitize::url`] for every form.
    ///
    /// [`sanitize::url`]: super::sanitize::url()
    pub url: Option<&'a str>,
    /// The `User-Agent` header.
    pub user_agent: Option<&'a str>,
    /// The client's IP address.
    pub client_ip: Option<&'a str>,
    /// Segments only: `client_ip` was taken from `X-Forwarded-For`.
    pub x_forwarded_for: bool,
}

/// An HTTP response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code. A status outside 100..=599 is not a status X-Ray accepts (the whole
    /// document would be refused): it is left out of the document, sets no flag, and the
    /// recording call says [`Outcome::Shortened`](crate::Outcome::Shortened).
    pub status: Option<u16>,
    /// The body length in bytes.
    pub content_length: Option<u64>,
}

impl HttpResponse {
    /// The statuses written as `http.response.status`.
    pub const VALID_STATUS: core::ops::RangeInclusive<u16> = 100..=599;

    /// The X-Ray flags for a status: 4xx is `error`, 429 also `throttle`, 5xx is `fault`.
    /// Returns `(error, throttle, fault)`.
    pub const fn flags(&self) -> (bool, bool, bool) {
        match self.status {
            Some(429) => (true, true, false),
            Some(400..=499) => (true, false, false),
            Some(500..=599) => (false, false, true),
            _ => (false, false, false),
        }
    }
}

impl HttpRequest<'_> {
    pub(crate) fn write_members<S: Sink + ?Sized>(
        &self,
        m: &mut Members<'_, S>,
        limits: Limits,
        keep_query: bool,
    ) -> Result<(), Full> {
        let max = limits.short();
        m.str("method", self.method, max)?;
        m.sanitized("url", self.url, Form::HttpUrl { keep_query }, max)?;
        m.str("user_agent", self.user_agent, max)?;
        m.str("client_ip", self.client_ip, max)?;
        m.flag("x_forwarded_for", self.x_forwarded_for)
    }
}

impl HttpResponse {
    pub(crate) fn write_members<S: Sink + ?Sized>(
        &self,
        m: &mut Members<'_, S>,
    ) -> Result<(), Full> {
        let status = self.status.filter(|s| Self::VALID_STATUS.contains(s));
        m.cut |= status != self.status;
        m.u64("status", status.map(u64::from))?;
        m.u64("content_length", self.content_length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_flags() {
        let f = |s| {
            HttpResponse {
                status: Some(s),
                content_length: None,
            }
            .flags()
        };
        assert_eq!(f(200), (false, false, false));
        assert_eq!(f(404), (true, false, false));
        assert_eq!(f(429), (true, true, false));
        assert_eq!(f(503), (false, false, true));
    }
}
