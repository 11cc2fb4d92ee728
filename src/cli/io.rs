//! Where bytes come from and go: files, stdin/stdout, and atomic output (a temporary file
//! in the target directory, renamed into place only when complete).

use std::fs::{File, FileTimes, Metadata};
use std::io::{BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use llmzip::{Error, Result};

pub fn is_stdio(p: &Path) -> bool {
    p.as_os_str() == "-"
}

pub fn open_input(p: &Path) -> Result<Box<dyn Read>> {
    if is_stdio(p) {
        Ok(Box::new(BufReader::with_capacity(1 << 20, std::io::stdin().lock())))
    } else {
        let f = File::open(p).map_err(|e| Error::io(format!("cannot open {}", p.display()), e))?;
        if f.metadata().map(|m| m.is_dir()).unwrap_or(false) {
            return Err(Error::Invalid(format!("{} is a directory", p.display())));
        }
        Ok(Box::new(BufReader::with_capacity(1 << 20, f)))
    }
}

/// Where one result goes.
pub enum Dest {
    Stdout,
    File(PathBuf),
}

/// An output being written: a temp file beside the destination, or stdout.
pub enum Sink {
    Stdout(BufWriter<std::io::Stdout>),
    Temp { tmp: BufWriter<tempfile::NamedTempFile>, dest: PathBuf, force: bool },
}

impl Dest {
    /// Checks before any work: no clobbering without -f, no compressed data to a terminal.
    pub fn check(&self, force: bool, binary: bool) -> Result<()> {
        match self {
            Dest::Stdout => {
                if binary && !force && std::io::stdout().is_terminal() {
                    return Err(Error::Invalid(
                        "refusing to write compressed data to a terminal (redirect it, or use -f)".into(),
                    ));
                }
            }
            Dest::File(p) => {
                if p.exists() && !force {
                    return Err(Error::Exists(p.clone()));
                }
            }
        }
        Ok(())
    }

    pub fn open(&self, force: bool) -> Result<Sink> {
        match self {
            Dest::Stdout => Ok(Sink::Stdout(BufWriter::with_capacity(1 << 20, std::io::stdout()))),
            Dest::File(p) => {
                let dir = match p.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                let tmp = tempfile::Builder::new()
                    .prefix(".llmzip-")
                    .suffix(".tmp")
                    .tempfile_in(&dir)
                    .map_err(|e| Error::io(format!("cannot create a file in {}", dir.display()), e))?;
                Ok(Sink::Temp { tmp: BufWriter::with_capacity(1 << 20, tmp), dest: p.clone(), force })
            }
        }
    }
}

impl Sink {
    pub fn writer(&mut self) -> &mut dyn Write {
        match self {
            Sink::Stdout(w) => w,
            Sink::Temp { tmp, .. } => tmp,
        }
    }

    /// Flushes, gives the file `source`'s permission bits and times (see [`source_stamp`]),
    /// syncs and renames it into place. Dropping a `Sink` without `finish` removes the
    /// temporary file, so failures and Ctrl-C leave nothing behind.
    pub fn finish(self, source: Option<&Metadata>) -> Result<()> {
        match self {
            Sink::Stdout(mut w) => w.flush().map_err(|e| Error::io("writing to standard output", e)),
            Sink::Temp { tmp, dest, force } => {
                let failed = |e| Error::io(format!("writing {}", dest.display()), e);
                let tmp = tmp.into_inner().map_err(|e| failed(e.into_error()))?;
                stamp(tmp.as_file(), source).map_err(failed)?;
                tmp.as_file().sync_all().map_err(failed)?;
                let res = if force { tmp.persist(&dest) } else { tmp.persist_noclobber(&dest) };
                res.map_err(|e| {
                    if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                        Error::Exists(dest.clone())
                    } else {
                        Error::io(format!("cannot create {}", dest.display()), e.error)
                    }
                })?;
                Ok(())
            }
        }
    }
}

/// The metadata an output copies, as gzip and zstd do: a compressed file takes its original's
/// permission bits and times, a decompressed one those of the compressed file (which has the
/// original's). Only a regular file has any to give.
pub fn source_stamp(input: &Path) -> Option<Metadata> {
    if is_stdio(input) {
        return None;
    }
    std::fs::metadata(input).ok().filter(|m| m.is_file())
}

/// Gives a finished output `source`'s permission bits and times; without a source, the mode
/// a newly created file would have (0666 less the umask). The temporary file is created 0600,
/// so no one else can read it while it is written.
fn stamp(file: &File, source: Option<&Metadata>) -> std::io::Result<()> {
    if let Some(m) = source {
        file.set_times(FileTimes::new().set_accessed(m.accessed()?).set_modified(m.modified()?))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = match source {
            Some(m) => m.permissions().mode() & 0o7777,
            None => 0o666 & !umask(),
        };
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// The process's file-creation mask. It can only be read by setting it, so it is set back at
/// once; no other thread creates files meanwhile (outputs are finished one at a time).
#[cfg(unix)]
fn umask() -> u32 {
    // SAFETY: umask only swaps the process's mask; the second call restores it.
    unsafe {
        let old = libc::umask(0o077);
        libc::umask(old);
        old as u32
    }
}
