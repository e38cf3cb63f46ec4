//! Logging shim: `defmt` when the `defmt` feature is on, nothing otherwise.
#![allow(unused_macros)]

macro_rules! log_warn {
    ($($arg:tt)*) => {{
        #[cfg(feature = "defmt")]
        ::defmt::warn!($($arg)*);
    }};
}

macro_rules! log_debug {
    ($($arg:tt)*) => {{
        #[cfg(feature = "defmt")]
        ::defmt::debug!($($arg)*);
    }};
}

pub(crate) use {log_debug, log_warn};
