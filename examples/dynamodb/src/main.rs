//! xray-std's AWS SDK interceptor on DynamoDB (`aws-sdk-dynamodb`), run against a local
//! DynamoDB: `moto_server` (`pip install 'moto[server]'`) on 127.0.0.1.
//!
//! One traced request (`orders-worker`) creates a table, writes an item, reads it back and
//! reads from a table that does not exist. Each operation is a `DynamoDB` subsegment in
//! namespace `aws` with the operation, region, request id, HTTP status and the parameters the
//! official X-Ray SDKs record (`table_name`, `consistent_read`…); the failing one carries the
//! service's `ResourceNotFoundException` as its exception type (remote, `error`). Segments go to
//! `AWS_XRAY_DAEMON_ADDRESS` (default 127.0.0.1:2000): the X-Ray daemon, or `xray-view`.
//!
//! ```text
//! moto_server -H 127.0.0.1 -p 5000 &
//! cargo run -p xray-view &
//! DYNAMODB_ENDPOINT=http://127.0.0.1:5000 cargo run -p xray-example-dynamodb
//! ```
//!
//! The credentials are dummies (moto accepts any) and the endpoint must be given: the example
//! never talks to AWS. Against real DynamoDB, use `aws-config` for credentials and region
//! and keep the SDK's default features (TLS).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use xray_std::Tracer;
use xray_std::integrations::aws_sdk::XRayInterceptor;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = std::env::var("DYNAMODB_ENDPOINT").map_err(
        |_| "set DYNAMODB_ENDPOINT to the local DynamoDB (moto_server), e.g. http://127.0.0.1:5000",
    )?;
    // Every request sampled, for the example; a service keeps the default rules.
    let tracer = Tracer::from_env("orders-worker")?.always_sample().build();

    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "testing", "testing", None, None, "example",
        ))
        .endpoint_url(&endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .interceptor(XRayInterceptor::new())
        .build();
    let dynamodb = Client::from_conf(config);

    let trace = tracer.begin(None);
    trace.annotate("job", "import-orders");
    let outcome = trace.clone().scope(work(&dynamodb)).await;
    if let Err(e) = &outcome {
        trace.error(e);
    }
    let trace_id = trace.trace_id();
    drop(trace); // the segment, with its four DynamoDB subsegments, is sent here

    println!(
        "trace {}: {} datagrams sent to the daemon",
        trace_id.map(|t| t.to_string()).unwrap_or_default(),
        tracer.stats().datagrams
    );
    outcome
}

/// Creates the table, writes and reads an item, and reads from a missing table.
async fn work(dynamodb: &Client) -> Result<(), Box<dyn std::error::Error>> {
    dynamodb
        .create_table()
        .table_name("orders")
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()?,
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()?,
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await?;
    dynamodb
        .put_item()
        .table_name("orders")
        .item("id", AttributeValue::S("1042".into()))
        .item("customer", AttributeValue::S("acme-corp".into()))
        .send()
        .await?;
    let item = dynamodb
        .get_item()
        .table_name("orders")
        .key("id", AttributeValue::S("1042".into()))
        .send()
        .await?;
    println!(
        "GetItem orders/1042: {:?}",
        item.item().and_then(|i| i.get("customer"))
    );
    // The service answers 400 ResourceNotFoundException: recorded on the subsegment.
    match dynamodb
        .get_item()
        .table_name("archived-orders")
        .key("id", AttributeValue::S("1042".into()))
        .send()
        .await
    {
        Ok(_) => Err("GetItem on a missing table succeeded".into()),
        Err(e) => {
            println!("GetItem archived-orders: {}", e.into_service_error());
            Ok(())
        }
    }
}
