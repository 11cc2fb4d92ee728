//! Where bytes come from and go: files, stdin/stdout, and atomic output (a temporary file
//! in the target directory, renamed into place only when complete).

use std::fs::File;
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

    /// Flushes, syncs and renames into place. Dropping a `Sink` without `finish` removes the
    /// temporary file, so failures and Ctrl-C leave nothing behind.
    pub fn finish(self) -> Result<()> {
        match self {
            Sink::Stdout(mut w) => w.flush().map_err(|e| Error::io("writing to standard output", e)),
            Sink::Temp { tmp, dest, force } => {
                let tmp =
                    tmp.into_inner().map_err(|e| Error::io(format!("writing {}", dest.display()), e.into_error()))?;
                tmp.as_file().sync_all().map_err(|e| Error::io(format!("writing {}", dest.display()), e))?;
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
