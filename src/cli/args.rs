//! The command line, defined once with clap derive; man page and completions come from here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(name = "llmzip", version, about = "Lossless text compression with masked language models", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: Global,
}

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
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Compress files (or stdin) into .llmz
    #[command(visible_alias = "c")]
    Compress(CompressArgs),
    /// Decompress .llmz files (or stdin)
    #[command(visible_aliases = ["d", "x"])]
    Decompress(DecompressArgs),
    /// Verify .llmz files by decoding them, writing nothing (like gzip -t)
    #[command(visible_alias = "t")]
    Test(TestArgs),
    /// Show what a .llmz file holds: sizes, ratio, bits per byte, method, model, schedule
    #[command(visible_alias = "i")]
    Info(InfoArgs),
    /// Show a model's top predictions for each mask in a text
    Infill(InfillArgs),
    /// Print shell completions
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff)
    Man,
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
    /// Model: a local directory (config.json, model.safetensors, tokenizer.json) or a hub id
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

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShapeArg {
    Uniform,
    Geometric,
}

#[derive(Args, Debug, Clone)]
pub struct CompressArgs {
    #[command(flatten)]
    pub io: OutputArgs,
    #[arg(long, value_enum, default_value = "arith")]
    pub method: MethodArg,
    /// Mask method: largest fraction of each window's tokens that may be masked
    #[arg(long, default_value_t = 0.5)]
    pub mask_rate: f32,
    /// Tokens per window
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    /// Tokens of neighbouring windows shown on each side
    #[arg(long, default_value_t = 16)]
    pub context: usize,
    /// Rounds in which a window's tokens are revealed
    #[arg(long, default_value_t = 4)]
    pub rounds: usize,
    /// How tokens are shared out between rounds
    #[arg(long, value_enum, default_value = "uniform")]
    pub shape: ShapeArg,
    /// Windows per model call
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Bytes of input per independently decodable block
    #[arg(long, default_value_t = 256 * 1024)]
    pub block_size: usize,
}

#[derive(Args, Debug, Clone)]
pub struct DecompressArgs {
    #[command(flatten)]
    pub io: OutputArgs,
}

#[derive(Args, Debug, Clone)]
pub struct TestArgs {
    /// .llmz files; "-" or none means standard input
    pub files: Vec<PathBuf>,
    /// Model (default: the one named in each file)
    #[arg(short, long, env = "LLMZIP_MODEL")]
    pub model: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct InfoArgs {
    /// .llmz files; "-" or none means standard input
    pub files: Vec<PathBuf>,
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct InfillArgs {
    /// Text with one or more mask tokens ([MASK] or <mask>, as the model spells it)
    pub text: String,
    #[arg(short, long, env = "LLMZIP_MODEL")]
    pub model: Option<String>,
    /// Predictions per mask
    #[arg(short = 'k', long, default_value_t = 5)]
    pub top_k: usize,
    #[arg(long)]
    pub json: bool,
}
