//! The forms tables, the differential test against the `url` crate, and properties of every
//! sanitizer.

use super::*;
use crate::sink::SliceSink;
use proptest::prelude::*;
use std::format;
use std::string::String;
use std::vec;
use std::vec::Vec;

/// Runs a public sanitizer into a buffer; returns what it wrote and what it did.
fn run_plain(
    f: impl FnOnce(&mut SliceSink<'_>) -> Result<Sanitized, Full>,
    len: usize,
) -> (String, Sanitized) {
    let mut buf = vec![0u8; len * 3 + 64];
    let mut s = SliceSink::new(&mut buf);
    let done = f(&mut s).expect("room");
    (
        String::from_utf8(s.as_bytes().to_vec()).expect("UTF-8"),
        done,
    )
}

fn http(text: &str, keep_query: bool) -> (String, Sanitized) {
    run_plain(|s| url(s, text, keep_query), text.len())
}

fn conn(text: &str) -> (String, Sanitized) {
    run_plain(|s| connection_string(s, text), text.len())
}

fn db_url(text: &str) -> (String, Sanitized) {
    run_plain(|s| database_url(s, text), text.len())
}

/// The rows of a forms table: (form, input, recorded).
fn rows(table: &str) -> Vec<(&str, &str, &str)> {
    table
        .lines()
        .filter(|l| l.starts_with("| ") && l.matches('`').count() >= 4)
        .filter_map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").collect();
            fn code(c: &str) -> Option<&str> {
                c.trim().strip_prefix('`')?.strip_suffix('`')
            }
            match cells.as_slice() {
                [form, input, recorded] => Some((form.trim(), code(input)?, code(recorded)?)),
                _ => None,
            }
        })
        .collect()
}

#[test]
fn forms_tables_hold() {
    let mut checked = 0;
    for (form, input, want) in rows(include_str!("url_forms.md")) {
        let (got, done) = http(input, form.contains("query kept"));
        assert_eq!(got, want, "url form {form:?}: {input:?}");
        assert_eq!(done == Sanitized::Redacted, want == REDACTED, "{input:?}");
        checked += 1;
    }
    assert!(checked >= 40, "{checked} URL rows");
    let mut checked = 0;
    for (form, input, want) in rows(include_str!("connection_string_forms.md")) {
        let (got, done) = conn(input);
        assert_eq!(got, want, "connection string form {form:?}: {input:?}");
        assert_eq!(done == Sanitized::Redacted, want == REDACTED, "{input:?}");
        checked += 1;
    }
    assert!(checked >= 60, "{checked} connection string rows");
    let mut checked = 0;
    for (form, input, want) in rows(include_str!("database_url_forms.md")) {
        assert_eq!(
            db_url(input).0,
            want,
            "database URL form {form:?}: {input:?}"
        );
        checked += 1;
    }
    assert!(checked >= 7, "{checked} database URL rows");
}

#[test]
fn what_a_sanitizer_did_is_reported() {
    assert_eq!(http("https://h/p", false).1, Sanitized::Kept);
    assert_eq!(http("https://u@h/p", false).1, Sanitized::Cleaned);
    assert_eq!(http("https://h/p?q", false).1, Sanitized::Cleaned);
    assert_eq!(http("https://h/p?q", true).1, Sanitized::Kept);
    assert_eq!(conn("Server=h;Password=x").1, Sanitized::Cleaned);
    assert_eq!(conn("Server=h").1, Sanitized::Kept);
    assert_eq!(conn("Server=h;Password").1, Sanitized::Redacted);
    assert_eq!(http("", false), (String::new(), Sanitized::Kept));
    assert_eq!(conn("").1, Sanitized::Redacted);
}

#[test]
fn a_full_sink_is_left_as_it_was() {
    let mut buf = [0u8; 12];
    let mut s = SliceSink::new(&mut buf);
    s.write(b"ab").unwrap();
    assert_eq!(
        connection_string(&mut s, "Server=h;Password=x;Database=d"),
        Err(Full)
    );
    assert_eq!(s.as_bytes(), b"ab");
}

#[test]
fn json_output_is_escaped_and_cut_after_sanitizing() {
    let mut buf = [0u8; 128];
    let mut s = SliceSink::new(&mut buf);
    let (done, cut) = write_json(
        &mut s,
        "Server=\"q\";Password=x;Database=a-long-name",
        Form::ConnectionString,
        24,
    )
    .unwrap();
    assert_eq!(done, Sanitized::Cleaned);
    assert!(cut);
    assert_eq!(
        core::str::from_utf8(s.as_bytes()).unwrap(),
        r#""Server=\"q\";Password=***;""#
    );
}

/// Found by the `sanitize` fuzz target (`fuzz/regressions/sanitize/value-starting-with-eq`):
/// the secret after `private_key_file_pwd==` was kept as part of a key, the ADO.NET reading
/// (`==` is a literal `=` in a key), where a driver splitting at the first `=` reads it as
/// the value; and a comma inside it made a Redis reading's masks stop short.
#[test]
fn a_value_starting_with_eq_is_masked_in_either_reading() {
    let secret = "=S,.yy\u{3b4}KK,pw=r";
    let text = format!("account=w;user=w;password={{{secret}}};private_key_file_pwd={secret}");
    let (out, _) = conn(&text);
    assert!(!out.contains('\u{3b4}'), "{out}");
    assert_eq!(out, "account=w;user=w;password=***");
    assert_eq!(conn("user=u;pwd==x;db=d").0, "user=u;pwd=***;db=d");
    assert_eq!(
        conn("user=u;a==b;c=d").0,
        "user=u;a==b;c=d",
        "no secret key either way"
    );
    assert_eq!(
        conn("jdbc:sqlserver://h;user=u;pwd==x;db=d").0,
        "jdbc:sqlserver://h;user=u;pwd=***;db=d"
    );
}

#[test]
fn megabyte_inputs_are_read_in_linear_time() {
    let big = "a=b;".repeat(1 << 18);
    assert_eq!(conn(&big).1, Sanitized::Kept);
    let big = format!("https://h/{}", "@".repeat(1 << 20));
    assert_eq!(http(&big, true).1, Sanitized::Kept);
    let big = format!("host=h password={}", "x".repeat(1 << 20));
    assert_eq!(conn(&big).0, "host=h password=***");
}

/// What `url` sees in a URL: scheme, host, port, path.
fn seen(u: &::url::Url) -> (String, Option<String>, Option<u16>, String) {
    (
        u.scheme().into(),
        u.host_str().map(Into::into),
        u.port(),
        u.path().into(),
    )
}

/// URL-ish strings: schemes, slashes and backslashes, userinfo with every delimiter in it,
/// hosts, ports, paths, queries, fragments. Three in four are built to be mostly valid, the
/// rest are noisier.
fn url_like() -> impl Strategy<Value = String> {
    let scheme = prop::sample::select(vec![
        "http:", "https:", "HTTP:", "ws:", "wss:", "ftp:", "file:", "foo:", "redis:", "jdbc:", "",
        "h\tttp:",
    ]);
    let slashes = prop::sample::select(vec![
        "", "/", "//", "//", "//", "///", "\\", "\\\\", "/\\", "\\/", "//\t",
    ]);
    let valid_host = prop::sample::select(vec!["h.example", "[::1]", "1.2.3.4", "b", "xn--d1a"]);
    let valid = (
        scheme.clone(),
        slashes.clone(),
        prop::option::of((
            "[a-z0-9@:/?#\\\\%. ;=-]{0,6}",
            prop::option::of("[a-z0-9@:/?#\\\\%. ;=-]{0,6}"),
        )),
        valid_host,
        prop::option::of("[0-9]{0,4}"),
        "([/?#\\\\][a-z0-9/@:.;=&?# -]{0,10})?",
    );
    let noisy_piece = "[abc019:@/\\\\?#\\[\\]%.=&; \t-]{0,8}";
    let noisy = (
        scheme,
        slashes,
        prop::option::of((noisy_piece, prop::option::of(noisy_piece))),
        prop::sample::select(vec!["h.example", "[::1]", "b", "", "[v1.x]", "h:"]),
        prop::option::of("[0-9a]{0,6}"),
        "[abc019:@/\\\\?#\\[\\]%.=&; -]{0,12}",
    );
    prop_oneof![3 => valid.prop_map(assemble), 1 => noisy.prop_map(assemble)]
}

type UrlPieces = (
    &'static str,
    &'static str,
    Option<(String, Option<String>)>,
    &'static str,
    Option<String>,
    String,
);

fn assemble((s, sl, ui, h, p, r): UrlPieces) -> String {
    let mut out = String::from(s);
    out.push_str(sl);
    if let Some((user, password)) = ui {
        out.push_str(&user);
        if let Some(pw) = password {
            out.push(':');
            out.push_str(&pw);
        }
        out.push('@');
    }
    out.push_str(h);
    if let Some(p) = p {
        out.push(':');
        out.push_str(&p);
    }
    out.push_str(&r);
    out
}

/// Cases per property: thousands natively; a few under miri, which runs each many thousand
/// times slower and looks for undefined behaviour rather than wrong output.
const CASES: u32 = if cfg!(miri) { 8 } else { 4096 };

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// For every string `url` parses: the recorded URL has no userinfo that `url` sees, and
    /// the same scheme, host, port and path; or it is redacted whole, and then `url` sees an
    /// `@` after the authority (a documented reason to redact).
    #[test]
    fn agrees_with_the_url_crate(text in url_like(), keep_query: bool) {
        let Ok(theirs) = ::url::Url::parse(&text) else { return Ok(()) };
        let (ours, done) = http(&text, keep_query);
        if done == Sanitized::Redacted {
            let after = [theirs.path(), theirs.query().unwrap_or(""), theirs.fragment().unwrap_or("")].concat();
            prop_assert!(after.contains('@'), "{text:?} redacted, url sees {theirs}");
            return Ok(());
        }
        let again = ::url::Url::parse(&ours);
        prop_assert!(again.is_ok(), "{text:?} -> {ours:?}: {again:?}");
        let again = again.unwrap();
        prop_assert_eq!(again.username(), "", "{:?} -> {:?}", text, ours);
        prop_assert_eq!(again.password(), None, "{:?} -> {:?}", text, ours);
        let mut want = seen(&theirs);
        if theirs.cannot_be_a_base() && (theirs.query().is_some() || theirs.fragment().is_some()) {
            // An opaque path cannot end with a space once what followed it is dropped.
            want.3.truncate(want.3.trim_end_matches(' ').len());
        }
        prop_assert_eq!(seen(&again), want, "{:?} -> {:?}", text, ours);
        prop_assert_eq!(again.fragment(), None);
        if keep_query && !ours.contains(MASK) {
            prop_assert_eq!(again.query(), theirs.query());
        }
        if !keep_query {
            prop_assert_eq!(again.query(), None);
        }
        // Userinfo bytes do not survive where they were.
        let userinfo = format!("{}:{}@", theirs.username(), theirs.password().unwrap_or(""));
        if userinfo.len() > 2 {
            prop_assert!(!ours.contains(&userinfo), "{:?} -> {:?}", text, ours);
        }
    }

    /// No sanitizer panics, and each writes UTF-8 made only of its input's text, masks and
    /// [`REDACTED`].
    #[test]
    fn any_input_is_safe(text in "\\PC{0,40}|[a-z=;'\"{}@:/\\\\ ?#]{0,40}") {
        for (out, done) in [http(&text, false), http(&text, true), conn(&text), db_url(&text)] {
            if done == Sanitized::Redacted {
                prop_assert_eq!(out, REDACTED);
            } else {
                for piece in out.split(MASK) {
                    // Kept text comes from the input (trailing spaces and C0 controls
                    // percent-encoded).
                    let piece: String = (0u8..=0x20).fold(piece.into(), |p, b| p.replace(&format!("%{b:02X}"), ""));
                    for c in piece.chars() {
                        prop_assert!(text.contains(c), "{:?} -> {:?}", text, out);
                    }
                }
            }
        }
    }
}

/// The differential test sees what it is meant to: URLs `url` accepts, many with userinfo,
/// in every authority form.
#[test]
fn the_differential_inputs_cover_the_forms() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let (mut parsed, mut userinfo, mut redacted, mut backslash, mut no_slash) = (0, 0, 0, 0, 0);
    for _ in 0..4000 {
        let text = url_like().new_tree(&mut runner).unwrap().current();
        let Ok(u) = ::url::Url::parse(&text) else {
            continue;
        };
        parsed += 1;
        if !u.username().is_empty() || u.password().is_some() {
            userinfo += 1;
            backslash += usize::from(text.contains('\\'));
            no_slash += usize::from(text.starts_with("http:") && !text[5..].starts_with('/'));
        }
        redacted += usize::from(http(&text, false).1 == Sanitized::Redacted);
    }
    assert!(parsed > 1000, "{parsed}");
    assert!(userinfo > 300, "{userinfo}");
    assert!(backslash > 30 && no_slash > 10, "{backslash} {no_slash}");
    assert!(redacted < parsed / 4, "{redacted} of {parsed}");
    std::println!("parsed {parsed}, with userinfo {userinfo}, redacted {redacted}");
}

/// Writes `text` as `http.request.url` in JSON the long way: the check reads it first, and
/// the JSON text counts characters and escapes as if the input could hold anything.
fn http_json_checked(text: &str, keep_query: bool, max_chars: usize) -> (String, Sanitized, bool) {
    let mut buf = vec![0u8; text.len() * 6 + 64];
    let mut s = SliceSink::new(&mut buf);
    s.byte(b'"').unwrap();
    let anything = scan::Scan {
        eq_or_at: true,
        ascii: false,
        json_plain: false,
    };
    let mut out = JsonText::new(&mut s, max_chars, anything);
    let read = |t: &str, o: &mut dyn Output| url::http(t, keep_query, o);
    let done = sanitize(&read, false, true, text, &mut out).expect("room");
    let cut = out.cut;
    s.byte(b'"').unwrap();
    (String::from_utf8(s.as_bytes().to_vec()).unwrap(), done, cut)
}

/// Writes `text` as `http.request.url` in JSON as the recorder does.
fn http_json(text: &str, keep_query: bool, max_chars: usize) -> (String, Sanitized, bool) {
    let mut buf = vec![0u8; text.len() * 6 + 64];
    let mut s = SliceSink::new(&mut buf);
    let (done, cut) = write_json(&mut s, text, Form::HttpUrl { keep_query }, max_chars).unwrap();
    (String::from_utf8(s.as_bytes().to_vec()).unwrap(), done, cut)
}

/// URLs as `url_like`, with pieces a fast path must not get wrong added: `=`, `@`, `%`,
/// non-ASCII (U+2028 among it), JSON escapes, controls, long runs.
fn url_with_anything() -> impl Strategy<Value = String> {
    let extra = prop_oneof![
        Just(String::new()),
        "[a-z/?#&;%.: ]{0,12}",
        "[a-z/?#&;=@%.: \t\x01\x1f\"\\\\é€\u{2028}\u{10000}]{0,12}",
    ];
    (url_like(), extra, 0usize..400, any::<bool>()).prop_map(|(u, e, n, long_first)| {
        let run = "p".repeat(n);
        if long_first {
            format!("{u}{run}{e}")
        } else {
            format!("{u}{e}{run}")
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// The recorder's way (no check where it cannot object, characters counted as bytes and
    /// nothing escaped where the input allows) writes what the check-first, count-every-
    /// character way writes, and says the same.
    #[test]
    fn the_fast_path_writes_what_the_checked_path_writes(
        text in url_with_anything(),
        keep_query: bool,
        max_chars in prop_oneof![0usize..40, Just(250), Just(usize::MAX)],
    ) {
        prop_assert_eq!(
            http_json(&text, keep_query, max_chars),
            http_json_checked(&text, keep_query, max_chars),
            "{:?}", text
        );
    }
}

/// The generated inputs reach every path the property compares.
#[test]
fn the_fast_path_inputs_cover_the_cases() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[9; 32]),
    );
    let (mut one_pass, mut plain, mut ascii_escaped, mut non_ascii, mut long, mut redacted) =
        (0, 0, 0, 0, 0, 0);
    for _ in 0..2000 {
        let text = url_with_anything().new_tree(&mut runner).unwrap().current();
        // What a scan says (the `small` build's says less).
        let s = scan::Scan {
            eq_or_at: text.contains(['=', '@']),
            ascii: text.is_ascii(),
            json_plain: text
                .bytes()
                .all(|b| (0x20..0x80).contains(&b) && b != b'"' && b != b'\\'),
        };
        one_pass += usize::from(!s.eq_or_at);
        plain += usize::from(!s.eq_or_at && s.json_plain);
        ascii_escaped += usize::from(!s.eq_or_at && s.ascii && !s.json_plain);
        non_ascii += usize::from(!s.eq_or_at && !s.ascii);
        long += usize::from(text.chars().count() > 250);
        redacted += usize::from(!s.eq_or_at && http(&text, false).1 == Sanitized::Redacted);
    }
    assert!(one_pass > 300 && plain > 100, "{one_pass} {plain}");
    assert!(
        ascii_escaped > 50 && non_ascii > 50,
        "{ascii_escaped} {non_ascii}"
    );
    assert!(long > 200 && redacted > 20, "{long} {redacted}");
    std::println!(
        "one pass {one_pass} (plain {plain}, ASCII escaped {ascii_escaped}, non-ASCII \
         {non_ascii}, redacted {redacted}), longer than 250 characters {long}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Where the one-pass reader of ordinary URLs finds the parts, the full reader finds the
    /// same ones.
    #[test]
    fn ordinary_urls_are_located_as_any_url_is(
        text in prop_oneof![url_like(), url_with_anything(), ordinary_url()],
    ) {
        if let Some(u) = url::locate_ordinary(text.as_bytes()) {
            prop_assert_eq!(Ok(u), url::locate_any(&text, url::Rules::HTTP), "{:?}", text);
        }
    }
}

/// URLs of the form the one-pass reader takes, and near misses of it.
fn ordinary_url() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![
            "http", "https", "HTTPS", "ws", "wSs", "ftp", "file", "foo", "http+x",
        ]),
        prop_oneof![
            6 => Just("://"),
            1 => prop::sample::select(vec![":///", ":/", ":\\\\", "://\\"]),
        ],
        "([a-z]{0,3}(:[a-z0-9]{0,3})?@){0,2}",
        "[a-z0-9.-]{0,8}",
        prop::option::of("[0-9]{0,7}|[0-9a ]{0,3}"),
        "([/?#][a-z0-9/?#@:=&%. \t\\\\]{0,12})?",
    )
        .prop_map(|(s, sep, ui, h, port, rest)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            format!("{s}{sep}{ui}{h}{port}{rest}")
        })
}

/// The one-pass reader takes most ordinary URLs, and not the near misses.
#[test]
fn the_one_pass_reader_takes_ordinary_urls() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[5; 32]),
    );
    let (mut taken, mut with_userinfo, mut with_port, mut left) = (0, 0, 0, 0);
    for _ in 0..2000 {
        let text = ordinary_url().new_tree(&mut runner).unwrap().current();
        match url::locate_ordinary(text.as_bytes()) {
            Some(u) => {
                taken += 1;
                let a = u.authority.unwrap();
                with_userinfo += usize::from(a.host > a.start);
                with_port += usize::from(a.port);
            }
            None => left += 1,
        }
    }
    assert!(taken > 300 && left > 300, "{taken} {left}");
    assert!(
        with_userinfo > 100 && with_port > 50,
        "{with_userinfo} {with_port}"
    );
    for (text, taken) in [
        ("https://api.example.com/v1/items", true),
        ("HTTP://u:p@h:8080/a?b#c", true),
        ("https://h:65536/", false),
        ("https://h:8o/", false),
        ("https:///h/", false),
        ("https://h\t/", false),
        (" https://h/", false),
        ("https://h/ ", false),
        ("https://[::1]/", false),
        ("file://h/", false),
    ] {
        assert_eq!(
            url::locate_ordinary(text.as_bytes()).is_some(),
            taken,
            "{text:?}"
        );
    }
}

/// Sanitizes `text` as `form` into plain text the long way: the check reads it first.
fn checked_plain(form: Form, text: &str) -> (String, Sanitized) {
    let mut buf = vec![0u8; text.len() * 3 + 64];
    let mut s = SliceSink::new(&mut buf);
    let done = with_reader(form, |read, decides_first| {
        sanitize(read, decides_first, true, text, &mut Plain(&mut s))
    })
    .expect("room");
    (String::from_utf8(s.as_bytes().to_vec()).unwrap(), done)
}

/// Database URLs and connection strings of every dialect's start, mostly without `=` or `@`.
fn sql_like() -> impl Strategy<Value = String> {
    let start = prop::sample::select(vec![
        "postgres://",
        "postgresql://u@",
        "jdbc:postgresql://",
        "jdbc:sqlserver://",
        "jdbc:jtds:sqlserver://",
        "jdbc:oracle:thin:",
        "jdbc:h2:mem:",
        "jdbc:db2://",
        "sqlite:",
        "file:",
        "mongodb://h1:1,",
        "redis://",
        "https://",
        "",
    ]);
    let rest = prop_oneof![
        3 => "[a-z0-9:/;.?#,\\\\{} -]{0,20}",
        1 => "[a-z0-9:/;.?#,\\\\{}=@ -]{0,20}",
    ];
    (start, rest).prop_map(|(s, r)| format!("{s}{r}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Every sanitizer, where it skips the check (no `=` or `@`), writes and says what it
    /// writes and says after the check.
    #[test]
    fn skipping_the_check_changes_nothing(text in prop_oneof![url_with_anything(), sql_like()]) {
        prop_assert_eq!(db_url(&text), checked_plain(Form::DatabaseUrl, &text), "{:?}", text);
        prop_assert_eq!(conn(&text), checked_plain(Form::ConnectionString, &text), "{:?}", text);
        for keep_query in [false, true] {
            prop_assert_eq!(
                http(&text, keep_query),
                checked_plain(Form::HttpUrl { keep_query }, &text),
                "{:?}", text
            );
        }
    }
}
