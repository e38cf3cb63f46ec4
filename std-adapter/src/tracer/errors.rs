//! The error a recording call can report, under `AWS_XRAY_CONTEXT_MISSING=RUNTIME_ERROR`.

/// What [`TraceContext::last_outcome`](crate::TraceContext::last_outcome) reports under
/// [`ContextMissing::RuntimeError`](crate::ContextMissing::RuntimeError).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceError {
    /// The call named no open segment or subsegment of its trace (it had ended).
    ContextMissing,
}

impl std::fmt::Display for TraceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TraceError::ContextMissing => f.write_str("no open X-Ray segment or subsegment"),
        }
    }
}

impl std::error::Error for TraceError {}
