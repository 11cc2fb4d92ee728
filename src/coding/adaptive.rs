//! The adaptive token models of `--method arith`: what the coder learns from the block itself
//! and mixes with the LM. The header's `mix` field names the version a file was made with;
//! [`Version`] is the one place that maps it to a model and to how the model's decisions are
//! stored. Every version is still decoded.

use constriction::stream::queue::{DefaultRangeDecoder, DefaultRangeEncoder};
use constriction::stream::{Decode, Encode};

use super::cache::BigramCache;
use super::cm::{coder, ContextMixModel, Params};
use super::ngram::NgramModel;
use super::quantize::{cdf_model, frequencies};
use super::token_model::{AdaptiveModel, TokenIo, WholeToken};
use crate::error::{Error, Result};
use crate::model::RowForm;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// 0: the LM alone (`--no-mix`)
    LmOnly = 0,
    /// 1: unigram and bigram caches, weights from a grid
    BigramCache = 1,
    /// 2: order-0…3 token n-grams (Witten-Bell), LM share from a grid per context class
    Ngram = 2,
    /// 3: context mixing of the LM with hashed contexts and a match model, bit by bit, as
    /// first released (`cm::Params::v3`)
    ContextMixV3 = 3,
    /// 4: version 3 with contexts for multi-round plans, token contexts learned once complete
    ContextMix = 4,
    /// 5: version 4 with matches carried across unrevealed tokens, contexts for tokens whose
    /// left neighbour is unrevealed, a selector by the orders seen, five APMs mixed by a
    /// learned layer (`cm::Params::v5`)
    ContextMixV5 = 5,
    /// 6: version 5 with a second match model from a context of 12 tokens and contexts by
    /// the field of the line and the same field in the line above (`cm::Params::v6`)
    ContextMixV6 = 6,
    /// 7: version 6 with pointers into the line above and a context of the line above's
    /// next fields (`cm::Params::v7`)
    ContextMixV7 = 7,
    /// 8: version 7 whose pointers into the line before the line above look, where there is
    /// one, into the keyed line: the last line with this line's value in the nearest field
    /// that differs from the line above (`cm::Params::v8`)
    ContextMixV8 = 8,
}

impl Version {
    /// What new files are written with.
    pub const CURRENT: Version = Version::ContextMixV8;

    pub fn from_u8(v: u8) -> Result<Self> {
        Ok(match v {
            0 => Version::LmOnly,
            1 => Version::BigramCache,
            2 => Version::Ngram,
            3 => Version::ContextMixV3,
            4 => Version::ContextMix,
            5 => Version::ContextMixV5,
            6 => Version::ContextMixV6,
            7 => Version::ContextMixV7,
            8 => Version::ContextMixV8,
            _ => return Err(Error::corrupt("unknown adaptive-model version")),
        })
    }

    /// A fresh model for a block of `n` tokens over a vocabulary of `vocab` ids, coded by a
    /// plan of `rounds` rounds; `text` gives each id's text (`LosslessTokenizer::token_bytes`)
    /// to the versions that use it.
    pub fn model(
        self,
        vocab: usize,
        n: usize,
        rounds: usize,
        text: impl FnOnce() -> Vec<Vec<u8>>,
    ) -> Box<dyn AdaptiveModel> {
        if let Some(p) = self.params(rounds) {
            return Box::new(ContextMixModel::new(vocab, n, &text(), p));
        }
        match self {
            Version::LmOnly => Box::new(LmOnly { freqs: Vec::new() }),
            Version::BigramCache => Box::new(WholeToken::new(BigramCache::new(vocab, n))),
            // the context-mixing versions returned above
            _ => Box::new(WholeToken::new(NgramModel::new(vocab, n))),
        }
    }

    /// [`Version::model`] fed the LM's rows in `rows`' form: ranked rows only feed the
    /// context-mixing versions.
    pub fn model_for(
        self,
        vocab: usize,
        n: usize,
        rounds: usize,
        text: impl FnOnce() -> Vec<Vec<u8>>,
        rows: RowForm,
    ) -> Result<Box<dyn AdaptiveModel>> {
        if rows == RowForm::LogProbs {
            return Ok(self.model(vocab, n, rounds, text));
        }
        let p = self.params(rounds).ok_or_else(|| {
            Error::Internal(format!("adaptive model version {} reads log-probabilities only", self as u8))
        })?;
        Ok(Box::new(ContextMixModel::new(vocab, n, &text(), p).with_rows(rows)))
    }

    /// The context-mixing settings of this version for a plan of `rounds` rounds (`None`:
    /// not a context-mixing version).
    pub fn params(self, rounds: usize) -> Option<Params> {
        Some(match self {
            Version::LmOnly | Version::BigramCache | Version::Ngram => return None,
            Version::ContextMixV3 => Params::v3(),
            Version::ContextMix => Params::for_plan(rounds),
            Version::ContextMixV5 => Params::v5(rounds),
            Version::ContextMixV6 => Params::v6(rounds),
            Version::ContextMixV7 => Params::v7(rounds),
            Version::ContextMixV8 => Params::v8(rounds),
        })
    }

    /// Decisions are bits in a binary arithmetic coder's bytes; otherwise whole tokens in
    /// constriction's range-coder words.
    fn binary(self) -> bool {
        matches!(
            self,
            Version::ContextMixV3
                | Version::ContextMix
                | Version::ContextMixV5
                | Version::ContextMixV6
                | Version::ContextMixV7
                | Version::ContextMixV8
        )
    }
}

struct LmOnly {
    freqs: Vec<u32>,
}

impl AdaptiveModel for LmOnly {
    fn code(&mut self, _i: usize, lp: &[f32], io: &mut dyn TokenIo) -> Result<u32> {
        let t = super::profile::start();
        frequencies(lp, &mut self.freqs)?;
        super::profile::stop(super::profile::Stage::Quantize, t);
        io.token(&self.freqs)
    }
}

fn misuse() -> Error {
    Error::Internal("adaptive model used the other kind of stream".into())
}

/// The encoder's [`TokenIo`]: `tok` is set before each `code` call.
pub struct Writer {
    pub tok: u32,
    version: Version,
    range: DefaultRangeEncoder,
    bits: coder::Encoder,
    cdf: Vec<u32>,
}

impl Writer {
    pub fn new(version: Version) -> Self {
        Writer { tok: 0, version, range: DefaultRangeEncoder::new(), bits: coder::Encoder::default(), cdf: Vec::new() }
    }

    pub fn finish(self) -> Result<Vec<u8>> {
        if self.version.binary() {
            return Ok(self.bits.finish());
        }
        let words = self.range.into_compressed().map_err(|e| Error::Internal(format!("range coder: {e:?}")))?;
        Ok(words.iter().flat_map(|w| w.to_le_bytes()).collect())
    }
}

impl TokenIo for Writer {
    fn known(&self) -> Option<u32> {
        Some(self.tok)
    }

    fn token(&mut self, freqs: &[u32]) -> Result<u32> {
        if self.version.binary() {
            return Err(misuse());
        }
        let m = cdf_model(freqs, &mut self.cdf)?;
        self.range.encode_symbol(self.tok as usize, &m).map_err(|e| Error::Internal(format!("range coder: {e}")))?;
        Ok(self.tok)
    }

    fn bit(&mut self, bit: Option<bool>, p1: coder::P16) -> Result<bool> {
        let (true, Some(b)) = (self.version.binary(), bit) else { return Err(misuse()) };
        self.bits.encode(b, p1);
        Ok(b)
    }
}

/// The decoder's [`TokenIo`] over a block's coded bytes.
pub enum Reader<'a> {
    Range(DefaultRangeDecoder, Vec<u32>),
    Bits(coder::Decoder<'a>),
}

impl<'a> Reader<'a> {
    pub fn new(version: Version, payload: &'a [u8]) -> Result<Self> {
        if version.binary() {
            return Ok(Reader::Bits(coder::Decoder::new(payload)));
        }
        if payload.len() % 4 != 0 {
            return Err(Error::corrupt("range-coded data is not a whole number of words"));
        }
        let words: Vec<u32> = payload.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        let dec = DefaultRangeDecoder::from_compressed(words).map_err(|_| Error::corrupt("bad range-coder stream"))?;
        Ok(Reader::Range(dec, Vec::new()))
    }
}

impl TokenIo for Reader<'_> {
    fn known(&self) -> Option<u32> {
        None
    }

    fn token(&mut self, freqs: &[u32]) -> Result<u32> {
        let Reader::Range(dec, cdf) = self else { return Err(misuse()) };
        let m = cdf_model(freqs, cdf)?;
        Ok(dec.decode_symbol(&m).map_err(|_| Error::corrupt("range decoder failed"))? as u32)
    }

    fn bit(&mut self, _bit: Option<bool>, p1: coder::P16) -> Result<bool> {
        let Reader::Bits(dec) = self else { return Err(misuse()) };
        Ok(dec.decode(p1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::{Rng, SeedableRng};

    /// Codes `tokens` in `order` with LM log-probabilities from `seed` and decodes them back.
    fn round_trip(version: Version, vocab: usize, tokens: &[u32], order: &[usize], seed: u64) -> usize {
        let lps: Vec<Vec<f32>> = {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            order
                .iter()
                .map(|&i| {
                    // a peaked guess that is right about half the time
                    let guess = if rng.random_bool(0.5) { tokens[i] } else { rng.random_range(0..vocab as u32) };
                    let raw: Vec<f32> =
                        (0..vocab).map(|t| if t as u32 == guess { 4.0 } else { -rng.random::<f32>() * 3.0 }).collect();
                    let z = raw.iter().map(|x| x.exp()).sum::<f32>().ln();
                    raw.iter().map(|x| x - z).collect()
                })
                .collect()
        };
        let text = || (0..vocab).map(|t| format!("t{}", t % 97).into_bytes()).collect();
        let rounds = 1 + seed as usize % 3;
        let mut model = version.model(vocab, tokens.len(), rounds, text);
        let mut w = Writer::new(version);
        for (k, &i) in order.iter().enumerate() {
            w.tok = tokens[i];
            assert_eq!(model.code(i, &lps[k], &mut w).unwrap(), tokens[i]);
        }
        let bytes = w.finish().unwrap();
        let rounds = 1 + seed as usize % 3;
        let mut model = version.model(vocab, tokens.len(), rounds, text);
        let mut r = Reader::new(version, &bytes).unwrap();
        for (k, &i) in order.iter().enumerate() {
            assert_eq!(model.code(i, &lps[k], &mut r).unwrap(), tokens[i], "{version:?} position {i}");
        }
        bytes.len()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]
        /// Every version decodes what it encoded, for any vocabulary size, token string and
        /// reveal order (later rounds code positions out of text order).
        #[test]
        fn every_version_round_trips_in_any_order(
            vocab in 2usize..700,
            raw in proptest::collection::vec(any::<u32>(), 0..300),
            repeat in 1usize..4,
            seed in any::<u64>(),
        ) {
            let tokens: Vec<u32> = raw.iter().map(|t| t % vocab as u32).collect::<Vec<_>>().repeat(repeat);
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut scattered: Vec<usize> = (0..tokens.len()).collect();
            for k in (1..scattered.len()).rev() {
                scattered.swap(k, rng.random_range(0..=k));
            }
            let forward: Vec<usize> = (0..tokens.len()).collect();
            for v in 0..=crate::coding::MAX_MIX_VERSION {
                let version = Version::from_u8(v).unwrap();
                round_trip(version, vocab, &tokens, &forward, seed);
                round_trip(version, vocab, &tokens, &scattered, seed);
            }
        }
    }

    /// The context mixer learns repeats: a text said twice costs far less the second time.
    #[test]
    fn context_mixing_learns_a_repeated_text() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let once: Vec<u32> = (0..400).map(|_| rng.random_range(0..5000)).collect();
        let order1: Vec<usize> = (0..400).collect();
        let order2: Vec<usize> = (0..800).collect();
        let one = round_trip(Version::ContextMix, 5000, &once, &order1, 1);
        let two = round_trip(Version::ContextMix, 5000, &once.repeat(2), &order2, 1);
        assert!(two < one + one / 4, "400 tokens: {one} bytes; twice: {two} bytes");
    }
}
