//! Records that follow a header: blocks, then one end record.

use std::io::{Read, Write};

use super::{read_exact, read_varint, MAX_BLOCK};
use crate::error::{Error, Result};
use crate::varint;

const TAG_BLOCK: u8 = 1;
const TAG_END: u8 = 0;

/// A compressed block as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub orig_len: u32,
    pub n_tokens: u32,
    pub crc: u32,
    pub payload: Vec<u8>,
}

impl Block {
    /// The bounds every block must satisfy before anything is allocated for it: the
    /// reader checks them on the stored header, the decoder again on any block it is handed.
    pub fn check_bounds(orig_len: u32, n_tokens: u32, payload_len: u32) -> Result<()> {
        if orig_len as usize > MAX_BLOCK
            || n_tokens as u64 > orig_len as u64 * 4 + 16
            || payload_len as u64 > payload_bound(orig_len, n_tokens)
        {
            return Err(Error::corrupt("block header out of range"));
        }
        Ok(())
    }
}

/// What follows a header: a block, or the end record.
#[derive(Debug)]
pub enum Record {
    Block(Block),
    End { total_len: u64, crc: u32 },
}

/// Upper bound on a block's payload given its original size: arithmetic-coded tokens cost at
/// most ~24 bits each and the residual at most the original plus framing.
pub fn payload_bound(orig_len: u32, n_tokens: u32) -> u64 {
    orig_len as u64 * 2 + n_tokens as u64 * 8 + 4096
}

/// Writes a block in the current version: tag, varint lengths, CRC-32 of the original bytes,
/// CRC-32 of everything before it and the payload. Returns the bytes written.
pub fn write_block<W: Write + ?Sized>(w: &mut W, b: &Block) -> std::io::Result<u64> {
    let mut h = vec![TAG_BLOCK];
    varint::put(&mut h, b.orig_len as u64);
    varint::put(&mut h, b.n_tokens as u64);
    varint::put(&mut h, b.payload.len() as u64);
    h.extend_from_slice(&b.crc.to_le_bytes());
    let mut hc = crc32fast::Hasher::new();
    hc.update(&h);
    hc.update(&b.payload);
    h.extend_from_slice(&hc.finalize().to_le_bytes());
    w.write_all(&h)?;
    w.write_all(&b.payload)?;
    Ok((h.len() + b.payload.len()) as u64)
}

/// Writes the end record in the current version. Returns the bytes written.
pub fn write_end<W: Write + ?Sized>(w: &mut W, total_len: u64, crc: u32) -> std::io::Result<u64> {
    let mut h = vec![TAG_END];
    varint::put(&mut h, total_len);
    h.extend_from_slice(&crc.to_le_bytes());
    let c = crc32fast::hash(&h);
    h.extend_from_slice(&c.to_le_bytes());
    w.write_all(&h)?;
    Ok(h.len() as u64)
}

/// Reads the next record of a member written in container `version` (the header's).
pub(crate) fn read_record<R: Read + ?Sized>(r: &mut R, version: u8) -> Result<Record> {
    let mut tag = [0u8; 1];
    read_exact(r, &mut tag)?;
    // `raw`: the record's bytes before its own CRC, as written
    let mut raw = tag.to_vec();
    let u32_field = |r: &mut R, raw: &mut Vec<u8>| -> Result<u32> {
        if version == 1 {
            let mut b = [0u8; 4];
            read_exact(r, &mut b)?;
            raw.extend_from_slice(&b);
            Ok(u32::from_le_bytes(b))
        } else {
            let (v, b) = read_varint(r, false)?;
            raw.extend_from_slice(&b);
            Ok(v as u32)
        }
    };
    let crc_field = |r: &mut R| -> Result<u32> {
        let mut b = [0u8; 4];
        read_exact(r, &mut b)?;
        Ok(u32::from_le_bytes(b))
    };
    match tag[0] {
        TAG_BLOCK => {
            let orig_len = u32_field(r, &mut raw)?;
            let n_tokens = u32_field(r, &mut raw)?;
            let plen = u32_field(r, &mut raw)?;
            let crc = crc_field(r)?;
            raw.extend_from_slice(&crc.to_le_bytes());
            let stored = crc_field(r)?;
            Block::check_bounds(orig_len, n_tokens, plen)?;
            let mut payload = vec![0u8; plen as usize];
            read_exact(r, &mut payload)?;
            let mut hc = crc32fast::Hasher::new();
            hc.update(&raw);
            hc.update(&payload);
            if hc.finalize() != stored {
                return Err(Error::corrupt("block checksum mismatch"));
            }
            Ok(Record::Block(Block { orig_len, n_tokens, crc, payload }))
        }
        TAG_END => {
            let total_len = if version == 1 {
                let mut b = [0u8; 8];
                read_exact(r, &mut b)?;
                raw.extend_from_slice(&b);
                u64::from_le_bytes(b)
            } else {
                // a member may exceed 4 GiB: up to 10 bytes here
                let (v, b) = read_varint(r, true)?;
                raw.extend_from_slice(&b);
                v
            };
            let crc = crc_field(r)?;
            raw.extend_from_slice(&crc.to_le_bytes());
            if crc32fast::hash(&raw) != crc_field(r)? {
                return Err(Error::corrupt("end record checksum mismatch"));
            }
            Ok(Record::End { total_len, crc })
        }
        _ => Err(Error::corrupt("unknown record tag")),
    }
}
