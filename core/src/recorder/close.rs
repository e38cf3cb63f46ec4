//! Closing entities: where a closed entity's document goes in the datagram buffer (into its
//! parent's run of children, or out as its own datagram), the byte budget, and sending.

use super::byte_moves::{move_left, put_in_front, rotate_right};
use super::field_log::Section;
use super::fields::{Doc, Level, write_fields};
use super::{
    BOOKKEEPING, FREE, HEADER_LEN, HEADROOM, INDEPENDENT_PREFIX_LEN, NO_PARENT, Recorder, SCRATCH,
    SlotState,
};
use crate::DAEMON_HEADER;
use crate::id::SegmentId;
use crate::json;
use crate::sink::{Full, Sink, SliceSink};
use crate::time::Timestamp;
use crate::transport::Transport;

impl<B: AsMut<[u8]> + AsRef<[u8]>, const N: usize> Recorder<B, N> {
    /// Closes slot `i` (its open children first) and frees it. `depth` bounds the recursion.
    pub(super) fn close<T: Transport + ?Sized>(
        &mut self,
        i: usize,
        end: Timestamp,
        transport: &mut T,
        depth: usize,
    ) {
        if depth > 0 && (!BOOKKEEPING || self.slots[i].children > 0) {
            for j in 0..N {
                if self.slots[j].state != SlotState::Free
                    && usize::from(self.slots[j].parent) == i
                    && j != i
                {
                    self.close(j, end, transport, depth - 1);
                }
            }
        }
        // Its own reserve is released first: its document is written now, within what is left.
        self.reserved -= self.own_reserve(i);
        self.write_closed(i, end, transport);
        self.kill_records(i);
        let parent = self.slots[i].parent;
        self.slots[i] = FREE;
        if let Some(p) = self
            .slots
            .get_mut(usize::from(parent))
            .filter(|_| BOOKKEEPING)
        {
            p.children = p.children.saturating_sub(1);
        }
    }

    /// Writes slot `i`'s document: sent (a segment, or a subsegment that streams) or added to
    /// its parent's children.
    pub(super) fn write_closed<T: Transport + ?Sized>(
        &mut self,
        i: usize,
        end: Timestamp,
        transport: &mut T,
    ) {
        let slot = self.slots[i];
        if slot.state != SlotState::Open || !self.trace.sampled {
            return;
        }
        self.move_region_to_tail(i);
        let slot = self.slots[i];
        let parent = usize::from(slot.parent);
        let is_segment = slot.parent == NO_PARENT;
        if is_segment {
            let doc = Doc {
                slot_index: i as u8,
                slot: &slot,
                end,
                trace_id: Some(self.trace.id),
                parent_id: self.trace.parent,
                writers: self.writers,
            };
            let cap = self.limit();
            if self.write_document(i, &doc, cap, transport).is_some() {
                self.send(SCRATCH, transport);
            }
            return;
        }
        let parent_is_facade = self.slots[parent].state == SlotState::Facade;
        let doc = Doc {
            slot_index: i as u8,
            slot: &slot,
            end,
            trace_id: None,
            parent_id: None,
            writers: self.writers,
        };
        if !parent_is_facade && !self.config.stream_all {
            let cap = self.limit() - self.reserved;
            let comma = self.slots[parent].region_len > 0;
            if let Some(start) = self.try_level(i, &doc, cap, comma, Level::Full) {
                self.embed(parent, start);
                // This slot's children now live inside its parent's run.
                self.slots[i].region_len = 0;
                self.slots[i].state = SlotState::Free;
                self.keep_headroom(transport);
                return;
            }
        }
        // On its own: header + independent prefix + document within the budget.
        let budget_cap =
            slot.region_start + self.config.budget + 1 - HEADER_LEN - INDEPENDENT_PREFIX_LEN;
        let cap = self.limit().min(budget_cap);
        if let Some(start) = self.write_document(i, &doc, cap, transport) {
            let parent_id = self.slots[parent].id;
            let end = self.used;
            self.send_independent(start, end, parent_id, transport);
            self.used = start;
        }
    }

    /// Moves slot `i`'s run of closed children to the end of the datagram.
    pub(super) fn move_region_to_tail(&mut self, i: usize) {
        let (rs, rl) = (self.slots[i].region_start, self.slots[i].region_len);
        if rl == 0 {
            self.slots[i].region_start = self.used;
            return;
        }
        if rs + rl != self.used {
            let run = &mut self.buf.as_mut()[rs..self.used];
            rotate_right(run, run.len() - rl);
            for s in self.slots.iter_mut() {
                if s.state != SlotState::Free && s.region_len > 0 && s.region_start > rs {
                    s.region_start -= rl;
                }
            }
            self.slots[i].region_start = self.used - rl;
        }
    }

    /// Writes slot `i`'s document around its children (which are at the tail) within `cap`.
    /// If it does not fit whole, its children are sent on their own first; then it gives way
    /// level by level. Returns where the document starts.
    pub(super) fn write_document<T: Transport + ?Sized>(
        &mut self,
        i: usize,
        doc: &Doc<'_>,
        cap: usize,
        transport: &mut T,
    ) -> Option<usize> {
        if let Some(start) = self.try_level(i, doc, cap, false, Level::Full) {
            return Some(start);
        }
        if self.slots[i].region_len > 0 {
            self.evict_children(i, usize::MAX, transport);
            self.slots[i].region_start = self.used;
        }
        for level in [
            Level::Full,
            Level::NoMetadata,
            Level::NoStacks,
            Level::Minimal,
        ] {
            if let Some(start) = self.try_level(i, doc, cap, false, level) {
                // A level leaves out what the levels before it did too: count each loss the
                // entity actually had (fuzz finding R5).
                let slot = &self.slots[i];
                let stats = &mut self.stats;
                if level >= Level::NoMetadata && slot.has(Section::Metadata) {
                    stats.metadata_dropped += 1;
                }
                if level >= Level::NoStacks && slot.has(Section::Exception) {
                    stats.stacks_dropped += 1;
                }
                if level == Level::Minimal {
                    stats.minimal_documents += 1;
                }
                return Some(start);
            }
        }
        // Unreachable while the reserve holds; drop rather than write past the budget.
        self.stats.minimal_documents += 1;
        None
    }

    /// Writes `[,]{fields[,"subsegments":[` at the tail, then moves it in front of the
    /// children and closes the document, all within `cap` (an offset in the buffer).
    pub(super) fn try_level(
        &mut self,
        i: usize,
        doc: &Doc<'_>,
        cap: usize,
        comma: bool,
        level: Level,
    ) -> Option<usize> {
        let (rs, rl) = (self.slots[i].region_start, self.slots[i].region_len);
        let used = self.used;
        let (dgram, area) = self.buf.as_mut().split_at_mut(self.log_start);
        let mut s = SliceSink::new(dgram.get_mut(used..cap)?);
        let written = (|| {
            if comma {
                s.byte(b',')?;
            }
            s.byte(b'{')?;
            write_fields(&mut s, &self.log, area, doc, level)?;
            if rl > 0 {
                s.write(b",\"subsegments\":[")?;
            }
            Ok::<usize, Full>(s.len())
        })();
        let chunk = written.ok()?;
        // The closing goes after the chunk; moving the chunk in front of the children leaves
        // it at the end: `{fields,"subsegments":[` children `]}`.
        s.write(if rl > 0 { b"]}" } else { b"}" }).ok()?;
        let total = s.len();
        if rl > 0 {
            // The room past the document, up to the field log, is free.
            put_in_front(dgram, rs, used + chunk, chunk, used + total);
        }
        self.used = used + total;
        Some(rs)
    }

    /// Adds the document at `[start, used)` to the parent's run of children.
    pub(super) fn embed(&mut self, parent: usize, start: usize) {
        let len = self.used - start;
        let p = self.slots[parent];
        if p.region_len == 0 {
            self.slots[parent].region_start = start;
            self.slots[parent].region_len = len;
            return;
        }
        let pe = p.region_start + p.region_len;
        if pe != start {
            rotate_right(&mut self.buf.as_mut()[pe..self.used], len);
            for (j, s) in self.slots.iter_mut().enumerate() {
                if j != parent
                    && s.state != SlotState::Free
                    && s.region_len > 0
                    && s.region_start >= pe
                {
                    s.region_start += len;
                }
            }
        }
        self.slots[parent].region_len += len;
    }

    /// Sends `[from, used)` as one datagram.
    pub(super) fn send<T: Transport + ?Sized>(&mut self, from: usize, transport: &mut T) {
        let d = &self.buf.as_ref()[from..self.used];
        self.stats.datagrams += 1;
        self.stats.bytes += d.len() as u64;
        transport.send(d);
    }

    /// Sends the document at `[start, end)` as an independent subsegment of `parent`: the
    /// header and the independent prefix are written over the bytes in front of it, which are
    /// saved and put back afterwards.
    pub(super) fn send_independent<T: Transport + ?Sized>(
        &mut self,
        start: usize,
        end: usize,
        parent: SegmentId,
        transport: &mut T,
    ) {
        let from = start + 1 - SCRATCH;
        let mut saved = [0u8; SCRATCH];
        let trace_id = self.trace.id;
        let buf = self.buf.as_mut();
        saved.copy_from_slice(&buf[from..=start]);
        {
            let mut s = SliceSink::new(&mut buf[from..=start]);
            let _ = s.write(DAEMON_HEADER);
            let _ = s.write(b"\n{\"type\":\"subsegment\",\"trace_id\":");
            let _ = json::trace_id(&mut s, trace_id);
            let _ = s.write(b",\"parent_id\":");
            let _ = json::segment_id(&mut s, parent);
            let _ = s.byte(b',');
            debug_assert_eq!(s.len(), SCRATCH);
        }
        let d = &buf[from..end];
        self.stats.datagrams += 1;
        self.stats.bytes += d.len() as u64;
        self.stats.streamed += 1;
        transport.send(d);
        buf[from..=start].copy_from_slice(&saved);
    }

    /// Sends the closed children at the front of slot `p`'s run (the oldest first) as
    /// independent subsegments until at least `wanted` bytes are freed, or all of them with
    /// `usize::MAX`, and closes the gap they leave.
    pub(super) fn evict_children<T: Transport + ?Sized>(
        &mut self,
        p: usize,
        wanted: usize,
        transport: &mut T,
    ) {
        let (rs, rl) = (self.slots[p].region_start, self.slots[p].region_len);
        let parent_id = self.slots[p].id;
        let end = rs + rl;
        let mut at = rs;
        while at < end && at - rs < wanted {
            // Our own output: a complete object, then a comma unless it is the last.
            let Some(len) = object_len(&self.buf.as_ref()[at..end]) else {
                // Unreachable: the run is our own output. Drop the rest rather than keep
                // bytes that are not a document.
                debug_assert!(false, "a run of children that is not a list of objects");
                at = end;
                break;
            };
            self.send_independent(at, at + len, parent_id, transport);
            at = (at + len + 1).min(end);
        }
        let cut = at - rs;
        if cut == 0 {
            return;
        }
        let used = self.used;
        move_left(self.buf.as_mut(), at..used, rs);
        for s in self.slots.iter_mut() {
            if s.state != SlotState::Free && s.region_len > 0 && s.region_start > rs {
                s.region_start -= cut;
            }
        }
        self.used -= cut;
        self.slots[p].region_len -= cut;
    }

    /// Keeps room for one more subsegment to begin: when the free space runs low, the oldest
    /// closed children of the largest run are sent as independent subsegments, as few as
    /// give the room back (the rest stay embedded and go out with their parent).
    pub(super) fn keep_headroom<T: Transport + ?Sized>(&mut self, transport: &mut T) {
        for _ in 0..N {
            let free = self.limit().saturating_sub(self.used + self.reserved);
            if free >= HEADROOM {
                return;
            }
            let largest = (0..N)
                .filter(|&j| self.slots[j].state == SlotState::Open && self.slots[j].region_len > 0)
                .max_by_key(|&j| self.slots[j].region_len);
            match largest {
                Some(j) => self.evict_children(j, HEADROOM - free, transport),
                None => return,
            }
        }
    }
}

/// The length of the JSON object at the start of `bytes` (which starts with `{`).
fn object_len(bytes: &[u8]) -> Option<usize> {
    json::bracket_depths(bytes)
        .find(|&(_, depth)| depth == 0)
        .map(|(i, _)| i + 1)
}
