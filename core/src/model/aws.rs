//! The `aws` block: the AWS call a subsegment made, or the AWS resource a segment runs on.

use super::{Limits, Members};
use crate::json::is_json_value;
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

/// A parameter of an AWS call recorded in the subsegment's `aws` block (`aws.table_name`,
/// `aws.item_count`…), as the official SDKs record the request and response parameters of
/// their per-service tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AwsParam<'a> {
    /// A string, cut to the schema's 250-character limit.
    Str(&'a str),
    /// A count (`item_count`, `message_count`).
    Count(u64),
    /// One JSON value as text (a number, boolean, array or object). Written only when it is a
    /// JSON value no longer than the recorder's string cap; otherwise left out (never cut,
    /// which would break the document) and reported as cut.
    Json(&'a str),
}

/// Whether `key` can be an `aws` member written without escaping: `[a-z0-9_]`, 1 to 64
/// characters, and not one of [`Aws`]'s own fields nor `xray`, the recorder's SDK block (a
/// param of that name made a second `xray` member once the sampling rule was recorded).
fn param_key_ok(key: &str) -> bool {
    const OWN: [&str; 14] = [
        "account_id",
        "operation",
        "region",
        "request_id",
        "id_2",
        "retries",
        "queue_url",
        "table_name",
        "bucket_name",
        "ec2",
        "ecs",
        "eks",
        "elastic_beanstalk",
        "xray",
    ];
    (1..=64).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !OWN.contains(&key)
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
    /// Further members of an AWS call, in order: `(key, value)`. A key that is not
    /// `[a-z0-9_]{1,64}`, that names one of the fields above or `xray` (the recorder's SDK
    /// block), or that an earlier member already has, is left out (reported as cut).
    pub params: &'a [(&'a str, AwsParam<'a>)],
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
        for (i, &(key, value)) in self.params.iter().enumerate() {
            // A key given twice would make an object with a duplicate key: the first wins.
            if !param_key_ok(key) || self.params[..i].iter().any(|&(k, _)| k == key) {
                m.cut = true;
                continue;
            }
            match value {
                AwsParam::Str(v) => m.str(key, Some(v), max)?,
                AwsParam::Count(n) => m.u64(key, Some(n))?,
                AwsParam::Json(v) if v.len() <= limits.max_chars && is_json_value(v.as_bytes()) => {
                    m.raw(key, |s| s.write(v.as_bytes()))?;
                }
                AwsParam::Json(_) => m.cut = true,
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::SliceSink;
    use std::string::String;

    fn members(aws: &Aws<'_>) -> (String, bool) {
        let mut buf = [0u8; 512];
        let mut sink = SliceSink::new(&mut buf);
        let mut m = Members::new(&mut sink);
        aws.write_members(&mut m, Limits { max_chars: 32 })
            .unwrap_or_default();
        let cut = m.cut;
        let text = core::str::from_utf8(sink.as_bytes()).unwrap_or("not utf-8");
        (String::from(text), cut)
    }

    #[test]
    fn params_follow_the_fields_and_bad_ones_are_left_out_and_reported() {
        let ok = Aws {
            operation: Some("Query"),
            params: &[
                ("index_name", AwsParam::Str("by-date")),
                ("count", AwsParam::Count(3)),
                (
                    "consumed_capacity",
                    AwsParam::Json(r#"{"CapacityUnits":0.5}"#),
                ),
            ],
            ..Aws::default()
        };
        assert_eq!(
            members(&ok),
            (
                String::from(
                    r#""operation":"Query","index_name":"by-date","count":3,"consumed_capacity":{"CapacityUnits":0.5}"#
                ),
                false
            )
        );
        for bad in [
            ("Bad-Key", AwsParam::Count(1)),
            ("", AwsParam::Count(1)),
            ("table_name", AwsParam::Str("twice")),
            ("xray", AwsParam::Json("{}")),
            ("j", AwsParam::Json("{\"a\":")),
            (
                "j",
                AwsParam::Json("[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]"),
            ),
        ] {
            let aws = Aws {
                params: &[bad],
                ..Aws::default()
            };
            assert_eq!(members(&aws), (String::new(), true), "{bad:?}");
        }
        let twice = Aws {
            params: &[
                ("count", AwsParam::Count(1)),
                ("count", AwsParam::Str("again")),
            ],
            ..Aws::default()
        };
        assert_eq!(members(&twice), (String::from(r#""count":1"#), true));
    }
}
