#![allow(dead_code)]
//! URLs and connection strings of every dialect with a secret in them, for the leak
//! proptests (`core/tests/secrets.rs`) and the `sanitize` fuzz target: the secret's bytes must
//! never reach a datagram.
//!
//! Secrets are marked with characters no template uses (Greek `α`..`δ`, which percent-encode
//! to `%CE%B1`..`%CE%B4`), so one leaked character, raw or percent-encoded, is found in the
//! whole datagram.

/// The marks a secret holds at least one of.
pub const MARKS: [char; 4] = ['α', 'β', 'γ', 'δ'];

/// The characters secrets are made of besides the marks: every delimiter of every dialect.
pub const SECRET_EXTRAS: &str = ";=@/?#:'\"{}\\ ,&%[]()+*!\t";

/// Whether `text` holds a mark, raw or percent-encoded.
pub fn leaks(text: &str) -> bool {
    text.chars().any(|c| MARKS.contains(&c)) || text.to_ascii_uppercase().contains("%CE%B")
}

/// Which field of which block the form goes into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// `sql.connection_string`.
    ConnectionString,
    /// `sql.url`.
    SqlUrl,
    /// `http.request.url`, with the query kept or not.
    HttpUrl { keep_query: bool },
}

/// How many forms [`embed`] knows.
pub const FORMS: usize = 34;

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// An ADO.NET / ODBC value: raw when it can be, else quoted in the style `style` picks.
fn ado(s: &str, style: usize) -> String {
    let plain =
        !s.contains(';') && !s.starts_with(['"', '\'', '{']) && s.trim() == s && !s.is_empty();
    match style % 4 {
        0 if plain => s.to_string(),
        0 | 1 => format!("\"{}\"", s.replace('"', "\"\"")),
        2 => format!("'{}'", s.replace('\'', "''")),
        _ => format!("{{{}}}", s.replace('}', "}}")),
    }
}

/// A libpq value, single-quoted or backslash-escaped.
fn libpq(s: &str, quoted: bool) -> String {
    if quoted {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    } else {
        let mut out = String::new();
        for c in s.chars() {
            if c.is_whitespace() || c == '\'' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out
    }
}

/// Form `form % FORMS` with `secret` in it; `w` is a plain word (host, user, database);
/// `style` picks quoting and variants.
pub fn embed(form: usize, secret: &str, w: &str, style: usize) -> (Field, String) {
    use Field::*;
    let s = secret;
    let keys = [
        "Password",
        "Pwd",
        "PWD",
        " password ",
        "Account Key",
        "AccountKey",
        "SharedAccessKey",
        "client_secret",
        "access_token",
        "Jet OLEDB:Database Password",
        "token",
        "sslpassword",
        "SharedAccessSignature",
    ];
    let key = keys[style % keys.len()];
    let http_forms = [
        "https://",
        "http:",
        "https:\\\\",
        "//",
        "\\\\",
        "HTTP:///",
        "wss://",
        "ftp:/",
    ];
    let scheme = http_forms[style % http_forms.len()];
    match form % FORMS {
        0 => (
            ConnectionString,
            format!(
                "Server={w};User Id={w};Password={};Database={w}",
                ado(s, style)
            ),
        ),
        1 => (
            ConnectionString,
            format!("Data Source={w};{key}={};Encrypt=true", ado(s, style)),
        ),
        2 => (
            ConnectionString,
            format!(
                "Driver={{ODBC Driver 18}};Server={w};UID={w};PWD={};",
                ado(s, 3)
            ),
        ),
        3 => (
            ConnectionString,
            format!("host={w} password={} dbname={w}", libpq(s, true)),
        ),
        4 => (
            ConnectionString,
            format!("password={} host={w}", libpq(s, false)),
        ),
        5 => (
            ConnectionString,
            format!("postgres://{w}:{s}@{w}:5432/{w}?sslmode=require"),
        ),
        6 => (
            ConnectionString,
            format!("postgres://{w}:{}@{w}:5432/{w}", pct(s)),
        ),
        7 => (
            ConnectionString,
            format!("mongodb+srv://{w}:{s}@{w}.example.net/{w}?retryWrites=true"),
        ),
        8 => (ConnectionString, format!("redis://:{s}@{w}:6379/0")),
        9 => (
            ConnectionString,
            format!("postgresql://{w}/{w}?password={}", pct(s)),
        ),
        10 => (
            ConnectionString,
            format!(
                "jdbc:postgresql://{w}:5432/{w}?user={w}&password={}",
                pct(s)
            ),
        ),
        11 => (
            ConnectionString,
            format!(
                "jdbc:sqlserver://{w}:1433;databaseName={w};user={w};password={}",
                ado(s, 3)
            ),
        ),
        12 => (
            ConnectionString,
            format!("jdbc:mysql://{w}:{s}@{w}:3306/{w}"),
        ),
        13 => (
            ConnectionString,
            format!("jdbc:oracle:thin:{w}/{s}@{w}:1521:ORCL"),
        ),
        14 => (
            ConnectionString,
            format!(
                "jdbc:db2://{w}:50000/{w}:user={w};password={};",
                ado(s, style)
            ),
        ),
        15 => (
            ConnectionString,
            format!("jdbc:h2:mem:{w};USER=sa;PASSWORD={}", ado(s, style)),
        ),
        16 => (
            HttpUrl {
                keep_query: style.is_multiple_of(2),
            },
            format!("{scheme}{w}:{s}@{w}.example/{w}"),
        ),
        // A user name alone, percent-encoded as it must be (raw, a `/` in it would end the
        // authority before the `@`, and a URL parser would read it as the host).
        17 => (
            HttpUrl {
                keep_query: style.is_multiple_of(2),
            },
            format!("{scheme}{}@{w}.example/{w}", pct(s)),
        ),
        18 => (
            HttpUrl { keep_query: true },
            format!(
                "https://{w}.s3.amazonaws.com/{w}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={0}&X-Amz-Signature={0}&X-Amz-Security-Token={0}",
                pct(s)
            ),
        ),
        19 => (
            HttpUrl { keep_query: true },
            format!(
                "https://{w}.s3.amazonaws.com/{w}?AWSAccessKeyId={0}&Expires=1&Signature={0}",
                pct(s)
            ),
        ),
        20 => (
            HttpUrl { keep_query: true },
            format!(
                "https://{w}.example/cb?code={0}&state={w}&access_token={0}#id_token={s}",
                pct(s)
            ),
        ),
        21 => (
            ConnectionString,
            format!(
                "DefaultEndpointsProtocol=https;AccountName={w};AccountKey={};EndpointSuffix=core.windows.net",
                ado(s, style)
            ),
        ),
        22 => (
            ConnectionString,
            format!("{w}:6380,password={},ssl=True", s.replace(',', "")),
        ),
        23 => (ConnectionString, format!("rediss://default:{s}@{w}:6379")),
        24 => (ConnectionString, format!("amqps://{w}:{s}@{w}/vhost")),
        25 => (
            ConnectionString,
            format!("mysql://{w}:{s}@{w}:3306,{w}:3307/{w}"),
        ),
        26 => (
            ConnectionString,
            format!(
                "account={w};user={w};password={};private_key_file_pwd={}",
                ado(s, style),
                ado(s, style + 1)
            ),
        ),
        27 => (SqlUrl, format!("postgres://{w}:{s}@{w}/{w}")),
        28 => (
            SqlUrl,
            format!("jdbc:sqlserver://{w};password={}", ado(s, 3)),
        ),
        29 => (
            ConnectionString,
            format!(
                "Endpoint=sb://{w}.servicebus.windows.net/;SharedAccessKeyName={w};SharedAccessKey={}",
                ado(s, style)
            ),
        ),
        30 => (
            ConnectionString,
            format!("jdbc:mysql:loadbalance://{w}:{s}@{w}:3306,{w}:3306/{w}"),
        ),
        31 => (
            ConnectionString,
            format!(
                "jdbc:jtds:sqlserver://{w}:1433/{w};user={w};password={}",
                ado(s, style)
            ),
        ),
        32 => (
            ConnectionString,
            format!(
                "host={w} port=5432 sslkey=/k.pem sslpassword={}",
                libpq(s, style.is_multiple_of(2))
            ),
        ),
        _ => (
            ConnectionString,
            format!(
                "Provider=SQLOLEDB;Data Source={w};User ID={w};Password={};",
                ado(s, style)
            ),
        ),
    }
}
