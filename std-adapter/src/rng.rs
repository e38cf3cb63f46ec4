//! Random numbers for trace and segment ids.
//!
//! The core generates ids from any `rand_core::Rng`. This module offers three:
//!
//! - [`ThreadRng`] (the default for the std adapter): a handle to a per-thread [`FastRng`]
//!   seeded from the operating system (`getrandom`) on the thread's first draw. About a
//!   nanosecond per id, no lock, no syscall after the first draw.
//! - [`FastRng`]: the generator itself (xoshiro256++), owned by the caller.
//! - [`OsRng`]: every draw asks the operating system (one `getrandom` call each). Slower
//!   (a syscall per id), but unpredictable.
//!
//! # Trade-off: the spec asks for secure randomness for trace ids
//!
//! AWS's guide says to "generate trace IDs with a secure random algorithm". xoshiro256++ is
//! fast and statistically strong, but not cryptographic: someone who sees a few consecutive
//! outputs of one thread's generator (four 64-bit values, i.e. a handful of ids sent to a
//! service they control) could compute its state and predict that thread's later ids. Trace
//! ids are correlation keys, not secrets or credentials; the worst such a party can do is
//! add spans to traces it can guess, which it can already do for any trace whose header it
//! sees. Seeding each thread separately from the OS keeps ids unpredictable to everyone else,
//! makes threads independent, and avoids collisions between processes. If your threat model
//! says otherwise, pass [`OsRng`] instead.
//!
//! A process that `fork`s without `exec` copies its generators: parent and child would then
//! produce the same ids. Seed a new [`FastRng`] (or use [`OsRng`]) in the child.

use core::cell::Cell;
use core::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rand_core::TryRng;

/// A fast, non-cryptographic generator: xoshiro256++ (Blackman and Vigna).
///
/// 256 bits of state, period 2^256 − 1. Seed it from the OS with [`FastRng::from_os`].
///
/// ```
/// use rand_core::Rng;
/// use xray_std::core::{SegmentId, TraceId, Timestamp};
/// use xray_std::FastRng;
///
/// let mut rng = FastRng::from_os();
/// let trace = TraceId::generate(Timestamp::from_secs_micros(1_700_000_000, 0), &mut rng);
/// let segment = SegmentId::generate(&mut rng);
/// assert_ne!(rng.next_u64(), rng.next_u64());
/// # let _ = (trace, segment);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct FastRng {
    s: [u64; 4],
}

impl core::fmt::Debug for FastRng {
    /// Does not show the state: whoever reads it could predict the ids.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("FastRng { .. }")
    }
}

impl FastRng {
    /// A generator seeded with 32 bytes from the operating system.
    ///
    /// If the OS has no randomness to give (very early boot, a sandbox without
    /// `getrandom`), the seed falls back to the time, the thread and a process-wide counter,
    /// and a warning is logged. Never panics.
    pub fn from_os() -> Self {
        Self { s: os_seed() }
    }

    /// A generator from a 32-byte seed (little-endian words). An all-zero seed, which
    /// xoshiro cannot use, is replaced by a fixed non-zero one.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let mut s = [0u64; 4];
        for (word, chunk) in s.iter_mut().zip(seed.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            *word = u64::from_le_bytes(b);
        }
        Self::from_state(s)
    }

    /// A generator whose state is expanded from one `u64` with SplitMix64: for tests and
    /// reproducible runs.
    pub fn seed_from_u64(seed: u64) -> Self {
        let mut sm = seed;
        Self::from_state([
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ])
    }

    fn from_state(s: [u64; 4]) -> Self {
        if s == [0; 4] {
            Self::seed_from_u64(0x9e37_79b9_7f4a_7c15)
        } else {
            Self { s }
        }
    }

    #[inline]
    fn step(s: &mut [u64; 4]) -> u64 {
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }
}

impl TryRng for FastRng {
    type Error = Infallible;

    #[inline]
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        // The high bits are the better ones.
        Ok((Self::step(&mut self.s) >> 32) as u32)
    }

    #[inline]
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(Self::step(&mut self.s))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let v = Self::step(&mut self.s).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

thread_local! {
    static THREAD_STATE: Cell<[u64; 4]> = Cell::new(FastRng::from_os().s);
}

/// A handle to this thread's [`FastRng`], seeded from the OS on the thread's first draw.
///
/// Zero-sized and `Copy`; create one wherever an RNG is needed. Each thread has its own
/// generator, so there is no lock and no sharing. See the [module docs](self) for the
/// security trade-off.
///
/// ```
/// use xray_std::core::Timestamp;
/// use xray_std::{SegmentId, ThreadRng, TraceId};
///
/// let now = Timestamp::from_secs_micros(1_700_000_000, 0);
/// let a = TraceId::generate(now, &mut ThreadRng);
/// let b = TraceId::generate(now, &mut ThreadRng);
/// assert_ne!(a, b);
/// assert_ne!(SegmentId::generate(&mut ThreadRng), SegmentId::generate(&mut ThreadRng));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadRng;

impl ThreadRng {
    #[inline]
    fn next(self) -> u64 {
        THREAD_STATE
            .try_with(|cell| {
                let mut s = cell.get();
                let v = FastRng::step(&mut s);
                cell.set(s);
                v
            })
            // Only while this thread's locals are being destroyed: draw from a fresh generator.
            .unwrap_or_else(|_| FastRng::step(&mut FastRng::from_os().s))
    }
}

impl TryRng for ThreadRng {
    type Error = Infallible;

    #[inline]
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.next() >> 32) as u32)
    }

    #[inline]
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.next())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

/// Randomness straight from the operating system (`getrandom`) on every draw.
///
/// For trace ids under a threat model that needs them unpredictable even to parties who see
/// other ids. Costs one syscall per draw. Its error type is [`Infallible`] so that it fits the
/// core's `Rng` bound: should the OS fail (practically never after boot), the draw falls back
/// to [`ThreadRng`] and a warning is logged once. For that reason it does not claim
/// `CryptoRng`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OsRng;

static OS_RNG_WARNED: AtomicBool = AtomicBool::new(false);

impl TryRng for OsRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        if let Err(e) = getrandom::fill(dst) {
            if !OS_RNG_WARNED.swap(true, Ordering::Relaxed) {
                log::warn!("X-Ray: OS randomness unavailable ({e}); using the thread RNG");
            }
            ThreadRng.try_fill_bytes(dst)?;
        }
        Ok(())
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn os_seed() -> [u64; 4] {
    let mut bytes = [0u8; 32];
    match getrandom::fill(&mut bytes) {
        Ok(()) => FastRng::from_seed(bytes).s,
        Err(e) => {
            log::warn!("X-Ray: OS randomness unavailable ({e}); seeding ids from time and thread");
            fallback_seed()
        }
    }
}

/// A best-effort seed when the OS gives no randomness: time, a process-wide counter, the
/// thread and a stack address, mixed with SplitMix64. Distinct per call, not unpredictable.
fn fallback_seed() -> [u64; 4] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let local = 0u8;
    let stack = core::ptr::addr_of!(local) as usize as u64;
    let thread = {
        use std::hash::{DefaultHasher, Hash, Hasher};
        let mut h = DefaultHasher::new();
        std::thread::current().id().hash(&mut h);
        h.finish()
    };
    let mut sm = nanos
        ^ count.rotate_left(32)
        ^ stack.rotate_left(17)
        ^ thread
        ^ u64::from(std::process::id());
    FastRng::from_state([
        splitmix64(&mut sm),
        splitmix64(&mut sm),
        splitmix64(&mut sm),
        splitmix64(&mut sm),
    ])
    .s
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::Rng;
    use std::collections::HashSet;

    #[test]
    fn xoshiro256plusplus_reference_vector() {
        // The reference implementation's output for the state {1, 2, 3, 4}.
        let mut rng = FastRng::from_state([1, 2, 3, 4]);
        let expected: [u64; 10] = [
            41943041,
            58720359,
            3588806011781223,
            3591011842654386,
            9228616714210784205,
            9973669472204895162,
            14011001112246962877,
            12406186145184390807,
            15849039046786891736,
            10450023813501588000,
        ];
        for want in expected {
            assert_eq!(rng.next_u64(), want);
        }
    }

    #[test]
    fn seeds_are_little_endian_words_and_zero_is_replaced() {
        let mut seed = [0u8; 32];
        seed[0] = 1;
        seed[8] = 2;
        seed[16] = 3;
        seed[24] = 4;
        assert_eq!(FastRng::from_seed(seed), FastRng::from_state([1, 2, 3, 4]));
        let mut zero = FastRng::from_seed([0; 32]);
        assert_ne!(zero.next_u64(), 0);
        assert_ne!(zero.s, [0; 4]);
    }

    #[test]
    fn debug_output_hides_the_state() {
        assert_eq!(format!("{:?}", FastRng::seed_from_u64(1)), "FastRng { .. }");
    }

    #[test]
    fn fill_bytes_handles_partial_chunks() {
        let mut a = FastRng::seed_from_u64(7);
        let mut b = a.clone();
        let mut buf = [0u8; 13];
        a.fill_bytes(&mut buf);
        let w0 = b.next_u64().to_le_bytes();
        let w1 = b.next_u64().to_le_bytes();
        assert_eq!(&buf[..8], &w0);
        assert_eq!(&buf[8..], &w1[..5]);
    }

    #[test]
    fn os_seeded_generators_differ() {
        let a = FastRng::from_os();
        let b = FastRng::from_os();
        assert_ne!(a, b);
        assert_ne!(fallback_seed(), fallback_seed());
    }

    #[test]
    fn threads_get_independent_streams() {
        let here: Vec<u64> = (0..4).map(|_| ThreadRng.next_u64()).collect();
        let there = std::thread::spawn(|| (0..4).map(|_| ThreadRng.next_u64()).collect::<Vec<_>>())
            .join()
            .unwrap();
        assert_ne!(here, there);
        let distinct: HashSet<u64> = here.iter().chain(&there).copied().collect();
        assert_eq!(distinct.len(), 8);
    }

    #[test]
    fn os_rng_draws_differ() {
        let mut rng = OsRng;
        let draws: HashSet<u64> = (0..16).map(|_| rng.next_u64()).collect();
        assert_eq!(draws.len(), 16);
        let mut buf = [0u8; 32];
        rng.fill_bytes(&mut buf);
        assert_ne!(buf, [0; 32]);
    }

    #[test]
    fn bits_are_balanced() {
        // A coarse sanity check: over 4096 draws each bit is set about half the time.
        let mut rng = ThreadRng;
        let mut ones = [0u32; 64];
        for _ in 0..4096 {
            let v = rng.next_u64();
            for (bit, count) in ones.iter_mut().enumerate() {
                *count += ((v >> bit) & 1) as u32;
            }
        }
        for (bit, count) in ones.iter().enumerate() {
            assert!((1700..2400).contains(count), "bit {bit}: {count}");
        }
    }
}
