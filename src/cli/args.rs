//! The command line, defined once with clap derive; man page and completions come from here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use llmzip::coding::select::Select;
use llmzip::coding::Method;
use llmzip::schedule::Shape;
use llmzip::text::pos::UPOS;

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
    /// Blocks coded at once, one thread each; never changes the output (default: 1 on the
    /// CPU, all cores with --device cuda)
    #[arg(short = 'j', long, global = true)]
    pub jobs: Option<usize>,
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
    /// Train a model on the corpus you will compress (or from scratch)
    #[command(visible_alias = "train")]
    Finetune(FinetuneArgs),
    /// Measure llmzip against gzip, bzip2, xz and zstd on the same files, in one run
    Bench(BenchArgs),
    /// List the built-in and cached models, their size, fingerprint and the levels using them
    Models(ModelsArgs),
    /// Write an integer version of a pre-LayerNorm model (bit-exact on every CPU and GPU)
    Quantize(QuantizeArgs),
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
}

impl From<ShapeArg> for Shape {
    fn from(s: ShapeArg) -> Shape {
        match s {
            ShapeArg::Uniform => Shape::Uniform,
            ShapeArg::Geometric => Shape::Geometric,
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct CompressArgs {
    #[command(flatten)]
    pub io: OutputArgs,
    #[command(flatten)]
    pub level: LevelArgs,
    /// Method (default: the level's)
    #[arg(long, value_enum)]
    pub method: Option<MethodArg>,
    /// Mask method: largest fraction of each window's tokens that may be masked
    #[arg(long, default_value_t = 0.5)]
    pub mask_rate: f32,
    /// Mask method: which tokens become candidates (a candidate is masked only if the
    /// decoder's infill reproduces it, so every choice is lossless)
    #[arg(long, value_enum, default_value_t = SelectArg::Confidence)]
    pub select: SelectArg,
    /// --select pos: the universal part-of-speech tags that may be masked
    #[arg(long, value_delimiter = ',', value_parser = parse_upos, default_value = "NOUN,VERB,ADJ")]
    pub pos_classes: Vec<UPOS>,
    /// Tokens per window (default: the level's)
    #[arg(long)]
    pub window: Option<usize>,
    /// Tokens of context shown before each window (lockstep: on each side; default: the
    /// level's)
    #[arg(long)]
    pub context: Option<usize>,
    /// Rounds in which a window's tokens are revealed (1: all at once, left context only;
    /// default: the level's)
    #[arg(long)]
    pub rounds: Option<usize>,
    /// How tokens are shared out between rounds (default: the level's)
    #[arg(long, value_enum)]
    pub shape: Option<ShapeArg>,
    /// Most lanes coded side by side per block (0: all windows in lockstep, context both
    /// sides; default: the level's)
    #[arg(long)]
    pub lanes: Option<usize>,
    /// Windows per model call
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Arith: code with the masked LM alone, without the adaptive token model
    #[arg(long)]
    pub no_mix: bool,
    /// Arith: adaptive-model version to write (default: the newest; older ones for comparison)
    #[arg(long, value_name = "N")]
    pub mix_version: Option<u8>,
    /// Bytes of input per independently decodable block (larger: more context for the
    /// adaptive model; smaller: more blocks for --jobs)
    #[arg(long, default_value_t = 1 << 20)]
    pub block_size: usize,
}

/// `--level N`, `-N`, `--fast`, `--best`: at most one of them.
#[derive(Args, Debug, Clone, Default)]
#[group(id = "level_choice", multiple = false)]
pub struct LevelArgs {
    /// Compression level: 1 (fastest) to 9 (smallest), also written -1 … -9 [default: 5].
    /// `llmzip models` shows which model each level uses; explicit options override it
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=9))]
    pub level: Option<u8>,
    /// The fastest level (-1)
    #[arg(long)]
    pub fast: bool,
    /// The smallest level (-9)
    #[arg(long)]
    pub best: bool,
    #[arg(short = '1', hide = true)]
    pub l1: bool,
    #[arg(short = '2', hide = true)]
    pub l2: bool,
    #[arg(short = '3', hide = true)]
    pub l3: bool,
    #[arg(short = '4', hide = true)]
    pub l4: bool,
    #[arg(short = '5', hide = true)]
    pub l5: bool,
    #[arg(short = '6', hide = true)]
    pub l6: bool,
    #[arg(short = '7', hide = true)]
    pub l7: bool,
    #[arg(short = '8', hide = true)]
    pub l8: bool,
    #[arg(short = '9', hide = true)]
    pub l9: bool,
}

impl LevelArgs {
    /// The level asked for, if any.
    pub fn chosen(&self) -> Option<u8> {
        let flags = [self.l1, self.l2, self.l3, self.l4, self.l5, self.l6, self.l7, self.l8, self.l9];
        self.level
            .or(self.fast.then_some(1))
            .or(self.best.then_some(9))
            .or_else(|| flags.iter().position(|&f| f).map(|i| i as u8 + 1))
    }
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
pub struct ModelsArgs {
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct QuantizeArgs {
    /// Directory of the float model (config.json, model.safetensors, tokenizer.json)
    pub model: String,
    /// Text whose activations set the integer scales (not a text you will measure on)
    #[arg(long, value_name = "FILE")]
    pub calibrate: PathBuf,
    /// Directory to write config.json, tokenizer.json and model.int8.safetensors to
    /// (default: the model's own directory)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Calibration tokens used at most
    #[arg(long, default_value_t = 65536)]
    pub tokens: usize,
    /// Quantile of each activation's magnitudes mapped to its largest integer (1 = the maximum)
    #[arg(long, default_value_t = 1.0)]
    pub clip: f64,
    /// Bits of the LayerNorm outputs inside layers (8 or 16)
    #[arg(long, default_value_t = 8, value_parser = bits)]
    pub ln_bits: u8,
    /// Bits of the feed-forward GELU outputs (8 or 16)
    #[arg(long, default_value_t = 8, value_parser = bits)]
    pub gelu_bits: u8,
    /// Bits of the final LayerNorm output (8 or 16)
    #[arg(long, default_value_t = 8, value_parser = bits)]
    pub final_bits: u8,
    /// Bits of the head's LayerNorm output, the output projection's input (8 or 16)
    #[arg(long, default_value_t = 16, value_parser = bits)]
    pub head_bits: u8,
    /// Also compare integer and float log-probabilities on this text (bits per token)
    #[arg(long, value_name = "FILE")]
    pub check: Option<PathBuf>,
}

fn bits(s: &str) -> Result<u8, String> {
    match s {
        "8" => Ok(8),
        "16" => Ok(16),
        _ => Err("8 or 16".into()),
    }
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

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectiveArg {
    /// BERT's random masking at --mask-prob
    Random,
    /// a sampled round of the reveal plan, as compression sees it
    Schedule,
    /// the plan's context visible, then each window position masked with probability
    /// t ~ U(0, 1] drawn per sequence; loss averaged per sequence (for plans of any rounds)
    AnyOrder,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchArg {
    /// post-LayerNorm RoBERTa
    Roberta,
    /// pre-LayerNorm RoBERTa (transformers' RobertaPreLayerNormForMaskedLM)
    RobertaPrelayernorm,
}

#[derive(Args, Debug, Clone)]
pub struct FinetuneArgs {
    /// Corpus: a file, a directory (recursive; *.xz and *.gz read transparently) or "-"
    pub corpus: PathBuf,
    /// Checkpoint to start from (directory or hub id)
    #[arg(short, long, env = "LLMZIP_MODEL", conflicts_with = "from_scratch")]
    pub model: Option<String>,
    /// Output directory (Hugging Face layout)
    #[arg(long)]
    pub out: PathBuf,
    /// Passes over the corpus
    #[arg(long, conflicts_with = "steps")]
    pub epochs: Option<usize>,
    /// Optimizer steps
    #[arg(long)]
    pub steps: Option<usize>,
    /// Stop after this many seconds (checkpoint and output are still written)
    #[arg(long)]
    pub max_seconds: Option<f64>,
    #[arg(long, default_value_t = 5e-4)]
    pub lr: f64,
    /// Sequences per step
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Tokens per sequence, special tokens included
    #[arg(long, default_value_t = 130)]
    pub seq_len: usize,
    #[arg(long, default_value_t = 0.15)]
    pub mask_prob: f32,
    /// Training objective [default: any-order for pre-LayerNorm models, random otherwise]
    #[arg(long, value_enum)]
    pub objective: Option<ObjectiveArg>,
    /// Reveal plan used by --objective schedule and by validation
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    #[arg(long, default_value_t = 32)]
    pub context: usize,
    #[arg(long, default_value_t = 4)]
    pub rounds: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Continue from OUT/checkpoint with its optimizer state
    #[arg(long)]
    pub resume: bool,
    #[arg(long, default_value_t = 0.1)]
    pub dropout: f32,
    #[arg(long, default_value_t = 0.01)]
    pub weight_decay: f64,
    /// Learning-rate warm-up steps
    #[arg(long, default_value_t = 100)]
    pub warmup: usize,
    /// Validate every N steps (0: only at the end)
    #[arg(long, default_value_t = 0)]
    pub eval_every: usize,
    /// Checkpoint every N steps (0: only at the end and on Ctrl-C)
    #[arg(long, default_value_t = 200)]
    pub checkpoint_every: usize,
    /// Held-out text (default: a file named valid* in the corpus directory)
    #[arg(long)]
    pub valid: Option<PathBuf>,
    /// Bytes of the held-out text compressed for validation
    #[arg(long, default_value_t = 32 * 1024)]
    pub valid_bytes: usize,
    /// Train a new byte-level BPE tokenizer and RoBERTa-style model
    #[arg(long)]
    pub from_scratch: bool,
    /// --from-scratch: the architecture
    #[arg(long, value_enum, default_value = "roberta")]
    pub arch: ArchArg,
    #[arg(long, default_value_t = 8000)]
    pub vocab: usize,
    #[arg(long, default_value_t = 4)]
    pub layers: usize,
    #[arg(long, default_value_t = 256)]
    pub hidden: usize,
    #[arg(long, default_value_t = 4)]
    pub heads: usize,
    /// Feed-forward width (default 4 x hidden)
    #[arg(long)]
    pub intermediate: Option<usize>,
    /// Corpus bytes used to train the tokenizer
    #[arg(long, default_value_t = 20_000_000)]
    pub tokenizer_bytes: usize,
}

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Files (default: the smaller texts of ../shared/bench, all of them with --all)
    pub files: Vec<PathBuf>,
    /// Models to measure (repeatable; default: the built-in model)
    #[arg(short, long = "model")]
    pub models: Vec<String>,
    /// Methods to measure (repeatable)
    #[arg(long = "method", value_enum)]
    pub methods: Vec<MethodArg>,
    /// Arith: adaptive-model versions to measure (repeatable; default: the newest)
    #[arg(long = "mix-version", value_name = "N")]
    pub mix_versions: Vec<u8>,
    /// Include the large default texts (lcet10, plrabn12)
    #[arg(long)]
    pub all: bool,
    /// Skip the other compressors (gzip, bzip2, xz, zstd; 7z PPMd and zpaq when installed)
    #[arg(long)]
    pub no_baselines: bool,
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
    /// Draw a PNG chart: bits per byte per file and compressor (with --paper: reconstruction
    /// accuracy against fine-tuning epochs)
    #[arg(long, value_name = "PNG")]
    pub plot: Option<PathBuf>,
    /// The seed paper's experiments instead (heavy): lossy masking at 15% and 50% (per --select) next
    /// to llmzip's lossless methods, and accuracy against fine-tuning epochs (default files:
    /// sample.txt, largesample.txt, othello.txt)
    #[arg(long)]
    pub paper: bool,
    /// --paper: fine-tuning epochs to measure (files under 64 KB only)
    #[arg(long, value_delimiter = ',', default_value = "0,1,2,5,10,20,50,100")]
    pub epochs: Vec<usize>,
    /// --paper: selection strategies to measure (repeatable; default: all three)
    #[arg(long = "select", value_enum)]
    pub selects: Vec<SelectArg>,
    /// --paper: the parts of speech `pos` masks
    #[arg(long, value_delimiter = ',', value_parser = parse_upos, default_value = "NOUN,VERB,ADJ")]
    pub pos_classes: Vec<UPOS>,
}
