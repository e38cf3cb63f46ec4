//! gRPC status codes as X-Ray flags, for calls served or made through the `tower` layers.
//!
//! A gRPC response is HTTP 200 whatever happened; the outcome is the `grpc-status` field, in
//! the trailers (or in the headers of a trailers-only response). A status other than `0`
//! (OK) is recorded as an exception whose type is the code's name (`NOT_FOUND`) and whose
//! message is `grpc-message` (percent-decoded), with the flag of the HTTP status gRPC maps the code to (the
//! table of grpc-gateway and of the gRPC HTTP/JSON transcoding spec):
//!
//! | codes | HTTP | X-Ray |
//! | --- | --- | --- |
//! | `CANCELLED`, `INVALID_ARGUMENT`, `NOT_FOUND`, `ALREADY_EXISTS`, `PERMISSION_DENIED`, `FAILED_PRECONDITION`, `ABORTED`, `OUT_OF_RANGE`, `UNAUTHENTICATED` | 4xx | `error` |
//! | `RESOURCE_EXHAUSTED` | 429 | `error` and `throttle` |
//! | `UNKNOWN`, `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`, `INTERNAL`, `UNAVAILABLE`, `DATA_LOSS`, and any code not in the spec | 5xx | `fault` |

use http::HeaderMap;
use percent_encoding::percent_decode_str;
use xray_core::model::Exception;

use super::header_names::{GRPC_MESSAGE, GRPC_STATUS};
use crate::context::TraceContext;

/// The flags a status implies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flag {
    Error,
    Throttle,
    Fault,
}

/// The name of a non-OK code and its flag; `None` for OK.
fn classify(code: u32) -> Option<(&'static str, Flag)> {
    use Flag::{Error, Fault, Throttle};
    Some(match code {
        0 => return None,
        1 => ("CANCELLED", Error),
        2 => ("UNKNOWN", Fault),
        3 => ("INVALID_ARGUMENT", Error),
        4 => ("DEADLINE_EXCEEDED", Fault),
        5 => ("NOT_FOUND", Error),
        6 => ("ALREADY_EXISTS", Error),
        7 => ("PERMISSION_DENIED", Error),
        8 => ("RESOURCE_EXHAUSTED", Throttle),
        9 => ("FAILED_PRECONDITION", Error),
        10 => ("ABORTED", Error),
        11 => ("OUT_OF_RANGE", Error),
        12 => ("UNIMPLEMENTED", Fault),
        13 => ("INTERNAL", Fault),
        14 => ("UNAVAILABLE", Fault),
        15 => ("DATA_LOSS", Fault),
        16 => ("UNAUTHENTICATED", Error),
        _ => ("UNKNOWN", Fault),
    })
}

/// Records the `grpc-status` of `headers` on `ctx`, if present and not OK (`remote`: the
/// status came from the callee). A value that is not a number is recorded as `UNKNOWN`, as
/// gRPC clients treat it.
pub(crate) fn record(ctx: &TraceContext, headers: &HeaderMap, remote: bool) {
    let Some(value) = headers.get(&GRPC_STATUS) else {
        return;
    };
    let code = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(2);
    let Some((name, flag)) = classify(code) else {
        return;
    };
    // `grpc-message` is percent-encoded UTF-8; kept as sent if it does not decode.
    let sent = headers
        .get(&GRPC_MESSAGE)
        .and_then(|v| v.to_str().ok())
        .filter(|m| !m.is_empty());
    let decoded = sent.map(|m| percent_decode_str(m).decode_utf8().unwrap_or(m.into()));
    ctx.exception(&Exception {
        type_name: Some(name),
        message: decoded.as_deref(),
        remote,
        ..Exception::default()
    });
    match flag {
        Flag::Error => ctx.client_error(),
        Flag::Throttle => {
            ctx.client_error();
            ctx.throttle();
        }
        Flag::Fault => ctx.fault(),
    }
}

#[cfg(test)]
mod tests {
    use super::{Flag, classify};

    #[test]
    fn codes_map_as_grpc_maps_them_to_http() {
        assert_eq!(classify(0), None);
        assert_eq!(classify(5), Some(("NOT_FOUND", Flag::Error)));
        assert_eq!(classify(8), Some(("RESOURCE_EXHAUSTED", Flag::Throttle)));
        assert_eq!(classify(13), Some(("INTERNAL", Flag::Fault)));
        assert_eq!(classify(16), Some(("UNAUTHENTICATED", Flag::Error)));
        assert_eq!(classify(17), Some(("UNKNOWN", Flag::Fault)));
        assert_eq!(classify(u32::MAX), Some(("UNKNOWN", Flag::Fault)));
        let faults = (0..=16)
            .filter(|c| classify(*c).is_some_and(|(_, f)| f == Flag::Fault))
            .count();
        assert_eq!(faults, 6);
    }
}
