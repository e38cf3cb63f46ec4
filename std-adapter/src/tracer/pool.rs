//! The recorder pool: recorders lent to requests, grown on demand up to a maximum.
//!
//! A recorder (its buffer, its slot table, its id generator) is allocated when the pool
//! grows, and never again: a request borrows one, records, and gives it back reset, so in
//! the steady state nothing is allocated. The pool keeps every recorder it ever made (its
//! high-water mark) until the tracer is dropped; the free list's `Vec` has room for all of
//! them, so giving one back never allocates either.
//!
//! Each recorder sits behind its own mutex (one per request, so requests never contend). A
//! panic while that mutex is held (in a sampler, a transport or a `Serialize`) poisons it;
//! the next lock sees that, clears the poison and abandons the trace, so the recorder is
//! reset and reused and no later request sees the broken state.
//!
//! Code the tracer calls with that mutex held (a `Serialize`, a transport, a logger the
//! transport uses) may itself record on the same request, through [`crate::current`] say.
//! The mutex is not re-entrant, so such a call would deadlock; instead the lock remembers, per
//! thread, which entry the thread holds, and a call that would lock it again does nothing.

use std::cell::Cell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use xray_core::recorder::DEFAULT_SLOTS;
use xray_core::{EntityId, Outcome, Recorder, RecorderConfig, RecorderStats};

use super::errors::TraceError;
use super::stats::{Counters, bump};
use crate::rng::FastRng;
use crate::trace_clock::TraceClock;

/// The recorder type the tracer pools.
pub type PooledRecorder = Recorder<Box<[u8]>, DEFAULT_SLOTS>;

/// One request's recording state.
pub(crate) struct State {
    pub(crate) rec: PooledRecorder,
    pub(crate) rng: FastRng,
    /// The clock of the trace in progress.
    pub(crate) clock: TraceClock,
    /// The segment (or Lambda facade) of the trace in progress.
    pub(crate) segment: EntityId,
    /// The outcome of the last recording call, for `last_outcome`.
    pub(crate) last: Result<Outcome, TraceError>,
    /// A panic interrupted a call on this trace: it was abandoned; calls are no-ops.
    pub(crate) broken: bool,
    /// The recorder's stats when its counters were last added to the tracer's.
    counted: RecorderStats,
}

impl State {
    /// Adds what the recorder did since the last time to the tracer's counters.
    pub(crate) fn count(&mut self, counters: &Counters) {
        let now = *self.rec.stats();
        counters.add_recorder(&self.counted, &now);
        self.counted = now;
    }

    /// Makes the recorder ready for the next request.
    pub(crate) fn reset(&mut self) {
        self.rec.reset();
        self.clock.clear();
        self.segment = EntityId::NONE;
        self.last = Ok(Outcome::NotSampled);
        self.broken = false;
    }
}

/// A pooled recorder, shared by the clones of one request's handle.
pub(crate) struct Entry {
    state: Mutex<State>,
    /// Handles (clones of the request's `TraceContext` and its guards) that use this entry;
    /// the last one to go gives the recorder back.
    pub(crate) users: AtomicUsize,
}

thread_local! {
    /// The entry whose state this thread has locked (its address), or 0.
    static HELD: Cell<usize> = const { Cell::new(0) };
}

/// A locked recording state; the thread's note of it is undone when dropped.
pub(crate) struct Locked<'a> {
    guard: MutexGuard<'a, State>,
    previous: usize,
}

impl Deref for Locked<'_> {
    type Target = State;

    fn deref(&self) -> &State {
        &self.guard
    }
}

impl DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.guard
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let previous = self.previous;
        let _ = HELD.try_with(|h| h.set(previous));
    }
}

impl Entry {
    /// Locks the state. After a panic that poisoned the lock, the trace is abandoned (the
    /// recorder reset, the trace marked broken) and the panic counted. `None` when this
    /// thread already holds it (a call from code the tracer called with it held).
    pub(crate) fn lock(&self, counters: &Counters) -> Option<Locked<'_>> {
        let me = std::ptr::from_ref(self) as usize;
        if HELD.try_with(Cell::get).unwrap_or(0) == me {
            return None;
        }
        let guard = match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => {
                self.state.clear_poison();
                let mut guard = poisoned.into_inner();
                abandon(&mut guard, counters);
                guard
            }
        };
        let previous = HELD.try_with(|h| h.replace(me)).unwrap_or(0);
        Some(Locked { guard, previous })
    }
}

/// Gives up the trace in progress after a panic interrupted it.
pub(crate) fn abandon(state: &mut State, counters: &Counters) {
    if !state.broken {
        bump(&counters.panics);
        log::error!("X-Ray: a panic interrupted a trace; it was abandoned, nothing more is sent");
    }
    state.count(counters);
    state.rec.reset();
    state.broken = true;
}

/// Recorders lent to requests: a free list, grown on demand up to `max`.
pub(crate) struct Pool {
    free: Mutex<Vec<Arc<Entry>>>,
    /// Recorders made so far (free or lent).
    created: AtomicUsize,
    max: usize,
    buffer_len: usize,
    config: RecorderConfig,
}

impl Pool {
    /// A pool with `initial` recorders made now, growing up to `max`.
    pub(crate) fn new(
        initial: usize,
        max: usize,
        buffer_len: usize,
        config: RecorderConfig,
    ) -> Self {
        let initial = initial.min(max);
        let pool = Pool {
            free: Mutex::new(Vec::with_capacity(initial)),
            created: AtomicUsize::new(initial),
            max,
            buffer_len,
            config,
        };
        {
            let mut free = pool.free.lock().unwrap_or_else(PoisonError::into_inner);
            free.extend((0..initial).map(|_| pool.make()));
        }
        pool
    }

    fn make(&self) -> Arc<Entry> {
        Arc::new(Entry {
            state: Mutex::new(State {
                rec: Recorder::new(vec![0u8; self.buffer_len].into_boxed_slice(), self.config),
                rng: FastRng::from_os(),
                clock: TraceClock::default(),
                segment: EntityId::NONE,
                last: Ok(Outcome::NotSampled),
                broken: false,
                counted: RecorderStats::default(),
            }),
            users: AtomicUsize::new(0),
        })
    }

    /// A free recorder, or a new one while the pool is below its maximum. `None` when every
    /// recorder is lent and the pool is at its maximum.
    pub(crate) fn take(&self) -> Option<Arc<Entry>> {
        if let Some(entry) = self
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
        {
            return Some(entry);
        }
        let made = self
            .created
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()?;
        // The only allocations: the pool grows by one recorder, and the free list gets room
        // for it now, so that giving it back never allocates.
        {
            let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
            let room = (made + 1).saturating_sub(free.len());
            free.reserve(room);
        }
        Some(self.make())
    }

    /// Takes a recorder back (reset by the caller).
    pub(crate) fn give_back(&self, entry: Arc<Entry>) {
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(entry);
    }

    /// Recorders free right now.
    pub(crate) fn available(&self) -> usize {
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Recorders made so far.
    pub(crate) fn created(&self) -> usize {
        self.created.load(Ordering::Acquire)
    }

    /// The most recorders the pool makes.
    pub(crate) fn max(&self) -> usize {
        self.max
    }
}
