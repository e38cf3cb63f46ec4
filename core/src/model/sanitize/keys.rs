//! Which keys name a secret: the one list every dialect and the query filter share.
//!
//! A key is compared after normalising: ASCII letters lowercased, and everything that is not
//! an ASCII letter or digit left out, so `Account Key`, `account_key` and `ACCOUNT-KEY` are
//! all `accountkey`, and `X-Amz-Security-Token` is `xamzsecuritytoken`.
//!
//! A normalised key names a secret when it
//!
//! - contains one of [`SECRET_PARTS`] (`password`, `pwd`, `secret`, `token`, `signature`,
//!   `credential`, `accountkey`, `accesskey`, …), or
//! - is exactly one of [`SECRET_KEYS`] (`pw`, `pass`, `key`, `sig`, `auth`, `code`),
//!
//! unless it ends with one of [`NOT_SECRET_ENDINGS`] (`name`, `file`, `path`): those keys
//! hold where a secret is or what it is called (`SharedAccessKeyName`, `sslpasswordfile`),
//! not the secret. Paths to key files (`sslkey`, `sslcert`, `private_key_file`) are not
//! secrets and are kept; a key given inline (`private_key`) is masked.

/// Parts that make a key secret wherever they appear in it.
pub const SECRET_PARTS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "signature",
    "credential",
    "authorization",
    "accountkey",
    "accesskey",
    "apikey",
    "privatekey",
    "sessionid",
    "sessid",
];

/// Keys that are secret when they are the whole (normalised) key.
pub const SECRET_KEYS: &[&str] = &["pw", "pass", "key", "sig", "auth", "code"];

/// Endings that make a key name where a secret is, or what it is called, rather than hold it.
pub const NOT_SECRET_ENDINGS: &[&str] = &["name", "file", "path"];

/// A word as the low bytes of a `u128` (its last byte lowest), with the mask of its bytes:
/// the classifier keeps the last 16 normalised bytes in one `u128`, so that "ends with" is
/// one mask and compare.
const fn pack(word: &str) -> (u128, u128) {
    let b = word.as_bytes();
    let mut value = 0u128;
    let mut i = 0;
    while i < b.len() {
        value = value << 8 | b[i] as u128;
        i += 1;
    }
    let mask = if b.len() >= 16 {
        u128::MAX
    } else {
        (1u128 << (8 * b.len())) - 1
    };
    (value, mask)
}

/// Packs every word of a list (at most 16 bytes each).
const fn pack_all<const N: usize>(words: &[&str]) -> [(u128, u128); N] {
    let mut out = [(0, 0); N];
    let mut i = 0;
    while i < N {
        assert!(words[i].len() <= 16);
        out[i] = pack(words[i]);
        i += 1;
    }
    out
}

const PARTS: [(u128, u128); SECRET_PARTS.len()] = pack_all(SECRET_PARTS);

/// The last bytes of the parts, as a bit set over ASCII: only after one of them can a part
/// have just been completed, so only then are the parts compared.
const PART_ENDS: u128 = {
    let mut set = 0u128;
    let mut i = 0;
    while i < SECRET_PARTS.len() {
        let b = SECRET_PARTS[i].as_bytes();
        set |= 1 << b[b.len() - 1];
        i += 1;
    }
    set
};
const KEYS: [(u128, u128); SECRET_KEYS.len()] = pack_all(SECRET_KEYS);
const ENDINGS: [(u128, u128); NOT_SECRET_ENDINGS.len()] = pack_all(NOT_SECRET_ENDINGS);

/// Classifies a key fed byte by byte, in constant space (keys from outside can be megabytes).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct KeyClass {
    /// The last 16 normalised bytes, the last one lowest.
    window: u128,
    /// Normalised bytes fed so far.
    len: usize,
    /// Some part of [`SECRET_PARTS`] has been seen.
    hit: bool,
}

impl KeyClass {
    /// Feeds one byte of the key; bytes other than ASCII letters and digits are skipped.
    pub(super) fn feed(&mut self, b: u8) {
        if !b.is_ascii_alphanumeric() {
            return;
        }
        self.window = self.window << 8 | u128::from(b.to_ascii_lowercase());
        self.len = self.len.saturating_add(1);
        if !self.hit && PART_ENDS >> (self.window & 0x7f) & 1 == 1 {
            self.hit = PARTS.iter().any(|&p| self.ends_with(p));
        }
    }

    /// Feeds every byte of `key`.
    pub(super) fn feed_all(&mut self, key: &[u8]) {
        for &b in key {
            self.feed(b);
        }
    }

    /// Feeds a URL query key, percent-decoded (`%2D` is `-`, `+` a space) as servers read it.
    pub(super) fn feed_percent_decoded(&mut self, key: &[u8]) {
        let mut i = 0;
        while i < key.len() {
            let hex = |at: usize| key.get(at).and_then(|&h| (h as char).to_digit(16));
            match (key[i], hex(i + 1), hex(i + 2)) {
                (b'%', Some(hi), Some(lo)) => {
                    self.feed((hi * 16 + lo) as u8);
                    i += 3;
                }
                (b, _, _) => {
                    self.feed(b);
                    i += 1;
                }
            }
        }
    }

    fn ends_with(&self, (value, mask): (u128, u128)) -> bool {
        // A word longer than what was fed cannot match: the window's unused bytes are zero,
        // and no word holds a zero byte.
        self.window & mask == value
    }

    /// Whether the key fed so far names a secret (see the module docs).
    pub(super) fn is_secret(&self) -> bool {
        let whole = |&(value, mask): &(u128, u128)| {
            self.window & mask == value && self.len == (mask.count_ones() / 8) as usize
        };
        (self.hit || KEYS.iter().any(whole)) && !ENDINGS.iter().any(|&e| self.ends_with(e))
    }
}

/// Whether `key` names a secret.
pub(super) fn is_secret(key: &[u8]) -> bool {
    let mut c = KeyClass::default();
    c.feed_all(key);
    c.is_secret()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_of_every_dialect() {
        for key in [
            "password",
            "Password",
            "PWD",
            "passwd",
            "sslpassword",
            "Jet OLEDB:Database Password",
            "Account Key",
            "AccountKey",
            "SharedAccessKey",
            "SharedAccessSignature",
            "access_token",
            "token",
            "secret",
            "client_secret",
            "oauth_client_secret",
            "X-Amz-Signature",
            "X-Amz-Credential",
            "X-Amz-Security-Token",
            "Signature",
            "AWSAccessKeyId",
            "X-Goog-Signature",
            "sig",
            "key",
            "api_key",
            "private_key",
            "private_key_file_pwd",
            "jsessionid",
            "PHPSESSID",
            "pw",
            "pass",
            "auth",
            "code",
        ] {
            assert!(is_secret(key.as_bytes()), "{key}");
        }
    }

    #[test]
    fn keys_that_are_not_secrets() {
        for key in [
            "host",
            "user",
            "User Id",
            "username",
            "uid",
            "sslkey",
            "sslcert",
            "sslrootcert",
            "passfile",
            "private_key_file",
            "SharedAccessKeyName",
            "AccountName",
            "authSource",
            "authMechanism",
            "keepalives",
            "Data Source",
            "X-Amz-Date",
            "X-Amz-SignedHeaders",
            "X-Amz-Expires",
            "",
            "passwordfile",
        ] {
            assert!(!is_secret(key.as_bytes()), "{key}");
        }
    }

    #[test]
    fn long_keys_are_classified_by_what_they_contain() {
        let mut long = "x".repeat(10_000);
        long.push_str("password");
        long.push_str(&"y".repeat(10_000));
        assert!(is_secret(long.as_bytes()));
        assert!(!is_secret("k".repeat(100_000).as_bytes()));
        assert!(!is_secret(b"monkey") && !is_secret(b"xxxxxxxxxxxxxxxxxxxxkey"));
        assert!(is_secret(b"KEY") && is_secret(b"k_e-y"));
    }

    #[test]
    fn query_keys_are_percent_decoded() {
        let mut c = KeyClass::default();
        c.feed_percent_decoded(b"X%2dAmz%2DSignature");
        assert!(c.is_secret());
        let mut c = KeyClass::default();
        c.feed_percent_decoded(b"%70assword%");
        assert!(c.is_secret());
    }
}
