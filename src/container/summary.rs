//! What a .llmz file holds, read without decoding (`llmzip info`).

use std::io::Read;

use serde::Serialize;

use super::{Header, MemberReader};
use crate::error::{Error, Result};

/// One file: sizes and its members.
#[derive(Debug, Clone, Serialize)]
pub struct FileSummary {
    pub file: String,
    pub original_bytes: u64,
    /// bytes read, whatever the container version
    pub compressed_bytes: u64,
    pub ratio: f64,
    pub bits_per_byte: f64,
    pub members: Vec<MemberSummary>,
}

/// One member: its header's settings and its block count.
#[derive(Debug, Clone, Serialize)]
pub struct MemberSummary {
    pub version: u8,
    pub method: &'static str,
    pub model: String,
    /// as stored: all 32 bytes (version 1) or the first 16 (version 2), hex
    pub fingerprint: String,
    pub numerics: String,
    pub window: usize,
    pub context: usize,
    pub rounds: usize,
    pub shape: &'static str,
    pub lanes: usize,
    /// the settled part: (after tokens, sub-window), if any
    pub settle: Option<(usize, usize)>,
    pub batch: u32,
    /// adaptive token model version (arith; 0: none)
    pub mix: u8,
    pub mask_rate: f32,
    pub block_size: u32,
    pub blocks: u64,
}

impl FileSummary {
    /// Reads every member of `input`, named `file`. `builtin_model` is the name an unnamed
    /// model stands for (see [`Header::model_name`]).
    pub fn read<R: Read>(file: String, input: R, builtin_model: &str) -> Result<FileSummary> {
        let mut r = MemberReader::new(input);
        let mut members = Vec::new();
        let mut original_bytes = 0;
        while let Some(h) = r.next_member()? {
            let s = r.skip_member()?;
            original_bytes += s.total_len;
            members.push(MemberSummary::new(&h, s.blocks, builtin_model));
        }
        if members.is_empty() {
            return Err(Error::NotLlmz);
        }
        let compressed_bytes = r.consumed();
        let ratio = if compressed_bytes > 0 { original_bytes as f64 / compressed_bytes as f64 } else { 0.0 };
        let bits_per_byte =
            if original_bytes > 0 { compressed_bytes as f64 * 8.0 / original_bytes as f64 } else { 0.0 };
        Ok(FileSummary { file, original_bytes, compressed_bytes, ratio, bits_per_byte, members })
    }
}

impl MemberSummary {
    pub fn new(h: &Header, blocks: u64, builtin_model: &str) -> MemberSummary {
        MemberSummary {
            version: h.version,
            method: h.method.name(),
            model: h.model_name.clone().unwrap_or_else(|| builtin_model.to_string()),
            fingerprint: h.fingerprint.iter().map(|b| format!("{b:02x}")).collect(),
            numerics: h.numerics.clone(),
            window: h.plan.window,
            context: h.plan.context,
            rounds: h.plan.rounds,
            shape: h.plan.shape.name(),
            lanes: h.plan.lanes.count(),
            settle: h.plan.settle.map(|st| (st.after, st.window)),
            batch: h.batch,
            mix: h.mix,
            mask_rate: h.mask_rate,
            block_size: h.block_size,
            blocks,
        }
    }
}
