//! Exceptions and stack frames for a segment's `cause`.

use super::{Limits, Members};
use crate::id::SegmentId;
use crate::json;
use crate::sink::{Full, Sink};

/// One stack frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StackFrame<'a> {
    /// The source file.
    pub path: Option<&'a str>,
    /// The line number.
    pub line: Option<u32>,
    /// The function or method name.
    pub label: Option<&'a str>,
}

/// An error recorded on a segment or subsegment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exception<'a> {
    /// The error's type name.
    pub type_name: Option<&'a str>,
    /// The message.
    pub message: Option<&'a str>,
    /// The error came from a downstream service's response.
    pub remote: bool,
    /// Stack frames, innermost first. When the document has to shrink they are dropped first
    /// and counted in `truncated`.
    pub stack: &'a [StackFrame<'a>],
    /// Frames already left out by the caller.
    pub truncated: u32,
    /// Exceptions skipped between this one and the one it was caused by.
    pub skipped: u32,
    /// The id of the exception that caused this one.
    pub cause: Option<SegmentId>,
}

impl Exception<'_> {
    /// Writes the members except `stack` and `truncated`.
    pub(crate) fn write_members<S: Sink + ?Sized>(
        &self,
        m: &mut Members<'_, S>,
        id: SegmentId,
        limits: Limits,
    ) -> Result<(), Full> {
        m.raw("id", |s| json::segment_id(s, id))?;
        m.str("type", self.type_name, limits.max_chars)?;
        m.str("message", self.message, limits.max_chars)?;
        m.flag("remote", self.remote)?;
        if self.skipped > 0 {
            m.u64("skipped", Some(u64::from(self.skipped)))?;
        }
        if let Some(c) = self.cause {
            m.raw("cause", |s| json::segment_id(s, c))?;
        }
        Ok(())
    }

    /// Writes the frames as comma-separated objects (the inside of the `stack` array).
    pub(crate) fn write_frames<S: Sink + ?Sized>(
        &self,
        s: &mut S,
        limits: Limits,
    ) -> Result<bool, Full> {
        let mut cut = false;
        for (i, f) in self.stack.iter().enumerate() {
            if i > 0 {
                s.byte(b',')?;
            }
            s.byte(b'{')?;
            let mut m = Members::new(s);
            m.str("path", f.path, limits.max_chars)?;
            m.u64("line", f.line.map(u64::from))?;
            m.str("label", f.label, limits.max_chars)?;
            cut |= m.cut;
            s.byte(b'}')?;
        }
        Ok(cut)
    }
}
