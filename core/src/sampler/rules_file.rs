//! Local sampling rules files, versions 1 and 2 (spec §5.2), parsed without allocation.
//!
//! ```json
//! {"version": 2,
//!  "default": {"fixed_target": 1, "rate": 0.05},
//!  "rules": [{"description": "checkout", "host": "*", "http_method": "POST",
//!             "url_path": "/checkout", "fixed_target": 10, "rate": 0.1}]}
//! ```
//!
//! What is checked, each with its own error:
//!
//! - `version` is present and is 1 or 2;
//! - `default` is present, has `fixed_target` and `rate`, and no matcher (`description` is
//!   tolerated, as Go does);
//! - every rule has `http_method`, `url_path`, `fixed_target`, `rate` and the version's host key
//!   (`service_name` in version 1, `host` in version 2), and not the other version's key;
//! - `rate` is in `[0, 1]`, `fixed_target` is a non-negative integer of at most
//!   [`MAX_FIXED_TARGET`](super::MAX_FIXED_TARGET), patterns fit their limits;
//! - there are at most `N` rules (the capacity of [`LocalRules`]).
//!
//! Other keys (such as the `id` in Go's example file) are ignored, as Go and Python do. Strings
//! may contain JSON escapes. Nesting deeper than [`MAX_NESTING`] is rejected before parsing, so
//! a hostile file cannot exhaust a small stack through the recursive parser.

use super::rate::Rate;
use super::rule::{
    Field, MAX_HOST_LEN, MAX_METHOD_LEN, MAX_URL_PATH_LEN, Rule, RuleError, RuleName, Target,
    rule_name,
};
use core::fmt::{self, Write as _};
use core::marker::PhantomData;
use serde::Deserialize;
use serde::de::{self, IgnoredAny, SeqAccess, Visitor};

/// The deepest nesting of arrays and objects a rules file may have (a valid file needs 3).
pub const MAX_NESTING: usize = 8;

/// Bytes of stack used to unescape one JSON string.
const UNESCAPE_BUFFER: usize = 256;

/// Why a rules file was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RulesError {
    /// The text is not JSON of the expected shape (a value of the wrong type, a truncated
    /// file, an escaped string longer than 256 bytes…).
    Json(serde_json_core::de::Error),
    /// Arrays and objects are nested deeper than [`MAX_NESTING`].
    TooDeep,
    /// The text is not valid JSON syntax (checked before parsing: the no_std parser is lenient
    /// about raw control characters in strings and leading zeros).
    Syntax,
    /// There is no `version`.
    MissingVersion,
    /// `version` is neither 1 nor 2.
    UnsupportedVersion(i64),
    /// There is no `default` rule.
    MissingDefault,
    /// The `default` rule is invalid.
    Default(RuleError),
    /// A rule in `rules` is invalid.
    Rule {
        /// Its 0-based position in `rules`.
        index: usize,
        /// What is wrong with it.
        error: RuleError,
    },
    /// `rules` has more entries than the configured capacity.
    TooManyRules {
        /// The capacity (`N`).
        capacity: usize,
        /// How many the file has.
        found: usize,
    },
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RulesError::Json(e) => write!(f, "sampling rules: invalid JSON: {e}"),
            RulesError::TooDeep => write!(f, "sampling rules: nested deeper than {MAX_NESTING}"),
            RulesError::Syntax => f.write_str("sampling rules: not valid JSON"),
            RulesError::MissingVersion => f.write_str("sampling rules: missing \"version\""),
            RulesError::UnsupportedVersion(v) => {
                write!(
                    f,
                    "sampling rules: unsupported version {v} (expected 1 or 2)"
                )
            }
            RulesError::MissingDefault => f.write_str("sampling rules: missing \"default\""),
            RulesError::Default(e) => write!(f, "sampling rules: default rule: {e}"),
            RulesError::Rule { index, error } => {
                write!(f, "sampling rules: rules[{index}]: {error}")
            }
            RulesError::TooManyRules { capacity, found } => write!(
                f,
                "sampling rules: {found} rules, more than the capacity of {capacity}"
            ),
        }
    }
}

impl core::error::Error for RulesError {}

/// A parsed rules file: its rules in file order and the default rule.
#[derive(Debug)]
pub struct LocalRules<const N: usize> {
    version: u8,
    rules: heapless::Vec<Rule, N>,
    default: Rule,
}

impl<const N: usize> Default for LocalRules<N> {
    /// No rules and the default rule of 1 request per second, then 5 % (spec §5.1).
    fn default() -> Self {
        Self::with_default(Target::DEFAULT)
    }
}

impl<const N: usize> LocalRules<N> {
    /// No rules, and a default rule with `target`.
    pub fn with_default(target: Target) -> Self {
        Self {
            version: 2,
            rules: heapless::Vec::new(),
            default: Rule::default_rule(target),
        }
    }

    /// Parses a rules file (see the module documentation).
    pub fn parse(json: &str) -> Result<Self, RulesError> {
        check_nesting(json.as_bytes())?;
        if !crate::json::is_json_value(json.as_bytes()) {
            return Err(RulesError::Syntax);
        }
        let mut buffer = [0u8; UNESCAPE_BUFFER];
        let (file, _) = serde_json_core::from_str_escaped::<WireFile<N>>(json, &mut buffer)
            .map_err(RulesError::Json)?;
        file.validate()
    }

    /// Appends a rule after the others; [`RulesError::TooManyRules`] when the capacity `N` is
    /// reached.
    pub fn push(&mut self, rule: Rule) -> Result<(), RulesError> {
        self.rules.push(rule).map_err(|_| RulesError::TooManyRules {
            capacity: N,
            found: N + 1,
        })
    }

    /// The file's version (1 or 2; 2 for rules built in code).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The rules, in file order (the default rule is not among them).
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The default rule.
    pub fn default_rule(&self) -> &Rule {
        &self.default
    }
}

/// Rejects input whose arrays and objects nest deeper than [`MAX_NESTING`] (strings skipped).
fn check_nesting(json: &[u8]) -> Result<(), RulesError> {
    match crate::json::bracket_depths(json).any(|(_, depth)| depth > MAX_NESTING) {
        true => Err(RulesError::TooDeep),
        false => Ok(()),
    }
}

/// A string that either fits in `N` bytes or is marked too long (reported with its field).
enum Bounded<const N: usize> {
    Fits(heapless::String<N>),
    TooLong,
}

impl<'de, const N: usize> Deserialize<'de> for Bounded<N> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const N: usize>;
        impl<const N: usize> Visitor<'_> for V<N> {
            type Value = Bounded<N>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bounded<N>, E> {
                Ok(heapless::String::try_from(v).map_or(Bounded::TooLong, Bounded::Fits))
            }
        }
        d.deserialize_str(V::<N>)
    }
}

/// A description, cut to a rule name.
struct Description(RuleName);

impl<'de> Deserialize<'de> for Description {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Description;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Description, E> {
                Ok(Description(rule_name(v)))
            }
        }
        d.deserialize_str(V)
    }
}

#[derive(Deserialize)]
struct WireRule {
    host: Option<Bounded<MAX_HOST_LEN>>,
    service_name: Option<Bounded<MAX_HOST_LEN>>,
    http_method: Option<Bounded<MAX_METHOD_LEN>>,
    url_path: Option<Bounded<MAX_URL_PATH_LEN>>,
    fixed_target: Option<i64>,
    rate: Option<f64>,
    description: Option<Description>,
}

fn pattern<const N: usize>(value: Option<&Bounded<N>>, field: Field) -> Result<&str, RuleError> {
    match value {
        None => Err(RuleError::Missing(field)),
        Some(Bounded::TooLong) => Err(RuleError::PatternTooLong(field)),
        Some(Bounded::Fits(s)) => Ok(s),
    }
}

impl WireRule {
    fn target(&self) -> Result<Target, RuleError> {
        let fixed_target = match self.fixed_target {
            None => return Err(RuleError::Missing(Field::FixedTarget)),
            Some(t) if t < 0 => return Err(RuleError::NegativeFixedTarget),
            Some(t) => u32::try_from(t).map_err(|_| RuleError::FixedTargetTooLarge)?,
        };
        let rate = Rate::new(self.rate.ok_or(RuleError::Missing(Field::Rate))?)
            .ok_or(RuleError::RateOutOfRange)?;
        Target::new(fixed_target, rate)
    }

    fn into_default(self) -> Result<Rule, RuleError> {
        for (present, field) in [
            (self.host.is_some(), Field::Host),
            (self.service_name.is_some(), Field::ServiceName),
            (self.http_method.is_some(), Field::HttpMethod),
            (self.url_path.is_some(), Field::UrlPath),
        ] {
            if present {
                return Err(RuleError::MatcherInDefault(field));
            }
        }
        Ok(Rule::default_rule(self.target()?))
    }

    fn into_rule(self, version: i64, index: usize) -> Result<Rule, RuleError> {
        let (host_field, other) = if version == 1 {
            (Field::ServiceName, Field::Host)
        } else {
            (Field::Host, Field::ServiceName)
        };
        let (host, wrong) = if version == 1 {
            (&self.service_name, self.host.is_some())
        } else {
            (&self.host, self.service_name.is_some())
        };
        if wrong {
            return Err(RuleError::WrongVersionKey(other));
        }
        let host = pattern(host.as_ref(), host_field)?;
        let method = pattern(self.http_method.as_ref(), Field::HttpMethod)?;
        let url_path = pattern(self.url_path.as_ref(), Field::UrlPath)?;
        let target = self.target()?;
        let name = match &self.description {
            Some(Description(d)) if !d.is_empty() => d.clone(),
            _ => {
                let mut n = RuleName::new();
                // "rule-" + at most 20 digits fits in 32 bytes.
                let _ = write!(n, "rule-{}", index + 1);
                n
            }
        };
        Rule::new(&name, host, method, url_path, target)
    }
}

/// The `rules` array: at most `N` kept (unvalidated), the rest only counted.
struct WireRules<const N: usize> {
    rules: heapless::Vec<WireRule, N>,
    found: usize,
}

impl<'de, const N: usize> Deserialize<'de> for WireRules<N> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const N: usize>(PhantomData<[(); N]>);
        impl<'de, const N: usize> Visitor<'de> for V<N> {
            type Value = WireRules<N>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of rules")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<WireRules<N>, A::Error> {
                let mut out = WireRules {
                    rules: heapless::Vec::new(),
                    found: 0,
                };
                // Each step consumes one element of a finite input, so this ends.
                loop {
                    if out.rules.is_full() {
                        if seq.next_element::<IgnoredAny>()?.is_none() {
                            break;
                        }
                    } else {
                        match seq.next_element::<WireRule>()? {
                            None => break,
                            // Not full, checked above.
                            Some(rule) => {
                                let _ = out.rules.push(rule);
                            }
                        }
                    }
                    out.found += 1;
                }
                Ok(out)
            }
        }
        d.deserialize_seq(V::<N>(PhantomData))
    }
}

#[derive(Deserialize)]
#[serde(bound = "")]
struct WireFile<const N: usize> {
    version: Option<i64>,
    default: Option<WireRule>,
    rules: Option<WireRules<N>>,
}

impl<const N: usize> WireFile<N> {
    fn validate(self) -> Result<LocalRules<N>, RulesError> {
        let version = self.version.ok_or(RulesError::MissingVersion)?;
        if version != 1 && version != 2 {
            return Err(RulesError::UnsupportedVersion(version));
        }
        let default = self
            .default
            .ok_or(RulesError::MissingDefault)?
            .into_default()
            .map_err(RulesError::Default)?;
        let mut rules = heapless::Vec::new();
        if let Some(wire) = self.rules {
            if wire.found > N {
                return Err(RulesError::TooManyRules {
                    capacity: N,
                    found: wire.found,
                });
            }
            for (index, rule) in wire.rules.into_iter().enumerate() {
                let rule = rule
                    .into_rule(version, index)
                    .map_err(|error| RulesError::Rule { index, error })?;
                // At most N wire rules, so this fits.
                let _ = rules.push(rule);
            }
        }
        Ok(LocalRules {
            version: if version == 1 { 1 } else { 2 },
            rules,
            default,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;
    use std::string::String;

    type Rules = LocalRules<4>;

    const V2: &str = r#"{"version":2,"default":{"fixed_target":1,"rate":0.05},"rules":[{"id":"1","host":"*","http_method":"*","url_path":"/checkout","fixed_target":10,"rate":0.05}]}"#;

    fn err(json: &str) -> RulesError {
        match Rules::parse(json) {
            Ok(_) => panic!("accepted: {json}"),
            Err(e) => e,
        }
    }

    #[test]
    fn go_v2_vector_parses() {
        let rules = Rules::parse(V2).unwrap();
        assert_eq!(rules.version(), 2);
        assert_eq!(rules.rules().len(), 1);
        let r = &rules.rules()[0];
        assert_eq!(
            (r.host(), r.method(), r.url_path(), r.name()),
            ("*", "*", "/checkout", "rule-1")
        );
        assert_eq!(r.target().fixed_target, 10);
        assert_eq!(r.target().rate, Rate::FIVE_PERCENT);
        assert_eq!(rules.default_rule().name(), "Default");
        assert_eq!(rules.default_rule().target(), Target::DEFAULT);
    }

    #[test]
    fn v1_uses_service_name_as_host() {
        let json = V2
            .replace("\"host\"", "\"service_name\"")
            .replace(":2,", ":1,");
        let rules = Rules::parse(&json).unwrap();
        assert_eq!(rules.version(), 1);
        assert_eq!(rules.rules()[0].host(), "*");
    }

    #[test]
    fn wrong_version_keys_are_rejected() {
        // Go's rule-v1-contains-host.json and rule-v2-contains-service-name.json.
        let v1_with_host = V2.replace(":2,", ":1,");
        assert_eq!(
            err(&v1_with_host),
            RulesError::Rule {
                index: 0,
                error: RuleError::WrongVersionKey(Field::Host)
            }
        );
        let v2_with_service = V2.replace("\"host\":\"*\"", "\"host\":\"*\",\"service_name\":\"a\"");
        assert_eq!(
            err(&v2_with_service),
            RulesError::Rule {
                index: 0,
                error: RuleError::WrongVersionKey(Field::ServiceName)
            }
        );
    }

    #[test]
    fn version_errors() {
        assert_eq!(
            err(r#"{"default":{"fixed_target":1,"rate":0.05}}"#),
            RulesError::MissingVersion
        );
        assert_eq!(
            err(r#"{"version":3,"default":{"fixed_target":1,"rate":0.05}}"#),
            RulesError::UnsupportedVersion(3)
        );
        assert_eq!(
            err(r#"{"version":0,"default":{"fixed_target":1,"rate":0.05}}"#),
            RulesError::UnsupportedVersion(0)
        );
    }

    #[test]
    fn default_errors() {
        assert_eq!(
            err(r#"{"version":2,"rules":[]}"#),
            RulesError::MissingDefault
        );
        assert_eq!(
            err(r#"{"version":2,"default":{"fixed_target":1}}"#),
            RulesError::Default(RuleError::Missing(Field::Rate))
        );
        assert_eq!(
            err(r#"{"version":2,"default":{"rate":0.1}}"#),
            RulesError::Default(RuleError::Missing(Field::FixedTarget))
        );
        assert_eq!(
            err(r#"{"version":2,"default":{"fixed_target":1,"rate":0.1,"url_path":"*"}}"#),
            RulesError::Default(RuleError::MatcherInDefault(Field::UrlPath))
        );
        // Go's example file has a description in the default rule.
        let ok = Rules::parse(
            r#"{"version":2,"default":{"fixed_target":0,"rate":1,"description":"d"}}"#,
        )
        .unwrap();
        assert_eq!(ok.default_rule().target().rate, Rate::ONE);
        assert!(ok.rules().is_empty());
    }

    #[test]
    fn number_errors() {
        let rule = |body: &str| {
            format!(
                r#"{{"version":2,"default":{{"fixed_target":1,"rate":0.05}},"rules":[{{"host":"*","http_method":"*","url_path":"*",{body}}}]}}"#
            )
        };
        let at0 = |error| RulesError::Rule { index: 0, error };
        assert_eq!(
            err(&rule(r#""fixed_target":1,"rate":1.5"#)),
            at0(RuleError::RateOutOfRange)
        );
        assert_eq!(
            err(&rule(r#""fixed_target":1,"rate":-0.1"#)),
            at0(RuleError::RateOutOfRange)
        );
        assert_eq!(
            err(&rule(r#""fixed_target":-1,"rate":0.1"#)),
            at0(RuleError::NegativeFixedTarget)
        );
        assert_eq!(
            err(&rule(r#""fixed_target":70000,"rate":0.1"#)),
            at0(RuleError::FixedTargetTooLarge)
        );
        assert_eq!(
            err(&rule(r#""fixed_target":99999999999,"rate":0.1"#)),
            at0(RuleError::FixedTargetTooLarge)
        );
        assert!(matches!(
            err(&rule(r#""fixed_target":1.5,"rate":0.1"#)),
            RulesError::Json(_)
        ));
        assert_eq!(
            err(r#"{"version":2,"default":{"fixed_target":1,"rate":2}}"#),
            RulesError::Default(RuleError::RateOutOfRange)
        );
    }

    #[test]
    fn missing_matchers_and_long_patterns() {
        let json = r#"{"version":2,"default":{"fixed_target":1,"rate":0.05},"rules":[
            {"host":"*","http_method":"*","url_path":"*","fixed_target":1,"rate":0.1},
            {"host":"*","url_path":"*","fixed_target":1,"rate":0.1}]}"#;
        assert_eq!(
            err(json),
            RulesError::Rule {
                index: 1,
                error: RuleError::Missing(Field::HttpMethod)
            }
        );
        let long: String = "/x".repeat(70);
        let json = format!(
            r#"{{"version":2,"default":{{"fixed_target":1,"rate":0.05}},"rules":[{{"host":"*","http_method":"*","url_path":"{long}","fixed_target":1,"rate":0.1}}]}}"#
        );
        assert_eq!(
            err(&json),
            RulesError::Rule {
                index: 0,
                error: RuleError::PatternTooLong(Field::UrlPath)
            }
        );
        let v1_no_service = r#"{"version":1,"default":{"fixed_target":1,"rate":0.05},"rules":[
            {"http_method":"*","url_path":"*","fixed_target":1,"rate":0.1}]}"#;
        assert_eq!(
            err(v1_no_service),
            RulesError::Rule {
                index: 0,
                error: RuleError::Missing(Field::ServiceName)
            }
        );
    }

    #[test]
    fn too_many_rules() {
        let one = r#"{"host":"*","http_method":"*","url_path":"*","fixed_target":1,"rate":0.1}"#;
        let five = [one; 5].join(",");
        let json = format!(
            r#"{{"version":2,"default":{{"fixed_target":1,"rate":0.05}},"rules":[{five}]}}"#
        );
        assert_eq!(
            err(&json),
            RulesError::TooManyRules {
                capacity: 4,
                found: 5
            }
        );
        let four = [one; 4].join(",");
        let json = format!(
            r#"{{"version":2,"default":{{"fixed_target":1,"rate":0.05}},"rules":[{four}]}}"#
        );
        let rules = Rules::parse(&json).unwrap();
        assert_eq!(rules.rules().len(), 4);
        assert_eq!(rules.rules()[3].name(), "rule-4");
    }

    #[test]
    fn malformed_json_is_an_error() {
        // Go's rule-v1-invalid.json: truncated after "rate":.
        assert_eq!(
            err(r#"{"version":1,"default":{"fixed_target":1,"rate":"#),
            RulesError::Syntax
        );
        assert_eq!(err(""), RulesError::Syntax);
        assert_eq!(
            err(r#"{"version":2,"default":{"fixed_target":1,"rate":0.05}} trailing"#),
            RulesError::Syntax
        );
        // Valid JSON of the wrong shape.
        assert!(matches!(err("[]"), RulesError::Json(_)));
        assert!(matches!(
            err(r#"{"version":"2","default":{"fixed_target":1,"rate":0.05}}"#),
            RulesError::Json(_)
        ));
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let deep = format!(
            r#"{{"version":2,"default":{{"fixed_target":1,"rate":0.05}},"x":{}{}}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert_eq!(err(&deep), RulesError::TooDeep);
        // Brackets inside strings do not count.
        let in_string = r#"{"version":2,"default":{"fixed_target":1,"rate":0.05,"description":"[[[[[[[[[[[[\"[[["}}"#;
        assert!(Rules::parse(in_string).is_ok());
    }

    #[test]
    fn escapes_and_descriptions() {
        let json = r#"{"version":2,"default":{"fixed_target":1,"rate":0.05},"rules":[
            {"description":"Checkout \"fast\" path that has a very long description","host":"shop\u002eexample","http_method":"POST","url_path":"\/checkout","fixed_target":2,"rate":0}]}"#;
        let rules = Rules::parse(json).unwrap();
        let r = &rules.rules()[0];
        assert_eq!(r.name(), "Checkout \"fast\" path that has a ");
        assert_eq!(r.name().len(), 32);
        assert_eq!(r.host(), "shop.example");
        assert_eq!(r.url_path(), "/checkout");
        assert_eq!(r.target().rate, Rate::ZERO);
    }

    #[test]
    fn errors_display() {
        let e = RulesError::Rule {
            index: 2,
            error: RuleError::RateOutOfRange,
        };
        assert_eq!(
            format!("{e}"),
            "sampling rules: rules[2]: \"rate\" is outside [0, 1]"
        );
        assert_eq!(
            format!("{}", RulesError::UnsupportedVersion(3)),
            "sampling rules: unsupported version 3 (expected 1 or 2)"
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(input in "\\PC{0,300}") {
            let _ = Rules::parse(&input);
        }

        #[test]
        fn never_panics_on_near_valid(cut in 0usize..V2.len(), byte in 0u8..128) {
            let mut s = String::from(&V2[..cut]);
            s.push(byte as char);
            s.push_str(&V2[cut..]);
            let _ = Rules::parse(&s);
        }
    }

    #[test]
    fn invalid_json_syntax_is_rejected_before_parsing() {
        // Found by the sampling_rules fuzz target: the no_std parser took these.
        for text in [
            "{\"version\":2,\"default\":{\"fixed_target\":1,\"rate\":0.05},\"rules\":[{\"host\":\"a\u{1}\",\"http_method\":\"*\",\"url_path\":\"*\",\"fixed_target\":1,\"rate\":0.1}]}",
            "{\"version\":2,\"default\":{\"fixed_target\":1,\"rate\":0.05},\"x\":[-01]}",
        ] {
            assert_eq!(
                LocalRules::<4>::parse(text).err(),
                Some(RulesError::Syntax),
                "{text}"
            );
        }
    }
}
