//! Puts the selected board's `memory.x` where cortex-m-rt's `link.x` finds it.
use std::{env, fs, path::PathBuf};

fn main() {
    let boards = [
        ("CARGO_FEATURE_BOARD_LM3S6965EVB", "lm3s6965evb"),
        ("CARGO_FEATURE_BOARD_MPS2_AN386", "mps2-an386"),
        ("CARGO_FEATURE_BOARD_MICROBIT", "microbit"),
    ];
    let chosen: Vec<&str> = boards
        .iter()
        .filter(|(feature, _)| env::var_os(feature).is_some())
        .map(|(_, board)| *board)
        .collect();
    let target = env::var("TARGET").unwrap_or_default();
    if !target.starts_with("thumb") {
        // Host builds (cargo check on the host, clippy) need no memory map.
        return;
    }
    let board = match chosen.as_slice() {
        [one] => *one,
        [] => {
            panic!("pick a board: --features board-lm3s6965evb | board-mps2-an386 | board-microbit")
        }
        _ => panic!("pick exactly one board feature, got {chosen:?}"),
    };
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let src = PathBuf::from(format!("boards/{board}/memory.x"));
    fs::copy(&src, out.join("memory.x")).expect("copy memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-changed=build.rs");
}
