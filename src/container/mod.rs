//! The .llmz container (docs/FORMAT.md): members of header + blocks + end record. Every
//! field is covered by a CRC-32, each block carries the CRC-32 of its original bytes, and the
//! end record the total length and CRC-32 of the member. All lengths are bounded before
//! anything is allocated.
//!
//! - [`header`]: the member header, written in version 2, read in versions 1 and 2;
//! - [`record`]: block and end records;
//! - [`payload`]: what a block's payload holds (residual and coded tokens);
//! - [`reader`]: [`MemberReader`], the one walk over members and records;
//! - [`summary`]: what `llmzip info` reports, read without decoding.

pub mod header;
pub mod payload;
pub mod reader;
pub mod record;
pub mod summary;

use std::io::Read;

use crate::error::{Error, Result};

pub use header::Header;
pub use payload::{Parts, EMPTY_RESIDUAL};
pub use reader::MemberReader;
pub use record::{payload_bound, write_block, write_end, Block, Record};
pub use summary::{FileSummary, MemberSummary};

pub const MAGIC: [u8; 4] = *b"LLMZ";
/// The version written. Version 1 (fixed-width fields, 32-byte fingerprint, names as text)
/// is still read; version 2 packs the same information in varints and codes, because
/// version 1's 148 bytes of framing made a 162-byte text larger than bzip2's output.
/// Version 3 is version 2's layout for members coded with a causal plan (shape 2), which
/// only builds that know causal models can decode: older builds refuse them by version
/// instead of misreading the plan. Every other member is still written as version 2.
pub const VERSION: u8 = 3;
/// Fingerprint bytes stored by version 2: a 128-bit prefix of the BLAKE3 fingerprint is ample
/// to tell models apart, and the block checksums catch anything else.
pub const FINGERPRINT_V2: usize = 16;
/// Numerics ids stored as one byte by version 2 (index + 1); 0 means the id follows as text,
/// so an id not in this list (a newer backend) still fits. Append only: codes are the format.
pub use crate::numerics::KNOWN as KNOWN_NUMERICS;
/// Largest original block accepted by the reader.
pub const MAX_BLOCK: usize = 64 << 20;

/// A read error: a short read means the file was cut off.
pub(crate) fn io(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        Error::corrupt("file is truncated")
    } else {
        Error::io("reading compressed data", e)
    }
}

pub(crate) fn read_exact<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> Result<()> {
    r.read_exact(buf).map_err(io)
}

/// A varint read byte by byte from a stream: (value, its bytes). At most 5 bytes and the u32
/// range (lengths), or 10 bytes and the u64 range with `wide` (the end record's total), so a
/// hostile varint cannot run on.
fn read_varint<R: Read + ?Sized>(r: &mut R, wide: bool) -> Result<(u64, Vec<u8>)> {
    let (bits, max) = if wide { (64, u64::MAX) } else { (35, u32::MAX as u64) };
    let mut raw = Vec::with_capacity(10);
    let mut v = 0u64;
    for shift in (0..bits).step_by(7) {
        let mut b = [0u8; 1];
        read_exact(r, &mut b)?;
        raw.push(b[0]);
        v |= u64::from(b[0] & 0x7f) << shift;
        if b[0] & 0x80 == 0 {
            if v > max {
                break;
            }
            return Ok((v, raw));
        }
    }
    Err(Error::corrupt("malformed length"))
}
