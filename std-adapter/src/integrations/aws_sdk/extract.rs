//! Reads an operation's parameters (see [`parameters`](super::parameters)) from its HTTP
//! request and response, and the error code from an error response. Bounded: only bodies the
//! SDK holds in memory are read (never a streaming one), at most [`MAX_BODY`] bytes of them.

use std::borrow::Cow;

use aws_smithy_runtime_api::http::{Headers, Request, Response};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use super::parameters::{From, Param, Take};

/// Bodies longer than this are not read (their parameters are left out; logged at debug).
pub(super) const MAX_BODY: usize = 1 << 20;

/// A recorded value, owned: the request is gone when the operation ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Recorded {
    /// A string.
    Str(String),
    /// A count.
    Count(u64),
    /// A JSON value's text (a number, boolean, list or object).
    Json(String),
}

/// The in-memory body, if it is in memory and not too long.
fn body(bytes: Option<&[u8]>) -> Option<&[u8]> {
    let b = bytes?;
    if b.len() > MAX_BODY {
        log::debug!(
            "xray aws-sdk: a {} B body is over the {MAX_BODY} B cap: its parameters are not recorded",
            b.len()
        );
        return None;
    }
    Some(b)
}

/// The parameters `params` of a request.
pub(super) fn from_request(request: &Request, params: &[Param]) -> Vec<(&'static str, Recorded)> {
    let mut body_read = None;
    let mut out = Vec::new();
    let mut json = None;
    let mut form = None;
    for p in params {
        let v = match p.from {
            From::Member(name, take) => {
                match *body_read.get_or_insert_with(|| body(request.body().bytes())) {
                    Some(b) if first_byte(b) == Some(b'{') => {
                        let members = json.get_or_insert_with(|| json_members(b, params));
                        members
                            .iter()
                            .find(|(n, _)| n == name)
                            .and_then(|(_, v)| take_json(v, take))
                    }
                    Some(b) if is_form(request.headers()) => form
                        .get_or_insert_with(|| {
                            form_urlencoded::parse(b).into_owned().collect::<Vec<_>>()
                        })
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| Recorded::Str(v.clone())),
                    _ => None,
                }
            }
            From::Header(name) => header(request.headers(), name),
            From::Query(name) => query(request.uri(), name),
            From::Path(n) => path_segments(request.uri()).nth(n).map(Recorded::Str),
            From::S3Bucket => s3_location(request).0.map(Recorded::Str),
            From::S3Key => s3_location(request).1.map(Recorded::Str),
            From::Status | From::XmlCount(_) | From::XmlWrappedCount(_) => None,
        };
        if let Some(v) = v {
            out.push((p.key, v));
        }
    }
    out
}

/// The parameters `params` of a (successful) response.
pub(super) fn from_response(
    response: &Response,
    params: &[Param],
) -> Vec<(&'static str, Recorded)> {
    let needs_body = params.iter().any(|p| {
        matches!(
            p.from,
            From::Member(..) | From::XmlCount(_) | From::XmlWrappedCount(_)
        )
    });
    let body = if needs_body {
        body(response.body().bytes())
    } else {
        None
    };
    let mut out = Vec::new();
    let mut json = None;
    for p in params {
        let v = match (p.from, body) {
            (From::Member(name, take), Some(b)) if first_byte(b) == Some(b'{') => json
                .get_or_insert_with(|| json_members(b, params))
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, v)| take_json(v, take)),
            (From::Header(name), _) => header(response.headers(), name),
            (From::Status, _) => Some(Recorded::Json(response.status().as_u16().to_string())),
            (From::XmlCount(name), Some(b)) => xml_count(b, name, false),
            (From::XmlWrappedCount(name), Some(b)) => xml_count(b, name, true),
            _ => None,
        };
        if let Some(v) = v {
            out.push((p.key, v));
        }
    }
    out
}

fn first_byte(b: &[u8]) -> Option<u8> {
    b.iter().copied().find(|c| !c.is_ascii_whitespace())
}

fn is_form(headers: &Headers) -> bool {
    headers
        .get("content-type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"))
}

fn header(headers: &Headers, name: &str) -> Option<Recorded> {
    headers.get(name).map(|v| Recorded::Str(v.to_owned()))
}

fn query(uri: &str, name: &str) -> Option<Recorded> {
    let q = uri.split_once('?')?.1;
    form_urlencoded::parse(q.as_bytes())
        .find(|(n, _)| n == name)
        .map(|(_, v)| Recorded::Str(v.into_owned()))
}

/// The URI's path (after the authority, before the query).
fn path(uri: &str) -> &str {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    let rest = rest.find('/').map_or("", |i| &rest[i..]);
    rest.split(['?', '#']).next().unwrap_or("")
}

fn host(uri: &str) -> &str {
    let rest = uri.split_once("://").map_or("", |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if authority.starts_with('[') {
        return authority; // an IPv6 literal is never a bucket
    }
    authority.split(':').next().unwrap_or("")
}

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

fn path_segments(uri: &str) -> impl Iterator<Item = String> + '_ {
    path(uri).split('/').filter(|s| !s.is_empty()).map(decode)
}

/// The S3 bucket and key. Virtual-hosted addressing is recognised on S3's own host names
/// (`<bucket>.s3.<region>.amazonaws.com`, `.s3-accelerate.`, `.s3-fips.`…); any other host
/// (custom endpoints, IP addresses) is read as path-style, `/<bucket>/<key>`.
fn s3_location(request: &Request) -> (Option<String>, Option<String>) {
    let uri = request.uri();
    let host = host(uri);
    let p = path(uri);
    let p = p.strip_prefix('/').unwrap_or(p);
    let virtual_bucket = host
        .split_once('.')
        .filter(|(_, rest)| rest.starts_with("s3") && host.ends_with(".amazonaws.com"));
    let (bucket, key) = match virtual_bucket {
        Some((bucket, _)) => (Some(bucket.to_owned()), p),
        None => {
            let (b, k) = p.split_once('/').unwrap_or((p, ""));
            ((!b.is_empty()).then(|| decode(b)), k)
        }
    };
    let key = (!key.is_empty()).then(|| decode(key));
    (bucket, key)
}

fn take_json(v: &Value, take: Take) -> Option<Recorded> {
    match (take, v) {
        (Take::Value, Value::String(s)) => Some(Recorded::Str(s.clone())),
        (Take::Value, Value::Null) => None,
        (Take::Value, v) => serde_json::to_string(v).ok().map(Recorded::Json),
        (Take::Count, Value::Array(a)) => Some(Recorded::Count(a.len() as u64)),
        (Take::Keys, Value::Object(m)) => serde_json::to_string(&m.keys().collect::<Vec<_>>())
            .ok()
            .map(Recorded::Json),
        _ => None,
    }
}

/// The members of a JSON object body that `params` name; the others are skipped without
/// being kept. Malformed JSON gives what was read before the fault.
fn json_members(body: &[u8], params: &[Param]) -> Vec<(String, Value)> {
    struct Wanted<'p>(&'p [Param], Vec<(String, Value)>);

    impl<'de> Visitor<'de> for &mut Wanted<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                let wanted = self
                    .0
                    .iter()
                    .any(|p| matches!(p.from, From::Member(n, _) if n == key));
                if wanted {
                    let v = map.next_value::<Value>()?;
                    self.1.push((key.into_owned(), v));
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(())
        }
    }

    impl<'de> DeserializeSeed<'de> for &mut Wanted<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_map(self)
        }
    }

    let mut wanted = Wanted(params, Vec::new());
    let mut de = serde_json::Deserializer::from_slice(body);
    if let Err(e) = (&mut wanted).deserialize(&mut de) {
        log::debug!("xray aws-sdk: a JSON body could not be read whole: {e}");
    }
    wanted.1
}

/// The number of elements named `name` under the XML root (or, `wrapped`, of the children of
/// the root's first `name` element).
fn xml_count(body: &[u8], name: &str, wrapped: bool) -> Option<Recorded> {
    let mut doc = aws_smithy_xml::decode::Document::try_from(body).ok()?;
    let mut root = doc.root_element().ok()?;
    let mut n = 0u64;
    while let Some(mut tag) = root.next_tag() {
        if tag.start_el().local() != name {
            continue;
        }
        if !wrapped {
            n += 1;
            continue;
        }
        while tag.next_tag().is_some() {
            n += 1;
        }
        return Some(Recorded::Count(n));
    }
    (!wrapped).then_some(Recorded::Count(n))
}

/// The service's error code for an error response: the `x-amzn-query-error` or
/// `x-amzn-errortype` header, the JSON body's `__type`/`code`, or the XML body's
/// `Error/Code` (S3) or `ErrorResponse/Error/Code` (awsQuery); prefixes (`ns#`) and
/// suffixes (`:uri`, `;Sender`) removed. `None` when the response names none (an S3 `HEAD`).
pub(super) fn error_code(response: &Response) -> Option<String> {
    let clean = |code: &str| -> Option<String> {
        let code = code.rsplit('#').next().unwrap_or(code);
        let code = code.split([':', ';']).next().unwrap_or(code).trim();
        (!code.is_empty() && code.len() <= 128).then(|| code.to_owned())
    };
    let headers = response.headers();
    if let Some(code) = headers
        .get("x-amzn-query-error")
        .or_else(|| headers.get("x-amzn-errortype"))
        .and_then(clean)
    {
        return Some(code);
    }
    let b = body(response.body().bytes())?;
    match first_byte(b)? {
        b'{' => {
            const CODES: [Param; 3] = [
                Param {
                    key: "",
                    from: From::Member("__type", Take::Value),
                },
                Param {
                    key: "",
                    from: From::Member("code", Take::Value),
                },
                Param {
                    key: "",
                    from: From::Member("Code", Take::Value),
                },
            ];
            let members = json_members(b, &CODES);
            ["__type", "code", "Code"].iter().find_map(|name| {
                members
                    .iter()
                    .find(|(n, _)| n == name)
                    .and_then(|(_, v)| v.as_str())
                    .and_then(clean)
            })
        }
        b'<' => xml_error_code(b).and_then(|c| clean(&c)),
        _ => None,
    }
}

fn xml_error_code(body: &[u8]) -> Option<String> {
    let mut doc = aws_smithy_xml::decode::Document::try_from(body).ok()?;
    let mut root = doc.root_element().ok()?;
    let root_name = root.start_el().local().to_owned();
    if root_name == "Error" {
        return code_child(&mut root);
    }
    while let Some(mut tag) = root.next_tag() {
        if tag.start_el().local() == "Error" {
            return code_child(&mut tag);
        }
    }
    None
}

fn code_child(error: &mut aws_smithy_xml::decode::ScopedDecoder<'_, '_>) -> Option<String> {
    while let Some(mut tag) = error.next_tag() {
        if tag.start_el().local() == "Code" {
            return aws_smithy_xml::decode::try_data(&mut tag)
                .ok()
                .map(Cow::into_owned);
        }
    }
    None
}

/// Error codes that mean the call was throttled (the SDK for Rust's retry classifier list).
pub(super) const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_types::body::SdkBody;

    fn request(uri: &str, body: &str, content_type: &str) -> Request {
        let mut r = Request::new(SdkBody::from(body));
        r.set_uri(uri).unwrap_or_else(|e| panic!("{e}"));
        r.headers_mut()
            .insert("content-type", content_type.to_owned());
        r
    }

    fn response(status: u16, body: &str) -> Response {
        Response::new(
            status.try_into().unwrap_or_else(|e| panic!("{e:?}")),
            SdkBody::from(body),
        )
    }

    #[test]
    fn s3_bucket_and_key_in_both_addressing_styles() {
        let params = [
            Param {
                key: "bucket_name",
                from: From::S3Bucket,
            },
            Param {
                key: "key",
                from: From::S3Key,
            },
        ];
        let get = |uri| from_request(&request(uri, "", "text/plain"), &params);
        let both = |b: &str, k: &str| {
            vec![
                ("bucket_name", Recorded::Str(b.into())),
                ("key", Recorded::Str(k.into())),
            ]
        };
        assert_eq!(
            get("https://photos.s3.eu-west-1.amazonaws.com/a/b%20c.jpg?x-id=GetObject"),
            both("photos", "a/b c.jpg")
        );
        assert_eq!(
            get("http://127.0.0.1:5000/photos/a/b%20c.jpg"),
            both("photos", "a/b c.jpg")
        );
        assert_eq!(
            get("http://127.0.0.1:5000/photos"),
            vec![("bucket_name", Recorded::Str("photos".into()))]
        );
        assert_eq!(get("https://s3.amazonaws.com/"), vec![]);
    }

    #[test]
    fn form_query_path_and_header_values() {
        let params = [
            Param {
                key: "topic_arn",
                from: From::Member("TopicArn", Take::Value),
            },
            Param {
                key: "function_name",
                from: From::Path(2),
            },
            Param {
                key: "qualifier",
                from: From::Query("Qualifier"),
            },
        ];
        let r = request(
            "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/arn%3Aaws%3Alambda%3Af/invocations?Qualifier=v%201",
            "Action=Publish&TopicArn=arn%3Aaws%3Asns%3At",
            "application/x-www-form-urlencoded",
        );
        assert_eq!(
            from_request(&r, &params),
            vec![
                ("topic_arn", Recorded::Str("arn:aws:sns:t".into())),
                ("function_name", Recorded::Str("arn:aws:lambda:f".into())),
                ("qualifier", Recorded::Str("v 1".into())),
            ]
        );
    }

    #[test]
    fn json_members_values_counts_and_keys_bad_json_degrades() {
        let params = [
            Param {
                key: "table_names",
                from: From::Member("RequestItems", Take::Keys),
            },
            Param {
                key: "limit",
                from: From::Member("Limit", Take::Value),
            },
            Param {
                key: "n",
                from: From::Member("Entries", Take::Count),
            },
        ];
        let r = request(
            "http://h/",
            r#"{"Skip":{"x":[1,2]},"RequestItems":{"a":{},"b":{}},"Limit":5,"Entries":[1,2,3]}"#,
            "application/x-amz-json-1.0",
        );
        assert_eq!(
            from_request(&r, &params),
            vec![
                ("table_names", Recorded::Json(r#"["a","b"]"#.into())),
                ("limit", Recorded::Json("5".into())),
                ("n", Recorded::Count(3)),
            ]
        );
        let r = request("http://h/", r#"{"Limit":5,"Entries":"#, "application/json");
        assert_eq!(
            from_request(&r, &params),
            vec![("limit", Recorded::Json("5".into()))]
        );
        let big = format!(r#"{{"Limit":5,"Pad":"{}"}}"#, "x".repeat(MAX_BODY));
        assert_eq!(
            from_request(&request("http://h/", &big, "application/json"), &params),
            vec![]
        );
    }

    #[test]
    fn error_codes_from_headers_json_and_xml() {
        let mut r = response(400, "{}");
        r.headers_mut().insert(
            "x-amzn-query-error",
            "AWS.SimpleQueueService.NonExistentQueue;Sender",
        );
        assert_eq!(
            error_code(&r).as_deref(),
            Some("AWS.SimpleQueueService.NonExistentQueue")
        );
        let r = response(
            400,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"m"}"#,
        );
        assert_eq!(error_code(&r).as_deref(), Some("ResourceNotFoundException"));
        let r = response(
            404,
            "<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>m</Message></Error>",
        );
        assert_eq!(error_code(&r).as_deref(), Some("NoSuchBucket"));
        let r = response(
            400,
            "<ErrorResponse><Error><Type>Sender</Type><Code>NotFound</Code></Error></ErrorResponse>",
        );
        assert_eq!(error_code(&r).as_deref(), Some("NotFound"));
        assert_eq!(error_code(&response(404, "")), None);
        assert_eq!(error_code(&response(500, "<<<")), None);
    }

    #[test]
    fn xml_counts_flat_and_wrapped() {
        let list = "<ListBucketResult><Name>b</Name><Contents><Key>a</Key></Contents><Contents><Key>b</Key></Contents></ListBucketResult>";
        assert_eq!(
            xml_count(list.as_bytes(), "Contents", false),
            Some(Recorded::Count(2))
        );
        let buckets = "<ListAllMyBucketsResult><Owner/><Buckets><Bucket><Name>a</Name></Bucket><Bucket><Name>b</Name></Bucket><Bucket/></Buckets></ListAllMyBucketsResult>";
        assert_eq!(
            xml_count(buckets.as_bytes(), "Buckets", true),
            Some(Recorded::Count(3))
        );
        assert_eq!(xml_count(b"not xml", "Buckets", true), None);
    }
}
