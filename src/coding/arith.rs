//! `--method arith`: every token range-coded (constriction's 32-bit range coder, 24-bit
//! precision) with the quantised model distribution of its round.

use constriction::stream::queue::{DefaultRangeDecoder, DefaultRangeEncoder};
use constriction::stream::{Decode, Encode};

use super::mix::Mixer;
use super::ngram::NgramMixer;
use super::quantize::{cdf_model, frequencies, frequencies_from_probs};
use super::{drive, drive_known, Ctx};
use crate::error::{Error, Result};

pub fn encode(ctx: &Ctx, tokens: &[u32]) -> Result<Vec<u8>> {
    let mut enc = DefaultRangeEncoder::new();
    let mut freqs = Vec::new();
    let mut cdf = Vec::new();
    let mut mixer = AnyMixer::new(ctx.mix, ctx.lm.vocab_size(), tokens.len())?;
    drive_known(ctx, tokens, |i, lp| {
        quantise(&mut mixer, i, lp, &mut freqs)?;
        let m = cdf_model(&freqs, &mut cdf)?;
        enc.encode_symbol(tokens[i] as usize, &m).map_err(|e| Error::Invalid(format!("range coder: {e}")))?;
        mixer.update(i, tokens[i], lp);
        Ok(())
    })?;
    let words = enc.into_compressed().map_err(|e| Error::Invalid(format!("range coder: {e:?}")))?;
    Ok(words.iter().flat_map(|w| w.to_le_bytes()).collect())
}

pub fn decode(ctx: &Ctx, payload: &[u8], n: usize) -> Result<Vec<u32>> {
    if payload.len() % 4 != 0 {
        return Err(Error::corrupt("range-coded data is not a whole number of words"));
    }
    let words: Vec<u32> = payload.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let mut dec = DefaultRangeDecoder::from_compressed(words).map_err(|_| Error::corrupt("bad range-coder stream"))?;
    let mut freqs = Vec::new();
    let mut cdf = Vec::new();
    let mut mixer = AnyMixer::new(ctx.mix, ctx.lm.vocab_size(), n)?;
    drive(ctx, n, |i, lp| {
        quantise(&mut mixer, i, lp, &mut freqs)?;
        let m = cdf_model(&freqs, &mut cdf)?;
        let s = dec.decode_symbol(&m).map_err(|_| Error::corrupt("range decoder failed"))? as u32;
        mixer.update(i, s, lp);
        Ok(s)
    })
}

/// The adaptive token model a file was made with (header field `mix`). One per block, so
/// the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
enum AnyMixer {
    None,
    V1(Mixer),
    V2(NgramMixer),
}

impl AnyMixer {
    fn new(version: u8, v: usize, n: usize) -> Result<Self> {
        Ok(match version {
            0 => AnyMixer::None,
            1 => AnyMixer::V1(Mixer::new(v, n)),
            2 => AnyMixer::V2(NgramMixer::new(v, n)),
            _ => return Err(Error::corrupt("unknown adaptive-model version")),
        })
    }

    fn update(&mut self, i: usize, tok: u32, lp: &[f32]) {
        match self {
            AnyMixer::None => {}
            AnyMixer::V1(m) => m.update(i, tok, lp),
            AnyMixer::V2(m) => m.update(i, tok, lp),
        }
    }
}

fn quantise(mixer: &mut AnyMixer, i: usize, lp: &[f32], freqs: &mut Vec<u32>) -> Result<()> {
    match mixer {
        AnyMixer::V1(m) => {
            m.mix(i, lp);
            frequencies_from_probs(&m.probs, freqs)
        }
        AnyMixer::V2(m) => {
            m.mix(i, lp);
            frequencies_from_probs(&m.probs, freqs)
        }
        AnyMixer::None => frequencies(lp, freqs),
    }
}
