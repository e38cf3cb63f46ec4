//! The Elastic Beanstalk plugin: `/var/elasticbeanstalk/xray/environment.conf`.

use std::io::Read;
use std::path::PathBuf;

use super::ElasticBeanstalkMetadata;

/// Where Elastic Beanstalk writes the X-Ray environment file.
pub const DEFAULT_CONF_PATH: &str = "/var/elasticbeanstalk/xray/environment.conf";

/// The file is a few hundred bytes; refuse to read more than this.
const MAX_CONF_LEN: u64 = 64 * 1024;

/// Reads `environment_name`, `version_label` and `deployment_id` from Elastic Beanstalk's
/// environment file (a JSON object).
///
/// ```
/// use xray_std::plugins::ElasticBeanstalkPlugin;
///
/// let dir = std::env::temp_dir().join(format!("xray-eb-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("environment.conf");
/// std::fs::write(&path, r#"{"deployment_id":3,"version_label":"v3","environment_name":"prod"}"#)?;
/// let eb = ElasticBeanstalkPlugin::with_path(&path).collect().expect("file is valid");
/// assert_eq!(eb.environment_name.as_deref(), Some("prod"));
/// assert_eq!(eb.deployment_id, Some(3));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElasticBeanstalkPlugin {
    /// The environment file (default [`DEFAULT_CONF_PATH`]).
    pub path: PathBuf,
}

impl Default for ElasticBeanstalkPlugin {
    fn default() -> Self {
        Self::with_path(DEFAULT_CONF_PATH)
    }
}

impl ElasticBeanstalkPlugin {
    /// Reads another file (for tests).
    pub fn with_path(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Reads the file. `None` when it does not exist (not on Elastic Beanstalk), cannot be
    /// read, or is not a JSON object.
    pub fn collect(&self) -> Option<ElasticBeanstalkMetadata> {
        let file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) => {
                log::debug!(
                    "X-Ray Elastic Beanstalk plugin: {}: {e}",
                    self.path.display()
                );
                return None;
            }
        };
        let mut text = String::new();
        if let Err(e) = file.take(MAX_CONF_LEN).read_to_string(&mut text) {
            log::warn!(
                "X-Ray Elastic Beanstalk plugin: {}: {e}",
                self.path.display()
            );
            return None;
        }
        let parsed = parse_conf(&text);
        if parsed.is_none() {
            log::warn!(
                "X-Ray Elastic Beanstalk plugin: {} is not a JSON object",
                self.path.display()
            );
        }
        parsed
    }
}

/// Parses the file's JSON object. Fields of the wrong type are left out; a `deployment_id`
/// written as a string of digits is accepted.
fn parse_conf(text: &str) -> Option<ElasticBeanstalkMetadata> {
    let doc: serde_json::Value = serde_json::from_str(text).ok()?;
    let obj = doc.as_object()?;
    let string = |key: &str| obj.get(key)?.as_str().map(str::to_owned);
    let deployment_id = obj.get("deployment_id").and_then(|v| {
        v.as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
    });
    Some(ElasticBeanstalkMetadata {
        environment_name: string("environment_name"),
        version_label: string("version_label"),
        deployment_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_fields() {
        let m = parse_conf(
            r#"{"deployment_id":23,"version_label":"app-v1","environment_name":"scorekeep"}"#,
        )
        .unwrap();
        assert_eq!(m.environment_name.as_deref(), Some("scorekeep"));
        assert_eq!(m.version_label.as_deref(), Some("app-v1"));
        assert_eq!(m.deployment_id, Some(23));
    }

    #[test]
    fn tolerates_odd_types_and_rejects_non_objects() {
        let m = parse_conf(r#"{"deployment_id":"42","version_label":7}"#).unwrap();
        assert_eq!(m.deployment_id, Some(42));
        assert_eq!(m.version_label, None);
        let m = parse_conf(r#"{"deployment_id":-1}"#).unwrap();
        assert_eq!(m.deployment_id, None);
        assert_eq!(parse_conf("[1,2]"), None);
        assert_eq!(parse_conf("not json"), None);
        assert_eq!(parse_conf(""), None);
    }
}
