//! Environment plugins: where the service runs (EC2, ECS, Elastic Beanstalk).
//!
//! A plugin reads metadata about the host once and yields a plain value that the segment
//! carries in `aws.ec2`, `aws.ecs` or `aws.elastic_beanstalk`, plus the segment's `origin`.
//! Plugins never run on their own: build a [`Plugins`] set, call [`Plugins::collect`] once at
//! startup (it may block for up to about a second per network plugin when the metadata
//! service is absent), and keep the [`PluginMetadata`].
//!
//! Each plugin sits behind a cargo feature: `ec2` and `ecs` pull a small blocking HTTP client
//! (`ureq`, no TLS) and `serde_json`; `elastic-beanstalk` pulls `serde_json`. The metadata
//! types and the origin rule are always available.
//!
//! ```
//! use xray_std::plugins::{PluginMetadata, Plugins};
//!
//! // With no plugin enabled nothing runs and nothing is found.
//! let found: PluginMetadata = Plugins::new().collect();
//! assert_eq!(found.origin(), None);
//! ```

use xray_core::model::{Aws, Ec2, Ecs, ElasticBeanstalk};

#[cfg(feature = "ec2")]
pub mod ec2;
#[cfg(feature = "ecs")]
pub mod ecs;
#[cfg(feature = "elastic-beanstalk")]
pub mod elastic_beanstalk;
#[cfg(any(feature = "ec2", feature = "ecs"))]
mod metadata_http;

#[cfg(feature = "ec2")]
pub use ec2::Ec2Plugin;
#[cfg(feature = "ecs")]
pub use ecs::EcsPlugin;
#[cfg(feature = "elastic-beanstalk")]
pub use elastic_beanstalk::ElasticBeanstalkPlugin;

/// `origin` of a service on an EC2 instance.
pub const EC2_ORIGIN: &str = "AWS::EC2::Instance";
/// `origin` of a service in an ECS container.
pub const ECS_ORIGIN: &str = "AWS::ECS::Container";
/// `origin` of a service in an Elastic Beanstalk environment.
pub const ELASTIC_BEANSTALK_ORIGIN: &str = "AWS::ElasticBeanstalk::Environment";

/// What the EC2 plugin found: fields of the instance identity document.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ec2Metadata {
    /// `instanceId` → `instance_id`.
    pub instance_id: String,
    /// `availabilityZone` → `availability_zone`.
    pub availability_zone: Option<String>,
    /// `instanceType` → `instance_size`.
    pub instance_type: Option<String>,
    /// `imageId` → `ami_id`.
    pub ami_id: Option<String>,
}

impl Ec2Metadata {
    /// The core's `aws.ec2` view of this value.
    pub fn to_model(&self) -> Ec2<'_> {
        Ec2 {
            instance_id: Some(&self.instance_id),
            availability_zone: self.availability_zone.as_deref(),
            instance_size: self.instance_type.as_deref(),
            ami_id: self.ami_id.as_deref(),
        }
    }
}

/// What the ECS plugin found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EcsMetadata {
    /// `container`: the container's host name.
    pub container: Option<String>,
    /// `container_id`: the Docker id from the task metadata endpoint.
    pub container_id: Option<String>,
    /// `container_arn`: `ContainerARN` from the task metadata endpoint.
    pub container_arn: Option<String>,
}

impl EcsMetadata {
    /// The core's `aws.ecs` view of this value.
    pub fn to_model(&self) -> Ecs<'_> {
        Ecs {
            container: self.container.as_deref(),
            container_id: self.container_id.as_deref(),
            container_arn: self.container_arn.as_deref(),
        }
    }
}

/// What the Elastic Beanstalk plugin found in `environment.conf`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ElasticBeanstalkMetadata {
    /// `environment_name`.
    pub environment_name: Option<String>,
    /// `version_label`.
    pub version_label: Option<String>,
    /// `deployment_id`.
    pub deployment_id: Option<u64>,
}

impl ElasticBeanstalkMetadata {
    /// The core's `aws.elastic_beanstalk` view of this value.
    pub fn to_model(&self) -> ElasticBeanstalk<'_> {
        ElasticBeanstalk {
            environment_name: self.environment_name.as_deref(),
            version_label: self.version_label.as_deref(),
            deployment_id: self.deployment_id,
        }
    }
}

/// Everything the plugins found. Absent parts are `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PluginMetadata {
    /// `aws.ec2`.
    pub ec2: Option<Ec2Metadata>,
    /// `aws.ecs`.
    pub ecs: Option<EcsMetadata>,
    /// `aws.elastic_beanstalk`.
    pub elastic_beanstalk: Option<ElasticBeanstalkMetadata>,
}

impl PluginMetadata {
    /// The segment's `origin`: the most specific environment found (Elastic Beanstalk over
    /// ECS over EC2, as the X-Ray guide and the Java SDK order them), or `None`.
    ///
    /// ```
    /// use xray_std::plugins::{Ec2Metadata, EcsMetadata, PluginMetadata, ECS_ORIGIN};
    ///
    /// let found = PluginMetadata {
    ///     ec2: Some(Ec2Metadata { instance_id: "i-0abc".into(), ..Default::default() }),
    ///     ecs: Some(EcsMetadata::default()),
    ///     elastic_beanstalk: None,
    /// };
    /// assert_eq!(found.origin(), Some(ECS_ORIGIN));
    /// ```
    pub fn origin(&self) -> Option<&'static str> {
        if self.elastic_beanstalk.is_some() {
            Some(ELASTIC_BEANSTALK_ORIGIN)
        } else if self.ecs.is_some() {
            Some(ECS_ORIGIN)
        } else if self.ec2.is_some() {
            Some(EC2_ORIGIN)
        } else {
            None
        }
    }

    /// Whether no plugin found anything.
    pub fn is_empty(&self) -> bool {
        self.origin().is_none()
    }

    /// An `aws` block carrying the resource fields found (the call fields are left unset).
    pub fn to_aws(&self) -> Aws<'_> {
        Aws {
            ec2: self.ec2.as_ref().map(Ec2Metadata::to_model),
            ecs: self.ecs.as_ref().map(EcsMetadata::to_model),
            elastic_beanstalk: self
                .elastic_beanstalk
                .as_ref()
                .map(ElasticBeanstalkMetadata::to_model),
            ..Aws::default()
        }
    }
}

/// The set of plugins to run. Empty by default; add the ones the program wants.
///
/// ```no_run
/// # #[cfg(all(feature = "ec2", feature = "ecs", feature = "elastic-beanstalk"))]
/// # {
/// use xray_std::plugins::{Ec2Plugin, EcsPlugin, ElasticBeanstalkPlugin, Plugins};
///
/// let found = Plugins::new()
///     .with_ec2(Ec2Plugin::default())
///     .with_ecs(EcsPlugin::from_env())
///     .with_elastic_beanstalk(ElasticBeanstalkPlugin::default())
///     .collect();
/// println!("origin: {:?}", found.origin());
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct Plugins {
    #[cfg(feature = "ec2")]
    ec2: Option<ec2::Ec2Plugin>,
    #[cfg(feature = "ecs")]
    ecs: Option<ecs::EcsPlugin>,
    #[cfg(feature = "elastic-beanstalk")]
    elastic_beanstalk: Option<elastic_beanstalk::ElasticBeanstalkPlugin>,
}

impl Plugins {
    /// No plugins.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every plugin compiled in (by cargo feature), with default settings; the ECS plugin
    /// reads its metadata URI from the environment (`EcsPlugin::from_env`).
    pub fn all_enabled() -> Self {
        let plugins = Self::new();
        #[cfg(feature = "ec2")]
        let plugins = plugins.with_ec2(ec2::Ec2Plugin::default());
        #[cfg(feature = "ecs")]
        let plugins = plugins.with_ecs(ecs::EcsPlugin::from_env());
        #[cfg(feature = "elastic-beanstalk")]
        let plugins = plugins.with_elastic_beanstalk(Default::default());
        plugins
    }

    /// Runs the EC2 plugin.
    #[cfg(feature = "ec2")]
    pub fn with_ec2(mut self, plugin: ec2::Ec2Plugin) -> Self {
        self.ec2 = Some(plugin);
        self
    }

    /// Runs the ECS plugin.
    #[cfg(feature = "ecs")]
    pub fn with_ecs(mut self, plugin: ecs::EcsPlugin) -> Self {
        self.ecs = Some(plugin);
        self
    }

    /// Runs the Elastic Beanstalk plugin.
    #[cfg(feature = "elastic-beanstalk")]
    pub fn with_elastic_beanstalk(
        mut self,
        plugin: elastic_beanstalk::ElasticBeanstalkPlugin,
    ) -> Self {
        self.elastic_beanstalk = Some(plugin);
        self
    }

    /// Runs the chosen plugins, one after the other, and gathers what they found.
    ///
    /// Blocks: the network plugins wait at most their timeouts (about a second each by
    /// default) when their metadata service does not answer. Never fails: a plugin that finds
    /// nothing leaves its part `None` and says why at `debug` level in the log.
    pub fn collect(&self) -> PluginMetadata {
        #[allow(unused_mut)]
        let mut found = PluginMetadata::default();
        #[cfg(feature = "elastic-beanstalk")]
        if let Some(p) = &self.elastic_beanstalk {
            found.elastic_beanstalk = p.collect();
        }
        #[cfg(feature = "ecs")]
        if let Some(p) = &self.ecs {
            found.ecs = p.collect();
        }
        #[cfg(feature = "ec2")]
        if let Some(p) = &self.ec2 {
            found.ec2 = p.collect();
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ec2() -> Ec2Metadata {
        Ec2Metadata {
            instance_id: "i-0123".into(),
            availability_zone: Some("us-east-1a".into()),
            instance_type: Some("m5.large".into()),
            ami_id: None,
        }
    }

    #[test]
    fn most_specific_origin_wins() {
        let mut m = PluginMetadata::default();
        assert_eq!(m.origin(), None);
        assert!(m.is_empty());
        m.ec2 = Some(ec2());
        assert_eq!(m.origin(), Some("AWS::EC2::Instance"));
        m.ecs = Some(EcsMetadata::default());
        assert_eq!(m.origin(), Some("AWS::ECS::Container"));
        m.elastic_beanstalk = Some(ElasticBeanstalkMetadata::default());
        assert_eq!(m.origin(), Some("AWS::ElasticBeanstalk::Environment"));
        m.ecs = None;
        assert_eq!(m.origin(), Some("AWS::ElasticBeanstalk::Environment"));
        m.elastic_beanstalk = None;
        assert_eq!(m.origin(), Some("AWS::EC2::Instance"));
    }

    #[test]
    fn aws_block_maps_instance_type_to_instance_size() {
        let m = PluginMetadata {
            ec2: Some(ec2()),
            ecs: None,
            elastic_beanstalk: Some(ElasticBeanstalkMetadata {
                environment_name: Some("prod".into()),
                version_label: None,
                deployment_id: Some(7),
            }),
        };
        let aws = m.to_aws();
        let e = aws.ec2.unwrap();
        assert_eq!(e.instance_id, Some("i-0123"));
        assert_eq!(e.instance_size, Some("m5.large"));
        assert_eq!(e.ami_id, None);
        assert!(aws.ecs.is_none());
        assert_eq!(aws.elastic_beanstalk.unwrap().deployment_id, Some(7));
        assert_eq!(aws.operation, None);
    }
}
