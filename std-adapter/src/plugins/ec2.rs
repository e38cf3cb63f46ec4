//! The EC2 plugin: the instance identity document from the instance metadata service (IMDS).

use std::time::Duration;

use super::Ec2Metadata;
use super::metadata_http::{Fetch, agent, get, json_str, put};

/// The instance metadata service's address.
pub const DEFAULT_IMDS_ENDPOINT: &str = "http://169.254.169.254";

const TOKEN_PATH: &str = "/latest/api/token";
const DOCUMENT_PATH: &str = "/latest/dynamic/instance-identity/document";
const TOKEN_TTL_HEADER: &str = "X-aws-ec2-metadata-token-ttl-seconds";
const TOKEN_HEADER: &str = "X-aws-ec2-metadata-token";

/// Reads `instanceId`, `availabilityZone`, `instanceType` and `imageId` from IMDS.
///
/// IMDSv2 first: `PUT /latest/api/token` (TTL 60 s), then
/// `GET /latest/dynamic/instance-identity/document` with the token. When the service answers
/// the token request with an error status, the document is fetched without a token (IMDSv1).
/// When it does not answer at all (not on EC2, or a container beyond the hop limit), the
/// plugin gives up without a second wait. Each request is bounded by [`Ec2Plugin::timeout`].
///
/// ```no_run
/// use std::time::Duration;
/// use xray_std::plugins::Ec2Plugin;
///
/// let plugin = Ec2Plugin::default().with_timeout(Duration::from_millis(500));
/// if let Some(ec2) = plugin.collect() {
///     println!("on {}", ec2.instance_id);
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ec2Plugin {
    /// Base URL of the metadata service, without a trailing slash
    /// (default [`DEFAULT_IMDS_ENDPOINT`]; point it at a stand-in for tests).
    pub endpoint: String,
    /// Time limit for each request, connection included (default 1 s).
    pub timeout: Duration,
}

impl Default for Ec2Plugin {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_IMDS_ENDPOINT.to_owned(),
            timeout: Duration::from_secs(1),
        }
    }
}

impl Ec2Plugin {
    /// Uses another metadata endpoint (`http://host:port`).
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = endpoint.into().trim_end_matches('/').to_owned();
        self
    }

    /// Sets the per-request time limit.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Queries IMDS. `None` when not on EC2 or when the document has no `instanceId`.
    pub fn collect(&self) -> Option<Ec2Metadata> {
        let agent = agent(self.timeout);
        let token_url = format!("{}{TOKEN_PATH}", self.endpoint);
        let token = match put(&agent, &token_url, &[(TOKEN_TTL_HEADER, "60")]) {
            Fetch::Body(token) => Some(token.trim().to_owned()).filter(|t| !t.is_empty()),
            Fetch::Status(status) => {
                log::debug!("X-Ray EC2 plugin: IMDSv2 token refused ({status}); trying IMDSv1");
                None
            }
            Fetch::Unreachable(e) => {
                log::debug!("X-Ray EC2 plugin: metadata service unreachable: {e}");
                return None;
            }
        };
        let document_url = format!("{}{DOCUMENT_PATH}", self.endpoint);
        let headers: &[(&str, &str)] = match &token {
            Some(t) => &[(TOKEN_HEADER, t.as_str())],
            None => &[],
        };
        let body = match get(&agent, &document_url, headers) {
            Fetch::Body(body) => body,
            other => {
                log::debug!("X-Ray EC2 plugin: no identity document: {other}");
                return None;
            }
        };
        parse_identity_document(&body)
    }
}

/// Maps the instance identity document's fields; `None` without an `instanceId`.
fn parse_identity_document(body: &str) -> Option<Ec2Metadata> {
    let doc: serde_json::Value = match serde_json::from_str(body) {
        Ok(doc) => doc,
        Err(e) => {
            log::debug!("X-Ray EC2 plugin: identity document is not JSON: {e}");
            return None;
        }
    };
    let instance_id = json_str(&doc, "instanceId").filter(|s| !s.is_empty())?;
    Some(Ec2Metadata {
        instance_id,
        availability_zone: json_str(&doc, "availabilityZone"),
        instance_type: json_str(&doc, "instanceType"),
        ami_id: json_str(&doc, "imageId"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_identity_document_fields() {
        let doc = r#"{"accountId":"123456789012","architecture":"x86_64",
            "availabilityZone":"us-east-1d","imageId":"ami-0abc","instanceId":"i-1234567890abcdef0",
            "instanceType":"t2.micro","region":"us-east-1"}"#;
        let m = parse_identity_document(doc).unwrap();
        assert_eq!(m.instance_id, "i-1234567890abcdef0");
        assert_eq!(m.availability_zone.as_deref(), Some("us-east-1d"));
        assert_eq!(m.instance_type.as_deref(), Some("t2.micro"));
        assert_eq!(m.ami_id.as_deref(), Some("ami-0abc"));
    }

    #[test]
    fn needs_an_instance_id() {
        assert_eq!(parse_identity_document(r#"{"availabilityZone":"a"}"#), None);
        assert_eq!(parse_identity_document(r#"{"instanceId":""}"#), None);
        assert_eq!(parse_identity_document(r#"{"instanceId":5}"#), None);
        assert_eq!(parse_identity_document("<html>"), None);
        assert_eq!(parse_identity_document("[]"), None);
    }

    #[test]
    fn endpoint_loses_trailing_slash() {
        let p = Ec2Plugin::default().with_endpoint("http://127.0.0.1:1/");
        assert_eq!(p.endpoint, "http://127.0.0.1:1");
    }
}
