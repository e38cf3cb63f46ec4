//! Sampling: upstream decisions, local rules (files version 1 and 2), per-rule reservoirs and
//! the default rule of 1 request per second plus 5 % (spec §5).
//!
//! [`Sampler::decide`] takes the request's attributes, what the caller's header said, a
//! [`Clock`] and an RNG, and returns a [`Decision`]:
//!
//! 1. `Sampled=1` or `Sampled=0` from the caller wins ([`Reason::Upstream`]).
//! 2. A header with a `Root` and no `Sampled` follows the [`MissingSampledPolicy`] (by default
//!    it runs the rules, like `Sampled=?` and like a trace this service starts).
//! 3. The rules are tried in file order, the default rule last; the first whose host, method and
//!    URL path patterns all match decides: its reservoir first ([`Reason::Reservoir`]), then its
//!    fixed rate ([`Reason::Rate`]). The rule's name goes in [`Decision::rule`], to be written as
//!    `aws.xray.sampling_rule_name`.
//!
//! Everything is deterministic given the clock and the RNG: the RNG is drawn from only when a
//! rate between 0 and 1 exclusive decides, once per such decision.
//!
//! A `Sampler` is `Sync`: one instance can serve many threads at once (see [`reservoir`] for
//! the atomics, which need no compare-and-swap instructions on thumbv6m but a
//! `critical-section` implementation there). It allocates nothing and its size is fixed by the
//! rule capacity `N`.
//!
//! ```
//! use xray_core::sampler::{Reason, Sampler, SamplingRequest, Upstream};
//! use xray_core::{FixedClock, Timestamp};
//! # struct Rng(u64);
//! # impl xray_core::rand_core::TryRng for Rng {
//! #     type Error = core::convert::Infallible;
//! #     fn try_next_u32(&mut self) -> Result<u32, Self::Error> { self.0 += 1; Ok(self.0 as u32) }
//! #     fn try_next_u64(&mut self) -> Result<u64, Self::Error> { self.0 += 1; Ok(self.0) }
//! #     fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), Self::Error> { d.fill(7); Ok(()) }
//! # }
//! let sampler: Sampler<4> = Sampler::from_rules_json(
//!     r#"{"version": 2, "default": {"fixed_target": 1, "rate": 0.05},
//!         "rules": [{"description": "health", "host": "*", "http_method": "GET",
//!                    "url_path": "/health*", "fixed_target": 0, "rate": 0}]}"#,
//! )?;
//! let clock = FixedClock(Timestamp::from_secs_micros(1_700_000_000, 0));
//! let mut rng = Rng(0);
//! let health = SamplingRequest { method: Some("GET"), url_path: Some("/healthz"), ..Default::default() };
//! let d = sampler.decide(&health, Upstream::NoTrace, &clock, &mut rng);
//! assert_eq!((d.sampled, d.reason, d.rule), (false, Reason::Rate, Some("health")));
//!
//! let other = SamplingRequest { url_path: Some("/orders"), ..Default::default() };
//! let d = sampler.decide(&other, Upstream::NoTrace, &clock, &mut rng);
//! assert_eq!((d.sampled, d.reason, d.rule), (true, Reason::Reservoir, Some("Default")));
//! # Ok::<(), xray_core::sampler::RulesError>(())
//! ```

pub mod centralized;
mod decision;
mod rate;
pub mod reservoir;
mod rule;
mod rules_file;
mod sqs;
mod wildcard;

use decision::decided_upstream;
pub use decision::{Decision, MissingSampledPolicy, Reason, Upstream};
pub use rate::Rate;
pub use reservoir::Reservoir;
pub use rule::{
    DEFAULT_RULE_NAME, Field, MAX_FIXED_TARGET, MAX_HOST_LEN, MAX_METHOD_LEN, MAX_RULE_NAME_LEN,
    MAX_URL_PATH_LEN, Pattern, Rule, RuleError, RuleName, SamplingRequest, Target, rule_name,
};
pub use rules_file::{LocalRules, MAX_NESTING, RulesError};
pub use sqs::{sqs_message_decision, sqs_upstream};
pub use wildcard::wildcard_match;

use crate::header::SampledFlag;
use crate::time::Clock;
use rand_core::Rng;

/// The default rule capacity of a [`Sampler`].
pub const DEFAULT_RULE_CAPACITY: usize = 8;

/// A local-rules sampler holding up to `N` rules plus the default rule.
#[derive(Debug, Default)]
pub struct Sampler<const N: usize = DEFAULT_RULE_CAPACITY> {
    rules: LocalRules<N>,
    missing_sampled: MissingSampledPolicy,
}

impl<const N: usize> Sampler<N> {
    /// A sampler over `rules`, with the default [`MissingSampledPolicy`].
    pub fn new(rules: LocalRules<N>) -> Self {
        Self {
            rules,
            missing_sampled: MissingSampledPolicy::default(),
        }
    }

    /// A sampler over a rules file (version 1 or 2) holding at most `N` rules.
    pub fn from_rules_json(json: &str) -> Result<Self, RulesError> {
        LocalRules::parse(json).map(Self::new)
    }

    /// Sets what to do with a header that has a `Root` but no `Sampled`.
    pub fn with_missing_sampled_policy(mut self, policy: MissingSampledPolicy) -> Self {
        self.missing_sampled = policy;
        self
    }

    /// The policy for a header that has a `Root` but no `Sampled`.
    pub fn missing_sampled_policy(&self) -> MissingSampledPolicy {
        self.missing_sampled
    }

    /// The rules.
    pub fn rules(&self) -> &LocalRules<N> {
        &self.rules
    }

    /// The first rule matching `request`, in file order, else the default rule.
    #[inline]
    pub fn matching_rule(&self, request: &SamplingRequest<'_>) -> &Rule {
        self.rules
            .rules()
            .iter()
            .find(|rule| rule.matches(request))
            .unwrap_or(self.rules.default_rule())
    }

    /// Decides whether to sample a request (see the module documentation for the order).
    ///
    /// The clock is read only when a rule decides; the RNG is drawn from only when a rate
    /// strictly between 0 and 1 decides. When the clock does not know the time, reservoirs are
    /// skipped and the rate decides.
    #[inline]
    pub fn decide<C: Clock + ?Sized, R: Rng + ?Sized>(
        &self,
        request: &SamplingRequest<'_>,
        upstream: Upstream,
        clock: &C,
        rng: &mut R,
    ) -> Decision<'_> {
        if let Some(decided) = decided_upstream(upstream, self.missing_sampled) {
            return decided;
        }
        let rule = self.matching_rule(request);
        let (sampled, reason) = rule.sample(clock.now(), rng);
        Decision {
            sampled,
            reason,
            rule: Some(rule.name()),
            requested: upstream == Upstream::Header(SampledFlag::Requested),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::TestRng;
    use crate::time::{FixedClock, Timestamp};
    use core::cell::Cell;

    /// A clock the test moves by hand.
    struct StepClock(Cell<u64>);
    impl Clock for StepClock {
        fn now(&self) -> Option<Timestamp> {
            Some(Timestamp::from_micros(self.0.get()))
        }
    }

    struct NoClock;
    impl Clock for NoClock {
        fn now(&self) -> Option<Timestamp> {
            None
        }
    }

    const T0: u64 = 1_700_000_000;

    fn clock_at(secs: u64) -> FixedClock {
        FixedClock(Timestamp::from_secs_micros(secs, 0))
    }

    const RULES: &str = r#"{"version": 2,
        "default": {"fixed_target": 1, "rate": 0.05},
        "rules": [
          {"description": "health", "host": "*", "http_method": "GET", "url_path": "/health*",
           "fixed_target": 0, "rate": 0},
          {"description": "checkout", "host": "shop.*", "http_method": "POST",
           "url_path": "/checkout/?*", "fixed_target": 2, "rate": 1},
          {"host": "*", "http_method": "*", "url_path": "/api/*", "fixed_target": 0, "rate": 1},
          {"description": "shadowed", "host": "*", "http_method": "*", "url_path": "/api/v1",
           "fixed_target": 0, "rate": 0}
        ]}"#;

    fn req<'a>(
        host: Option<&'a str>,
        method: Option<&'a str>,
        path: Option<&'a str>,
    ) -> SamplingRequest<'a> {
        SamplingRequest {
            service_name: Some("svc"),
            host,
            method,
            url_path: path,
            service_type: None,
        }
    }

    #[test]
    fn rules_apply_in_file_order_default_last() {
        let s: Sampler<4> = Sampler::from_rules_json(RULES).unwrap();
        let name = |r: SamplingRequest<'_>| s.matching_rule(&r).name();
        assert_eq!(name(req(None, Some("get"), Some("/HEALTHZ"))), "health");
        assert_eq!(name(req(None, Some("POST"), Some("/health"))), "Default");
        assert_eq!(
            name(req(
                Some("shop.example.com"),
                Some("POST"),
                Some("/checkout/1")
            )),
            "checkout"
        );
        // `?` needs one character after the slash.
        assert_eq!(
            name(req(
                Some("shop.example.com"),
                Some("POST"),
                Some("/checkout/")
            )),
            "Default"
        );
        assert_eq!(
            name(req(
                Some("www.example.com"),
                Some("POST"),
                Some("/checkout/1")
            )),
            "Default"
        );
        // Unnamed rules get their position; an earlier rule shadows a later one.
        assert_eq!(name(req(None, Some("PUT"), Some("/api/v1"))), "rule-3");
        // Missing attributes match (the peers' behaviour).
        assert_eq!(name(req(None, None, None)), "health");
        assert_eq!(name(req(None, None, Some("/other"))), "Default");
    }

    #[test]
    fn decisions_carry_rule_and_reason() {
        let s: Sampler<4> = Sampler::from_rules_json(RULES).unwrap();
        let clock = clock_at(T0);
        let mut rng = TestRng(1);
        let checkout = req(Some("shop.x"), Some("POST"), Some("/checkout/9"));
        let d = s.decide(&checkout, Upstream::NoTrace, &clock, &mut rng);
        assert_eq!(
            (d.sampled, d.reason, d.rule),
            (true, Reason::Reservoir, Some("checkout"))
        );
        let d = s.decide(&checkout, Upstream::NoTrace, &clock, &mut rng);
        assert_eq!(d.reason, Reason::Reservoir);
        // Reservoir of 2 used up; rate 1 samples without drawing.
        let before = rng.0;
        let d = s.decide(&checkout, Upstream::NoTrace, &clock, &mut rng);
        assert_eq!((d.sampled, d.reason), (true, Reason::Rate));
        assert_eq!(rng.0, before);
        // The health rule never samples.
        let health = req(None, Some("GET"), Some("/health"));
        let d = s.decide(&health, Upstream::NoTrace, &clock, &mut rng);
        assert_eq!(
            (d.sampled, d.reason, d.rule),
            (false, Reason::Rate, Some("health"))
        );
    }

    #[test]
    fn reservoirs_are_per_rule() {
        let s: Sampler<4> = Sampler::from_rules_json(RULES).unwrap();
        let clock = clock_at(T0);
        let mut rng = TestRng(2);
        let checkout = req(Some("shop.x"), Some("POST"), Some("/checkout/9"));
        let other = req(None, Some("GET"), Some("/x"));
        for _ in 0..5 {
            let _ = s.decide(&checkout, Upstream::NoTrace, &clock, &mut rng);
        }
        // The default rule's reservoir is untouched by the checkout traffic.
        let d = s.decide(&other, Upstream::NoTrace, &clock, &mut rng);
        assert_eq!((d.reason, d.rule), (Reason::Reservoir, Some("Default")));
        let d = s.decide(&other, Upstream::NoTrace, &clock, &mut rng);
        assert_eq!(d.reason, Reason::Rate);
    }

    #[test]
    fn upstream_decisions_win() {
        let s: Sampler<4> = Sampler::from_rules_json(RULES).unwrap();
        let clock = clock_at(T0);
        let mut rng = TestRng(3);
        let health = req(None, Some("GET"), Some("/health"));
        let d = s.decide(&health, SampledFlag::Sampled.into(), &clock, &mut rng);
        assert_eq!(
            (d.sampled, d.reason, d.rule),
            (true, Reason::Upstream, None)
        );
        let other = req(None, Some("GET"), Some("/x"));
        let d = s.decide(&other, SampledFlag::NotSampled.into(), &clock, &mut rng);
        assert_eq!((d.sampled, d.reason), (false, Reason::Upstream));
        // The upstream decisions did not use the default reservoir.
        let d = s.decide(&other, Upstream::NoTrace, &clock, &mut rng);
        assert_eq!(d.reason, Reason::Reservoir);
    }

    #[test]
    fn requested_runs_rules_and_asks_for_an_answer() {
        let s: Sampler<4> = Sampler::default();
        let clock = clock_at(T0);
        let mut rng = TestRng(4);
        let d = s.decide(
            &SamplingRequest::default(),
            SampledFlag::Requested.into(),
            &clock,
            &mut rng,
        );
        assert_eq!(
            (d.sampled, d.reason, d.requested),
            (true, Reason::Reservoir, true)
        );
        assert_eq!(d.flag(), SampledFlag::Sampled);
        let d = s.decide(
            &SamplingRequest::default(),
            Upstream::NoTrace,
            &clock,
            &mut rng,
        );
        assert!(!d.requested);
    }

    #[test]
    fn root_without_sampled_follows_the_policy() {
        let clock = clock_at(T0);
        let mut rng = TestRng(5);
        let root_only = Upstream::Header(SampledFlag::Unknown);
        let r = SamplingRequest::default();

        let decide_policy = Sampler::<0>::default();
        let d = decide_policy.decide(&r, root_only, &clock, &mut rng);
        assert_eq!((d.sampled, d.reason), (true, Reason::Reservoir));

        let sample =
            Sampler::<0>::default().with_missing_sampled_policy(MissingSampledPolicy::Sample);
        for _ in 0..3 {
            let d = sample.decide(&r, root_only, &clock, &mut rng);
            assert_eq!((d.sampled, d.reason, d.rule), (true, Reason::Policy, None));
        }
        let drop =
            Sampler::<0>::default().with_missing_sampled_policy(MissingSampledPolicy::NotSample);
        let d = drop.decide(&r, root_only, &clock, &mut rng);
        assert_eq!((d.sampled, d.reason), (false, Reason::Policy));
        // The policy is only for a Root without Sampled: a new trace still runs the rules.
        let d = drop.decide(&r, Upstream::NoTrace, &clock, &mut rng);
        assert_eq!((d.sampled, d.reason), (true, Reason::Reservoir));
        assert_eq!(
            drop.missing_sampled_policy(),
            MissingSampledPolicy::NotSample
        );
    }

    #[test]
    fn without_a_clock_only_the_rate_decides() {
        let s = Sampler::<0>::new(LocalRules::with_default(
            Target::new(100, Rate::ZERO).unwrap(),
        ));
        let mut rng = TestRng(6);
        let d = s.decide(
            &SamplingRequest::default(),
            Upstream::NoTrace,
            &NoClock,
            &mut rng,
        );
        assert_eq!((d.sampled, d.reason), (false, Reason::Rate));
    }

    #[test]
    fn rules_built_in_code() {
        let mut rules = LocalRules::<1>::default();
        let r = Rule::new(
            "orders",
            "*",
            "*",
            "/orders*",
            Target::new(0, Rate::ONE).unwrap(),
        )
        .unwrap();
        assert!(rules.push(r).is_ok());
        let extra = Rule::catch_all("x", Target::DEFAULT).unwrap();
        assert!(rules.push(extra).is_err(), "capacity is 1");
        let s = Sampler::new(rules);
        let mut rng = TestRng(7);
        let orders = SamplingRequest {
            url_path: Some("/orders/1"),
            ..Default::default()
        };
        let d = s.decide(&orders, Upstream::NoTrace, &clock_at(T0), &mut rng);
        assert_eq!((d.sampled, d.rule), (true, Some("orders")));
    }

    /// Per second: how many of `per_second` requests the default rule samples, and why.
    fn simulate(seed: u64, seconds: u64, per_second: u64) -> std::vec::Vec<(u32, u32)> {
        let s = Sampler::<0>::default();
        let clock = StepClock(Cell::new(T0 * 1_000_000));
        let mut rng = TestRng(seed);
        let r = SamplingRequest::default();
        let mut out = std::vec::Vec::new();
        for sec in 0..seconds {
            let (mut reservoir, mut rate) = (0u32, 0u32);
            for i in 0..per_second {
                // Spread the requests over the second.
                clock
                    .0
                    .set((T0 + sec) * 1_000_000 + i * 1_000_000 / per_second);
                let d = s.decide(&r, Upstream::NoTrace, &clock, &mut rng);
                match (d.sampled, d.reason) {
                    (true, Reason::Reservoir) => reservoir += 1,
                    (true, Reason::Rate) => rate += 1,
                    (false, Reason::Rate) => {}
                    other => panic!("unexpected {other:?}"),
                }
            }
            out.push((reservoir, rate));
        }
        out
    }

    /// 1,000 requests per second for 100 s under the default rule: each second samples the
    /// reservoir's 1 plus Binomial(999, 0.05) of the rest (mean 49.95, sd 6.89).
    ///
    /// The bounds are wide enough that a fair RNG fails them with probability below 10⁻⁹ per
    /// second, and the seeds are fixed, so the test cannot flake; they are tight enough to catch
    /// a reservoir that does not reset, a rate off by a factor of two or a rate applied before
    /// the reservoir.
    #[test]
    fn default_rule_statistics() {
        for seed in [1, 0xDEAD_BEEF, 20_240_601] {
            let seconds = simulate(seed, 100, 1_000);
            let mut total_rate = 0u32;
            for (sec, &(reservoir, rate)) in seconds.iter().enumerate() {
                assert_eq!(reservoir, 1, "seed {seed} second {sec}: reservoir");
                // Exact binomial tails: P(X < 10) = 5.5e-13, P(X > 97) = 3.6e-10.
                assert!(
                    (10..=97).contains(&rate),
                    "seed {seed} second {sec}: {rate} by rate"
                );
                total_rate += rate;
            }
            // Over 99,900 draws: mean 4,995, sd 68.9; ± 6 sd.
            assert!(
                (4_582..=5_408).contains(&total_rate),
                "seed {seed}: {total_rate} by rate over 100 s"
            );
        }
    }

    #[test]
    fn sampler_is_sync_and_shared_across_threads() {
        fn assert_sync<T: Sync>() {}
        assert_sync::<Sampler<4>>();

        let s: Sampler<4> = Sampler::from_rules_json(RULES).unwrap();
        let clock = clock_at(T0);
        let checkout = req(Some("shop.x"), Some("POST"), Some("/checkout/9"));
        let health = req(None, Some("GET"), Some("/health"));
        let (reservoir, other): (usize, usize) = std::thread::scope(|scope| {
            let handles: [_; 4] = core::array::from_fn(|t| {
                let (s, clock) = (&s, &clock);
                scope.spawn(move || {
                    let mut rng = TestRng(t as u64);
                    let mut counts = (0, 0);
                    for _ in 0..2_000 {
                        let d = s.decide(&checkout, Upstream::NoTrace, clock, &mut rng);
                        if d.reason == Reason::Reservoir {
                            counts.0 += 1;
                        }
                        let d = s.decide(&health, Upstream::NoTrace, clock, &mut rng);
                        if d.sampled {
                            counts.1 += 1;
                        }
                    }
                    counts
                })
            });
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
        });
        // Exactly the checkout rule's fixed_target of 2 in this one second, across threads.
        assert_eq!(reservoir, 2);
        assert_eq!(other, 0);
    }
}
