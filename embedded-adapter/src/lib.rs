//! embassy-net adapter for `xray-core`.
#![no_std]
