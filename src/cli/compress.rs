//! `llmzip compress`: files or stdin → .llmz, written atomically.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::args::{parse_upos, Global, MethodArg, OutputArgs, SelectArg, ShapeArg};
use super::io::{open_input, Dest};
use super::{check_output_args, decode_stream, dest_for, inputs, levels, quiet_hooks, say, through, Models};
use llmzip::coding::Method;
use llmzip::schedule::{Lanes, RevealPlan, Settle};
use llmzip::{Compressor, Options, Stats};

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
    pub pos_classes: Vec<llmzip::text::pos::UPOS>,
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
    /// Lanes: after AFTER tokens of a block, code each window as sub-windows of WINDOW tokens
    /// in one round each, as AFTER,WINDOW; `none` keeps the rounds throughout (default: the
    /// level's)
    #[arg(long, value_name = "AFTER,WINDOW", value_parser = parse_settle)]
    pub settle: Option<SettleArg>,
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

pub fn run(g: &Global, a: CompressArgs) -> anyhow::Result<()> {
    let files = inputs(&a.io.files);
    check_output_args(&a.io, &files)?;
    let models = Models::new(g)?;
    let model = models.get(&model_name(&a))?;
    for f in &files {
        let dest = dest_for(f, &a.io, || {
            let mut s = f.as_os_str().to_owned();
            s.push(format!(".{}", super::SUFFIX));
            Ok(PathBuf::from(s))
        })?;
        // a refusal (an existing output, a terminal) comes before a pipe is read from
        dest.check(a.io.force, true)?;
        let opts = Options { jobs: models.jobs, memory: models.memory, ..options(&a, model.lm.causal()) };
        let comp = Compressor::new(&model, opts)?;
        let jobs = comp.jobs()?;
        if jobs < models.jobs && !g.quiet {
            let within = if models.memory.is_some() { "--memory" } else { "the available memory" };
            eprintln!(
                "llmzip: note: {} blocks at once would not fit in {within} (about {} MB each): coding {jobs} at once (the output is the same)",
                models.jobs,
                comp.need().per_block.div_ceil(1 << 20)
            );
        }
        let (stats, secs) = through(g, f, &dest, a.io.force, true, "compressing", |input, out, hooks| {
            comp.compress(input, out, hooks).with_context(|| format!("compressing {}", f.display()))
        })?;
        say(g, summary(f, &stats, secs));
        if a.io.rm {
            if let Dest::File(out) = &dest {
                verify_against(&models, out, f, &a.io.model)?;
                std::fs::remove_file(f).with_context(|| format!("removing {}", f.display()))?;
            }
        }
    }
    Ok(())
}

/// The settings for a model that is `causal` or not: the level's (its plan for that kind of
/// model, [`levels::Level::plan_for`]), with whatever was given explicitly instead.
fn options(a: &CompressArgs, causal: bool) -> Options {
    let level = levels::get(a.level.chosen().unwrap_or(levels::DEFAULT));
    let plan = level.plan_for(causal);
    let lanes = a.lanes.map(Lanes::from_count).unwrap_or(plan.lanes);
    let window = a.window.unwrap_or(plan.window);
    // a level's settled part goes where the plan can hold it (lanes, sub-windows no wider than
    // the window); an explicit --settle is checked as given
    let level_settle = plan.settle.filter(|s| lanes != Lanes::Lockstep && s.window <= window);
    // a causal model codes with arith (the mask method needs a masked model)
    let level_method = if causal { Method::Arith } else { level.method };
    Options {
        method: a.method.map_or(level_method, Into::into),
        plan: RevealPlan {
            window,
            context: a.context.unwrap_or(plan.context),
            rounds: a.rounds.unwrap_or(plan.rounds),
            shape: a.shape.map_or(plan.shape, Into::into),
            lanes,
            settle: a.settle.map_or(level_settle, |s| s.0),
        },
        batch: a.batch,
        mask_rate: a.mask_rate,
        select: a.select.into(),
        pos_classes: a.pos_classes.clone(),
        block_size: a.block_size,
        mix: level.mix && !a.no_mix,
        mix_version: a.mix_version.unwrap_or(level.mix_version),
        jobs: 1,
        memory: None,
        // a plan given in part is taken as given
        structured_plan: level.structured_for(causal).filter(|_| !plan_given(a)),
    }
}

/// Whether any part of the plan was given explicitly.
fn plan_given(a: &CompressArgs) -> bool {
    a.lanes.is_some()
        || a.window.is_some()
        || a.context.is_some()
        || a.rounds.is_some()
        || a.shape.is_some()
        || a.settle.is_some()
}

/// The model: the one given, else the level's.
fn model_name(a: &CompressArgs) -> String {
    let level = levels::get(a.level.chosen().unwrap_or(levels::DEFAULT));
    a.io.model.clone().unwrap_or_else(|| level.model.to_string())
}

/// The `-v` line for one file.
fn summary(f: &Path, s: &Stats, secs: f64) -> String {
    format!(
        "{}: {} -> {} bytes, {:.3} bits/byte, {} tokens ({}{} literal, residual {} bytes), {:.1} KB/s (tokenizer {:.2} s, model {:.2} s){}",
        f.display(),
        s.bytes_in,
        s.bytes_out,
        s.bytes_out as f64 * 8.0 / s.bytes_in.max(1) as f64,
        s.tokens,
        if s.masked > 0 { format!("{} masked, ", s.masked) } else { String::new() },
        s.exceptions,
        s.residual_bytes,
        s.bytes_in as f64 / 1000.0 / secs.max(1e-9),
        s.tokenize_seconds,
        s.model_seconds,
        super::memory_note(s.jobs as usize, llmzip::memory::Need { per_block: s.block_bytes, shared: s.shared_bytes }),
    )
}

/// Decodes `compressed` fully and compares it with `original` before `--rm` may delete it.
fn verify_against(models: &Models, compressed: &Path, original: &Path, model: &Option<String>) -> anyhow::Result<()> {
    let mut want = Vec::new();
    std::fs::File::open(original)?.read_to_end(&mut want)?;
    let mut got = Vec::new();
    decode_stream(models, open_input(compressed)?, &mut got, model, &quiet_hooks())?;
    if got != want {
        anyhow::bail!("verification of {} failed; {} was kept", compressed.display(), original.display());
    }
    Ok(())
}

/// `--settle`'s value: `none` or AFTER,WINDOW.
#[derive(Debug, Clone, Copy)]
pub struct SettleArg(Option<Settle>);

fn parse_settle(s: &str) -> Result<SettleArg, String> {
    if s == "none" {
        return Ok(SettleArg(None));
    }
    let bad = || format!("'{s}': expected AFTER,WINDOW (tokens, e.g. 30000,8) or none");
    let (after, window) = s.split_once(',').ok_or_else(bad)?;
    let (after, window) = (after.trim().parse().map_err(|_| bad())?, window.trim().parse().map_err(|_| bad())?);
    Ok(SettleArg(Some(Settle { after, window })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(argv: &[&str]) -> CompressArgs {
        match super::super::Cli::parse_from([&["llmzip", "compress"], argv, &["x.txt"]].concat()).command {
            super::super::Command::Compress(a) => a,
            c => panic!("{c:?}"),
        }
    }

    /// Regression: a level's settled part once made plans the coder refused (a `--window`
    /// narrower than its sub-windows, lockstep lanes). The default now codes one token at a
    /// time, which fits any window; lockstep lanes still drop it, and an explicit `--settle`
    /// is kept as given.
    #[test]
    fn a_level_s_settled_part_yields_to_the_plan_given() {
        let one = Some(llmzip::schedule::Settle { after: 0, window: 1 });
        let masked = |argv: &[&str]| options(&args(argv), false).plan.settle;
        assert_eq!(masked(&[]), one, "a masked model codes one token at a time");
        assert_eq!(masked(&["--window", "1"]), one);
        assert_eq!(masked(&["--lanes", "0"]), None);
        let s = masked(&["--window", "4", "--settle", "10,2"]).unwrap();
        assert_eq!((s.after, s.window), (10, 2));
    }

    /// A model given with `--model` takes the level's plan when it fits its kind, else the
    /// plan of its kind; explicit options still win.
    #[test]
    fn a_model_takes_a_plan_of_its_own_kind() {
        use llmzip::schedule::Shape;
        let o = options(&args(&["-2"]), true);
        assert_eq!((o.plan, o.method), (levels::CAUSAL_PLAN, Method::Arith));
        let o = options(&args(&["-2", "--context", "9"]), true);
        assert_eq!((o.plan.shape, o.plan.context), (Shape::Causal, 9));
        assert_eq!(options(&args(&["-5"]), false).plan, levels::MASKED_PLAN);
        assert_eq!(options(&args(&["-2"]), false).plan, levels::get(2).plan);
        assert_eq!(options(&args(&["-1"]), false).method, Method::Mask);
    }
}
