//! Byte sinks the encoder writes into: all-or-nothing writes into caller-provided memory.
//!
//! The module is private: the crate root exports what users need, [`Sink`] (what the public
//! sanitizers write into; implement it for your own buffer), [`SliceSink`] (one over a byte
//! slice) and [`Full`]. Inside the crate it is `crate::sink::{Full, Sink, SliceSink}`.

/// A write did not fit: nothing was written.
///
/// Zero-sized: a failed write is all the encoder needs to know, and a `Result<(), Full>` is
/// then a single flag, which keeps each of the encoder's hundreds of `?` small (a byte count,
/// which nothing used, made every one of them larger; see the firmware's size budget).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

impl core::fmt::Display for Full {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("buffer full")
    }
}

impl core::error::Error for Full {}

/// An append-only byte buffer with a fixed capacity.
///
/// Every write either lands whole or not at all (then it returns [`Full`]), so a failed write
/// never leaves half a JSON token behind, and [`Sink::truncate`] can roll back to any earlier
/// length.
pub trait Sink {
    /// Appends `bytes`, or writes nothing and returns [`Full`].
    fn write(&mut self, bytes: &[u8]) -> Result<(), Full>;
    /// Appends one byte (JSON punctuation), or returns [`Full`]. A sink can make this cheaper
    /// than a one-byte [`Sink::write`]: [`SliceSink`] does, which saves the encoder's many
    /// punctuation call sites a pointer each, which adds up in firmware flash.
    fn byte(&mut self, b: u8) -> Result<(), Full> {
        self.write(&[b])
    }
    /// Bytes written so far.
    fn len(&self) -> usize;
    /// Whether nothing has been written yet.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Bytes that can still be written.
    fn remaining(&self) -> usize;
    /// Forgets everything written after the first `len` bytes. A larger `len` does nothing.
    fn truncate(&mut self, len: usize);
}

/// A sink over a mutable byte slice.
#[derive(Debug)]
pub struct SliceSink<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> SliceSink<'a> {
    /// A sink writing into `buf`, from its start.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    /// What has been written.
    #[cfg_attr(not(feature = "small"), inline)]
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Appends the first `len` bytes of `chunk` (`len` ≤ `N`), or writes nothing and returns
    /// [`Full`]. Where the slice has room for all `N` bytes, all `N` are copied: one
    /// fixed-size move where a `memcpy` of `len` bytes would be called. The bytes past `len`
    /// land in the part of the slice not written yet and stay not written: what the sink has
    /// written is still only [`SliceSink::as_bytes`], and a later write goes over them.
    #[cfg(not(feature = "small"))]
    #[inline]
    pub(crate) fn write_padded<const N: usize>(
        &mut self,
        chunk: &[u8; N],
        len: usize,
    ) -> Result<(), Full> {
        match self.buf.get_mut(self.len..self.len + N) {
            Some(dst) if len <= N => {
                dst.copy_from_slice(chunk);
                self.len += len;
                Ok(())
            }
            _ => self.write(chunk.get(..len).ok_or(Full)?),
        }
    }

    /// Overwrites already written bytes at `at` (a length placeholder, say). Out of range
    /// bytes are ignored.
    pub(crate) fn patch(&mut self, at: usize, bytes: &[u8]) {
        if let Some(dst) = self.buf[..self.len].get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
    }
}

impl Sink for SliceSink<'_> {
    // Called from a hundred places: inlined it is fast, out of line it is small.
    #[cfg_attr(not(feature = "small"), inline)]
    #[cfg_attr(feature = "small", inline(never))]
    fn write(&mut self, bytes: &[u8]) -> Result<(), Full> {
        let end = self.len + bytes.len();
        match self.buf.get_mut(self.len..end) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len = end;
                Ok(())
            }
            None => Err(Full),
        }
    }
    #[cfg_attr(not(feature = "small"), inline)]
    #[cfg_attr(feature = "small", inline(never))]
    fn byte(&mut self, b: u8) -> Result<(), Full> {
        match self.buf.get_mut(self.len) {
            Some(dst) => {
                *dst = b;
                self.len += 1;
                Ok(())
            }
            None => Err(Full),
        }
    }
    #[cfg_attr(not(feature = "small"), inline)]
    fn len(&self) -> usize {
        self.len
    }
    #[cfg_attr(not(feature = "small"), inline)]
    fn remaining(&self) -> usize {
        self.buf.len() - self.len
    }
    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}

impl<const N: usize> Sink for heapless::Vec<u8, N> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), Full> {
        self.extend_from_slice(bytes).map_err(|_| Full)
    }
    fn len(&self) -> usize {
        self.as_slice().len()
    }
    fn remaining(&self) -> usize {
        N - self.as_slice().len()
    }
    fn truncate(&mut self, len: usize) {
        heapless::Vec::truncate(self, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_sink_is_all_or_nothing() {
        let mut buf = [0u8; 5];
        let mut s = SliceSink::new(&mut buf);
        s.write(b"abc").unwrap();
        assert_eq!(s.write(b"def"), Err(Full));
        assert_eq!(s.as_bytes(), b"abc");
        s.truncate(1);
        s.write(b"xyzw").unwrap();
        assert_eq!(s.as_bytes(), b"axyzw");
        assert_eq!(s.remaining(), 0);
    }

    #[test]
    fn one_byte_writes_stop_at_the_capacity() {
        let mut buf = [0u8; 2];
        let mut s = SliceSink::new(&mut buf);
        s.byte(b'{').unwrap();
        s.byte(b'}').unwrap();
        assert_eq!(s.byte(b','), Err(Full));
        assert_eq!(s.as_bytes(), b"{}");
        // The trait's own `byte` (through `write`) for the other sinks.
        let mut v: heapless::Vec<u8, 1> = heapless::Vec::new();
        Sink::byte(&mut v, b'[').unwrap();
        assert_eq!(Sink::byte(&mut v, b']'), Err(Full));
        assert_eq!(v.as_slice(), b"[");
    }

    #[cfg(not(feature = "small"))]
    #[test]
    fn padded_writes_are_exact_writes() {
        let chunk = *b"ab\0\0\0\0\0\0";
        // Room for the whole chunk: the padding lands past the end, and the next write goes
        // over it.
        let mut buf = [b'.'; 12];
        let mut s = SliceSink::new(&mut buf);
        s.write_padded(&chunk, 2).unwrap();
        assert_eq!(s.as_bytes(), b"ab");
        s.write(b"cd").unwrap();
        assert_eq!(s.as_bytes(), b"abcd");
        assert_eq!(s.remaining(), 8);
        // No room for the chunk, room for its bytes: an exact write.
        let mut buf = [b'.'; 3];
        let mut s = SliceSink::new(&mut buf);
        s.byte(b'{').unwrap();
        s.write_padded(&chunk, 2).unwrap();
        assert_eq!(s.as_bytes(), b"{ab");
        // No room for its bytes, or a length past the chunk: nothing written.
        assert_eq!(s.write_padded(&chunk, 1), Err(Full));
        assert_eq!(s.as_bytes(), b"{ab");
        let mut buf = [b'.'; 12];
        let mut s = SliceSink::new(&mut buf);
        assert_eq!(s.write_padded(&chunk, 9), Err(Full));
        assert_eq!(s.as_bytes(), b"");
    }

    #[test]
    fn heapless_vec_sink_writes_all_or_nothing() {
        let mut v: heapless::Vec<u8, 4> = heapless::Vec::new();
        Sink::write(&mut v, b"ab").unwrap();
        assert_eq!(Sink::write(&mut v, b"cde"), Err(Full));
        assert_eq!(v.as_slice(), b"ab");
    }
}
