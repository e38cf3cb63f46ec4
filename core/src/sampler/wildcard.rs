//! Sampling-rule wildcards (spec §5.3): `*` matches zero or more characters, `?` exactly one,
//! everything else matches itself, ignoring ASCII case. `*` alone matches anything; an empty
//! pattern matches only an empty text.
//!
//! # Cost
//!
//! The peers' greedy loop (backtrack to the last `*`) costs O(n·m) for a text of n bytes and a
//! pattern of m bytes. This matcher splits the pattern at its stars into *segments* (runs of
//! literals and `?`) and places them left to right:
//!
//! - the first segment is anchored at the start of the text (unless the pattern starts with `*`),
//!   the last one at the end (unless the pattern ends with `*`): each is one deterministic
//!   comparison of at most its own length;
//! - every middle segment goes to its leftmost occurrence after the previous one. Leftmost is
//!   always safe: a later occurrence leaves a shorter rest of the text for the remaining
//!   segments, and `*` can absorb whatever lies between, so if any placement works, the leftmost
//!   one does.
//!
//! The search start only moves forward, and each candidate start compares at most `k` bytes,
//! where `k` is the longest segment. The whole match therefore costs at most
//! `n·(k+1) + m` byte steps: linear in the text for a given pattern, and independent of the
//! number of stars (the greedy loop's worst case is O(n·m)). Rule patterns
//! are short (at most [`super::MAX_URL_PATH_LEN`] bytes), so `k` is small. The unit tests count
//! the steps: `*a*a*a*a*a*b` against 10,000 `a` is rejected by the tail anchor in a handful of
//! steps, against 10,000 `a` plus `b` it matches within `2n + m`, sixty stars stay within
//! `2n + m`, and a proptest checks `n·(k+1) + 2m + 2` on random patterns and texts.
//!
//! `?` consumes one whole UTF-8 character, and candidate starts are character boundaries, so a
//! match never splits a multi-byte character. Case folding is ASCII only: `É` matches `É`,
//! not `é`.

/// Counts comparison steps; `()` counts nothing and compiles away.
pub(crate) trait Steps {
    /// One byte comparison (or one skipped byte).
    fn step(&mut self);
}

impl Steps for () {
    #[inline(always)]
    fn step(&mut self) {}
}

impl Steps for u64 {
    #[inline(always)]
    fn step(&mut self) {
        *self += 1;
    }
}

/// Whether `text` matches the wildcard `pattern` (see the module documentation).
///
/// ```
/// use xray_core::sampler::wildcard_match;
/// assert!(wildcard_match("/api/*/orders", "/API/v1/Orders"));
/// assert!(wildcard_match("GE?", "get"));
/// assert!(!wildcard_match("*.example.com", "example.com"));
/// ```
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    match_counting(pattern.as_bytes(), text.as_bytes(), &mut ())
}

/// The length of the UTF-8 character that starts with `lead` (1 for a stray continuation byte,
/// which cannot occur in a `&str` at a boundary).
#[inline]
fn char_len(lead: u8) -> usize {
    match lead {
        0x00..=0xBF => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

#[inline]
fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// Matches `seg` (no `*`) at the start of `text` going forward; returns the bytes consumed.
#[inline]
fn match_forward<S: Steps>(seg: &[u8], text: &[u8], steps: &mut S) -> Option<usize> {
    let mut t = 0;
    for &p in seg {
        steps.step();
        let &b = text.get(t)?;
        if p == b'?' {
            t += char_len(b);
        } else if p.eq_ignore_ascii_case(&b) {
            t += 1;
        } else {
            return None;
        }
    }
    // A `?` on a truncated character at the very end cannot happen in valid UTF-8.
    (t <= text.len()).then_some(t)
}

/// Matches `seg` (no `*`) at the end of `text` going backward; returns where the match starts.
#[inline]
fn match_backward<S: Steps>(seg: &[u8], text: &[u8], steps: &mut S) -> Option<usize> {
    let mut end = text.len();
    for &p in seg.iter().rev() {
        steps.step();
        if end == 0 {
            return None;
        }
        if p == b'?' {
            // Step back over one whole character.
            end -= 1;
            while end > 0 && is_continuation(text[end]) {
                steps.step();
                end -= 1;
            }
        } else if p.eq_ignore_ascii_case(&text[end - 1]) {
            end -= 1;
        } else {
            return None;
        }
    }
    Some(end)
}

/// The core matcher over bytes of valid UTF-8, counting steps.
pub(crate) fn match_counting<S: Steps>(pattern: &[u8], text: &[u8], steps: &mut S) -> bool {
    let Some(first_star) = pattern.iter().position(|&b| b == b'*') else {
        // No star: the one segment must cover the whole text.
        return match_forward(pattern, text, steps) == Some(text.len());
    };
    let last_star = pattern
        .iter()
        .rposition(|&b| b == b'*')
        .unwrap_or(first_star);
    match_stars(pattern, first_star, last_star, text, steps)
}

/// The first and last `*` of a pattern, if it has one (for [`match_stars`]).
pub(crate) fn star_span(pattern: &[u8]) -> Option<(usize, usize)> {
    let first = pattern.iter().position(|&b| b == b'*')?;
    let last = pattern.iter().rposition(|&b| b == b'*').unwrap_or(first);
    Some((first, last))
}

/// [`match_counting`] for a pattern with a star, whose first and last star are known.
pub(crate) fn match_stars<S: Steps>(
    pattern: &[u8],
    first_star: usize,
    last_star: usize,
    text: &[u8],
    steps: &mut S,
) -> bool {
    let (Some(head), Some(tail)) = (pattern.get(..first_star), pattern.get(last_star + 1..)) else {
        return false;
    };
    // Anchored head.
    let Some(mut pos) = match_forward(head, text, steps) else {
        return false;
    };
    // Anchored tail: it must start at or after the head's end.
    let Some(tail_start) = match_backward(tail, text, steps) else {
        return false;
    };
    if tail_start < pos {
        return false;
    }
    // Middle segments, leftmost placement within text[pos..tail_start].
    let limit = tail_start;
    let middle = pattern.get(first_star + 1..last_star).unwrap_or(&[]);
    for seg in middle.split(|&b| b == b'*').filter(|s| !s.is_empty()) {
        let mut start = pos;
        // With a literal first byte, candidates must start with it (ASCII case folded).
        let first = seg.first().copied().filter(|&b| b != b'?');
        loop {
            if start >= limit {
                return false;
            }
            steps.step();
            if first.is_some_and(|f| !f.eq_ignore_ascii_case(&text[start])) {
                start += 1;
                continue;
            }
            if !is_continuation(text[start])
                && let Some(used) = match_forward(seg, &text[start..limit], steps)
            {
                pos = start + used;
                break;
            }
            start += 1;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::string::String;
    use std::vec;
    use std::vec::Vec;

    /// Reference: the textbook dynamic program over characters.
    fn reference(pattern: &str, text: &str) -> bool {
        let p: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
        let t: Vec<char> = text.chars().map(|c| c.to_ascii_lowercase()).collect();
        let mut dp = vec![vec![false; t.len() + 1]; p.len() + 1];
        dp[0][0] = true;
        for i in 1..=p.len() {
            dp[i][0] = dp[i - 1][0] && p[i - 1] == '*';
            for j in 1..=t.len() {
                dp[i][j] = match p[i - 1] {
                    '*' => dp[i - 1][j] || dp[i][j - 1],
                    '?' => dp[i - 1][j - 1],
                    c => dp[i - 1][j - 1] && c == t[j - 1],
                };
            }
        }
        dp[p.len()][t.len()]
    }

    #[test]
    fn spec_rules() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("*", "anything at all"));
        assert!(wildcard_match("", ""));
        assert!(!wildcard_match("", "a"));
        assert!(wildcard_match("?", "x"));
        assert!(!wildcard_match("?", ""));
        assert!(!wildcard_match("?", "xy"));
        assert!(wildcard_match("**", ""));
        assert!(wildcard_match("a*", "a"));
        assert!(!wildcard_match("a*a", "a"));
        assert!(wildcard_match("a*a", "aa"));
        assert!(wildcard_match("*.example.com", "www.example.com"));
        assert!(!wildcard_match("*.example.com", "example.com"));
        assert!(wildcard_match("/api/*/orders/?", "/api/v2/orders/7"));
        assert!(!wildcard_match("/api/*/orders/?", "/api/v2/orders/77"));
    }

    #[test]
    fn case_insensitive_ascii_only() {
        assert!(wildcard_match("GET", "get"));
        assert!(wildcard_match("*CHECKOUT*", "/shop/Checkout/now"));
        assert!(wildcard_match("É", "É"));
        assert!(!wildcard_match("É", "é"));
    }

    #[test]
    fn question_mark_takes_a_whole_character() {
        assert!(wildcard_match("caf?", "café"));
        assert!(wildcard_match("?", "日"));
        assert!(wildcard_match("*?", "日"));
        assert!(wildcard_match("?*", "日本"));
        assert!(!wildcard_match("??", "日"));
        assert!(wildcard_match("*?本*", "日本語"));
        assert!(wildcard_match("a*?", "a日"));
    }

    #[test]
    fn go_sdk_vectors() {
        // From the Go SDK's search_pattern_test.go.
        assert!(wildcard_match("*", "foo"));
        assert!(wildcard_match("foo", "foo"));
        assert!(wildcard_match("foo*bar*?", "foodbaris"));
        assert!(wildcard_match("?o?", "foo"));
        assert!(!wildcard_match("f?o", "foo?"));
        assert!(wildcard_match("*oo", "foo"));
        assert!(!wildcard_match("*oo*", "fo"));
        assert!(wildcard_match("*", "HelloWorld"));
        assert!(wildcard_match("?????", "hello"));
        assert!(!wildcard_match("??????", "hello"));
        assert!(wildcard_match("Hello, World", "hello, world"));
        assert!(wildcard_match("a*b*c*d", "axxbyyczzd"));
        assert!(!wildcard_match("a*b*c*d", "axxbyyczz"));
    }

    #[test]
    fn pathological_pattern_is_linear() {
        let text: String = core::iter::repeat_n('a', 10_000).collect();
        let pattern = "*a*a*a*a*a*b";
        let mut steps = 0u64;
        assert!(!match_counting(
            pattern.as_bytes(),
            text.as_bytes(),
            &mut steps
        ));
        // Bound n·(k+1) + m with k = 1.
        assert!(steps <= 2 * 10_000 + 12, "{steps} steps");
        // The tail anchor rejects it at once.
        assert!(steps < 20, "{steps} steps");

        // Now a pattern whose tail matches, so the middle segments must be placed.
        let mut text2 = text.clone();
        text2.push('b');
        let mut steps = 0u64;
        assert!(match_counting(
            pattern.as_bytes(),
            text2.as_bytes(),
            &mut steps
        ));
        assert!(steps <= 2 * 10_001 + 12, "{steps} steps");

        // The worst case for segment search: a segment that almost matches everywhere.
        let pattern = "*aaaaaaaab*c";
        let mut steps = 0u64;
        let mut text3 = text.clone();
        text3.push('c');
        assert!(!match_counting(
            pattern.as_bytes(),
            text3.as_bytes(),
            &mut steps
        ));
        // k = 9: at most 10 steps per text byte.
        assert!(steps <= 10 * 10_001 + 12, "{steps} steps");
        assert!(!reference(pattern, &text3));
    }

    #[test]
    fn many_stars_do_not_multiply() {
        // 60 stars: the greedy backtracking loop would revisit the text once per star.
        let pattern: String = core::iter::repeat_n("*a", 60).chain(["*b"]).collect();
        let text: String = core::iter::repeat_n('a', 10_000).chain(['b']).collect();
        let mut steps = 0u64;
        assert!(match_counting(
            pattern.as_bytes(),
            text.as_bytes(),
            &mut steps
        ));
        let (n, m) = (text.len() as u64, pattern.len() as u64);
        assert!(steps <= 2 * n + m, "{steps} steps");
    }

    proptest! {
        #[test]
        fn agrees_with_reference(
            pattern in "[ab?*é]{0,8}",
            text in "[abAé]{0,12}",
        ) {
            prop_assert_eq!(wildcard_match(&pattern, &text), reference(&pattern, &text));
        }

        #[test]
        fn steps_stay_within_bound(
            pattern in "[ab?*]{0,12}",
            text in "[ab]{0,200}",
        ) {
            let mut steps = 0u64;
            let _ = match_counting(pattern.as_bytes(), text.as_bytes(), &mut steps);
            let k = pattern.split('*').map(str::len).max().unwrap_or(0) as u64;
            let (n, m) = (text.len() as u64, pattern.len() as u64);
            prop_assert!(steps <= n * (k + 1) + 2 * m + 2, "{} > bound", steps);
        }
    }
}
