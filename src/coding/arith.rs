//! `--method arith`: every token coded with the LM's distribution as the block's adaptive
//! model ([`adaptive`](super::adaptive), header field `mix`) refines it.

use super::adaptive::{Reader, Version, Writer};
use super::cm::coder::P16;
use super::profile::{self, Stage};
use super::token_model::{AdaptiveModel, TokenIo};
use super::{drive_known, overlap, Ctx};
use crate::error::Result;

pub fn encode(ctx: &Ctx, tokens: &[u32]) -> Result<Vec<u8>> {
    let version = Version::from_u8(ctx.mix)?;
    let text = || ctx.tokenizer.token_bytes();
    let mut model = version.model_for(ctx.lm.vocab_size(), tokens.len(), ctx.plan.rounds, text, ctx.lm.rows())?;
    let mut io = Writer::new(version);
    drive_known(ctx, tokens, |i, lp| {
        io.tok = tokens[i];
        timed_code(model.as_mut(), i, lp, &mut io)?;
        Ok(())
    })?;
    io.finish()
}

pub fn decode(ctx: &Ctx, payload: &[u8], n: usize) -> Result<Vec<u32>> {
    let version = Version::from_u8(ctx.mix)?;
    let text = || ctx.tokenizer.token_bytes();
    let mut model = version.model_for(ctx.lm.vocab_size(), n, ctx.plan.rounds, text, ctx.lm.rows())?;
    let mut io = Reader::new(version, payload)?;
    overlap::drive(ctx, n, |i, lp| timed_code(model.as_mut(), i, lp, &mut io))
}

/// `model.code`, timed for [`profile`] when that is on and the token is in its sample.
fn timed_code(model: &mut dyn AdaptiveModel, i: usize, lp: &[f32], io: &mut dyn TokenIo) -> Result<u32> {
    if !profile::enabled() || !profile::sample_token() {
        return model.code(i, lp, io);
    }
    let t = profile::start();
    let tok = model.code(i, lp, &mut Timed(io));
    profile::stop(Stage::Token, t);
    profile::end_token();
    tok
}

/// A [`TokenIo`] whose calls count as range coding.
struct Timed<'a>(&'a mut dyn TokenIo);

impl TokenIo for Timed<'_> {
    fn known(&self) -> Option<u32> {
        self.0.known()
    }
    fn token(&mut self, freqs: &[u32]) -> Result<u32> {
        let t = profile::start();
        let r = self.0.token(freqs);
        profile::stop(Stage::Coding, t);
        r
    }
    fn bit(&mut self, bit: Option<bool>, p1: P16) -> Result<bool> {
        let t = profile::start();
        let r = self.0.bit(bit, p1);
        profile::stop(Stage::Coding, t);
        r
    }
}
