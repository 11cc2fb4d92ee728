//! [`MemberReader`]: the one walk over a .llmz stream's members and records, used by the
//! decompressor, `info`, `bench` and the fuzz harness.

use std::io::Read;

use super::{record, Header, Record};
use crate::error::{Error, Result};

/// Reads members one after another: [`next_member`](Self::next_member) gives a header,
/// then [`next_record`](Self::next_record) its blocks and finally its end record. Counts
/// the bytes it consumed.
pub struct MemberReader<R> {
    input: R,
    consumed: u64,
    /// container version of the member being read; `None` between members
    version: Option<u8>,
}

/// A member's records read without decoding them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skipped {
    pub blocks: u64,
    /// original bytes, as the end record states them
    pub total_len: u64,
}

impl<R: Read> MemberReader<R> {
    pub fn new(input: R) -> Self {
        MemberReader { input, consumed: 0, version: None }
    }

    /// The next member's header, or `None` at a clean end of input.
    pub fn next_member(&mut self) -> Result<Option<Header>> {
        if self.version.is_some() {
            return Err(Error::Internal("next member asked for before the end of this one".into()));
        }
        let h = Header::read(&mut Counted(self))?;
        self.version = h.as_ref().map(|h| h.version);
        Ok(h)
    }

    /// The next record of the current member; after its end record, the member is done.
    pub fn next_record(&mut self) -> Result<Record> {
        let version = self.version.ok_or_else(|| Error::Internal("record asked for outside a member".into()))?;
        let rec = record::read_record(&mut Counted(self), version)?;
        if matches!(rec, Record::End { .. }) {
            self.version = None;
        }
        Ok(rec)
    }

    /// Reads the rest of the current member, checking every record's CRC but decoding
    /// nothing.
    pub fn skip_member(&mut self) -> Result<Skipped> {
        let mut blocks = 0;
        loop {
            match self.next_record()? {
                Record::Block(_) => blocks += 1,
                Record::End { total_len, .. } => return Ok(Skipped { blocks, total_len }),
            }
        }
    }

    /// Bytes consumed so far.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }
}

/// The input seen through the reader, counting what is read.
struct Counted<'a, R>(&'a mut MemberReader<R>);

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.input.read(buf)?;
        self.0.consumed += n as u64;
        Ok(n)
    }
}
