//! Metadata values (`serde::Serialize`) written as JSON into a sink, the way serde_json writes
//! them: strings and map keys escaped like every string the core writes, integer and bool map
//! keys quoted, `char` as a one-character string, bytes as an array of numbers, NaN and
//! infinities as `null`, enum variants as `"name"` or `{"name": …}`.
//!
//! serde-json-core's serializer could not be used for this: it panics on `char`
//! (`unreachable!()`), writes map keys unescaped and integer keys unquoted, and copies byte
//! strings into the output raw, each of which either panics or breaks the document (found by
//! the `recorder` fuzz target). Finite floats are still formatted by it (ryu), through
//! [`json::f64`].

use crate::json;
use crate::sink::{Full, Sink, SliceSink};
use core::fmt;
use serde::ser::{self, Serialize};

/// Values nested deeper than this are refused ([`SerializeError::TooDeep`]).
pub(crate) const MAX_DEPTH: u32 = 64;

/// Why a metadata value could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SerializeError {
    /// The sink is full.
    Full,
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A map key that is not a string, a character, an integer or a bool.
    KeyNotString,
    /// The value's `Serialize` implementation reported an error.
    Custom,
}

impl From<Full> for SerializeError {
    fn from(_: Full) -> Self {
        SerializeError::Full
    }
}

impl fmt::Display for SerializeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SerializeError::Full => "no room left",
            SerializeError::TooDeep => "nested too deep",
            SerializeError::KeyNotString => "map key is not a string, number or bool",
            SerializeError::Custom => "the value failed to serialize",
        })
    }
}

impl core::error::Error for SerializeError {}

impl ser::Error for SerializeError {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        SerializeError::Custom
    }
}

type Result<T = ()> = core::result::Result<T, SerializeError>;

/// Writes `value` as JSON into `sink`.
pub(crate) fn to_sink<T: Serialize + ?Sized>(value: &T, sink: &mut SliceSink<'_>) -> Result {
    value.serialize(&mut JsonSerializer { sink, depth: 0 })
}

/// A `serde::Serializer` writing JSON into a [`SliceSink`].
pub(crate) struct JsonSerializer<'a, 's> {
    sink: &'a mut SliceSink<'s>,
    depth: u32,
}

impl JsonSerializer<'_, '_> {
    fn write(&mut self, bytes: &[u8]) -> Result {
        Ok(self.sink.write(bytes)?)
    }

    fn byte(&mut self, b: u8) -> Result {
        Ok(self.sink.byte(b)?)
    }

    fn string(&mut self, text: &str) -> Result {
        self.byte(b'"')?;
        json::escaped(self.sink, text)?;
        self.byte(b'"')
    }

    fn open(&mut self, bracket: &'static [u8]) -> Result {
        if self.depth == MAX_DEPTH {
            return Err(SerializeError::TooDeep);
        }
        self.depth += 1;
        self.write(bracket)
    }

    /// `{"variant":` before a variant's content.
    fn open_variant(&mut self, variant: &str) -> Result {
        self.open(b"{")?;
        self.string(variant)?;
        self.byte(b':')
    }

    fn compound<'b>(&'b mut self, close: &'static [u8]) -> Compound<'b, Self> {
        Compound {
            ser: self,
            first: true,
            close,
        }
    }
}

/// A sequence, map or struct being written; `close` ends it (`]`, `}` or `]}`/`}}` after a
/// variant's content).
pub(crate) struct Compound<'b, S> {
    ser: &'b mut S,
    first: bool,
    close: &'static [u8],
}

impl<'a, 's> Compound<'_, JsonSerializer<'a, 's>> {
    fn separator(&mut self) -> Result {
        if core::mem::take(&mut self.first) {
            Ok(())
        } else {
            self.ser.byte(b',')
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        self.separator()?;
        value.serialize(&mut *self.ser)
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result {
        self.separator()?;
        self.ser.string(key)?;
        self.ser.byte(b':')?;
        value.serialize(&mut *self.ser)
    }

    fn finish(self) -> Result {
        self.ser.depth -= 1;
        self.ser.write(self.close)
    }
}

/// Writes integers through `json::u64`/`json::i64`, or digit by digit for 128 bits.
fn write_u128(sink: &mut SliceSink<'_>, mut v: u128) -> Result {
    if let Ok(small) = u64::try_from(v) {
        return Ok(json::u64(sink, small)?);
    }
    let mut digits = [0u8; 39];
    let mut at = digits.len();
    while v > 0 {
        at -= 1;
        digits[at] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    Ok(sink.write(&digits[at..])?)
}

/// Writes a `Display` value as an escaped JSON string body.
struct EscapingWriter<'a, 's> {
    sink: &'a mut SliceSink<'s>,
    full: bool,
}

impl fmt::Write for EscapingWriter<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        json::escaped(self.sink, s).map_err(|_| {
            self.full = true;
            fmt::Error
        })
    }
}

impl<'b, 'a, 's> ser::Serializer for &'b mut JsonSerializer<'a, 's> {
    type Ok = ();
    type Error = SerializeError;
    type SerializeSeq = Compound<'b, JsonSerializer<'a, 's>>;
    type SerializeTuple = Compound<'b, JsonSerializer<'a, 's>>;
    type SerializeTupleStruct = Compound<'b, JsonSerializer<'a, 's>>;
    type SerializeTupleVariant = Compound<'b, JsonSerializer<'a, 's>>;
    type SerializeMap = Compound<'b, JsonSerializer<'a, 's>>;
    type SerializeStruct = Compound<'b, JsonSerializer<'a, 's>>;
    type SerializeStructVariant = Compound<'b, JsonSerializer<'a, 's>>;

    fn serialize_bool(self, v: bool) -> Result {
        Ok(json::bool(self.sink, v)?)
    }
    fn serialize_i8(self, v: i8) -> Result {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i16(self, v: i16) -> Result {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i32(self, v: i32) -> Result {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i64(self, v: i64) -> Result {
        Ok(json::i64(self.sink, v)?)
    }
    fn serialize_i128(self, v: i128) -> Result {
        if v < 0 {
            self.byte(b'-')?;
        }
        write_u128(self.sink, v.unsigned_abs())
    }
    fn serialize_u8(self, v: u8) -> Result {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u16(self, v: u16) -> Result {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u32(self, v: u32) -> Result {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u64(self, v: u64) -> Result {
        Ok(json::u64(self.sink, v)?)
    }
    fn serialize_u128(self, v: u128) -> Result {
        write_u128(self.sink, v)
    }
    fn serialize_f32(self, v: f32) -> Result {
        // serde-json-core writes f32 in its own shortest form (as serde_json does).
        let mut buf = [0u8; 24];
        match serde_json_core::to_slice(&v, &mut buf) {
            Ok(n) if v.is_finite() => self.write(&buf[..n]),
            _ => self.write(b"null"),
        }
    }
    fn serialize_f64(self, v: f64) -> Result {
        if json::f64(self.sink, v)? {
            Ok(())
        } else {
            self.write(b"null")
        }
    }
    fn serialize_char(self, v: char) -> Result {
        let mut buf = [0u8; 4];
        self.string(v.encode_utf8(&mut buf))
    }
    fn serialize_str(self, v: &str) -> Result {
        self.string(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result {
        // As serde_json: an array of numbers.
        let mut seq = ser::Serializer::serialize_seq(self, Some(v.len()))?;
        for b in v {
            ser::SerializeSeq::serialize_element(&mut seq, b)?;
        }
        ser::SerializeSeq::end(seq)
    }
    fn serialize_none(self) -> Result {
        self.write(b"null")
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result {
        self.write(b"null")
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result {
        self.write(b"null")
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result {
        self.string(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result {
        self.open_variant(variant)?;
        value.serialize(&mut *self)?;
        self.depth -= 1;
        self.byte(b'}')
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq> {
        self.open(b"[")?;
        Ok(self.compound(b"]"))
    }
    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        self.open_variant(variant)?;
        self.open(b"[")?;
        // The variant's object closes with the array; its depth is released in `finish`.
        self.depth -= 1;
        Ok(self.compound(b"]}"))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap> {
        self.open(b"{")?;
        Ok(self.compound(b"}"))
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Self::SerializeStruct> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        self.open_variant(variant)?;
        self.open(b"{")?;
        self.depth -= 1;
        Ok(self.compound(b"}}"))
    }
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result {
        self.byte(b'"')?;
        let mut w = EscapingWriter {
            sink: self.sink,
            full: false,
        };
        if fmt::write(&mut w, format_args!("{value}")).is_err() {
            return Err(if w.full {
                SerializeError::Full
            } else {
                SerializeError::Custom
            });
        }
        self.byte(b'"')
    }
}

macro_rules! compound_elements {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Compound<'_, JsonSerializer<'_, '_>> {
            type Ok = ();
            type Error = SerializeError;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
                self.element(value)
            }
            fn end(self) -> Result {
                self.finish()
            }
        }
    )*};
}
compound_elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

macro_rules! compound_fields {
    ($($trait:ident),*) => {$(
        impl ser::$trait for Compound<'_, JsonSerializer<'_, '_>> {
            type Ok = ();
            type Error = SerializeError;
            fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result {
                self.field(key, value)
            }
            fn end(self) -> Result {
                self.finish()
            }
        }
    )*};
}
compound_fields!(SerializeStruct, SerializeStructVariant);

impl ser::SerializeMap for Compound<'_, JsonSerializer<'_, '_>> {
    type Ok = ();
    type Error = SerializeError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result {
        self.separator()?;
        key.serialize(MapKey {
            ser: &mut *self.ser,
        })?;
        self.ser.byte(b':')
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> Result {
        self.finish()
    }
}

/// Map keys: strings and characters as they are, integers (128-bit ones too) and bools quoted
/// as decimal text (as serde_json);
/// anything else is [`SerializeError::KeyNotString`].
struct MapKey<'b, 'a, 's> {
    ser: &'b mut JsonSerializer<'a, 's>,
}

impl MapKey<'_, '_, '_> {
    fn quoted(
        self,
        write: impl FnOnce(&mut SliceSink<'_>) -> core::result::Result<(), Full>,
    ) -> Result {
        self.ser.byte(b'"')?;
        write(self.ser.sink)?;
        self.ser.byte(b'"')
    }
}

/// Rejects a key type that JSON cannot carry.
macro_rules! not_a_key {
    ($($method:ident($($arg:ty),*)),*) => {$(
        fn $method(self, $(_: $arg),*) -> Result { Err(SerializeError::KeyNotString) }
    )*};
}

impl ser::Serializer for MapKey<'_, '_, '_> {
    type Ok = ();
    type Error = SerializeError;
    type SerializeSeq = ser::Impossible<(), SerializeError>;
    type SerializeTuple = ser::Impossible<(), SerializeError>;
    type SerializeTupleStruct = ser::Impossible<(), SerializeError>;
    type SerializeTupleVariant = ser::Impossible<(), SerializeError>;
    type SerializeMap = ser::Impossible<(), SerializeError>;
    type SerializeStruct = ser::Impossible<(), SerializeError>;
    type SerializeStructVariant = ser::Impossible<(), SerializeError>;

    fn serialize_str(self, v: &str) -> Result {
        self.ser.string(v)
    }
    fn serialize_char(self, v: char) -> Result {
        let mut buf = [0u8; 4];
        self.ser.string(v.encode_utf8(&mut buf))
    }
    fn serialize_bool(self, v: bool) -> Result {
        self.quoted(|s| json::bool(s, v))
    }
    fn serialize_i8(self, v: i8) -> Result {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i16(self, v: i16) -> Result {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i32(self, v: i32) -> Result {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i64(self, v: i64) -> Result {
        self.quoted(|s| json::i64(s, v))
    }
    fn serialize_u8(self, v: u8) -> Result {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u16(self, v: u16) -> Result {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u32(self, v: u32) -> Result {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u64(self, v: u64) -> Result {
        self.quoted(|s| json::u64(s, v))
    }
    fn serialize_i128(self, v: i128) -> Result {
        self.ser.byte(b'"')?;
        if v < 0 {
            self.ser.byte(b'-')?;
        }
        write_u128(self.ser.sink, v.unsigned_abs())?;
        self.ser.byte(b'"')
    }
    fn serialize_u128(self, v: u128) -> Result {
        self.ser.byte(b'"')?;
        write_u128(self.ser.sink, v)?;
        self.ser.byte(b'"')
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result {
        self.ser.string(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result {
        value.serialize(self)
    }
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result {
        ser::Serializer::collect_str(self.ser, value)
    }
    not_a_key!(
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str)
    );
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result {
        Err(SerializeError::KeyNotString)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result {
        Err(SerializeError::KeyNotString)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq> {
        Err(SerializeError::KeyNotString)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple> {
        Err(SerializeError::KeyNotString)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        Err(SerializeError::KeyNotString)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(SerializeError::KeyNotString)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap> {
        Err(SerializeError::KeyNotString)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct> {
        Err(SerializeError::KeyNotString)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(SerializeError::KeyNotString)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use std::collections::BTreeMap;
    use std::string::String;
    use std::vec;
    use std::vec::Vec;

    fn ours<T: Serialize + ?Sized>(value: &T) -> core::result::Result<String, SerializeError> {
        let mut buf = vec![0u8; 4096];
        let mut sink = SliceSink::new(&mut buf);
        to_sink(value, &mut sink)?;
        Ok(String::from_utf8(sink.as_bytes().to_vec()).unwrap())
    }

    #[derive(Serialize)]
    enum E {
        Unit,
        New(u8),
        Tuple(u8, char),
        Struct { a: i128, b: Option<f32> },
    }

    #[derive(Serialize)]
    struct All<'a> {
        c: char,
        s: &'a str,
        #[serde(with = "serde_bytes_like")]
        bytes: &'a [u8],
        f: f64,
        nan: f64,
        big: u128,
        neg: i128,
        unit: (),
        e: Vec<E>,
        keys: BTreeMap<i32, bool>,
        bool_keys: BTreeMap<bool, u8>,
        char_keys: BTreeMap<char, u8>,
        str_keys: BTreeMap<&'a str, u8>,
    }

    mod serde_bytes_like {
        pub fn serialize<S: serde::Serializer>(
            v: &[u8],
            s: S,
        ) -> core::result::Result<S::Ok, S::Error> {
            s.serialize_bytes(v)
        }
    }

    #[test]
    fn agrees_with_serde_json_where_serde_json_core_breaks() {
        let value = All {
            c: '"',
            s: "a\"b\\\n\u{2028}",
            bytes: &[0, 255, 34],
            f: 1.5,
            nan: f64::NAN,
            big: u128::from(u64::MAX),
            neg: i128::from(i64::MIN),
            unit: (),
            e: vec![
                E::Unit,
                E::New(1),
                E::Tuple(2, 'x'),
                E::Struct {
                    a: -3,
                    b: Some(0.1),
                },
            ],
            keys: [(-1, true), (7, false)].into(),
            bool_keys: [(true, 1)].into(),
            char_keys: [('k', 2)].into(),
            str_keys: [("a\"b", 3)].into(),
        };
        let text = ours(&value).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        // serde_json's text (not `to_value`, which widens f32 to f64); it writes U+2028 raw,
        // which parses to the same string.
        let expected: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&value).unwrap()).unwrap();
        assert_eq!(parsed, expected, "{text}");
        assert!(text.contains("\\u2028") && !text.contains('\u{2028}'));
    }

    #[test]
    fn wide_integers_are_exact() {
        assert_eq!(
            ours(&u128::MAX).unwrap(),
            "340282366920938463463374607431768211455"
        );
        assert_eq!(
            ours(&i128::MIN).unwrap(),
            "-170141183460469231731687303715884105728"
        );
        assert_eq!(ours(&[1u128 << 64]).unwrap(), "[18446744073709551616]");
    }

    #[test]
    fn wide_integer_keys_are_quoted_as_serde_json_quotes_them() {
        let unsigned: BTreeMap<u128, u8> = [(0, 1), (u128::MAX, 2)].into();
        let signed: BTreeMap<i128, u8> = [(i128::MIN, 1), (-1, 2), (i128::MAX, 3)].into();
        for (ours, theirs) in [
            (
                ours(&unsigned).unwrap(),
                serde_json::to_string(&unsigned).unwrap(),
            ),
            (
                ours(&signed).unwrap(),
                serde_json::to_string(&signed).unwrap(),
            ),
        ] {
            assert_eq!(ours, theirs);
        }
        assert_eq!(
            ours(&unsigned).unwrap(),
            r#"{"0":1,"340282366920938463463374607431768211455":2}"#
        );
    }

    #[test]
    fn non_string_keys_and_deep_nesting_are_errors() {
        let float_keys: Vec<(f32, u8)> = vec![(1.5, 1)];
        struct FloatKeyMap(Vec<(f32, u8)>);
        impl Serialize for FloatKeyMap {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> core::result::Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(self.0.len()))?;
                for (k, v) in &self.0 {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }
        assert_eq!(
            ours(&FloatKeyMap(float_keys)),
            Err(SerializeError::KeyNotString)
        );
        let mut deep = serde_json::Value::Null;
        for _ in 0..(MAX_DEPTH + 1) {
            deep = serde_json::Value::Array(vec![deep]);
        }
        assert_eq!(ours(&deep), Err(SerializeError::TooDeep));
    }

    #[test]
    fn a_full_sink_is_an_error_not_a_panic() {
        let mut buf = [0u8; 8];
        let mut sink = SliceSink::new(&mut buf);
        assert_eq!(
            to_sink(&["a long string"], &mut sink),
            Err(SerializeError::Full)
        );
    }
}
