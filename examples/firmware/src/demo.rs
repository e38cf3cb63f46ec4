//! The traced part of the firmware: one request recorded with `xray-core`.

use core::cell::Cell;
use cortex_m_semihosting::hio::HostStream;
use static_cell::{ConstStaticCell, StaticCell};
use xray_core::model::{Exception, StackFrame};
#[cfg(feature = "full-model")]
use xray_core::model::{HttpRequest, HttpResponse};
use xray_core::rand_core::{Infallible, TryRng};
use xray_core::sampler::{LocalRules, Sampler, SamplingRequest, Upstream};
use xray_core::{Clock, EntityId, Name, Recorder, RecorderConfig, Timestamp, Transport, name};

/// The datagram budget: the largest UDP payload that crosses a 1,500-byte Ethernet MTU
/// without IP fragmentation.
pub const BUDGET: usize = 1472;
/// The recorder's buffer: the budget, its working room and the field log of open entities.
pub const BUFFER: usize = BUDGET + 1024;
/// Entities open at once.
pub const SLOTS: usize = 8;

/// Rules the sampler holds besides the default rule (1 request per second plus 5 %).
const RULES: usize = 0;

/// Subsegments recorded in a loop after the nested ones: enough to overflow the budget so
/// that some are streamed as independent subsegments.
const SAMPLES: u32 = 12;

/// The recorder's buffer: all zeros, so it lives in `.bss` and costs no flash, and taken by
/// reference so that it is never built on the stack and copied.
static BUFFER_CELL: ConstStaticCell<[u8; BUFFER]> = ConstStaticCell::new([0; BUFFER]);
/// The recorder (its state, without the buffer) and the sampler, each written in once.
static RECORDER: StaticCell<Recorder<&'static mut [u8; BUFFER], SLOTS>> = StaticCell::new();
static SAMPLER: StaticCell<Sampler<RULES>> = StaticCell::new();

/// Prints each datagram over semihosting: header line, newline, document, newline.
struct SemihostingTransport<'a> {
    out: &'a mut Option<HostStream>,
    sent: u32,
    failed: u32,
}

impl Transport for SemihostingTransport<'_> {
    fn send(&mut self, datagram: &[u8]) {
        if crate::host_write(self.out, datagram) && crate::host_write(self.out, b"\n") {
            self.sent += 1;
        } else {
            self.failed += 1;
        }
    }
}

/// A clock for QEMU: a fixed epoch (as if set by SNTP) plus 250 µs per reading, so that the
/// output is deterministic and every entity has a duration.
struct TickClock {
    epoch: Timestamp,
    ticks: Cell<u64>,
}

impl Clock for TickClock {
    fn now(&self) -> Option<Timestamp> {
        let t = self.ticks.get();
        self.ticks.set(t + 1);
        Some(Timestamp::from_micros(self.epoch.as_micros() + t * 250))
    }
}

/// xorshift64*: stands in for the board's hardware RNG.
struct XorShift(u64);

impl TryRng for XorShift {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        Ok(x.wrapping_mul(0x2545_f491_4f6c_dd1d))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

/// Names checked at compile time: the recorder writes them as they are, so the firmware does
/// not link the run-time name filter and its Unicode table.
const SAMPLE_NAMES: [Name<'static>; 4] = [
    name!("sample-a"),
    name!("sample-b"),
    name!("sample-c"),
    name!("sample-d"),
];

/// Records one trace and prints its datagrams. Returns whether everything went out whole.
pub fn run(out: &mut Option<HostStream>) -> bool {
    // `try_` variants: a second call gets `None` instead of a panic. `_with` lets the compiler
    // build each value in place rather than on the stack.
    let Some(buffer) = BUFFER_CELL.try_take() else {
        return false;
    };
    let Some(rec) =
        RECORDER.try_init_with(|| Recorder::new(buffer, RecorderConfig::with_budget(BUDGET)))
    else {
        return false;
    };
    let Some(sampler) = SAMPLER.try_init_with(|| Sampler::new(LocalRules::default())) else {
        return false;
    };
    let clock = TickClock {
        epoch: Timestamp::from_secs_micros(1_700_000_000, 0),
        ticks: Cell::new(0),
    };
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut transport = SemihostingTransport {
        out,
        sent: 0,
        failed: 0,
    };

    // The sampler decides (the first request of the second takes the default reservoir).
    let request = SamplingRequest {
        method: Some("POST"),
        url_path: Some("/readings"),
        ..SamplingRequest::default()
    };
    let decision = sampler.decide(&request, Upstream::NoTrace, &clock, &mut rng);
    // The decision's rule is recorded as `aws.xray.sampling_rule_name`.
    let seg = rec.begin_segment(name!("sensor-node"), None, decision, &clock, &mut rng);
    let _ = rec.annotate(seg, "device_id", "node-17");
    let _ = rec.annotate(seg, "firmware_build", 42u32);
    let _ = rec.annotate(seg, "cold_boot", true);
    #[cfg(feature = "full-model")]
    {
        let _ = rec.set_http_request(
            seg,
            &HttpRequest {
                method: Some("POST"),
                url: Some("coap://sensor-node.local/readings"),
                ..HttpRequest::default()
            },
        );
        let _ = rec.add_metadata(seg, "default", "free_ram_bytes", &12_288u32);
        let _ = rec.set_service_version(seg, "1.2.0");
    }

    let read = rec.begin_subsegment(seg, name!("read-sensor"), &clock, &mut rng);
    let i2c = rec.begin_subsegment(read, name!("i2c-transfer"), &clock, &mut rng);
    let _ = rec.annotate(i2c, "bus", 1u8);
    // The error: an exception (with a stack frame in the full model) and the fault flag.
    #[cfg(feature = "full-model")]
    let stack: &[StackFrame<'_>] = &[StackFrame {
        path: Some("src/sensor.rs"),
        line: Some(42),
        label: Some("read_temperature"),
    }];
    #[cfg(not(feature = "full-model"))]
    let stack: &[StackFrame<'_>] = &[];
    let _ = rec.add_exception(
        i2c,
        &Exception {
            type_name: Some("I2cError"),
            message: Some("NACK from address 0x48"),
            stack,
            ..Exception::default()
        },
        &mut rng,
    );
    let _ = rec.set_fault(i2c);
    let _ = rec.end(i2c, &clock, &mut transport);
    let _ = rec.set_fault(read);
    let _ = rec.end(read, &clock, &mut transport);

    for i in 0..SAMPLES {
        let name = SAMPLE_NAMES[i as usize % SAMPLE_NAMES.len()];
        let s: EntityId = rec.begin_subsegment(seg, name, &clock, &mut rng);
        let _ = rec.annotate(s, "index", i);
        let _ = rec.end(s, &clock, &mut transport);
    }
    let publish = rec.begin_subsegment(seg, name!("publish"), &clock, &mut rng);
    #[cfg(feature = "full-model")]
    {
        let _ = rec.set_namespace(publish, "remote");
        let _ = rec.set_http_response(
            publish,
            &HttpResponse {
                status: Some(503),
                ..HttpResponse::default()
            },
        );
    }
    let _ = rec.end(publish, &clock, &mut transport);
    let _ = rec.set_fault(seg);
    #[cfg(feature = "full-model")]
    let _ = rec.set_http_response(
        seg,
        &HttpResponse {
            status: Some(500),
            ..HttpResponse::default()
        },
    );
    let _ = rec.end(seg, &clock, &mut transport);

    let stats = rec.stats();
    let ok = decision.sampled
        && transport.failed == 0
        && transport.sent == stats.datagrams
        && stats.datagrams >= 2
        && stats.fields_dropped == 0
        && stats.begins_refused == 0
        && !rec.is_active();
    let verdict: &[u8] = if ok {
        b"# xray-firmware-demo: ok\n"
    } else {
        b"# xray-firmware-demo: FAILED\n"
    };
    crate::host_write(transport.out, verdict);
    ok
}
