//! A pipe is coded as its file would be, and an output that cannot be written is refused before
//! the pipe is read.

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

/// A log twice over arrives in many reads from the pipe: none may lose or repeat a byte.
#[test]
fn a_pipe_codes_like_its_file() {
    let log = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/data/bench-texts/logs-dpkg.log")).unwrap();
    pipe_matches_file(&[&log[..], &log[..]].concat());
    pipe_matches_file(TEXT.as_bytes());
    pipe_matches_file(b"");
}

/// An output that exists is refused before the pipe is read: with standard input left open,
/// the refusal must come at once rather than after the pipe ends.
#[test]
fn a_refused_output_does_not_wait_for_the_pipe() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("out.llmz"), b"keep").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_llmzip"))
        .current_dir(d.path())
        .args(["compress", "-q", "--model", &model("tiny-bert"), "-o", "out.llmz", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // the refusal may come before this write: a closed pipe is the behaviour wanted
    match stdin.write_all(b"a little text, and the pipe stays open") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        r => r.unwrap(),
    }
    let t = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if t.elapsed() > std::time::Duration::from_secs(60) {
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    drop(stdin);
    let Some(status) = status else {
        child.kill().unwrap();
        panic!("still reading the pipe after 60 s instead of refusing the existing output");
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success());
    assert!(err.contains("out.llmz"), "{err}");
    assert_eq!(std::fs::read(d.path().join("out.llmz")).unwrap(), b"keep");
}
