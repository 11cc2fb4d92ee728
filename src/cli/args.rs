//! The flags several commands share: the global ones, input and output files, method and
//! reveal-plan shape. Each command's own flags stand in its file.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use llmzip::coding::select::Select;
use llmzip::coding::Method;
use llmzip::schedule::Shape;
use llmzip::text::pos::UPOS;

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Print nothing but errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print statistics per file
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Compute device: cpu, cuda or cuda:N (needs a build with --features cuda)
    #[arg(long, global = true, default_value = "cpu")]
    pub device: String,
    /// Worker threads for the model (default: all cores)
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    /// Blocks coded at once, one thread each; never changes the output (default: 1 on the
    /// CPU, all cores with --device cuda). Each holds its adaptive model's tables and buffers
    /// (60-70 MB for a 1 MiB block of English at -5, counted as at most 98 MB): fewer run at
    /// once where they would not fit in --memory or in the available memory
    #[arg(short = 'j', long, global = true)]
    pub jobs: Option<usize>,
    /// Most memory, in MB, that the blocks in flight may take beyond the loaded model: fewer
    /// blocks are coded at once to stay within it (never changes the output); an error if one
    /// block needs more. Default: no limit but the available memory
    #[arg(long, global = true, value_name = "MB", env = "LLMZIP_MEMORY")]
    pub memory: Option<u64>,
}

#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// Files to process; "-" or none means standard input
    pub files: Vec<PathBuf>,
    /// Write to this file (one input only); "-" means standard output
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Write to standard output, keep input files
    #[arg(short = 'c', long = "stdout")]
    pub stdout: bool,
    /// Overwrite existing output files (and allow compressed data on a terminal)
    #[arg(short, long)]
    pub force: bool,
    /// Remove each input after its output is written and verified
    #[arg(long)]
    pub rm: bool,
    /// Model: a local directory (config.json, model.safetensors, tokenizer.json), a hub id, or
    /// llmzip-default (built in; the default for compress, infill and finetune)
    #[arg(short, long, env = "LLMZIP_MODEL")]
    pub model: Option<String>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodArg {
    /// range-code every token with the model's distribution
    Arith,
    /// the paper's gzip-wrapped masked token stream, verified lossless
    Mask,
}

impl From<MethodArg> for Method {
    fn from(m: MethodArg) -> Method {
        match m {
            MethodArg::Arith => Method::Arith,
            MethodArg::Mask => Method::Mask,
        }
    }
}

/// Mask method: which tokens to mask (the seed paper's strategies).
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectArg {
    /// the verified tokens the model is surest of
    Confidence,
    /// tokens drawn at random (seeded), masked where verified
    Random,
    /// tokens of the --pos-classes parts of speech, drawn at random, masked where verified
    Pos,
}

impl From<SelectArg> for Select {
    fn from(s: SelectArg) -> Select {
        match s {
            SelectArg::Confidence => Select::Confidence,
            SelectArg::Random => Select::Random,
            SelectArg::Pos => Select::Pos,
        }
    }
}

/// One universal part-of-speech tag (NOUN, VERB, ADJ, PROPN, …).
pub fn parse_upos(s: &str) -> Result<UPOS, String> {
    match llmzip::text::pos::parse_classes(s).as_deref() {
        Some([u]) => Ok(*u),
        _ => Err(format!("'{s}' is not a universal part-of-speech tag (NOUN, VERB, ADJ, ADV, PROPN, …)")),
    }
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShapeArg {
    Uniform,
    Geometric,
    /// for causal models: one token per lane and call, left to right, `--context` ..
    /// `--context` + `--window` - 1 tokens before each
    Causal,
}

impl From<ShapeArg> for Shape {
    fn from(s: ShapeArg) -> Shape {
        match s {
            ShapeArg::Uniform => Shape::Uniform,
            ShapeArg::Geometric => Shape::Geometric,
            ShapeArg::Causal => Shape::Causal,
        }
    }
}
