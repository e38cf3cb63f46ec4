//! Centralized sampling (spec §5.5): sampling rules and targets from X-Ray through the
//! daemon's TCP proxy, applied by the [`Tracer`](crate::Tracer).
//!
//! The split: the core's [`CentralizedRules`] holds the rules and their live state (quota,
//! TTL, reporting interval, borrow and request/sampled/borrow counters) and decides without
//! locks or allocation; this module parses the proxy's JSON, keeps the state behind an
//! [`RwLock`] (written once per rules fetch, read per decision), reports statistics and
//! applies targets, and runs the [`Poller`] thread.
//!
//! Nothing starts by itself: build a [`CentralizedSampling`], give it to the tracer with
//! [`TracerBuilder::centralized_sampling`](crate::TracerBuilder::centralized_sampling), and
//! start a [`Poller`]. Until the first successful rules fetch, and when the last one is older
//! than an hour, the local rules decide; the tracer keeps working when the daemon is absent.
//!
//! ```no_run
//! // `no_run`: the poller would call a daemon on 127.0.0.1:2000, if one runs there.
//! use xray_std::centralized_sampling::{CentralizedSampling, Poller, PollerOptions};
//! use xray_std::sampling_proxy_client::SamplingProxyClient;
//! use xray_std::{Config, Tracer};
//!
//! let config = Config::from_lookup(|_| None)?; // Config::from_env() in a real program
//! let sampling = CentralizedSampling::from_config(&config)?;
//! let tracer = Tracer::from_config(&config, "checkout")?
//!     .centralized_sampling(sampling.clone())
//!     .build();
//! let poller = Poller::start(
//!     sampling,
//!     SamplingProxyClient::from_config(&config)?,
//!     PollerOptions::default(),
//! )?;
//! // ... serve requests with `tracer` ...
//! poller.stop();
//! # drop(tracer);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand_core::Rng;
use serde_json::Value;
use xray_core::sampler::centralized::{
    CentralizedRules, RuleRecord, Statistics, TargetRecord, client_id,
};
use xray_core::sampler::{Decision, SamplingRequest, Upstream};
use xray_core::{Clock, MissingSampledPolicy};

use crate::build_error::BuildError;
use crate::config::Config;
use crate::rng::FastRng;
use crate::sampling::{LocalSampler, load_sampling_rules};
use crate::sampling_proxy_client::{SamplingProxyClient, SamplingProxyError};
use crate::system_clock::SystemClock;

/// How many centralized rules (besides `Default`) are kept; more are dropped (X-Ray allows
/// 25 per account).
pub const CENTRAL_RULE_CAPACITY: usize = 64;

/// The core state this module keeps.
pub type CentralRules = CentralizedRules<CENTRAL_RULE_CAPACITY>;

/// Centralized rules shared by a tracer and its poller, with the local rules as fallback.
#[derive(Debug)]
pub struct CentralizedSampling {
    rules: RwLock<CentralRules>,
    local: LocalSampler,
    client_id: [u8; 24],
}

/// What a rules fetch did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RulesRefresh {
    /// Rule records received.
    pub received: usize,
    /// Records kept (valid: version 1, `ResourceARN` `*`, no attributes; and fitting).
    pub kept: usize,
}

/// What a statistics report did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TargetsReport {
    /// Rules whose statistics were sent (0: no call was made).
    pub reported: usize,
    /// Target documents applied to a known rule.
    pub applied: usize,
    /// The rules changed since the last fetch (`LastRuleModification`), or X-Ray rejected
    /// some statistics with a 4xx code: fetch the rules now.
    pub refresh_rules: bool,
}

impl CentralizedSampling {
    /// No centralized rules yet; `local` decides until they arrive. The client id (24 hex
    /// digits) is drawn from the OS RNG.
    pub fn new(local: LocalSampler) -> Arc<Self> {
        Self::with_rng(local, &mut FastRng::from_os())
    }

    /// Like [`CentralizedSampling::new`], the client id drawn from `rng` (for tests).
    pub fn with_rng<R: Rng + ?Sized>(local: LocalSampler, rng: &mut R) -> Arc<Self> {
        let policy = local.missing_sampled_policy();
        Arc::new(Self {
            rules: RwLock::new(CentralRules::new().with_missing_sampled_policy(policy)),
            local,
            client_id: client_id(rng),
        })
    }

    /// The local fallback from `config`: its sampling rules file, else the default rule.
    /// Errors name the file.
    pub fn from_config(config: &Config) -> Result<Arc<Self>, BuildError> {
        let local = match &config.sampling_rules_file {
            Some(path) => load_sampling_rules(path)?,
            None => LocalSampler::default(),
        };
        Ok(Self::new(local))
    }

    /// The client id sent with statistics (24 lowercase hex digits).
    pub fn client_id(&self) -> &str {
        std::str::from_utf8(&self.client_id).unwrap_or_default()
    }

    /// The local fallback rules.
    pub fn local(&self) -> &LocalSampler {
        &self.local
    }

    /// The policy for a header with a `Root` and no `Sampled` (the local sampler's).
    pub fn missing_sampled_policy(&self) -> MissingSampledPolicy {
        self.local.missing_sampled_policy()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, CentralRules> {
        self.rules.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Decides (centralized rules while fresh, else local) and hands the decision, which
    /// borrows the rules, to `f` with the RNG. Lock-free but for an uncontended read lock;
    /// allocates nothing.
    pub fn decide_with<C, R, T>(
        &self,
        request: &SamplingRequest<'_>,
        upstream: Upstream,
        clock: &C,
        rng: &mut R,
        f: impl FnOnce(Decision<'_>, &mut R) -> T,
    ) -> T
    where
        C: Clock + ?Sized,
        R: Rng + ?Sized,
    {
        let rules = self.read();
        let decision = rules.decide(&self.local, request, upstream, clock, rng);
        f(decision, rng)
    }

    /// Whether centralized rules are in force at `now_secs` (fetched less than an hour ago).
    pub fn is_fresh(&self, now_secs: u64) -> bool {
        self.read().is_fresh(now_secs)
    }

    /// The centralized rule names in matching order (`Default` last).
    pub fn rule_names(&self) -> Vec<String> {
        self.read().rules().map(|r| r.name().to_owned()).collect()
    }

    /// The current fixed rate, quota and quota TTL of a centralized rule.
    pub fn rule_target(&self, name: &str) -> Option<(f64, Option<(u32, u32)>)> {
        let rules = self.read();
        let rule = rules.rules().find(|r| r.name() == name)?;
        Some((rule.rate().as_f64(), rule.quota()))
    }

    /// Replaces the rules with a `GetSamplingRules` response body fetched at `now_secs`.
    pub fn apply_rules_json(
        &self,
        body: &str,
        now_secs: u64,
    ) -> Result<RulesRefresh, SamplingProxyError> {
        let doc: Value =
            serde_json::from_str(body).map_err(|e| SamplingProxyError::Body(e.to_string()))?;
        let records = doc
            .get("SamplingRuleRecords")
            .and_then(Value::as_array)
            .ok_or_else(|| SamplingProxyError::Body("no SamplingRuleRecords array".into()))?;
        let owned: Vec<OwnedRule> = records
            .iter()
            .filter_map(|r| OwnedRule::parse(r.get("SamplingRule")?))
            .collect();
        let supported = owned
            .iter()
            .map(OwnedRule::record)
            .filter(RuleRecord::is_supported)
            .count();
        let dropped = self
            .rules
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .replace_rules(owned.iter().map(OwnedRule::record), now_secs);
        if dropped > 0 {
            log::warn!("X-Ray: {dropped} centralized sampling rules dropped (capacity)");
        }
        Ok(RulesRefresh {
            received: records.len(),
            kept: supported.saturating_sub(dropped),
        })
    }

    /// Fetches the rules through `client` and applies them (at `now_secs`).
    pub fn refresh_rules(
        &self,
        client: &SamplingProxyClient,
        now_secs: u64,
    ) -> Result<RulesRefresh, SamplingProxyError> {
        let body = client.get_sampling_rules()?;
        self.apply_rules_json(&body, now_secs)
    }

    /// The `SamplingStatisticsDocuments` request body for the rules due at `now_secs`
    /// (resetting their counters), or `None` when no rule is due.
    pub fn statistics_body(&self, now_secs: u64) -> Option<String> {
        self.statistics(now_secs).map(|(body, _)| body)
    }

    fn statistics(&self, now_secs: u64) -> Option<(String, usize)> {
        let mut docs = Vec::new();
        let client = self.client_id();
        self.read().statistics(now_secs, |s: Statistics<'_>| {
            docs.push(serde_json::json!({
                "RuleName": s.rule_name,
                "ClientID": client,
                "RequestCount": s.request_count,
                "SampledCount": s.sampled_count,
                "BorrowCount": s.borrow_count,
                "Timestamp": s.timestamp,
            }));
        });
        if docs.is_empty() {
            return None;
        }
        let n = docs.len();
        Some((
            serde_json::json!({ "SamplingStatisticsDocuments": docs }).to_string(),
            n,
        ))
    }

    /// Applies a `SamplingTargets` response body.
    pub fn apply_targets_json(&self, body: &str) -> Result<TargetsReport, SamplingProxyError> {
        let doc: Value =
            serde_json::from_str(body).map_err(|e| SamplingProxyError::Body(e.to_string()))?;
        let rules = self.read();
        let mut report = TargetsReport::default();
        for target in doc
            .get("SamplingTargetDocuments")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(name) = target.get("RuleName").and_then(Value::as_str) else {
                continue;
            };
            let Some(fixed_rate) = target.get("FixedRate").and_then(Value::as_f64) else {
                continue;
            };
            let record = TargetRecord {
                rule_name: name,
                fixed_rate,
                reservoir_quota: target.get("ReservoirQuota").and_then(as_u32),
                reservoir_quota_ttl: target.get("ReservoirQuotaTTL").and_then(as_u32),
                interval: target.get("Interval").and_then(as_u32),
            };
            if rules.apply_target(&record) {
                report.applied += 1;
            }
        }
        if let Some(modified) = doc.get("LastRuleModification").and_then(as_u32) {
            report.refresh_rules |= rules.rules_modified_since_refresh(u64::from(modified));
        }
        report.refresh_rules |= doc
            .get("UnprocessedStatistics")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|u| u.get("ErrorCode").and_then(Value::as_str))
            .any(|code| code.starts_with('4'));
        Ok(report)
    }

    /// Reports the statistics due at `now_secs` through `client` and applies the targets
    /// that come back. No call is made when no rule is due.
    pub fn report_targets(
        &self,
        client: &SamplingProxyClient,
        now_secs: u64,
    ) -> Result<TargetsReport, SamplingProxyError> {
        let Some((body, reported)) = self.statistics(now_secs) else {
            return Ok(TargetsReport::default());
        };
        let response = client.get_sampling_targets(&body)?;
        let mut report = self.apply_targets_json(&response)?;
        report.reported = reported;
        Ok(report)
    }
}

/// A JSON number as `u32`: non-negative, finite, fractions dropped, saturated at `u32::MAX`.
fn as_u32(v: &Value) -> Option<u32> {
    if let Some(u) = v.as_u64() {
        return Some(u32::try_from(u).unwrap_or(u32::MAX));
    }
    let f = v.as_f64()?;
    if !f.is_finite() || f < 0.0 {
        return None;
    }
    // Saturating float-to-int cast: the value is finite and non-negative.
    Some(f as u32)
}

/// A `SamplingRule` with owned strings.
#[derive(Debug)]
struct OwnedRule {
    name: String,
    priority: i32,
    fixed_rate: f64,
    reservoir_size: u32,
    service_name: String,
    service_type: String,
    host: String,
    http_method: String,
    url_path: String,
    resource_arn: String,
    version: i64,
    has_attributes: bool,
}

impl OwnedRule {
    /// `None` when a required field is missing or of the wrong type.
    fn parse(v: &Value) -> Option<Self> {
        let s = |key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
        let priority = v.get("Priority").and_then(Value::as_i64)?;
        Some(Self {
            name: s("RuleName")?,
            priority: i32::try_from(priority).unwrap_or(i32::MAX),
            fixed_rate: v.get("FixedRate").and_then(Value::as_f64)?,
            reservoir_size: v.get("ReservoirSize").and_then(as_u32)?,
            service_name: s("ServiceName")?,
            service_type: s("ServiceType")?,
            host: s("Host")?,
            http_method: s("HTTPMethod")?,
            url_path: s("URLPath")?,
            resource_arn: s("ResourceARN")?,
            version: v.get("Version").and_then(Value::as_i64)?,
            has_attributes: v
                .get("Attributes")
                .and_then(Value::as_object)
                .is_some_and(|m| !m.is_empty()),
        })
    }

    fn record(&self) -> RuleRecord<'_> {
        RuleRecord {
            rule_name: &self.name,
            priority: self.priority,
            fixed_rate: self.fixed_rate,
            reservoir_size: self.reservoir_size,
            service_name: &self.service_name,
            service_type: &self.service_type,
            host: &self.host,
            http_method: &self.http_method,
            url_path: &self.url_path,
            resource_arn: &self.resource_arn,
            version: self.version,
            has_attributes: self.has_attributes,
        }
    }
}

/// When the [`Poller`] calls the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PollerOptions {
    /// Between rules fetches (default 300 s).
    pub rules_interval: Duration,
    /// Up to this much is added to each rules interval (default 5 s).
    pub rules_jitter: Duration,
    /// Between statistics reports (default 10 s).
    pub targets_interval: Duration,
    /// Up to this much is added to each targets interval (default 100 ms).
    pub targets_jitter: Duration,
    /// After a failed rules fetch, the next try comes after this (default 10 s), so that a
    /// daemon that starts late is picked up soon.
    pub retry_interval: Duration,
}

impl Default for PollerOptions {
    fn default() -> Self {
        Self {
            rules_interval: Duration::from_secs(300),
            rules_jitter: Duration::from_secs(5),
            targets_interval: Duration::from_secs(10),
            targets_jitter: Duration::from_millis(100),
            retry_interval: Duration::from_secs(10),
        }
    }
}

impl PollerOptions {
    /// Sets the rules interval and jitter.
    pub fn rules(mut self, interval: Duration, jitter: Duration) -> Self {
        self.rules_interval = interval;
        self.rules_jitter = jitter;
        self
    }

    /// Sets the targets interval and jitter.
    pub fn targets(mut self, interval: Duration, jitter: Duration) -> Self {
        self.targets_interval = interval;
        self.targets_jitter = jitter;
        self
    }

    /// Sets the retry interval after a failed rules fetch.
    pub fn retry(mut self, interval: Duration) -> Self {
        self.retry_interval = interval;
        self
    }
}

/// `base` plus a uniform draw in `[0, jitter)`.
fn jittered<R: Rng + ?Sized>(base: Duration, jitter: Duration, rng: &mut R) -> Duration {
    let j = u64::try_from(jitter.as_micros()).unwrap_or(u64::MAX);
    if j == 0 {
        return base;
    }
    base.saturating_add(Duration::from_micros(rng.next_u64() % j))
}

/// Counters of a [`Poller`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PollerStats {
    /// Successful rules fetches.
    pub rules_fetched: u64,
    /// Failed rules fetches.
    pub rules_failed: u64,
    /// Successful statistics reports.
    pub targets_reported: u64,
    /// Failed statistics reports.
    pub targets_failed: u64,
}

#[derive(Default)]
struct Shared {
    stop: bool,
    stats: PollerStats,
}

/// The background thread that fetches rules and reports statistics. Stopped by
/// [`Poller::stop`] or when dropped (it wakes at once and the thread is joined; an HTTP call
/// in flight finishes first, bounded by the client's timeout).
pub struct Poller {
    shared: Arc<(Mutex<Shared>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Poller {
    /// Starts the thread: rules at once, then every `rules_interval` (+ jitter); statistics
    /// every `targets_interval` (+ jitter), with an early rules fetch when the targets say
    /// the rules changed.
    pub fn start(
        sampling: Arc<CentralizedSampling>,
        client: SamplingProxyClient,
        options: PollerOptions,
    ) -> std::io::Result<Poller> {
        let shared = Arc::new((Mutex::new(Shared::default()), Condvar::new()));
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("xray-sampling-poller".into())
                .spawn(move || run(&sampling, &client, options, &shared))?
        };
        Ok(Poller {
            shared,
            thread: Some(thread),
        })
    }

    /// The counters so far.
    pub fn stats(&self) -> PollerStats {
        self.shared
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stats
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let (lock, cvar) = &*self.shared;
        lock.lock().unwrap_or_else(PoisonError::into_inner).stop = true;
        cvar.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn epoch_secs() -> Option<u64> {
    SystemClock.now().map(|t| t.secs())
}

fn run(
    sampling: &CentralizedSampling,
    client: &SamplingProxyClient,
    options: PollerOptions,
    shared: &(Mutex<Shared>, Condvar),
) {
    let mut rng = FastRng::from_os();
    let start = Instant::now();
    let mut next_rules = start;
    let mut next_targets =
        start + jittered(options.targets_interval, options.targets_jitter, &mut rng);
    let (lock, cvar) = shared;
    loop {
        // Sleep until the next call is due, or until stopped.
        {
            let mut guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if guard.stop {
                    return;
                }
                let now = Instant::now();
                let due = next_rules.min(next_targets);
                if now >= due {
                    break;
                }
                guard = cvar
                    .wait_timeout(guard, due - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }
        let now = Instant::now();
        let Some(now_secs) = epoch_secs() else {
            // No wall clock: nothing can be timed; try again later.
            next_rules = now + options.retry_interval;
            next_targets = now + options.targets_interval;
            continue;
        };
        if now >= next_targets {
            next_targets =
                now + jittered(options.targets_interval, options.targets_jitter, &mut rng);
            match sampling.report_targets(client, now_secs) {
                Ok(report) => {
                    if report.reported > 0 {
                        lock.lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .stats
                            .targets_reported += 1;
                    }
                    if report.refresh_rules {
                        next_rules = now;
                    }
                }
                Err(e) => {
                    log::debug!("X-Ray: sampling targets: {e}");
                    lock.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .stats
                        .targets_failed += 1;
                }
            }
        }
        if now >= next_rules {
            match sampling.refresh_rules(client, now_secs) {
                Ok(_) => {
                    next_rules =
                        now + jittered(options.rules_interval, options.rules_jitter, &mut rng);
                    lock.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .stats
                        .rules_fetched += 1;
                }
                Err(e) => {
                    log::debug!("X-Ray: sampling rules: {e}");
                    next_rules = now + options.retry_interval;
                    lock.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .stats
                        .rules_failed += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xray_core::sampler::Reason;
    use xray_core::{FixedClock, Timestamp};

    const T0: u64 = 1_700_000_000;

    fn at(secs: u64) -> FixedClock {
        FixedClock(Timestamp::from_secs_micros(secs, 0))
    }

    fn rule(name: &str, priority: i64, rate: f64, size: u64, path: &str) -> Value {
        serde_json::json!({"SamplingRule": {
            "RuleName": name, "RuleARN": "arn", "ResourceARN": "*", "Priority": priority,
            "FixedRate": rate, "ReservoirSize": size, "ServiceName": "*", "ServiceType": "*",
            "Host": "*", "HTTPMethod": "*", "URLPath": path, "Version": 1, "Attributes": {}
        }, "CreatedAt": 1.0, "ModifiedAt": 1.0})
    }

    fn sampling() -> Arc<CentralizedSampling> {
        CentralizedSampling::with_rng(LocalSampler::default(), &mut FastRng::seed_from_u64(1))
    }

    fn decide(s: &CentralizedSampling, path: &str, secs: u64) -> (bool, Reason, Option<String>) {
        let req = SamplingRequest {
            url_path: Some(path),
            service_name: Some("svc"),
            ..Default::default()
        };
        let mut rng = FastRng::seed_from_u64(secs);
        s.decide_with(&req, Upstream::NoTrace, &at(secs), &mut rng, |d, _| {
            (d.sampled, d.reason, d.rule.map(str::to_owned))
        })
    }

    #[test]
    fn malformed_rule_records_are_skipped_not_fatal() {
        let s = sampling();
        let mut bad_attrs = rule("attrs", 1, 1.0, 0, "*");
        bad_attrs["SamplingRule"]["Attributes"] = serde_json::json!({"k": "v"});
        let mut wrong_type = rule("typed", 1, 1.0, 0, "*");
        wrong_type["SamplingRule"]["Priority"] = serde_json::json!("high");
        let mut negative = rule("neg", 1, 1.0, 0, "*");
        negative["SamplingRule"]["ReservoirSize"] = serde_json::json!(-3);
        let body = serde_json::json!({"SamplingRuleRecords": [
            bad_attrs, wrong_type, negative, {"nope": 1}, 17,
            rule("Default", 10000, 0.0, 0, "*"), rule("ok", 2, 0.5, 1, "/a*"),
        ]})
        .to_string();
        let r = s.apply_rules_json(&body, T0).unwrap();
        assert_eq!((r.received, r.kept), (7, 2));
        assert_eq!(s.rule_names(), ["ok", "Default"]);
        for junk in ["", "[]", "{\"SamplingRuleRecords\": 3}", "{\"x\":"] {
            assert!(s.apply_rules_json(junk, T0).is_err(), "{junk}");
        }
        // A failed parse keeps the rules in force.
        assert_eq!(s.rule_names(), ["ok", "Default"]);
    }

    #[test]
    fn statistics_body_has_the_api_shape() {
        let s = sampling();
        let body =
            serde_json::json!({"SamplingRuleRecords": [rule("Default", 10000, 1.0, 0, "*")]});
        s.apply_rules_json(&body.to_string(), T0).unwrap();
        assert_eq!(s.statistics_body(T0 + 60), None, "no requests: nothing due");
        for _ in 0..3 {
            assert_eq!(decide(&s, "/x", T0 + 1).1, Reason::Rate);
        }
        assert_eq!(s.statistics_body(T0 + 5), None, "interval not passed");
        let body: Value = serde_json::from_str(&s.statistics_body(T0 + 10).unwrap()).unwrap();
        let doc = &body["SamplingStatisticsDocuments"][0];
        assert_eq!(doc["RuleName"], "Default");
        assert_eq!(doc["RequestCount"], 3);
        assert_eq!(doc["SampledCount"], 3);
        assert_eq!(doc["BorrowCount"], 0);
        assert_eq!(doc["Timestamp"], T0 + 10);
        let id = doc["ClientID"].as_str().unwrap();
        assert_eq!(id.len(), 24);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(id, s.client_id());
    }

    #[test]
    fn targets_apply_quota_and_signal_rule_changes() {
        let s = sampling();
        let body =
            serde_json::json!({"SamplingRuleRecords": [rule("Default", 10000, 0.0, 1, "*")]});
        s.apply_rules_json(&body.to_string(), T0).unwrap();
        let targets = serde_json::json!({
            "SamplingTargetDocuments": [
                {"RuleName": "Default", "FixedRate": 0.0, "ReservoirQuota": 2,
                 "ReservoirQuotaTTL": (T0 + 100) as f64 + 0.5, "Interval": 10},
                {"RuleName": "unknown", "FixedRate": 0.5},
                {"RuleName": "Default"},
                {"FixedRate": 1.0},
            ],
            "LastRuleModification": T0 - 10,
            "UnprocessedStatistics": []
        });
        let r = s.apply_targets_json(&targets.to_string()).unwrap();
        assert_eq!((r.applied, r.refresh_rules), (1, false));
        assert_eq!(
            s.rule_target("Default"),
            Some((0.0, Some((2, (T0 + 100) as u32))))
        );
        let reasons: Vec<Reason> = (0..3).map(|_| decide(&s, "/x", T0 + 5).1).collect();
        assert_eq!(
            reasons,
            [Reason::Reservoir, Reason::Reservoir, Reason::Rate]
        );

        let newer =
            serde_json::json!({"SamplingTargetDocuments": [], "LastRuleModification": T0 + 1});
        assert!(
            s.apply_targets_json(&newer.to_string())
                .unwrap()
                .refresh_rules
        );
        let rejected = serde_json::json!({"UnprocessedStatistics": [{"RuleName": "Default", "ErrorCode": "400"}]});
        assert!(
            s.apply_targets_json(&rejected.to_string())
                .unwrap()
                .refresh_rules
        );
        let server = serde_json::json!({"UnprocessedStatistics": [{"RuleName": "Default", "ErrorCode": "500"}]});
        assert!(
            !s.apply_targets_json(&server.to_string())
                .unwrap()
                .refresh_rules
        );
        assert!(s.apply_targets_json("not json").is_err());
    }

    #[test]
    fn numbers_convert_without_panicking() {
        assert_eq!(as_u32(&serde_json::json!(5)), Some(5));
        assert_eq!(as_u32(&serde_json::json!(1e20)), Some(u32::MAX));
        assert_eq!(as_u32(&serde_json::json!(u64::MAX)), Some(u32::MAX));
        assert_eq!(as_u32(&serde_json::json!(-1)), None);
        assert_eq!(as_u32(&serde_json::json!(-0.5)), None);
        assert_eq!(as_u32(&serde_json::json!(7.9)), Some(7));
        assert_eq!(as_u32(&serde_json::json!("7")), None);
    }

    #[test]
    fn jitter_stays_in_range() {
        let mut rng = FastRng::seed_from_u64(3);
        let base = Duration::from_secs(10);
        let jitter = Duration::from_millis(100);
        for _ in 0..1000 {
            let d = jittered(base, jitter, &mut rng);
            assert!(d >= base && d < base + jitter, "{d:?}");
        }
        assert_eq!(jittered(base, Duration::ZERO, &mut rng), base);
    }
}
