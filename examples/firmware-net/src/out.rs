//! Lines to the host over semihosting, numbers written without `core::fmt` (which would blur
//! the size report).

use cortex_m_semihosting::hio::HostStream;

/// The host's stdout; writes that fail are ignored (nothing else to report to).
pub struct Out(Option<HostStream>);

impl Out {
    pub fn new(stream: Option<HostStream>) -> Self {
        Self(stream)
    }

    fn write(&mut self, bytes: &[u8]) {
        if let Some(stream) = &mut self.0 {
            let _ = stream.write_all(bytes);
        }
    }

    /// Writes `parts`, then `number` in decimal if there is one, then a newline.
    pub fn line(&mut self, parts: &[&[u8]], number: Option<u64>) {
        for part in parts {
            self.write(part);
        }
        if let Some(n) = number {
            let mut digits = [0; 20];
            self.write(decimal(n, &mut digits));
        }
        self.write(b"\n");
    }

    /// Writes `label` and then ` name=value` for each counter, then a newline: the form the
    /// host program parses.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub fn counters(&mut self, label: &[u8], counters: &[(&[u8], u64)]) {
        self.write(label);
        for (name, value) in counters {
            let mut digits = [0; 20];
            self.write(b" ");
            self.write(name);
            self.write(b"=");
            self.write(decimal(*value, &mut digits));
        }
        self.write(b"\n");
    }
}

/// `n` in decimal.
fn decimal(mut n: u64, out: &mut [u8; 20]) -> &[u8] {
    let mut i = out.len();
    loop {
        i -= 1;
        out[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 || i == 0 {
            return &out[i..];
        }
    }
}
