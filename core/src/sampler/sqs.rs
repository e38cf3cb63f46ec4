//! Per-message sampling for SQS messages, from their `AWSTraceHeader` system attribute
//! (spec §3.4).
//!
//! An SQS batch handler processes messages that belong to different traces. Recording each
//! message's work under the handler's own (sampled) trace would oversample: every message
//! would be traced whether or not its producer sampled it. The mitigation, as in the Go,
//! Python and Node SDKs:
//!
//! - do the per-message work in a subsegment begun without sampling
//!   ([`Decision::forced_not_sampled`]) unless the message itself says `Sampled=1`;
//! - take that decision from the message's `AWSTraceHeader`, never from local rules:
//!   [`sqs_message_decision`].
//!
//! The attribute is scanned like the HTTP header (parts split on `;`, trimmed, keys compared
//! ignoring ASCII case, last `Sampled` wins), but an invalid `Root` does not hide the flag:
//! the peers only look for `Sampled=1`.

use super::decision::{Decision, Reason, Upstream};
use crate::header::{MAX_HEADER_LEN, SampledFlag};

/// Reads `Root` presence and the `Sampled` flag from an `AWSTraceHeader` value.
///
/// `None` (no attribute), an empty value, one longer than [`MAX_HEADER_LEN`] or one without
/// `Root` give [`Upstream::NoTrace`].
pub fn sqs_upstream(aws_trace_header: Option<&str>) -> Upstream {
    let Some(text) = aws_trace_header.filter(|t| t.len() <= MAX_HEADER_LEN) else {
        return Upstream::NoTrace;
    };
    let (mut root, mut flag) = (false, SampledFlag::Unknown);
    for part in text.split(';') {
        let Some((key, value)) = part.split_once('=') else {
            continue;
        };
        let (key, value) = (
            key.trim_matches([' ', '\t']),
            value.trim_matches([' ', '\t']),
        );
        if key.eq_ignore_ascii_case("root") && !value.is_empty() {
            root = true;
        } else if key.eq_ignore_ascii_case("sampled") {
            flag = match value {
                "1" => SampledFlag::Sampled,
                "0" => SampledFlag::NotSampled,
                "?" => SampledFlag::Requested,
                _ => SampledFlag::Unknown,
            };
        }
    }
    if root {
        Upstream::Header(flag)
    } else {
        Upstream::NoTrace
    }
}

/// The decision for one SQS message: sampled only if its `AWSTraceHeader` says `Sampled=1`
/// (as every peer does); local rules are not consulted. The reason is [`Reason::Upstream`]
/// when the header carries `Sampled=0|1`, [`Reason::Forced`] otherwise.
pub fn sqs_message_decision(aws_trace_header: Option<&str>) -> Decision<'static> {
    match sqs_upstream(aws_trace_header) {
        Upstream::Header(SampledFlag::Sampled) => Decision {
            sampled: true,
            reason: Reason::Upstream,
            rule: None,
            requested: false,
        },
        Upstream::Header(SampledFlag::NotSampled) => Decision {
            sampled: false,
            reason: Reason::Upstream,
            rule: None,
            requested: false,
        },
        _ => Decision::forced_not_sampled(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "Root=1-5759e988-bd862e3fe1be46a994272793";

    #[test]
    fn sampled_messages() {
        let h = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let d = sqs_message_decision(Some(h));
        assert!(d.sampled);
        assert_eq!(d.reason, Reason::Upstream);
        assert!(sqs_message_decision(Some("root=X; sampled = 1 ;Lineage=a:1")).sampled);
    }

    #[test]
    fn everything_else_is_not_sampled() {
        for h in [
            None,
            Some(""),
            Some("Sampled=1"), // no Root
            Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0"),
            Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?"),
            Some("Root=1-5759e988-bd862e3fe1be46a994272793"),
            Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1;Sampled=0"),
            Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=11"),
        ] {
            assert!(!sqs_message_decision(h).sampled, "{h:?}");
        }
    }

    #[test]
    fn upstream_keeps_the_flag() {
        assert_eq!(sqs_upstream(None), Upstream::NoTrace);
        assert_eq!(
            sqs_upstream(Some(ROOT)),
            Upstream::Header(SampledFlag::Unknown)
        );
        let asked = std::format!("{ROOT};Sampled=?");
        assert_eq!(
            sqs_upstream(Some(&asked)),
            Upstream::Header(SampledFlag::Requested)
        );
        // An invalid Root value still counts as a Root here.
        assert_eq!(
            sqs_upstream(Some("Root=garbage;Sampled=1")),
            Upstream::Header(SampledFlag::Sampled)
        );
        let long = "x".repeat(MAX_HEADER_LEN + 1);
        assert_eq!(sqs_upstream(Some(&long)), Upstream::NoTrace);
    }
}
