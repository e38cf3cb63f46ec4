//! What [`Recorder::begin_segment`](super::Recorder::begin_segment) is told about sampling:
//! the decision, and the rule that made it.

use crate::sampler::Decision;

/// The sampling input of a new segment: whether it is sampled and, if a rule decided, that
/// rule's name, written as `aws.xray.sampling_rule_name` when the segment begins.
///
/// A `bool` converts to it (no rule), and so does a sampler's [`Decision`], so the decision
/// can be passed as it is:
///
/// ```
/// use xray_core::recorder::Sampling;
/// use xray_core::sampler::{Decision, Reason};
/// let d = Decision { sampled: true, reason: Reason::Reservoir, rule: Some("Default"), requested: false };
/// assert_eq!(Sampling::from(&d), Sampling { sampled: true, rule: Some("Default") });
/// assert_eq!(Sampling::from(false), Sampling { sampled: false, rule: None });
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Sampling<'a> {
    /// Whether to record and send the trace.
    pub sampled: bool,
    /// The sampling rule that decided, if any.
    pub rule: Option<&'a str>,
}

impl From<bool> for Sampling<'_> {
    /// A decision without a rule (from the caller's header, or the application's own).
    fn from(sampled: bool) -> Self {
        Sampling {
            sampled,
            rule: None,
        }
    }
}

impl<'a> From<&Decision<'a>> for Sampling<'a> {
    fn from(d: &Decision<'a>) -> Self {
        Sampling {
            sampled: d.sampled,
            rule: d.rule,
        }
    }
}

impl<'a> From<Decision<'a>> for Sampling<'a> {
    fn from(d: Decision<'a>) -> Self {
        Sampling::from(&d)
    }
}
