//! `xray-view`: receive X-Ray segment datagrams like the daemon and draw each trace as a
//! waterfall. See the library docs (`xray_view`) and `xray-view --help`.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use xray_view::record::{self, RecordWriter};
use xray_view::{Datagram, Listener, RenderOptions, Viewer, listen_address};

/// How long one wait for a datagram lasts, so that timeouts and limits are checked.
const POLL: Duration = Duration::from_millis(100);

/// Receive AWS X-Ray segment datagrams like the X-Ray daemon and draw each trace as a
/// waterfall, with the reasons the X-Ray service would reject a document.
#[derive(Debug, Parser)]
#[command(name = "xray-view", version, after_help = AFTER_HELP)]
struct Args {
    /// Where to listen: host:port, or "tcp:host:port udp:host:port" (the UDP part is used).
    /// Default: AWS_XRAY_DAEMON_ADDRESS, else 127.0.0.1:2000.
    #[arg(short, long, value_name = "ADDRESS")]
    address: Option<String>,

    /// Also write every datagram received to FILE, one JSON line each.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,

    /// Read datagrams from FILE (written by --record) instead of listening. The recorded
    /// arrival times decide timeouts, without waiting.
    #[arg(long, value_name = "FILE", conflicts_with = "address")]
    replay: Option<PathBuf>,

    /// Show a trace this many seconds after its last datagram even if it is not complete
    /// (a Lambda function's trace, whose segment never comes here, is shown this way).
    #[arg(long, value_name = "SECS", default_value = "2", value_parser = seconds)]
    timeout: Duration,

    /// Exit after N datagrams (then show every trace received).
    #[arg(long, value_name = "N")]
    count: Option<u64>,

    /// Exit after showing the first trace.
    #[arg(long)]
    once: bool,

    /// Exit after this many seconds (then show every trace received).
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    exit_after: Option<Duration>,

    /// When to use colours (auto: when stdout is a terminal and NO_COLOR is not set).
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto)]
    color: ColorWhen,

    /// Width of the time axis, in characters.
    #[arg(long, value_name = "COLUMNS", default_value_t = 40, value_parser = clap::value_parser!(u16).range(8..=500))]
    width: u16,

    /// Exit with status 1 if the daemon or the X-Ray service would refuse any datagram.
    #[arg(long)]
    strict: bool,
}

const AFTER_HELP: &str = "\
Examples:
  xray-view                                  listen on 127.0.0.1:2000, show traces as they complete
  xray-view --address 127.0.0.1:3000 --record traces.jsonl
  xray-view --replay traces.jsonl --color never
  xray-view --count 3 --strict               for scripts: exit after 3 datagrams, 1 if any is refused";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ColorWhen {
    Auto,
    Always,
    Never,
}

fn seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{text:?} is not a duration in seconds"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(viewer) if args.strict && viewer.refused() > 0 => {
            eprintln!(
                "xray-view: {} of {} datagrams would be refused",
                viewer.refused(),
                viewer.datagrams()
            );
            ExitCode::FAILURE
        }
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xray-view: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes to stdout; a closed pipe (`xray-view | head`) is not an error worth a message.
fn show(text: &str) -> io::Result<()> {
    if text.is_empty() {
        return Ok(());
    }
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

struct Session<'a> {
    args: &'a Args,
    viewer: Viewer,
    recorder: Option<RecordWriter>,
}

impl Session<'_> {
    /// Takes one datagram; returns whether to stop.
    fn take(&mut self, datagram: &Datagram, now: Instant) -> io::Result<bool> {
        if let Some(r) = &mut self.recorder {
            r.write(datagram)?;
        }
        if let Some(text) = self.viewer.receive_datagram(datagram, now) {
            show(&text)?;
        }
        self.show_ready(now)?;
        Ok(self.done())
    }

    fn show_ready(&mut self, now: Instant) -> io::Result<()> {
        let text = self.viewer.ready(now, self.args.timeout);
        show(&text)
    }

    fn done(&self) -> bool {
        (self.args.once && self.viewer.traces_shown() > 0)
            || self
                .args
                .count
                .is_some_and(|n| self.viewer.datagrams() >= n)
    }
}

fn run(args: &Args) -> Result<Viewer, Box<dyn std::error::Error>> {
    let color = match args.color {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => RenderOptions::for_stdout().color,
    };
    let options = RenderOptions {
        color,
        bar_width: usize::from(args.width),
        ..RenderOptions::default()
    };
    let recorder = match &args.record {
        Some(path) => Some(
            RecordWriter::create(path)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let mut session = Session {
        args,
        viewer: Viewer::new(options)?,
        recorder,
    };
    let started = Instant::now();
    if let Some(path) = &args.replay {
        let file = std::fs::File::open(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        // Time in a replay is the recording's: the gaps between arrivals decide timeouts as
        // they did live, without waiting for them.
        let mut first_arrival = None;
        for item in record::read(io::BufReader::new(file)) {
            match item {
                Ok(datagram) => {
                    let offset = match (
                        datagram.received_at,
                        *first_arrival.get_or_insert(datagram.received_at),
                    ) {
                        (Some(t), Some(first)) => t.duration_since(first).unwrap_or_default(),
                        _ => Duration::ZERO,
                    };
                    let now = started.checked_add(offset).unwrap_or(started);
                    if session.take(&datagram, now)? {
                        break;
                    }
                }
                Err(e) => eprintln!("xray-view: {}: {e}", path.display()),
            }
        }
    } else {
        let env = std::env::var(xray_std::daemon_address::DAEMON_ADDRESS_VAR).ok();
        let addr = listen_address(args.address.as_deref(), env.as_deref())?;
        let mut listener =
            Listener::bind(addr).map_err(|e| format!("cannot listen on udp {addr}: {e}"))?;
        eprintln!(
            "xray-view: listening on udp {} (point AWS_XRAY_DAEMON_ADDRESS here)",
            listener.local_addr()?
        );
        loop {
            let now = Instant::now();
            let mut wait = POLL;
            if let Some(limit) = args.exit_after {
                let Some(left) = limit.checked_sub(now - started).filter(|l| !l.is_zero()) else {
                    break;
                };
                wait = wait.min(left);
            }
            match listener.recv(wait)? {
                Some(datagram) => {
                    if session.take(&datagram, Instant::now())? {
                        break;
                    }
                }
                None => session.show_ready(Instant::now())?,
            }
            if session.done() {
                break;
            }
        }
    }
    if !(args.once && session.viewer.traces_shown() > 0) {
        let text = session.viewer.finish();
        show(&text)?;
    }
    Ok(session.viewer)
}
