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
    (1..=MAX_ANNOTATION_KEY_LEN).contains(&key.len()) && all_key_bytes(key.as_bytes())
}

/// A key checked once to be a valid annotation key ([`valid_annotation_key`]), for code that
/// checks a key before it records it (to route other keys elsewhere, say) and need not have
/// the recorder check it again: see `Recorder::annotate_key`.
///
/// ```
/// use xray_core::model::AnnotationKey;
///
/// assert_eq!(AnnotationKey::new("order_id").map(|k| k.as_str()), Some("order_id"));
/// assert!(AnnotationKey::new("order.id").is_none());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnnotationKey<'a>(&'a str);

impl<'a> AnnotationKey<'a> {
    /// `key`, if it is a valid annotation key.
    #[inline]
    pub fn new(key: &'a str) -> Option<Self> {
        valid_annotation_key(key).then_some(AnnotationKey(key))
    }

    /// The key.
    pub fn as_str(self) -> &'a str {
        self.0
    }
}

/// Whether a byte may appear in an annotation key.
const fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether every byte is a key byte, checked one by one (the `small` feature).
#[cfg(feature = "small")]
fn all_key_bytes(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| is_key_byte(b))
}

/// Whether every byte is a key byte: [`is_key_byte`] as a table, eight loads and'ed per
/// branch.
#[cfg(not(feature = "small"))]
fn all_key_bytes(bytes: &[u8]) -> bool {
    const KEY_BYTE: [bool; 256] = byte_table!(|b| is_key_byte(b));
    let allowed = |ok: bool, &b: &u8| ok & KEY_BYTE[usize::from(b)];
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        if !chunk.iter().fold(true, allowed) {
            return false;
        }
    }
    chunks.remainder().iter().fold(true, allowed)
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
    fn a_checked_key_is_made_only_from_a_valid_key() {
        for key in ["order_count_2", "", "a.b", "a b", "é", "k"] {
            assert_eq!(
                AnnotationKey::new(key).map(AnnotationKey::as_str),
                valid_annotation_key(key).then_some(key),
                "{key:?}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn keys_agree_with_a_byte_by_byte_check(
            key in "[A-Za-z0-9_]{0,20}[^A-Za-z0-9_]?[A-Za-z0-9_]{0,20}|\\PC{0,30}",
            long in 495usize..505,
        ) {
            let want = |k: &str| {
                !k.is_empty() && k.len() <= 500 && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            };
            proptest::prop_assert_eq!(valid_annotation_key(&key), want(&key), "{:?}", key);
            let long = std::format!("{}{key}", &"k_9".repeat(long / 3 + 1)[..long]);
            proptest::prop_assert_eq!(valid_annotation_key(&long), want(&long));
        }
    }

    #[test]
    fn conversions() {
        assert_eq!(AnnotationValue::from(42u32), AnnotationValue::Int(42));
        assert_eq!(AnnotationValue::from("x"), AnnotationValue::Str("x"));
        assert_eq!(AnnotationValue::from(true), AnnotationValue::Bool(true));
    }
}
