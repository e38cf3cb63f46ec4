//! The `http` block: the request a segment served or a subsegment made, and its response.

use super::{Limits, Members};
use crate::json;
use crate::sink::{Full, Sink};

/// An HTTP request. Strings are cut to 250 characters (the schema's limit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpRequest<'a> {
    /// The method (`GET`).
    pub method: Option<&'a str>,
    /// The full URL. Userinfo (`user:password@`) and the fragment are always removed; the
    /// query string is removed unless the recorder is configured to keep it.
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
    /// The status code.
    pub status: Option<u16>,
    /// The body length in bytes.
    pub content_length: Option<u64>,
}

impl HttpResponse {
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

/// Splits a URL into the parts to keep: everything before the authority, the host part
/// without userinfo, and the path (with or without the query); the fragment is dropped.
pub(crate) fn sanitized_url_parts(url: &str, keep_query: bool) -> [&str; 3] {
    // Byte scans: every delimiter is ASCII, so each cut is at a char boundary.
    let find = |text: &str, from: usize, pred: fn(u8) -> bool| {
        text.as_bytes()[from..]
            .iter()
            .position(|&b| pred(b))
            .map_or(text.len(), |i| from + i)
    };
    // `get` cannot fail at these ASCII delimiters, and it links no panic path.
    let url = url.get(..find(url, 0, |b| b == b'#')).unwrap_or_default();
    let b = url.as_bytes();
    let scheme_end = b.windows(3).position(|w| w == b"://").map_or(0, |i| i + 3);
    let auth_end = if scheme_end == 0 {
        0
    } else {
        find(url, scheme_end, |b| b == b'/' || b == b'?')
    };
    let host_start = b[scheme_end..auth_end]
        .iter()
        .rposition(|&b| b == b'@')
        .map_or(scheme_end, |i| scheme_end + i + 1);
    let path_end = if keep_query {
        url.len()
    } else {
        find(url, auth_end, |b| b == b'?')
    };
    let part = |from: usize, to: usize| url.get(from..to).unwrap_or_default();
    [
        part(0, scheme_end),
        part(host_start, auth_end),
        part(auth_end, path_end),
    ]
}

/// Writes a JSON string made of `parts`, cut to `max_chars` characters in total.
pub(crate) fn write_parts<S: Sink + ?Sized>(
    s: &mut S,
    parts: &[&str],
    max_chars: usize,
) -> Result<bool, Full> {
    s.byte(b'"')?;
    let mut left = max_chars;
    let mut cut = false;
    for part in parts {
        let (kept, c) = json::cut_chars(part, left);
        json::escaped(s, kept)?;
        if c {
            cut = true;
            break;
        }
        // Bytes stand in for characters: a URL with multi-byte characters may be cut before
        // the limit, never after it.
        left = left.saturating_sub(kept.len());
    }
    s.byte(b'"')?;
    Ok(cut)
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
        if let Some(url) = self.url {
            let parts = sanitized_url_parts(url, keep_query);
            let mut cut = false;
            m.raw("url", |s| write_parts(s, &parts, max).map(|c| cut = c))?;
            m.cut |= cut;
        }
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
        m.u64("status", self.status.map(u64::from))?;
        m.u64("content_length", self.content_length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_userinfo_fragment_and_query() {
        assert_eq!(
            sanitized_url_parts(
                "https://user:pw@api.example.com:8443/v1/items?token=x#frag",
                false
            )
            .concat(),
            "https://api.example.com:8443/v1/items"
        );
        assert_eq!(
            sanitized_url_parts("https://u:p@h/p?q=1#f", true).concat(),
            "https://h/p?q=1"
        );
        assert_eq!(
            sanitized_url_parts("/relative?x=1", false).concat(),
            "/relative"
        );
        assert_eq!(
            sanitized_url_parts("https://h?x=1", false).concat(),
            "https://h"
        );
        assert_eq!(sanitized_url_parts("", false).concat(), "");
        assert_eq!(
            sanitized_url_parts("https://a@b@host/", false).concat(),
            "https://host/"
        );
    }

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
