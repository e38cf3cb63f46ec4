//! Trace context in HTTP headers (feature `tower`): `X-Amzn-Trace-Id` and the W3C
//! `traceparent`/`tracestate`, read from an incoming request and written on a downstream one.
//!
//! # Reading: [`extract`]
//!
//! A request may carry an X-Ray header, a W3C one, both, or neither. [`Propagation`] says
//! which one continues the trace when both are present; the default,
//! [`Propagation::XRayFirst`], takes `X-Amzn-Trace-Id` when it has a Root (AWS load
//! balancers, API Gateway and Lambda set it) and `traceparent` otherwise. A `traceparent`
//! continues its trace in X-Ray terms: the trace id mapped as AWS maps it
//! (`4bf92f3577b34da6a3ce929d0e0e4736` is `1-4bf92f35-77b34da6a3ce929d0e0e4736`), the parent
//! id as the segment's `parent_id`, and the `sampled` flag as `Sampled=1` or `Sampled=0`.
//!
//! A header that cannot be used starts a new trace and never fails the request: a malformed
//! X-Ray header loses only its bad fields (see [`TraceHeader`]); a `traceparent` that breaks
//! the W3C grammar is ignored as a whole, as the specification requires. Both are logged at
//! debug level and counted in [`TracerStats::malformed_headers`](crate::TracerStats) when the
//! trace begins ([`Incoming::begin`]). A `tracestate` is read only with a valid
//! `traceparent`, as one list from up to 8 header fields; an invalid one (or one in more
//! fields) is dropped (logged), the `traceparent` still used. See
//! [`xray_core::traceparent`] for the grammar and for how a long `tracestate` is cut.
//!
//! # Writing: [`inject`]
//!
//! A downstream call carries both headers, for the same trace and parent: X-Ray services read
//! the first, OpenTelemetry and other W3C tracers the second. `traceparent` is written as
//! version `00` with the `sampled` flag from `Sampled`, and the incoming `tracestate` is
//! passed on unchanged beside it (this SDK adds no entry of its own). When the trace has no
//! W3C form (no Parent yet, or X-Ray's all-zero ids) only `X-Amzn-Trace-Id` is written, and any
//! `traceparent`/`tracestate` the request had is removed rather than left pointing elsewhere.
//!
//! ```
//! use http::HeaderMap;
//! use xray_std::integrations::propagation::{self, Propagation};
//!
//! let mut incoming = HeaderMap::new();
//! incoming.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse()?);
//! incoming.insert("tracestate", "congo=t61rcWkgMzE".parse()?);
//! let found = propagation::extract(&incoming, Propagation::default());
//! let header = found.header().expect("a valid traceparent");
//! assert_eq!(header.to_string(), "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1");
//!
//! // The header for a call made from subsegment 53995c3f42cd8ad8 of that trace:
//! let parent = "53995c3f42cd8ad8".parse()?;
//! let down = header.downstream(header.root().expect("a root"), parent, true);
//! let mut outgoing = HeaderMap::new();
//! propagation::inject(&mut outgoing, &down, found.tracestate());
//! assert_eq!(outgoing["traceparent"], "00-4bf92f3577b34da6a3ce929d0e0e4736-53995c3f42cd8ad8-01");
//! assert_eq!(outgoing["tracestate"], "congo=t61rcWkgMzE");
//! assert_eq!(outgoing["x-amzn-trace-id"], "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=53995c3f42cd8ad8;Sampled=1");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use http::{HeaderMap, HeaderValue};
use xray_core::{TraceHeader, TraceParent, TraceParentError, TraceState};

use super::header_names as names;
use crate::context::TraceContext;
use crate::sampling::SamplingRequest;
use crate::tracer::{Tracer, bump};

/// The W3C `traceparent` header's name.
pub const TRACEPARENT: &str = "traceparent";

/// The W3C `tracestate` header's name.
pub const TRACESTATE: &str = "tracestate";

/// Which header continues the trace when a request carries both `X-Amzn-Trace-Id` and
/// `traceparent`. Either way, a request with only one of them continues that one's trace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Propagation {
    /// `X-Amzn-Trace-Id` when it has a valid Root, else a valid `traceparent` (the default:
    /// AWS load balancers, API Gateway and Lambda set the X-Ray header, so in an AWS
    /// deployment it is the one X-Ray's service map joins on).
    #[default]
    XRayFirst,
    /// A valid `traceparent`, else `X-Amzn-Trace-Id` (for a service whose callers are traced
    /// with W3C context and whose X-Ray header, if any, comes from an AWS hop in between).
    W3cFirst,
    /// `X-Amzn-Trace-Id` only: `traceparent` and `tracestate` are not read (both are still
    /// written downstream).
    XRayOnly,
}

/// Which header a trace was continued from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Source {
    /// `X-Amzn-Trace-Id`.
    XRay,
    /// `traceparent` (and `tracestate`).
    W3c,
}

/// What [`extract`] found on a request.
#[derive(Clone, Debug, Default)]
pub struct Incoming {
    header: Option<TraceHeader>,
    source: Option<Source>,
    tracestate: Option<TraceState>,
    traceparent_error: Option<TraceParentError>,
}

impl Incoming {
    /// The trace to continue, as an X-Ray header (a `traceparent` is mapped to one). `None`
    /// when no usable header came; an X-Ray header without a Root is kept (its `Sampled` may
    /// still decide).
    pub fn header(&self) -> Option<&TraceHeader> {
        self.header.as_ref()
    }

    /// The trace header, taken.
    pub fn into_header(self) -> Option<TraceHeader> {
        self.header
    }

    /// Which header the trace is continued from (`None` with no Root from either).
    pub fn source(&self) -> Option<Source> {
        self.source
    }

    /// The `tracestate` to pass on: from a valid `traceparent` that continues the trace, or
    /// that names the same trace as the X-Ray header that does.
    pub fn tracestate(&self) -> Option<&TraceState> {
        self.tracestate.as_ref()
    }

    /// Why the `traceparent` that was read could not be used (it was then ignored).
    pub fn traceparent_error(&self) -> Option<TraceParentError> {
        self.traceparent_error
    }

    /// Begins the request's trace with `tracer` (see [`Tracer::begin_with`]), counting a
    /// malformed `traceparent` as a malformed header, and gives the handle the `tracestate`
    /// to pass on.
    pub fn begin(&self, tracer: &Tracer, sampling: &SamplingRequest<'_>) -> TraceContext {
        // A malformed X-Ray header is counted by the tracer itself (its `malformed()` fields).
        if self.traceparent_error.is_some() && tracer.is_enabled() {
            bump(&tracer.inner.counters.malformed_headers);
        }
        tracer
            .begin_with(self.header.as_ref(), sampling)
            .with_tracestate(self.tracestate.clone())
    }
}

/// Reads the trace context of an incoming request, as `policy` says (see the
/// [module docs](self)). Never fails: what cannot be used is left out, logged at debug level.
pub fn extract(headers: &HeaderMap, policy: Propagation) -> Incoming {
    let xray = xray_header(headers);
    let xray_root = xray.as_ref().and_then(TraceHeader::root);
    let w3c = match policy {
        Propagation::XRayOnly => None,
        _ => headers.get(&names::TRACEPARENT).map(traceparent),
    };
    let mut found = Incoming::default();
    let valid = match w3c {
        Some(Ok(tp)) => Some(tp),
        Some(Err(e)) => {
            found.traceparent_error = Some(e);
            None
        }
        None => None,
    };
    let chosen = match (policy, xray_root) {
        (Propagation::W3cFirst, _) | (_, None) => valid,
        _ => None,
    };
    if let Some(tp) = chosen {
        found.header = Some(tp.to_trace_header());
        found.source = Some(Source::W3c);
        found.tracestate = tracestate(headers);
        return found;
    }
    found.source = xray_root.map(|_| Source::XRay);
    // Same trace from both headers (an OpenTelemetry caller with both propagators): the
    // tracestate still belongs to it.
    if let (Some(root), Some(tp)) = (xray_root, valid)
        && tp.xray_trace_id() == root
    {
        found.tracestate = tracestate(headers);
    }
    found.header = xray;
    found
}

/// Writes the headers for a downstream call: `X-Amzn-Trace-Id` from `header`, and
/// `traceparent` (plus `tracestate`, when given and not empty) for the same trace, replacing
/// any the request had. See the [module docs](self).
pub fn inject(headers: &mut HeaderMap, header: &TraceHeader, tracestate: Option<&TraceState>) {
    match HeaderValue::from_str(&header.to_heapless()) {
        Ok(v) => {
            headers.insert(names::X_AMZN_TRACE_ID, v);
        }
        Err(_) => {
            headers.remove(&names::X_AMZN_TRACE_ID);
        }
    }
    let Some(tp) = TraceParent::from_trace_header(header) else {
        headers.remove(&names::TRACEPARENT);
        headers.remove(&names::TRACESTATE);
        return;
    };
    // Lowercase hex and '-' only: always a valid header value.
    if let Ok(v) = HeaderValue::from_bytes(&tp.to_bytes()) {
        headers.insert(names::TRACEPARENT, v);
    }
    match tracestate
        .filter(|t| !t.is_empty())
        .and_then(|t| HeaderValue::from_str(t.as_str()).ok())
    {
        Some(v) => {
            headers.insert(names::TRACESTATE, v);
        }
        None => {
            headers.remove(&names::TRACESTATE);
        }
    }
}

/// [`inject`] for a call made from `ctx`: its downstream header and its incoming
/// `tracestate`. Without a trace nothing is written.
pub fn inject_context(headers: &mut HeaderMap, ctx: &TraceContext) {
    if let Some(header) = ctx.downstream_header() {
        inject(headers, &header, ctx.tracestate());
    }
}

/// The incoming `X-Amzn-Trace-Id`, if present; fields that cannot be read are left out.
fn xray_header(headers: &HeaderMap) -> Option<TraceHeader> {
    let value = headers.get(&names::X_AMZN_TRACE_ID)?;
    match value.to_str().map(TraceHeader::parse) {
        Ok(Ok(h)) => {
            if h.malformed().any() {
                log::debug!(
                    "X-Ray: malformed X-Amzn-Trace-Id fields left out: {:?}",
                    h.malformed()
                );
            }
            Some(h)
        }
        Ok(Err(e)) => {
            log::debug!("X-Ray: X-Amzn-Trace-Id ignored ({e}); starting a new trace");
            None
        }
        Err(_) => {
            log::debug!("X-Ray: non-ASCII X-Amzn-Trace-Id ignored; starting a new trace");
            None
        }
    }
}

fn traceparent(value: &HeaderValue) -> Result<TraceParent, TraceParentError> {
    // A value that is not visible ASCII cannot be lowercase hex either.
    let parsed = value
        .to_str()
        .map_err(|_| TraceParentError::NotHex)
        .and_then(TraceParent::parse);
    if let Err(e) = parsed {
        log::debug!("X-Ray: traceparent ignored ({e})");
    }
    parsed
}

/// Every `tracestate` field, as one list; `None` (logged) if it is invalid.
fn tracestate(headers: &HeaderMap) -> Option<TraceState> {
    let mut fields = headers.get_all(&names::TRACESTATE).iter().peekable();
    fields.peek()?;
    let mut text_fields = [""; 8];
    let mut n = 0;
    for value in fields {
        let Ok(text) = value.to_str() else {
            log::debug!("X-Ray: non-ASCII tracestate dropped");
            return None;
        };
        if n == text_fields.len() {
            log::debug!("X-Ray: tracestate in more than {n} fields dropped");
            return None;
        }
        text_fields[n] = text;
        n += 1;
    }
    match TraceState::parse_fields(text_fields[..n].iter().copied()) {
        Ok(ts) => {
            if ts.dropped() {
                log::debug!("X-Ray: tracestate members over the limits dropped");
            }
            Some(ts)
        }
        Err(e) => {
            log::debug!("X-Ray: tracestate dropped ({e})");
            None
        }
    }
}
