//! A block's payload: `varint(R) ‖ residual (R bytes, raw DEFLATE) ‖ coded tokens`. R = 0
//! stands for the empty residual: DEFLATE never produces zero bytes, so it is unambiguous,
//! and it saves the ~5 bytes DEFLATE needs to say nothing, which matter on small files.

use std::io::{Read, Write};

use flate2::{read::DeflateDecoder, write::DeflateEncoder, Compression};

use super::Block;
use crate::error::{Error, Result};
use crate::varint;

/// The serialized residual with no patches, no exceptions and no trailer (docs/FORMAT.md):
/// what the usual block, text a byte-level tokenizer reproduces exactly, carries.
pub const EMPTY_RESIDUAL: [u8; 3] = [0, 0, 0];

/// A payload taken apart.
#[derive(Debug)]
pub struct Parts<'a> {
    /// the serialized residual, inflated
    pub residual: Vec<u8>,
    /// the method's output
    pub coded: &'a [u8],
}

/// Lays out a payload from the serialized residual and the coded tokens. Returns it with the
/// number of bytes the residual takes in it (0 for the empty residual).
pub fn pack(residual: &[u8], coded: &[u8]) -> Result<(Vec<u8>, usize)> {
    let mut payload = Vec::with_capacity(coded.len() + 16);
    if residual == EMPTY_RESIDUAL {
        payload.push(0);
        payload.extend_from_slice(coded);
        return Ok((payload, 0));
    }
    let deflated = deflate(residual)?;
    varint::put(&mut payload, deflated.len() as u64);
    payload.extend_from_slice(&deflated);
    payload.extend_from_slice(coded);
    Ok((payload, deflated.len()))
}

/// Takes `block`'s payload apart, after checking the block's bounds (a block handed in
/// directly, as the fuzzer does, has not been through the reader's checks).
pub fn unpack(block: &Block) -> Result<Parts<'_>> {
    let plen = u32::try_from(block.payload.len()).map_err(|_| Error::corrupt("block payload too large"))?;
    Block::check_bounds(block.orig_len, block.n_tokens, plen)?;
    let mut r = varint::Reader::new(&block.payload);
    let rlen = r.len()?;
    let residual = if rlen == 0 {
        EMPTY_RESIDUAL.to_vec()
    } else {
        // a residual holds at most every byte literally plus per-token framing
        let limit = block.orig_len as u64 * 4 + (block.n_tokens as u64 + 8) * 10 + 64;
        inflate(r.bytes(rlen)?, limit)?
    };
    Ok(Parts { residual, coded: r.rest() })
}

fn deflate(data: &[u8]) -> Result<Vec<u8>> {
    let mut e = DeflateEncoder::new(Vec::new(), Compression::best());
    e.write_all(data).map_err(|e| Error::io("deflate", e))?;
    e.finish().map_err(|e| Error::io("deflate", e))
}

fn inflate(data: &[u8], limit: u64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    DeflateDecoder::new(data)
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|_| Error::corrupt("bad residual stream"))?;
    if out.len() as u64 > limit {
        return Err(Error::corrupt("residual larger than its block"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(payload: Vec<u8>) -> Block {
        Block { orig_len: 100, n_tokens: 10, crc: 0, payload }
    }

    #[test]
    fn empty_residual_is_one_zero_byte_and_comes_back() {
        let (p, stored) = pack(&EMPTY_RESIDUAL, b"coded").unwrap();
        assert_eq!((p.as_slice(), stored), (&b"\0coded"[..], 0));
        let b = block(p);
        let parts = unpack(&b).unwrap();
        assert_eq!((parts.residual.as_slice(), parts.coded), (&EMPTY_RESIDUAL[..], &b"coded"[..]));
    }

    #[test]
    fn other_residuals_are_deflated_and_come_back() {
        let residual = [1, 5, 1, 0xff, 0, 2, b'h', b'i'];
        let (p, stored) = pack(&residual, b"xyz").unwrap();
        assert!(stored > 0 && p.len() == 1 + stored + 3, "{p:?}");
        let b = block(p);
        let parts = unpack(&b).unwrap();
        assert_eq!((parts.residual.as_slice(), parts.coded), (&residual[..], &b"xyz"[..]));
    }

    #[test]
    fn a_residual_longer_than_its_block_allows_is_refused() {
        let big = vec![7u8; 4000];
        let (p, _) = pack(&big, b"").unwrap();
        let err = unpack(&block(p)).unwrap_err();
        assert!(err.to_string().contains("residual larger than its block"), "{err}");
    }
}
