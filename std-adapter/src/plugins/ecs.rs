//! The ECS plugin: the container's host name and, from the task metadata endpoint, its ARN.

use std::time::Duration;

use super::EcsMetadata;
use super::metadata_http::{Fetch, agent, get, json_str};

/// The variable ECS sets to the container's task metadata endpoint (version 4).
pub const METADATA_URI_V4_VAR: &str = "ECS_CONTAINER_METADATA_URI_V4";
/// The older (version 3) task metadata variable, used when v4 is absent.
pub const METADATA_URI_V3_VAR: &str = "ECS_CONTAINER_METADATA_URI";

/// Finds ECS container metadata.
///
/// The plugin applies only inside ECS, which it recognises by a task metadata URI (from
/// `ECS_CONTAINER_METADATA_URI_V4`, else `ECS_CONTAINER_METADATA_URI`, starting with
/// `http://`, as the Java SDK does). It then records the host name as `container` (what the
/// Go, Python and Node SDKs record) and, from a `GET` on the metadata URI, `ContainerARN` as
/// `container_arn` and `DockerId` as `container_id`. If the metadata request fails, the host
/// name alone is kept.
///
/// ```no_run
/// use xray_std::plugins::EcsPlugin;
///
/// if let Some(ecs) = EcsPlugin::from_env().collect() {
///     println!("container {:?}, arn {:?}", ecs.container, ecs.container_arn);
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcsPlugin {
    /// The task metadata URI for this container; `None` means "not in ECS".
    pub metadata_uri: Option<String>,
    /// The host name to record; `None` reads the system's (`/proc/sys/kernel/hostname`,
    /// then `HOSTNAME`).
    pub hostname: Option<String>,
    /// Time limit for the metadata request (default 1 s).
    pub timeout: Duration,
}

impl EcsPlugin {
    /// A plugin for the given task metadata URI (`None`: not in ECS, the plugin finds nothing).
    pub fn new(metadata_uri: Option<String>) -> Self {
        Self {
            metadata_uri,
            hostname: None,
            timeout: Duration::from_secs(1),
        }
    }

    /// A plugin whose metadata URI comes from `ECS_CONTAINER_METADATA_URI_V4`, else
    /// `ECS_CONTAINER_METADATA_URI` (read now, once).
    pub fn from_env() -> Self {
        let var = |name| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        Self::new(var(METADATA_URI_V4_VAR).or_else(|| var(METADATA_URI_V3_VAR)))
    }

    /// Records this host name instead of the system's.
    pub fn with_hostname(mut self, hostname: impl Into<String>) -> Self {
        self.hostname = Some(hostname.into());
        self
    }

    /// Sets the time limit of the metadata request.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Gathers the metadata; `None` outside ECS.
    pub fn collect(&self) -> Option<EcsMetadata> {
        let uri = self.metadata_uri.as_deref()?;
        if !uri.starts_with("http://") {
            log::debug!(
                "X-Ray ECS plugin: ignoring metadata URI {:?} (not http://)",
                crate::echo::echoed(uri)
            );
            return None;
        }
        let mut found = EcsMetadata {
            container: self.hostname.clone().or_else(system_hostname),
            ..EcsMetadata::default()
        };
        match get(&agent(self.timeout), uri, &[]) {
            Fetch::Body(body) => match serde_json::from_str::<serde_json::Value>(&body) {
                Ok(doc) => {
                    found.container_arn = json_str(&doc, "ContainerARN");
                    found.container_id = json_str(&doc, "DockerId");
                }
                Err(e) => log::debug!("X-Ray ECS plugin: metadata is not JSON: {e}"),
            },
            other => log::debug!("X-Ray ECS plugin: no task metadata: {other}"),
        }
        Some(found)
    }
}

fn system_hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_ecs_finds_nothing() {
        assert_eq!(EcsPlugin::new(None).collect(), None);
        assert_eq!(
            EcsPlugin::new(Some("https://example.invalid/v4".into())).collect(),
            None
        );
    }
}
