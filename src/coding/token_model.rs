//! What an adaptive token model of `--method arith` is: it codes one token at a time through
//! a [`TokenIo`] and learns from it. [`adaptive`](super::adaptive) picks the model a file's
//! version names.

use super::cm::coder;
use super::quantize::frequencies_from_probs;
use crate::error::Result;

/// A model that codes one token at a time, in plan order, and learns from it. Encoder and
/// decoder call the same `code`; only the [`TokenIo`] differs, so they mirror each other by
/// construction.
pub trait AdaptiveModel: Send {
    /// Codes the token at block position `i` (LM log-probabilities `lp`) through `io`, learns
    /// it, and returns it.
    fn code(&mut self, i: usize, lp: &[f32], io: &mut dyn TokenIo) -> Result<u32>;
}

/// The direction of coding: writes the true token, or reads it back from a stream.
pub trait TokenIo {
    /// The token being written; `None` when reading.
    fn known(&self) -> Option<u32>;
    /// The whole token, range-coded with `freqs` (summing to 2^PRECISION).
    fn token(&mut self, freqs: &[u32]) -> Result<u32>;
    /// One binary decision with P(1) = p1 / 2^16: writes `bit` (which a writer is given) or
    /// reads it.
    fn bit(&mut self, bit: Option<bool>, p1: coder::P16) -> Result<bool>;
}

/// Versions 1 and 2: the LM's distribution mixed with the model's own statistics of the block
/// into one distribution over the vocabulary.
pub trait Mixture: Send {
    /// The mixed distribution for position `i` (whose LM log-probabilities are `lp`).
    fn mix(&mut self, i: usize, lp: &[f32]) -> &[f32];
    /// Learns from the coded token `tok` at position `i`.
    fn update(&mut self, i: usize, tok: u32, lp: &[f32]);
}

/// A [`Mixture`] as an adaptive model: the whole token is range-coded with its distribution.
pub(super) struct WholeToken<M> {
    model: M,
    freqs: Vec<u32>,
}

impl<M: Mixture> WholeToken<M> {
    pub(super) fn new(model: M) -> Self {
        WholeToken { model, freqs: Vec::new() }
    }
}

impl<M: Mixture> AdaptiveModel for WholeToken<M> {
    fn code(&mut self, i: usize, lp: &[f32], io: &mut dyn TokenIo) -> Result<u32> {
        let mixed = self.model.mix(i, lp);
        let t = super::profile::start();
        frequencies_from_probs(mixed, &mut self.freqs)?;
        super::profile::stop(super::profile::Stage::Quantize, t);
        let tok = io.token(&self.freqs)?;
        self.model.update(i, tok, lp);
        Ok(tok)
    }
}
