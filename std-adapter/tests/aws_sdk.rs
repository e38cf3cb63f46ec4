//! The AWS SDK interceptor with real `aws-sdk-dynamodb`, `aws-sdk-s3` and `aws-sdk-sqs`
//! clients against `moto_server` on 127.0.0.1 (one per test, see `moto/`), over plain HTTP.
//! Every datagram is validated against the segment schema; each subsegment is checked for
//! its name, namespace, operation, region, request id, parameters, flags and exception, and
//! the trace header each attempt carried is checked against the subsegment's id. The error
//! types are compared with the SDK's own `ProvideErrorMetadata::code()`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod capture;
mod moto;
mod ports;
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ReturnConsumedCapacity, ScalarAttributeType,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use capture::Capture;
use moto::Moto;
use serde_json::Value;
use support::check_datagram;
use xray_std::integrations::aws_sdk::XRayInterceptor;
use xray_std::{TraceHeader, Tracer};

const REGION: &str = "eu-west-3";

/// Keeps the `X-Amzn-Trace-Id` of every attempt (registered after `XRayInterceptor`, so it
/// sees what goes on the wire).
#[derive(Debug, Default, Clone)]
struct SentHeaders(Arc<Mutex<Vec<Option<String>>>>);

impl Intercept for SentHeaders {
    fn name(&self) -> &'static str {
        "SentHeaders"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let h = context.request().headers().get("x-amzn-trace-id");
        self.0.lock().unwrap().push(h.map(str::to_owned));
        Ok(())
    }
}

impl SentHeaders {
    fn take(&self) -> Vec<Option<String>> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// What every test starts with: moto on loopback, a tracer whose datagrams `capture` keeps,
/// and the trace headers the client sends.
fn setup() -> (Moto, Arc<Capture>, Tracer, SentHeaders) {
    let moto = Moto::start();
    let capture = Arc::new(Capture::default());
    let tracer = tracer(&capture);
    (moto, capture, tracer, SentHeaders::default())
}

fn tracer(capture: &Arc<Capture>) -> Tracer {
    Tracer::builder("app")
        .transport(capture.clone())
        .always_sample()
        .build()
}

/// The one document `capture` holds, every datagram checked against the schema.
fn the_document(capture: &Capture) -> Value {
    let datagrams = capture.0.lock().unwrap().clone();
    assert_eq!(datagrams.len(), 1, "one datagram for the trace");
    check_datagram(&datagrams[0])
}

fn subsegments(doc: &Value) -> &Vec<Value> {
    doc["subsegments"].as_array().expect("subsegments")
}

/// The checks every AWS subsegment passes.
fn check_call(sub: &Value, service: &str, operation: &str) {
    assert_eq!(sub["name"], service, "{sub}");
    assert_eq!(sub["namespace"], "aws", "{sub}");
    assert_eq!(sub["aws"]["operation"], operation, "{sub}");
    assert_eq!(sub["aws"]["region"], REGION, "{sub}");
    assert!(
        sub["aws"]["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "request id: {sub}"
    );
    assert_eq!(sub["aws"]["retries"], 0, "{sub}");
    assert!(sub["end_time"].as_f64() >= sub["start_time"].as_f64());
}

fn check_ok(sub: &Value) {
    assert_eq!(sub["http"]["response"]["status"], 200, "{sub}");
    for flag in ["error", "fault", "throttle"] {
        assert!(sub.get(flag).is_none(), "{flag} on {sub}");
    }
}

/// A failed call: the status, `error` (4xx) and no `fault`, the service's error code as the
/// exception type, `remote`.
fn check_service_error(sub: &Value, status: u16, code: &str) {
    assert_eq!(sub["http"]["response"]["status"], status, "{sub}");
    assert_eq!(sub["error"], true, "{sub}");
    assert!(sub.get("fault").is_none(), "a 4xx is not a fault: {sub}");
    let exception = &sub["cause"]["exceptions"][0];
    assert_eq!(exception["type"], code, "{sub}");
    assert_eq!(exception["remote"], true, "{sub}");
    let message = exception["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "{sub}");
    assert!(
        !message.starts_with(&format!("{code}:")),
        "the message repeats the type: {sub}"
    );
}

/// Every attempt carried `Root=<trace>;Parent=<subsegment>;Sampled=1`, one per subsegment.
fn check_headers(sent: &[Option<String>], subs: &[Value], trace_id: &str) {
    assert_eq!(sent.len(), subs.len(), "{sent:?}");
    for (header, sub) in sent.iter().zip(subs) {
        let id = sub["id"].as_str().unwrap();
        assert_eq!(
            header.as_deref(),
            Some(format!("Root={trace_id};Parent={id};Sampled=1").as_str())
        );
    }
}

fn credentials() -> Credentials {
    Credentials::new("testing", "testing", None, None, "test")
}

fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new().build_http()
}

fn dynamodb(endpoint: &str, on_client: bool, sent: &SentHeaders) -> aws_sdk_dynamodb::Client {
    let mut config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(credentials())
        .endpoint_url(endpoint)
        .http_client(http_client());
    if on_client {
        config = config.interceptor(XRayInterceptor::new());
    }
    aws_sdk_dynamodb::Client::from_conf(config.interceptor(sent.clone()).build())
}

async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) {
    client
        .create_table()
        .table_name(name)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
}

/// A `GetItem` of `id` from the table `archived-orders`, which does not exist: the error
/// code the SDK gives for the failure it must be.
async fn get_from_missing_table(client: &aws_sdk_dynamodb::Client, id: &str) -> Option<String> {
    let err = client
        .get_item()
        .table_name("archived-orders")
        .key("id", AttributeValue::S(id.into()))
        .send()
        .await
        .unwrap_err();
    err.code().map(str::to_owned)
}

#[tokio::test]
async fn dynamodb_with_the_interceptor_on_the_client() {
    let (moto, capture, tracer, sent) = setup();
    let client = dynamodb(&moto.endpoint, true, &sent);

    // Outside a traced request: nothing recorded, no header sent.
    create_table(&client, "orders").await;
    assert_eq!(sent.take(), vec![None]);
    assert!(capture.0.lock().unwrap().is_empty());

    let ctx = tracer.begin(None);
    let missing_code = ctx
        .clone()
        .scope(async {
            client
                .put_item()
                .table_name("orders")
                .item("id", AttributeValue::S("1042".into()))
                .item("customer", AttributeValue::S("acme".into()))
                .send()
                .await
                .unwrap();
            let got = client
                .get_item()
                .table_name("orders")
                .key("id", AttributeValue::S("1042".into()))
                .consistent_read(true)
                .projection_expression("customer")
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .unwrap();
            assert_eq!(
                got.item().and_then(|i| i.get("customer")),
                Some(&AttributeValue::S("acme".into()))
            );
            // Registered on the call too: still one subsegment, one attempt.
            let scan = client
                .scan()
                .table_name("orders")
                .limit(10)
                .customize()
                .interceptor(XRayInterceptor::new())
                .send()
                .await
                .unwrap();
            assert_eq!(scan.count(), 1);
            get_from_missing_table(&client, "1042").await
        })
        .await;
    let trace_id = ctx.trace_id().unwrap().to_string();
    ctx.end();

    let doc = the_document(&capture);
    let subs = subsegments(&doc);
    assert_eq!(subs.len(), 4, "{doc}");
    for (sub, op) in subs.iter().zip(["PutItem", "GetItem", "Scan", "GetItem"]) {
        check_call(sub, "DynamoDB", op);
    }
    check_headers(&sent.take(), subs, &trace_id);

    let [put, get, scan, missing] = &subs[..] else {
        unreachable!()
    };
    check_ok(put);
    assert_eq!(put["aws"]["table_name"], "orders");
    check_ok(get);
    assert_eq!(get["aws"]["table_name"], "orders");
    assert_eq!(get["aws"]["consistent_read"], true);
    assert_eq!(get["aws"]["projection_expression"], "customer");
    assert_eq!(get["aws"]["consumed_capacity"]["TableName"], "orders");
    check_ok(scan);
    assert_eq!(scan["aws"]["limit"], 10);
    assert_eq!(scan["aws"]["count"], 1);
    assert_eq!(scan["aws"]["scanned_count"], 1);
    assert_eq!(missing_code.as_deref(), Some("ResourceNotFoundException"));
    check_service_error(missing, 400, "ResourceNotFoundException");
    assert_eq!(missing["aws"]["table_name"], "archived-orders");
}

#[tokio::test]
async fn an_unsampled_trace_passes_its_header_on_and_records_nothing() {
    let (moto, capture, tracer, sent) = setup();
    let client = dynamodb(&moto.endpoint, true, &sent);
    create_table(&client, "orders").await;
    sent.take();

    // The caller decided: not sampled (its decision is kept whatever the local sampler says).
    let root = "1-5759e988-bd862e3fe1be46a994272793";
    let upstream =
        TraceHeader::parse(&format!("Root={root};Parent=53995c3f42cd8ad8;Sampled=0")).unwrap();
    let ctx = tracer.begin(Some(&upstream));
    assert!(!ctx.is_sampled());
    let missing_code = ctx
        .clone()
        .scope(async {
            client
                .put_item()
                .table_name("orders")
                .item("id", AttributeValue::S("7".into()))
                .send()
                .await
                .unwrap();
            get_from_missing_table(&client, "7").await
        })
        .await;
    ctx.end();

    // The calls went through as always, the error too.
    assert_eq!(missing_code.as_deref(), Some("ResourceNotFoundException"));
    let sent = sent.take();
    assert_eq!(sent.len(), 2, "{sent:?}");
    let mut parents = Vec::new();
    for header in &sent {
        let header = header.as_deref().expect("a trace header on every attempt");
        let parent = header
            .strip_prefix(&format!("Root={root};Parent="))
            .and_then(|rest| rest.strip_suffix(";Sampled=0"))
            .unwrap_or_else(|| panic!("not this trace's unsampled header: {header}"));
        assert_eq!(parent.len(), 16, "{header}");
        assert_ne!(parent, "53995c3f42cd8ad8", "the call's own subsegment id");
        parents.push(parent.to_owned());
    }
    assert_ne!(parents[0], parents[1], "one subsegment id per call");
    assert!(
        capture.0.lock().unwrap().is_empty(),
        "nothing is sent for an unsampled trace"
    );
}

#[tokio::test]
async fn dynamodb_with_the_interceptor_on_one_operation() {
    let (moto, capture, tracer, sent) = setup();
    let client = dynamodb(&moto.endpoint, false, &sent);
    create_table(&client, "orders").await;
    sent.take();

    let ctx = tracer.begin(None);
    ctx.clone()
        .scope(async {
            client
                .put_item()
                .table_name("orders")
                .item("id", AttributeValue::S("7".into()))
                .customize()
                .interceptor(XRayInterceptor::new())
                .send()
                .await
                .unwrap();
            // Not customized: not traced.
            client
                .get_item()
                .table_name("orders")
                .key("id", AttributeValue::S("7".into()))
                .send()
                .await
                .unwrap();
            client
                .list_tables()
                .customize()
                .interceptor(XRayInterceptor::new())
                .send()
                .await
                .unwrap();
        })
        .await;
    let trace_id = ctx.trace_id().unwrap().to_string();
    ctx.end();

    let doc = the_document(&capture);
    let subs = subsegments(&doc);
    assert_eq!(subs.len(), 2, "{doc}");
    check_call(&subs[0], "DynamoDB", "PutItem");
    check_ok(&subs[0]);
    assert_eq!(subs[0]["aws"]["table_name"], "orders");
    check_call(&subs[1], "DynamoDB", "ListTables");
    check_ok(&subs[1]);
    assert_eq!(subs[1]["aws"]["table_count"], 1);
    let sent = sent.take();
    assert_eq!(
        sent[1], None,
        "the GetItem without the interceptor: {sent:?}"
    );
    check_headers(&[sent[0].clone(), sent[2].clone()], subs, &trace_id);
}

#[tokio::test]
async fn a_call_with_no_response_is_retried_and_recorded_as_a_fault() {
    let capture = Arc::new(Capture::default());
    let tracer = tracer(&capture);
    let sent = SentHeaders::default();
    let nobody = format!("http://{}", ports::unused(51));
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(credentials())
        .endpoint_url(nobody)
        .http_client(http_client())
        .retry_config(
            aws_sdk_dynamodb::config::retry::RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1)),
        )
        .interceptor(XRayInterceptor::new())
        .interceptor(sent.clone())
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);

    let ctx = tracer.begin(None);
    let err = ctx
        .clone()
        .scope(client.describe_table().table_name("orders").send())
        .await
        .unwrap_err();
    assert!(
        matches!(err, aws_sdk_dynamodb::error::SdkError::DispatchFailure(_)),
        "{err:?}"
    );
    let trace_id = ctx.trace_id().unwrap().to_string();
    ctx.end();

    let doc = the_document(&capture);
    let subs = subsegments(&doc);
    assert_eq!(subs.len(), 1, "{doc}");
    let sub = &subs[0];
    assert_eq!(sub["name"], "DynamoDB");
    assert_eq!(sub["aws"]["operation"], "DescribeTable");
    assert_eq!(sub["aws"]["region"], REGION);
    assert_eq!(sub["aws"]["table_name"], "orders");
    assert_eq!(sub["aws"]["retries"], 2, "three attempts: {sub}");
    assert!(sub["aws"].get("request_id").is_none());
    assert!(sub.get("http").is_none());
    assert_eq!(sub["fault"], true);
    let exception = &sub["cause"]["exceptions"][0];
    assert_eq!(exception["type"], "SdkError");
    assert!(exception.get("remote").is_none(), "{exception}");
    let sent = sent.take();
    assert_eq!(sent.len(), 3, "{sent:?}");
    check_headers(&sent[..1], subs, &trace_id);
    assert!(sent.iter().all(|h| h == &sent[0]), "{sent:?}");
}

#[tokio::test]
async fn s3_bucket_and_key_from_the_uri_errors_by_code() {
    use aws_sdk_s3::primitives::ByteStream;
    use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};

    let (moto, capture, tracer, sent) = setup();
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(REGION))
        .credentials_provider(credentials())
        .endpoint_url(&moto.endpoint)
        .force_path_style(true)
        .http_client(http_client())
        .interceptor(XRayInterceptor::new())
        .interceptor(sent.clone())
        .build();
    let client = aws_sdk_s3::Client::from_conf(config);

    let ctx = tracer.begin(None);
    let codes = ctx
        .clone()
        .scope(async {
            client
                .create_bucket()
                .bucket("photos")
                .create_bucket_configuration(
                    CreateBucketConfiguration::builder()
                        .location_constraint(BucketLocationConstraint::from(REGION))
                        .build(),
                )
                .send()
                .await
                .unwrap();
            client
                .put_object()
                .bucket("photos")
                .key("2024/cat 1.jpg")
                .body(ByteStream::from_static(b"meow"))
                .send()
                .await
                .unwrap();
            // A streamed response body: the interceptor must leave it to the caller.
            let object = client
                .get_object()
                .bucket("photos")
                .key("2024/cat 1.jpg")
                .send()
                .await
                .unwrap();
            let bytes = object.body.collect().await.unwrap().into_bytes();
            assert_eq!(&bytes[..], b"meow");
            let listed = client
                .list_objects_v2()
                .bucket("photos")
                .send()
                .await
                .unwrap();
            assert_eq!(listed.key_count(), Some(1));
            let no_key = client
                .get_object()
                .bucket("photos")
                .key("2024/dog.jpg")
                .send()
                .await
                .unwrap_err();
            let no_bucket = client
                .head_object()
                .bucket("videos")
                .key("a.mp4")
                .send()
                .await
                .unwrap_err();
            [
                no_key.code().map(str::to_owned),
                no_bucket.code().map(str::to_owned),
            ]
        })
        .await;
    let trace_id = ctx.trace_id().unwrap().to_string();
    ctx.end();

    let doc = the_document(&capture);
    let subs = subsegments(&doc);
    let ops = [
        "CreateBucket",
        "PutObject",
        "GetObject",
        "ListObjectsV2",
        "GetObject",
        "HeadObject",
    ];
    assert_eq!(subs.len(), ops.len(), "{doc}");
    for (sub, op) in subs.iter().zip(ops) {
        check_call(sub, "S3", op);
    }
    check_headers(&sent.take(), subs, &trace_id);
    let [create, put, get, list, no_key, no_bucket] = &subs[..] else {
        unreachable!()
    };
    for ok in [create, put, get, list] {
        check_ok(ok);
        assert_eq!(ok["aws"]["bucket_name"], "photos", "{ok}");
    }
    assert!(create["aws"].get("key").is_none());
    assert_eq!(put["aws"]["key"], "2024/cat 1.jpg");
    assert_eq!(get["aws"]["key"], "2024/cat 1.jpg");
    assert_eq!(list["aws"]["object_count"], 1);
    assert_eq!(codes[0].as_deref(), Some("NoSuchKey"));
    check_service_error(no_key, 404, "NoSuchKey");
    assert_eq!(no_key["aws"]["key"], "2024/dog.jpg");
    // A HEAD error has no body: the SDK and the subsegment name it by the status.
    assert_eq!(codes[1].as_deref(), Some("NotFound"));
    check_service_error(no_bucket, 404, "NotFound");
    assert_eq!(no_bucket["aws"]["bucket_name"], "videos");
}

#[tokio::test]
async fn sqs_queue_url_message_id_and_counts() {
    use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};

    let (moto, capture, tracer, sent) = setup();
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new(REGION))
        .credentials_provider(credentials())
        .endpoint_url(&moto.endpoint)
        .http_client(http_client())
        .interceptor(XRayInterceptor::new())
        .interceptor(sent.clone())
        .build();
    let client = aws_sdk_sqs::Client::from_conf(config);

    let ctx = tracer.begin(None);
    let (queue_url, message_id, missing_code) = ctx
        .clone()
        .scope(async {
            let queue_url = client
                .create_queue()
                .queue_name("jobs")
                .send()
                .await
                .unwrap()
                .queue_url
                .unwrap();
            let message_id = client
                .send_message()
                .queue_url(&queue_url)
                .message_body("resize 42")
                .delay_seconds(0)
                .message_attributes(
                    "kind",
                    MessageAttributeValue::builder()
                        .data_type("String")
                        .string_value("resize")
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap()
                .message_id
                .unwrap();
            let entries = ["a", "b"].map(|id| {
                SendMessageBatchRequestEntry::builder()
                    .id(id)
                    .message_body(id)
                    .build()
                    .unwrap()
            });
            let batch = client
                .send_message_batch()
                .queue_url(&queue_url)
                .set_entries(Some(entries.to_vec()))
                .send()
                .await
                .unwrap();
            assert_eq!(batch.successful.len(), 2);
            let received = client
                .receive_message()
                .queue_url(&queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            assert_eq!(received.messages().len(), 3);
            let err = client
                .get_queue_url()
                .queue_name("missing")
                .send()
                .await
                .unwrap_err();
            (queue_url, message_id, err.code().map(str::to_owned))
        })
        .await;
    let trace_id = ctx.trace_id().unwrap().to_string();
    ctx.end();

    let doc = the_document(&capture);
    let subs = subsegments(&doc);
    let ops = [
        "CreateQueue",
        "SendMessage",
        "SendMessageBatch",
        "ReceiveMessage",
        "GetQueueUrl",
    ];
    assert_eq!(subs.len(), ops.len(), "{doc}");
    for (sub, op) in subs.iter().zip(ops) {
        check_call(sub, "SQS", op);
    }
    check_headers(&sent.take(), subs, &trace_id);
    let [create, send, batch, receive, missing] = &subs[..] else {
        unreachable!()
    };
    check_ok(create);
    assert_eq!(create["aws"]["queue_name"], "jobs");
    check_ok(send);
    assert_eq!(send["aws"]["queue_url"], queue_url.as_str());
    assert_eq!(send["aws"]["message_id"], message_id.as_str());
    assert_eq!(send["aws"]["delay_seconds"], 0);
    assert_eq!(
        send["aws"]["message_attribute_names"],
        serde_json::json!(["kind"])
    );
    check_ok(batch);
    assert_eq!(batch["aws"]["message_count"], 2);
    assert_eq!(batch["aws"]["successful_count"], 2);
    check_ok(receive);
    assert_eq!(receive["aws"]["message_count"], 3);
    assert_eq!(receive["aws"]["max_number_of_messages"], 10);
    let code = missing_code.expect("the SDK names the error");
    check_service_error(missing, 400, &code);
    assert_eq!(missing["aws"]["queue_name"], "missing");
}
