//! Byte classes as tables built at compile time. A scan that looks each byte up costs one
//! load and no comparison; in fuzz builds, where every comparison calls the fuzzer's
//! tracing hook, that is most of what long inputs cost.

/// A `[bool; 256]`, `true` at each byte `b` for which the expression holds:
/// `byte_table!(|b| b.is_ascii_digit())`. The expression must be usable in a constant.
macro_rules! byte_table {
    (|$b:ident| $class:expr) => {{
        let mut table = [false; 256];
        let mut i = 0;
        while i < 256 {
            let $b = i as u8;
            table[i] = $class;
            i += 1;
        }
        table
    }};
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_table_holds_the_class_at_every_byte() {
        const DIGITS: [bool; 256] = byte_table!(|b| b.is_ascii_digit());
        for b in 0..=255u8 {
            assert_eq!(DIGITS[usize::from(b)], b.is_ascii_digit(), "byte {b}");
        }
    }
}
