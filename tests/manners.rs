//! gzip manners: a full disk or Ctrl-C leaves no partial output and keeps the input; outputs
//! keep their source's mode and times.

mod common;

use common::{llmzip, model, names_in, noise, setup, TEXT};
use std::fs;
use std::path::Path;

/// A full disk (here: a file-size limit, which fails writes part-way the same way) is one
/// clear line with a hint, leaves no partial output behind and keeps the input, for
/// compression and decompression, with and without --rm.
#[test]
fn write_errors_leave_no_partial_output() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let data = noise(64 << 10);
    fs::write(p.join("noise.bin"), &data).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("llmzip");
    let limited = |args: &[&str]| {
        let out = std::process::Command::new("sh")
            .current_dir(p)
            .env("HF_HUB_OFFLINE", "1")
            .arg("-c")
            .arg("ulimit -f 16 && exec \"$@\"")
            .arg("sh")
            .arg(&bin)
            .args(args)
            .args(["--model", &model("tiny-bert")])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("File too large") && err.contains("hint: free some space"), "{err}");
        assert_eq!(err.lines().filter(|l| l.starts_with("llmzip: error")).count(), 1, "{err}");
    };
    for args in [
        &["compress", "noise.bin", "--block-size", "8192"][..],
        &["compress", "-o", "out.llmz", "noise.bin", "--block-size", "8192"],
        &["compress", "--rm", "noise.bin"],
    ] {
        limited(args);
        assert_eq!(names_in(p), ["noise.bin"], "no output or temporary file may remain");
        assert_eq!(fs::read(p.join("noise.bin")).unwrap(), data, "input untouched");
    }
    // decompression whose output outgrows the limit: the .llmz is kept, nothing else appears
    llmzip(p).args(["compress", "noise.bin", "--model", &model("tiny-bert")]).assert().success();
    fs::rename(p.join("noise.bin"), p.join("original.bin")).unwrap();
    let z = fs::read(p.join("noise.bin.llmz")).unwrap();
    for args in [&["decompress", "noise.bin.llmz"][..], &["decompress", "--rm", "noise.bin.llmz", "-o", "back.bin"]] {
        limited(args);
        assert_eq!(names_in(p), ["noise.bin.llmz", "original.bin"], "no output or temporary file may remain");
        assert_eq!(fs::read(p.join("noise.bin.llmz")).unwrap(), z, "input untouched");
    }
    fs::rename(p.join("original.bin"), p.join("noise.bin")).unwrap();
    // standard output on a full device
    if Path::new("/dev/full").exists() {
        let out = std::process::Command::new(&bin)
            .current_dir(p)
            .args(["compress", "-c", "noise.bin", "--model", &model("tiny-bert")])
            .stdout(fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("No space left on device") && err.contains("hint:"), "{err}");
    }
}

/// Ctrl-C during compress or decompress exits 130 and leaves no partial output.
#[test]
fn interrupt_leaves_no_partial_output() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    // Slow on purpose (one window per model call) so that the signal lands mid-run.
    let text = TEXT.repeat(400);
    fs::write(p.join("long.txt"), &text).unwrap();
    let m = model("tiny-bert");
    let slow = ["--model", &m, "--batch", "1", "--lanes", "1", "--window", "4"];
    // the plan is recorded in the file, so decompression is as slow
    llmzip(p).args(["compress", "-o", "ready.llmz", "long.txt", "--block-size", "4096"]).args(slow).assert().success();
    let bin = assert_cmd::cargo::cargo_bin("llmzip");
    for (args, out_name) in [
        ([&["compress", "long.txt"][..], &slow[..]].concat(), "long.txt.llmz"),
        (vec!["decompress", "ready.llmz", "-o", "back.txt", "--model", &m], "back.txt"),
    ] {
        let before = names_in(p);
        let mut child = std::process::Command::new(&bin)
            .current_dir(p)
            .args(&args)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // wait until the temporary output exists, i.e. the work has started
        let start = std::time::Instant::now();
        while !names_in(p).iter().any(|n| n.starts_with(".llmzip-")) {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("{args:?} ended ({status}) before it could be interrupted");
            }
            assert!(start.elapsed().as_secs() < 60, "no temporary file appeared");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        let killed = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
        assert!(killed.success());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{args:?} must be interrupted mid-run: {err}");
        assert!(err.contains("interrupted"), "{err}");
        assert_eq!(names_in(p), before, "{out_name} or a temporary file was left behind");
    }
}

fn mode_of(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn mtime_of(p: &Path) -> std::time::SystemTime {
    fs::metadata(p).unwrap().modified().unwrap()
}

/// As with gzip and zstd: the compressed file takes the original's permission bits and
/// modification time, and the decompressed file those of the compressed one; output made
/// from standard input gets a new file's mode (0666 less the umask).
#[test]
fn mode_and_mtime_are_kept() {
    use std::os::unix::fs::PermissionsExt;
    let d = setup();
    let p = d.path();
    let notes = p.join("notes.txt");
    let when = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    fs::File::options().write(true).open(&notes).unwrap().set_modified(when).unwrap();
    for mode in [0o640, 0o604, 0o755] {
        fs::set_permissions(&notes, fs::Permissions::from_mode(mode)).unwrap();
        llmzip(p).args(["compress", "-f", "notes.txt", "--model", &model("tiny-roberta")]).assert().success();
        let z = p.join("notes.txt.llmz");
        assert_eq!((mode_of(&z), mtime_of(&z)), (mode, when), "compressed file, mode {mode:o}");
        fs::rename(&notes, p.join("kept.txt")).unwrap();
        llmzip(p).args(["decompress", "notes.txt.llmz"]).assert().success();
        assert_eq!((mode_of(&notes), mtime_of(&notes)), (mode, when), "decompressed file, mode {mode:o}");
        assert_eq!(fs::read_to_string(&notes).unwrap(), TEXT);
    }
    // from standard input: the umask decides, as for any new file
    let bin = assert_cmd::cargo::cargo_bin("llmzip");
    let run = |umask: &str, args: &[&str]| {
        let out = std::process::Command::new("sh")
            .current_dir(p)
            .arg("-c")
            .arg(format!("umask {umask} && exec \"$@\" < notes.txt"))
            .arg("sh")
            .arg(&bin)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    run("027", &["compress", "-o", "stdin.llmz", "--model", &model("tiny-roberta")]);
    assert_eq!(mode_of(&p.join("stdin.llmz")), 0o640);
    run("022", &["compress", "-o", "stdin2.llmz", "--model", &model("tiny-roberta")]);
    assert_eq!(mode_of(&p.join("stdin2.llmz")), 0o644);
}

/// A device this run cannot use (no CUDA in the build, or no such GPU) is one line naming it,
/// and a hint; nothing is written. Integer models' hint offers the CPU, whose files are the
/// same. The ordinal is one no machine has, so a GPU build on a GPU machine fails the same way.
#[test]
fn an_unusable_device_is_one_line_and_a_hint() {
    let d = setup();
    let p = d.path();
    let bin = assert_cmd::cargo::cargo_bin("llmzip");
    for (m, integer) in [(model("tiny-roberta-prelayernorm-int8"), true), (model("tiny-roberta"), false)] {
        llmzip(p).args(["compress", "-f", "-o", "n.llmz", "notes.txt", "--model", &m]).assert().success();
        let before = names_in(p);
        for args in [
            &["--device", "cuda:99", "decompress", "n.llmz", "-o", "back.txt", "--model", &m][..],
            &["--device", "cuda:99", "compress", "notes.txt", "-o", "again.llmz", "--model", &m],
        ] {
            let out =
                std::process::Command::new(&bin).current_dir(p).env("HF_HUB_OFFLINE", "1").args(args).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
            let lines: Vec<&str> = err.lines().collect();
            assert_eq!(lines.len(), 2, "one error line and one hint: {err}");
            assert!(lines[0].starts_with("llmzip: error: ") && lines[0].contains("--device cuda:99: "), "{err}");
            assert!(lines[1].starts_with("  hint: use --device "), "{err}");
            if integer {
                assert!(lines[1].contains("--device cpu"), "{err}");
            }
            assert!(!err.contains("DriverError"), "{err}");
            assert!(out.stdout.is_empty());
            assert_eq!(names_in(p), before, "{args:?} left output behind");
        }
    }
}
