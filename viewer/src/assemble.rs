//! Traces from documents: segments and independent subsegments, in any arrival order.
//!
//! Each document goes to the trace named by its `trace_id`. When a trace is drawn, its
//! documents become one tree:
//!
//! - an entity sent twice (an `in_progress` version, then the finished one) is kept once: a
//!   finished version wins over an in-progress one, a later one over an earlier one, and
//!   children only the replaced version had move to the one kept;
//! - an independent subsegment goes under the entity its `parent_id` names, wherever that
//!   entity is (a segment, an embedded subsegment, another independent subsegment); so does
//!   a segment called from another service of the same trace;
//! - independent subsegments whose parent never arrived are grouped under a placeholder
//!   [`Kind::Facade`] root per parent id. In Lambda that parent is the function segment,
//!   which the Lambda service writes itself and never sends to a local daemon.
//!
//! A trace is ready to draw when a segment has arrived, no entity is in progress and every
//! subsegment's parent has arrived ([`Status::Complete`]), or when nothing has arrived for it
//! for a while ([`Status::TimedOut`]). Documents that arrive after a trace was drawn draw it again.
//!
//! Everything is bounded: traces kept, documents per trace, bytes kept, tree depth (deeper entities are
//! drawn at the deepest level), so hostile input costs bounded memory and stack.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::datagram::{Checked, Problem};

/// Traces kept at once; beyond this the oldest drawn one is forgotten, or the oldest pending
/// one is drawn as it is.
pub const MAX_TRACES: usize = 1_000;

/// Documents kept per trace; later ones are counted and left out.
pub const MAX_DOCUMENTS_PER_TRACE: usize = 1_000;

/// Datagram bytes kept across all traces (documents are kept to draw a trace again when late
/// documents arrive); beyond this the oldest traces are forgotten, or drawn as they are.
pub const MAX_RETAINED_BYTES: usize = 64 * 1024 * 1024;

/// Levels of nesting drawn; entities deeper than this are drawn at this level.
pub const MAX_DEPTH: usize = 32;

/// What an entity is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Kind {
    /// A segment: one service's work for one request.
    #[default]
    Segment,
    /// A subsegment (embedded in its parent's document, or sent on its own).
    Subsegment,
    /// A placeholder for a parent that never arrived, such as Lambda's function segment.
    Facade,
}

/// The `http` block of an entity.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Http {
    /// `request.method`.
    pub method: Option<String>,
    /// `request.url`.
    pub url: Option<String>,
    /// `response.status`.
    pub status: Option<f64>,
}

/// Where an entity's document came from, for entities at the top of a document.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Source {
    /// The datagram's number, counting from 1 in arrival order.
    pub datagram: u64,
    /// Whether it was an independent subsegment (`"type":"subsegment"`).
    pub independent: bool,
    /// Why the daemon or the service would refuse the document (empty: it would be taken).
    pub problems: Vec<Problem>,
}

/// One segment or subsegment, as the waterfall draws it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Entity {
    /// What it is.
    pub kind: Kind,
    /// `id` (for a facade placeholder: the parent id the subsegments point at).
    pub id: String,
    /// `name`.
    pub name: String,
    /// `parent_id`, when the document had one.
    pub parent_id: Option<String>,
    /// `start_time`, epoch seconds.
    pub start: Option<f64>,
    /// `end_time`, epoch seconds.
    pub end: Option<f64>,
    /// `"in_progress": true`.
    pub in_progress: bool,
    /// `namespace` (`remote`, `aws`, `local`).
    pub namespace: Option<String>,
    /// `origin` (`AWS::EC2::Instance`, …).
    pub origin: Option<String>,
    /// The `error` flag (4xx).
    pub error: bool,
    /// The `throttle` flag (429).
    pub throttle: bool,
    /// The `fault` flag (5xx).
    pub fault: bool,
    /// The `http` block.
    pub http: Option<Http>,
    /// `annotations`, as `key=value` text, in key order.
    pub annotations: Vec<(String, String)>,
    /// `cause.exceptions`, as `type: message`; or `cause` as an exception id.
    pub exceptions: Vec<String>,
    /// `aws.operation` and the resource it acted on (`table_name`, `queue_url`, …).
    pub aws: Option<String>,
    /// `sql.sanitized_query`, or `sql.url`.
    pub sql: Option<String>,
    /// `aws.xray.sampling_rule_name` (or `rule_name`): the sampling rule that matched.
    pub sampling_rule: Option<String>,
    /// Set when this entity was the top of a document.
    pub source: Option<Source>,
    /// Children, by start time.
    pub children: Vec<Entity>,
}

/// Why a trace is drawn now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// A segment arrived, nothing is in progress, and no subsegment's parent is missing.
    Complete,
    /// Nothing arrived for it within the timeout.
    TimedOut,
    /// The input ended (a replay, a bounded run) or too many traces were pending.
    Flushed,
}

/// A trace, assembled.
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    /// The trace id.
    pub id: String,
    /// Why it is drawn now.
    pub status: Status,
    /// Whether it was drawn before (documents arrived after that).
    pub update: bool,
    /// Documents that make it up.
    pub documents: usize,
    /// Documents left out because the trace had too many.
    pub documents_dropped: usize,
    /// Documents that replaced an earlier version of the same entity.
    pub replaced: usize,
    /// The top entities: segments, facade placeholders, and anything whose parent is absent.
    pub roots: Vec<Entity>,
}

impl Trace {
    /// Every entity, depth first.
    pub fn entities(&self) -> Vec<&Entity> {
        let mut out = Vec::new();
        let mut stack: Vec<&Entity> = self.roots.iter().rev().collect();
        while let Some(e) = stack.pop() {
            out.push(e);
            stack.extend(e.children.iter().rev());
        }
        out
    }

    /// Whether any document would be refused by the daemon or the service.
    pub fn has_problems(&self) -> bool {
        self.entities()
            .iter()
            .any(|e| e.source.as_ref().is_some_and(|s| !s.problems.is_empty()))
    }
}

/// A datagram that belongs to no trace: no document, or a document without a usable
/// `trace_id`.
#[derive(Clone, Debug, PartialEq)]
pub struct Unplaced {
    /// The datagram's number, counting from 1 in arrival order.
    pub datagram: u64,
    /// Its length in bytes.
    pub len: usize,
    /// Its first bytes, for the reader.
    pub preview: String,
    /// Why it would be refused (at least one reason).
    pub problems: Vec<Problem>,
}

/// One received document.
#[derive(Debug)]
struct Doc {
    seq: u64,
    value: Value,
    problems: Vec<Problem>,
}

#[derive(Debug)]
struct Pending {
    docs: Vec<Doc>,
    dropped: usize,
    /// Bytes of the datagrams in `docs`.
    bytes: usize,
    last_seen: Instant,
    /// Order of arrival of the trace's first document, for flushing in order.
    first_seq: u64,
    /// Drawn, and nothing arrived since.
    shown: bool,
    /// Drawn at least once.
    drawn: bool,
    /// What completeness depends on, kept up to date as documents arrive (so that waiting
    /// traces are not assembled again for every datagram).
    progress: Progress,
}

/// Whether a trace is complete, tracked per document.
#[derive(Debug, Default)]
struct Progress {
    /// A segment (not an independent subsegment) has arrived.
    has_segment: bool,
    /// Every entity id seen, and whether a finished version of it has arrived.
    finished: HashMap<String, bool>,
    /// The `parent_id`s independent subsegments and called segments point at.
    parents: HashSet<String>,
}

impl Progress {
    fn note(&mut self, doc: &Value) {
        let independent = doc.get("type").and_then(Value::as_str) == Some("subsegment");
        if !independent {
            self.has_segment = true;
        }
        // A called segment (one with a `parent_id`) waits for its caller's subsegment like an
        // independent subsegment waits for its parent, so that a downstream service's segment,
        // which usually arrives first, is not drawn alone and then again as an update. A caller
        // that never comes here (API Gateway, another daemon) makes the trace wait for the
        // timeout, as a Lambda trace does.
        if let Some(pid) = doc.get("parent_id").and_then(Value::as_str) {
            self.parents.insert(pid.to_owned());
        }
        let mut stack = vec![doc];
        let mut budget = 10_000usize;
        while let Some(e) = stack.pop() {
            budget = budget.saturating_sub(1);
            if budget == 0 {
                break;
            }
            let id = e.get("id").and_then(Value::as_str).unwrap_or_default();
            let done = !(e.get("in_progress").and_then(Value::as_bool) == Some(true)
                && e.get("end_time").is_none());
            *self.finished.entry(id.to_owned()).or_default() |= done;
            if let Some(Value::Array(children)) = e.get("subsegments") {
                stack.extend(children.iter().filter(|c| c.is_object()));
            }
        }
    }

    /// A segment has arrived, nothing is in progress, and every parent named is there.
    fn is_complete(&self) -> bool {
        self.has_segment
            && self.finished.values().all(|&done| done)
            && self.parents.iter().all(|p| self.finished.contains_key(p))
    }
}

/// Gathers documents into traces and hands out the ones ready to draw.
#[derive(Debug, Default)]
pub struct Assembler {
    traces: BTreeMap<String, Pending>,
    seq: u64,
    /// Traces pushed out by [`MAX_TRACES`] or [`MAX_RETAINED_BYTES`], drawn at the next
    /// [`Assembler::take_ready`].
    evicted: Vec<Trace>,
    /// Bytes of the datagrams kept, over all traces.
    bytes: usize,
}

impl Assembler {
    /// An empty assembler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Datagrams seen so far.
    pub fn datagrams(&self) -> u64 {
        self.seq
    }

    /// Traces not yet drawn.
    pub fn pending(&self) -> usize {
        self.traces.values().filter(|t| !t.shown).count()
    }

    /// Adds a checked datagram received at `now`. Returns it back as [`Unplaced`] when it
    /// belongs to no trace.
    pub fn add(&mut self, checked: Checked, bytes: &[u8], now: Instant) -> Option<Unplaced> {
        self.seq += 1;
        let seq = self.seq;
        let trace_id = checked
            .document
            .as_ref()
            .and_then(|d| d.get("trace_id"))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty() && t.len() <= 64)
            .map(str::to_owned);
        let (Some(value), Some(trace_id)) = (checked.document, trace_id) else {
            let mut problems = checked.problems;
            if problems.is_empty() {
                // Accepted by the checks but still of no trace: the schema requires a
                // trace_id, so this is not reached with the published schema.
                problems.push(Problem::Schema {
                    path: "/trace_id".into(),
                    message: "no trace_id".into(),
                });
            }
            return Some(Unplaced {
                datagram: seq,
                len: checked.len,
                preview: preview(bytes),
                problems,
            });
        };
        if !self.traces.contains_key(&trace_id) && self.traces.len() >= MAX_TRACES {
            self.evict();
        }
        let pending = self.traces.entry(trace_id).or_insert_with(|| Pending {
            docs: Vec::new(),
            dropped: 0,
            bytes: 0,
            last_seen: now,
            first_seq: seq,
            shown: false,
            drawn: false,
            progress: Progress::default(),
        });
        pending.last_seen = now;
        pending.shown = false;
        if pending.docs.len() >= MAX_DOCUMENTS_PER_TRACE {
            pending.dropped += 1;
        } else {
            pending.progress.note(&value);
            pending.bytes += checked.len;
            self.bytes += checked.len;
            pending.docs.push(Doc {
                seq,
                value,
                problems: checked.problems,
            });
        }
        // Bounded: each eviction removes a trace, so this ends.
        while self.bytes > MAX_RETAINED_BYTES && !self.traces.is_empty() {
            self.evict();
        }
        None
    }

    /// Makes room for one more trace.
    fn evict(&mut self) {
        let oldest_shown = self
            .traces
            .iter()
            .filter(|(_, t)| t.shown)
            .min_by_key(|(_, t)| t.last_seen)
            .map(|(id, _)| id.clone());
        if let Some(id) = oldest_shown {
            if let Some(t) = self.traces.remove(&id) {
                self.bytes -= t.bytes;
            }
            return;
        }
        let oldest = self
            .traces
            .iter()
            .min_by_key(|(_, t)| t.first_seq)
            .map(|(id, _)| id.clone());
        if let Some(id) = oldest
            && let Some(t) = self.traces.remove(&id)
        {
            self.bytes -= t.bytes;
            self.evicted.push(build(&id, &t, Status::Flushed));
        }
    }

    /// The traces ready to draw at `now`: complete ones, and those that received nothing for
    /// `timeout`. Each is handed out once (again if more documents arrive), in order of
    /// arrival.
    pub fn take_ready(&mut self, now: Instant, timeout: Duration) -> Vec<Trace> {
        let mut out = std::mem::take(&mut self.evicted);
        let mut ready: Vec<(u64, Trace)> = Vec::new();
        for (id, t) in self.traces.iter_mut().filter(|(_, t)| !t.shown) {
            let status = if t.progress.is_complete() {
                Status::Complete
            } else if now.saturating_duration_since(t.last_seen) >= timeout {
                Status::TimedOut
            } else {
                continue;
            };
            ready.push((t.first_seq, build(id, t, status)));
            t.shown = true;
            t.drawn = true;
        }
        ready.sort_by_key(|(seq, _)| *seq);
        out.extend(ready.into_iter().map(|(_, t)| t));
        out
    }

    /// Every trace not drawn yet, complete or not (the input ended).
    pub fn take_all(&mut self) -> Vec<Trace> {
        let mut out = std::mem::take(&mut self.evicted);
        let mut rest: Vec<(u64, Trace)> = Vec::new();
        for (id, t) in self.traces.iter_mut().filter(|(_, t)| !t.shown) {
            let status = if t.progress.is_complete() {
                Status::Complete
            } else {
                Status::Flushed
            };
            rest.push((t.first_seq, build(id, t, status)));
            t.shown = true;
            t.drawn = true;
        }
        rest.sort_by_key(|(seq, _)| *seq);
        out.extend(rest.into_iter().map(|(_, t)| t));
        out
    }
}

/// The first 80 characters of a datagram, lossy.
fn preview(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(240)];
    crate::datagram::cut(&String::from_utf8_lossy(head), 80)
}

/// An arena node: an entity without children, and the links.
#[derive(Debug)]
struct Node {
    entity: Entity,
    parent: Option<usize>,
    children: Vec<usize>,
    /// Where a document's top entity wants to go (`parent_id`).
    attach: Option<String>,
    seq: u64,
    dead: bool,
}

fn build(trace_id: &str, pending: &Pending, status: Status) -> Trace {
    let mut nodes: Vec<Node> = Vec::new();
    for doc in &pending.docs {
        flatten(doc, &mut nodes);
    }
    let replaced = dedupe(&mut nodes);
    let by_id: HashMap<String, usize> = nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| !n.dead)
        .map(|(i, n)| (n.entity.id.clone(), i))
        .collect();
    // Independent subsegments (and called segments) under the entity their parent_id names.
    // Links are set first and cycles (hostile parent ids) cut after, in linear time.
    let mut orphans: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut attached = Vec::new();
    for (i, node) in nodes.iter_mut().enumerate() {
        let Some(pid) = node.attach.clone() else {
            continue;
        };
        if node.dead || node.parent.is_some() {
            continue;
        }
        match by_id.get(&pid) {
            Some(&p) if p != i => {
                node.parent = Some(p);
                attached.push(i);
            }
            _ if node.entity.kind == Kind::Subsegment => orphans.entry(pid).or_default().push(i),
            _ => {}
        }
    }
    break_cycles(&mut nodes);
    for i in attached {
        if let Some(p) = nodes[i].parent {
            nodes[p].children.push(i);
        }
    }
    // A placeholder root per missing parent, spanning its children.
    for (pid, children) in orphans {
        let f = nodes.len();
        nodes.push(Node {
            entity: Entity {
                kind: Kind::Facade,
                id: pid,
                name: "facade".into(),
                ..Entity::default()
            },
            parent: None,
            children: Vec::new(),
            attach: None,
            seq: children.iter().map(|&c| nodes[c].seq).min().unwrap_or(0),
            dead: false,
        });
        for c in children {
            link(&mut nodes, f, c);
        }
    }
    let dead: Vec<bool> = nodes.iter().map(|n| n.dead).collect();
    for n in &mut nodes {
        n.children.retain(|&c| !dead[c]);
    }
    let roots = to_entities(&mut nodes);
    Trace {
        id: trace_id.to_owned(),
        status,
        update: pending.drawn,
        documents: pending.docs.len(),
        documents_dropped: pending.dropped,
        replaced,
        roots,
    }
}

fn link(nodes: &mut [Node], parent: usize, child: usize) {
    nodes[child].parent = Some(parent);
    nodes[parent].children.push(child);
}

/// Cuts the parent link that closes each cycle of parent links (a node whose parent chain
/// comes back to itself), so that every chain ends at a root. Linear in the arena's size.
fn break_cycles(nodes: &mut [Node]) {
    // 0: not seen; 1: on the path being walked; 2: known to reach a root.
    let mut state = vec![0u8; nodes.len()];
    let mut path: Vec<usize> = Vec::new();
    for start in 0..nodes.len() {
        if state[start] != 0 {
            continue;
        }
        path.clear();
        let mut cur = Some(start);
        while let Some(c) = cur {
            if state[c] == 2 {
                break;
            }
            if state[c] == 1 {
                if let Some(&last) = path.last() {
                    nodes[last].parent = None;
                }
                break;
            }
            state[c] = 1;
            path.push(c);
            cur = nodes[c].parent.filter(|&p| !nodes[p].dead);
        }
        for &c in &path {
            state[c] = 2;
        }
    }
}

/// Whether `a` is `b` or one of its ancestors (bounded by the arena's size).
fn is_ancestor(nodes: &[Node], a: usize, b: usize) -> bool {
    let mut cur = Some(b);
    for _ in 0..=nodes.len() {
        match cur {
            Some(c) if c == a => return true,
            Some(c) => cur = nodes[c].parent,
            None => return false,
        }
    }
    true // a cycle: treat as related, so no link is made
}

/// Adds a document's entities to the arena.
fn flatten(doc: &Doc, nodes: &mut Vec<Node>) {
    let independent = doc.value.get("type").and_then(Value::as_str) == Some("subsegment");
    let top = nodes.len();
    // (value, parent node, is the document's top)
    let mut stack: Vec<(&Value, Option<usize>)> = vec![(&doc.value, None)];
    let mut budget = 10_000usize;
    while let Some((value, parent)) = stack.pop() {
        budget = budget.saturating_sub(1);
        if budget == 0 {
            break;
        }
        let kind = if parent.is_none() && !independent {
            Kind::Segment
        } else {
            Kind::Subsegment
        };
        let i = nodes.len();
        nodes.push(Node {
            entity: entity(value, kind),
            parent,
            children: Vec::new(),
            attach: None,
            seq: doc.seq,
            dead: false,
        });
        if let Some(p) = parent {
            nodes[p].children.push(i);
        }
        if let Some(Value::Array(children)) = value.get("subsegments") {
            for child in children.iter().rev() {
                if child.is_object() {
                    stack.push((child, Some(i)));
                }
            }
        }
    }
    if let Some(n) = nodes.get_mut(top) {
        n.attach = n.entity.parent_id.clone();
        n.entity.source = Some(Source {
            datagram: doc.seq,
            independent,
            problems: doc.problems.clone(),
        });
    }
}

/// Keeps one node per id: finished over in progress, then the later document. The children
/// of a replaced node move to the one kept. Returns how many nodes were replaced.
fn dedupe(nodes: &mut [Node]) -> usize {
    let mut groups: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        groups.entry(n.entity.id.as_str()).or_default().push(i);
    }
    let mut losers: Vec<(usize, usize)> = Vec::new();
    for members in groups.values().filter(|m| m.len() > 1) {
        let Some(&winner) = members
            .iter()
            .max_by_key(|&&i| (!nodes[i].entity.in_progress, nodes[i].seq, i))
        else {
            continue;
        };
        losers.extend(
            members
                .iter()
                .filter(|&&i| i != winner)
                .map(|&i| (i, winner)),
        );
    }
    let replaced = losers.len();
    for &(loser, _) in &losers {
        nodes[loser].dead = true;
    }
    for (loser, winner) in losers {
        let children = std::mem::take(&mut nodes[loser].children);
        for c in children {
            if nodes[c].dead || c == winner || is_ancestor(nodes, c, winner) {
                continue;
            }
            nodes[c].parent = Some(winner);
            nodes[winner].children.push(c);
        }
        // The kept version takes the replaced one's place if it had none (an independent
        // subsegment replacing an embedded in-progress one keeps its own parent_id).
        if nodes[winner].parent.is_none() && nodes[winner].attach.is_none() {
            nodes[winner].attach = nodes[loser]
                .entity
                .parent_id
                .clone()
                .or_else(|| nodes[loser].parent.map(|p| nodes[p].entity.id.clone()));
        }
    }
    replaced
}

/// Turns the arena into trees, iteratively, capping the depth at [`MAX_DEPTH`].
fn to_entities(nodes: &mut [Node]) -> Vec<Entity> {
    let is_root = |n: &Node, nodes: &[Node]| n.parent.is_none_or(|p| nodes[p].dead);
    let mut roots: Vec<usize> = (0..nodes.len())
        .filter(|&i| !nodes[i].dead && is_root(&nodes[i], nodes))
        .collect();
    let mut visited: HashSet<usize> = HashSet::new();
    // Nodes in a cycle of their own are not reachable from a root: make each cycle a root.
    let mut order = traverse(nodes, &roots, &mut visited);
    for i in 0..nodes.len() {
        if !nodes[i].dead && !visited.contains(&i) {
            roots.push(i);
            order.extend(traverse(nodes, &[i], &mut visited));
        }
    }
    // Post-order assembly: children first. `order` lists (node, depth-capped parent).
    let mut built: HashMap<usize, Entity> = HashMap::new();
    let mut kids: HashMap<usize, Vec<usize>> = HashMap::new();
    for &(i, parent) in &order {
        if let Some(p) = parent {
            kids.entry(p).or_default().push(i);
        }
    }
    for &(i, _) in order.iter().rev() {
        let mut e = std::mem::take(&mut nodes[i].entity);
        let mut children: Vec<Entity> = kids
            .remove(&i)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| built.remove(&c))
            .collect();
        children.sort_by(by_start);
        if e.kind == Kind::Facade {
            e.start = children.iter().filter_map(|c| c.start).reduce(f64::min);
        }
        e.children = children;
        built.insert(i, e);
    }
    let mut out: Vec<Entity> = roots.into_iter().filter_map(|r| built.remove(&r)).collect();
    out.sort_by(by_start);
    out
}

fn by_start(a: &Entity, b: &Entity) -> std::cmp::Ordering {
    let key = |e: &Entity| e.start.filter(|s| s.is_finite()).unwrap_or(f64::INFINITY);
    key(a).total_cmp(&key(b))
}

/// Depth-first from `roots`: each node with the node it is drawn under (its parent, or its
/// ancestor at [`MAX_DEPTH`]).
fn traverse(
    nodes: &[Node],
    roots: &[usize],
    visited: &mut HashSet<usize>,
) -> Vec<(usize, Option<usize>)> {
    let mut order = Vec::new();
    // (node, drawn under, depth)
    let mut stack: Vec<(usize, Option<usize>, usize)> =
        roots.iter().rev().map(|&r| (r, None, 0)).collect();
    while let Some((i, under, depth)) = stack.pop() {
        if !visited.insert(i) {
            continue;
        }
        order.push((i, under));
        let (next_under, next_depth) = if depth + 1 >= MAX_DEPTH {
            (under.or(Some(i)), depth)
        } else {
            (Some(i), depth + 1)
        };
        for &c in nodes[i].children.iter().rev() {
            if !nodes[c].dead {
                stack.push((c, next_under, next_depth));
            }
        }
    }
    order
}

fn string(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// The drawn fields of one entity (its children are linked separately).
fn entity(v: &Value, kind: Kind) -> Entity {
    let flag = |key: &str| v.get(key).and_then(Value::as_bool) == Some(true);
    let http = v.get("http").filter(|h| h.is_object()).map(|h| Http {
        method: h
            .pointer("/request/method")
            .and_then(Value::as_str)
            .map(str::to_owned),
        url: h
            .pointer("/request/url")
            .and_then(Value::as_str)
            .map(str::to_owned),
        status: h.pointer("/response/status").and_then(Value::as_f64),
    });
    let annotations = v
        .get("annotations")
        .and_then(Value::as_object)
        .map(|a| {
            a.iter()
                .take(100)
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect()
        })
        .unwrap_or_default();
    let exceptions = match v.get("cause") {
        Some(Value::String(id)) => vec![format!("cause: exception {id}")],
        Some(cause) => cause
            .get("exceptions")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .take(10)
                    .map(|x| {
                        let ty = x.get("type").and_then(Value::as_str);
                        let msg = x.get("message").and_then(Value::as_str);
                        let remote = if x.get("remote").and_then(Value::as_bool) == Some(true) {
                            " (remote)"
                        } else {
                            ""
                        };
                        match (ty, msg) {
                            (Some(t), Some(m)) => format!("{t}: {m}{remote}"),
                            (Some(t), None) => format!("{t}{remote}"),
                            (None, Some(m)) => format!("{m}{remote}"),
                            (None, None) => format!("exception{remote}"),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let aws = v
        .get("aws")
        .filter(|a| a.get("operation").is_some())
        .map(|a| {
            let mut text = a
                .get("operation")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned();
            for key in [
                "table_name",
                "queue_url",
                "bucket_name",
                "region",
                "request_id",
            ] {
                if let Some(val) = a.get(key).and_then(Value::as_str) {
                    text.push_str(&format!(" {key}={val}"));
                }
            }
            text
        });
    let sql = v
        .get("sql")
        .and_then(|s| string(s, "sanitized_query").or_else(|| string(s, "url")));
    let sampling_rule = v
        .pointer("/aws/xray/sampling_rule_name")
        .or_else(|| v.pointer("/aws/xray/rule_name"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Entity {
        kind,
        id: string(v, "id").unwrap_or_default(),
        name: string(v, "name").unwrap_or_default(),
        parent_id: string(v, "parent_id"),
        start: v.get("start_time").and_then(Value::as_f64),
        end: v.get("end_time").and_then(Value::as_f64),
        in_progress: flag("in_progress") && v.get("end_time").is_none(),
        namespace: string(v, "namespace"),
        origin: string(v, "origin"),
        error: flag("error"),
        throttle: flag("throttle"),
        fault: flag("fault"),
        http,
        annotations,
        exceptions,
        aws,
        sql,
        sampling_rule,
        source: None,
        children: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagram::Checker;

    const T: &str = "1-581cf771-a006649127e371903a2de979";

    fn add(a: &mut Assembler, doc: &str) {
        let bytes = format!("{{\"format\":\"json\",\"version\":1}}\n{doc}");
        let checked = Checker::new().unwrap().check(bytes.as_bytes());
        assert!(a.add(checked, bytes.as_bytes(), Instant::now()).is_none());
    }

    fn names(e: &Entity) -> String {
        if e.children.is_empty() {
            e.name.clone()
        } else {
            let kids: Vec<String> = e.children.iter().map(names).collect();
            format!("{}({})", e.name, kids.join(","))
        }
    }

    #[test]
    fn a_called_segment_waits_for_its_caller_and_is_drawn_once_under_it() {
        let mut a = Assembler::new();
        // The downstream service finishes first: its segment names the caller's subsegment.
        add(
            &mut a,
            &format!(
                r#"{{"trace_id":"{T}","parent_id":"000000000000000b","id":"000000000000000c","name":"inventory","start_time":2,"end_time":3}}"#
            ),
        );
        assert!(
            a.take_ready(Instant::now(), Duration::from_secs(60))
                .is_empty(),
            "the caller has not arrived"
        );
        add(
            &mut a,
            &format!(
                r#"{{"trace_id":"{T}","id":"000000000000000a","name":"shop","start_time":1,"end_time":4,"subsegments":[{{"id":"000000000000000b","name":"call","start_time":1.5,"end_time":3.5}}]}}"#
            ),
        );
        let traces = a.take_ready(Instant::now(), Duration::from_secs(60));
        assert_eq!(traces.len(), 1);
        assert_eq!(traces[0].status, Status::Complete);
        assert!(!traces[0].update, "drawn once, not as an update");
        assert_eq!(traces[0].roots.len(), 1);
        assert_eq!(names(&traces[0].roots[0]), "shop(call(inventory))");
        let drawing = crate::render::trace(&traces[0], &crate::render::RenderOptions::default());
        assert!(!drawing.contains("not in this trace"), "{drawing}");
    }

    #[test]
    fn a_called_segment_whose_caller_never_comes_is_shown_after_the_timeout() {
        let mut a = Assembler::new();
        add(
            &mut a,
            &format!(
                r#"{{"trace_id":"{T}","parent_id":"00000000000000fe","id":"000000000000000c","name":"api","start_time":2,"end_time":3}}"#
            ),
        );
        let t0 = Instant::now();
        assert!(a.take_ready(t0, Duration::from_secs(60)).is_empty());
        let traces = a.take_ready(t0 + Duration::from_secs(61), Duration::from_secs(60));
        assert_eq!(traces.len(), 1);
        assert_eq!(traces[0].status, Status::TimedOut);
        let drawing = crate::render::trace(&traces[0], &crate::render::RenderOptions::default());
        assert!(
            drawing.contains("called from 00000000000000fe (not in this trace)"),
            "{drawing}"
        );
    }

    #[test]
    fn independent_subsegments_join_their_parent_in_any_order() {
        let mut a = Assembler::new();
        add(
            &mut a,
            &format!(
                r#"{{"type":"subsegment","trace_id":"{T}","parent_id":"000000000000000b","id":"000000000000000c","name":"c","start_time":3,"end_time":4}}"#
            ),
        );
        add(
            &mut a,
            &format!(
                r#"{{"type":"subsegment","trace_id":"{T}","parent_id":"000000000000000a","id":"000000000000000b","name":"b","start_time":2,"end_time":5}}"#
            ),
        );
        assert!(
            a.take_ready(Instant::now(), Duration::from_secs(60))
                .is_empty(),
            "no segment yet"
        );
        add(
            &mut a,
            &format!(
                r#"{{"trace_id":"{T}","id":"000000000000000a","name":"a","start_time":1,"end_time":6}}"#
            ),
        );
        let traces = a.take_ready(Instant::now(), Duration::from_secs(60));
        assert_eq!(traces.len(), 1);
        assert_eq!(traces[0].status, Status::Complete);
        assert_eq!(
            traces[0].roots.iter().map(names).collect::<Vec<_>>(),
            ["a(b(c))"]
        );
    }

    #[test]
    fn finished_versions_replace_in_progress_ones() {
        let mut a = Assembler::new();
        add(
            &mut a,
            &format!(
                r#"{{"trace_id":"{T}","id":"000000000000000a","name":"a","start_time":1,"in_progress":true,"subsegments":[{{"id":"000000000000000b","name":"b","start_time":2,"in_progress":true}}]}}"#
            ),
        );
        let t0 = Instant::now();
        assert!(
            a.take_ready(t0, Duration::from_secs(60)).is_empty(),
            "in progress"
        );
        add(
            &mut a,
            &format!(
                r#"{{"type":"subsegment","trace_id":"{T}","parent_id":"000000000000000a","id":"000000000000000b","name":"b","start_time":2,"end_time":3}}"#
            ),
        );
        assert!(
            a.take_ready(t0, Duration::from_secs(60)).is_empty(),
            "the segment is in progress"
        );
        add(
            &mut a,
            &format!(
                r#"{{"trace_id":"{T}","id":"000000000000000a","name":"a","start_time":1,"end_time":4}}"#
            ),
        );
        let traces = a.take_ready(t0, Duration::from_secs(60));
        assert_eq!(traces[0].status, Status::Complete);
        assert_eq!(traces[0].replaced, 2);
        assert_eq!(
            traces[0].roots.iter().map(names).collect::<Vec<_>>(),
            ["a(b)"]
        );
        assert!(traces[0].entities().iter().all(|e| !e.in_progress));
    }

    #[test]
    fn missing_parents_become_a_facade_and_time_out() {
        let mut a = Assembler::new();
        add(
            &mut a,
            &format!(
                r#"{{"type":"subsegment","trace_id":"{T}","parent_id":"00000000000000fa","id":"000000000000000b","name":"b","start_time":2,"end_time":3}}"#
            ),
        );
        let t0 = Instant::now();
        assert!(a.take_ready(t0, Duration::from_secs(2)).is_empty());
        let traces = a.take_ready(t0 + Duration::from_secs(3), Duration::from_secs(2));
        assert_eq!(traces[0].status, Status::TimedOut);
        assert_eq!(traces[0].roots[0].kind, Kind::Facade);
        assert_eq!(traces[0].roots[0].id, "00000000000000fa");
        assert_eq!(names(&traces[0].roots[0]), "facade(b)");
    }

    #[test]
    fn cycles_and_self_parents_do_not_loop() {
        let mut a = Assembler::new();
        add(
            &mut a,
            &format!(
                r#"{{"type":"subsegment","trace_id":"{T}","parent_id":"000000000000000b","id":"000000000000000a","name":"a","start_time":1,"end_time":2}}"#
            ),
        );
        add(
            &mut a,
            &format!(
                r#"{{"type":"subsegment","trace_id":"{T}","parent_id":"000000000000000a","id":"000000000000000b","name":"b","start_time":1,"end_time":2}}"#
            ),
        );
        add(
            &mut a,
            &format!(
                r#"{{"type":"subsegment","trace_id":"{T}","parent_id":"000000000000000c","id":"000000000000000c","name":"c","start_time":1,"end_time":2,"subsegments":[{{"id":"000000000000000c","name":"c2","start_time":1,"end_time":2}}]}}"#
            ),
        );
        let traces = a.take_all();
        assert_eq!(traces.len(), 1);
        let all = traces[0].entities().len();
        assert!((3..=5).contains(&all), "{:?}", traces[0]);
    }

    #[test]
    fn depth_is_capped() {
        let mut a = Assembler::new();
        for i in 1..100u64 {
            add(
                &mut a,
                &format!(
                    r#"{{"type":"subsegment","trace_id":"{T}","parent_id":"{:016x}","id":"{i:016x}","name":"n","start_time":1,"end_time":2}}"#,
                    i - 1
                ),
            );
        }
        let traces = a.take_all();
        let mut depth = 0;
        let mut e = &traces[0].roots[0];
        while let Some(c) = e.children.first() {
            depth += 1;
            e = c;
        }
        assert!(depth <= MAX_DEPTH, "{depth}");
        assert_eq!(
            traces[0].entities().len(),
            100,
            "the facade and every subsegment"
        );
    }
}
