//! `--method mask`: the paper's format made lossless. The token stream is stored with masked
//! positions replaced by the mask id, varint-serialised and gzip-wrapped (flate2). A token is
//! masked only if the decoder's infill (argmax under the same plan) reproduces it, and at
//! most `floor(rate * window_len)` tokens per window are masked.

use std::io::{Read, Write};

use flate2::{read::GzDecoder, write::GzEncoder, Compression};

use super::quantize::argmax;
use super::{drive, Ctx};
use crate::error::{Error, Result};
use crate::varint;

pub fn encode(ctx: &Ctx, tokens: &[u32], rate: f32) -> Result<(Vec<u8>, usize)> {
    let w = ctx.plan.window;
    let mut masked = vec![false; tokens.len()];
    let mut per_window = vec![0usize; tokens.len().div_ceil(w)];
    drive(ctx, tokens.len(), |i, lp| {
        let win = i / w;
        let len = (tokens.len() - win * w).min(w);
        let cap = (rate as f64 * len as f64).floor() as usize;
        if per_window[win] < cap && argmax(lp) == tokens[i] {
            masked[i] = true;
            per_window[win] += 1;
        }
        Ok(tokens[i])
    })?;
    let mut raw = Vec::with_capacity(tokens.len() * 2);
    for (i, &t) in tokens.iter().enumerate() {
        varint::put(&mut raw, if masked[i] { ctx.ids.mask } else { t } as u64);
    }
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(&raw).map_err(|e| Error::io("gzip", e))?;
    let out = gz.finish().map_err(|e| Error::io("gzip", e))?;
    Ok((out, masked.iter().filter(|&&m| m).count()))
}

pub fn decode(ctx: &Ctx, payload: &[u8], n: usize) -> Result<Vec<u32>> {
    // Bound the inflated size: at most 5 varint bytes per token.
    let limit = (n as u64) * 5 + 16;
    let mut raw = Vec::new();
    GzDecoder::new(payload)
        .take(limit + 1)
        .read_to_end(&mut raw)
        .map_err(|_| Error::corrupt("bad gzip stream in mask payload"))?;
    if raw.len() as u64 > limit {
        return Err(Error::corrupt("mask stream longer than its token count"));
    }
    let mut r = varint::Reader::new(&raw);
    let mut stream = Vec::with_capacity(n);
    for _ in 0..n {
        let t = r.get()?;
        if t >= ctx.lm.vocab_size() as u64 {
            return Err(Error::corrupt("token id outside the vocabulary"));
        }
        stream.push(t as u32);
    }
    if !r.is_empty() {
        return Err(Error::corrupt("trailing data in mask stream"));
    }
    let mask = ctx.ids.mask;
    drive(ctx, n, |i, lp| Ok(if stream[i] == mask { argmax(lp) } else { stream[i] }))
}
