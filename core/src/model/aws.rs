//! The `aws` block: the AWS call a subsegment made, or the AWS resource a segment runs on.

use super::{Limits, Members};
use crate::sink::{Full, Sink};

/// EC2 instance metadata (`aws.ec2`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ec2<'a> {
    /// `instance_id`.
    pub instance_id: Option<&'a str>,
    /// `availability_zone`.
    pub availability_zone: Option<&'a str>,
    /// `instance_size` (the instance type).
    pub instance_size: Option<&'a str>,
    /// `ami_id`.
    pub ami_id: Option<&'a str>,
}

/// ECS container metadata (`aws.ecs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ecs<'a> {
    /// `container`: the container's host name.
    pub container: Option<&'a str>,
    /// `container_id`.
    pub container_id: Option<&'a str>,
    /// `container_arn`.
    pub container_arn: Option<&'a str>,
}

/// EKS metadata (`aws.eks`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Eks<'a> {
    /// `cluster_name`.
    pub cluster_name: Option<&'a str>,
    /// `pod`.
    pub pod: Option<&'a str>,
    /// `container_id`.
    pub container_id: Option<&'a str>,
}

/// Elastic Beanstalk metadata (`aws.elastic_beanstalk`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ElasticBeanstalk<'a> {
    /// `environment_name`.
    pub environment_name: Option<&'a str>,
    /// `version_label`.
    pub version_label: Option<&'a str>,
    /// `deployment_id`.
    pub deployment_id: Option<u64>,
}

/// The `aws` block. Subsegments for AWS calls fill the call fields; segments fill the
/// resource fields (usually from the std adapter's plugins). Unset fields are left out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Aws<'a> {
    /// `account_id`.
    pub account_id: Option<&'a str>,
    /// `operation`: the API operation (`GetItem`).
    pub operation: Option<&'a str>,
    /// `region`.
    pub region: Option<&'a str>,
    /// `request_id`.
    pub request_id: Option<&'a str>,
    /// `id_2`: the S3 extended request id (`x-amz-id-2`).
    pub id_2: Option<&'a str>,
    /// `retries`.
    pub retries: Option<u32>,
    /// `queue_url` (SQS).
    pub queue_url: Option<&'a str>,
    /// `table_name` (DynamoDB).
    pub table_name: Option<&'a str>,
    /// `bucket_name` (S3).
    pub bucket_name: Option<&'a str>,
    /// `ec2`.
    pub ec2: Option<Ec2<'a>>,
    /// `ecs`.
    pub ecs: Option<Ecs<'a>>,
    /// `eks`.
    pub eks: Option<Eks<'a>>,
    /// `elastic_beanstalk`.
    pub elastic_beanstalk: Option<ElasticBeanstalk<'a>>,
}

fn object<S: Sink + ?Sized>(
    m: &mut Members<'_, S>,
    key: &str,
    body: impl FnOnce(&mut Members<'_, S>) -> Result<(), Full>,
) -> Result<(), Full> {
    let mut cut = false;
    m.raw(key, |s| {
        s.byte(b'{')?;
        let mut inner = Members::new(s);
        body(&mut inner)?;
        cut = inner.cut;
        s.byte(b'}')
    })?;
    m.cut |= cut;
    Ok(())
}

impl Aws<'_> {
    pub(crate) fn write_members<S: Sink + ?Sized>(
        &self,
        m: &mut Members<'_, S>,
        limits: Limits,
    ) -> Result<(), Full> {
        let max = limits.short();
        m.str("account_id", self.account_id, max)?;
        m.str("operation", self.operation, max)?;
        m.str("region", self.region, max)?;
        m.str("request_id", self.request_id, max)?;
        m.str("id_2", self.id_2, max)?;
        m.u64("retries", self.retries.map(u64::from))?;
        m.str("queue_url", self.queue_url, max)?;
        m.str("table_name", self.table_name, max)?;
        m.str("bucket_name", self.bucket_name, max)?;
        if let Some(e) = self.ec2 {
            object(m, "ec2", |m| {
                m.str("instance_id", e.instance_id, max)?;
                m.str("availability_zone", e.availability_zone, max)?;
                m.str("instance_size", e.instance_size, max)?;
                m.str("ami_id", e.ami_id, max)
            })?;
        }
        if let Some(e) = self.ecs {
            object(m, "ecs", |m| {
                m.str("container", e.container, max)?;
                m.str("container_id", e.container_id, max)?;
                m.str("container_arn", e.container_arn, max)
            })?;
        }
        if let Some(e) = self.eks {
            object(m, "eks", |m| {
                m.str("cluster_name", e.cluster_name, max)?;
                m.str("pod", e.pod, max)?;
                m.str("container_id", e.container_id, max)
            })?;
        }
        if let Some(e) = self.elastic_beanstalk {
            object(m, "elastic_beanstalk", |m| {
                m.str("environment_name", e.environment_name, max)?;
                m.str("version_label", e.version_label, max)?;
                m.u64("deployment_id", e.deployment_id)
            })?;
        }
        Ok(())
    }
}
