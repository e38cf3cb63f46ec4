//! Shared code for the examples: [`shop`], the small traced system the `demo` and
//! `axum_service` binaries run.

pub mod shop;
