//! What a recording call did, and the recorder's counters.

/// What a recording call did. Recording never panics and never fails the caller: when it
/// cannot record, it says why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "an Outcome says whether the value was recorded; ignore it with `let _ =`"]
pub enum Outcome {
    /// Recorded as given.
    Recorded,
    /// Recorded, with a string cut to its limit, a name filtered to X-Ray's character set, or
    /// a value the document cannot hold left out (an HTTP status outside 100..=599).
    Shortened,
    /// Recorded, with a URL or connection string that could not be read with confidence
    /// replaced whole by [`REDACTED`](crate::model::sanitize::REDACTED) (counted in
    /// [`RecorderStats::values_redacted`]).
    Redacted,
    /// The trace is not sampled: nothing is recorded (by design, not a failure).
    NotSampled,
    /// The entity id is not (or no longer) open in this recorder.
    NoEntity,
    /// The value was rejected; see [`Rejection`].
    Rejected(Rejection),
    /// The recorder's field buffer is full; the value was dropped and counted.
    NoRoom,
}

impl Outcome {
    /// Whether the value is in the trace.
    pub const fn is_recorded(self) -> bool {
        matches!(
            self,
            Outcome::Recorded | Outcome::Shortened | Outcome::Redacted
        )
    }
}

/// Why a value was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// Annotation keys must be 1 to 500 of `[A-Za-z0-9_]`.
    InvalidAnnotationKey,
    /// The trace already holds the configured number of annotations.
    TooManyAnnotations,
    /// NaN and infinities are not JSON numbers.
    NotFinite,
    /// Metadata namespaces starting with `AWS.` are reserved for AWS.
    ReservedNamespace,
    /// The metadata value could not be serialized.
    Serialize,
    /// A Lambda facade segment belongs to Lambda: it cannot be changed or sent.
    Facade,
    /// The entity has children still open (only `end` may close them).
    HasOpenChildren,
}

/// Counters of what the recorder did and what it had to leave out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecorderStats {
    /// Datagrams handed to the transport.
    pub datagrams: u32,
    /// Bytes handed to the transport.
    pub bytes: u64,
    /// Subsegments sent as independent documents (streamed) rather than embedded.
    pub streamed: u32,
    /// Traces begun unsampled (ids generated, nothing encoded).
    pub unsampled: u32,
    /// Segments begun while the clock did not know the epoch (treated as unsampled).
    pub clock_unset: u32,
    /// Begin calls refused: a trace was already active, every slot was taken, or the name did
    /// not fit.
    pub begins_refused: u32,
    /// Values dropped because the field buffer was full.
    pub fields_dropped: u32,
    /// Documents that had metadata and were sent without it to fit the budget.
    pub metadata_dropped: u32,
    /// Documents that had exceptions and were sent without their stack frames (counted in
    /// each exception's `truncated`) to fit the budget.
    pub stacks_dropped: u32,
    /// Recording calls (`set_http_request`, `set_sql`) that wrote a URL or connection string
    /// as [`REDACTED`](crate::model::sanitize::REDACTED) because it could not be read with
    /// confidence (see [`sanitize`](crate::model::sanitize)); each also returned
    /// [`Outcome::Redacted`].
    pub values_redacted: u32,
    /// Documents sent with only their required fields to fit the budget (counted in the two
    /// counters above as well, for what they lost).
    pub minimal_documents: u32,
}
