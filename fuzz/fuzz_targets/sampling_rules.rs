//! Local sampling rules files (`xray_core::sampler::LocalRules::parse`, spec §5.2).
//!
//! Invariants checked, beyond "no panic":
//! - an accepted file is one JSON document (serde_json agrees, nothing after it but
//!   whitespace) with version 1 or 2, at most `N` rules, rates in `[0, 1]`, `fixed_target` at
//!   most `MAX_FIXED_TARGET`, patterns within their limits, and a catch-all `Default` rule;
//! - what was parsed is what the file says (compared with serde_json's reading of the same
//!   text, when its keys are unique): version, every rule's host (or v1 `service_name`),
//!   `http_method`, `url_path`, `fixed_target` and rate, the default's target, rule names;
//! - parse → format → parse is the identity: the rules written back as a file (here, with
//!   serde_json) parse to the same rules, names and targets;
//! - `Sampler::matching_rule` picks the first matching rule in file order, else the default.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Value, json};
use std::collections::HashSet;
use xray_core::sampler::{
    LocalRules, MAX_FIXED_TARGET, MAX_HOST_LEN, MAX_METHOD_LEN, MAX_URL_PATH_LEN, Rate, Rule,
    Sampler, SamplingRequest,
};

const N: usize = 8;

fn skip_known() -> bool {
    static SKIP: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SKIP.get_or_init(|| std::env::var_os("XRAY_FUZZ_SKIP_KNOWN").is_some_and(|v| v == "1"))
}

/// Fails on duplicate keys (then the "last one wins" reading of serde_json is not a fair oracle).
struct Unique;

impl<'de> Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueVisitor)
    }
}

struct UniqueVisitor;

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = Unique;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_str<E>(self, _: &str) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_unit<E>(self) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Unique, A::Error> {
        while a.next_element::<Unique>()?.is_some() {}
        Ok(Unique)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Unique, A::Error> {
        let mut seen = HashSet::new();
        while let Some(k) = a.next_key::<String>()? {
            if !seen.insert(k.clone()) {
                return Err(de::Error::custom("duplicate key"));
            }
            a.next_value::<Unique>()?;
        }
        Ok(Unique)
    }
}

fn same_rule(a: &Rule, b: &Rule) -> bool {
    a.name() == b.name()
        && a.host() == b.host()
        && a.method() == b.method()
        && a.url_path() == b.url_path()
        && a.target() == b.target()
}

fn rule_json(r: &Rule, version: u8) -> Value {
    let host_key = if version == 1 { "service_name" } else { "host" };
    let mut v = json!({
        host_key: r.host(),
        "http_method": r.method(),
        "url_path": r.url_path(),
        "fixed_target": r.target().fixed_target,
        "rate": r.target().rate.as_f64(),
    });
    v["description"] = json!(r.name());
    v
}

fn format(rules: &LocalRules<N>) -> String {
    let d = rules.default_rule().target();
    json!({
        "version": rules.version(),
        "default": {"fixed_target": d.fixed_target, "rate": d.rate.as_f64()},
        "rules": rules.rules().iter().map(|r| rule_json(r, rules.version())).collect::<Vec<_>>(),
    })
    .to_string()
}

fn check_invariants(rules: &LocalRules<N>) {
    assert!(matches!(rules.version(), 1 | 2));
    assert!(rules.rules().len() <= N);
    let d = rules.default_rule();
    assert_eq!(
        (d.name(), d.host(), d.method(), d.url_path()),
        ("Default", "*", "*", "*")
    );
    for r in rules.rules().iter().chain([d]) {
        let t = r.target();
        assert!(t.fixed_target <= MAX_FIXED_TARGET);
        assert!(t.rate.threshold() <= 1 << 32);
        assert!(
            r.host().len() <= MAX_HOST_LEN
                && r.method().len() <= MAX_METHOD_LEN
                && r.url_path().len() <= MAX_URL_PATH_LEN
        );
        assert!(!r.name().is_empty() && r.name().len() <= 32);
    }
}

/// Compares the parse with serde_json's reading of the same text.
fn check_against_json(rules: &LocalRules<N>, v: &Value) {
    assert_eq!(
        v["version"].as_u64(),
        Some(u64::from(rules.version())),
        "version"
    );
    let rate =
        |x: &Value| Rate::new(x.as_f64().expect("rate is a number")).expect("rate in [0, 1]");
    let d = rules.default_rule().target();
    // As a number (a file may write `0` as `-0` or `0e0`; serde_json keeps those as floats).
    let int = |x: &Value| x.as_f64();
    assert_eq!(
        int(&v["default"]["fixed_target"]),
        Some(f64::from(d.fixed_target)),
        "default fixed_target"
    );
    assert_eq!(rate(&v["default"]["rate"]), d.rate, "default rate");
    let listed = v
        .get("rules")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    assert_eq!(listed.len(), rules.rules().len(), "number of rules");
    let host_key = if rules.version() == 1 {
        "service_name"
    } else {
        "host"
    };
    for (i, (r, j)) in rules.rules().iter().zip(listed).enumerate() {
        assert_eq!(j[host_key].as_str(), Some(r.host()), "rule {i} host");
        assert_eq!(
            j["http_method"].as_str(),
            Some(r.method()),
            "rule {i} http_method"
        );
        assert_eq!(
            j["url_path"].as_str(),
            Some(r.url_path()),
            "rule {i} url_path"
        );
        assert_eq!(
            int(&j["fixed_target"]),
            Some(f64::from(r.target().fixed_target)),
            "rule {i} fixed_target"
        );
        assert_eq!(rate(&j["rate"]), r.target().rate, "rule {i} rate");
        let want_name = match j.get("description").and_then(Value::as_str) {
            Some(d) if !d.is_empty() => {
                let mut end = d.len().min(32);
                while !d.is_char_boundary(end) {
                    end -= 1;
                }
                d[..end].to_owned()
            }
            _ => format!("rule-{}", i + 1),
        };
        assert_eq!(r.name(), want_name, "rule {i} name");
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(rules) = LocalRules::<N>::parse(&text) else {
        return;
    };
    check_invariants(&rules);

    // One JSON document, as serde_json reads it.
    let value: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        // Findings S1 and S2 (fuzz/README.md): raw control characters in strings and numbers
        // with leading zeros are accepted. `XRAY_FUZZ_SKIP_KNOWN=1` looks past such leniency
        // until it is fixed (and then compares only what serde_json can read).
        Err(_) if skip_known() => return,
        // Valid JSON syntax that serde_json cannot hold (`7e2274` overflows an f64): RFC 8259
        // lets implementations limit number range, so this is no finding; nothing to compare.
        Err(e) if e.to_string().contains("number out of range") => return,
        Err(e) => panic!("accepted a file serde_json rejects ({e}): {text:?}"),
    };
    if serde_json::from_str::<Unique>(&text).is_ok() {
        check_against_json(&rules, &value);
    }

    // parse -> format -> parse.
    let out = format(&rules);
    let again = LocalRules::<N>::parse(&out)
        .unwrap_or_else(|e| panic!("formatted rules do not parse ({e:?}): {out}"));
    assert_eq!(again.version(), rules.version());
    assert_eq!(again.rules().len(), rules.rules().len());
    for (a, b) in again.rules().iter().zip(rules.rules()) {
        assert!(
            same_rule(a, b),
            "round trip changed {b:?} into {a:?} via {out}"
        );
    }
    assert!(same_rule(again.default_rule(), rules.default_rule()));

    // First match in file order, else the default: probe with each rule's own literal patterns.
    let sampler = Sampler::new(rules);
    for r in sampler.rules().rules() {
        let req = SamplingRequest {
            host: Some(r.host()),
            method: Some(r.method()),
            url_path: Some(r.url_path()),
            ..Default::default()
        };
        let chosen = sampler.matching_rule(&req);
        let first = sampler
            .rules()
            .rules()
            .iter()
            .find(|x| x.matches(&req))
            .unwrap_or(sampler.rules().default_rule());
        assert!(
            std::ptr::eq(chosen, first),
            "matching_rule is not the first match"
        );
    }
});
