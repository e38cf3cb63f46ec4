//! Secrets never leave the process: random secrets embedded in random valid forms of every
//! dialect, recorded through the real recorder; the whole datagram is searched for them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/secret_forms.rs"]
mod secret_forms;

use common::{Capture, StepClock, TestRng, check_datagram};
use proptest::prelude::*;
use secret_forms::{FORMS, Field, MARKS, SECRET_EXTRAS, embed, leaks};
use xray_core::model::sanitize::REDACTED;
use xray_core::model::{HttpRequest, Sql};
use xray_core::{Outcome, Recorder, RecorderConfig};

/// Records `text` into `field` of a subsegment, ends the trace, and returns the datagrams
/// and what the recording call said.
fn record(field: Field, text: &str) -> (Vec<Vec<u8>>, Outcome, u32) {
    let (clock, mut rng, mut out) = (StepClock::new(), TestRng(9), Capture::default());
    let keep_query = matches!(field, Field::HttpUrl { keep_query: true });
    let config = RecorderConfig::with_budget(4096).record_url_query(keep_query);
    let mut rec: Recorder<Vec<u8>> = Recorder::new(vec![0; 16_384], config);
    let seg = rec.begin_segment("svc", None, true, &clock, &mut rng);
    let sub = rec.begin_subsegment(seg, "db", &clock, &mut rng);
    let outcome = match field {
        Field::ConnectionString => rec.set_sql(
            sub,
            &Sql {
                connection_string: Some(text),
                ..Sql::default()
            },
        ),
        Field::SqlUrl => rec.set_sql(
            sub,
            &Sql {
                url: Some(text),
                ..Sql::default()
            },
        ),
        Field::HttpUrl { .. } => rec.set_http_request(
            sub,
            &HttpRequest {
                url: Some(text),
                ..HttpRequest::default()
            },
        ),
    };
    let _ = rec.end(sub, &clock, &mut out);
    let _ = rec.end(seg, &clock, &mut out);
    let redacted = rec.stats().values_redacted;
    (out.0, outcome, redacted)
}

fn secret() -> impl Strategy<Value = String> {
    let alphabet: Vec<char> = MARKS
        .iter()
        .copied()
        .chain(SECRET_EXTRAS.chars())
        .chain("az09".chars())
        .collect();
    (
        prop::sample::select(MARKS.to_vec()),
        prop::collection::vec(prop::sample::select(alphabet), 0..12),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(mark, mut rest, at)| {
            let i = at.index(rest.len() + 1);
            rest.insert(i, mark);
            rest.into_iter().collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn no_secret_reaches_a_datagram(
        form in 0..FORMS,
        secret in secret(),
        word in "[a-z][a-z0-9]{0,6}",
        style in 0usize..64,
    ) {
        let (field, text) = embed(form, &secret, &word, style);
        let (datagrams, outcome, redacted) = record(field, &text);
        prop_assert!(outcome.is_recorded(), "{outcome:?}");
        prop_assert_eq!(datagrams.len(), 1);
        let whole = String::from_utf8(datagrams[0].clone()).unwrap();
        prop_assert!(!leaks(&whole), "form {form}: {text:?}\n{whole}");
        check_datagram(&datagrams[0], 4096);
        prop_assert_eq!(redacted, u32::from(outcome == Outcome::Redacted));
    }
}

/// With a secret made only of marks and letters every form is understood: the secret is
/// removed or masked, not redacted whole.
#[test]
fn plain_secrets_are_cleaned_not_redacted() {
    for form in 0..FORMS {
        for style in 0..8 {
            let (field, text) = embed(form, "αβγδ", "db1", style);
            let (datagrams, outcome, redacted) = record(field, &text);
            let whole = String::from_utf8(datagrams[0].clone()).unwrap();
            assert!(!leaks(&whole), "form {form}: {text:?}\n{whole}");
            assert_eq!(
                outcome,
                Outcome::Recorded,
                "form {form} style {style}: {text:?}\n{whole}"
            );
            assert_eq!(redacted, 0);
            assert!(!whole.contains(REDACTED), "{whole}");
        }
    }
}

/// What cannot be read is redacted whole, counted, and said by the outcome.
#[test]
fn a_redacted_value_is_reported_and_counted() {
    let (datagrams, outcome, redacted) =
        record(Field::ConnectionString, "Server=db;Password=\"unclosed;x");
    assert_eq!(outcome, Outcome::Redacted);
    assert_eq!(redacted, 1);
    let doc = check_datagram(&datagrams[0], 4096);
    assert_eq!(doc["subsegments"][0]["sql"]["connection_string"], REDACTED);
}
