//! Streaming training text: a file, a directory (recursively, sorted), or stdin; *.xz and
//! *.gz are decompressed on the fly. Files that are not text are skipped and reported.
//! Memory stays bounded: text comes out in chunks cut at line ends.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Lists the corpus files under `root` (or `root` itself), sorted for reproducibility.
pub fn list_files(root: &Path) -> Result<Vec<PathBuf>> {
    if root.as_os_str() == "-" {
        return Ok(vec![root.to_path_buf()]);
    }
    if root.is_file() {
        return Ok(vec![root.to_path_buf()]);
    }
    if !root.is_dir() {
        return Err(Error::Invalid(format!("{} is neither a file nor a directory", root.display())));
    }
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(|e| Error::io(format!("listing {}", d.display()), e))?;
        for e in rd {
            let p = e.map_err(|e| Error::io("listing corpus", e))?.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

pub fn open(p: &Path) -> Result<Box<dyn Read>> {
    if p.as_os_str() == "-" {
        return Ok(Box::new(std::io::stdin()));
    }
    let f = File::open(p).map_err(|e| Error::io(format!("opening {}", p.display()), e))?;
    let name = p.to_string_lossy();
    Ok(if name.ends_with(".xz") {
        Box::new(xz2::read::XzDecoder::new_multi_decoder(BufReader::new(f)))
    } else if name.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(f)))
    } else {
        Box::new(f)
    })
}

/// Is this (decompressed) content text? No NUL bytes and valid UTF-8 in the first 64 KiB.
pub fn looks_like_text(p: &Path) -> bool {
    let Ok(r) = open(p) else { return false };
    let mut buf = Vec::new();
    if r.take(64 << 10).read_to_end(&mut buf).is_err() {
        return false;
    }
    if buf.contains(&0) {
        return false;
    }
    match std::str::from_utf8(&buf) {
        Ok(_) => true,
        // a multi-byte character cut at the 64 KiB mark is fine
        Err(e) => e.error_len().is_none() && buf.len() - e.valid_up_to() < 4,
    }
}

/// Splits the corpus into text files and skipped ones.
pub fn text_files(root: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let all = list_files(root)?;
    if all.len() == 1 && all[0].as_os_str() == "-" {
        return Ok((all, vec![]));
    }
    Ok(all.into_iter().partition(|p| looks_like_text(p)))
}

/// Chunks of text of about `chunk` bytes, cut after a newline, over a list of files, with the
/// position (file index, bytes consumed in that file) after each chunk for resuming.
pub struct Chunks {
    files: Vec<PathBuf>,
    file: usize,
    reader: Option<BufReader<Box<dyn Read>>>,
    consumed: u64,
    chunk: usize,
    /// loop over the files forever (epochs)
    pub cycle: bool,
    pub epoch: usize,
}

impl Chunks {
    pub fn new(files: Vec<PathBuf>, chunk: usize) -> Self {
        Chunks { files, file: 0, reader: None, consumed: 0, chunk, cycle: false, epoch: 0 }
    }

    pub fn position(&self) -> (usize, usize, u64) {
        (self.epoch, self.file, self.consumed)
    }

    /// Skips to a saved position (re-reading, not re-tokenizing).
    pub fn seek(&mut self, epoch: usize, file: usize, consumed: u64) -> Result<()> {
        self.epoch = epoch;
        self.file = file;
        self.reader = None;
        self.consumed = 0;
        if file < self.files.len() {
            let mut r = BufReader::with_capacity(1 << 20, open(&self.files[file])?);
            std::io::copy(&mut (&mut r).take(consumed), &mut std::io::sink())
                .map_err(|e| Error::io("seeking corpus", e))?;
            self.consumed = consumed;
            self.reader = Some(r);
        }
        Ok(())
    }

    pub fn next_chunk(&mut self) -> Result<Option<String>> {
        loop {
            if self.file >= self.files.len() {
                if !self.cycle || self.files.is_empty() {
                    return Ok(None);
                }
                self.file = 0;
                self.epoch += 1;
            }
            if self.reader.is_none() {
                self.reader = Some(BufReader::with_capacity(1 << 20, open(&self.files[self.file])?));
                self.consumed = 0;
            }
            let r = self.reader.as_mut().unwrap();
            let mut buf = Vec::with_capacity(self.chunk + 4096);
            while buf.len() < self.chunk {
                let n = r.read_until(b'\n', &mut buf).map_err(|e| Error::io("reading corpus", e))?;
                if n == 0 {
                    break;
                }
            }
            if buf.is_empty() {
                self.reader = None;
                self.file += 1;
                continue;
            }
            self.consumed += buf.len() as u64;
            return Ok(Some(String::from_utf8_lossy(&buf).into_owned()));
        }
    }
}
