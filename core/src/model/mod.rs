//! The segment document model (spec §1): the typed values the recorder writes.
//!
//! These are borrowed views: the recorder escapes, cuts and sanitizes them into JSON at the
//! moment they are recorded, so nothing here needs to outlive the call.

mod annotation;
mod aws;
mod cause;
mod http;
pub mod sanitize;
mod sql;

pub use annotation::{AnnotationKey, AnnotationValue, valid_annotation_key};
pub use aws::{Aws, AwsParam, Ec2, Ecs, Eks, ElasticBeanstalk};
pub use cause::{Exception, StackFrame};
pub use http::{HttpRequest, HttpResponse};
pub use sql::{Preparation, Sql};

use crate::json;
use crate::sink::{Full, Sink};

/// Writes comma-separated JSON object members (`"a":1,"b":"x"`) and remembers whether any
/// string was cut to its limit.
pub(crate) struct Members<'s, S: Sink + ?Sized> {
    s: &'s mut S,
    first: bool,
    /// Whether a string was cut.
    pub(crate) cut: bool,
    /// Whether a value was replaced whole by [`sanitize::REDACTED`].
    pub(crate) redacted: bool,
}

impl<'s, S: Sink + ?Sized> Members<'s, S> {
    pub(crate) fn new(s: &'s mut S) -> Self {
        Self {
            s,
            first: true,
            cut: false,
            redacted: false,
        }
    }

    /// Whether nothing has been written.
    pub(crate) fn is_empty(&self) -> bool {
        self.first
    }

    /// Writes the separator and `"key":`, then hands the sink to `value`.
    pub(crate) fn raw(
        &mut self,
        key: &str,
        value: impl FnOnce(&mut S) -> Result<(), Full>,
    ) -> Result<(), Full> {
        if !core::mem::take(&mut self.first) {
            self.s.byte(b',')?;
        }
        json::key(self.s, key)?;
        value(self.s)
    }

    pub(crate) fn str(
        &mut self,
        key: &str,
        value: Option<&str>,
        max_chars: usize,
    ) -> Result<(), Full> {
        if let Some(v) = value {
            let mut cut = false;
            self.raw(key, |s| json::string(s, v, max_chars).map(|c| cut = c))?;
            self.cut |= cut;
        }
        Ok(())
    }

    /// Writes a value through a sanitizer (see [`sanitize`]), cut to `max_chars`. Inlined so
    /// that each field links only its own dialect.
    #[inline(always)]
    pub(crate) fn sanitized(
        &mut self,
        key: &str,
        value: Option<&str>,
        form: sanitize::Form,
        max_chars: usize,
    ) -> Result<(), Full> {
        if let Some(v) = value {
            let mut done = (sanitize::Sanitized::Kept, false);
            self.raw(key, |s| {
                sanitize::write_json(s, v, form, max_chars).map(|d| done = d)
            })?;
            self.redacted |= done.0 == sanitize::Sanitized::Redacted;
            self.cut |= done.1;
        }
        Ok(())
    }

    pub(crate) fn u64(&mut self, key: &str, value: Option<u64>) -> Result<(), Full> {
        match value {
            Some(v) => self.raw(key, |s| json::u64(s, v)),
            None => Ok(()),
        }
    }

    /// Writes `"key":true` when `value` is true (X-Ray SDKs leave false flags out).
    pub(crate) fn flag(&mut self, key: &str, value: bool) -> Result<(), Full> {
        if value {
            self.raw(key, |s| s.write(b"true"))
        } else {
            Ok(())
        }
    }
}

/// String limits applied while recording.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Cap for every string without a tighter schema limit.
    pub(crate) max_chars: usize,
}

impl Limits {
    /// The schema's 250-character fields, or the general cap if it is lower.
    pub(crate) fn short(self) -> usize {
        self.max_chars.min(250)
    }
}
