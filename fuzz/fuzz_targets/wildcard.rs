//! The sampling-rule wildcard matcher (`xray_core::sampler::wildcard_match`, spec §5.3).
//!
//! Invariants checked, beyond "no panic":
//! - it agrees with a reference matcher written here (dynamic programming over characters:
//!   `*` any run, `?` exactly one character, ASCII case-insensitive, everything else itself);
//! - `*` matches everything, the empty pattern only the empty text, a pattern without
//!   wildcards matches itself (in any ASCII case), a text made from a pattern by filling its
//!   wildcards matches it;
//! - `Pattern::matches` (as rules use it) agrees with `wildcard_match`, and `None` always matches.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xray_core::sampler::{Pattern, wildcard_match};

fn eq(a: char, b: char) -> bool {
    a == b || (a.is_ascii() && b.is_ascii() && a.eq_ignore_ascii_case(&b))
}

/// Classic O(n·m) dynamic programming over characters.
fn reference(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // row[j]: p[..i] matches t[..j]
    let mut row = vec![false; t.len() + 1];
    row[0] = true;
    for &pc in &p {
        let mut next = vec![false; t.len() + 1];
        if pc == '*' {
            let mut any = false;
            for j in 0..=t.len() {
                any |= row[j];
                next[j] = any;
            }
        } else {
            for j in 1..=t.len() {
                next[j] = row[j - 1] && (pc == '?' || eq(pc, t[j - 1]));
            }
        }
        row = next;
    }
    row[t.len()]
}

fn flip(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

fn check(pattern: &str, text: &str) -> bool {
    let got = wildcard_match(pattern, text);
    assert_eq!(
        got,
        reference(pattern, text),
        "wildcard_match({pattern:?}, {text:?})"
    );
    if let Some(p) = Pattern::<256>::new(pattern) {
        assert_eq!(
            p.matches(Some(text)),
            got,
            "Pattern::matches({pattern:?}, {text:?})"
        );
        assert!(p.matches(None));
    }
    got
}

// Input: `pattern NUL text` (no NUL: the whole input is both). The text's characters also
// fill the pattern's wildcards to build a text that must match.
fuzz_target!(|data: &[u8]| {
    let (p, t) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    // Keep the reference's O(n·m) affordable.
    let pattern: String = String::from_utf8_lossy(p).chars().take(300).collect();
    let text: String = String::from_utf8_lossy(t).chars().take(3000).collect();

    check(&pattern, &text);
    assert!(check("*", &text));
    assert_eq!(check("", &text), text.is_empty());
    let literal: String = pattern.chars().filter(|c| *c != '*' && *c != '?').collect();
    assert!(
        check(&literal, &flip(&literal)),
        "a literal pattern matches itself in any ASCII case"
    );

    // A text built from the pattern by filling its wildcards must match: `*` takes the next
    // 0..=3 characters of the text, `?` exactly one (or `é` when the text runs out).
    let mut fill = text.chars();
    let mut built = String::new();
    for (n, c) in pattern.chars().enumerate() {
        match c {
            '*' => built.extend(fill.by_ref().take(n % 4)),
            '?' => built.push(fill.next().unwrap_or('é')),
            c => built.push(c),
        }
    }
    let built = if text.len() % 2 == 1 {
        flip(&built)
    } else {
        built
    };
    assert!(
        check(&pattern, &built),
        "filled text {built:?} does not match {pattern:?}"
    );
});
