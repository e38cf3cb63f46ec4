//! One local sampling rule: matchers, target (reservoir and rate), name, and its reservoir.

use super::decision::Reason;
use super::rate::Rate;
use super::reservoir::{MAX_CAPACITY, Reservoir};
use super::wildcard::{match_stars, star_span, wildcard_match};
use crate::time::Timestamp;
use core::fmt;
use rand_core::Rng;

/// The longest host (or version 1 `service_name`) pattern, in bytes (the AWS rule limit).
pub const MAX_HOST_LEN: usize = 64;
/// The longest HTTP method pattern, in bytes (the AWS rule limit).
pub const MAX_METHOD_LEN: usize = 10;
/// The longest URL path pattern, in bytes (the AWS rule limit).
pub const MAX_URL_PATH_LEN: usize = 128;
/// The longest rule name, in bytes (the AWS `RuleName` limit).
pub const MAX_RULE_NAME_LEN: usize = 32;
/// The largest `fixed_target` (requests per second) a rule may have.
pub const MAX_FIXED_TARGET: u32 = MAX_CAPACITY;

/// A rule name: at most [`MAX_RULE_NAME_LEN`] bytes.
pub type RuleName = heapless::String<MAX_RULE_NAME_LEN>;

/// The name of the default rule of a local rules file.
pub const DEFAULT_RULE_NAME: &str = "Default";

/// The request attributes rules match on. `None` means "not known here", which every rule
/// matcher accepts (as in the Go, Python and Node SDKs, spec §5.3; Java differs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SamplingRequest<'a> {
    /// The service (segment) name. Local rules files do not match on it (version 1's
    /// `service_name` is matched against [`SamplingRequest::host`], as in every peer);
    /// centralized rules do.
    pub service_name: Option<&'a str>,
    /// The request's `Host` (without port is what peers pass; the rule decides).
    pub host: Option<&'a str>,
    /// The HTTP method.
    pub method: Option<&'a str>,
    /// The URL path (no query).
    pub url_path: Option<&'a str>,
    /// The service type, the segment's `origin` (for example `AWS::EC2::Instance`). Only
    /// centralized rules match on it.
    pub service_type: Option<&'a str>,
}

/// A request attribute a rule matches on (for error reports).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// `host` (version 2).
    Host,
    /// `service_name` (version 1, matched against the host).
    ServiceName,
    /// `http_method`.
    HttpMethod,
    /// `url_path`.
    UrlPath,
    /// `fixed_target`.
    FixedTarget,
    /// `rate`.
    Rate,
}

impl Field {
    /// The key in a rules file.
    pub const fn key(self) -> &'static str {
        match self {
            Field::Host => "host",
            Field::ServiceName => "service_name",
            Field::HttpMethod => "http_method",
            Field::UrlPath => "url_path",
            Field::FixedTarget => "fixed_target",
            Field::Rate => "rate",
        }
    }
}

/// Why a rule (from a file or built in code) is invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RuleError {
    /// A required key is missing.
    Missing(Field),
    /// A pattern is longer than its limit ([`MAX_HOST_LEN`], [`MAX_METHOD_LEN`],
    /// [`MAX_URL_PATH_LEN`]).
    PatternTooLong(Field),
    /// `rate` is outside `[0, 1]`.
    RateOutOfRange,
    /// `fixed_target` is negative.
    NegativeFixedTarget,
    /// `fixed_target` is above [`MAX_FIXED_TARGET`].
    FixedTargetTooLarge,
    /// The key belongs to the other file version (`host` in version 1, `service_name` in 2).
    WrongVersionKey(Field),
    /// The default rule has a matcher (it matches everything by definition).
    MatcherInDefault(Field),
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleError::Missing(k) => write!(f, "missing \"{}\"", k.key()),
            RuleError::PatternTooLong(k) => write!(f, "\"{}\" pattern is too long", k.key()),
            RuleError::RateOutOfRange => f.write_str("\"rate\" is outside [0, 1]"),
            RuleError::NegativeFixedTarget => f.write_str("\"fixed_target\" is negative"),
            RuleError::FixedTargetTooLarge => {
                write!(f, "\"fixed_target\" is above {MAX_FIXED_TARGET}")
            }
            RuleError::WrongVersionKey(k) => {
                write!(f, "\"{}\" belongs to the other file version", k.key())
            }
            RuleError::MatcherInDefault(k) => {
                write!(f, "the default rule cannot have \"{}\"", k.key())
            }
        }
    }
}

impl core::error::Error for RuleError {}

/// How a pattern is matched, worked out once when it is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Only stars: matches anything.
    Any,
    /// No wildcard: a case-insensitive comparison.
    Literal,
    /// Wildcards only as one trailing star (`/health*`): a case-insensitive prefix test.
    Prefix,
    /// Anything else: the wildcard matcher, with the first and last `*` found once.
    Wild { first_star: usize, last_star: usize },
    /// `?` but no `*`: the wildcard matcher.
    Single,
}

/// A wildcard pattern of at most `N` bytes (see [`super::wildcard_match`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern<const N: usize> {
    text: heapless::String<N>,
    kind: Kind,
}

impl<const N: usize> Pattern<N> {
    /// The pattern `*`.
    pub fn any() -> Self {
        let mut text = heapless::String::new();
        // N is at least 1 for every pattern type here; an N of 0 keeps an empty text but
        // still matches anything. (`push_str`, not `push`: no UTF-8 encoder for one byte.)
        let _ = text.push_str("*");
        Self {
            text,
            kind: Kind::Any,
        }
    }

    /// A pattern; `None` if it is longer than `N` bytes.
    pub fn new(pattern: &str) -> Option<Self> {
        let text = heapless::String::try_from(pattern).ok()?;
        let bytes = pattern.as_bytes();
        let wild = |b: &u8| *b == b'*' || *b == b'?';
        let kind = if !bytes.is_empty() && bytes.iter().all(|&b| b == b'*') {
            Kind::Any
        } else if !bytes.iter().any(wild) {
            Kind::Literal
        } else if bytes.last() == Some(&b'*') && !bytes[..bytes.len() - 1].iter().any(wild) {
            Kind::Prefix
        } else if let Some((first_star, last_star)) = star_span(bytes) {
            Kind::Wild {
                first_star,
                last_star,
            }
        } else {
            Kind::Single
        };
        Some(Self { text, kind })
    }

    /// The pattern text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `value` matches; an unknown value (`None`) matches every pattern.
    #[inline]
    pub fn matches(&self, value: Option<&str>) -> bool {
        let Some(v) = value else {
            return true;
        };
        let p = self.text.as_bytes();
        match self.kind {
            Kind::Any => true,
            Kind::Literal => p.eq_ignore_ascii_case(v.as_bytes()),
            Kind::Prefix => {
                let head = &p[..p.len() - 1];
                v.as_bytes()
                    .get(..head.len())
                    .is_some_and(|start| start.eq_ignore_ascii_case(head))
            }
            Kind::Wild {
                first_star,
                last_star,
            } => match_stars(p, first_star, last_star, v.as_bytes(), &mut ()),
            Kind::Single => wildcard_match(&self.text, v),
        }
    }
}

/// How many requests a rule samples: `fixed_target` per second, then `rate` of the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    /// Requests sampled per second from the reservoir (at most [`MAX_FIXED_TARGET`]).
    pub fixed_target: u32,
    /// The rate applied once the second's reservoir is used up.
    pub rate: Rate,
}

impl Target {
    /// The default rule's target: 1 request per second, then 5 % (spec §5.1).
    pub const DEFAULT: Target = Target {
        fixed_target: 1,
        rate: Rate::FIVE_PERCENT,
    };

    /// A target; fails if `fixed_target` is above [`MAX_FIXED_TARGET`].
    pub const fn new(fixed_target: u32, rate: Rate) -> Result<Self, RuleError> {
        if fixed_target > MAX_FIXED_TARGET {
            return Err(RuleError::FixedTargetTooLarge);
        }
        Ok(Self { fixed_target, rate })
    }
}

impl Default for Target {
    fn default() -> Self {
        Target::DEFAULT
    }
}

/// A local sampling rule with its own reservoir.
///
/// Rules from a file get a name for `aws.xray.sampling_rule_name`, since the file format has
/// none: the rule's `description` cut to [`MAX_RULE_NAME_LEN`] bytes at a character boundary
/// when it has a non-empty one, otherwise `rule-N` with N its 1-based position in `rules`;
/// the default rule is [`DEFAULT_RULE_NAME`].
#[derive(Debug)]
pub struct Rule {
    name: RuleName,
    host: Pattern<MAX_HOST_LEN>,
    method: Pattern<MAX_METHOD_LEN>,
    url_path: Pattern<MAX_URL_PATH_LEN>,
    target: Target,
    reservoir: Reservoir,
}

/// `name` cut to [`MAX_RULE_NAME_LEN`] bytes at a character boundary.
pub fn rule_name(name: &str) -> RuleName {
    let mut end = name.len().min(MAX_RULE_NAME_LEN);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = RuleName::new();
    // Fits: at most MAX_RULE_NAME_LEN bytes.
    let _ = out.push_str(&name[..end]);
    out
}

impl Rule {
    /// A rule matching `host`, `method` and `url_path` (wildcard patterns); `name` is cut to
    /// [`MAX_RULE_NAME_LEN`] bytes.
    pub fn new(
        name: &str,
        host: &str,
        method: &str,
        url_path: &str,
        target: Target,
    ) -> Result<Self, RuleError> {
        Ok(Self {
            name: rule_name(name),
            host: Pattern::new(host).ok_or(RuleError::PatternTooLong(Field::Host))?,
            method: Pattern::new(method).ok_or(RuleError::PatternTooLong(Field::HttpMethod))?,
            url_path: Pattern::new(url_path).ok_or(RuleError::PatternTooLong(Field::UrlPath))?,
            target: Target::new(target.fixed_target, target.rate)?,
            reservoir: Reservoir::new(),
        })
    }

    /// A catch-all rule (every matcher `*`), as the default rule is.
    pub fn catch_all(name: &str, target: Target) -> Result<Self, RuleError> {
        Self::new(name, "*", "*", "*", target)
    }

    /// The default rule: catch-all, named [`DEFAULT_RULE_NAME`]; a `fixed_target` above
    /// [`MAX_FIXED_TARGET`] is clamped.
    pub fn default_rule(target: Target) -> Self {
        Self {
            name: {
                // Fits: a constant of 7 bytes (the cut of `rule_name` is not needed).
                let mut name = RuleName::new();
                let _ = name.push_str(DEFAULT_RULE_NAME);
                name
            },
            host: Pattern::any(),
            method: Pattern::any(),
            url_path: Pattern::any(),
            target: Target {
                fixed_target: target.fixed_target.min(MAX_FIXED_TARGET),
                rate: target.rate,
            },
            reservoir: Reservoir::new(),
        }
    }

    /// The name recorded for decisions this rule makes.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host pattern (from `host`, or `service_name` in a version 1 file).
    pub fn host(&self) -> &str {
        self.host.as_str()
    }

    /// The HTTP method pattern.
    pub fn method(&self) -> &str {
        self.method.as_str()
    }

    /// The URL path pattern.
    pub fn url_path(&self) -> &str {
        self.url_path.as_str()
    }

    /// The rule's target.
    pub fn target(&self) -> Target {
        self.target
    }

    /// Whether the request matches every matcher.
    #[inline]
    pub fn matches(&self, request: &SamplingRequest<'_>) -> bool {
        self.host.matches(request.host)
            && self.method.matches(request.method)
            && self.url_path.matches(request.url_path)
    }

    /// The rule's own decision: its reservoir if it has room this second, else its rate.
    /// Without a known time the reservoir is skipped.
    #[inline]
    pub(crate) fn sample<R: Rng + ?Sized>(
        &self,
        now: Option<Timestamp>,
        rng: &mut R,
    ) -> (bool, Reason) {
        if let Some(now) = now
            && self.reservoir.take(now.secs(), self.target.fixed_target)
        {
            return (true, Reason::Reservoir);
        }
        (self.target.rate.sample(rng), Reason::Rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::TestRng;

    #[test]
    fn names_are_cut_at_char_boundaries() {
        assert_eq!(rule_name("checkout"), "checkout");
        let long = "ééééééééééééééééééé"; // 38 bytes
        let cut = rule_name(long);
        assert_eq!(cut.len(), 32);
        assert!(long.starts_with(cut.as_str()));
        let odd = "aéééééééééééééééé"; // 1 + 32 bytes: cut must drop a whole é
        assert_eq!(rule_name(odd).len(), 31);
    }

    #[test]
    fn missing_attributes_match() {
        let rule = Rule::new("r", "api.*", "POST", "/orders/*", Target::DEFAULT).unwrap();
        assert!(rule.matches(&SamplingRequest::default()));
        assert!(rule.matches(&SamplingRequest {
            host: Some("API.example.com"),
            method: Some("post"),
            url_path: Some("/orders/7"),
            ..SamplingRequest::default()
        }));
        assert!(!rule.matches(&SamplingRequest {
            method: Some("GET"),
            ..SamplingRequest::default()
        }));
        assert!(!rule.matches(&SamplingRequest {
            host: Some("web.example.com"),
            ..SamplingRequest::default()
        }));
    }

    #[test]
    fn limits_are_enforced() {
        let long_path = "/a".repeat(65);
        assert_eq!(
            Rule::new("r", "*", "*", &long_path, Target::DEFAULT).err(),
            Some(RuleError::PatternTooLong(Field::UrlPath))
        );
        assert_eq!(
            Rule::new("r", "*", "GETGETGETGET", "*", Target::DEFAULT).err(),
            Some(RuleError::PatternTooLong(Field::HttpMethod))
        );
        assert_eq!(
            Target::new(MAX_FIXED_TARGET + 1, Rate::ONE),
            Err(RuleError::FixedTargetTooLarge)
        );
    }

    #[test]
    fn no_clock_skips_the_reservoir() {
        let rule = Rule::catch_all("r", Target::new(5, Rate::ZERO).unwrap()).unwrap();
        let mut rng = TestRng(3);
        assert_eq!(rule.sample(None, &mut rng), (false, Reason::Rate));
        let now = Some(Timestamp::from_secs_micros(1_700_000_000, 0));
        assert_eq!(rule.sample(now, &mut rng), (true, Reason::Reservoir));
    }

    #[test]
    fn star_patterns_are_any() {
        let p = Pattern::<8>::new("**").unwrap();
        assert!(p.matches(Some("")));
        assert!(p.matches(Some("whatever")));
        let empty = Pattern::<8>::new("").unwrap();
        assert!(empty.matches(Some("")));
        assert!(!empty.matches(Some("x")));
        assert!(Pattern::<8>::any().matches(Some("x")));
    }

    #[test]
    fn fast_paths_agree_with_the_matcher() {
        let texts = [
            "", "/", "/health", "/HEALTHZ", "/heal", "get", "GET", "x/health", "é",
        ];
        for p in [
            "*", "**", "", "GET", "/health*", "/health", "/he?lth*", "*z", "é*",
        ] {
            let pattern = Pattern::<16>::new(p).unwrap();
            for t in texts {
                assert_eq!(
                    pattern.matches(Some(t)),
                    wildcard_match(p, t),
                    "pattern {p:?} text {t:?}"
                );
            }
        }
    }
}
