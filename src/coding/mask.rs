//! `--method mask`: the paper's format made lossless. The token stream is stored with masked
//! positions replaced by the mask id, varint-serialised and gzip-wrapped (flate2). A token is
//! masked only if the decoder's infill (argmax under the same plan) reproduces it, and at
//! most `floor(rate * window_len)` tokens per window are masked; which ones, the selection
//! strategy decides (`select`). The decoder infills whatever is marked, so it needs no
//! strategy: every prediction is made from true tokens (the plan reveals them), never from
//! infilled guesses.

use std::io::{Read, Write};

use flate2::{read::GzDecoder, write::GzEncoder, Compression};

use super::quantize::argmax;
use super::select::{self, Pick};
use super::{drive, Ctx};
use crate::error::{Error, Result};
use crate::varint;

pub fn encode(ctx: &Ctx, tokens: &[u32], rate: f32, pick: &Pick) -> Result<(Vec<u8>, usize)> {
    // log-probability of each token the infill reproduces; the strategy picks among them
    let mut score = vec![None; tokens.len()];
    drive(ctx, tokens.len(), |i, lp| {
        if argmax(lp) == tokens[i] {
            score[i] = Some(lp[tokens[i] as usize]);
        }
        Ok(tokens[i])
    })?;
    let masked = select::choose(pick, &score, ctx.plan.window, rate);
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
