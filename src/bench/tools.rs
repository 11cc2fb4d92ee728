//! Other compressors measured beside llmzip, when installed: stream tools (stdin → stdout)
//! and archivers (files in a scratch directory). Every result is decompressed and compared.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use super::{row, Row};
use crate::error::{Error, Result};

/// A system compressor (`gzip -9`, `xz -9e`, `bzip2 -9`, `zstd -19`), if installed.
pub fn measure_tool(file: &str, data: &[u8], tool: &str, level: &str) -> Option<Result<Row>> {
    let run = |args: &[&str], input: &[u8]| -> Option<(Vec<u8>, f64)> {
        let t = Instant::now();
        let mut child = Command::new(tool)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut stdin = child.stdin.take()?;
        let input = input.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let out = child.wait_with_output().ok()?;
        writer.join().ok()?.ok()?;
        out.status.success().then(|| (out.stdout, t.elapsed().as_secs_f64()))
    };
    let (z, tc) = run(&[level, "-c"], data)?;
    let (back, td) = run(&["-d", "-c"], &z)?;
    if back != data {
        return Some(Err(Error::Checksum(format!("{tool} round trip of {file} differs"))));
    }
    Some(Ok(row(file, format!("{tool} {level}"), data.len(), z.len(), None, tc, td)))
}

pub const TOOLS: [(&str, &str); 4] = [("gzip", "-9"), ("bzip2", "-9"), ("xz", "-9e"), ("zstd", "-19")];

/// An archiver measured through files: `compress` runs in a scratch directory holding the
/// text as `in` and writes `archive`; `extract` runs in the empty subdirectory `x` and must
/// recreate `in` there. Archive headers and the stored name count in its size.
pub struct Archiver {
    pub name: &'static str,
    /// program names tried in order (the first one found runs)
    pub programs: &'static [&'static str],
    pub compress: &'static [&'static str],
    pub extract: &'static [&'static str],
    /// what to install when none of `programs` is found
    pub package: &'static str,
}

pub const ARCHIVERS: [Archiver; 2] = [
    Archiver {
        name: "7z PPMd -mx=9",
        programs: &["7zz", "7z"],
        compress: &["a", "-t7z", "-m0=PPMd", "-mx=9", "-bd", "-y", "archive.7z", "in"],
        extract: &["x", "-bd", "-y", "../archive.7z"],
        package: "7zip",
    },
    Archiver {
        name: "zpaq -m5",
        programs: &["zpaq"],
        compress: &["a", "archive.zpaq", "in", "-m5"],
        extract: &["x", "../archive.zpaq"],
        package: "zpaq",
    },
];

fn installed(program: &str) -> bool {
    Command::new(program).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().is_ok_and(|mut c| {
        let _ = c.kill();
        let _ = c.wait();
        true
    })
}

/// `None` when the archiver is not installed.
pub fn measure_archiver(file: &str, data: &[u8], a: &Archiver) -> Option<Result<Row>> {
    let program = a.programs.iter().find(|p| installed(p))?;
    Some(run_archiver(file, data, a, program))
}

fn run_archiver(file: &str, data: &[u8], a: &Archiver, program: &str) -> Result<Row> {
    let fail = |what: &str| Error::Invalid(format!("{} failed to {what} {file}", a.name));
    let io = |e| Error::io(format!("{} scratch directory", a.name), e);
    let dir = tempfile::tempdir().map_err(io)?;
    std::fs::write(dir.path().join("in"), data).map_err(io)?;
    let run = |args: &[&str], cwd: &Path| -> Result<f64> {
        let t = Instant::now();
        let ok = Command::new(program)
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| t.elapsed().as_secs_f64()).ok_or_else(|| fail("run on"))
    };
    let tc = run(a.compress, dir.path())?;
    // the archive is the one file besides `in` (7z adds its own extension rules)
    let archive = std::fs::read_dir(dir.path())
        .map_err(io)?
        .filter_map(|e| e.ok())
        .find(|e| e.file_name() != "in")
        .ok_or_else(|| fail("write an archive of"))?;
    let size = archive.metadata().map_err(io)?.len() as usize;
    let x = dir.path().join("x");
    std::fs::create_dir(&x).map_err(io)?;
    let td = run(a.extract, &x)?;
    if std::fs::read(x.join("in")).map_err(|_| fail("extract"))? != data {
        return Err(Error::Checksum(format!("{} round trip of {file} differs", a.name)));
    }
    Ok(row(file, a.name.to_string(), data.len(), size, None, tc, td))
}
