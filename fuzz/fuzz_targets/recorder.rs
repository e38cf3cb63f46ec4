//! The recorder and its encoder, driven by an `arbitrary` model of a trace: any Unicode in every
//! string, huge strings and stack traces, deep metadata, tiny and huge budgets, tiny buffers,
//! handles used after they ended, Lambda facades, `stream_all`, several traces in a row.
//!
//! Every datagram handed to the transport is checked:
//! - `{"format":"json","version":1}\n` + one JSON document (serde_json), no duplicate keys in
//!   any object, no NaN/inf, at most the budget (and nothing at all below `MIN_BUDGET`);
//! - it validates against `spec/segment-document-schema.json` (draft 4);
//! - X-Ray's rules by hand: names 1..=200 characters drawn from the name given (or
//!   `unnamed`), ids 16 lowercase hex, `trace_id` `1-[0-9a-f]{8}-[0-9a-f]{24}` and equal to the
//!   recorder's, annotation keys `[A-Za-z0-9_]{1,500}` with string/number/bool values, every
//!   subsegment with name/id/start_time and end_time, independent subsegments with
//!   `type: "subsegment"`, `trace_id` and `parent_id`, embedded ones without them.
//!
//! And per trace: every entity begun in a sampled trace is sent exactly once, under its own
//! parent (embedded, or independent with the parent's id); nothing is sent for unsampled
//! traces or facades; the facade's children carry the header's Parent; recorded annotations
//! and metadata are in the output unless the stats say they were dropped; the annotation count
//! stays within `max_annotations`; stats count the datagrams and bytes sent.
//!
//! And each input is recorded twice, by the same driver (`recorder/drive.rs`) compiled against
//! two builds of the core: `xray-core` as services build it, and `xray-core-small` (the same
//! source with the `small` feature, as firmware builds it). Both must send the same datagrams,
//! byte for byte, and count the same stats.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xray_fuzz_recorder::*;

/// The driver against the default core: what services ship.
mod default_core {
    use xray_core as xr;
    include!("recorder/drive.rs");
}

fuzz_target!(init: xray_fuzz_oracle::init(), |data: &[u8]| {
    let mut u = Unstructured::new(data);
    if let Ok(input) = Input::arbitrary(&mut u) {
        if debug() {
            eprintln!("{input:#?}");
        }
        // Every trace recorded both ways: the checks run on what the default core sent, and
        // the `small` build must send the same bytes and count the same.
        let fast = default_core::run(&input);
        check(&fast);
        let small = small_core::run(&input);
        assert_eq!(fast.budget, small.budget, "effective budget");
        for (i, (f, s)) in fast.datagrams.iter().zip(&small.datagrams).enumerate() {
            assert!(
                f == s,
                "datagram {i} differs with `small`:\n default: {}\n small:   {}",
                String::from_utf8_lossy(f),
                String::from_utf8_lossy(s)
            );
        }
        assert_eq!(fast.datagrams.len(), small.datagrams.len(), "datagrams sent with and without `small`");
        assert_eq!(fast.all_stats, small.all_stats, "stats with and without `small`");
    }
});
