//! What the tracer samples with: the request attributes a decision can look at, user sampler
//! functions, and local sampling rules (the core sampler, read from a rules document or file).
//!
//! Shared by the [`Tracer`](crate::Tracer) and `centralized_sampling` (feature
//! `centralized-sampling`, which falls back to local rules), so neither imports the other.

use std::path::Path;
use std::sync::Arc;

use crate::build_error::BuildError;

/// What a sampling decision can look at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SamplingRequest<'a> {
    /// The segment name (service name).
    pub service_name: &'a str,
    /// The HTTP host, when tracing an HTTP request.
    pub host: Option<&'a str>,
    /// The HTTP method.
    pub method: Option<&'a str>,
    /// The URL path.
    pub url_path: Option<&'a str>,
    /// The service type (the segment's `origin`, such as `AWS::EC2::Instance`); only
    /// centralized rules match on it.
    pub service_type: Option<&'a str>,
}

impl<'a> SamplingRequest<'a> {
    /// A request with only a service name.
    pub fn new(service_name: &'a str) -> Self {
        Self {
            service_name,
            ..Self::default()
        }
    }

    /// Adds the HTTP attributes.
    pub fn with_http(
        mut self,
        host: Option<&'a str>,
        method: Option<&'a str>,
        url_path: Option<&'a str>,
    ) -> Self {
        self.host = host;
        self.method = method;
        self.url_path = url_path;
        self
    }

    /// Adds the service type (the segment's `origin`).
    pub fn with_service_type(mut self, service_type: Option<&'a str>) -> Self {
        self.service_type = service_type;
        self
    }

    /// The core sampler's view of this request.
    pub fn to_core(&self) -> xray_core::SamplingRequest<'a> {
        xray_core::SamplingRequest {
            service_name: Some(self.service_name),
            host: self.host,
            method: self.method,
            url_path: self.url_path,
            service_type: self.service_type,
        }
    }
}

/// A sampling decision function: `true` to sample. It must not allocate if the request path
/// is to stay allocation-free. If it panics, the panic goes on to the caller of
/// [`Tracer::begin`](crate::Tracer::begin) and the recorder goes back to the pool.
pub type Sampler = Arc<dyn Fn(&SamplingRequest<'_>) -> bool + Send + Sync>;

/// How many rules (besides the default rule) a local rules file may hold.
pub const LOCAL_RULE_CAPACITY: usize = 32;

/// The local-rules sampler a tracer uses by default: the core's [`xray_core::Sampler`] with
/// room for [`LOCAL_RULE_CAPACITY`] rules. Its `Default` is the default rule (1 request per
/// second, then 5 %).
pub type LocalSampler = xray_core::Sampler<LOCAL_RULE_CAPACITY>;

/// Parses a local sampling rules document (version 1 or 2, spec §5.2).
pub fn parse_sampling_rules(json: &str) -> Result<LocalSampler, BuildError> {
    LocalSampler::from_rules_json(json)
        .map_err(|error| BuildError::SamplingRules { path: None, error })
}

/// Reads and parses a local sampling rules file; errors name the file.
pub fn load_sampling_rules(path: &Path) -> Result<LocalSampler, BuildError> {
    let json = std::fs::read_to_string(path).map_err(|error| BuildError::SamplingRulesRead {
        path: path.to_path_buf(),
        error,
    })?;
    LocalSampler::from_rules_json(&json).map_err(|error| BuildError::SamplingRules {
        path: Some(path.to_path_buf()),
        error,
    })
}
