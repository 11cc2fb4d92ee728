//! Entry points shared by the cargo-fuzz targets in `fuzz/` and by the regression test that
//! replays every input they found (`tests/reliability.rs`). Each takes arbitrary bytes and
//! must return, never panic, hang or allocate without bound. Not a stable API.

use crate::coding::Method;
use crate::container::{Block, MemberReader, Record};
use crate::decompressor::MemberDecoder;
use crate::schedule::Shape;
use crate::{Compressor, Hooks, Model, Options};

/// Parses `data` as a .llmz stream: headers and records until the first error or the end.
/// Returns how many records were read.
pub fn container(data: &[u8]) -> usize {
    let mut r = MemberReader::new(data);
    let mut records = 0;
    while let Ok(Some(_)) = r.next_member() {
        loop {
            match r.next_record() {
                Ok(Record::Block(_)) => records += 1,
                Ok(Record::End { .. }) => {
                    records += 1;
                    break;
                }
                Err(_) => return records,
            }
        }
    }
    records
}

/// Bytes of `decode_block`'s input that choose the header and block fields.
pub const DECODE_CONTROL: usize = 14;

/// Decodes `data[DECODE_CONTROL..]` as the payload of one block under a header chosen by the
/// first bytes (method, mixing, plan, batch, lengths), past the container's CRCs so that
/// the fuzzer reaches the residual inflater, the range decoder, the mask decoder and the
/// tokenizer's decoder. Returns the decoded bytes when
/// the block's CRC (the last 4 control bytes) matched.
pub fn decode_block(model: &Model, data: &[u8]) -> Option<Vec<u8>> {
    let (ctl, payload) = data.split_at_checked(DECODE_CONTROL)?;
    let compressor = Compressor::new(model, options(ctl)).ok()?;
    let decoder = MemberDecoder::new(model, compressor.header()).ok()?;
    let orig_len = u16::from_le_bytes([ctl[6], ctl[7]]) as u32 % 4096;
    // Keep one run short: the token count costs model calls, not memory (that bound is
    // `Block::check_bounds`, exercised by `container`).
    let n_tokens = u16::from_le_bytes([ctl[8], ctl[9]]) as u32 % 512;
    // The block's CRC is checked only after the whole block decoded, so a wrong one still
    // drives every decoder to the end.
    let crc = u32::from_le_bytes([ctl[10], ctl[11], ctl[12], ctl[13]]);
    let block = Block { orig_len, n_tokens, crc, payload: payload.to_vec() };
    decoder.decode_block(&block, &Hooks::default()).ok()
}

/// The settings `decode_block` reads from its first six control bytes.
fn options(ctl: &[u8]) -> Options {
    let mut opts = Options {
        method: if ctl[0] & 1 == 0 { Method::Arith } else { Method::Mask },
        mix: ctl[0] & 2 != 0,
        // every adaptive-model version this build reads
        mix_version: 1 + (ctl[0] >> 2) % crate::coding::MAX_MIX_VERSION,
        batch: 1 + (ctl[5] % 8) as usize,
        ..Options::default()
    };
    opts.plan.window = [4, 8, 16, 32][(ctl[1] % 4) as usize];
    opts.plan.context = [0, 4, 8, 16][(ctl[2] % 4) as usize];
    opts.plan.rounds = (1 + ctl[3] % 4).min(opts.plan.window as u8) as usize;
    opts.plan.shape = if ctl[4] & 1 == 0 { Shape::Geometric } else { Shape::Uniform };
    opts.plan.lanes = crate::schedule::Lanes::from_count([0, 1, 4, 32][(ctl[4] as usize >> 1) % 4]);
    opts
}

/// A valid `decode_block` input: `text` (under 4 KiB, under 512 tokens) compressed as one
/// block with the settings that `settings` (six control bytes) select. Seeds the fuzzer and
/// shows in tests that the harness reaches a real decode.
pub fn decode_block_seed(model: &Model, settings: [u8; 6], text: &[u8]) -> crate::Result<Vec<u8>> {
    let compressor = Compressor::new(model, options(&settings))?;
    let block = compressor.compress_block(text, &Hooks::default(), &mut Default::default())?;
    let mut seed = settings.to_vec();
    seed.extend_from_slice(&(block.orig_len as u16).to_le_bytes());
    seed.extend_from_slice(&(block.n_tokens as u16).to_le_bytes());
    seed.extend_from_slice(&block.crc.to_le_bytes());
    seed.extend_from_slice(&block.payload);
    Ok(seed)
}
