//! The .llmz container (docs/FORMAT.md): members of header + blocks + end record. Every
//! field is covered by a CRC-32, each block carries the CRC-32 of its original bytes, and the
//! end record the total length and CRC-32 of the member. All lengths are bounded before
//! anything is allocated.

use std::io::{Read, Write};

use crate::coding::Method;
use crate::error::{Error, Result};
use crate::schedule::{RevealPlan, Shape, MAX_ROUNDS, MAX_WINDOW};
use crate::text::varint;

pub const MAGIC: [u8; 4] = *b"LLMZ";
/// The version written. Version 1 (fixed-width fields, 32-byte fingerprint, names as text)
/// is still read; version 2 packs the same information in varints and codes (#4: a 162-byte
/// text cost 148 bytes of framing in version 1, more than bzip2's whole output).
pub const VERSION: u8 = 2;
/// Largest header body accepted by the reader.
const MAX_BODY: usize = 3 * MAX_NAME;
/// Fingerprint bytes stored by version 2: a 128-bit prefix of the BLAKE3 fingerprint is ample
/// to tell models apart, and the block checksums catch anything else.
pub const FINGERPRINT_V2: usize = 16;
/// Numerics ids stored as one byte by version 2 (index + 1); 0 means the id follows as text,
/// so an id not in this list (a newer backend) still fits. Append only: codes are the format.
pub const KNOWN_NUMERICS: [&str; 2] = ["candle-0.9.2/cpu/f32", "candle-0.9.2/cuda/f32"];
/// Largest original block accepted by the reader.
pub const MAX_BLOCK: usize = 64 << 20;
const MAX_NAME: usize = 4096;
const MAX_BATCH: usize = 1 << 16;

const TAG_BLOCK: u8 = 1;
const TAG_END: u8 = 0;

#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// container version the member was read with or will be written as
    pub version: u8,
    pub method: Method,
    pub plan: RevealPlan,
    pub batch: u32,
    /// arith: version of the adaptive token model mixed in (0: none)
    pub mix: u8,
    pub precision: u8,
    /// the `--mask-rate` cap used (mask method; informational)
    pub mask_rate: f32,
    pub block_size: u32,
    pub model_name: String,
    /// BLAKE3 fingerprint of the model, or its first [`FINGERPRINT_V2`] bytes (version 2)
    pub fingerprint: Vec<u8>,
    /// backend that computed the probabilities, e.g. `candle-0.9.2/cpu/f32`
    pub numerics: String,
}

fn io(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        Error::corrupt("file is truncated")
    } else {
        Error::io("reading compressed data", e)
    }
}

fn read_exact<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> Result<()> {
    r.read_exact(buf).map_err(io)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

impl Header {
    /// The header as written: always the current [`VERSION`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut body = Vec::new();
        body.push(self.method as u8);
        varint::put(&mut body, self.plan.window as u64);
        varint::put(&mut body, self.plan.context as u64);
        body.push(self.plan.rounds as u8);
        body.push(self.plan.shape as u8);
        varint::put(&mut body, self.batch as u64);
        body.push(self.precision);
        varint::put(&mut body, self.block_size as u64);
        varint::put(&mut body, self.plan.lanes as u64);
        body.push(self.mix);
        if self.method == Method::Mask {
            body.extend_from_slice(&self.mask_rate.to_le_bytes());
        }
        let n = FINGERPRINT_V2.min(self.fingerprint.len());
        body.extend_from_slice(&self.fingerprint[..n]);
        body.extend(std::iter::repeat_n(0u8, FINGERPRINT_V2 - n));
        // the built-in model, the usual case, is named by an empty name
        let name = if self.model_name == crate::model::DEFAULT_MODEL { "" } else { &self.model_name };
        varint::put(&mut body, name.len() as u64);
        body.extend_from_slice(name.as_bytes());
        match KNOWN_NUMERICS.iter().position(|k| *k == self.numerics) {
            Some(i) => body.push(i as u8 + 1),
            None => {
                body.push(0);
                varint::put(&mut body, self.numerics.len() as u64);
                body.extend_from_slice(self.numerics.as_bytes());
            }
        }
        let mut b = MAGIC.to_vec();
        b.push(VERSION);
        varint::put(&mut b, body.len() as u64);
        b.extend_from_slice(&body);
        let crc = crc32fast::hash(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    /// Reads a header. `Ok(None)` at a clean end of input (no more members).
    pub fn read<R: Read + ?Sized>(r: &mut R) -> Result<Option<Header>> {
        let mut head = [0u8; 5];
        let mut got = 0;
        while got < head.len() {
            match r.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io(e)),
            }
        }
        if got == 0 {
            return Ok(None);
        }
        if got < 4 || head[..4] != MAGIC {
            return Err(Error::NotLlmz);
        }
        if got < head.len() {
            return Err(Error::corrupt("file is truncated"));
        }
        let mut all = head.to_vec();
        let len = match head[4] {
            1 => {
                let mut l = [0u8; 2];
                read_exact(r, &mut l)?;
                all.extend_from_slice(&l);
                u16::from_le_bytes(l) as usize
            }
            2 => {
                let (len, raw) = read_varint(r, false)?;
                all.extend_from_slice(&raw);
                if len > MAX_BODY as u64 {
                    return Err(Error::corrupt("malformed header"));
                }
                len as usize
            }
            v => return Err(Error::Version(v, VERSION)),
        };
        let mut body = vec![0u8; len + 4];
        read_exact(r, &mut body)?;
        all.extend_from_slice(&body[..len]);
        if crc32fast::hash(&all) != u32_at(&body, len) {
            return Err(Error::corrupt("header checksum mismatch"));
        }
        let h = if head[4] == 1 { Self::parse_v1(&body[..len]) } else { Self::parse_v2(&body[..len]) }?;
        h.check()?;
        Ok(Some(h))
    }

    /// Version 2 body (docs/FORMAT.md).
    fn parse_v2(b: &[u8]) -> Result<Header> {
        let bad = || Error::corrupt("malformed header");
        let mut r = varint::Reader::new(b);
        let byte = |r: &mut varint::Reader| -> Result<u8> { Ok(r.bytes(1).map_err(|_| bad())?[0]) };
        let small = |r: &mut varint::Reader| -> Result<usize> {
            let v = r.get().map_err(|_| bad())?;
            usize::try_from(v).ok().filter(|&v| v <= u32::MAX as usize).ok_or_else(bad)
        };
        let method = Method::from_u8(byte(&mut r)?).ok_or_else(bad)?;
        let window = small(&mut r)?;
        let context = small(&mut r)?;
        let rounds = byte(&mut r)? as usize;
        let shape = Shape::from_u8(byte(&mut r)?).ok_or_else(bad)?;
        let batch = small(&mut r)? as u32;
        let precision = byte(&mut r)?;
        let block_size = small(&mut r)? as u32;
        let lanes = small(&mut r)?;
        let mix = byte(&mut r)?;
        let mask_rate = if method == Method::Mask {
            f32::from_le_bytes(r.bytes(4).map_err(|_| bad())?.try_into().unwrap())
        } else {
            0.0
        };
        let fingerprint = r.bytes(FINGERPRINT_V2).map_err(|_| bad())?.to_vec();
        // varint length + UTF-8, at most MAX_NAME bytes
        let text = |r: &mut varint::Reader| -> Result<String> {
            let n = r.len().map_err(|_| bad())?;
            if n > MAX_NAME {
                return Err(bad());
            }
            String::from_utf8(r.bytes(n).map_err(|_| bad())?.to_vec()).map_err(|_| bad())
        };
        let name = text(&mut r)?;
        let model_name = if name.is_empty() { crate::model::DEFAULT_MODEL.to_string() } else { name };
        let numerics = match byte(&mut r)? {
            0 => text(&mut r)?,
            c => KNOWN_NUMERICS.get(c as usize - 1).ok_or_else(bad)?.to_string(),
        };
        if !r.is_empty() {
            return Err(bad());
        }
        Ok(Header {
            version: 2,
            method,
            plan: RevealPlan { window, context, rounds, shape, lanes },
            batch,
            mix,
            precision,
            mask_rate,
            block_size,
            model_name,
            fingerprint,
            numerics,
        })
    }

    /// Ranges every version must respect.
    fn check(&self) -> Result<()> {
        let p = &self.plan;
        if p.window == 0
            || p.window > MAX_WINDOW
            || p.context > MAX_WINDOW
            || p.rounds == 0
            || p.rounds > MAX_ROUNDS
            || p.rounds > p.window
            || p.lanes > crate::schedule::MAX_LANES
            || self.batch == 0
            || self.batch as usize > MAX_BATCH
            || self.precision != crate::coding::quantize::PRECISION as u8
            || self.mix > crate::coding::MAX_MIX_VERSION
        {
            return Err(Error::corrupt("malformed header"));
        }
        Ok(())
    }

    /// Version 1 body (docs/FORMAT.md), still read.
    fn parse_v1(b: &[u8]) -> Result<Header> {
        let bad = || Error::corrupt("malformed header");
        if b.len() < 1 + 4 + 4 + 1 + 1 + 4 + 1 + 4 + 4 + 4 + 1 + 32 + 4 {
            return Err(bad());
        }
        let method = Method::from_u8(b[0]).ok_or_else(bad)?;
        let window = u32_at(b, 1) as usize;
        let context = u32_at(b, 5) as usize;
        let rounds = b[9] as usize;
        let shape = Shape::from_u8(b[10]).ok_or_else(bad)?;
        let batch = u32_at(b, 11);
        let precision = b[15];
        let mask_rate = f32::from_le_bytes(b[16..20].try_into().unwrap());
        let block_size = u32_at(b, 20);
        let lanes = u32_at(b, 24) as usize;
        let mix = b[28];
        let fingerprint = b[29..61].to_vec();
        let mut at = 61;
        let mut strings = Vec::new();
        for _ in 0..2 {
            let n = u16::from_le_bytes(b.get(at..at + 2).ok_or_else(bad)?.try_into().unwrap()) as usize;
            at += 2;
            let s = b.get(at..at + n).ok_or_else(bad)?;
            if n > MAX_NAME {
                return Err(bad());
            }
            strings.push(String::from_utf8(s.to_vec()).map_err(|_| bad())?);
            at += n;
        }
        if at != b.len() {
            return Err(bad());
        }
        let numerics = strings.pop().unwrap();
        let model_name = strings.pop().unwrap();
        Ok(Header {
            version: 1,
            method,
            plan: RevealPlan { window, context, rounds, shape, lanes },
            batch,
            mix,
            precision,
            mask_rate,
            block_size,
            model_name,
            fingerprint,
            numerics,
        })
    }
}

/// A varint read byte by byte from a stream: (value, its bytes). At most 5 bytes and the u32
/// range (lengths), or 10 bytes and the u64 range with `wide` (the end record's total), so a
/// hostile varint cannot run on.
fn read_varint<R: Read + ?Sized>(r: &mut R, wide: bool) -> Result<(u64, Vec<u8>)> {
    let (bits, max) = if wide { (64, u64::MAX) } else { (35, u32::MAX as u64) };
    let mut raw = Vec::with_capacity(10);
    let mut v = 0u64;
    for shift in (0..bits).step_by(7) {
        let mut b = [0u8; 1];
        read_exact(r, &mut b)?;
        raw.push(b[0]);
        v |= u64::from(b[0] & 0x7f) << shift;
        if b[0] & 0x80 == 0 {
            if v > max {
                break;
            }
            return Ok((v, raw));
        }
    }
    Err(Error::corrupt("malformed length"))
}

/// A compressed block as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub orig_len: u32,
    pub n_tokens: u32,
    pub crc: u32,
    pub payload: Vec<u8>,
}

impl Block {
    /// The bounds every block must satisfy before anything is allocated for it (#6): the
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
pub fn read_record<R: Read + ?Sized>(r: &mut R, version: u8) -> Result<Record> {
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
