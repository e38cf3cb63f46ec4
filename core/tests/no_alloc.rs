//! Zero heap allocations on the record → encode → send path (issue 2).
//!
//! A counting global allocator wraps the system one; the test records begin → 2 nested
//! subsegments → annotate → error → end → encode → send into a slice transport and checks
//! that the count did not move. `harness = false`: the test harness itself allocates.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(unsafe_code)]

mod common;
#[path = "common/reference.rs"]
mod reference;

use common::{StepClock, TestRng};
use xray_core::model::Exception;
use xray_core::{Outcome, Recorder, RecorderConfig, SliceTransport};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{Counting, allocations};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    let clock = StepClock::new();
    let mut rng = TestRng(42);
    let mut out = [0u8; 8192];
    let mut rec: Recorder<[u8; 16384]> =
        Recorder::new([0; 16384], RecorderConfig::with_budget(8192));

    let before = allocations();
    let sent;
    // Outcomes are counted, not collected: a Vec would allocate.
    let (mut missed, mut missed_reference) = (0u32, 0u32);
    let mut check = |o: Outcome| missed += u32::from(!o.is_recorded());
    {
        let mut transport = SliceTransport::new(&mut out);
        for _ in 0..100 {
            let seg = rec.begin_segment("no-alloc", None, true, &clock, &mut rng);
            let a = rec.begin_subsegment(seg, "outer", &clock, &mut rng);
            let b = rec.begin_subsegment(a, "inner", &clock, &mut rng);
            check(rec.annotate(b, "attempt", 3));
            check(rec.annotate(seg, "customer", "acme-corp"));
            check(rec.add_exception(
                b,
                &Exception {
                    message: Some("boom"),
                    ..Default::default()
                },
                &mut rng,
            ));
            check(rec.set_fault(b));
            check(rec.end(b, &clock, &mut transport));
            check(rec.end(a, &clock, &mut transport));
            check(rec.end(seg, &clock, &mut transport));
            missed_reference += reference::record(&mut rec, &clock, &mut rng, &mut transport);
        }
        sent = transport.sent();
    }
    let after = allocations();

    assert_eq!(sent, 200, "every trace was sent");
    assert_eq!(
        (missed, missed_reference),
        (0, 0),
        "every recording call recorded what it was given"
    );
    let text = std::str::from_utf8(&out[..]).unwrap_or("");
    assert!(
        text.contains("bench-service"),
        "the last datagram is the reference request"
    );
    assert_eq!(
        after - before,
        0,
        "heap allocations on the record → encode → send path"
    );
    println!("no_alloc: 200 traces recorded, encoded and sent with 0 heap allocations");
    println!("1 passed, 0 failed");
}
