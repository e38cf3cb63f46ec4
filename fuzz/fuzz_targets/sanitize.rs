//! The sanitizers (`model::sanitize::{url, database_url, connection_string}`) and the
//! recorder fields that use them (`http.request.url`, `sql.url`, `sql.connection_string`).
//!
//! Invariants checked, beyond "no panic":
//! - embedded secrets: a secret marked with Greek letters, built from the fuzzer's bytes (any
//!   delimiter of any dialect), put into one of the valid forms of every dialect in
//!   `core/tests/common/secret_forms.rs`, recorded through the real recorder: no mark, raw or
//!   percent-encoded, is anywhere in the datagram, and the datagram is one JSON document;
//! - any text, through each public sanitizer: the output is exactly `[redacted]` when the
//!   sanitizer says `Redacted`, else made only of the input's characters and masks; kept text
//!   never holds a secret key (by the documented lists) followed by `=` and a value that is not
//!   a mask, nor a URL whose authority holds an `@` (an oracle written here); the recorder
//!   writes the same text (cut to its limit), says `Redacted` exactly then, and counts it.
#![no_main]

#[path = "../../core/tests/common/secret_forms.rs"]
mod secret_forms;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use secret_forms::{FORMS, Field, MARKS, embed, leaks};
use xray_core::model::sanitize::{
    self, MASK, NOT_SECRET_ENDINGS, REDACTED, SECRET_KEYS, SECRET_PARTS, Sanitized,
};
use xray_core::model::{HttpRequest, Sql};
use xray_core::{FixedClock, Outcome, Recorder, RecorderConfig, SliceSink, Timestamp, Transport};

#[derive(Arbitrary, Debug)]
enum Input {
    Embedded {
        form: u8,
        secret: String,
        mark_at: u8,
        word: String,
        style: u8,
    },
    Any {
        text: String,
        keep_query: bool,
    },
}

#[derive(Default)]
struct Capture(Vec<Vec<u8>>);

impl Transport for Capture {
    fn send(&mut self, datagram: &[u8]) {
        self.0.push(datagram.to_vec());
    }
}

/// The core tests' deterministic RNG (SplitMix64).
#[path = "../../core/tests/common/test_rng.rs"]
mod test_rng;
use test_rng::TestRng as Rng;

/// Records `text` into `field`; returns the one datagram, the outcome and the redaction count.
fn record(field: Field, text: &str) -> (serde_json::Value, String, Outcome, u32) {
    let clock = FixedClock(Timestamp::from_micros(1_700_000_000_000_000));
    let mut rng = Rng(7);
    let mut out = Capture::default();
    let keep_query = matches!(field, Field::HttpUrl { keep_query: true });
    let config = RecorderConfig::with_budget(65_507).record_url_query(keep_query);
    let mut rec: Recorder<Vec<u8>> = Recorder::new(vec![0; 65_507 + 16_384], config);
    let seg = rec.begin_segment("svc", None, true, &clock, &mut rng);
    let outcome = match field {
        Field::ConnectionString => rec.set_sql(
            seg,
            &Sql {
                connection_string: Some(text),
                ..Sql::default()
            },
        ),
        Field::SqlUrl => rec.set_sql(
            seg,
            &Sql {
                url: Some(text),
                ..Sql::default()
            },
        ),
        Field::HttpUrl { .. } => rec.set_http_request(
            seg,
            &HttpRequest {
                url: Some(text),
                ..HttpRequest::default()
            },
        ),
    };
    let _ = rec.end(seg, &clock, &mut out);
    let redacted = rec.stats().values_redacted;
    assert_eq!(out.0.len(), 1, "one datagram");
    let whole = String::from_utf8(out.0[0].clone()).expect("UTF-8");
    let (header, body) = whole.split_once('\n').expect("header line");
    assert_eq!(header, r#"{"format":"json","version":1}"#);
    let doc: serde_json::Value = serde_json::from_str(body).expect("one JSON document");
    (doc, whole, outcome, redacted)
}

fn normalized_key(key: &str) -> String {
    key.bytes()
        .filter(u8::is_ascii_alphanumeric)
        .map(|b| b.to_ascii_lowercase() as char)
        .collect()
}

/// The documented rule, written plainly.
fn secret_key(key: &str) -> bool {
    let k = normalized_key(key);
    (SECRET_PARTS.iter().any(|p| k.contains(p)) || SECRET_KEYS.contains(&k.as_str()))
        && !NOT_SECRET_ENDINGS.iter().any(|e| k.ends_with(e))
}

/// Kept text with a secret key's value in it, or a URL authority with userinfo.
fn oracle_violation(out: &str) -> Option<String> {
    let b = out.as_bytes();
    for (i, _) in out.match_indices('=') {
        let start = b[..i]
            .iter()
            .rposition(|&c| !(c.is_ascii_alphanumeric() || b" _-.".contains(&c)))
            .map_or(0, |p| p + 1);
        if secret_key(&out[start..i]) {
            let value = out[i + 1..].trim_start_matches([' ', '\t']);
            if !value.is_empty() && !value.starts_with(MASK) {
                return Some(format!("{:?} keeps a secret value", &out[start..]));
            }
        }
    }
    for (i, _) in out.match_indices("://") {
        let rest = &b[i + 3..];
        let end = rest
            .iter()
            .position(|&c| b"/\\?#;&\"')}<>|^`".contains(&c) || c.is_ascii_whitespace())
            .unwrap_or(rest.len());
        if rest[..end].contains(&b'@') {
            return Some(format!("{:?} keeps userinfo", &out[i..]));
        }
    }
    None
}

/// `text` without the `%XX` escapes of spaces and C0 controls (how a sanitizer writes the ones
/// that end a kept part).
fn without_encoded_spaces(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let escape = rest
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match escape {
            Some(b) if b <= b' ' && rest[i + 1..i + 3].bytes().all(|c| !c.is_ascii_lowercase()) => {
                rest = &rest[i + 3..]
            }
            _ => {
                out.push('%');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn plain(
    f: impl FnOnce(&mut SliceSink<'_>) -> Result<Sanitized, xray_core::Full>,
    len: usize,
) -> (String, Sanitized) {
    let mut buf = vec![0u8; len * 3 + 64];
    let mut s = SliceSink::new(&mut buf);
    let done =
        f(&mut s).expect("room for three times the input (each byte is written as at most three)");
    (
        String::from_utf8(s.as_bytes().to_vec()).expect("UTF-8"),
        done,
    )
}

fn check_any(text: &str, keep_query: bool) {
    let n = text.len();
    let runs = [
        (
            Field::HttpUrl { keep_query },
            plain(|s| sanitize::url(s, text, keep_query), n),
            "url",
            250,
        ),
        (
            Field::SqlUrl,
            plain(|s| sanitize::database_url(s, text), n),
            "url",
            1000,
        ),
        (
            Field::ConnectionString,
            plain(|s| sanitize::connection_string(s, text), n),
            "connection_string",
            1000,
        ),
    ];
    for (field, (out, done), key, max) in runs {
        if done == Sanitized::Redacted {
            assert_eq!(out, REDACTED);
        } else {
            for piece in out.split(MASK) {
                for c in without_encoded_spaces(piece).chars() {
                    assert!(
                        text.contains(c),
                        "{text:?} -> {out:?}: {c:?} is not from the input"
                    );
                }
            }
            if let Some(v) = oracle_violation(&out) {
                panic!("{text:?} -> {out:?}: {v}");
            }
        }
        let (doc, _, outcome, redacted) = record(field, text);
        assert_eq!(
            outcome == Outcome::Redacted,
            done == Sanitized::Redacted,
            "{text:?}: {outcome:?}"
        );
        assert_eq!(redacted, u32::from(done == Sanitized::Redacted));
        let block = match field {
            Field::HttpUrl { .. } => &doc["http"]["request"],
            _ => &doc["sql"],
        };
        let recorded = block[key].as_str().expect("the field is recorded");
        let kept: String = out.chars().take(max).collect();
        if outcome != Outcome::Shortened {
            assert_eq!(recorded, kept, "{text:?}");
        } else {
            assert!(
                kept.starts_with(recorded),
                "{text:?}: {recorded:?} is not a cut of {kept:?}"
            );
        }
    }
}

fuzz_target!(|input: Input| {
    match input {
        Input::Embedded {
            form,
            secret,
            mark_at,
            word,
            style,
        } => {
            let mut secret: String = secret
                .chars()
                .filter(|c| !MARKS.contains(c))
                .take(64)
                .collect();
            let mut at = usize::from(mark_at) % (secret.chars().count() + 1);
            while !secret.is_char_boundary(at) {
                at -= 1;
            }
            secret.insert(at, MARKS[usize::from(mark_at) % MARKS.len()]);
            let mut word: String = word
                .chars()
                .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                .take(8)
                .collect();
            if !word.starts_with(|c: char| c.is_ascii_lowercase()) {
                word.insert(0, 'w');
            }
            let (field, text) = embed(
                usize::from(form) % FORMS,
                &secret,
                &word,
                usize::from(style),
            );
            let (_, whole, outcome, _) = record(field, &text);
            assert!(outcome.is_recorded(), "{outcome:?}");
            assert!(!leaks(&whole), "form {form}: {text:?}\n{whole}");
        }
        Input::Any { text, keep_query } => check_any(&text, keep_query),
    }
});
