//! The recorder fuzz target's oracles for JSON: a strict parser and AWS's segment document
//! schema. A crate of their own so that the fuzz workspace can build them (and the generic
//! serde_json code they instantiate) without coverage instrumentation: libFuzzer's work per
//! execution grows with the instrumented code each input runs, and the checker's parsing is not
//! what is under test.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::sync::OnceLock;

/// Parses one JSON document strictly (a duplicate key in any object or a non-finite number is
/// an error, and nothing may follow the value), with no nesting limit.
pub fn strict_json(text: &str) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    let doc = Strict::deserialize(&mut de)?;
    de.end()?;
    Ok(doc.0)
}

/// The first schema errors of `doc` against `spec/segment-document-schema.json` (draft 4),
/// or `None` if it is valid.
pub fn schema_errors(doc: &Value) -> Option<Vec<String>> {
    // `is_valid` stops at the first error and builds none; the errors only for the report.
    if schema().is_valid(doc) {
        return None;
    }
    Some(
        schema()
            .iter_errors(doc)
            .take(5)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect(),
    )
}

/// A JSON value parsed strictly: a duplicate key in any object or a non-finite number is an
/// error. One pass builds the tree the checks read.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = a.next_element::<Strict>()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
        let mut map = serde_json::Map::new();
        while let Some(k) = a.next_key::<String>()? {
            let Strict(v) = a.next_value::<Strict>()?;
            if map.insert(k, v).is_some() {
                return Err(de::Error::custom("duplicate key"));
            }
        }
        Ok(Value::Object(map))
    }
}

/// Compiles the schema now (it is compiled once, on first use): fuzz targets call this in
/// their `init`, so that no execution pays for it and measurements per execution leave it out.
pub fn init() {
    schema();
}

/// The schema, compiled once.
fn schema() -> &'static jsonschema::Validator {
    static SCHEMA: OnceLock<jsonschema::Validator> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let text = include_str!("../../../spec/segment-document-schema.json");
        let schema: Value = serde_json::from_str(text).expect("schema is JSON");
        jsonschema::draft4::new(&schema).expect("schema compiles")
    })
}
