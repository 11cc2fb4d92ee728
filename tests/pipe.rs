//! A pipe is coded as its file would be: the default level reads a pipe's start ahead to pick
//! the same plan (long inputs and structured text settle), then codes those bytes first.

mod common;
use common::*;

/// `data` compressed by name and through standard input: the same bytes, and they decode back.
fn pipe_matches_file(data: &[u8]) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::write(p.join("in.txt"), data).unwrap();
    let m = model("tiny-bert");
    let by_name = llmzip(p).args(["compress", "-q", "-c", "--model", &m, "in.txt"]).output().unwrap();
    assert!(by_name.status.success(), "{}", String::from_utf8_lossy(&by_name.stderr));
    let piped = llmzip(p).args(["compress", "-q", "--model", &m, "-"]).write_stdin(data).output().unwrap();
    assert!(piped.status.success(), "{}", String::from_utf8_lossy(&piped.stderr));
    assert!(piped.stdout == by_name.stdout, "{} bytes piped, {} by name", piped.stdout.len(), by_name.stdout.len());
    let back = llmzip(p).args(["decompress", "-q", "-"]).write_stdin(piped.stdout).output().unwrap();
    assert!(back.status.success(), "{}", String::from_utf8_lossy(&back.stderr));
    assert!(back.stdout == data, "decoded {} bytes of {}", back.stdout.len(), data.len());
}

/// A log twice over: longer than the read-ahead, so the held-back start and the rest of the
/// pipe must join without a byte lost or repeated.
#[test]
fn a_long_structured_pipe_settles_like_its_file() {
    let log = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/data/bench-texts/logs-dpkg.log")).unwrap();
    pipe_matches_file(&[&log[..], &log[..]].concat());
}

#[test]
fn a_short_pipe_round_trips_like_its_file() {
    pipe_matches_file(TEXT.as_bytes());
    pipe_matches_file(b"");
}
