//! The field convention: how a span's fields are recorded on its subsegment.
//!
//! In the order they are tried:
//!
//! 1. `otel.name`: the subsegment's name instead of the span's (read when the span is
//!    created; a later `Span::record` of it cannot rename a subsegment already begun).
//! 2. `otel.kind` = `client` or `producer`: namespace `remote`. `otel.status_code` = `error`
//!    (any case): the `fault` flag.
//! 3. OpenTelemetry semantic-convention fields (`http.*`, `url.full`, `db.*`, `rpc.*`, …):
//!    the X-Ray blocks, as [`super::semconv`] lists.
//! 4. `metadata.<key>`: metadata `<key>` (namespace `default`), whatever the value.
//! 5. `xray.*` (the ids [`log_correlation`](crate::integrations::log_correlation) puts on
//!    spans): left out; they are the subsegment's own ids.
//! 6. Any other field whose name is a valid annotation key (`[A-Za-z0-9_]`, up to 500) and
//!    whose value is a string, a bool, an integer within `i64`, or a finite float: an
//!    annotation (indexed, searchable in X-Ray). Past the recorder's cap on annotations a
//!    trace (`RecorderConfig::max_annotations`, 50 by default) it goes to metadata instead,
//!    so the value is still in the trace.
//! 7. Everything else (dotted names, `Debug`/`Display` values, `u64` above `i64::MAX`, `i128`,
//!    NaN, errors): metadata under the field's name, numbers as numbers and other values as
//!    their formatted text (cut at 1 KiB).
//!
//! Fields recorded later with `Span::record` follow the same rules.

use std::cell::Cell;
use std::fmt;

use tracing::field::{Field, Visit};
use xray_core::Outcome;
use xray_core::model::{AnnotationKey, AnnotationValue};
use xray_core::recorder::Rejection;

use super::semconv::{self, Collected};
use crate::context::{Held, format_into};

/// Records the fields of a span on a handle, keeping semantic-convention values in
/// `collected`. The recorder stays locked from one field to the next (one lock for a span's
/// fields, not one per field), except while a `Debug` value is formatted: that is the
/// user's code, which may record on the same trace.
pub(crate) struct SpanFields<'a> {
    pub(crate) held: Held<'a>,
    pub(crate) collected: &'a mut Option<Box<Collected>>,
    /// A semantic-convention value arrived: the blocks must be (re)applied.
    pub(crate) blocks_changed: bool,
}

/// What a field name asks for, before its value is looked at.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route<'n> {
    /// Read elsewhere (`otel.name`) or left out (`xray.*`).
    Skip,
    /// `otel.kind`.
    Kind,
    /// `otel.status_code`.
    Status,
    /// A semantic-convention slot.
    Semconv(semconv::Slot),
    /// Metadata under this key.
    Metadata(&'n str),
    /// An annotation if the value is a scalar, else metadata.
    Annotation(AnnotationKey<'n>),
}

/// Annotation keys this thread has checked, found by the address of their text.
const KNOWN_KEYS: usize = 64;

thread_local! {
    /// A field's name is its callsite's `&'static str`: the same address and length is the
    /// same text for the life of the program, so a name checked once (a look at every byte)
    /// is known by where it is. One entry per slot, the last name checked there.
    static KNOWN: [Cell<Option<AnnotationKey<'static>>>; KNOWN_KEYS] =
        const { [const { Cell::new(None) }; KNOWN_KEYS] };
}

/// [`AnnotationKey::new`] for a field's name, remembered per thread (see [`KNOWN`]).
fn annotation_key(name: &'static str) -> Option<AnnotationKey<'static>> {
    let at = name.as_ptr() as usize;
    let slot = (at ^ (at >> 7) ^ name.len()) % KNOWN_KEYS;
    let same = |k: &AnnotationKey<'static>| {
        let k = k.as_str();
        k.as_ptr() == name.as_ptr() && k.len() == name.len()
    };
    let known = KNOWN.try_with(|known| {
        let cell = &known[slot];
        match cell.get() {
            Some(key) if same(&key) => Some(key),
            _ => {
                let key = AnnotationKey::new(name)?;
                cell.set(Some(key));
                Some(key)
            }
        }
    });
    // During thread teardown: checked, not remembered.
    known.unwrap_or_else(|_| AnnotationKey::new(name))
}

/// The route of a field name (steps 1 to 7 of the module docs, the value aside).
#[inline(always)]
pub(crate) fn route(name: &'static str) -> Route<'static> {
    // Most fields are plain keys: a valid key has no dot, so none of the names below.
    if let Some(key) = annotation_key(name) {
        return Route::Annotation(key);
    }
    match name {
        "otel.name" => return Route::Skip,
        "otel.kind" => return Route::Kind,
        "otel.status_code" => return Route::Status,
        _ => {}
    }
    if let Some(slot) = semconv::slot(name) {
        return Route::Semconv(slot);
    }
    if let Some(key) = name.strip_prefix("metadata.") {
        return Route::Metadata(key);
    }
    if name.starts_with("xray.") {
        return Route::Skip;
    }
    Route::Metadata(name)
}

impl SpanFields<'_> {
    /// An annotation, or metadata once the trace has as many annotations as it may hold.
    #[inline(always)]
    fn annotate(&mut self, key: AnnotationKey<'_>, value: AnnotationValue<'_>) {
        let out = self
            .held
            .with_recorder(|rec, id| rec.annotate_key(id, key, value));
        if !matches!(out, Some(Outcome::Rejected(Rejection::TooManyAnnotations))) {
            return;
        }
        let key = key.as_str();
        match value {
            AnnotationValue::Str(v) => self.held.metadata(key, v),
            AnnotationValue::Int(v) => self.held.metadata(key, &v),
            AnnotationValue::Float(v) => self.held.metadata(key, &v),
            AnnotationValue::Bool(v) => self.held.metadata(key, &v),
        }
    }

    fn semconv(&mut self, slot: semconv::Slot, value: String) {
        self.collected
            .get_or_insert_with(Default::default)
            .set(slot, value);
        self.blocks_changed = true;
    }

    /// A string value (also the formatted text of `Debug` values).
    fn text(&mut self, field: &Field, value: &str, scalar: bool) {
        match route(field.name()) {
            Route::Skip => {}
            Route::Kind => {
                if value.eq_ignore_ascii_case("client") || value.eq_ignore_ascii_case("producer") {
                    self.held.namespace("remote");
                }
            }
            Route::Status => {
                if value.eq_ignore_ascii_case("error") {
                    self.held.fault();
                }
            }
            Route::Semconv(slot) => self.semconv(slot, value.to_owned()),
            Route::Annotation(key) if scalar => self.annotate(key, value.into()),
            Route::Annotation(key) => self.held.metadata(key.as_str(), value),
            Route::Metadata(key) => self.held.metadata(key, value),
        }
    }

    /// A number (`Int` or `Float` annotation, or metadata).
    fn number<T>(&mut self, field: &Field, value: T, annotation: Option<AnnotationValue<'_>>)
    where
        T: serde::Serialize + fmt::Display,
    {
        match route(field.name()) {
            Route::Semconv(slot) => self.semconv(slot, value.to_string()),
            Route::Annotation(key) if annotation.is_some() => {
                if let Some(v) = annotation {
                    self.annotate(key, v);
                }
            }
            Route::Annotation(key) => self.held.metadata(key.as_str(), &value),
            Route::Metadata(key) => self.held.metadata(key, &value),
            Route::Skip | Route::Kind | Route::Status => {}
        }
    }
}

impl Visit for SpanFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, value, true);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        match route(field.name()) {
            Route::Annotation(key) => self.annotate(key, value.into()),
            Route::Metadata(key) => self.held.metadata(key, &value),
            Route::Semconv(slot) => self.semconv(slot, value.to_string()),
            Route::Skip | Route::Kind | Route::Status => {}
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.number(field, value, Some(value.into()));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        let annotation = i64::try_from(value).ok().map(Into::into);
        self.number(field, value, annotation);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        let annotation = value.is_finite().then_some(value.into());
        if value.is_finite() {
            self.number(field, value, annotation);
        } else {
            // JSON has no NaN or infinity: kept as text.
            let mut buf = [0u8; 16];
            self.text(field, format_into(&mut buf, format_args!("{value}")), false);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if route(field.name()) == Route::Skip {
            return;
        }
        // The user's `Debug` runs with the recorder unlocked.
        self.held.release();
        let mut buf = [0u8; 1024];
        self.text(
            field,
            format_into(&mut buf, format_args!("{value:?}")),
            false,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use semconv::Slot;

    #[test]
    fn routes_follow_the_documented_order() {
        assert_eq!(route("otel.name"), Route::Skip);
        assert_eq!(route("otel.kind"), Route::Kind);
        assert_eq!(route("otel.status_code"), Route::Status);
        assert_eq!(
            route("http.request.method"),
            Route::Semconv(Slot::HttpMethod)
        );
        assert_eq!(route("db.statement"), Route::Semconv(Slot::DbQuery));
        assert_eq!(route("metadata.cart"), Route::Metadata("cart"));
        assert_eq!(route("metadata.order_id"), Route::Metadata("order_id"));
        assert_eq!(route("xray.trace_id"), Route::Skip);
        assert_eq!(
            route("order_id"),
            Route::Annotation(AnnotationKey::new("order_id").unwrap())
        );
        assert_eq!(route("user.id"), Route::Metadata("user.id"));
        assert_eq!(route("naïve"), Route::Metadata("naïve"));
        let long: &'static str = "k".repeat(501).leak();
        assert_eq!(route(long), Route::Metadata(long));
    }

    #[test]
    fn a_remembered_key_is_told_apart_from_names_at_the_same_address() {
        // One text, three names starting at its first byte.
        const TEXT: &str = "order_id.v2";
        let (key, dotted, short) = (&TEXT[..8], TEXT, &TEXT[..5]);
        for _ in 0..3 {
            assert_eq!(
                route(key),
                Route::Annotation(AnnotationKey::new(key).unwrap())
            );
            assert_eq!(route(dotted), Route::Metadata(dotted));
            assert_eq!(
                route(short),
                Route::Annotation(AnnotationKey::new(short).unwrap())
            );
        }
        // More names than the thread remembers: each still routed as when first seen.
        let names: Vec<&'static str> = (0..3 * KNOWN_KEYS)
            .map(|i| -> &'static str { format!("key_{i}").leak() })
            .collect();
        for _ in 0..2 {
            for name in &names {
                assert_eq!(
                    route(name),
                    Route::Annotation(AnnotationKey::new(name).unwrap())
                );
            }
        }
        assert_eq!(route("not a key"), Route::Metadata("not a key"));
    }
}
