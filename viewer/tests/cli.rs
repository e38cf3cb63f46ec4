//! The `xray-view` binary end to end: listening on a loopback UDP port while a traced
//! program sends to it, recording and replaying, `--strict`, `--once`, colours, and the
//! address from `AWS_XRAY_DAEMON_ADDRESS`. Every run is bounded (`--count`, `--once`, or
//! `--exit-after`), and the tests wait on the binary's own output, not on time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use support::*;
use xray_std::UdpTransport;
use xray_view::Datagram;
use xray_view::record::to_line;

fn xray_view() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xray-view"));
    cmd.env_remove("AWS_XRAY_DAEMON_ADDRESS")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("CLICOLOR");
    cmd
}

/// Starts the binary listening, and returns it with the address it bound (read from its
/// "listening on udp …" line).
fn listen(cmd: &mut Command) -> (Child, SocketAddr, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .split_whitespace()
        .find_map(|w| w.parse::<SocketAddr>().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    let mut rest = String::new();
    // The rest of stderr is read after the binary exits.
    std::thread::spawn(move || {
        let _ = stderr.read_to_string(&mut rest);
        rest
    });
    (child, addr, line)
}

fn stdout_of(child: Child) -> (String, bool) {
    let Output { stdout, status, .. } = child.wait_with_output().unwrap();
    (String::from_utf8(stdout).unwrap(), status.success())
}

#[test]
fn listens_and_draws_what_a_traced_program_sends() {
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("traces.jsonl");
    let (child, addr, line) = listen(xray_view().args([
        "--address",
        "127.0.0.1:0",
        "--count",
        "6",
        "--exit-after",
        "60",
        "--color",
        "never",
        "--record",
        recording.to_str().unwrap(),
        "--strict",
    ]));
    assert!(line.contains("listening on udp 127.0.0.1:"), "{line}");
    // The traced program: the recorder streaming each subsegment, over the std UDP
    // transport, to the viewer.
    let transport = UdpTransport::new(addr).unwrap();
    record_web_request(20, true, now_secs(), &transport);
    assert_eq!(transport.stats().sent, 6);
    let (live, ok) = stdout_of(child);
    assert!(ok, "{live}");
    assert_eq!(live.matches("trace 1-").count(), 1, "{live}");
    assert!(!live.contains('✗'), "nothing refused: {live}");
    for needle in [
        "orders-api",
        "├─ inventory-service",
        "[remote]  GET https://inventory.internal/v1/stock → 200",
        "ERROR  THROTTLE",
        "└─ checkout",
        "   └─ charge-card",
        "! GatewayTimeout: payment gateway timed out",
        "(datagram #6)",
        "(own datagram #1)",
    ] {
        assert!(live.contains(needle), "{needle:?} not in\n{live}");
    }
    assert!(!live.contains('\u{1b}'));

    // The recording replays to the same drawing.
    let text = std::fs::read_to_string(&recording).unwrap();
    assert_eq!(text.lines().count(), 6);
    assert!(
        text.lines()
            .all(|l| l.contains("\"from\":\"127.0.0.1:") && l.contains("\"received_at\":"))
    );
    let replay = xray_view()
        .args(["--replay", recording.to_str().unwrap(), "--color", "never"])
        .output()
        .unwrap();
    assert!(replay.status.success());
    assert_eq!(String::from_utf8(replay.stdout).unwrap(), live);
}

fn write_recording(path: &Path, datagrams: &[Vec<u8>]) {
    let text: String = datagrams
        .iter()
        .map(|d| to_line(&Datagram::new(d.clone())) + "\n")
        .collect();
    std::fs::write(path, text).unwrap();
}

#[test]
fn strict_fails_when_a_datagram_would_be_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.jsonl");
    // A real document behind a header line the daemon refuses.
    let bad = [
        b"{\"format\":\"json\",\"version\":2}".as_slice(),
        &web_request(22, false)[0][29..],
    ]
    .concat();
    write_recording(&file, &[web_request(21, false).remove(0), bad]);
    let out = xray_view()
        .args([
            "--replay",
            file.to_str().unwrap(),
            "--color",
            "never",
            "--strict",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("1 of 2 datagrams would be refused"),
        "{stderr}"
    );
    assert!(
        stdout.contains("invalid header line: \"version\" is 2, not 1"),
        "{stdout}"
    );
    // Without --strict, refusals are shown but the exit status is 0.
    let out = xray_view()
        .args(["--replay", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn once_stops_after_the_first_trace() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.jsonl");
    write_recording(
        &file,
        &[
            web_request(23, false).remove(0),
            web_request(24, false).remove(0),
        ],
    );
    let out = xray_view()
        .args(["--replay", file.to_str().unwrap(), "--once"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success());
    assert_eq!(stdout.matches("trace 1-").count(), 1, "{stdout}");
    let out = xray_view()
        .args(["--replay", file.to_str().unwrap(), "--count", "2"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout)
            .unwrap()
            .matches("trace 1-")
            .count(),
        2
    );
}

#[test]
fn colours_follow_the_flag_the_terminal_and_no_color() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.jsonl");
    write_recording(&file, &web_request(25, false));
    let run = |color: &str, env: &[(&str, &str)]| {
        let out = xray_view()
            .args(["--replay", file.to_str().unwrap(), "--color", color])
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().contains('\u{1b}')
    };
    assert!(run("always", &[]));
    assert!(!run("never", &[]));
    assert!(!run("auto", &[]), "stdout is a pipe here");
    assert!(run("auto", &[("CLICOLOR_FORCE", "1")]));
    assert!(!run("auto", &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]));
}

#[test]
fn the_address_comes_from_the_environment_unless_given() {
    // The binary reads the variable (and names it when it is wrong)…
    let out = xray_view()
        .env("AWS_XRAY_DAEMON_ADDRESS", "localhost")
        .args(["--exit-after", "0.1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("AWS_XRAY_DAEMON_ADDRESS") && stderr.contains("missing :port"),
        "{stderr}"
    );
    // …and --address wins over it.
    let (child, addr, _) = listen(
        xray_view()
            .env("AWS_XRAY_DAEMON_ADDRESS", "localhost")
            .args(["--address", "127.0.0.1:0", "--exit-after", "0.2"]),
    );
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
    assert!(stdout_of(child).1);
}

#[test]
fn a_lambda_trace_is_shown_after_the_timeout() {
    let (child, addr, _) = listen(xray_view().args([
        "--address",
        "127.0.0.1:0",
        "--once",
        "--timeout",
        "0.3",
        "--exit-after",
        "60",
        "--color",
        "never",
    ]));
    let transport = UdpTransport::new(addr).unwrap();
    for d in lambda_at(26, now_secs()) {
        transport.send_datagram(&d);
    }
    let (out, ok) = stdout_of(child);
    assert!(ok);
    assert!(
        out.contains("incomplete: shown after the timeout") && !out.contains('✗'),
        "{out}"
    );
    assert!(
        out.contains("facade (not received)") && out.contains("└─ handle-order"),
        "{out}"
    );
}

#[test]
fn trace_ids_dated_long_before_arrival_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.jsonl");
    // Recorded in 2023 (the scenarios' epoch), received now.
    let datagram = Datagram {
        received_at: Some(std::time::SystemTime::now()),
        ..Datagram::new(web_request(27, false).remove(0))
    };
    std::fs::write(&file, to_line(&datagram) + "\n").unwrap();
    let out = xray_view()
        .args(["--replay", file.to_str().unwrap(), "--strict"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("days before the document arrived: over 30 (InvalidTraceId)"),
        "{stdout}"
    );
}

#[test]
fn replays_keep_the_recorded_timing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.jsonl");
    let start = std::time::SystemTime::now();
    let at = |secs: u64, bytes: Vec<u8>| Datagram {
        received_at: Some(start + std::time::Duration::from_secs(secs)),
        ..Datagram::new(bytes)
    };
    // A Lambda trace, then 5 s later a web request: the Lambda trace timed out in between.
    let mut lines: Vec<Datagram> = lambda_at(28, now_secs())
        .into_iter()
        .map(|d| at(0, d))
        .collect();
    lines.push(at(5, web_request_at(29, now_secs())));
    let text: String = lines.iter().map(|d| to_line(d) + "\n").collect();
    std::fs::write(&file, text).unwrap();
    let out = xray_view()
        .args([
            "--replay",
            file.to_str().unwrap(),
            "--timeout",
            "2",
            "--strict",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{stdout}");
    let lambda = stdout.find("facade (not received)").unwrap();
    let web = stdout.find("orders-api").unwrap();
    assert!(lambda < web, "{stdout}");
    assert!(
        stdout.contains("incomplete: shown after the timeout"),
        "{stdout}"
    );
}
