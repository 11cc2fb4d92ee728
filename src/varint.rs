//! LEB128 varints, shared by the residual (`text`), the mask stream (`coding`) and the
//! container's framing. Readers are bounds-checked: corrupt input yields `Error::Corrupt`,
//! never a panic.

use crate::error::{Error, Result};

pub fn put(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    pub fn get(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or_else(|| Error::corrupt("varint runs past the end"))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Error::corrupt("varint too long"))
    }
    /// A length that must fit in what is left of the buffer.
    pub fn len(&mut self) -> Result<usize> {
        let n = self.get()?;
        if n > (self.buf.len() - self.pos) as u64 {
            return Err(Error::corrupt("length runs past the end"));
        }
        Ok(n as usize)
    }
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| Error::corrupt("data runs past the end"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }
    pub fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }
}
