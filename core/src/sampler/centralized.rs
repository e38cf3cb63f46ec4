//! Centralized sampling state (spec §5.5): rules and targets from X-Ray, fed by a poller that
//! lives in an adapter (this crate does no I/O and starts no thread).
//!
//! What the poller does with it:
//!
//! - every ~300 s (plus jitter), fetch `GetSamplingRules` and call
//!   [`CentralizedRules::replace_rules`] (needs `&mut`: keep the state behind a lock or swap
//!   whole copies; the reservoir state and counters of rules whose name survives carry over);
//! - every ~10 s, call [`CentralizedRules::statistics`] to collect the counters of rules that
//!   are due for a report (and reset them), send them with `GetSamplingTargets`, and feed each
//!   returned target document to [`CentralizedRules::apply_target`] (through `&self`, so
//!   decisions keep running); refresh the rules early when
//!   [`CentralizedRules::rules_modified_since_refresh`] says so.
//!
//! Decisions ([`CentralizedRules::decide`]) take `&self` and are lock-free: per rule, the quota,
//! its TTL, the reporting interval, the rate and the counters are 32-bit atomics (see
//! [`super::reservoir`] for the thumbv6m note). Until rules have been fetched, and when the
//! last successful fetch is older than [`RULES_TTL_SECS`], the local [`Sampler`] decides.
//!
//! Per matched rule (Go `CentralizedRule.Sample`):
//!
//! 1. the request is counted;
//! 2. without a valid quota (none yet, or past its TTL), one request per second is *borrowed*
//!    if the rule's `ReservoirSize` is above 0 (counted in `BorrowCount` only), else the
//!    `FixedRate` decides (counted in `SampledCount` if sampled);
//! 3. with a valid quota, `ReservoirQuota` requests per second are sampled, then `FixedRate`
//!    decides; both count in `SampledCount`.

use super::decision::{Decision, Reason, Upstream, decided_upstream};
use super::rate::Rate;
use super::reservoir::Reservoir;
use super::rule::{
    MAX_HOST_LEN, MAX_METHOD_LEN, MAX_URL_PATH_LEN, Pattern, RuleName, SamplingRequest, rule_name,
};
use super::{MissingSampledPolicy, Sampler};
use crate::header::SampledFlag;
use crate::time::{Clock, Timestamp};
use portable_atomic::{AtomicU32, Ordering::Relaxed};
use rand_core::Rng;

/// Rules not refreshed successfully for this long are dropped in favour of the local rules.
pub const RULES_TTL_SECS: u32 = 3_600;
/// The reporting interval until X-Ray sends one.
pub const DEFAULT_INTERVAL_SECS: u32 = 10;
/// The name of the service's catch-all rule, matched after every other rule.
pub const CENTRAL_DEFAULT_RULE: &str = "Default";
/// The longest service name and service type patterns, in bytes (the AWS rule limits).
pub const MAX_SERVICE_LEN: usize = 64;

/// One rule as `GetSamplingRules` returns it (`SamplingRuleRecords[].SamplingRule`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RuleRecord<'a> {
    /// `RuleName`.
    pub rule_name: &'a str,
    /// `Priority` (lower first).
    pub priority: i32,
    /// `FixedRate`.
    pub fixed_rate: f64,
    /// `ReservoirSize`: whether the rule may borrow before it has a quota (when above 0).
    pub reservoir_size: u32,
    /// `ServiceName` pattern.
    pub service_name: &'a str,
    /// `ServiceType` pattern.
    pub service_type: &'a str,
    /// `Host` pattern.
    pub host: &'a str,
    /// `HTTPMethod` pattern.
    pub http_method: &'a str,
    /// `URLPath` pattern.
    pub url_path: &'a str,
    /// `ResourceARN`: only `*` can be evaluated here.
    pub resource_arn: &'a str,
    /// `Version`: only 1 is known.
    pub version: i64,
    /// Whether `Attributes` is non-empty (such rules cannot be evaluated here).
    pub has_attributes: bool,
}

impl RuleRecord<'_> {
    /// Whether an SDK can evaluate the rule: version 1, `ResourceARN` `*`, no attributes, a
    /// name, and a rate in `[0, 1]` (the peers' filter, spec §5.5).
    pub fn is_supported(&self) -> bool {
        self.version == 1
            && self.resource_arn == "*"
            && !self.has_attributes
            && !self.rule_name.is_empty()
            && Rate::new(self.fixed_rate).is_some()
    }
}

/// A target document from `GetSamplingTargets` (`SamplingTargetDocuments[]`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TargetRecord<'a> {
    /// `RuleName`.
    pub rule_name: &'a str,
    /// `FixedRate`: always replaces the rule's rate.
    pub fixed_rate: f64,
    /// `ReservoirQuota` per second, when present.
    pub reservoir_quota: Option<u32>,
    /// `ReservoirQuotaTTL` in epoch seconds, when present.
    pub reservoir_quota_ttl: Option<u32>,
    /// `Interval` in seconds, when present.
    pub interval: Option<u32>,
}

/// One rule's counters for `GetSamplingTargets` (`SamplingStatisticsDocuments[]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Statistics<'a> {
    /// `RuleName`.
    pub rule_name: &'a str,
    /// `RequestCount` since the last report.
    pub request_count: u32,
    /// `SampledCount` since the last report (borrowed requests not included).
    pub sampled_count: u32,
    /// `BorrowCount` since the last report.
    pub borrow_count: u32,
    /// `Timestamp`: the epoch second of this report.
    pub timestamp: u64,
}

/// A centralized rule and its live state.
#[derive(Debug)]
pub struct CentralizedRule {
    name: RuleName,
    priority: i32,
    reservoir_size: u32,
    service_name: Pattern<MAX_SERVICE_LEN>,
    service_type: Pattern<MAX_SERVICE_LEN>,
    host: Pattern<MAX_HOST_LEN>,
    method: Pattern<MAX_METHOD_LEN>,
    url_path: Pattern<MAX_URL_PATH_LEN>,
    /// The rate threshold out of 2³², saturated at `u32::MAX`, which means "always".
    rate: AtomicU32,
    /// Per-second quota from the last target (valid while `quota_ttl` is not past).
    quota: AtomicU32,
    /// Epoch second until which `quota` is valid; 0 = no quota yet.
    quota_ttl: AtomicU32,
    interval: AtomicU32,
    /// Epoch second of the last report (or of the rule's creation).
    reported_at: AtomicU32,
    requests: AtomicU32,
    sampled: AtomicU32,
    borrowed: AtomicU32,
    reservoir: Reservoir,
    borrow: Reservoir,
}

fn rate_bits(rate: Rate) -> u32 {
    u32::try_from(rate.threshold()).unwrap_or(u32::MAX)
}

fn secs32(secs: u64) -> u32 {
    u32::try_from(secs).unwrap_or(u32::MAX)
}

impl CentralizedRule {
    /// A rule from a record; `None` when it is unsupported or a pattern is too long.
    fn new(record: &RuleRecord<'_>, now_secs: u64) -> Option<Self> {
        if !record.is_supported() {
            return None;
        }
        Some(Self {
            name: rule_name(record.rule_name),
            priority: record.priority,
            reservoir_size: record.reservoir_size,
            service_name: Pattern::new(record.service_name)?,
            service_type: Pattern::new(record.service_type)?,
            host: Pattern::new(record.host)?,
            method: Pattern::new(record.http_method)?,
            url_path: Pattern::new(record.url_path)?,
            rate: AtomicU32::new(rate_bits(Rate::new(record.fixed_rate)?)),
            quota: AtomicU32::new(0),
            quota_ttl: AtomicU32::new(0),
            interval: AtomicU32::new(DEFAULT_INTERVAL_SECS),
            reported_at: AtomicU32::new(secs32(now_secs)),
            requests: AtomicU32::new(0),
            sampled: AtomicU32::new(0),
            borrowed: AtomicU32::new(0),
            reservoir: Reservoir::new(),
            borrow: Reservoir::new(),
        })
    }

    /// Moves the live state (quota, TTL, interval, counters) of `old` into this rule.
    fn inherit(&mut self, old: &CentralizedRule) {
        for (new, old) in [
            (&self.quota, &old.quota),
            (&self.quota_ttl, &old.quota_ttl),
            (&self.interval, &old.interval),
            (&self.reported_at, &old.reported_at),
            (&self.requests, &old.requests),
            (&self.sampled, &old.sampled),
            (&self.borrowed, &old.borrowed),
        ] {
            new.store(old.load(Relaxed), Relaxed);
        }
    }

    /// The rule name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The rule's priority.
    pub fn priority(&self) -> i32 {
        self.priority
    }

    /// The current fixed rate.
    pub fn rate(&self) -> Rate {
        match self.rate.load(Relaxed) {
            u32::MAX => Rate::ONE,
            t => Rate::from_threshold(u64::from(t)),
        }
    }

    /// The current per-second quota and its TTL (epoch seconds); `None` before any.
    pub fn quota(&self) -> Option<(u32, u32)> {
        match self.quota_ttl.load(Relaxed) {
            0 => None,
            ttl => Some((self.quota.load(Relaxed), ttl)),
        }
    }

    /// The reporting interval in seconds.
    pub fn interval(&self) -> u32 {
        self.interval.load(Relaxed)
    }

    /// Whether the request matches every matcher (unknown attributes match).
    pub fn matches(&self, request: &SamplingRequest<'_>) -> bool {
        self.service_name.matches(request.service_name)
            && self.service_type.matches(request.service_type)
            && self.host.matches(request.host)
            && self.method.matches(request.method)
            && self.url_path.matches(request.url_path)
    }

    fn sample<R: Rng + ?Sized>(&self, now_secs: u64, rng: &mut R) -> (bool, Reason) {
        self.requests.fetch_add(1, Relaxed);
        let ttl = u64::from(self.quota_ttl.load(Relaxed));
        if ttl != 0 && now_secs <= ttl {
            if self.reservoir.take(now_secs, self.quota.load(Relaxed)) {
                self.sampled.fetch_add(1, Relaxed);
                return (true, Reason::Reservoir);
            }
        } else if self.reservoir_size > 0 && self.borrow.take(now_secs, 1) {
            self.borrowed.fetch_add(1, Relaxed);
            return (true, Reason::Borrowed);
        }
        let sampled = match self.rate.load(Relaxed) {
            u32::MAX => true,
            0 => false,
            t => rng.next_u32() < t,
        };
        if sampled {
            self.sampled.fetch_add(1, Relaxed);
        }
        (sampled, Reason::Rate)
    }
}

/// The centralized rules of one process: up to `N` rules plus the service's `Default` rule.
#[derive(Debug, Default)]
pub struct CentralizedRules<const N: usize> {
    rules: heapless::Vec<CentralizedRule, N>,
    default: Option<CentralizedRule>,
    /// Epoch second of the last successful rules fetch; 0 = never.
    refreshed_at: AtomicU32,
    missing_sampled: MissingSampledPolicy,
}

impl<const N: usize> CentralizedRules<N> {
    /// No rules yet: every decision falls back to the local sampler.
    pub fn new() -> Self {
        Self {
            rules: heapless::Vec::new(),
            default: None,
            refreshed_at: AtomicU32::new(0),
            missing_sampled: MissingSampledPolicy::default(),
        }
    }

    /// Sets what to do with a header that has a `Root` but no `Sampled`.
    pub fn with_missing_sampled_policy(mut self, policy: MissingSampledPolicy) -> Self {
        self.missing_sampled = policy;
        self
    }

    /// Replaces the rules after a successful `GetSamplingRules` at `now_secs`. Unsupported
    /// records are skipped; rules are ordered by priority, then name; the `Default` rule is
    /// kept apart and matched last. Rules that keep their name keep their quota, TTL, interval
    /// and counters. Returns how many records did not fit in `N` (they are dropped).
    pub fn replace_rules<'r, I>(&mut self, records: I, now_secs: u64) -> usize
    where
        I: IntoIterator<Item = RuleRecord<'r>>,
    {
        let mut rules: heapless::Vec<CentralizedRule, N> = heapless::Vec::new();
        let mut default = None;
        let mut dropped = 0;
        for record in records {
            let Some(mut rule) = CentralizedRule::new(&record, now_secs) else {
                continue;
            };
            if let Some(old) = self.find(rule.name()) {
                rule.inherit(old);
            }
            if rule.name() == CENTRAL_DEFAULT_RULE {
                default = Some(rule);
            } else if let Err(rule) = rules.push(rule) {
                // Full: keep the rules that match first (lowest priority, then name), whatever
                // order the service listed them in.
                dropped += 1;
                let key = |r: &CentralizedRule| (r.priority, r.name.clone());
                if let Some(last) = rules.iter_mut().max_by_key(|r| key(r))
                    && key(&rule) < key(last)
                {
                    *last = rule;
                }
            }
        }
        rules.sort_unstable_by(|a, b| {
            (a.priority, a.name.as_str()).cmp(&(b.priority, b.name.as_str()))
        });
        self.rules = rules;
        self.default = default;
        self.refreshed_at.store(secs32(now_secs).max(1), Relaxed);
        dropped
    }

    fn find(&self, name: &str) -> Option<&CentralizedRule> {
        self.rules
            .iter()
            .chain(self.default.as_ref())
            .find(|r| r.name() == name)
    }

    /// The rules in matching order (the `Default` rule last).
    pub fn rules(&self) -> impl Iterator<Item = &CentralizedRule> {
        self.rules.iter().chain(self.default.as_ref())
    }

    /// Whether the rules are in force at `now_secs`: fetched, and not older than
    /// [`RULES_TTL_SECS`].
    pub fn is_fresh(&self, now_secs: u64) -> bool {
        match self.refreshed_at.load(Relaxed) {
            0 => false,
            at => now_secs <= u64::from(at) + u64::from(RULES_TTL_SECS),
        }
    }

    /// Whether `LastRuleModification` (epoch seconds) from a targets response is newer than
    /// the last rules fetch, so the poller should fetch the rules now.
    pub fn rules_modified_since_refresh(&self, last_rule_modification: u64) -> bool {
        last_rule_modification > u64::from(self.refreshed_at.load(Relaxed))
    }

    /// Applies a target document; `false` if no rule has that name.
    pub fn apply_target(&self, target: &TargetRecord<'_>) -> bool {
        let Some(rule) = self.find(target.rule_name) else {
            return false;
        };
        if let Some(rate) = Rate::new(target.fixed_rate) {
            rule.rate.store(rate_bits(rate), Relaxed);
        }
        if let Some(quota) = target.reservoir_quota {
            rule.quota.store(quota, Relaxed);
        }
        if let Some(ttl) = target.reservoir_quota_ttl {
            rule.quota_ttl.store(ttl, Relaxed);
        }
        if let Some(interval) = target.interval {
            rule.interval.store(interval.max(1), Relaxed);
        }
        true
    }

    /// Hands `report` the counters of every rule that matched requests and whose interval
    /// has passed since its last report, and resets them. Returns how many were reported; 0
    /// means the `GetSamplingTargets` call can be skipped.
    pub fn statistics<F: FnMut(Statistics<'_>)>(&self, now_secs: u64, mut report: F) -> usize {
        let mut count = 0;
        for rule in self.rules() {
            let due =
                u64::from(rule.reported_at.load(Relaxed)) + u64::from(rule.interval.load(Relaxed));
            if rule.requests.load(Relaxed) == 0 || now_secs < due {
                continue;
            }
            rule.reported_at.store(secs32(now_secs), Relaxed);
            report(Statistics {
                rule_name: rule.name(),
                request_count: rule.requests.swap(0, Relaxed),
                sampled_count: rule.sampled.swap(0, Relaxed),
                borrow_count: rule.borrowed.swap(0, Relaxed),
                timestamp: now_secs,
            });
            count += 1;
        }
        count
    }

    /// Decides like [`Sampler::decide`], with the centralized rules while they are fresh
    /// (upstream `Sampled=1|0` and the missing-`Sampled` policy first), else with `local`.
    /// Without a known time, `local` decides.
    pub fn decide<'s, const M: usize, C: Clock + ?Sized, R: Rng + ?Sized>(
        &'s self,
        local: &'s Sampler<M>,
        request: &SamplingRequest<'_>,
        upstream: Upstream,
        clock: &C,
        rng: &mut R,
    ) -> Decision<'s> {
        if let Some(decided) = decided_upstream(upstream, self.missing_sampled) {
            return decided;
        }
        let now = clock.now();
        // For the local fallback: the policy above already ran.
        let local_upstream = match upstream {
            Upstream::Header(SampledFlag::Requested) => upstream,
            _ => Upstream::NoTrace,
        };
        let Some(now_secs) = now.map(|t| t.secs()).filter(|&s| self.is_fresh(s)) else {
            // Stale or never fetched.
            return local.decide(request, local_upstream, &ReadClock(now), rng);
        };
        let Some(rule) = self.rules().find(|r| r.matches(request)) else {
            // No `Default` rule came from the service.
            return local.decide(request, local_upstream, &ReadClock(now), rng);
        };
        let (sampled, reason) = rule.sample(now_secs, rng);
        Decision {
            sampled,
            reason,
            rule: Some(rule.name()),
            requested: upstream == Upstream::Header(SampledFlag::Requested),
        }
    }
}

/// A clock reading already taken.
struct ReadClock(Option<Timestamp>);

impl Clock for ReadClock {
    fn now(&self) -> Option<Timestamp> {
        self.0
    }
}

/// A client id for `GetSamplingTargets`: 12 random bytes as 24 lowercase hex digits, made
/// once per process.
pub fn client_id<R: Rng + ?Sized>(rng: &mut R) -> [u8; 24] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 24];
    let mut bytes = [0u8; 12];
    bytes[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    bytes[8..].copy_from_slice(&rng.next_u32().to_le_bytes());
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 0xF)];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::TestRng;
    use crate::time::FixedClock;

    const T0: u64 = 1_700_000_000;

    fn record(name: &str, priority: i32, rate: f64, reservoir_size: u32) -> RuleRecord<'_> {
        RuleRecord {
            rule_name: name,
            priority,
            fixed_rate: rate,
            reservoir_size,
            service_name: "*",
            service_type: "*",
            host: "*",
            http_method: "*",
            url_path: "*",
            resource_arn: "*",
            version: 1,
            has_attributes: false,
        }
    }

    fn at(secs: u64) -> FixedClock {
        FixedClock(Timestamp::from_secs_micros(secs, 0))
    }

    fn state() -> CentralizedRules<4> {
        let mut s = CentralizedRules::new();
        let orders = RuleRecord {
            url_path: "/orders*",
            ..record("orders", 5, 0.0, 1)
        };
        let dropped = s.replace_rules(
            [
                record(CENTRAL_DEFAULT_RULE, 10_000, 0.0, 0),
                RuleRecord {
                    resource_arn: "arn:aws:x",
                    ..record("arn", 1, 1.0, 1)
                },
                RuleRecord {
                    has_attributes: true,
                    ..record("attrs", 1, 1.0, 1)
                },
                RuleRecord {
                    service_name: "billing",
                    ..record("billing", 5, 1.0, 0)
                },
                orders,
            ],
            T0,
        );
        assert_eq!(dropped, 0);
        s
    }

    #[test]
    fn a_full_rule_table_keeps_the_rules_that_match_first() {
        let mut s: CentralizedRules<2> = CentralizedRules::new();
        let records = [
            record("low", 30, 0.1, 0),
            record("mid", 20, 0.1, 0),
            record("high", 10, 0.1, 0),
        ];
        let dropped = s.replace_rules(records, 1_700_000_000);
        assert_eq!(dropped, 1);
        let names: std::vec::Vec<&str> = s.rules().map(CentralizedRule::name).collect();
        assert_eq!(
            names,
            ["high", "mid"],
            "priority decides, not the order of the response"
        );
    }

    #[test]
    fn unsupported_rules_are_skipped_and_order_is_priority_then_name() {
        let s = state();
        let names: std::vec::Vec<&str> = s.rules().map(CentralizedRule::name).collect();
        assert_eq!(names, ["billing", "orders", "Default"]);
        assert!(!record("x", 1, 1.5, 0).is_supported());
        assert!(
            !RuleRecord {
                version: 2,
                ..record("x", 1, 0.5, 0)
            }
            .is_supported()
        );
    }

    #[test]
    fn borrow_one_per_second_until_a_quota_arrives() {
        let s = state();
        let local = Sampler::<0>::default();
        let mut rng = TestRng(1);
        let orders = SamplingRequest {
            url_path: Some("/orders/1"),
            service_name: Some("shop"),
            ..Default::default()
        };
        let decide =
            |secs, rng: &mut TestRng| s.decide(&local, &orders, Upstream::NoTrace, &at(secs), rng);
        let d = decide(T0, &mut rng);
        assert_eq!(
            (d.sampled, d.reason, d.rule),
            (true, Reason::Borrowed, Some("orders"))
        );
        let d = decide(T0, &mut rng);
        assert_eq!((d.sampled, d.reason), (false, Reason::Rate));
        assert_eq!(decide(T0 + 1, &mut rng).reason, Reason::Borrowed);

        // A quota of 2 per second, valid until T0 + 20, rate 0.
        assert!(s.apply_target(&TargetRecord {
            rule_name: "orders",
            fixed_rate: 0.0,
            reservoir_quota: Some(2),
            reservoir_quota_ttl: Some((T0 + 20) as u32),
            interval: Some(5),
        }));
        let reasons: std::vec::Vec<Reason> =
            (0..4).map(|_| decide(T0 + 2, &mut rng).reason).collect();
        assert_eq!(
            reasons,
            [
                Reason::Reservoir,
                Reason::Reservoir,
                Reason::Rate,
                Reason::Rate
            ]
        );
        // After the TTL: borrowing again.
        assert_eq!(decide(T0 + 21, &mut rng).reason, Reason::Borrowed);
        assert_eq!(
            s.rules().nth(1).and_then(CentralizedRule::quota),
            Some((2, (T0 + 20) as u32))
        );
        assert_eq!(s.rules().nth(1).map(CentralizedRule::interval), Some(5));
    }

    #[test]
    fn no_borrowing_without_reservoir_size() {
        let s = state();
        let local = Sampler::<0>::default();
        let mut rng = TestRng(2);
        let billing = SamplingRequest {
            service_name: Some("Billing"),
            ..Default::default()
        };
        let d = s.decide(&local, &billing, Upstream::NoTrace, &at(T0), &mut rng);
        // Rate 1, reservoir size 0: the rate decides at once.
        assert_eq!(
            (d.sampled, d.reason, d.rule),
            (true, Reason::Rate, Some("billing"))
        );
        let other = SamplingRequest {
            url_path: Some("/x"),
            service_name: Some("shop"),
            ..Default::default()
        };
        let d = s.decide(&local, &other, Upstream::NoTrace, &at(T0), &mut rng);
        assert_eq!(
            (d.sampled, d.reason, d.rule),
            (false, Reason::Rate, Some("Default"))
        );
    }

    #[test]
    fn counters_and_reports() {
        let s = state();
        let local = Sampler::<0>::default();
        let mut rng = TestRng(3);
        let orders = SamplingRequest {
            url_path: Some("/orders"),
            service_name: Some("shop"),
            ..Default::default()
        };
        for _ in 0..5 {
            let _ = s.decide(&local, &orders, Upstream::NoTrace, &at(T0 + 1), &mut rng);
        }
        // Not due before the default 10 s interval.
        assert_eq!(s.statistics(T0 + 9, |_| panic!("not due")), 0);
        let mut seen = std::vec::Vec::new();
        let n = s.statistics(T0 + 10, |st| {
            seen.push((
                st.rule_name.len(),
                st.request_count,
                st.sampled_count,
                st.borrow_count,
            ))
        });
        assert_eq!(n, 1, "only the rule that saw requests");
        // 1 borrowed, 4 by rate 0 (none sampled).
        assert_eq!(seen, [("orders".len(), 5, 0, 1)]);
        // Counters were reset.
        assert_eq!(s.statistics(T0 + 100, |_| {}), 0);
    }

    #[test]
    fn refresh_keeps_state_of_surviving_rules() {
        let mut s = state();
        assert!(s.apply_target(&TargetRecord {
            rule_name: "orders",
            fixed_rate: 0.25,
            reservoir_quota: Some(7),
            reservoir_quota_ttl: Some((T0 + 60) as u32),
            interval: None,
        }));
        assert!(!s.apply_target(&TargetRecord {
            rule_name: "nope",
            fixed_rate: 0.25,
            reservoir_quota: None,
            reservoir_quota_ttl: None,
            interval: None,
        }));
        s.replace_rules([record("orders", 1, 0.5, 1)], T0 + 30);
        let orders = s.rules().next();
        assert_eq!(
            orders.and_then(CentralizedRule::quota),
            Some((7, (T0 + 60) as u32))
        );
        // The rules' rate comes from the new record until the next target.
        assert_eq!(
            orders.map(CentralizedRule::rate),
            Some(Rate::from_ratio(1, 2))
        );
        assert!(s.rules_modified_since_refresh(T0 + 31));
        assert!(!s.rules_modified_since_refresh(T0 + 30));
    }

    #[test]
    fn stale_or_missing_rules_fall_back_to_local() {
        let local = Sampler::<0>::default();
        let mut rng = TestRng(4);
        let empty = CentralizedRules::<2>::new();
        let d = empty.decide(
            &local,
            &SamplingRequest::default(),
            Upstream::NoTrace,
            &at(T0),
            &mut rng,
        );
        assert_eq!((d.reason, d.rule), (Reason::Reservoir, Some("Default")));
        assert!(!empty.is_fresh(T0));

        let s = state();
        assert!(s.is_fresh(T0 + u64::from(RULES_TTL_SECS)));
        assert!(!s.is_fresh(T0 + u64::from(RULES_TTL_SECS) + 1));
        let d = s.decide(
            &local,
            &SamplingRequest::default(),
            Upstream::NoTrace,
            &at(T0 + 4_000),
            &mut rng,
        );
        // The local default rule (1/s), not the central Default (rate 0).
        assert_eq!((d.sampled, d.reason), (true, Reason::Reservoir));
        // Upstream still wins.
        let d = s.decide(
            &local,
            &SamplingRequest::default(),
            SampledFlag::NotSampled.into(),
            &at(T0),
            &mut rng,
        );
        assert_eq!((d.sampled, d.reason), (false, Reason::Upstream));
    }

    #[test]
    fn capacity_overflow_is_reported() {
        let mut s = CentralizedRules::<1>::new();
        let dropped = s.replace_rules(
            [
                record("a", 1, 0.1, 0),
                record("b", 2, 0.1, 0),
                record(CENTRAL_DEFAULT_RULE, 3, 0.1, 0),
            ],
            T0,
        );
        assert_eq!(dropped, 1);
        assert_eq!(s.rules().count(), 2);
    }

    #[test]
    fn client_ids_are_hex() {
        let mut rng = TestRng(9);
        let a = client_id(&mut rng);
        let b = client_id(&mut rng);
        assert_ne!(a, b);
        assert!(
            a.iter()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
        );
    }
}
