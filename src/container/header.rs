//! The member header: every setting the decoder must repeat, the model's identity and the
//! numerics that computed the probabilities. Written in version 2 (version 3 for causal
//! plans, same layout), read in versions 1 to 3.

use std::io::Read;

use super::{io, read_exact, read_varint, FINGERPRINT_V2, KNOWN_NUMERICS, MAGIC, VERSION};
use crate::coding::Method;
use crate::error::{Error, Result};
use crate::schedule::{Lanes, RevealPlan, Settle, Shape, MAX_ROUNDS, MAX_WINDOW};
use crate::varint;

/// Largest header body accepted by the reader.
const MAX_BODY: usize = 3 * MAX_NAME;
const MAX_NAME: usize = 4096;
const MAX_BATCH: usize = 1 << 16;
/// Set in the shape byte when the plan has a settled part.
const SETTLE_FLAG: u8 = 0x80;

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
    /// the model as the user named it; `None`: the program's built-in default model, stored
    /// as an empty name (which model that is, the compressor says, not the container)
    pub model_name: Option<String>,
    /// BLAKE3 fingerprint of the model, or its first [`FINGERPRINT_V2`] bytes (version 2)
    pub fingerprint: Vec<u8>,
    /// backend that computed the probabilities, e.g. `candle-0.9.2/cpu/f32`
    pub numerics: String,
}

impl Header {
    /// The version a header is written as: 3 for a causal plan, else 2 (older builds read it).
    pub fn written_version(&self) -> u8 {
        if self.plan.shape == Shape::Causal {
            VERSION
        } else {
            2
        }
    }

    /// The header as written, in [`Header::written_version`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut body = Vec::new();
        body.push(self.method as u8);
        varint::put(&mut body, self.plan.window as u64);
        varint::put(&mut body, self.plan.context as u64);
        body.push(self.plan.rounds as u8);
        // bit 7 of the shape byte: a settled part follows ([`Settle`])
        match self.plan.settle {
            None => body.push(self.plan.shape as u8),
            Some(st) => {
                body.push(self.plan.shape as u8 | SETTLE_FLAG);
                varint::put(&mut body, st.after as u64);
                varint::put(&mut body, st.window as u64);
            }
        }
        varint::put(&mut body, self.batch as u64);
        body.push(self.precision);
        varint::put(&mut body, self.block_size as u64);
        varint::put(&mut body, self.plan.lanes.count() as u64);
        body.push(self.mix);
        if self.method == Method::Mask {
            body.extend_from_slice(&self.mask_rate.to_le_bytes());
        }
        let n = FINGERPRINT_V2.min(self.fingerprint.len());
        body.extend_from_slice(&self.fingerprint[..n]);
        body.extend(std::iter::repeat_n(0u8, FINGERPRINT_V2 - n));
        let name = self.model_name.as_deref().unwrap_or("");
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
        b.push(self.written_version());
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
            2 | 3 => {
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
        let h = if head[4] == 1 { Self::parse_v1(&body[..len]) } else { Self::parse_v2(&body[..len], head[4]) }?;
        h.check()?;
        Ok(Some(h))
    }

    /// Version 2 and 3 body (docs/FORMAT.md); only version 3 has causal plans.
    fn parse_v2(b: &[u8], version: u8) -> Result<Header> {
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
        let shape_byte = byte(&mut r)?;
        let shape = Shape::from_u8(shape_byte & !SETTLE_FLAG).ok_or_else(bad)?;
        if (shape == Shape::Causal) != (version == 3) {
            return Err(bad());
        }
        let settle = if shape_byte & SETTLE_FLAG != 0 {
            Some(Settle { after: small(&mut r)?, window: small(&mut r)? })
        } else {
            None
        };
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
        let model_name = (!name.is_empty()).then_some(name);
        let numerics = match byte(&mut r)? {
            0 => text(&mut r)?,
            c => KNOWN_NUMERICS.get(c as usize - 1).ok_or_else(bad)?.to_string(),
        };
        if !r.is_empty() {
            return Err(bad());
        }
        Ok(Header {
            version,
            method,
            plan: RevealPlan { window, context, rounds, shape, lanes: Lanes::from_count(lanes), settle },
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
            || p.lanes.count() > crate::schedule::MAX_LANES
            || self.batch == 0
            || self.batch as usize > MAX_BATCH
            || self.precision != crate::coding::quantize::PRECISION as u8
            || self.mix > crate::coding::MAX_MIX_VERSION
            || p.settle.is_some_and(|st| st.window == 0 || st.window > p.window || p.lanes == Lanes::Lockstep)
            || (p.shape == Shape::Causal
                && (p.rounds != 1 || p.settle.is_some() || p.lanes == Lanes::Lockstep || self.method != Method::Arith))
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
        let numerics = strings.pop().unwrap_or_default();
        let model_name = strings.pop().filter(|n| !n.is_empty());
        Ok(Header {
            version: 1,
            method,
            plan: RevealPlan { window, context, rounds, shape, lanes: Lanes::from_count(lanes), settle: None },
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

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
