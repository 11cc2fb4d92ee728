//! Host memory through the binary: blocks take at most the memory they are counted to take,
//! and `--memory` caps the blocks in flight or refuses with one line and a hint.

mod common;

use std::path::Path;

use common::*;

/// What a run of the binary did: whether it succeeded, its standard error, its peak RSS.
#[cfg(target_os = "linux")]
struct Run {
    ok: bool,
    stderr: String,
    peak: u64,
}

/// Runs the binary with `args` in `dir` and measures its peak RSS (the kernel's, for this
/// child alone).
#[cfg(target_os = "linux")]
fn run(dir: &Path, args: &[&str]) -> Run {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("llmzip"))
        .args(args)
        .current_dir(dir)
        .env_remove("LLMZIP_MODEL")
        .env_remove("LLMZIP_MEMORY")
        .env("HF_HUB_OFFLINE", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, which std has not reaped (it is not waited on)
    assert_eq!(unsafe { libc::wait4(pid, &mut status, 0, &mut usage) }, pid);
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    Run { ok, stderr, peak: usage.ru_maxrss as u64 * 1024 }
}

/// (blocks at once, MB per block, MB besides) from a `-v` line.
fn in_flight(stderr: &str) -> (u64, u64, u64) {
    let at = stderr.find(" blocks at once (memory: at most ").unwrap_or_else(|| panic!("{stderr}"));
    let jobs = stderr[..at].rsplit(", ").next().unwrap().parse().unwrap();
    let nums: Vec<u64> = stderr[at..]
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(2)
        .map(|s| s.parse().unwrap())
        .collect();
    (jobs, nums[0], nums[1])
}

#[cfg(target_os = "linux")]
fn texts() -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/bench-texts");
    ["prose-de.txt", "prose-en-licenses.txt", "source-python.py"]
        .iter()
        .flat_map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect()
}

/// Compressing and decompressing two blocks at once with the default level, the process's
/// peak grows over that of the process with its model loaded (an empty input) by at most
/// what the blocks and the rest were counted to take (`memory::block_bytes`, printed by
/// `-v`), and the count is not far above what was taken.
#[cfg(target_os = "linux")]
#[test]
fn blocks_take_at_most_what_they_are_counted_to() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("text.txt"), texts()).unwrap();
    std::fs::write(d.path().join("empty.txt"), b"").unwrap();
    let base = run(d.path(), &["compress", "empty.txt", "-o", "empty.llmz"]);
    assert!(base.ok, "{}", base.stderr);
    let block = ["--block-size", "131072"];
    let c = run(d.path(), &[&["compress", "-v", "-j2", "text.txt", "-o", "text.llmz"], &block[..]].concat());
    assert!(c.ok, "{}", c.stderr);
    let base_d = run(d.path(), &["decompress", "empty.llmz", "-o", "empty.out"]);
    let x = run(d.path(), &["decompress", "-v", "-j2", "text.llmz", "-o", "text.out"]);
    assert!(x.ok && base_d.ok, "{}", x.stderr);
    assert_eq!(std::fs::read(d.path().join("text.out")).unwrap(), texts());
    for (what, run, base) in [("compress", &c, &base), ("decompress", &x, &base_d)] {
        let (jobs, per_block, shared) = in_flight(&run.stderr);
        assert_eq!(jobs, 2, "{what}");
        let counted = (jobs * per_block + shared) << 20;
        let took = run.peak.saturating_sub(base.peak);
        eprintln!("{what}: took {} MB over {} MB, counted {} MB", took >> 20, base.peak >> 20, counted >> 20);
        assert!(took <= counted, "{what}: took {took} bytes, counted {counted}");
        assert!(took * 4 >= counted, "{what}: the count is far above what was taken: {took} of {counted}");
    }
}

/// `--memory` holds as many blocks as fit in it (said on stderr, before any coding), both
/// ways; `LLMZIP_MEMORY` says the same; one block over it is one error line and a hint, and
/// leaves no output.
#[test]
fn memory_caps_the_blocks_in_flight() {
    let d = setup();
    let block = ["--block-size", "65536"];
    let out = llmzip(d.path())
        .args([&["compress", "-v", "-j8", "--memory", "120", "notes.txt"], &block[..]].concat())
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let (jobs, per_block, shared) = in_flight(&stderr);
    assert!((1..8).contains(&jobs), "{stderr}");
    assert!(jobs * (per_block - 1) + shared - 1 <= 120 && (jobs + 1) * per_block + shared > 120, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "8 blocks at once would not fit in --memory (about {per_block} MB each): coding {jobs} at once"
        )),
        "{stderr}"
    );
    let out = llmzip(d.path())
        .args(["decompress", "-v", "-j8", "notes.txt.llmz", "-o", "back.txt"])
        .env("LLMZIP_MEMORY", "120")
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let (djobs, dper, dshared) = in_flight(&stderr);
    assert!((jobs..8).contains(&djobs) && dper <= per_block, "decoding needs no tokenizer: {stderr}");
    assert!(djobs * (dper - 1) + dshared - 1 <= 120, "{stderr}");
    assert_eq!(std::fs::read(d.path().join("back.txt")).unwrap(), TEXT.as_bytes());
    let wide =
        llmzip(d.path()).args(["compress", "-v", "-j2", "--memory", "100000", "-c", "notes.txt"]).assert().success();
    let stderr = String::from_utf8_lossy(&wide.get_output().stderr).to_string();
    assert_eq!(in_flight(&stderr).0, 2, "{stderr}");
    assert!(!stderr.contains("note:"), "{stderr}");
}

/// Where not even one block fits, compressing and decompressing fail before any output with
/// one line naming the need and a hint.
#[test]
fn a_budget_below_one_block_is_one_line_and_a_hint() {
    let d = setup();
    llmzip(d.path()).args(["compress", "notes.txt"]).assert().success();
    for args in [
        &["compress", "-f", "--memory", "10", "notes.txt", "-o", "small.llmz"][..],
        &["decompress", "notes.txt.llmz", "-o", "back.txt"],
    ] {
        let out = llmzip(d.path()).args(args).env("LLMZIP_MEMORY", "10").assert().failure();
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 2, "{stderr}");
        assert!(
            lines[0].starts_with("llmzip: error: ")
                && lines[0].contains("MB of memory; the budget is 10 MB (--memory)"),
            "{stderr}"
        );
        assert!(lines[1].starts_with("  hint: ") && lines[1].contains("--memory"), "{stderr}");
    }
    assert!(!d.path().join("small.llmz").exists() && !d.path().join("back.txt").exists());
}

/// A block whose text has no cut for long (non-Latin script with no line break) is tokenized
/// whole, which takes more than the block is counted for: within a budget that holds the
/// counted block but not that, compressing it fails before coding, where text of the same
/// length with cuts compresses.
#[test]
fn a_long_piece_counts_against_the_budget() {
    let d = setup();
    let cjk: String = "日本語の文章を書く。".repeat(4000);
    std::fs::write(d.path().join("cjk.txt"), &cjk.as_bytes()[..96 << 10]).unwrap();
    let budget = ["--memory", "100", "--block-size", "98304"];
    llmzip(d.path()).args([&["compress", "notes.txt", "-o", "n.llmz"], &budget[..]].concat()).assert().success();
    let out =
        llmzip(d.path()).args([&["compress", "cjk.txt", "-o", "c.llmz"], &budget[..]].concat()).assert().failure();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("the budget is 100 MB (--memory)") && stderr.lines().count() == 2, "{stderr}");
    assert!(!d.path().join("c.llmz").exists());
    llmzip(d.path())
        .args(["compress", "cjk.txt", "-o", "c.llmz", "--memory", "200", "--block-size", "98304"])
        .assert()
        .success();
}
