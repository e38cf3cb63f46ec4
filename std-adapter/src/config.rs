//! SDK configuration, read once from the environment into a plain value.
//!
//! [`Config::from_env`] reads every variable the SDK honours, once, at startup. Nothing reads
//! the environment afterwards: the recorder, the transport and the integrations take the
//! value (or parts of it). Tests build a `Config` from any lookup function with
//! [`Config::from_lookup`], without touching the process environment. Settings can also be
//! made in code: every field is public.
//!
//! | Variable | Field | Values |
//! | --- | --- | --- |
//! | `AWS_XRAY_DAEMON_ADDRESS` | [`Config::daemon_address`] | see [`DaemonAddress::parse`]; default `127.0.0.1:2000` |
//! | `AWS_XRAY_SDK_DISABLED` | [`Config::sdk_disabled`] | `true` / `false`, any case; default `false` |
//! | `AWS_XRAY_CONTEXT_MISSING` | [`Config::context_missing`] | `RUNTIME_ERROR`, `LOG_ERROR`, `IGNORE_ERROR`, any case; default `LOG_ERROR` |
//! | `AWS_XRAY_TRACING_NAME` | [`Config::tracing_name`] | a segment name |
//! | `AWS_XRAY_SAMPLING_RULES_FILE` | [`Config::sampling_rules_file`] | a path (**this SDK's own variable**, not read by other X-Ray SDKs) |
//! | `LAMBDA_TASK_ROOT`, `AWS_LAMBDA_FUNCTION_NAME` | [`Config::lambda`] | Lambda is detected when `LAMBDA_TASK_ROOT` is set |
//! | `_X_AMZN_TRACE_ID` | [`Config::lambda_trace_id_env`] | the Lambda trace header at the time of reading |
//!
//! A value that is empty or only whitespace counts as unset; other values are trimmed. An
//! invalid value is a [`ConfigError`] naming the variable and the value.

use core::fmt;
use std::path::PathBuf;

use xray_core::TraceHeader;

use crate::daemon_address::{DAEMON_ADDRESS_VAR, DaemonAddress, DaemonAddressError};

/// `AWS_XRAY_SDK_DISABLED`: `true` turns the SDK off.
pub const SDK_DISABLED_VAR: &str = "AWS_XRAY_SDK_DISABLED";
/// `AWS_XRAY_CONTEXT_MISSING`: what to do when recording without an open segment.
pub const CONTEXT_MISSING_VAR: &str = "AWS_XRAY_CONTEXT_MISSING";
/// `AWS_XRAY_TRACING_NAME`: overrides the service's segment name.
pub const TRACING_NAME_VAR: &str = "AWS_XRAY_TRACING_NAME";
/// `AWS_XRAY_SAMPLING_RULES_FILE`: a local sampling rules file. This variable is specific to
/// this SDK (the other X-Ray SDKs take the rules file in code only).
pub const SAMPLING_RULES_FILE_VAR: &str = "AWS_XRAY_SAMPLING_RULES_FILE";
/// `LAMBDA_TASK_ROOT`: set by AWS Lambda; its presence means we run in Lambda.
pub const LAMBDA_TASK_ROOT_VAR: &str = "LAMBDA_TASK_ROOT";
/// `AWS_LAMBDA_FUNCTION_NAME`: set by AWS Lambda.
pub const LAMBDA_FUNCTION_NAME_VAR: &str = "AWS_LAMBDA_FUNCTION_NAME";
/// `AWS_LAMBDA_MAX_CONCURRENCY`: how many invocations one runtime process handles at once
/// (`lambda_runtime::run_concurrent`).
pub const LAMBDA_MAX_CONCURRENCY_VAR: &str = "AWS_LAMBDA_MAX_CONCURRENCY";
/// `_X_AMZN_TRACE_ID`: the trace header of the current Lambda invocation.
pub const LAMBDA_TRACE_ID_VAR: &str = "_X_AMZN_TRACE_ID";

/// What recording does when no segment is open (`AWS_XRAY_CONTEXT_MISSING`).
///
/// The core never panics for a missing context; this tells the integrations how loudly to
/// report it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ContextMissing {
    /// `RUNTIME_ERROR`: the integration returns an error to its caller.
    RuntimeError,
    /// `LOG_ERROR` (the default, and what Lambda sets): log an error and go on.
    #[default]
    LogError,
    /// `IGNORE_ERROR`: go on silently.
    IgnoreError,
}

impl ContextMissing {
    /// Parses `RUNTIME_ERROR`, `LOG_ERROR` or `IGNORE_ERROR` (ASCII case-insensitive, trimmed).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        [Self::RuntimeError, Self::LogError, Self::IgnoreError]
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(text))
    }

    /// The variable's spelling of this value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RuntimeError => "RUNTIME_ERROR",
            Self::LogError => "LOG_ERROR",
            Self::IgnoreError => "IGNORE_ERROR",
        }
    }
}

impl fmt::Display for ContextMissing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the environment says about AWS Lambda, when we run there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LambdaEnvironment {
    /// `LAMBDA_TASK_ROOT`: the function's code directory.
    pub task_root: PathBuf,
    /// `AWS_LAMBDA_FUNCTION_NAME`, if set.
    pub function_name: Option<String>,
    /// `AWS_LAMBDA_MAX_CONCURRENCY`, if set to a positive number (another value is ignored,
    /// as one invocation at a time).
    pub max_concurrency: Option<u32>,
}

/// The SDK's settings.
///
/// Read them from the environment once with [`Config::from_env`], or start from
/// [`Config::default`] and set fields in code:
///
/// ```
/// use xray_std::{Config, ContextMissing};
///
/// let mut config = Config::default();
/// config.daemon_address = "127.0.0.1:3000".parse()?;
/// config.tracing_name = Some("checkout".into());
/// config.context_missing = ContextMissing::IgnoreError;
/// assert!(!config.is_lambda());
/// # Ok::<(), xray_std::DaemonAddressError>(())
/// ```
///
/// To let the environment override settings made in code (as the other X-Ray SDKs do), set
/// them first and then call [`Config::apply_env`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Where the daemon listens (`AWS_XRAY_DAEMON_ADDRESS`; default `127.0.0.1:2000`).
    pub daemon_address: DaemonAddress,
    /// `true` turns all recording off (`AWS_XRAY_SDK_DISABLED`; default `false`).
    pub sdk_disabled: bool,
    /// What to do when recording without an open segment (`AWS_XRAY_CONTEXT_MISSING`).
    pub context_missing: ContextMissing,
    /// Overrides the service's segment name (`AWS_XRAY_TRACING_NAME`).
    pub tracing_name: Option<String>,
    /// A local sampling rules file (`AWS_XRAY_SAMPLING_RULES_FILE`, this SDK's own variable).
    /// Only the path is read here; loading the rules is the sampler's job.
    pub sampling_rules_file: Option<PathBuf>,
    /// `Some` when running in AWS Lambda (`LAMBDA_TASK_ROOT` set).
    pub lambda: Option<LambdaEnvironment>,
    /// `_X_AMZN_TRACE_ID` as it was when the configuration was read, unparsed.
    ///
    /// The variable changes with every invocation and concurrent Lambda runtimes do not set
    /// it at all, so the Lambda integration never reads it: it takes the header per
    /// invocation from the runtime's context (`lambda_runtime::Context::xray_trace_id`).
    pub lambda_trace_id_env: Option<String>,
}

impl Config {
    /// Reads the configuration from the process environment.
    ///
    /// Call it once at startup. A variable that is not valid Unicode counts as invalid.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(env_lookup)
    }

    /// Reads the configuration through `lookup`, which returns a variable's value by name.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use xray_std::Config;
    ///
    /// let env = HashMap::from([
    ///     ("AWS_XRAY_DAEMON_ADDRESS", "169.254.79.129:2000"),
    ///     ("LAMBDA_TASK_ROOT", "/var/task"),
    /// ]);
    /// let config = Config::from_lookup(|name| env.get(name).map(|v| v.to_string()))?;
    /// assert!(config.is_lambda());
    /// assert_eq!(config.daemon_address.udp().to_string(), "169.254.79.129:2000");
    /// # Ok::<(), xray_std::ConfigError>(())
    /// ```
    pub fn from_lookup<F>(lookup: F) -> Result<Self, ConfigError>
    where
        F: FnMut(&str) -> Option<String>,
    {
        let mut config = Self::default();
        config.apply_lookup(lookup)?;
        Ok(config)
    }

    /// Like [`Config::from_lookup`], but an invalid variable keeps its default instead of
    /// failing the whole read. Returns the configuration and the errors met, each of which
    /// is also logged as a warning. Useful where tracing must never stop the program from
    /// starting (a Lambda function).
    pub fn from_lookup_lenient<F>(lookup: F) -> (Self, Vec<ConfigError>)
    where
        F: FnMut(&str) -> Option<String>,
    {
        let mut config = Self::default();
        let errors = config.apply_lookup_lenient(lookup);
        (config, errors)
    }

    /// [`Config::from_lookup_lenient`] on the process environment.
    pub fn from_env_lenient() -> (Self, Vec<ConfigError>) {
        Self::from_lookup_lenient(env_lookup)
    }

    /// Overrides the fields whose variables are set in the process environment.
    ///
    /// Stops at the first invalid variable (fields read before it are already updated).
    pub fn apply_env(&mut self) -> Result<(), ConfigError> {
        self.apply_lookup(env_lookup)
    }

    /// Overrides the fields whose variables `lookup` returns. Stops at the first invalid
    /// variable (fields read before it are already updated).
    pub fn apply_lookup<F>(&mut self, mut lookup: F) -> Result<(), ConfigError>
    where
        F: FnMut(&str) -> Option<String>,
    {
        let mut first_error = None;
        self.apply(&mut lookup, &mut |e| {
            first_error.get_or_insert(e);
        });
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Overrides the fields whose variables `lookup` returns, skipping invalid variables.
    /// Returns the errors met; each is also logged as a warning.
    pub fn apply_lookup_lenient<F>(&mut self, mut lookup: F) -> Vec<ConfigError>
    where
        F: FnMut(&str) -> Option<String>,
    {
        let mut errors = Vec::new();
        self.apply(&mut lookup, &mut |e| {
            log::warn!("X-Ray: {e}; using the default");
            errors.push(e);
        });
        errors
    }

    fn apply(
        &mut self,
        lookup: &mut dyn FnMut(&str) -> Option<String>,
        on_error: &mut dyn FnMut(ConfigError),
    ) {
        let mut get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if let Some(v) = get(DAEMON_ADDRESS_VAR) {
            match DaemonAddress::parse(&v) {
                Ok(a) => self.daemon_address = a,
                Err(e) => on_error(ConfigError::DaemonAddress(e)),
            }
        }
        if let Some(v) = get(SDK_DISABLED_VAR) {
            if v.eq_ignore_ascii_case("true") {
                self.sdk_disabled = true;
            } else if v.eq_ignore_ascii_case("false") {
                self.sdk_disabled = false;
            } else {
                on_error(ConfigError::invalid(
                    SDK_DISABLED_VAR,
                    v,
                    "expected true or false",
                ));
            }
        }
        if let Some(v) = get(CONTEXT_MISSING_VAR) {
            match ContextMissing::parse(&v) {
                Some(c) => self.context_missing = c,
                None => on_error(ConfigError::invalid(
                    CONTEXT_MISSING_VAR,
                    v,
                    "expected RUNTIME_ERROR, LOG_ERROR or IGNORE_ERROR",
                )),
            }
        }
        if let Some(v) = get(TRACING_NAME_VAR) {
            self.tracing_name = Some(v);
        }
        if let Some(v) = get(SAMPLING_RULES_FILE_VAR) {
            self.sampling_rules_file = Some(PathBuf::from(v));
        }
        if let Some(task_root) = get(LAMBDA_TASK_ROOT_VAR) {
            self.lambda = Some(LambdaEnvironment {
                task_root: PathBuf::from(task_root),
                function_name: get(LAMBDA_FUNCTION_NAME_VAR),
                max_concurrency: get(LAMBDA_MAX_CONCURRENCY_VAR)
                    .and_then(|v| v.trim().parse::<u32>().ok())
                    .filter(|n| *n > 0),
            });
        }
        if let Some(v) = get(LAMBDA_TRACE_ID_VAR) {
            self.lambda_trace_id_env = Some(v);
        }
    }

    /// Whether we run in AWS Lambda.
    pub fn is_lambda(&self) -> bool {
        self.lambda.is_some()
    }

    /// Whether recording is on (the inverse of [`Config::sdk_disabled`]).
    pub fn is_enabled(&self) -> bool {
        !self.sdk_disabled
    }

    /// [`Config::lambda_trace_id_env`] parsed as a trace header; `None` when unset or invalid.
    pub fn lambda_trace_header(&self) -> Option<TraceHeader> {
        self.lambda_trace_id_env
            .as_deref()
            .and_then(|v| TraceHeader::parse(v).ok())
    }
}

fn env_lookup(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) => Some(v),
        Err(std::env::VarError::NotPresent) => None,
        // Not UTF-8: hand the lossy text on so that it fails validation with a clear message
        // (or, for free-form variables, is kept with replacement characters).
        Err(std::env::VarError::NotUnicode(raw)) => Some(raw.to_string_lossy().into_owned()),
    }
}

/// An invalid configuration variable.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `AWS_XRAY_DAEMON_ADDRESS` did not parse.
    DaemonAddress(DaemonAddressError),
    /// Another variable holds a value outside its set.
    Invalid {
        /// The variable's name.
        variable: &'static str,
        /// The value found (trimmed).
        value: String,
        /// What was expected.
        expected: &'static str,
    },
}

impl ConfigError {
    fn invalid(variable: &'static str, value: String, expected: &'static str) -> Self {
        Self::Invalid {
            variable,
            value,
            expected,
        }
    }

    /// The name of the variable at fault.
    pub fn variable(&self) -> &'static str {
        match self {
            Self::DaemonAddress(_) => DAEMON_ADDRESS_VAR,
            Self::Invalid { variable, .. } => variable,
        }
    }

    /// The rejected value.
    pub fn value(&self) -> &str {
        match self {
            Self::DaemonAddress(e) => e.value(),
            Self::Invalid { value, .. } => value,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DaemonAddress(e) => e.fmt(f),
            Self::Invalid {
                variable,
                value,
                expected,
            } => write!(f, "invalid {variable} value {value:?}: {expected}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::DaemonAddress(e) => Some(e),
            Self::Invalid { .. } => None,
        }
    }
}

impl From<DaemonAddressError> for ConfigError {
    fn from(e: DaemonAddressError) -> Self {
        Self::DaemonAddress(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl FnMut(&str) -> Option<String> + 'a {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        move |name| map.get(name).map(|v| (*v).to_owned())
    }

    #[test]
    fn empty_environment_gives_defaults() {
        let c = Config::from_lookup(|_| None).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.daemon_address.to_string(), "127.0.0.1:2000");
        assert!(!c.sdk_disabled && c.is_enabled());
        assert_eq!(c.context_missing, ContextMissing::LogError);
        assert!(!c.is_lambda());
        assert_eq!(c.tracing_name, None);
    }

    #[test]
    fn reads_every_variable() {
        let c = Config::from_lookup(lookup(&[
            (
                "AWS_XRAY_DAEMON_ADDRESS",
                "tcp:127.0.0.1:3000 udp:127.0.0.2:2000",
            ),
            ("AWS_XRAY_SDK_DISABLED", "TRUE"),
            ("AWS_XRAY_CONTEXT_MISSING", "ignore_error"),
            ("AWS_XRAY_TRACING_NAME", " checkout "),
            ("AWS_XRAY_SAMPLING_RULES_FILE", "/etc/xray/rules.json"),
            ("LAMBDA_TASK_ROOT", "/var/task"),
            ("AWS_LAMBDA_FUNCTION_NAME", "fn"),
            (
                "_X_AMZN_TRACE_ID",
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            ),
        ]))
        .unwrap();
        assert_eq!(c.daemon_address.udp().to_string(), "127.0.0.2:2000");
        assert_eq!(c.daemon_address.tcp().to_string(), "127.0.0.1:3000");
        assert!(c.sdk_disabled);
        assert_eq!(c.context_missing, ContextMissing::IgnoreError);
        assert_eq!(c.tracing_name.as_deref(), Some("checkout"));
        assert_eq!(
            c.sampling_rules_file,
            Some(PathBuf::from("/etc/xray/rules.json"))
        );
        let lambda = c.lambda.as_ref().unwrap();
        assert_eq!(lambda.task_root, PathBuf::from("/var/task"));
        assert_eq!(lambda.function_name.as_deref(), Some("fn"));
        let header = c.lambda_trace_header().unwrap();
        assert_eq!(
            header.root().map(|r| r.to_string()).as_deref(),
            Some("1-5759e988-bd862e3fe1be46a994272793")
        );
    }

    #[test]
    fn boolean_and_context_missing_accept_any_case() {
        for (v, want) in [
            ("true", true),
            ("True", true),
            ("FALSE", false),
            (" false ", false),
        ] {
            let c = Config::from_lookup(lookup(&[("AWS_XRAY_SDK_DISABLED", v)])).unwrap();
            assert_eq!(c.sdk_disabled, want, "{v:?}");
        }
        for (v, want) in [
            ("RUNTIME_ERROR", ContextMissing::RuntimeError),
            ("log_error", ContextMissing::LogError),
            ("Ignore_Error", ContextMissing::IgnoreError),
        ] {
            let c = Config::from_lookup(lookup(&[("AWS_XRAY_CONTEXT_MISSING", v)])).unwrap();
            assert_eq!(c.context_missing, want, "{v:?}");
        }
    }

    #[test]
    fn invalid_values_name_the_variable_and_value() {
        let cases = [
            ("AWS_XRAY_SDK_DISABLED", "yes"),
            ("AWS_XRAY_CONTEXT_MISSING", "PANIC"),
            ("AWS_XRAY_DAEMON_ADDRESS", "localhost"),
        ];
        for (var, value) in cases {
            let err = Config::from_lookup(lookup(&[(var, value)])).unwrap_err();
            assert_eq!(err.variable(), var);
            assert_eq!(err.value(), value);
            let msg = err.to_string();
            assert!(
                msg.contains(var) && msg.contains(&format!("{value:?}")),
                "{msg}"
            );
        }
    }

    #[test]
    fn empty_values_count_as_unset() {
        let c = Config::from_lookup(lookup(&[
            ("AWS_XRAY_DAEMON_ADDRESS", ""),
            ("AWS_XRAY_SDK_DISABLED", "  "),
            ("LAMBDA_TASK_ROOT", ""),
            ("AWS_XRAY_TRACING_NAME", ""),
        ]))
        .unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn lambda_needs_task_root() {
        let c = Config::from_lookup(lookup(&[("AWS_LAMBDA_FUNCTION_NAME", "fn")])).unwrap();
        assert!(!c.is_lambda());
        let c = Config::from_lookup(lookup(&[("LAMBDA_TASK_ROOT", "/var/task")])).unwrap();
        assert_eq!(c.lambda.unwrap().function_name, None);
    }

    #[test]
    fn lambda_max_concurrency_is_a_positive_number_or_nothing() {
        let concurrency = |v: &str| {
            Config::from_lookup(lookup(&[
                ("LAMBDA_TASK_ROOT", "/var/task"),
                ("AWS_LAMBDA_MAX_CONCURRENCY", v),
            ]))
            .unwrap()
            .lambda
            .unwrap()
            .max_concurrency
        };
        assert_eq!(concurrency("32"), Some(32));
        assert_eq!(concurrency(" 8 "), Some(8));
        for v in ["0", "-1", "many", ""] {
            assert_eq!(concurrency(v), None, "{v:?}");
        }
    }

    #[test]
    fn lenient_read_keeps_defaults_for_invalid_variables() {
        let (c, errors) = Config::from_lookup_lenient(lookup(&[
            ("AWS_XRAY_DAEMON_ADDRESS", "nope"),
            ("AWS_XRAY_CONTEXT_MISSING", "nope"),
            ("AWS_XRAY_TRACING_NAME", "svc"),
        ]));
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].variable(), "AWS_XRAY_DAEMON_ADDRESS");
        assert_eq!(errors[1].variable(), "AWS_XRAY_CONTEXT_MISSING");
        assert_eq!(c.daemon_address, DaemonAddress::default());
        assert_eq!(c.context_missing, ContextMissing::LogError);
        assert_eq!(c.tracing_name.as_deref(), Some("svc"));
    }

    #[test]
    fn environment_overrides_code_settings_only_where_set() {
        let mut c = Config {
            tracing_name: Some("from-code".into()),
            context_missing: ContextMissing::IgnoreError,
            ..Config::default()
        };
        c.apply_lookup(lookup(&[("AWS_XRAY_TRACING_NAME", "from-env")]))
            .unwrap();
        assert_eq!(c.tracing_name.as_deref(), Some("from-env"));
        assert_eq!(c.context_missing, ContextMissing::IgnoreError);
    }

    #[test]
    fn from_env_matches_a_lookup_of_the_process_environment() {
        // Reads, never writes, the real environment.
        assert_eq!(
            Config::from_env(),
            Config::from_lookup(|n| std::env::var(n).ok())
        );
    }

    proptest::proptest! {
        #[test]
        fn any_values_give_a_config_or_an_error_naming_the_variable(
            values in proptest::collection::vec("\\PC{0,40}", 8)
        ) {
            let names = [
                DAEMON_ADDRESS_VAR, SDK_DISABLED_VAR, CONTEXT_MISSING_VAR, TRACING_NAME_VAR,
                SAMPLING_RULES_FILE_VAR, LAMBDA_TASK_ROOT_VAR, LAMBDA_FUNCTION_NAME_VAR,
                LAMBDA_TRACE_ID_VAR,
            ];
            let env: HashMap<&str, String> = names.iter().copied().zip(values).collect();
            match Config::from_lookup(|n| env.get(n).cloned()) {
                Ok(_) => {}
                Err(e) => {
                    proptest::prop_assert!(names.contains(&e.variable()));
                    proptest::prop_assert!(e.to_string().contains(e.variable()));
                }
            }
            let (_, errors) = Config::from_lookup_lenient(|n| env.get(n).cloned());
            proptest::prop_assert!(errors.len() <= 3);
        }
    }

    #[test]
    fn unparsable_trace_header_gives_none() {
        let c = Config::from_lookup(lookup(&[("_X_AMZN_TRACE_ID", "garbage")])).unwrap();
        assert_eq!(c.lambda_trace_id_env.as_deref(), Some("garbage"));
        // Whatever the core's parser decides about garbage, there is no root in it.
        assert!(c.lambda_trace_header().and_then(|h| h.root()).is_none());
    }
}
