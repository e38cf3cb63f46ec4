//! One datagram: the daemon's header line, the segment document, and every reason the X-Ray
//! daemon or the X-Ray service would refuse it.
//!
//! The daemon splits a datagram at its first `\n`, accepts the header line when it is JSON
//! with `format` `json` (any case) and `version` 1, and passes the rest on without looking at
//! it. The service then parses the document and checks it. [`Checker::check`] does both
//! steps here, so that a problem shows up on the developer's machine rather than as a trace
//! missing from the console:
//!
//! - the daemon's checks ([`Stage::Daemon`]): a header line and a body, the header's fields;
//! - the service's ([`Stage::Service`]): UTF-8 and JSON, the 64 KiB document limit, AWS's
//!   published segment document schema (`spec/segment-document-schema.json`, draft 4), and
//!   the rules the schema leaves out: ids of 16 lowercase hex digits, trace ids of the form
//!   `1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx`, `end_time` or `in_progress` on every entity, and
//!   `parent_id` on an independent subsegment.
//!
//! Checking never panics, whatever the bytes.

use core::fmt;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// The largest segment document the X-Ray service takes (its "64 KB" quota, read as KiB).
pub const MAX_DOCUMENT_LEN: usize = 64 * 1024;

/// The largest UDP payload over IPv4 (65,535 − 8 − 20 bytes). A larger datagram cannot be
/// sent; one can only come from a replayed file.
pub const MAX_DATAGRAM_LEN: usize = 65_507;

/// Schema violations reported per document; the rest are counted in one line.
const MAX_SCHEMA_ERRORS: usize = 8;

/// Entities looked at per document by the checks the schema leaves out.
const MAX_ENTITIES: usize = 10_000;

/// AWS's segment document schema, as published (draft 4).
pub const SCHEMA: &str = include_str!("../../spec/segment-document-schema.json");

/// A datagram as received, or as read back from a recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// The bytes, header line included.
    pub bytes: Vec<u8>,
    /// Who sent it, when known.
    pub from: Option<SocketAddr>,
    /// When it arrived, when known.
    pub received_at: Option<SystemTime>,
}

impl Datagram {
    /// A datagram of these bytes, with no sender or time.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            bytes: bytes.into(),
            from: None,
            received_at: None,
        }
    }
}

/// Which part of the pipeline refuses a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// The X-Ray daemon (or the CloudWatch agent, or the collector's receiver) drops it.
    Daemon,
    /// The daemon forwards it and the X-Ray service rejects it.
    Service,
}

/// A reason the daemon or the service would refuse a datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The datagram is empty.
    Empty,
    /// No `\n` separates a header line from a document, or the document is empty.
    MissingHeaderOrBody,
    /// The header line is not `{"format":"json","version":1}` (or an equivalent).
    BadHeader {
        /// What is wrong with it.
        reason: String,
    },
    /// The datagram is larger than a UDP datagram over IPv4 can be.
    OverUdpLimit {
        /// Its length in bytes.
        len: usize,
    },
    /// The document is larger than the service's 64 KiB limit.
    DocumentTooLarge {
        /// Its length in bytes.
        len: usize,
    },
    /// The document is not UTF-8.
    NotUtf8,
    /// The document is not JSON.
    InvalidJson {
        /// The parser's message, with line and column.
        error: String,
    },
    /// The document breaks AWS's segment document schema.
    Schema {
        /// Where, as a JSON pointer (`/subsegments/0/name`; empty for the document itself).
        path: String,
        /// What the schema requires there.
        message: String,
    },
    /// More schema violations than are listed one by one.
    MoreSchemaErrors {
        /// How many more.
        count: usize,
    },
    /// An `id` or `parent_id` is not 16 lowercase hex digits.
    BadId {
        /// Where, as a JSON pointer.
        path: String,
        /// The value (cut to 40 characters).
        value: String,
    },
    /// A `trace_id` is not `1-` + 8 hex digits + `-` + 24 hex digits.
    BadTraceId {
        /// Where, as a JSON pointer.
        path: String,
        /// The value (cut to 40 characters).
        value: String,
    },
    /// An entity has neither `end_time` nor `"in_progress": true`.
    NoEndTime {
        /// Where, as a JSON pointer.
        path: String,
    },
    /// An independent subsegment (`"type":"subsegment"`) has no `parent_id`.
    NoParentId,
    /// The trace id's date is too far from when the document was received: the service
    /// answers `InvalidTraceId` (it takes about the last 30 days and a few minutes ahead).
    TraceIdDate {
        /// Seconds between the trace id's date and the document's arrival (negative: ahead).
        age_secs: i64,
    },
}

impl Problem {
    /// Who refuses the document for this reason.
    pub fn stage(&self) -> Stage {
        match self {
            Problem::Empty
            | Problem::MissingHeaderOrBody
            | Problem::BadHeader { .. }
            | Problem::OverUdpLimit { .. } => Stage::Daemon,
            _ => Stage::Service,
        }
    }
}

fn at(path: &str) -> &str {
    if path.is_empty() {
        "the document"
    } else {
        path
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Empty => f.write_str("empty datagram"),
            Problem::MissingHeaderOrBody => f.write_str(
                "missing header or segment: no header line and document separated by a newline",
            ),
            Problem::BadHeader { reason } => write!(f, "invalid header line: {reason}"),
            Problem::OverUdpLimit { len } => write!(
                f,
                "{len} bytes: larger than a UDP datagram over IPv4 ({MAX_DATAGRAM_LEN} bytes)"
            ),
            Problem::DocumentTooLarge { len } => write!(
                f,
                "document of {len} bytes: over the 64 KiB segment document limit ({MAX_DOCUMENT_LEN} bytes)"
            ),
            Problem::NotUtf8 => f.write_str("the document is not UTF-8"),
            Problem::InvalidJson { error } => write!(f, "the document is not JSON: {error}"),
            Problem::Schema { path, message } => {
                write!(f, "schema: {}: {message}", at(path))
            }
            Problem::MoreSchemaErrors { count } => {
                write!(f, "schema: {count} more violations")
            }
            Problem::BadId { path, value } => {
                write!(
                    f,
                    "{}: id {value:?} is not 16 lowercase hex digits",
                    at(path)
                )
            }
            Problem::BadTraceId { path, value } => write!(
                f,
                "{}: trace id {value:?} is not 1-<8 hex digits>-<24 hex digits>",
                at(path)
            ),
            Problem::NoEndTime { path } => {
                write!(
                    f,
                    "{}: neither end_time nor \"in_progress\": true",
                    at(path)
                )
            }
            Problem::TraceIdDate { age_secs } if *age_secs < 0 => write!(
                f,
                "the trace id is dated {} s after the document arrived (InvalidTraceId)",
                age_secs.unsigned_abs()
            ),
            Problem::TraceIdDate { age_secs } => write!(
                f,
                "the trace id is dated {} days before the document arrived: over 30 (InvalidTraceId)",
                age_secs / 86_400
            ),
            Problem::NoParentId => {
                f.write_str("independent subsegment (\"type\":\"subsegment\") without parent_id")
            }
        }
    }
}

/// What [`Checker::check`] found in a datagram.
#[derive(Clone, Debug, PartialEq)]
pub struct Checked {
    /// The datagram's length in bytes.
    pub len: usize,
    /// The document, if the body is a JSON value (even one the service would reject).
    pub document: Option<Value>,
    /// Every reason the daemon or the service would refuse it; empty when it would be taken.
    pub problems: Vec<Problem>,
}

impl Checked {
    /// Whether the daemon and the service would take the document.
    pub fn is_accepted(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The schema did not compile (a bug: the schema is built in).
#[derive(Debug)]
pub struct SchemaError(String);

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the segment document schema does not compile: {}",
            self.0
        )
    }
}

impl std::error::Error for SchemaError {}

/// Checks datagrams as the daemon and the service would. The schema is compiled by the first
/// checker of the process and shared.
pub struct Checker {
    validator: &'static jsonschema::Validator,
}

/// The schema, compiled once per process (its name pattern is a large regular expression).
fn validator() -> Result<&'static jsonschema::Validator, SchemaError> {
    static VALIDATOR: OnceLock<Result<jsonschema::Validator, String>> = OnceLock::new();
    VALIDATOR
        .get_or_init(|| {
            let schema: Value = serde_json::from_str(SCHEMA).map_err(|e| e.to_string())?;
            jsonschema::draft4::new(&schema).map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| SchemaError(e.clone()))
}

impl fmt::Debug for Checker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checker").finish_non_exhaustive()
    }
}

impl Checker {
    /// A checker with AWS's segment document schema ([`SCHEMA`]).
    pub fn new() -> Result<Self, SchemaError> {
        Ok(Self {
            validator: validator()?,
        })
    }

    /// Checks one datagram. Never panics.
    pub fn check(&self, bytes: &[u8]) -> Checked {
        self.check_received(bytes, None)
    }

    /// Checks one datagram received at `received_at`: as [`Checker::check`], and also
    /// whether the service would take the date in its trace id then (not older than 30 days,
    /// not more than 5 minutes ahead). Never panics.
    pub fn check_received(&self, bytes: &[u8], received_at: Option<SystemTime>) -> Checked {
        let mut problems = Vec::new();
        let document = self.check_into(bytes, &mut problems);
        let received = received_at.and_then(|t| t.duration_since(UNIX_EPOCH).ok());
        if let (Some(doc), Some(received)) = (&document, received) {
            check_trace_date(doc, received.as_secs(), &mut problems);
        }
        Checked {
            len: bytes.len(),
            document,
            problems,
        }
    }

    fn check_into(&self, bytes: &[u8], problems: &mut Vec<Problem>) -> Option<Value> {
        if bytes.is_empty() {
            problems.push(Problem::Empty);
            return None;
        }
        if bytes.len() > MAX_DATAGRAM_LEN {
            problems.push(Problem::OverUdpLimit { len: bytes.len() });
        }
        let Some(newline) = bytes.iter().position(|&b| b == b'\n') else {
            problems.push(Problem::MissingHeaderOrBody);
            return None;
        };
        let (header, body) = (&bytes[..newline], &bytes[newline + 1..]);
        if let Err(reason) = check_header(header) {
            problems.push(Problem::BadHeader { reason });
        }
        if body.is_empty() {
            problems.push(Problem::MissingHeaderOrBody);
            return None;
        }
        if body.len() > MAX_DOCUMENT_LEN {
            problems.push(Problem::DocumentTooLarge { len: body.len() });
        }
        let Ok(text) = std::str::from_utf8(body) else {
            problems.push(Problem::NotUtf8);
            return None;
        };
        // serde_json limits nesting (128 levels), so hostile input cannot exhaust the stack.
        let doc: Value = match serde_json::from_str(text) {
            Ok(doc) => doc,
            Err(e) => {
                problems.push(Problem::InvalidJson {
                    error: e.to_string(),
                });
                return None;
            }
        };
        let mut schema_errors = 0;
        for error in self.validator.iter_errors(&doc) {
            schema_errors += 1;
            if schema_errors <= MAX_SCHEMA_ERRORS {
                problems.push(Problem::Schema {
                    path: error.instance_path.to_string(),
                    message: describe(&error),
                });
            }
        }
        if schema_errors > MAX_SCHEMA_ERRORS {
            problems.push(Problem::MoreSchemaErrors {
                count: schema_errors - MAX_SCHEMA_ERRORS,
            });
        }
        check_rules(&doc, problems);
        Some(doc)
    }
}

/// The daemon's header check: JSON, `format` equal to `json` ignoring case, `version` 1.
fn check_header(header: &[u8]) -> Result<(), String> {
    let header: Value = serde_json::from_slice(header).map_err(|e| format!("not JSON ({e})"))?;
    let format = header.get("format").and_then(Value::as_str);
    if !format.is_some_and(|f| f.eq_ignore_ascii_case("json")) {
        return Err(format!(
            "\"format\" is {}, not \"json\"",
            short(header.get("format"))
        ));
    }
    if header.get("version").and_then(Value::as_u64) != Some(1) {
        return Err(format!(
            "\"version\" is {}, not 1",
            short(header.get("version"))
        ));
    }
    Ok(())
}

/// A JSON value in a message, cut to 40 characters.
fn short(value: Option<&Value>) -> String {
    match value {
        None => "missing".to_owned(),
        Some(v) => cut(&v.to_string(), 40),
    }
}

/// `s` cut to `max` characters, with `…` when cut.
pub(crate) fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// One line about a schema violation. The name pattern is a long list of Unicode ranges, so
/// pattern failures name the rule rather than print the pattern.
fn describe(error: &jsonschema::ValidationError<'_>) -> String {
    use jsonschema::error::ValidationErrorKind as K;
    let value = cut(&error.instance.to_string(), 40);
    let text = match &error.kind {
        K::Pattern { .. }
            if error.instance_path.as_str().ends_with("/name")
                || error.instance_path.as_str() == "/name" =>
        {
            format!(
                "{value} has characters outside X-Ray's name set (letters, digits, spaces, _.:/%&#=+\\-@) or more than 200 of them"
            )
        }
        K::Pattern { .. } => format!(
            "{value} does not match the schema's pattern ({})",
            error.schema_path
        ),
        K::AdditionalProperties { unexpected }
            if error.instance_path.as_str().ends_with("/annotations") =>
        {
            format!(
                "annotation keys {} are not [A-Za-z0-9_]{{1,500}}",
                cut(&format!("{unexpected:?}"), 80)
            )
        }
        _ => error.to_string(),
    };
    cut(&text, 200)
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `1-` + 8 hex digits + `-` + 24 hex digits (either case, as the schema allows).
fn is_trace_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 35
        && s.starts_with("1-")
        && b[10] == b'-'
        && b[2..10].iter().chain(&b[11..]).all(u8::is_ascii_hexdigit)
}

/// The oldest trace id date the service takes, in seconds before arrival. The exact window is
/// not documented; the OpenTelemetry collector uses 28 days, other tools 30.
const MAX_TRACE_AGE_SECS: i64 = 30 * 86_400;

/// How far ahead of arrival a trace id's date may be.
const MAX_TRACE_SKEW_SECS: i64 = 5 * 60;

/// The date in a well-formed top-level trace id, against the arrival time.
fn check_trace_date(doc: &Value, received_secs: u64, problems: &mut Vec<Problem>) {
    let Some(trace) = doc
        .get("trace_id")
        .and_then(Value::as_str)
        .filter(|t| is_trace_id(t))
    else {
        return;
    };
    let Ok(date) = i64::from_str_radix(&trace[2..10], 16) else {
        return;
    };
    let age_secs = i64::try_from(received_secs).unwrap_or(i64::MAX) - date;
    if !(-MAX_TRACE_SKEW_SECS..=MAX_TRACE_AGE_SECS).contains(&age_secs) {
        problems.push(Problem::TraceIdDate { age_secs });
    }
}

/// The rules the service enforces that the schema leaves out, on every entity.
fn check_rules(doc: &Value, problems: &mut Vec<Problem>) {
    let Some(top) = doc.as_object() else {
        return; // the schema has said it must be an object
    };
    if top.get("type").and_then(Value::as_str) == Some("subsegment")
        && top.get("parent_id").is_none()
    {
        problems.push(Problem::NoParentId);
    }
    // Depth first over the document and its `subsegments`, with the JSON pointer of each.
    let mut stack: Vec<(String, &Value)> = vec![(String::new(), doc)];
    let mut seen = 0;
    while let Some((path, entity)) = stack.pop() {
        seen += 1;
        if seen > MAX_ENTITIES {
            break;
        }
        let Some(fields) = entity.as_object() else {
            continue;
        };
        for key in ["id", "parent_id"] {
            if let Some(Value::String(id)) = fields.get(key)
                && !is_lower_hex(id, 16)
            {
                problems.push(Problem::BadId {
                    path: format!("{path}/{key}"),
                    value: cut(id, 40),
                });
            }
        }
        if let Some(Value::String(trace)) = fields.get("trace_id")
            && !is_trace_id(trace)
        {
            problems.push(Problem::BadTraceId {
                path: format!("{path}/trace_id"),
                value: cut(trace, 40),
            });
        }
        let in_progress = fields.get("in_progress").and_then(Value::as_bool) == Some(true);
        if !in_progress && !fields.contains_key("end_time") {
            problems.push(Problem::NoEndTime { path: path.clone() });
        }
        if let Some(Value::Array(children)) = fields.get("subsegments") {
            for (i, child) in children.iter().enumerate().rev() {
                stack.push((format!("{path}/subsegments/{i}"), child));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "{\"format\":\"json\",\"version\":1}\n";
    const DOC: &str = r#"{"name":"example.com","id":"70de5b6f19ff9a0a","start_time":1.478293361271E9,"trace_id":"1-581cf771-a006649127e371903a2de979","end_time":1.478293361449E9}"#;

    fn check(text: &str) -> Checked {
        Checker::new().unwrap().check(text.as_bytes())
    }

    #[test]
    fn accepts_the_guide_examples() {
        assert_eq!(check(&format!("{HEADER}{DOC}")).problems, vec![]);
        // The spaced header Go and Java write, and the daemon's case-insensitive format.
        let spaced = format!("{{\"format\": \"jSoN\", \"version\": 1}}\n{DOC}");
        assert_eq!(check(&spaced).problems, vec![]);
        let in_progress = r#"{"name":"example.com","id":"70de5b6f19ff9a0b","start_time":1.478293361271E9,"trace_id":"1-581cf771-a006649127e371903a2de979","in_progress":true}"#;
        assert_eq!(check(&format!("{HEADER}{in_progress}")).problems, vec![]);
    }

    #[test]
    fn header_problems_are_the_daemons() {
        for (text, want) in [
            ("", Problem::Empty),
            (DOC, Problem::MissingHeaderOrBody),
            (HEADER, Problem::MissingHeaderOrBody),
        ] {
            let c = check(text);
            assert_eq!(c.problems, vec![want.clone()], "{text:?}");
            assert_eq!(want.stage(), Stage::Daemon);
        }
        for header in [
            "{\"format\":\"xml\",\"version\":1}",
            "{\"format\":\"json\",\"version\":2}",
            "format=json",
        ] {
            let c = check(&format!("{header}\n{DOC}"));
            assert!(
                matches!(c.problems.as_slice(), [Problem::BadHeader { .. }]),
                "{header}: {:?}",
                c.problems
            );
            assert!(c.document.is_some(), "the body is still read");
        }
    }

    #[test]
    fn schema_violations_name_the_path() {
        let doc = DOC.replace("\"example.com\"", "\"bad?name\"");
        let c = check(&format!("{HEADER}{doc}"));
        let [Problem::Schema { path, message }] = c.problems.as_slice() else {
            panic!("{:?}", c.problems);
        };
        assert_eq!(path, "/name");
        assert!(message.contains("name set"), "{message}");
        let doc = DOC.replace("\"end_time\"", "\"annotations\":{\"a-b\":1},\"end_time\"");
        let c = check(&format!("{HEADER}{doc}"));
        assert!(
            c.problems[0].to_string().contains("/annotations"),
            "{:?}",
            c.problems
        );
    }

    #[test]
    fn rules_beyond_the_schema() {
        let doc = DOC
            .replace("70de5b6f19ff9a0a", "70DE5B6F19FF9A0A")
            .replace(",\"end_time\":1.478293361449E9", "");
        let c = check(&format!("{HEADER}{doc}"));
        assert_eq!(
            c.problems,
            vec![
                Problem::BadId {
                    path: "/id".into(),
                    value: "70DE5B6F19FF9A0A".into()
                },
                Problem::NoEndTime {
                    path: String::new()
                },
            ]
        );
        let doc = DOC.replace(
            "1-581cf771-a006649127e371903a2de979",
            "2-581cf771-a006649127e371903a2de979",
        );
        assert!(matches!(
            check(&format!("{HEADER}{doc}")).problems.as_slice(),
            [Problem::BadTraceId { .. }]
        ));
        let indep = DOC.replace("{\"name\"", "{\"type\":\"subsegment\",\"name\"");
        assert_eq!(
            check(&format!("{HEADER}{indep}")).problems,
            vec![Problem::NoParentId]
        );
    }

    #[test]
    fn trace_id_dates_against_arrival() {
        let c = Checker::new().unwrap();
        let datagram = format!("{HEADER}{DOC}");
        let at = |secs: u64| {
            c.check_received(
                datagram.as_bytes(),
                Some(UNIX_EPOCH + std::time::Duration::from_secs(secs)),
            )
            .problems
        };
        let date = 0x581c_f771;
        assert_eq!(at(date), vec![]);
        assert_eq!(at(date + 29 * 86_400), vec![]);
        assert_eq!(
            at(date + 31 * 86_400),
            vec![Problem::TraceIdDate {
                age_secs: 31 * 86_400
            }]
        );
        assert_eq!(
            at(date - 600),
            vec![Problem::TraceIdDate { age_secs: -600 }]
        );
        assert!(at(date - 600)[0].to_string().contains("600 s after"));
        assert_eq!(
            c.check(datagram.as_bytes()).problems,
            vec![],
            "no arrival time, no check"
        );
    }

    #[test]
    fn size_and_encoding() {
        let big = DOC.replace(
            "\"end_time\"",
            &format!(
                "\"metadata\":{{\"default\":{{\"x\":\"{}\"}}}},\"end_time\"",
                "a".repeat(70_000)
            ),
        );
        let c = check(&format!("{HEADER}{big}"));
        assert!(c.problems.contains(&Problem::OverUdpLimit {
            len: HEADER.len() + big.len()
        }));
        assert!(
            c.problems
                .contains(&Problem::DocumentTooLarge { len: big.len() })
        );
        let mut bytes = HEADER.as_bytes().to_vec();
        bytes.extend_from_slice(b"{\"name\":\"\xff\"}");
        assert_eq!(
            Checker::new().unwrap().check(&bytes).problems,
            vec![Problem::NotUtf8]
        );
        let c = check(&format!("{HEADER}{{\"name\":"));
        assert!(matches!(
            c.problems.as_slice(),
            [Problem::InvalidJson { .. }]
        ));
    }
}
