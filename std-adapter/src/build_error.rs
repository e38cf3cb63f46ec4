//! Why a tracer could not be built.

use std::path::PathBuf;

use crate::config::ConfigError;
use xray_core::sampler::RulesError;

/// Why a tracer could not be built from the environment.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// An `AWS_XRAY_*` variable is invalid.
    Config(ConfigError),
    /// The UDP socket could not be opened, or the daemon address not resolved.
    Io(std::io::Error),
    /// The local sampling rules file (`AWS_XRAY_SAMPLING_RULES_FILE`) could not be read.
    SamplingRulesRead {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        error: std::io::Error,
    },
    /// The local sampling rules (a file, or JSON given to the builder) are invalid.
    SamplingRules {
        /// The file, when the rules came from one.
        path: Option<PathBuf>,
        /// What is wrong with them.
        error: RulesError,
    },
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Config(e) => write!(f, "invalid X-Ray configuration: {e}"),
            BuildError::Io(e) => write!(f, "cannot open the X-Ray UDP transport: {e}"),
            BuildError::SamplingRulesRead { path, error } => write!(
                f,
                "cannot read the X-Ray sampling rules file {}: {error}",
                path.display()
            ),
            BuildError::SamplingRules {
                path: Some(path),
                error,
            } => write!(
                f,
                "invalid X-Ray sampling rules file {}: {error}",
                path.display()
            ),
            BuildError::SamplingRules { path: None, error } => {
                write!(f, "invalid X-Ray sampling rules: {error}")
            }
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Config(e) => Some(e),
            BuildError::Io(e) => Some(e),
            BuildError::SamplingRulesRead { error, .. } => Some(error),
            BuildError::SamplingRules { error, .. } => Some(error),
        }
    }
}
