//! How much of an outside value an error message or a log line repeats.
//!
//! Configuration comes from environment variables and files, and answers from the network:
//! any of them can be megabytes. Errors name the value so that it can be found and fixed, and
//! they are often logged, so every message that repeats outside input cuts it with
//! [`echoed`] at one documented bound.

/// The most characters of an outside value that an error message or a log line of this crate
/// repeats. A longer value is cut at this many characters and followed by `...`.
pub const MAX_ECHOED_CHARS: usize = 1024;

/// `value` as error messages repeat it: cut after [`MAX_ECHOED_CHARS`] characters (at a char
/// boundary), with `...` after a cut.
pub(crate) fn echoed(value: &str) -> String {
    match value.char_indices().nth(MAX_ECHOED_CHARS) {
        Some((cut, _)) => format!("{}...", value.get(..cut).unwrap_or_default()),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_up_to_the_bound_are_kept_whole() {
        let at_bound = "é".repeat(MAX_ECHOED_CHARS);
        assert_eq!(echoed(&at_bound), at_bound);
        assert_eq!(echoed(""), "");
    }

    #[test]
    fn longer_values_are_cut_at_a_char_boundary_and_marked() {
        let long = "é".repeat(MAX_ECHOED_CHARS + 1);
        let cut = echoed(&long);
        assert!(cut.ends_with("..."));
        assert_eq!(cut.chars().count(), MAX_ECHOED_CHARS + 3);
        let megabyte = "x".repeat(1 << 20);
        assert_eq!(echoed(&megabyte).len(), MAX_ECHOED_CHARS + 3);
    }
}
