//! The `llmzip` program: parse → run → exit code. The command line is defined once, with clap
//! derive ([`Cli`]; man page and completions come from it too). One file per command, with
//! its flags and its run; what they share (loaded models, where outputs go, cancellation) is
//! here, the shared flags in `args.rs`.

pub mod args;
mod bench;
mod compress;
mod decompress;
mod finetune;
mod infill;
mod info;
pub mod io;
pub mod levels;
mod models;
pub mod progress;
mod quantize;
mod test;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::{CommandFactory, Parser, Subcommand};

use args::Global;
use bench::BenchArgs;
use compress::CompressArgs;
use decompress::DecompressArgs;
use finetune::FinetuneArgs;
use infill::InfillArgs;
use info::InfoArgs;
use io::{is_stdio, Dest};
use llmzip::{Error, Hooks, Model};
use models::ModelsArgs;
use quantize::QuantizeArgs;
use test::TestArgs;

#[derive(Parser, Debug)]
#[command(name = "llmzip", version, about = "Lossless text compression with masked language models", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: Global,
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

pub const SUFFIX: &str = "llmz";

static CANCEL: AtomicBool = AtomicBool::new(false);

fn cancelled() -> bool {
    CANCEL.load(Ordering::Relaxed)
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(n) = cli.global.threads {
        if n == 0 {
            return Err(Error::Invalid("--threads must be at least 1".into()).into());
        }
        // candle's CPU kernels size their parallelism from this variable.
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
    // Ctrl-C: stop at the next model call; temp outputs are removed as their owners drop.
    let _ = ctrlc::set_handler(|| CANCEL.store(true, Ordering::Relaxed));
    let g = cli.global.clone();
    match cli.command {
        Command::Compress(a) => compress::run(&g, a),
        Command::Decompress(a) => decompress::run(&g, a),
        Command::Test(a) => test::run(&g, a),
        Command::Info(a) => info::run(a),
        Command::Infill(a) => infill::run(&g, a),
        Command::Finetune(a) => finetune::run(&g, a),
        Command::Bench(a) => bench::run(&g, a),
        Command::Models(a) => models::run(a),
        Command::Quantize(a) => quantize::run(&g, a),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "llmzip", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            Ok(())
        }
    }
}

/// Loaded models by name, so several files cost one load.
struct Models {
    device: llmzip::model::DeviceSpec,
    loaded: RefCell<HashMap<String, Arc<Model>>>,
    /// blocks coded at once
    jobs: usize,
    /// bytes the blocks in flight may take beyond the model (`--memory`)
    memory: Option<u64>,
}

impl Models {
    fn new(g: &Global) -> anyhow::Result<Self> {
        let device: llmzip::model::DeviceSpec = g.device.parse()?;
        // On the CPU the model's own kernels already use every core; on a GPU the coding
        // (mixing, range coder) is the CPU-bound part, so blocks run side by side.
        let jobs = match g.jobs {
            Some(0) => return Err(Error::Invalid("--jobs must be at least 1".into()).into()),
            Some(n) => n,
            None if device.is_gpu() => std::thread::available_parallelism().map_or(1, |n| n.get()),
            None => 1,
        };
        let memory = g.memory.map(|mb| mb.saturating_mul(1 << 20));
        Ok(Models { device, loaded: RefCell::new(HashMap::new()), jobs, memory })
    }

    fn get(&self, name: &str) -> llmzip::Result<Arc<Model>> {
        self.cached(name.to_string(), || Model::load(name, &self.device))
    }

    /// The model `name` on the engine that computed `numerics` (integer or float).
    fn get_for(&self, name: &str, numerics: &str) -> llmzip::Result<Arc<Model>> {
        if let Some(m) = self.loaded.borrow().get(name).filter(|m| m.numerics() == numerics) {
            return Ok(m.clone());
        }
        self.cached(format!("{name}\0{numerics}"), || Model::load_for(name, &self.device, numerics))
    }

    fn cached(&self, key: String, load: impl FnOnce() -> llmzip::Result<Model>) -> llmzip::Result<Arc<Model>> {
        if let Some(m) = self.loaded.borrow().get(&key) {
            return Ok(m.clone());
        }
        let m = Arc::new(load()?);
        self.loaded.borrow_mut().insert(key, m.clone());
        Ok(m)
    }
}

fn require_model(m: &Option<String>) -> String {
    m.clone().unwrap_or_else(|| llmzip::model::DEFAULT_MODEL.to_string())
}

fn inputs(files: &[PathBuf]) -> Vec<PathBuf> {
    if files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        files.to_vec()
    }
}

fn dest_for(
    input: &Path,
    a: &args::OutputArgs,
    name: impl FnOnce() -> anyhow::Result<PathBuf>,
) -> anyhow::Result<Dest> {
    if a.stdout || is_stdio(input) && a.output.is_none() {
        return Ok(Dest::Stdout);
    }
    match &a.output {
        Some(o) if is_stdio(o) => Ok(Dest::Stdout),
        Some(o) => Ok(Dest::File(o.clone())),
        None => Ok(Dest::File(name()?)),
    }
}

fn check_output_args(a: &args::OutputArgs, files: &[PathBuf]) -> anyhow::Result<()> {
    if a.output.is_some() && files.len() > 1 {
        return Err(Error::Invalid("-o/--output takes one input file".into()).into());
    }
    if a.rm && (a.stdout || files.iter().any(|f| is_stdio(f))) {
        return Err(Error::Invalid("--rm needs file input and file output".into()).into());
    }
    if files.iter().filter(|f| is_stdio(f)).count() > 1 {
        return Err(Error::Invalid("standard input can be read only once".into()).into());
    }
    Ok(())
}

fn say(g: &Global, msg: impl std::fmt::Display) {
    if g.verbose {
        eprintln!("{msg}");
    }
}

/// Runs `work` on input `f` into `dest`: refuses to clobber first (and, for `compressed`
/// output, a terminal), shows progress, stops on Ctrl-C, writes atomically and gives the
/// output the source's mode and times. Returns what `work` returned and the seconds it took.
fn through<T>(
    g: &Global,
    f: &Path,
    dest: &Dest,
    force: bool,
    compressed: bool,
    label: &str,
    work: impl FnOnce(Box<dyn std::io::Read>, &mut dyn std::io::Write, &Hooks) -> anyhow::Result<T>,
) -> anyhow::Result<(T, f64)> {
    dest.check(force, compressed)?;
    let stamp = io::source_stamp(f);
    let input = io::open_input(f)?;
    let mut sink = dest.open(force)?;
    let pb = progress::bar(!g.quiet, label);
    let progress = |n: usize| pb.inc(n as u64);
    let hooks = Hooks { progress: &progress, cancel: &cancelled };
    let t = std::time::Instant::now();
    let out = work(input, sink.writer(), &hooks)?;
    pb.finish_and_clear();
    sink.finish(stamp.as_ref())?;
    Ok((out, t.elapsed().as_secs_f64()))
}

/// The `-v` words on the blocks coded at once and the memory they were counted to take.
fn memory_note(jobs: usize, need: llmzip::memory::Need) -> String {
    format!(
        ", {jobs} blocks at once (memory: at most {} MB each and {} MB besides)",
        need.per_block.div_ceil(1 << 20),
        need.shared.div_ceil(1 << 20)
    )
}

/// Hooks that only listen for Ctrl-C.
fn quiet_hooks() -> Hooks<'static> {
    Hooks { progress: &|_| {}, cancel: &cancelled }
}

/// Decodes a whole stream: with `model` if given, else with the model each member names.
fn decode_stream(
    models: &Models,
    input: impl std::io::Read,
    out: &mut dyn std::io::Write,
    model: &Option<String>,
    hooks: &Hooks,
) -> llmzip::Result<u64> {
    // the model given for every member (its fingerprint is still checked), or each member's own
    let load = |name: &str, numerics: &str| models.get_for(model.as_deref().unwrap_or(name), numerics);
    llmzip::Decompressor::by_engine(&load, models.jobs).with_memory(models.memory).decompress(input, out, hooks)
}
