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

/// The stored block of `original`, coded as `n_tokens` tokens: the payload laid out from the
/// serialized residual and the coded tokens. Returns it with the number of bytes the residual
/// takes in it (0 for the empty residual). A block the reader would refuse is an error here,
/// never a file that cannot be read back.
pub fn pack(original: &[u8], n_tokens: usize, residual: &[u8], coded: &[u8]) -> Result<(Block, usize)> {
    let orig_len = u32::try_from(original.len()).map_err(|_| Error::Internal("block too large".into()))?;
    let n_tokens = u32::try_from(n_tokens).map_err(|_| Error::Internal("too many tokens in a block".into()))?;
    let mut payload = Vec::with_capacity(coded.len() + 16);
    let stored = if residual == EMPTY_RESIDUAL {
        payload.push(0);
        0
    } else {
        let deflated = deflate(residual)?;
        varint::put(&mut payload, deflated.len() as u64);
        payload.extend_from_slice(&deflated);
        deflated.len()
    };
    payload.extend_from_slice(coded);
    let plen = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    if residual.len() as u64 > residual_bound(orig_len, n_tokens)
        || Block::check_bounds(orig_len, n_tokens, plen).is_err()
    {
        return Err(Error::Internal(format!(
            "a block of {orig_len} bytes coded into {} bytes and a residual of {} bytes: beyond the format's bounds",
            payload.len(),
            residual.len()
        )));
    }
    Ok((Block { orig_len, n_tokens, crc: crc32fast::hash(original), payload }, stored))
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
        let limit = residual_bound(block.orig_len, block.n_tokens);
        inflate(r.bytes(rlen)?, limit)?
    };
    Ok(Parts { residual, coded: r.rest() })
}

/// The largest serialized residual a block of `orig_len` bytes and `n_tokens` tokens can
/// have, so that inflating a hostile stream stops there. The tokenized text is at most 3 bytes
/// per original byte (an invalid byte becomes U+FFFD); the patches take at most 3 bytes per
/// original byte plus a varint byte per 128 of text; exception units and trailer together are
/// at most the text; each exception adds two varints of at most 5 bytes.
fn residual_bound(orig_len: u32, n_tokens: u32) -> u64 {
    orig_len as u64 * 7 + (n_tokens as u64 + 8) * 10 + 64
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
        let (b, stored) = pack(&[b'x'; 100], 10, &EMPTY_RESIDUAL, b"coded").unwrap();
        assert_eq!((b.payload.as_slice(), stored, b.crc), (&b"\0coded"[..], 0, crc32fast::hash(&[b'x'; 100])));
        let parts = unpack(&b).unwrap();
        assert_eq!((parts.residual.as_slice(), parts.coded), (&EMPTY_RESIDUAL[..], &b"coded"[..]));
    }

    #[test]
    fn other_residuals_are_deflated_and_come_back() {
        let residual = [1, 5, 1, 0xff, 0, 2, b'h', b'i'];
        let (b, stored) = pack(&[b'x'; 100], 10, &residual, b"xyz").unwrap();
        assert!(stored > 0 && b.payload.len() == 1 + stored + 3, "{b:?}");
        let parts = unpack(&b).unwrap();
        assert_eq!((parts.residual.as_slice(), parts.coded), (&residual[..], &b"xyz"[..]));
    }

    #[test]
    fn a_residual_longer_than_its_block_allows_is_refused() {
        let big = vec![7u8; residual_bound(100, 10) as usize + 1];
        let err = pack(&[b'x'; 100], 10, &big, b"").unwrap_err();
        assert!(matches!(err, Error::Internal(_)), "the writer refuses it: {err}");
        let deflated = deflate(&big).unwrap();
        let mut payload = vec![];
        varint::put(&mut payload, deflated.len() as u64);
        payload.extend_from_slice(&deflated);
        let err = unpack(&block(payload)).unwrap_err();
        assert!(err.to_string().contains("residual larger than its block"), "the reader too: {err}");
    }
}
