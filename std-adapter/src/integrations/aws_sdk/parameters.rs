//! The per-service table of the request and response parameters recorded in `aws`: the
//! operations and parameters of the official X-Ray SDKs' whitelists (Go's
//! `AWSWhitelist.json`, with SNS `PublishBatch`, S3 `ListObjectsV2`/`HeadObject` and SageMaker
//! Runtime `InvokeEndpoint` from Python's and Node's), keyed by the SDK for Rust's service id
//! (the `Metadata` service name) and operation name. Where each value sits in the HTTP
//! exchange depends on the protocol: see [`From`].

/// Where a parameter's value is read from.
#[derive(Clone, Copy, Debug)]
pub(super) enum From {
    /// A top-level member of the JSON body (awsJson and restJson bodies), or a form field of
    /// an awsQuery request body.
    Member(&'static str, Take),
    /// A header.
    Header(&'static str),
    /// A query-string parameter.
    Query(&'static str),
    /// The n-th segment of the URI path (0-based), percent-decoded.
    Path(usize),
    /// The response's HTTP status code.
    Status,
    /// The S3 bucket, from the host (virtual-hosted) or the first path segment.
    S3Bucket,
    /// The S3 object key: the path after the bucket.
    S3Key,
    /// The number of child elements named so under the XML response's root (a flattened
    /// list: S3 `Contents`).
    XmlCount(&'static str),
    /// The number of children of the XML response's root element named so (a wrapped list:
    /// S3 `Buckets`).
    XmlWrappedCount(&'static str),
}

/// What a JSON member gives.
#[derive(Clone, Copy, Debug)]
pub(super) enum Take {
    /// The value itself.
    Value,
    /// The length of a list.
    Count,
    /// The keys of a map, as a list.
    Keys,
}

/// One recorded parameter: its `aws` key and where its value is.
#[derive(Clone, Copy, Debug)]
pub(super) struct Param {
    /// The key in the subsegment's `aws` block (snake_case, as the official SDKs write it).
    pub key: &'static str,
    /// Where the value is.
    pub from: From,
}

/// One operation's parameters.
#[derive(Debug)]
pub(super) struct Operation {
    /// The SDK's service id (`DynamoDB`).
    pub service: &'static str,
    /// The operation (`GetItem`).
    pub name: &'static str,
    /// Read from the request.
    pub request: &'static [Param],
    /// Read from the response (a successful one; an error response records the error).
    pub response: &'static [Param],
}

const fn value(member: &'static str, key: &'static str) -> Param {
    Param {
        key,
        from: From::Member(member, Take::Value),
    }
}

const fn count(member: &'static str, key: &'static str) -> Param {
    Param {
        key,
        from: From::Member(member, Take::Count),
    }
}

const fn keys(member: &'static str, key: &'static str) -> Param {
    Param {
        key,
        from: From::Member(member, Take::Keys),
    }
}

const fn at(from: From, key: &'static str) -> Param {
    Param { key, from }
}

const fn op(
    service: &'static str,
    name: &'static str,
    request: &'static [Param],
    response: &'static [Param],
) -> Operation {
    Operation {
        service,
        name,
        request,
        response,
    }
}

const TABLE_NAME: Param = value("TableName", "table_name");
const QUEUE_URL: Param = value("QueueUrl", "queue_url");
const CONSUMED_CAPACITY: Param = value("ConsumedCapacity", "consumed_capacity");
const ITEM_COLLECTION_METRICS: Param = value("ItemCollectionMetrics", "item_collection_metrics");
const BUCKET: Param = at(From::S3Bucket, "bucket_name");
const KEY: Param = at(From::S3Key, "key");

/// The table. Operations not in it record no parameters.
pub(super) const OPERATIONS: &[Operation] = &[
    // DynamoDB (awsJson1_0).
    op(
        "DynamoDB",
        "BatchGetItem",
        &[keys("RequestItems", "table_names")],
        &[CONSUMED_CAPACITY],
    ),
    op(
        "DynamoDB",
        "BatchWriteItem",
        &[keys("RequestItems", "table_names")],
        &[CONSUMED_CAPACITY, ITEM_COLLECTION_METRICS],
    ),
    op(
        "DynamoDB",
        "CreateTable",
        &[
            value("GlobalSecondaryIndexes", "global_secondary_indexes"),
            value("LocalSecondaryIndexes", "local_secondary_indexes"),
            value("ProvisionedThroughput", "provisioned_throughput"),
            TABLE_NAME,
        ],
        &[],
    ),
    op(
        "DynamoDB",
        "DeleteItem",
        &[TABLE_NAME],
        &[CONSUMED_CAPACITY, ITEM_COLLECTION_METRICS],
    ),
    op("DynamoDB", "DeleteTable", &[TABLE_NAME], &[]),
    op("DynamoDB", "DescribeTable", &[TABLE_NAME], &[]),
    op(
        "DynamoDB",
        "GetItem",
        &[
            value("ConsistentRead", "consistent_read"),
            value("ProjectionExpression", "projection_expression"),
            TABLE_NAME,
        ],
        &[CONSUMED_CAPACITY],
    ),
    op(
        "DynamoDB",
        "ListTables",
        &[
            value("ExclusiveStartTableName", "exclusive_start_table_name"),
            value("Limit", "limit"),
        ],
        &[count("TableNames", "table_count")],
    ),
    op(
        "DynamoDB",
        "PutItem",
        &[TABLE_NAME],
        &[CONSUMED_CAPACITY, ITEM_COLLECTION_METRICS],
    ),
    op(
        "DynamoDB",
        "Query",
        &[
            value("AttributesToGet", "attributes_to_get"),
            value("ConsistentRead", "consistent_read"),
            value("IndexName", "index_name"),
            value("Limit", "limit"),
            value("ProjectionExpression", "projection_expression"),
            value("ScanIndexForward", "scan_index_forward"),
            value("Select", "select"),
            TABLE_NAME,
        ],
        &[CONSUMED_CAPACITY],
    ),
    op(
        "DynamoDB",
        "Scan",
        &[
            value("AttributesToGet", "attributes_to_get"),
            value("ConsistentRead", "consistent_read"),
            value("IndexName", "index_name"),
            value("Limit", "limit"),
            value("ProjectionExpression", "projection_expression"),
            value("Segment", "segment"),
            value("Select", "select"),
            TABLE_NAME,
            value("TotalSegments", "total_segments"),
        ],
        &[
            CONSUMED_CAPACITY,
            value("Count", "count"),
            value("ScannedCount", "scanned_count"),
        ],
    ),
    op(
        "DynamoDB",
        "UpdateItem",
        &[TABLE_NAME],
        &[CONSUMED_CAPACITY, ITEM_COLLECTION_METRICS],
    ),
    op(
        "DynamoDB",
        "UpdateTable",
        &[
            value("AttributeDefinitions", "attribute_definitions"),
            value(
                "GlobalSecondaryIndexUpdates",
                "global_secondary_index_updates",
            ),
            value("ProvisionedThroughput", "provisioned_throughput"),
            TABLE_NAME,
        ],
        &[],
    ),
    // SQS (awsJson1_0 since 2023; the member names are the Query protocol's).
    op(
        "SQS",
        "AddPermission",
        &[value("Label", "label"), QUEUE_URL],
        &[],
    ),
    op(
        "SQS",
        "ChangeMessageVisibility",
        &[QUEUE_URL, value("VisibilityTimeout", "visibility_timeout")],
        &[],
    ),
    op(
        "SQS",
        "ChangeMessageVisibilityBatch",
        &[QUEUE_URL],
        &[value("Failed", "failed")],
    ),
    op(
        "SQS",
        "CreateQueue",
        &[
            value("Attributes", "attributes"),
            value("QueueName", "queue_name"),
        ],
        &[],
    ),
    op("SQS", "DeleteMessage", &[QUEUE_URL], &[]),
    op(
        "SQS",
        "DeleteMessageBatch",
        &[QUEUE_URL],
        &[value("Failed", "failed")],
    ),
    op("SQS", "DeleteQueue", &[QUEUE_URL], &[]),
    op(
        "SQS",
        "GetQueueAttributes",
        &[QUEUE_URL],
        &[value("Attributes", "attributes")],
    ),
    op(
        "SQS",
        "GetQueueUrl",
        &[
            value("QueueName", "queue_name"),
            value("QueueOwnerAWSAccountId", "queue_owner_aws_account_id"),
        ],
        &[QUEUE_URL],
    ),
    op(
        "SQS",
        "ListDeadLetterSourceQueues",
        &[QUEUE_URL],
        &[value("QueueUrls", "queue_urls")],
    ),
    op(
        "SQS",
        "ListQueues",
        &[value("QueueNamePrefix", "queue_name_prefix")],
        &[count("QueueUrls", "queue_count")],
    ),
    op("SQS", "PurgeQueue", &[QUEUE_URL], &[]),
    op(
        "SQS",
        "ReceiveMessage",
        &[
            value("AttributeNames", "attribute_names"),
            value("MaxNumberOfMessages", "max_number_of_messages"),
            value("MessageAttributeNames", "message_attribute_names"),
            QUEUE_URL,
            value("VisibilityTimeout", "visibility_timeout"),
            value("WaitTimeSeconds", "wait_time_seconds"),
        ],
        &[count("Messages", "message_count")],
    ),
    op("SQS", "RemovePermission", &[QUEUE_URL], &[]),
    op(
        "SQS",
        "SendMessage",
        &[
            value("DelaySeconds", "delay_seconds"),
            QUEUE_URL,
            keys("MessageAttributes", "message_attribute_names"),
        ],
        &[value("MessageId", "message_id")],
    ),
    op(
        "SQS",
        "SendMessageBatch",
        &[QUEUE_URL, count("Entries", "message_count")],
        &[
            count("Failed", "failed_count"),
            count("Successful", "successful_count"),
        ],
    ),
    op(
        "SQS",
        "SetQueueAttributes",
        &[QUEUE_URL, keys("Attributes", "attribute_names")],
        &[],
    ),
    // Lambda (restJson1): the function name is in the path, the options in headers.
    op(
        "Lambda",
        "Invoke",
        &[
            at(From::Path(2), "function_name"),
            at(From::Header("x-amz-invocation-type"), "invocation_type"),
            at(From::Header("x-amz-log-type"), "log_type"),
            at(From::Query("Qualifier"), "qualifier"),
        ],
        &[
            at(From::Header("x-amz-function-error"), "function_error"),
            at(From::Status, "status_code"),
        ],
    ),
    op(
        "Lambda",
        "InvokeAsync",
        &[at(From::Path(2), "function_name")],
        &[at(From::Status, "status")],
    ),
    // S3 (restXml): the bucket and key are in the URI.
    op("S3", "CreateBucket", &[BUCKET], &[]),
    op("S3", "DeleteBucket", &[BUCKET], &[]),
    op("S3", "HeadBucket", &[BUCKET], &[]),
    op("S3", "GetObject", &[BUCKET, KEY], &[]),
    op("S3", "HeadObject", &[BUCKET, KEY], &[]),
    op("S3", "PutObject", &[BUCKET, KEY], &[]),
    op(
        "S3",
        "DeleteObject",
        &[BUCKET, KEY],
        &[at(From::Header("x-amz-delete-marker"), "delete_marker")],
    ),
    op(
        "S3",
        "DeleteObjects",
        &[BUCKET],
        &[at(From::XmlCount("Deleted"), "deleted_object_count")],
    ),
    op(
        "S3",
        "ListBuckets",
        &[],
        &[at(From::XmlWrappedCount("Buckets"), "bucket_count")],
    ),
    op(
        "S3",
        "ListObjects",
        &[BUCKET],
        &[at(From::XmlCount("Contents"), "object_count")],
    ),
    op(
        "S3",
        "ListObjectsV2",
        &[BUCKET],
        &[at(From::XmlCount("Contents"), "object_count")],
    ),
    op("S3", "PutBucketLogging", &[BUCKET], &[]),
    op(
        "S3",
        "PutBucketPolicy",
        &[BUCKET, value("Policy", "policy")],
        &[],
    ),
    op("S3", "PutBucketTagging", &[BUCKET], &[]),
    // SNS (awsQuery: form fields in the request).
    op("SNS", "Publish", &[value("TopicArn", "topic_arn")], &[]),
    op(
        "SNS",
        "PublishBatch",
        &[value("TopicArn", "topic_arn")],
        &[],
    ),
    // SageMaker Runtime (restJson1).
    op(
        "SageMaker Runtime",
        "InvokeEndpoint",
        &[at(From::Path(1), "endpoint_name")],
        &[],
    ),
];

/// The operation's entry, if the table has one.
pub(super) fn lookup(service: &str, operation: &str) -> Option<&'static Operation> {
    OPERATIONS
        .iter()
        .find(|o| o.service == service && o.name == operation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_their_keys_are_unique_and_keys_are_snake_case() {
        for (i, o) in OPERATIONS.iter().enumerate() {
            assert!(
                OPERATIONS[..i]
                    .iter()
                    .all(|p| (p.service, p.name) != (o.service, o.name)),
                "{} {} twice",
                o.service,
                o.name
            );
            let all: Vec<_> = o.request.iter().chain(o.response).collect();
            for (j, p) in all.iter().enumerate() {
                assert!(
                    all[..j].iter().all(|q| q.key != p.key),
                    "{} {}: {} twice (it would be written twice in `aws`)",
                    o.service,
                    o.name,
                    p.key
                );
                assert!(
                    p.key
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                    "{}",
                    p.key
                );
            }
        }
        assert!(lookup("DynamoDB", "GetItem").is_some());
        assert!(lookup("DynamoDB", "TransactWriteItems").is_none());
    }
}
