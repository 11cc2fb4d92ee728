//! `--method arith`: every token coded with the LM's distribution as the block's adaptive
//! model ([`adaptive`](super::adaptive), header field `mix`) refines it.

use super::adaptive::{Reader, Version, Writer};
use super::{drive_known, overlap, Ctx};
use crate::error::Result;

pub fn encode(ctx: &Ctx, tokens: &[u32]) -> Result<Vec<u8>> {
    let version = Version::from_u8(ctx.mix)?;
    let mut model = version.model(ctx.lm.vocab_size(), tokens.len(), ctx.plan.rounds, || ctx.tokenizer.token_bytes());
    let mut io = Writer::new(version);
    drive_known(ctx, tokens, |i, lp| {
        io.tok = tokens[i];
        model.code(i, lp, &mut io)?;
        Ok(())
    })?;
    io.finish()
}

pub fn decode(ctx: &Ctx, payload: &[u8], n: usize) -> Result<Vec<u32>> {
    let version = Version::from_u8(ctx.mix)?;
    let mut model = version.model(ctx.lm.vocab_size(), n, ctx.plan.rounds, || ctx.tokenizer.token_bytes());
    let mut io = Reader::new(version, payload)?;
    overlap::drive(ctx, n, |i, lp| model.code(i, lp, &mut io))
}
