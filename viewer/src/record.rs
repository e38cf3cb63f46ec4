//! Datagrams as JSON lines: written with `--record FILE`, read back with `--replay FILE`.
//!
//! One line per datagram, in arrival order:
//!
//! ```text
//! {"received_at":1700000000.123456,"from":"127.0.0.1:53211","text":"{\"format\":\"json\",\"version\":1}\n{…}"}
//! ```
//!
//! `text` holds the datagram when it is UTF-8; otherwise `bytes` holds it as an array of
//! numbers. `received_at` (epoch seconds) and `from` are optional when reading, so a file can
//! also be written by hand: `{"text":"…"}` per line.

use std::fs::File;
use std::io::{self, BufRead, BufWriter, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::datagram::Datagram;

/// The longest line read back (a datagram of 64 KiB written as an array of numbers fits).
pub const MAX_LINE_LEN: usize = 512 * 1024;

/// Appends datagrams to a file, one JSON line each, flushed after every line.
#[derive(Debug)]
pub struct RecordWriter {
    out: BufWriter<File>,
}

impl RecordWriter {
    /// Creates (or truncates) the file.
    pub fn create(path: &Path) -> io::Result<Self> {
        Ok(Self {
            out: BufWriter::new(File::create(path)?),
        })
    }

    /// Writes one datagram.
    pub fn write(&mut self, datagram: &Datagram) -> io::Result<()> {
        writeln!(self.out, "{}", to_line(datagram))?;
        self.out.flush()
    }
}

/// One datagram as a JSON line (without the newline).
pub fn to_line(datagram: &Datagram) -> String {
    let mut line = Map::new();
    if let Some(t) = datagram
        .received_at
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
    {
        // Fixed-point seconds with microseconds, as the recorder writes timestamps.
        let text = format!("{}.{:06}", t.as_secs(), t.subsec_micros());
        if let Ok(n) = text.parse::<serde_json::Number>() {
            line.insert("received_at".into(), Value::Number(n));
        }
    }
    if let Some(from) = datagram.from {
        line.insert("from".into(), json!(from.to_string()));
    }
    match std::str::from_utf8(&datagram.bytes) {
        Ok(text) => line.insert("text".into(), json!(text)),
        Err(_) => line.insert("bytes".into(), json!(datagram.bytes)),
    };
    Value::Object(line).to_string()
}

/// A line of a recording that could not be read.
#[derive(Debug)]
pub struct ReplayError {
    /// The line number, from 1.
    pub line: usize,
    /// What was wrong.
    pub reason: String,
}

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for ReplayError {}

/// Reads one line of a recording.
pub fn from_line(line: &str) -> Result<Datagram, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let bytes = match (value.get("text"), value.get("bytes")) {
        (Some(Value::String(text)), _) => text.as_bytes().to_vec(),
        (_, Some(Value::Array(list))) => list
            .iter()
            .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
            .collect::<Option<Vec<u8>>>()
            .ok_or("\"bytes\" must be numbers from 0 to 255")?,
        _ => return Err("no \"text\" string or \"bytes\" array".into()),
    };
    let received_at = value
        .get("received_at")
        .and_then(Value::as_f64)
        .filter(|t| t.is_finite() && *t >= 0.0 && *t < 1e12)
        .map(|t| UNIX_EPOCH + Duration::from_secs_f64(t));
    let from = value
        .get("from")
        .and_then(Value::as_str)
        .and_then(|f| f.parse::<SocketAddr>().ok());
    Ok(Datagram {
        bytes,
        from,
        received_at,
    })
}

/// Reads a recording: each line's datagram, or why the line could not be read. Lines longer
/// than [`MAX_LINE_LEN`] are reported and skipped; blank lines are skipped.
pub fn read(mut input: impl BufRead) -> impl Iterator<Item = Result<Datagram, ReplayError>> {
    let mut number = 0;
    std::iter::from_fn(move || {
        loop {
            number += 1;
            let mut line = Vec::new();
            // One byte over the limit tells a long line from one exactly at it.
            let read = (&mut input)
                .take(MAX_LINE_LEN as u64 + 1)
                .read_until(b'\n', &mut line);
            match read {
                Ok(0) => return None,
                Err(e) => {
                    return Some(Err(ReplayError {
                        line: number,
                        reason: e.to_string(),
                    }));
                }
                Ok(_) => {}
            }
            if line.len() > MAX_LINE_LEN {
                // Skip the rest of the long line, a bounded chunk at a time.
                while !line.ends_with(b"\n") {
                    line.clear();
                    match (&mut input).take(64 * 1024).read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
                return Some(Err(ReplayError {
                    line: number,
                    reason: format!("longer than {MAX_LINE_LEN} bytes"),
                }));
            }
            let text = String::from_utf8_lossy(&line);
            if text.trim().is_empty() {
                continue;
            }
            return Some(from_line(text.trim_end()).map_err(|reason| ReplayError {
                line: number,
                reason,
            }));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let datagrams = [
            Datagram {
                bytes: b"{\"format\":\"json\",\"version\":1}\n{\"a\":\"\xc3\xa9\"}".to_vec(),
                from: Some("127.0.0.1:4000".parse().unwrap()),
                received_at: Some(UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456)),
            },
            Datagram::new(b"\xff\x00\n".to_vec()),
        ];
        let text: String = datagrams.iter().map(|d| to_line(d) + "\n").collect();
        assert!(text.contains("\"received_at\":1700000000.123456"), "{text}");
        assert!(text.contains("\"bytes\":[255,0,10]"), "{text}");
        let back: Vec<Datagram> = read(format!("\n{text}\n").as_bytes())
            .map(Result::unwrap)
            .collect();
        assert_eq!(back[0].bytes, datagrams[0].bytes);
        assert_eq!(back[0].from, datagrams[0].from);
        let t = back[0]
            .received_at
            .unwrap()
            .duration_since(UNIX_EPOCH)
            .unwrap();
        assert_eq!(
            t.as_micros() / 10,
            1_700_000_000_123_456 / 10,
            "within float precision"
        );
        assert_eq!(back[1], datagrams[1]);
    }

    #[test]
    fn bad_lines_are_reported_with_their_number() {
        let input = format!(
            "{{\"text\":\"x\"}}\nnot json\n{{\"bytes\":[256]}}\n{}\n{{\"text\":\"y\"}}\n",
            "a".repeat(MAX_LINE_LEN + 10)
        );
        let results: Vec<Result<Datagram, ReplayError>> = read(input.as_bytes()).collect();
        assert_eq!(results.len(), 5);
        assert!(results[0].is_ok());
        assert_eq!(results[1].as_ref().unwrap_err().line, 2);
        assert_eq!(results[2].as_ref().unwrap_err().line, 3);
        assert!(results[3].as_ref().unwrap_err().reason.contains("longer"));
        assert_eq!(results[4].as_ref().unwrap().bytes, b"y");
    }
}
