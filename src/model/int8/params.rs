//! What the integer engine computes with: every weight, multiplier, shift and table, all
//! integers, and the limits that keep its arithmetic inside its integer types. `file.rs` reads
//! them from the integer checkpoint and writes them.

use std::collections::BTreeMap;

/// The file an integer version of a model lives in, beside config.json and tokenizer.json.
pub const FILE: &str = "model.int8.safetensors";
/// Version of the integer numerics this build implements (metadata `llmzip-int8`).
pub const VERSION: &str = "1";
/// Fractional bits of the exp2 table index: `exp2[f] ≈ 2^30 · 2^(-f/1024)`.
pub const EXP_BITS: u32 = 10;
/// Mantissa bits of the log2 table index: `log2[i] ≈ 2^16 · log2(1 + i/4096)`.
pub const LOG_BITS: u32 = 12;
/// Largest hidden width and sequence length, and intermediate width when the GELU writes 16
/// bits (keeps LayerNorm sums and 16-bit products in range).
pub const MAX_WIDTH: usize = 1024;
/// Largest intermediate width when the GELU writes 8 bits: 4096 products of two int8 values
/// (|x| ≤ 127) sum to under 2^26, far inside i32.
pub const MAX_INTER_I8: usize = 4096;
/// Embedding row multipliers stay below this, so a sum of two embeddings fits i32.
pub const MAX_EMB_MUL: i64 = 1 << 23;

/// The integer type of an activation that feeds a matrix product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// ±127
    I8,
    /// ±16383
    I16,
    /// the residual stream, ±2^30 (only the embedding LayerNorm writes it)
    I32,
}

impl Act {
    pub(super) fn bits(self) -> i64 {
        match self {
            Act::I8 => 8,
            Act::I16 => 16,
            Act::I32 => 32,
        }
    }
}

/// Per output channel: `round((acc · m[n] + b[n]) / 2^shift)`.
#[derive(Debug, Clone)]
pub struct Requant {
    pub m: Vec<i32>,
    pub b: Vec<i64>,
    pub shift: u32,
}

/// int8 weights `[n, k]`, row-major (one row per output channel), and their requantisation.
#[derive(Debug, Clone)]
pub struct Linear {
    pub n: usize,
    pub k: usize,
    pub w: Vec<i8>,
    pub rq: Requant,
}

/// LayerNorm: per-channel multiplier `g`, offset `b`, output shift, and epsilon in the
/// input's units (times H²); `out` is the activation type it writes (the residual stream
/// when it is the embedding LayerNorm).
#[derive(Debug, Clone)]
pub struct Norm {
    pub g: Vec<i32>,
    pub b: Vec<i64>,
    pub shift: u32,
    pub eps: i64,
    pub out: Act,
}

/// GELU (or any activation) by table over requantised inputs `-half..=half`; beyond the
/// right end a straight rescaling `round(u · lin_m / 2^lin_shift)`, beyond the left the
/// first entry.
#[derive(Debug, Clone)]
pub struct Gelu {
    pub table: Vec<i16>,
    pub half: usize,
    pub lin_m: i32,
    pub lin_shift: u32,
    pub out: Act,
}

#[derive(Debug, Clone)]
pub struct Layer {
    pub ln1: Norm,
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    /// attention scores → units of 2^-EXP_BITS of log2: `round(acc · m / 2^shift)`
    pub score_m: i64,
    pub score_shift: u32,
    pub o: Linear,
    pub ln2: Norm,
    pub ffn_in: Linear,
    pub gelu: Gelu,
    pub ffn_out: Linear,
}

/// Everything the integer engine computes with.
#[derive(Debug, Clone)]
pub struct IntParams {
    pub vocab: usize,
    pub hidden: usize,
    pub heads: usize,
    pub inter: usize,
    pub positions: usize,
    pub position_offset: usize,
    /// word embeddings `[vocab, hidden]`, also the output projection (tied)
    pub word: Vec<i8>,
    pub word_m: Vec<i32>,
    /// position embeddings with the token-type embedding added `[positions, hidden]`
    pub pos: Vec<i8>,
    pub pos_m: Vec<i32>,
    pub emb_ln: Norm,
    pub layers: Vec<Layer>,
    pub final_ln: Norm,
    pub head_dense: Linear,
    pub head_gelu: Gelu,
    pub head_ln: Norm,
    pub decoder: Requant,
    pub exp2: Vec<u32>,
    pub log2: Vec<u32>,
    /// informational: how the file was made
    pub meta: BTreeMap<String, String>,
}
