//! Annotation values and keys (indexed by X-Ray for filter expressions).

/// The longest annotation key the schema accepts.
pub const MAX_ANNOTATION_KEY_LEN: usize = 500;

/// The value of an annotation: X-Ray indexes strings, numbers and booleans only.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AnnotationValue<'a> {
    /// A string (cut to 1,000 characters).
    Str(&'a str),
    /// An integer.
    Int(i64),
    /// A finite float. NaN and infinities are rejected when recorded.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl<'a> From<&'a str> for AnnotationValue<'a> {
    fn from(v: &'a str) -> Self {
        AnnotationValue::Str(v)
    }
}

impl From<bool> for AnnotationValue<'_> {
    fn from(v: bool) -> Self {
        AnnotationValue::Bool(v)
    }
}

impl From<f64> for AnnotationValue<'_> {
    fn from(v: f64) -> Self {
        AnnotationValue::Float(v)
    }
}

impl From<f32> for AnnotationValue<'_> {
    fn from(v: f32) -> Self {
        AnnotationValue::Float(f64::from(v))
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for AnnotationValue<'_> {
            fn from(v: $t) -> Self {
                AnnotationValue::Int(i64::from(v))
            }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);

/// Whether `key` is a valid annotation key: 1 to 500 of `[A-Za-z0-9_]` (the schema's rule;
/// other keys make X-Ray reject the document).
pub fn valid_annotation_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_ANNOTATION_KEY_LEN
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_schema_pattern() {
        assert!(valid_annotation_key("order_count_2"));
        assert!(!valid_annotation_key(""));
        assert!(!valid_annotation_key("a.b"));
        assert!(!valid_annotation_key("a b"));
        assert!(!valid_annotation_key("é"));
        assert!(valid_annotation_key(&"k".repeat(500)));
        assert!(!valid_annotation_key(&"k".repeat(501)));
    }

    #[test]
    fn conversions() {
        assert_eq!(AnnotationValue::from(42u32), AnnotationValue::Int(42));
        assert_eq!(AnnotationValue::from("x"), AnnotationValue::Str("x"));
        assert_eq!(AnnotationValue::from(true), AnnotationValue::Bool(true));
    }
}
