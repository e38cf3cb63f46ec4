//! An AWS Lambda function (`lambda_runtime`) traced with xray-std's Lambda integration.
//!
//! Lambda writes the function's own segment; each invocation's trace header (the runtime's
//! `Lambda-Runtime-Trace-Id`) names it, and [`lambda::service_fn`] hands the handler a
//! [`TraceContext`] under it. Every subsegment the handler records is sent, as soon as it
//! ends, to `AWS_XRAY_DAEMON_ADDRESS` (set by Lambda when tracing is active, by the test
//! script to `xray-view` under cargo-lambda's emulator).
//!
//! The handler validates an order (`validate-order`), writes it in a database-like
//! subsegment with a nested query (`orders-db` → `insert-order`) and, for an order with no
//! items, records the error and fails the invocation.
//!
//! Build, deploy and run locally: see `examples/lambda/README.md`.

use std::fmt;

use lambda_runtime::{Diagnostic, Error, LambdaEvent};
use serde::{Deserialize, Serialize};
use xray_std::model::Sql;
use xray_std::{TraceContext, lambda};

/// The invocation's payload.
#[derive(Deserialize)]
struct Order {
    order_id: u32,
    customer: String,
    #[serde(default)]
    items: Vec<String>,
}

/// The function's answer.
#[derive(Serialize)]
struct Receipt {
    order_id: u32,
    items: usize,
    trace_id: Option<String>,
}

/// An order the function refuses: it has no items.
#[derive(Debug)]
struct EmptyOrder(u32);

impl fmt::Display for EmptyOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "order {} has no items", self.0)
    }
}

impl std::error::Error for EmptyOrder {}

/// What Lambda reports for the failed invocation (`errorType`, `errorMessage`).
impl From<EmptyOrder> for Diagnostic {
    fn from(e: EmptyOrder) -> Self {
        Diagnostic {
            error_type: "EmptyOrder".to_owned(),
            error_message: e.to_string(),
        }
    }
}

async fn handler(event: LambdaEvent<Order>, xray: TraceContext) -> Result<Receipt, EmptyOrder> {
    let order = event.payload;
    {
        let validate = xray.subsegment("validate-order");
        validate.annotate("customer", order.customer.as_str());
        validate.annotate("items", order.items.len() as u32);
        if order.items.is_empty() {
            let error = EmptyOrder(order.order_id);
            validate.error(&error);
            return Err(error);
        }
    }
    {
        let db = xray.subsegment("orders-db");
        db.namespace("remote");
        db.sql(&Sql {
            url: Some("postgresql://db.internal:5432/orders"),
            database_type: Some("PostgreSQL"),
            sanitized_query: Some("INSERT INTO orders (id, customer) VALUES ($1, $2)"),
            ..Sql::default()
        });
        let insert = db.subsegment("insert-order");
        insert.annotate("order_id", order.order_id);
    }
    Ok(Receipt {
        order_id: order.order_id,
        items: order.items.len(),
        trace_id: xray.trace_id().map(|t| t.to_string()),
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let tracer = lambda::tracer_from_env()?;
    lambda_runtime::run(lambda::service_fn(tracer, handler)).await
}
