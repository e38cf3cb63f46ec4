//! The recording calls: annotations, metadata, the http/aws/sql blocks, errors and the
//! other fields of an open entity, each written into the field log as JSON when recorded.

use super::field_log::{Payload, Section, key_bit};
use super::fields::{write_cause, write_http, write_metadata, write_precursors, write_top};
use super::layout::exception as exception_record;
use super::outcome::{Outcome, Rejection};
use super::{BOOKKEEPING, EntityId, FLAG_ERROR, FLAG_FAULT, FLAG_THROTTLE, Recorder, SlotState};
use crate::id::SegmentId;
use crate::json;
use crate::metadata_serializer::SerializeError;
use crate::model::{
    AnnotationKey, AnnotationValue, Aws, Exception, HttpRequest, HttpResponse, Members, Sql,
    valid_annotation_key,
};
use crate::sink::{Full, Sink, SliceSink};
use rand_core::Rng;

/// Writes an annotation's JSON value and says whether it was cut. Like [`Payload`], a trait of
/// its own so that its vtable holds no unused `FnOnce` copy of each closure.
trait Value {
    fn write_value(&mut self, s: &mut SliceSink<'_>) -> Result<bool, Full>;
}

impl<F: FnMut(&mut SliceSink<'_>) -> Result<bool, Full>> Value for F {
    fn write_value(&mut self, s: &mut SliceSink<'_>) -> Result<bool, Full> {
        self(s)
    }
}

/// Writes the members of one record (see [`Value`] for why not `dyn Fn`).
pub(super) trait WriteMembers {
    fn write_members(&self, m: &mut Members<'_, SliceSink<'_>>) -> Result<(), Full>;
}

impl<F: Fn(&mut Members<'_, SliceSink<'_>>) -> Result<(), Full>> WriteMembers for F {
    fn write_members(&self, m: &mut Members<'_, SliceSink<'_>>) -> Result<(), Full> {
        self(m)
    }
}

impl<B: AsMut<[u8]> + AsRef<[u8]>, const N: usize> Recorder<B, N> {
    /// Adds an annotation (indexed by X-Ray for filter expressions). Keys are 1 to 500 of
    /// `[A-Za-z0-9_]`; string values are cut to 1,000 characters; setting a key again
    /// replaces the value; at most [`RecorderConfig::max_annotations`] per trace.
    ///
    /// The value's type is resolved where this is called, so a program that never annotates
    /// a float does not link float formatting, large next to the rest of the recorder.
    ///
    /// [`RecorderConfig::max_annotations`]: super::RecorderConfig::max_annotations
    #[inline]
    pub fn annotate<'v>(
        &mut self,
        id: EntityId,
        key: &str,
        value: impl Into<AnnotationValue<'v>>,
    ) -> Outcome {
        self.annotate_any::<false>(id, key, value.into())
    }

    /// [`Recorder::annotate`] with a key already checked: the same, without checking it again.
    #[inline]
    pub fn annotate_key<'v>(
        &mut self,
        id: EntityId,
        key: AnnotationKey<'_>,
        value: impl Into<AnnotationValue<'v>>,
    ) -> Outcome {
        self.annotate_any::<true>(id, key.as_str(), value.into())
    }

    /// `CHECKED`: `key` is known to be valid (an [`AnnotationKey`]).
    #[inline(always)]
    fn annotate_any<const CHECKED: bool>(
        &mut self,
        id: EntityId,
        key: &str,
        value: AnnotationValue<'_>,
    ) -> Outcome {
        match value {
            AnnotationValue::Str(v) => self.annotate_str::<CHECKED>(id, key, v),
            AnnotationValue::Int(v) => {
                self.annotate_with::<CHECKED>(id, key, |s| json::i64(s, v).map(|()| false))
            }
            AnnotationValue::Bool(v) => {
                self.annotate_with::<CHECKED>(id, key, |s| json::bool(s, v).map(|()| false))
            }
            AnnotationValue::Float(v) => self.annotate_float::<CHECKED>(id, key, v),
        }
    }

    fn annotate_str<const CHECKED: bool>(
        &mut self,
        id: EntityId,
        key: &str,
        value: &str,
    ) -> Outcome {
        let max = self.config.max_string_chars.min(1000);
        self.annotate_with::<CHECKED>(id, key, |s| json::string(s, value, max))
    }

    fn annotate_float<const CHECKED: bool>(
        &mut self,
        id: EntityId,
        key: &str,
        value: f64,
    ) -> Outcome {
        if !value.is_finite() {
            return Outcome::Rejected(Rejection::NotFinite);
        }
        self.annotate_with::<CHECKED>(id, key, |s| json::f64(s, value).map(|_| false))
    }

    /// Records `"key":<value>`; `value` writes the JSON value and says whether it was cut.
    #[inline(always)]
    fn annotate_with<const CHECKED: bool>(
        &mut self,
        id: EntityId,
        key: &str,
        mut value: impl FnMut(&mut SliceSink<'_>) -> Result<bool, Full>,
    ) -> Outcome {
        self.annotate_value::<CHECKED>(id, key, &mut value)
    }

    /// [`Recorder::annotate_with`], not generic.
    fn annotate_value<const CHECKED: bool>(
        &mut self,
        id: EntityId,
        key: &str,
        value: &mut dyn Value,
    ) -> Outcome {
        let i = match self.writable(id) {
            Ok(i) => i,
            Err(o) => return o,
        };
        // Checked after the entity, so that an unsampled trace pays for neither.
        if !CHECKED && !valid_annotation_key(key) {
            return Outcome::Rejected(Rejection::InvalidAnnotationKey);
        }
        let mut cut = false;
        let had_annotations = self.slots[i].has(Section::Annotation);
        let r = self.push(i, Section::Annotation, |s| {
            s.byte(b'"')?;
            s.write(key.as_bytes())?;
            s.write(b"\":")?;
            cut = value.write_value(s)?;
            Ok(())
        });
        if r.is_err() {
            return self.outcome(r, cut);
        }
        let from = self.slots[i].log_from();
        let (_, area) = self.buf.as_mut().split_at_mut(self.log_start);
        let at = self.log.last_at();
        let mut maybe_set = had_annotations;
        if BOOKKEEPING {
            let bit = key_bit(self.log.prefix(area, at, key.len() + 3));
            maybe_set &= self.slots[i].keys & bit != 0;
            self.slots[i].keys |= bit;
        }
        if !(maybe_set
            && self
                .log
                .kill_earlier_duplicates(area, from, at, key.len() + 3))
        {
            if self.trace.annotations >= self.config.max_annotations {
                self.log.kill(area, at);
                return Outcome::Rejected(Rejection::TooManyAnnotations);
            }
            self.trace.annotations += 1;
        }
        self.outcome(r, cut)
    }

    /// Adds `key: value` to a metadata namespace (`"default"` is the usual one). The value is
    /// anything `serde::Serialize`, written as JSON at once by the core's own serializer, as
    /// `serde_json` would (NaN and infinities become `null`). Namespaces starting with `AWS.`
    /// are reserved; namespaces are cut to 40 characters and keys to 250; setting a key again
    /// replaces it. Metadata is the first thing dropped when a document must shrink.
    pub fn add_metadata<T: serde::Serialize + ?Sized>(
        &mut self,
        id: EntityId,
        namespace: &str,
        key: &str,
        value: &T,
    ) -> Outcome {
        let i = match self.writable(id) {
            Ok(i) => i,
            Err(o) => return o,
        };
        if namespace.starts_with("AWS.") {
            return Outcome::Rejected(Rejection::ReservedNamespace);
        }
        self.writers.metadata = Some(write_metadata);
        let max_key = self.config.max_string_chars.min(250);
        let (ns, ns_cut) = json::cut_chars(namespace, 40);
        let mut key_cut = false;
        let mut ns_len = 0;
        let mut key_len = 0;
        let mut serialize_failed = false;
        let r = self.push(i, Section::Metadata, |s| {
            // The escaped namespace goes behind its one-byte length (40 characters escape to
            // at most 240 bytes), patched in once known.
            let at = s.len();
            s.write(&[0])?;
            json::escaped(s, ns)?;
            ns_len = s.len() - at - 1;
            s.patch(at, &[ns_len as u8]);
            let before = s.len();
            key_cut = json::string(s, key, max_key)?;
            s.byte(b':')?;
            key_len = s.len() - before;
            match crate::metadata_serializer::to_sink(value, s) {
                Ok(()) => Ok(()),
                Err(SerializeError::Full) => Err(Full),
                Err(_) => {
                    serialize_failed = true;
                    Err(Full)
                }
            }
        });
        if serialize_failed {
            return Outcome::Rejected(Rejection::Serialize);
        }
        if r.is_ok() {
            let from = self.slots[i].log_from();
            let (_, area) = self.buf.as_mut().split_at_mut(self.log_start);
            let at = self.log.last_at();
            let prefix_len = 1 + ns_len + key_len;
            let mut maybe_set = true;
            if BOOKKEEPING {
                let bit = key_bit(self.log.prefix(area, at, prefix_len));
                maybe_set = self.slots[i].keys & bit != 0;
                self.slots[i].keys |= bit;
            }
            if maybe_set {
                self.log.kill_earlier_duplicates(area, from, at, prefix_len);
            }
        }
        self.outcome(r, ns_cut || key_cut)
    }

    /// Records the HTTP request (replacing an earlier one).
    pub fn set_http_request(&mut self, id: EntityId, request: &HttpRequest<'_>) -> Outcome {
        self.writers.http = Some(write_http);
        let limits = self.limits();
        let keep_query = self.config.record_url_query;
        self.replace_members(id, Section::HttpRequest, &|m: &mut Members<
            '_,
            SliceSink<'_>,
        >| {
            request.write_members(m, limits, keep_query)
        })
    }

    /// Records the HTTP response (replacing an earlier one) and sets the flags its status
    /// implies: 4xx `error`, 429 `throttle` too, 5xx `fault`.
    pub fn set_http_response(&mut self, id: EntityId, response: &HttpResponse) -> Outcome {
        self.writers.http = Some(write_http);
        let out = self.replace_members(id, Section::HttpResponse, &|m: &mut Members<
            '_,
            SliceSink<'_>,
        >| {
            response.write_members(m)
        });
        if out.is_recorded() {
            let (error, throttle, fault) = response.flags();
            if let Some(i) = self.slot(id) {
                let f = &mut self.slots[i].flags;
                *f |= if error { FLAG_ERROR } else { 0 }
                    | if throttle { FLAG_THROTTLE } else { 0 }
                    | if fault { FLAG_FAULT } else { 0 };
            }
        }
        out
    }

    /// Records the `aws` block (replacing an earlier one; the recorder's own `aws.xray` is kept).
    pub fn set_aws(&mut self, id: EntityId, aws: &Aws<'_>) -> Outcome {
        let limits = self.limits();
        let i = match self.writable(id) {
            Ok(i) => i,
            Err(o) => return o,
        };
        if self.slots[i].has(Section::Aws) {
            let from = self.slots[i].log_from();
            let (_, area) = self.buf.as_mut().split_at_mut(self.log_start);
            self.log
                .kill_section_but(area, from, i as u8, Section::Aws, "xray");
        }
        self.push_members(i, Section::Aws, &|m: &mut Members<'_, SliceSink<'_>>| {
            aws.write_members(m, limits)
        })
    }

    /// Records the `sql` block (replacing an earlier one).
    pub fn set_sql(&mut self, id: EntityId, sql: &Sql<'_>) -> Outcome {
        let limits = self.limits();
        self.replace_members(id, Section::Sql, &|m: &mut Members<'_, SliceSink<'_>>| {
            sql.write_members(m, limits)
        })
    }

    /// Records an exception under `cause.exceptions`, with a new random id. Does not set a flag:
    /// call [`Recorder::set_fault`] or [`Recorder::set_error`] as fits.
    pub fn add_exception<R: Rng + ?Sized>(
        &mut self,
        id: EntityId,
        exception: &Exception<'_>,
        rng: &mut R,
    ) -> Outcome {
        let exception_id = SegmentId::generate(rng);
        self.add_exception_with_id(id, exception_id, exception)
    }

    /// Records an exception with a given id (so that a parent can point at it with
    /// [`Recorder::set_cause_id`], or another exception through its `cause`).
    pub fn add_exception_with_id(
        &mut self,
        id: EntityId,
        exception_id: SegmentId,
        exception: &Exception<'_>,
    ) -> Outcome {
        self.writers.cause = Some(write_cause);
        let i = match self.writable(id) {
            Ok(i) => i,
            Err(o) => return o,
        };
        let limits = self.limits();
        let mut cut = false;
        let frames = u16::try_from(exception.stack.len()).unwrap_or(u16::MAX);
        let r = self.push(i, Section::Exception, |s| {
            // Frame count, frames already truncated, and the members' length, which goes in
            // front of them and is patched in once known.
            let at = s.len() + exception_record::MEMBERS_LEN.start;
            s.write(&exception_record::header(frames, exception.truncated))?;
            let mut m = Members::new(&mut *s);
            exception.write_members(&mut m, exception_id, limits)?;
            cut = m.cut;
            let members_len = u16::try_from(s.len() - at - 2).map_err(|_| Full)?;
            s.patch(at, &members_len.to_le_bytes());
            cut |= exception.write_frames(s, limits)?;
            Ok(())
        });
        self.outcome(r, cut)
    }

    /// Sets `cause` to the id of an exception recorded elsewhere in the trace (usually in a
    /// child). Ignored in the document when this entity has exceptions of its own.
    pub fn set_cause_id(&mut self, id: EntityId, exception_id: SegmentId) -> Outcome {
        self.writers.cause = Some(write_cause);
        let i = match self.writable(id) {
            Ok(i) => i,
            Err(o) => return o,
        };
        self.kill_section(i, Section::CauseId);
        let r = self.push(i, Section::CauseId, |s| json::segment_id(s, exception_id));
        self.outcome(r, false)
    }

    /// Sets `cause.working_directory`.
    pub fn set_working_directory(&mut self, id: EntityId, dir: &str) -> Outcome {
        self.writers.cause = Some(write_cause);
        let max = self.config.max_string_chars;
        self.replace_member(
            id,
            Section::CauseTop,
            "working_directory",
            &|m: &mut Members<'_, SliceSink<'_>>| m.str("working_directory", Some(dir), max),
        )
    }

    /// Sets the `fault` flag (a server-side error, 5xx).
    pub fn set_fault(&mut self, id: EntityId) -> Outcome {
        self.set_flag(id, FLAG_FAULT)
    }

    /// Sets the `error` flag (a client-side error, 4xx).
    pub fn set_error(&mut self, id: EntityId) -> Outcome {
        self.set_flag(id, FLAG_ERROR)
    }

    /// Sets the `throttle` flag (throttled, 429).
    pub fn set_throttle(&mut self, id: EntityId) -> Outcome {
        self.set_flag(id, FLAG_THROTTLE)
    }

    /// Sets `namespace`: `"aws"` for AWS SDK calls, `"remote"` for other downstream calls.
    pub fn set_namespace(&mut self, id: EntityId, namespace: &str) -> Outcome {
        self.set_top_str(id, "namespace", namespace, 250)
    }

    /// Sets `user` (cut to 250 characters).
    pub fn set_user(&mut self, id: EntityId, user: &str) -> Outcome {
        self.set_top_str(id, "user", user, 250)
    }

    /// Sets `origin` (`AWS::EC2::Instance`, `AWS::ECS::Container`…).
    pub fn set_origin(&mut self, id: EntityId, origin: &str) -> Outcome {
        self.set_top_str(id, "origin", origin, 250)
    }

    /// Sets `resource_arn`.
    pub fn set_resource_arn(&mut self, id: EntityId, arn: &str) -> Outcome {
        self.set_top_str(id, "resource_arn", arn, self.config.max_string_chars)
    }

    /// Sets `service.version`.
    pub fn set_service_version(&mut self, id: EntityId, version: &str) -> Outcome {
        self.replace_top_member(id, "service", &|m: &mut Members<'_, SliceSink<'_>>| {
            m.raw("service", |s| {
                s.write(b"{\"version\":")?;
                json::string(s, version, 250)?;
                s.byte(b'}')
            })
        })
    }

    /// Sets `traced`: this subsegment called a traced service, whose segment will name it as
    /// `parent_id`.
    pub fn set_traced(&mut self, id: EntityId) -> Outcome {
        self.replace_top_member(id, "traced", &|m: &mut Members<'_, SliceSink<'_>>| {
            m.flag("traced", true)
        })
    }

    /// Adds a precursor id: a sibling subsegment that completed before this one.
    pub fn add_precursor_id(&mut self, id: EntityId, precursor: SegmentId) -> Outcome {
        self.writers.precursors = Some(write_precursors);
        let i = match self.writable(id) {
            Ok(i) => i,
            Err(o) => return o,
        };
        let r = self.push(i, Section::Precursor, |s| s.write(precursor.as_bytes()));
        self.outcome(r, false)
    }

    /// Records the sampling rule that matched, as `aws.xray.sampling_rule_name` (with the SDK
    /// name and version), on the segment, replacing what was there. Passing the sampler's
    /// [`Decision`](crate::Decision) to [`Recorder::begin_segment`] records it already, for
    /// less code: use this only to change it afterwards.
    pub fn set_sampling_rule_name(&mut self, id: EntityId, rule: &str) -> Outcome {
        self.replace_member(id, Section::Aws, "xray", &|m: &mut Members<
            '_,
            SliceSink<'_>,
        >| {
            let mut cut = false;
            m.raw("xray", |s| {
                super::write_xray(s, Some(rule)).map(|c| cut = c)
            })?;
            m.cut |= cut;
            Ok(())
        })
    }

    // ----- internals -----

    /// The slot index of an entity that can take fields.
    // Called by every recording call: inlined it is fast, out of line it is small.
    #[cfg_attr(not(feature = "small"), inline)]
    #[cfg_attr(feature = "small", inline(never))]
    pub(super) fn writable(&self, id: EntityId) -> Result<usize, Outcome> {
        let i = self.slot(id).ok_or(Outcome::NoEntity)?;
        if !self.trace.sampled {
            return Err(Outcome::NotSampled);
        }
        match self.slots[i].state {
            SlotState::Facade => return Err(Outcome::Rejected(Rejection::Facade)),
            SlotState::Unsampled => return Err(Outcome::NotSampled),
            _ => {}
        }
        Ok(i)
    }

    #[inline(always)]
    pub(super) fn push(
        &mut self,
        slot: usize,
        section: Section,
        mut write: impl FnMut(&mut SliceSink<'_>) -> Result<(), Full>,
    ) -> Result<(), Full> {
        // The default build pushes each caller's writer as itself, inlined into the push;
        // `small` pushes them all through one `dyn` push (less code).
        #[cfg(not(feature = "small"))]
        return self.push_payload(slot, section, &mut write);
        #[cfg(feature = "small")]
        return self.push_payload::<dyn Payload>(slot, section, &mut write);
    }

    #[cfg_attr(not(feature = "small"), inline(always))]
    fn push_payload<P: Payload + ?Sized>(
        &mut self,
        slot: usize,
        section: Section,
        write: &mut P,
    ) -> Result<(), Full> {
        let (_, area) = self.buf.as_mut().split_at_mut(self.log_start);
        let mut r = self.log.try_push(area, slot as u8, section, write);
        if r.is_err() && self.log.compact(area) {
            // Squeezing moved records: every slot's starting point goes back to the log's
            // start. Pushes otherwise land at or after every slot's starting point.
            for s in self.slots.iter_mut().filter(|_| BOOKKEEPING) {
                s.log_from = 0;
            }
            r = self.log.try_push(area, slot as u8, section, write);
        }
        if r.is_ok() {
            let s = &mut self.slots[slot];
            if BOOKKEEPING && s.sections == 0 {
                s.log_from = super::log_offset(self.log.last_at());
            }
            s.sections |= 1 << (section as u8);
        }
        r
    }

    pub(super) fn kill_section(&mut self, slot: usize, section: Section) {
        if !self.slots[slot].has(section) {
            return;
        }
        let from = self.slots[slot].log_from();
        let (_, area) = self.buf.as_mut().split_at_mut(self.log_start);
        self.log
            .kill_matching(area, from, slot as u8, Some(section), None);
    }

    pub(super) fn outcome(&mut self, r: Result<(), Full>, cut: bool) -> Outcome {
        self.checked();
        match r {
            Ok(()) if cut => Outcome::Shortened,
            Ok(()) => Outcome::Recorded,
            Err(_) => {
                self.stats.fields_dropped += 1;
                Outcome::NoRoom
            }
        }
    }

    pub(super) fn set_flag(&mut self, id: EntityId, flag: u8) -> Outcome {
        match self.writable(id) {
            Ok(i) => {
                self.slots[i].flags |= flag;
                self.checked();
                Outcome::Recorded
            }
            Err(o) => o,
        }
    }

    pub(super) fn set_top_str(
        &mut self,
        id: EntityId,
        key: &str,
        value: &str,
        max: usize,
    ) -> Outcome {
        let max = max.min(self.config.max_string_chars);
        self.replace_top_member(id, key, &|m: &mut Members<'_, SliceSink<'_>>| {
            m.str(key, Some(value), max)
        })
    }

    /// Replaces every record of a section with the members `write` produces.
    pub(super) fn replace_members(
        &mut self,
        id: EntityId,
        section: Section,
        write: &dyn WriteMembers,
    ) -> Outcome {
        let i = match self.writable(id) {
            Ok(i) => i,
            Err(o) => return o,
        };
        self.kill_section(i, section);
        self.push_members(i, section, write)
    }

    /// Replaces the top-level member `key` (registering the top-level writer).
    pub(super) fn replace_top_member(
        &mut self,
        id: EntityId,
        key: &str,
        write: &dyn WriteMembers,
    ) -> Outcome {
        self.writers.top = Some(write_top);
        self.replace_member(id, Section::Top, key, write)
    }

    /// Replaces the member `key` of a section.
    pub(super) fn replace_member(
        &mut self,
        id: EntityId,
        section: Section,
        key: &str,
        write: &dyn WriteMembers,
    ) -> Outcome {
        let i = match self.writable(id) {
            Ok(i) => i,
            Err(o) => return o,
        };
        if self.slots[i].has(section) {
            let from = self.slots[i].log_from();
            let (_, area) = self.buf.as_mut().split_at_mut(self.log_start);
            self.log
                .kill_matching(area, from, i as u8, Some(section), Some(key));
        }
        self.push_members(i, section, write)
    }

    pub(super) fn push_members(
        &mut self,
        i: usize,
        section: Section,
        write: &dyn WriteMembers,
    ) -> Outcome {
        let mut cut = false;
        let mut empty = false;
        let mut redacted = false;
        let r = self.push(i, section, |s| {
            let mut m = Members::new(s);
            write.write_members(&mut m)?;
            cut = m.cut;
            redacted = m.redacted;
            empty = m.is_empty();
            Ok(())
        });
        if r.is_ok() && redacted {
            self.stats.values_redacted += 1;
            return Outcome::Redacted;
        }
        if r.is_ok() && empty {
            // Nothing set: do not leave an empty record (it would write `,` alone).
            let (_, area) = self.buf.as_mut().split_at_mut(self.log_start);
            let at = self.log.last_at();
            self.log.kill(area, at);
        }
        self.outcome(r, cut)
    }
}
