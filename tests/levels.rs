//! The levels' choices through the real binary: what the default level writes for each kind
//! of text.

mod common;

use common::{llmzip, setup, TEXT};
use std::fs;
use std::path::Path;

/// Log lines in the style of dpkg.log: each line repeats most of the one above.
fn log_text() -> String {
    let actions = ["unpacked", "half-configured", "installed"];
    (0..90)
        .map(|i| {
            let (pkg, action) = (i / 3, actions[i % 3]);
            format!("2025-06-24 14:{:02}:{:02} status {action} libpkg{pkg}:amd64 1.{pkg}-{}\n", pkg / 10, i % 60, i % 7)
        })
        .collect()
}

/// The member's recorded lanes and the file's size.
fn lanes_and_size(p: &Path, file: &str) -> (u64, u64) {
    let out = llmzip(p).args(["info", "--json", file]).assert().success().get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    (v["members"][0]["lanes"].as_u64().unwrap(), v["compressed_bytes"].as_u64().unwrap())
}

fn compress(p: &Path, input: &str, output: &str, extra: &[&str]) {
    let out = llmzip(p).args(["compress", "-c", input]).args(extra).assert().success().get_output().stdout.clone();
    fs::write(p.join(output), out).unwrap();
}

fn decodes_to(p: &Path, file: &str, want: &str) {
    let out = llmzip(p).args(["decompress", "-c", file]).assert().success().get_output().stdout.clone();
    assert_eq!(String::from_utf8(out).unwrap(), want, "{file}");
}

/// The default level codes structured text (logs) in one lane, so the adaptive model has seen
/// every line above when it codes a line, and it is smaller for it; prose keeps the plan's 32
/// lanes, and an explicit `--lanes` is taken as given. Every file decodes to its input.
#[test]
fn the_default_codes_structured_text_in_one_lane() {
    let d = setup();
    let p = d.path();
    let log = log_text();
    fs::write(p.join("dpkg.log"), &log).unwrap();
    compress(p, "dpkg.log", "auto.llmz", &[]);
    compress(p, "dpkg.log", "wide.llmz", &["--lanes", "32"]);
    compress(p, "notes.txt", "prose.llmz", &[]);
    let (auto_lanes, auto_size) = lanes_and_size(p, "auto.llmz");
    let (wide_lanes, wide_size) = lanes_and_size(p, "wide.llmz");
    assert_eq!((auto_lanes, wide_lanes), (1, 32));
    assert!(auto_size < wide_size, "one lane {auto_size} bytes, 32 lanes {wide_size}");
    assert_eq!(lanes_and_size(p, "prose.llmz").0, 32);
    decodes_to(p, "auto.llmz", &log);
    decodes_to(p, "wide.llmz", &log);
    decodes_to(p, "prose.llmz", TEXT);
}

/// Tables made by the default level when it coded structured text with adaptive model
/// versions 8 and 9 (one lane, context 32 … 127; `tests/fixtures/mix/table.csv`, generated
/// package events) decode byte for byte, with the plan they record.
#[test]
fn structured_version_8_and_9_files_still_decode() {
    let d = setup();
    let dir = common::fixture("mix");
    let want = fs::read_to_string(dir.join("table.csv")).unwrap();
    for version in [8, 9] {
        let f = dir.join(format!("v{version}-table.llmz"));
        let out = llmzip(d.path()).arg("decompress").arg("-c").arg(&f).assert().success().get_output().stdout.clone();
        assert_eq!(String::from_utf8(out).unwrap(), want, "v{version}");
        let info = llmzip(d.path()).args(["info", "--json"]).arg(&f).assert().success().get_output().stdout.clone();
        let v: serde_json::Value = serde_json::from_slice(&info).unwrap();
        let m = &v["members"][0];
        let plan = (m["mix"].as_u64(), m["lanes"].as_u64(), m["context"].as_u64());
        assert_eq!(plan, (Some(version), Some(1), Some(32)), "{v}");
    }
}
