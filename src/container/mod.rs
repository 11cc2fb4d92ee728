//! The .llmz container (docs/FORMAT.md): members of header + blocks + end record. Every
//! field is covered by a CRC-32, each block carries the CRC-32 of its original bytes, and the
//! end record the total length and CRC-32 of the member. All lengths are bounded before
//! anything is allocated.

use std::io::{Read, Write};

use crate::coding::Method;
use crate::error::{Error, Result};
use crate::schedule::{RevealPlan, Shape, MAX_ROUNDS, MAX_WINDOW};

pub const MAGIC: [u8; 4] = *b"LLMZ";
pub const VERSION: u8 = 1;
/// Largest original block accepted by the reader.
pub const MAX_BLOCK: usize = 64 << 20;
const MAX_NAME: usize = 4096;
const MAX_BATCH: usize = 1 << 16;

const TAG_BLOCK: u8 = 1;
const TAG_END: u8 = 0;

#[derive(Debug, Clone, PartialEq)]
pub struct Header {
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
    pub fingerprint: [u8; 32],
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
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&MAGIC);
        b.push(VERSION);
        let mut body = Vec::new();
        body.push(self.method as u8);
        body.extend_from_slice(&(self.plan.window as u32).to_le_bytes());
        body.extend_from_slice(&(self.plan.context as u32).to_le_bytes());
        body.push(self.plan.rounds as u8);
        body.push(self.plan.shape as u8);
        body.extend_from_slice(&self.batch.to_le_bytes());
        body.push(self.precision);
        body.extend_from_slice(&self.mask_rate.to_le_bytes());
        body.extend_from_slice(&self.block_size.to_le_bytes());
        body.extend_from_slice(&(self.plan.lanes as u32).to_le_bytes());
        body.push(self.mix);
        body.extend_from_slice(&self.fingerprint);
        for s in [&self.model_name, &self.numerics] {
            body.extend_from_slice(&(s.len() as u16).to_le_bytes());
            body.extend_from_slice(s.as_bytes());
        }
        b.extend_from_slice(&(body.len() as u16).to_le_bytes());
        b.extend_from_slice(&body);
        let crc = crc32fast::hash(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    /// Reads a header. `Ok(None)` at a clean end of input (no more members).
    pub fn read<R: Read + ?Sized>(r: &mut R) -> Result<Option<Header>> {
        let mut head = [0u8; 7];
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
        if head[4] != VERSION {
            return Err(Error::Version(head[4], VERSION));
        }
        let len = u16::from_le_bytes([head[5], head[6]]) as usize;
        let mut body = vec![0u8; len + 4];
        read_exact(r, &mut body)?;
        let mut all = head.to_vec();
        all.extend_from_slice(&body[..len]);
        if crc32fast::hash(&all) != u32_at(&body, len) {
            return Err(Error::corrupt("header checksum mismatch"));
        }
        Self::parse(&body[..len]).map(Some)
    }

    fn parse(b: &[u8]) -> Result<Header> {
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
        if mix > crate::coding::MIX_VERSION {
            return Err(bad());
        }
        let fingerprint: [u8; 32] = b[29..61].try_into().unwrap();
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
        if at != b.len()
            || window == 0
            || window > MAX_WINDOW
            || context > MAX_WINDOW
            || rounds == 0
            || rounds > MAX_ROUNDS
            || rounds > window
            || lanes > crate::schedule::MAX_LANES
            || batch == 0
            || batch as usize > MAX_BATCH
            || precision != crate::coding::quantize::PRECISION as u8
        {
            return Err(bad());
        }
        let numerics = strings.pop().unwrap();
        let model_name = strings.pop().unwrap();
        Ok(Header {
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

pub fn write_block<W: Write + ?Sized>(w: &mut W, b: &Block) -> std::io::Result<()> {
    let mut h = vec![TAG_BLOCK];
    h.extend_from_slice(&b.orig_len.to_le_bytes());
    h.extend_from_slice(&b.n_tokens.to_le_bytes());
    h.extend_from_slice(&(b.payload.len() as u32).to_le_bytes());
    h.extend_from_slice(&b.crc.to_le_bytes());
    let mut hc = crc32fast::Hasher::new();
    hc.update(&h);
    hc.update(&b.payload);
    h.extend_from_slice(&hc.finalize().to_le_bytes());
    w.write_all(&h)?;
    w.write_all(&b.payload)
}

pub fn write_end<W: Write + ?Sized>(w: &mut W, total_len: u64, crc: u32) -> std::io::Result<()> {
    let mut h = vec![TAG_END];
    h.extend_from_slice(&total_len.to_le_bytes());
    h.extend_from_slice(&crc.to_le_bytes());
    let c = crc32fast::hash(&h);
    h.extend_from_slice(&c.to_le_bytes());
    w.write_all(&h)
}

pub fn read_record<R: Read + ?Sized>(r: &mut R) -> Result<Record> {
    let mut tag = [0u8; 1];
    read_exact(r, &mut tag)?;
    match tag[0] {
        TAG_BLOCK => {
            let mut h = [0u8; 20];
            read_exact(r, &mut h)?;
            let orig_len = u32_at(&h, 0);
            let n_tokens = u32_at(&h, 4);
            let plen = u32_at(&h, 8);
            let crc = u32_at(&h, 12);
            let stored = u32_at(&h, 16);
            Block::check_bounds(orig_len, n_tokens, plen)?;
            let mut payload = vec![0u8; plen as usize];
            read_exact(r, &mut payload)?;
            let mut hc = crc32fast::Hasher::new();
            hc.update(&[TAG_BLOCK]);
            hc.update(&h[..16]);
            hc.update(&payload);
            if hc.finalize() != stored {
                return Err(Error::corrupt("block checksum mismatch"));
            }
            Ok(Record::Block(Block { orig_len, n_tokens, crc, payload }))
        }
        TAG_END => {
            let mut h = [0u8; 16];
            read_exact(r, &mut h)?;
            let mut all = vec![TAG_END];
            all.extend_from_slice(&h[..12]);
            if crc32fast::hash(&all) != u32_at(&h, 12) {
                return Err(Error::corrupt("end record checksum mismatch"));
            }
            Ok(Record::End { total_len: u64::from_le_bytes(h[..8].try_into().unwrap()), crc: u32_at(&h, 8) })
        }
        _ => Err(Error::corrupt("unknown record tag")),
    }
}
