//! A trace as a waterfall, in text.
//!
//! ```text
//! trace 1-65536f00-0a1b2c3d4e5f60718293a4b5 · 2 documents · 3 entities · 12.000 ms
//!                       start    duration  |0                               12.000 ms|
//! orders-api         0.000 ms   12.000 ms  |████████████████████████████████████████|  POST https://orders.example.com/orders → 502  FAULT
//! ├─ inventory       1.000 ms    2.000 ms  |   ███████                              |  [remote]  GET https://inventory.internal/v1/stock → 200
//! └─ charge-card     4.000 ms    6.000 ms  |             ████████████████████       |  FAULT
//!       ! io::Error: payment gateway timed out
//! ```
//!
//! One row per entity: the tree of names, the start offset from the trace's first entity,
//! the duration, a bar on the trace's time axis, then the namespace, HTTP call, AWS
//! operation, SQL query and the `error`/`throttle`/`fault` flags. Lines under a row carry
//! annotations, exceptions, the sampling rule, a missing parent, and why the daemon or the
//! service would refuse the document. In-progress entities are drawn with `░` to the end of
//! the axis.
//!
//! Text from documents is shown with control and bidirectional-override characters escaped,
//! so a datagram cannot move the cursor or recolour the terminal. Colours (ANSI) are on only
//! when asked ([`RenderOptions::color`]).

use std::fmt::Write as _;

use anstyle::{AnsiColor, Effects, Style};

use crate::assemble::{Entity, Kind, Status, Trace, Unplaced};
use crate::datagram::{Problem, Stage};

/// How to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenderOptions {
    /// Write ANSI colours.
    pub color: bool,
    /// Cells in a bar (the time axis).
    pub bar_width: usize,
    /// The name column's largest width; longer names are cut.
    pub max_name_width: usize,
}

impl Default for RenderOptions {
    /// No colour, a 40-cell axis, names up to 40 characters.
    fn default() -> Self {
        Self {
            color: false,
            bar_width: 40,
            max_name_width: 40,
        }
    }
}

impl RenderOptions {
    /// The defaults, with colour when stdout takes it: a terminal, `NO_COLOR` unset (or
    /// `CLICOLOR_FORCE` set), as `anstream` decides.
    pub fn for_stdout() -> Self {
        Self {
            color: anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never,
            ..Self::default()
        }
    }
}

/// Longest text from a document shown in one place.
const MAX_TEXT: usize = 120;

const BOLD: Style = Style::new().effects(Effects::BOLD);
const DIM: Style = Style::new().effects(Effects::DIMMED);
const RED: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)));
const GREEN: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Green)));
const YELLOW: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Yellow)));
const MAGENTA: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Magenta)));
const CYAN: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Cyan)));
const BLUE: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Blue)));

struct Painter {
    color: bool,
}

impl Painter {
    fn paint(&self, style: Style, text: &str) -> String {
        if self.color && !text.is_empty() {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_owned()
        }
    }
}

/// Text from a document, safe to print: control and bidi characters escaped, cut to `max`
/// characters.
pub fn clean(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n >= max {
            out.push('…');
            break;
        }
        let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi {
            let _ = write!(out, "{}", c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// A duration in seconds as `12.345 ms` or `1.234 s`.
pub fn duration(secs: f64) -> String {
    if !secs.is_finite() {
        return "?".to_owned();
    }
    let ms = secs * 1000.0;
    if ms.abs() < 1000.0 {
        format!("{ms:.3} ms")
    } else if secs.abs() < 1e6 {
        format!("{secs:.3} s")
    } else {
        format!("{secs:.3e} s")
    }
}

fn number(n: f64) -> String {
    if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// The time axis: the first start and the last end (or start) of the trace's entities.
fn axis(trace: &Trace) -> (f64, f64) {
    let mut t0 = f64::INFINITY;
    let mut t1 = f64::NEG_INFINITY;
    for e in trace.entities() {
        for t in [e.start, e.end]
            .into_iter()
            .flatten()
            .filter(|t| t.is_finite())
        {
            t0 = t0.min(t);
            t1 = t1.max(t);
        }
    }
    if t0.is_finite() { (t0, t1) } else { (0.0, 0.0) }
}

/// A row of the waterfall.
struct Row<'a> {
    /// Tree drawing and name.
    label: String,
    /// Prefix of the lines under the row.
    under: String,
    /// Drawn under its parent (not at the top of the tree).
    nested: bool,
    entity: &'a Entity,
}

fn rows<'a>(entity: &'a Entity, indent: &str, connector: Option<bool>, out: &mut Vec<Row<'a>>) {
    let (branch, child_indent) = match connector {
        None => (String::new(), indent.to_owned()),
        Some(last) => (
            format!("{indent}{}", if last { "└─ " } else { "├─ " }),
            format!("{indent}{}", if last { "   " } else { "│  " }),
        ),
    };
    let under = format!(
        "{child_indent}{}",
        if entity.children.is_empty() {
            "   "
        } else {
            "│  "
        }
    );
    let name = match entity.kind {
        Kind::Facade => "facade (not received)".to_owned(),
        _ if entity.name.is_empty() => "(no name)".to_owned(),
        _ => clean(&entity.name, MAX_TEXT),
    };
    out.push(Row {
        label: format!("{branch}{name}"),
        under,
        nested: connector.is_some(),
        entity,
    });
    let n = entity.children.len();
    for (i, child) in entity.children.iter().enumerate() {
        rows(child, &child_indent, Some(i + 1 == n), out);
    }
}

fn cut_to(text: &str, width: usize) -> String {
    let len = text.chars().count();
    if len <= width {
        format!("{text}{}", " ".repeat(width - len))
    } else {
        let kept: String = text.chars().take(width.saturating_sub(1)).collect();
        format!("{kept}…")
    }
}

/// Bar cells `[a, b)` of an entity on the axis `t0 .. t0 + span`.
fn cells(start: f64, end: f64, t0: f64, span: f64, width: usize) -> (usize, usize) {
    if span <= 0.0 || !span.is_finite() {
        return (0, 1.min(width));
    }
    let w = width as f64;
    let pos = |t: f64| ((t - t0) / span * w).clamp(0.0, w);
    let a = (pos(start).floor() as usize).min(width.saturating_sub(1));
    let b = (pos(end).ceil() as usize).clamp(a + 1, width.max(a + 1));
    (a, b.min(width))
}

fn bar(e: &Entity, t0: f64, t1: f64, width: usize, p: &Painter) -> String {
    let span = t1 - t0;
    let start = match e.kind {
        Kind::Facade => e.start,
        _ => e.start.filter(|s| s.is_finite()),
    };
    let Some(start) = start else {
        return " ".repeat(width);
    };
    let (end, fill, style) = if e.kind == Kind::Facade {
        let end = e
            .children
            .iter()
            .filter_map(|c| c.end.or(c.start))
            .reduce(f64::max);
        (end.unwrap_or(start), "╌", DIM)
    } else if e.in_progress || e.end.is_none() {
        (t1, "░", DIM)
    } else {
        (e.end.unwrap_or(start).max(start), "█", flag_style(e))
    };
    let (a, b) = cells(start, end, t0, span, width);
    format!(
        "{}{}{}",
        " ".repeat(a),
        p.paint(style, &fill.repeat(b - a)),
        " ".repeat(width - b)
    )
}

fn flag_style(e: &Entity) -> Style {
    if e.fault {
        RED
    } else if e.throttle {
        MAGENTA
    } else if e.error {
        YELLOW
    } else {
        GREEN
    }
}

fn status_style(status: f64) -> Style {
    match status as i64 {
        200..=299 => GREEN,
        300..=399 => CYAN,
        429 => MAGENTA,
        400..=499 => YELLOW,
        500..=599 => RED,
        _ => Style::new(),
    }
}

/// What follows the bar on an entity's row.
fn details(e: &Entity, many_docs: bool, p: &Painter) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(ns) = &e.namespace {
        let style = if ns == "aws" { BLUE } else { CYAN };
        parts.push(p.paint(style, &format!("[{}]", clean(ns, 20))));
    }
    if let Some(h) = &e.http {
        let mut call = String::new();
        if let Some(m) = &h.method {
            call.push_str(&clean(m, 20));
        }
        if let Some(u) = &h.url {
            if !call.is_empty() {
                call.push(' ');
            }
            call.push_str(&clean(u, MAX_TEXT));
        }
        if let Some(s) = h.status {
            call.push_str(if call.is_empty() { "status " } else { " → " });
            call.push_str(&p.paint(status_style(s), &number(s)));
        }
        if !call.is_empty() {
            parts.push(call);
        }
    }
    if let Some(aws) = &e.aws {
        parts.push(format!("aws: {}", clean(aws, MAX_TEXT)));
    }
    if let Some(sql) = &e.sql {
        parts.push(format!("sql: {}", clean(sql, MAX_TEXT)));
    }
    if e.error {
        parts.push(p.paint(YELLOW.effects(Effects::BOLD), "ERROR"));
    }
    if e.throttle {
        parts.push(p.paint(MAGENTA.effects(Effects::BOLD), "THROTTLE"));
    }
    if e.fault {
        parts.push(p.paint(RED.effects(Effects::BOLD), "FAULT"));
    }
    if e.in_progress {
        parts.push(p.paint(DIM, "in progress"));
    } else if e.end.is_none() && e.kind != Kind::Facade {
        parts.push(p.paint(DIM, "no end time"));
    }
    if let Some(src) = &e.source
        && many_docs
    {
        let what = if src.independent {
            "own datagram"
        } else {
            "datagram"
        };
        parts.push(p.paint(DIM, &format!("({what} #{})", src.datagram)));
    }
    parts.join("  ")
}

/// The lines under an entity's row; `nested` when it is drawn under its parent.
fn notes(e: &Entity, nested: bool, p: &Painter) -> Vec<String> {
    let mut lines = Vec::new();
    match e.kind {
        Kind::Facade => lines.push(p.paint(
            DIM,
            &format!(
                "parent {} never arrived: Lambda's function segment (the Lambda service writes it) or a segment not sent here",
                clean(&e.id, 40)
            ),
        )),
        Kind::Segment => {
            // A called segment drawn under the subsegment that called it needs no note.
            if let Some(parent) = e.parent_id.as_ref().filter(|_| !nested) {
                lines.push(p.paint(DIM, &format!("called from {} (not in this trace)", clean(parent, 40))));
            }
            if let Some(origin) = &e.origin {
                lines.push(p.paint(DIM, &format!("origin {}", clean(origin, 60))));
            }
        }
        Kind::Subsegment => {}
    }
    if let Some(rule) = &e.sampling_rule {
        lines.push(p.paint(DIM, &format!("sampled by rule {:?}", clean(rule, 64))));
    }
    if !e.annotations.is_empty() {
        let list: Vec<String> = e
            .annotations
            .iter()
            .map(|(k, v)| format!("{}={}", clean(k, 60), clean(v, 60)))
            .collect();
        lines.push(format!("annotations: {}", list.join(" ")));
    }
    for x in &e.exceptions {
        lines.push(p.paint(RED, &format!("! {}", clean(x, MAX_TEXT))));
    }
    if let (Some(s), Some(end)) = (e.start, e.end)
        && end < s
    {
        lines.push(p.paint(YELLOW, "! ends before it starts"));
    }
    if let Some(src) = &e.source {
        lines.extend(src.problems.iter().map(|pr| problem_line(pr, p)));
    }
    lines
}

fn problem_line(problem: &Problem, p: &Painter) -> String {
    let who = match problem.stage() {
        Stage::Daemon => "the X-Ray daemon would drop this datagram",
        Stage::Service => "the X-Ray service would reject this document",
    };
    p.paint(
        RED.effects(Effects::BOLD),
        &format!("✗ {who}: {}", clean(&problem.to_string(), 400)),
    )
}

/// Draws a trace as a waterfall.
pub fn trace(trace: &Trace, options: &RenderOptions) -> String {
    let p = Painter {
        color: options.color,
    };
    let width = options.bar_width.clamp(1, 1000);
    let (t0, t1) = axis(trace);
    let mut list = Vec::new();
    for root in &trace.roots {
        rows(root, "", None, &mut list);
    }
    let refused = list
        .iter()
        .filter(|r| {
            r.entity
                .source
                .as_ref()
                .is_some_and(|s| !s.problems.is_empty())
        })
        .count();
    let mut out = String::new();
    let mut head = format!(
        "trace {} · {} document{} · {} entit{} · {}",
        clean(&trace.id, 64),
        trace.documents,
        if trace.documents == 1 { "" } else { "s" },
        list.len(),
        if list.len() == 1 { "y" } else { "ies" },
        duration(t1 - t0),
    );
    if trace.replaced > 0 {
        let _ = write!(head, " · {} replaced by a later version", trace.replaced);
    }
    if trace.documents_dropped > 0 {
        let _ = write!(
            head,
            " · {} more documents left out",
            trace.documents_dropped
        );
    }
    let _ = writeln!(out, "{}", p.paint(BOLD, &head));
    let mut status = Vec::new();
    if trace.update {
        status.push("updated: more documents arrived after it was shown".to_owned());
    }
    match trace.status {
        Status::Complete => {}
        Status::TimedOut => status.push("incomplete: shown after the timeout".to_owned()),
        Status::Flushed => status.push("incomplete: shown at the end of the input".to_owned()),
    }
    if refused > 0 {
        status.push(p.paint(
            RED.effects(Effects::BOLD),
            &format!(
                "✗ {refused} document{} would be refused",
                if refused == 1 { "" } else { "s" }
            ),
        ));
    }
    if !status.is_empty() {
        let _ = writeln!(out, "{}", status.join(" · "));
    }
    let name_w = list
        .iter()
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(4, options.max_name_width.max(4));
    let end_label = duration(t1 - t0);
    let axis_label = if end_label.len() + 2 <= width {
        format!("0{}{end_label}", " ".repeat(width - 1 - end_label.len()))
    } else {
        cut_to("0", width)
    };
    let _ = writeln!(
        out,
        "{}  {:>10}  {:>10}  |{}|",
        " ".repeat(name_w),
        "start",
        "duration",
        p.paint(DIM, &axis_label)
    );
    let many_docs = trace.documents > 1;
    for row in &list {
        let e = row.entity;
        let label = cut_to(&row.label, name_w);
        let label = if e.kind == Kind::Segment {
            p.paint(BOLD, &label)
        } else if e.kind == Kind::Facade {
            p.paint(DIM, &label)
        } else {
            label
        };
        let offset = e
            .start
            .map(|s| duration(s - t0))
            .unwrap_or_else(|| "?".into());
        let dur = match (e.kind, e.start, e.end) {
            (Kind::Facade, _, _) => String::new(),
            (_, Some(s), Some(end)) => duration(end - s),
            (_, Some(s), None) if e.in_progress => format!("≥{}", duration(t1 - s)),
            _ => "?".into(),
        };
        let details = details(e, many_docs, &p);
        let line = format!(
            "{label}  {offset:>10}  {dur:>10}  |{}|  {details}",
            bar(e, t0, t1, width, &p)
        );
        let _ = writeln!(out, "{}", line.trim_end());
        for note in notes(e, row.nested, &p) {
            let _ = writeln!(out, "{}{}", p.paint(DIM, &row.under), note);
        }
    }
    out
}

/// Describes a datagram that belongs to no trace, and why it would be refused.
pub fn unplaced(u: &Unplaced, options: &RenderOptions) -> String {
    let p = Painter {
        color: options.color,
    };
    let mut out = format!(
        "{}\n",
        p.paint(
            BOLD,
            &format!(
                "datagram #{} ({} bytes), in no trace: {}",
                u.datagram,
                u.len,
                clean(&u.preview, 80)
            )
        )
    );
    for problem in &u.problems {
        let _ = writeln!(out, "   {}", problem_line(problem, &p));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_escaped() {
        assert_eq!(
            clean("a\u{1b}[31mb\nc\u{202e}d", 100),
            "a\\u{1b}[31mb\\u{a}c\\u{202e}d"
        );
        assert_eq!(clean("abcdef", 3), "abc…");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(0.012_301), "12.301 ms");
        assert_eq!(duration(2.5), "2.500 s");
        assert_eq!(duration(f64::NAN), "?");
        assert_eq!(duration(1e300), "1.000e300 s");
    }

    #[test]
    fn bar_cells_stay_on_the_axis() {
        assert_eq!(cells(0.0, 1.0, 0.0, 1.0, 40), (0, 40));
        assert_eq!(cells(0.5, 0.5, 0.0, 1.0, 40), (20, 21));
        assert_eq!(cells(-5.0, 50.0, 0.0, 1.0, 40), (0, 40));
        assert_eq!(cells(1.0, 1.0, 0.0, 1.0, 40), (39, 40));
        assert_eq!(cells(0.0, 0.0, 0.0, 0.0, 40), (0, 1));
        assert_eq!(cells(0.0, 1.0, 0.0, f64::INFINITY, 40), (0, 1));
    }
}
