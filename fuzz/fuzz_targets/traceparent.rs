//! W3C trace context: `TraceParent::parse`, `TraceState::parse_fields`, the X-Ray id mapping.
//!
//! The input's first line is a `traceparent`, each further line (up to 8) a `tracestate`
//! header field. Invariants checked, beyond "no panic":
//! - `traceparent`: the result agrees with a reference model of the Level 1 grammar written
//!   here with `str` operations (the same ids, flag and version, the same error); an accepted
//!   header formats as version `00` with only the `sampled` flag, and that text parses back to
//!   the same ids; the X-Ray trace id is `1-` + the first 8 hex digits + `-` + the other 24, and
//!   the `X-Amzn-Trace-Id` made from it maps back to the same `traceparent`;
//! - `tracestate`: the result agrees with a reference model (keys `simple-key` or
//!   `tenant@system`, values of 1–256 printable characters; the whole list discarded for an
//!   invalid member or input over 8,192 bytes; a repeated key, members after the 32nd, and
//!   over 512 characters (long members first, then from the end) dropped, and flagged); the
//!   kept list is ≤ 512 characters and ≤ 32 members, and parses to itself with nothing dropped.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xray_core::traceparent::{MAX_TRACESTATE_INPUT, w3c_trace_id};
use xray_core::{SampledFlag, TraceParent, TraceParentError, TraceState, TraceStateError};

#[derive(Debug, PartialEq)]
struct ParentModel {
    version: u8,
    trace_id: String,
    parent_id: String,
    sampled: bool,
}

fn lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The `traceparent` grammar of the module docs, written independently.
fn parent_model(text: &str) -> Result<ParentModel, TraceParentError> {
    let t = text.trim_matches([' ', '\t']);
    if t.len() < 55 {
        return Err(TraceParentError::Length);
    }
    let Some(version) = t.get(..2).filter(|v| lower_hex(v) && *v != "ff") else {
        return Err(TraceParentError::Version);
    };
    let version = u8::from_str_radix(version, 16).map_err(|_| TraceParentError::Version)?;
    let b = t.as_bytes();
    if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return Err(TraceParentError::Separator);
    }
    if t.len() > 55 {
        if version == 0 {
            return Err(TraceParentError::Length);
        }
        if b[55] != b'-' {
            return Err(TraceParentError::Separator);
        }
    }
    // Bytes 3..55 are now known to hold three fields between ASCII dashes; any non-ASCII
    // byte among them makes a field not hex.
    let field = |r: std::ops::Range<usize>| t.get(r).filter(|f| lower_hex(f));
    let (Some(trace_id), Some(parent_id), Some(flags)) =
        (field(3..35), field(36..52), field(53..55))
    else {
        return Err(TraceParentError::NotHex);
    };
    if trace_id.bytes().all(|c| c == b'0') {
        return Err(TraceParentError::ZeroTraceId);
    }
    if parent_id.bytes().all(|c| c == b'0') {
        return Err(TraceParentError::ZeroParentId);
    }
    let flags = u8::from_str_radix(flags, 16).map_err(|_| TraceParentError::NotHex)?;
    Ok(ParentModel {
        version,
        trace_id: trace_id.to_owned(),
        parent_id: parent_id.to_owned(),
        sampled: flags & 1 == 1,
    })
}

fn key_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || "_-*/".contains(c)
}

fn valid_key(k: &str) -> bool {
    let part = |s: &str, first: fn(char) -> bool, max: usize| {
        let mut cs = s.chars();
        cs.next().is_some_and(first) && s.len() <= max && cs.all(key_char)
    };
    match k.split_once('@') {
        Some((tenant, system)) => {
            part(
                tenant,
                |c| c.is_ascii_lowercase() || c.is_ascii_digit(),
                241,
            ) && part(system, |c| c.is_ascii_lowercase(), 14)
        }
        None => part(k, |c| c.is_ascii_lowercase(), 256),
    }
}

fn valid_value(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 256
        && v.chars()
            .all(|c| (' '..='~').contains(&c) && c != ',' && c != '=')
        && !v.ends_with(' ')
}

/// The `tracestate` rules of the module docs, written independently with `Vec`s.
fn state_model(fields: &[&str]) -> Result<(Vec<String>, bool), TraceStateError> {
    let mut kept: Vec<String> = Vec::new();
    let mut dropped = false;
    let mut total = 0;
    for field in fields {
        total += field.len();
        if total > MAX_TRACESTATE_INPUT {
            return Err(TraceStateError::TooLong);
        }
        for member in field.split(',') {
            let member = member.trim_matches([' ', '\t']);
            if member.is_empty() {
                continue;
            }
            let Some((k, v)) = member.split_once('=') else {
                return Err(TraceStateError::InvalidMember);
            };
            if !valid_key(k) || !valid_value(v) {
                return Err(TraceStateError::InvalidMember);
            }
            if kept.len() == 32
                || kept
                    .iter()
                    .any(|m| m.split_once('=').map(|(mk, _)| mk) == Some(k))
            {
                dropped = true;
            } else {
                kept.push(member.to_owned());
            }
        }
    }
    while kept.join(",").len() > 512 {
        dropped = true;
        match kept.iter().rposition(|m| m.len() > 128) {
            Some(i) => {
                kept.remove(i);
            }
            None => {
                kept.pop();
            }
        }
    }
    Ok((kept, dropped))
}

fn check_parent(text: &str) {
    let parsed = TraceParent::parse(text);
    let expected = parent_model(text);
    let tp = match (parsed, expected) {
        (Ok(tp), Ok(m)) => {
            let got = ParentModel {
                version: tp.version(),
                trace_id: tp.to_string()[3..35].to_owned(),
                parent_id: tp.parent_id().to_string(),
                sampled: tp.sampled(),
            };
            assert_eq!(got, m, "parse disagrees with the model for {text:?}");
            tp
        }
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "different errors for {text:?}");
            return;
        }
        (a, b) => panic!("parse {a:?} vs model {b:?} for {text:?}"),
    };
    let shown = tp.to_string();
    assert_eq!(&tp.to_bytes()[..], shown.as_bytes());
    assert!(shown.starts_with("00-") && (shown.ends_with("-00") || shown.ends_with("-01")));
    let again = TraceParent::parse(&shown).expect("a formatted traceparent parses");
    assert_eq!(
        (again.trace_id(), again.parent_id(), again.sampled()),
        (tp.trace_id(), tp.parent_id(), tp.sampled())
    );
    assert_eq!(again.version(), 0);

    // The X-Ray mapping: same 128 bits, same parent, Sampled=1 exactly when the flag is set.
    let xray = tp.xray_trace_id();
    let hex = &shown[3..35];
    assert_eq!(xray.to_string(), format!("1-{}-{}", &hex[..8], &hex[8..]));
    assert_eq!(w3c_trace_id(xray), tp.trace_id());
    let header = tp.to_trace_header();
    assert_eq!(header.root(), Some(xray));
    assert_eq!(header.parent(), Some(tp.parent_id()));
    assert_eq!(header.sampled() == SampledFlag::Sampled, tp.sampled());
    assert_eq!(TraceParent::from_trace_header(&header), Some(again));
}

fn check_state(fields: &[&str]) {
    let parsed = TraceState::parse_fields(fields.iter().copied());
    let expected = state_model(fields);
    let ts = match (parsed, expected) {
        (Ok(ts), Ok((kept, dropped))) => {
            assert_eq!(
                ts.as_str(),
                kept.join(","),
                "kept members differ for {fields:?}"
            );
            assert_eq!(ts.len(), kept.len());
            assert_eq!(ts.dropped(), dropped, "dropped flag differs for {fields:?}");
            ts
        }
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "different errors for {fields:?}");
            return;
        }
        (a, b) => panic!("parse {a:?} vs model {b:?} for {fields:?}"),
    };
    assert!(ts.as_str().len() <= 512 && ts.len() <= 32);
    assert_eq!(ts.is_empty(), ts.as_str().is_empty());
    let joined: Vec<String> = ts.members().map(|(k, v)| format!("{k}={v}")).collect();
    assert_eq!(
        joined.join(","),
        ts.as_str(),
        "members() gives the list back"
    );
    let again = TraceState::parse(ts.as_str()).expect("a kept list parses");
    assert_eq!(again.as_str(), ts.as_str());
    assert!(!again.dropped());
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or("");
    check_parent(first);
    let fields: Vec<&str> = lines.take(8).collect();
    check_state(&fields);
    // The first line is also worth reading as a tracestate (and the second as a traceparent).
    check_state(&[first]);
    if let Some(second) = fields.first() {
        check_parent(second);
    }
});
