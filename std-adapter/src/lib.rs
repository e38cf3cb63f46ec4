//! std adapter for `xray-core`.
