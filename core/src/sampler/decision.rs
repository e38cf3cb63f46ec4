//! What the sampler decided, and why.

use crate::header::{SampledFlag, TraceHeader};

/// What the caller's trace header says about sampling, as the sampler needs it.
///
/// [`SampledFlag::Unknown`] alone cannot tell "no trace context" (this service starts the
/// trace) from "a header with a `Root` but no `Sampled`" (some load balancers send that), and
/// the two need different handling (see [`MissingSampledPolicy`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Upstream {
    /// No trace header, or one without a `Root`: this service starts the trace.
    #[default]
    NoTrace,
    /// A header with a `Root`, carrying this `Sampled` value ([`SampledFlag::Unknown`] when it
    /// has none).
    Header(SampledFlag),
}

impl Upstream {
    /// From an incoming header, if any (a header without `Root` counts as no trace).
    pub fn from_header(header: Option<&TraceHeader>) -> Self {
        match header {
            Some(h) if h.root().is_some() => Upstream::Header(h.sampled()),
            _ => Upstream::NoTrace,
        }
    }
}

impl From<SampledFlag> for Upstream {
    /// A header with a `Root` and this `Sampled` value.
    fn from(flag: SampledFlag) -> Self {
        Upstream::Header(flag)
    }
}

/// What to do with a header that has a `Root` but no `Sampled` field (ALB, for one, rewrites
/// large headers to only a `Root`).
///
/// Every SDK the spec surveys runs its own sampler then (§3.3, "`?` or absent → run the
/// sampler"), which is the default here; one peer treated such headers as "not sampled" and so
/// dropped every trace that came through such a load balancer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum MissingSampledPolicy {
    /// Run the rules, as if this service started the trace (default; the peers' behaviour).
    #[default]
    Decide,
    /// Sample: keep the caller's trace whole, whatever the rules say.
    Sample,
    /// Do not sample (the dropping peer's behaviour, for compatibility).
    NotSample,
}

/// Why a [`Decision`] came out as it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The caller's header said `Sampled=1` or `Sampled=0` (or an SQS message's
    /// `AWSTraceHeader` decided).
    Upstream,
    /// [`MissingSampledPolicy::Sample`] or [`MissingSampledPolicy::NotSample`] decided a header
    /// with a `Root` but no `Sampled`.
    Policy,
    /// The matched rule's reservoir had room this second.
    Reservoir,
    /// A centralized rule without a valid quota borrowed its one trace of this second.
    Borrowed,
    /// The matched rule's fixed rate decided (sampled or not) after its reservoir was used up.
    Rate,
    /// The caller asked for no sampling (a subsegment begun without sampling, see
    /// [`Decision::forced_not_sampled`]).
    Forced,
}

/// A sampling decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Decision<'a> {
    /// Whether to record and send the trace.
    pub sampled: bool,
    /// Why.
    pub reason: Reason,
    /// The name of the rule that decided (for [`Reason::Reservoir`], [`Reason::Borrowed`] and
    /// [`Reason::Rate`]), at most [`super::MAX_RULE_NAME_LEN`] bytes. Recorders write it as
    /// `aws.xray.sampling_rule_name` on sampled segments. Local rules files have no names; see
    /// [`super::Rule`] for the name they get.
    pub rule: Option<&'a str>,
    /// The caller sent `Sampled=?`: put this decision in the response's trace header.
    pub requested: bool,
}

impl Decision<'_> {
    /// A decision that never samples: for a subsegment begun without sampling (the
    /// oversampling mitigation, for example per-message work in an SQS batch handler). Its
    /// outgoing headers say `Sampled=0`, so downstream services do not sample it either.
    pub const fn forced_not_sampled() -> Decision<'static> {
        Decision {
            sampled: false,
            reason: Reason::Forced,
            rule: None,
            requested: false,
        }
    }

    /// The `Sampled` value to send downstream (and back, when [`Decision::requested`]).
    pub const fn flag(&self) -> SampledFlag {
        SampledFlag::from_bool(self.sampled)
    }
}

/// The decision made before any rule runs: an upstream `Sampled=1` or `0`, or the policy for a
/// header with a Root and no `Sampled`. `None` when the rules decide.
pub(crate) fn decided_upstream(
    upstream: Upstream,
    policy: MissingSampledPolicy,
) -> Option<Decision<'static>> {
    let fixed = |sampled, reason| {
        Some(Decision {
            sampled,
            reason,
            rule: None,
            requested: false,
        })
    };
    match upstream {
        Upstream::Header(SampledFlag::Sampled) => fixed(true, Reason::Upstream),
        Upstream::Header(SampledFlag::NotSampled) => fixed(false, Reason::Upstream),
        Upstream::Header(SampledFlag::Unknown) => match policy {
            MissingSampledPolicy::Sample => fixed(true, Reason::Policy),
            MissingSampledPolicy::NotSample => fixed(false, Reason::Policy),
            MissingSampledPolicy::Decide => None,
        },
        Upstream::Header(SampledFlag::Requested) | Upstream::NoTrace => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_from_header() {
        assert_eq!(Upstream::from_header(None), Upstream::NoTrace);
        let no_root = TraceHeader::parse("Sampled=1").unwrap();
        assert_eq!(Upstream::from_header(Some(&no_root)), Upstream::NoTrace);
        let root_only = TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272793").unwrap();
        assert_eq!(
            Upstream::from_header(Some(&root_only)),
            Upstream::Header(SampledFlag::Unknown)
        );
        let asked =
            TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?").unwrap();
        assert_eq!(
            Upstream::from_header(Some(&asked)),
            Upstream::Header(SampledFlag::Requested)
        );
        assert_eq!(
            Upstream::from(SampledFlag::NotSampled),
            Upstream::Header(SampledFlag::NotSampled)
        );
    }

    #[test]
    fn forced_decision_says_not_sampled() {
        let d = Decision::forced_not_sampled();
        assert!(!d.sampled);
        assert_eq!(d.reason, Reason::Forced);
        assert_eq!(d.flag(), SampledFlag::NotSampled);
    }
}
