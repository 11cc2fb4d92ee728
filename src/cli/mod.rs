//! The `llmzip` program: parse → run → exit code.

pub mod args;
pub mod io;
pub mod progress;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::CommandFactory;
use serde_json::json;

use args::{
    Cli, Command, CompressArgs, DecompressArgs, FinetuneArgs, Global, InfillArgs, InfoArgs, MethodArg, ObjectiveArg,
    ShapeArg, TestArgs,
};
use io::{is_stdio, open_input, Dest};
use llmzip::coding::Method;
use llmzip::container::{self, Header, Record};
use llmzip::schedule::{RevealPlan, Shape};
use llmzip::{Compressor, Decompressor, Error, Hooks, Model, Options};

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
        Command::Compress(a) => compress(&g, a),
        Command::Decompress(a) => decompress(&g, a),
        Command::Test(a) => test(&g, a),
        Command::Info(a) => info(a),
        Command::Infill(a) => infill(&g, a),
        Command::Finetune(a) => finetune(&g, a),
        Command::Bench(a) => bench(&g, a),
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
    device: candle_core::Device,
    loaded: HashMap<String, Arc<Model>>,
    /// blocks coded at once
    jobs: usize,
}

impl Models {
    fn new(g: &Global) -> anyhow::Result<Self> {
        let device = llmzip::model::parse_device(&g.device)?;
        // On the CPU the model's own kernels already use every core; on a GPU the coding
        // (mixing, range coder) is the CPU-bound part, so blocks run side by side (#7).
        let jobs = match g.jobs {
            Some(0) => return Err(Error::Invalid("--jobs must be at least 1".into()).into()),
            Some(n) => n,
            None if device.is_cuda() => std::thread::available_parallelism().map_or(1, |n| n.get()),
            None => 1,
        };
        Ok(Models { device, loaded: HashMap::new(), jobs })
    }
    fn get(&mut self, name: &str) -> anyhow::Result<Arc<Model>> {
        if let Some(m) = self.loaded.get(name) {
            return Ok(m.clone());
        }
        let m = Arc::new(Model::load(name, &self.device)?);
        self.loaded.insert(name.to_string(), m.clone());
        Ok(m)
    }
}

fn require_model(m: &Option<String>) -> anyhow::Result<String> {
    Ok(m.clone().unwrap_or_else(|| llmzip::model::DEFAULT_MODEL.to_string()))
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

fn options(a: &CompressArgs) -> Options {
    Options {
        method: match a.method {
            MethodArg::Arith => Method::Arith,
            MethodArg::Mask => Method::Mask,
        },
        plan: RevealPlan {
            window: a.window,
            context: a.context,
            rounds: a.rounds,
            shape: match a.shape {
                ShapeArg::Uniform => Shape::Uniform,
                ShapeArg::Geometric => Shape::Geometric,
            },
            lanes: a.lanes,
        },
        batch: a.batch,
        mask_rate: a.mask_rate,
        block_size: a.block_size,
        mix: !a.no_mix,
        mix_version: a.mix_version.unwrap_or(llmzip::coding::MIX_VERSION),
        jobs: 1,
    }
}

fn compress(g: &Global, a: CompressArgs) -> anyhow::Result<()> {
    let files = inputs(&a.io.files);
    check_output_args(&a.io, &files)?;
    let mut models = Models::new(g)?;
    let model = models.get(&require_model(&a.io.model)?)?;
    let comp = Compressor::new(&model, Options { jobs: models.jobs, ..options(&a) })?;
    for f in &files {
        let dest = dest_for(f, &a.io, || {
            let mut s = f.as_os_str().to_owned();
            s.push(format!(".{SUFFIX}"));
            Ok(PathBuf::from(s))
        })?;
        dest.check(a.io.force, true)?;
        let input = open_input(f)?;
        let mut sink = dest.open(a.io.force)?;
        let pb = progress::bar(!g.quiet, "compressing");
        let progress = |n: usize| pb.inc(n as u64);
        let hooks = Hooks { progress: &progress, cancel: &cancelled };
        let t = Instant::now();
        let stats =
            comp.compress(input, sink.writer(), &hooks).with_context(|| format!("compressing {}", f.display()))?;
        pb.finish_and_clear();
        sink.finish()?;
        let secs = t.elapsed().as_secs_f64();
        say(
            g,
            format_args!(
                "{}: {} -> {} bytes, {:.3} bits/byte, {} tokens ({} literal, residual {} bytes), {:.1} KB/s (tokenizer {:.2} s, model {:.2} s)",
                f.display(),
                stats.bytes_in,
                stats.bytes_out,
                stats.bytes_out as f64 * 8.0 / stats.bytes_in.max(1) as f64,
                stats.tokens,
                stats.exceptions,
                stats.residual_bytes,
                stats.bytes_in as f64 / 1000.0 / secs.max(1e-9),
                stats.tokenize_seconds,
                llmzip::coding::MODEL_NANOS.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e9
            ),
        );
        if a.io.rm {
            if let Dest::File(out) = &dest {
                verify_against(&mut models, out, f, &a.io.model)?;
                std::fs::remove_file(f).with_context(|| format!("removing {}", f.display()))?;
            }
        }
    }
    Ok(())
}

/// Decodes `compressed` fully and compares it with `original` before `--rm` may delete it.
fn verify_against(
    models: &mut Models,
    compressed: &Path,
    original: &Path,
    model: &Option<String>,
) -> anyhow::Result<()> {
    let mut want = Vec::new();
    std::fs::File::open(original)?.read_to_end(&mut want)?;
    let mut got = Vec::new();
    decode_stream(models, open_input(compressed)?, &mut got, model, &Hooks { progress: &|_| {}, cancel: &cancelled })?;
    if got != want {
        anyhow::bail!("verification of {} failed; {} was kept", compressed.display(), original.display());
    }
    Ok(())
}

/// Decodes every member of a stream (concatenated files decode to the concatenation).
fn decode_stream(
    models: &mut Models,
    mut input: Box<dyn Read>,
    out: &mut dyn Write,
    model: &Option<String>,
    hooks: &Hooks,
) -> anyhow::Result<u64> {
    let mut total = 0;
    let mut first = true;
    while let Some(h) = Header::read(&mut input)? {
        let name = model.clone().unwrap_or_else(|| h.model_name.clone());
        let m = models.get(&name)?;
        let mut d = Decompressor::new(&m, h)?;
        d.jobs = models.jobs;
        total += d.decompress_member(&mut input, out, hooks)?;
        first = false;
    }
    if first {
        return Err(Error::corrupt("empty input: no llmzip member").into());
    }
    Ok(total)
}

fn decompress(g: &Global, a: DecompressArgs) -> anyhow::Result<()> {
    let files = inputs(&a.io.files);
    check_output_args(&a.io, &files)?;
    let mut models = Models::new(g)?;
    for f in &files {
        let dest = dest_for(f, &a.io, || {
            let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
            match name.strip_suffix(&format!(".{SUFFIX}")) {
                Some(stem) if !stem.is_empty() => Ok(f.with_file_name(stem)),
                _ => {
                    Err(Error::Invalid(format!("{} does not end in .{SUFFIX}: use -o NAME or -c", f.display())).into())
                }
            }
        })?;
        dest.check(a.io.force, false)?;
        let input = open_input(f)?;
        let mut sink = dest.open(a.io.force)?;
        let pb = progress::bar(!g.quiet, "decompressing");
        let progress = |n: usize| pb.inc(n as u64);
        let hooks = Hooks { progress: &progress, cancel: &cancelled };
        let t = Instant::now();
        let n = decode_stream(&mut models, input, sink.writer(), &a.io.model, &hooks)
            .with_context(|| format!("decompressing {}", f.display()))?;
        pb.finish_and_clear();
        sink.finish()?;
        say(
            g,
            format_args!(
                "{}: {} bytes, {:.1} KB/s",
                f.display(),
                n,
                n as f64 / 1000.0 / t.elapsed().as_secs_f64().max(1e-9)
            ),
        );
        if a.io.rm && !is_stdio(f) {
            std::fs::remove_file(f).with_context(|| format!("removing {}", f.display()))?;
        }
    }
    Ok(())
}

fn test(g: &Global, a: TestArgs) -> anyhow::Result<()> {
    let mut models = Models::new(g)?;
    for f in inputs(&a.files) {
        let hooks = Hooks { progress: &|_| {}, cancel: &cancelled };
        let n = decode_stream(&mut models, open_input(&f)?, &mut std::io::sink(), &a.model, &hooks)
            .with_context(|| format!("testing {}", f.display()))?;
        if !g.quiet {
            println!("{}: OK ({n} bytes)", f.display());
        }
    }
    Ok(())
}

fn info(a: InfoArgs) -> anyhow::Result<()> {
    let mut all = Vec::new();
    for f in inputs(&a.files) {
        let mut input = io::Counting { inner: open_input(&f)?, n: 0 };
        let mut members = Vec::new();
        let mut orig = 0u64;
        while let Some(h) = Header::read(&mut input)? {
            let mut blocks = 0u64;
            loop {
                match container::read_record(&mut input, h.version)? {
                    Record::Block(_) => blocks += 1,
                    Record::End { total_len, .. } => {
                        orig += total_len;
                        break;
                    }
                }
            }
            members.push(json!({
                "version": h.version,
                "method": h.method.name(),
                "model": h.model_name,
                "fingerprint": llmzip::model::hex(&h.fingerprint),
                "numerics": h.numerics,
                "window": h.plan.window,
                "context": h.plan.context,
                "rounds": h.plan.rounds,
                "shape": h.plan.shape.name(),
                "lanes": h.plan.lanes,
                "batch": h.batch,
                "mix": h.mix,
                "mask_rate": h.mask_rate,
                "block_size": h.block_size,
                "blocks": blocks,
            }));
        }
        if members.is_empty() {
            return Err(Error::NotLlmz.into());
        }
        let comp = input.n;
        let bpb = if orig > 0 { comp as f64 * 8.0 / orig as f64 } else { 0.0 };
        let v = json!({
            "file": f.display().to_string(),
            "original_bytes": orig,
            "compressed_bytes": comp,
            "ratio": if comp > 0 { orig as f64 / comp as f64 } else { 0.0 },
            "bits_per_byte": bpb,
            "members": members,
        });
        if !a.json {
            println!(
                "{}: {} -> {} bytes, ratio {:.3}, {:.3} bits/byte",
                f.display(),
                orig,
                comp,
                v["ratio"].as_f64().unwrap(),
                bpb
            );
            for m in v["members"].as_array().unwrap() {
                println!(
                    "  method {}{}  model {} ({})  numerics {}\n  schedule: window {} context {} rounds {} {} lanes {}  batch {}  blocks {}",
                    m["method"].as_str().unwrap(),
                    match m["mix"].as_u64() {
                        Some(v @ 1..) if m["method"] == "arith" => format!(" + adaptive model v{v}"),
                        _ => String::new(),
                    },
                    m["model"].as_str().unwrap(),
                    &m["fingerprint"].as_str().unwrap()[..16],
                    m["numerics"].as_str().unwrap(),
                    m["window"],
                    m["context"],
                    m["rounds"],
                    m["shape"].as_str().unwrap(),
                    m["lanes"],
                    m["batch"],
                    m["blocks"]
                );
            }
        }
        all.push(v);
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&if all.len() == 1 { all.pop().unwrap() } else { json!(all) })?);
    }
    Ok(())
}

fn infill(g: &Global, a: InfillArgs) -> anyhow::Result<()> {
    let mut models = Models::new(g)?;
    let model = models.get(&require_model(&a.model)?)?;
    let tok = model.tokenizer.inner();
    let enc = tok.encode(a.text.as_str(), true).map_err(|e| Error::Tokenizer(e.to_string()))?;
    let ids: Vec<u32> = enc.get_ids().to_vec();
    let mask = model.tokenizer.ids.mask;
    let positions: Vec<usize> = ids.iter().enumerate().filter(|(_, &t)| t == mask).map(|(i, _)| i).collect();
    if positions.is_empty() {
        let m = tok.id_to_token(mask).unwrap_or_default();
        return Err(
            Error::Invalid(format!("the text has no mask token (write {m} where a word should be predicted)")).into()
        );
    }
    if ids.len() > model.lm.max_sequence() {
        return Err(Error::Invalid(format!(
            "text is {} tokens; the model takes {}",
            ids.len(),
            model.lm.max_sequence()
        ))
        .into());
    }
    let sel: Vec<(usize, usize)> = positions.iter().map(|&p| (0, p)).collect();
    let lp = model.lm.log_probs(&[ids], &sel)?;
    let v = model.lm.vocab_size();
    let mut masks = Vec::new();
    for (k, &p) in positions.iter().enumerate() {
        let row = &lp[k * v..(k + 1) * v];
        let mut idx: Vec<usize> = (0..v).collect();
        idx.sort_by(|&x, &y| row[y].total_cmp(&row[x]).then(x.cmp(&y)));
        let top: Vec<_> = idx
            .iter()
            .take(a.top_k.max(1))
            .map(|&i| json!({"id": i, "token": tok.id_to_token(i as u32).unwrap_or_default(), "logprob": row[i]}))
            .collect();
        masks.push(json!({"position": p, "top": top}));
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&json!({"model": model.name, "masks": masks}))?);
    } else {
        for (k, m) in masks.iter().enumerate() {
            let line: Vec<String> = m["top"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| format!("{} ({:.3})", t["token"].as_str().unwrap(), t["logprob"].as_f64().unwrap()))
                .collect();
            println!("mask {}: {}", k + 1, line.join("  "));
        }
    }
    Ok(())
}

fn finetune(g: &Global, a: FinetuneArgs) -> anyhow::Result<()> {
    use llmzip::train::{self, scratch::Size, Objective, TrainOptions};
    let device = llmzip::model::parse_device(&g.device)?;
    let o = TrainOptions {
        corpus: a.corpus.clone(),
        model: Some(require_model(&a.model)?),
        scratch: a.from_scratch.then(|| Size {
            vocab: a.vocab,
            layers: a.layers,
            hidden: a.hidden,
            heads: a.heads,
            intermediate: a.intermediate.unwrap_or(4 * a.hidden),
            seq_len: a.seq_len,
        }),
        out: a.out.clone(),
        epochs: a.epochs.or(if a.steps.is_none() && a.max_seconds.is_none() { Some(1) } else { None }),
        steps: a.steps,
        lr: a.lr,
        batch: a.batch,
        seq_len: a.seq_len,
        mask_prob: a.mask_prob,
        objective: match a.objective {
            ObjectiveArg::Random => Objective::Random,
            ObjectiveArg::Schedule => Objective::Schedule,
        },
        plan: RevealPlan { window: a.window, context: a.context, rounds: a.rounds, shape: Shape::Geometric, lanes: 1 },
        seed: a.seed,
        resume: a.resume,
        dropout: a.dropout,
        weight_decay: a.weight_decay,
        warmup: a.warmup,
        eval_every: a.eval_every,
        checkpoint_every: a.checkpoint_every,
        valid: a.valid.clone(),
        valid_bytes: a.valid_bytes,
        tokenizer_bytes: a.tokenizer_bytes,
        max_seconds: a.max_seconds,
    };
    let pb = if g.quiet { indicatif::ProgressBar::hidden() } else { progress::training_bar(a.steps) };
    let on_step = |step: usize, loss: f32, tps: f64| {
        pb.set_position(step as u64);
        pb.set_message(format!("loss {loss:.3}, {tps:.0} tok/s"));
    };
    let on_eval = |e: &serde_json::Value| {
        if !g.quiet {
            let line = format!(
                "step {}: validation {:.4} bits/byte, {:.3} bits/token",
                e["step"],
                e["bits_per_byte"].as_f64().unwrap_or(0.0),
                e["bits_per_token"].as_f64().unwrap_or(0.0)
            );
            if pb.is_hidden() {
                eprintln!("{line}");
            } else {
                pb.println(line);
            }
        }
    };
    let warn = |m: &str| eprintln!("llmzip: warning: {m}");
    let cb = train::Callbacks { on_step: &on_step, on_eval: &on_eval, cancel: &cancelled, warn: &warn };
    let r = train::run(&o, &device, &cb);
    pb.finish_and_clear();
    if matches!(r, Err(Error::Interrupted)) {
        eprintln!("llmzip: interrupted; checkpoint saved in {}/checkpoint (continue with --resume)", a.out.display());
    }
    let r = r?;
    if !g.quiet {
        eprintln!(
            "trained {} steps, {} tokens in {:.1} s; final loss {:.4}; model in {}",
            r.steps,
            r.tokens_seen,
            r.seconds,
            r.final_loss,
            a.out.display()
        );
    }
    Ok(())
}

fn bench(g: &Global, a: args::BenchArgs) -> anyhow::Result<()> {
    use llmzip::bench;
    let files: Vec<PathBuf> = if a.files.is_empty() {
        let dir = Path::new("../shared/bench");
        let mut names = vec!["alice29.txt", "asyoulik.txt", "sample.txt", "largesample.txt", "othello.txt"];
        if a.all {
            names.extend(["lcet10.txt", "plrabn12.txt"]);
        }
        if a.paper {
            names = vec!["sample.txt", "largesample.txt", "othello.txt"];
        }
        let v: Vec<PathBuf> = names.iter().map(|n| dir.join(n)).filter(|p| p.exists()).collect();
        if v.is_empty() {
            return Err(Error::Invalid("no files given and ../shared/bench not found".into()).into());
        }
        v
    } else {
        a.files.clone()
    };
    let model_names =
        if a.models.is_empty() { vec![llmzip::model::DEFAULT_MODEL.to_string()] } else { a.models.clone() };
    if a.paper {
        return paper(g, &a, &files, &model_names[0]);
    }
    let methods = if a.methods.is_empty() { vec![MethodArg::Arith] } else { a.methods.clone() };
    let mut models = Models::new(g)?;
    let mut rows = Vec::new();
    for f in &files {
        let data = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for mname in &model_names {
            let m = models.get(mname)?;
            for method in &methods {
                let o = bench::method_options(match method {
                    MethodArg::Arith => Method::Arith,
                    MethodArg::Mask => Method::Mask,
                });
                let versions = if a.mix_versions.is_empty() || o.method != Method::Arith {
                    vec![None]
                } else {
                    a.mix_versions.iter().map(|&v| Some(v)).collect()
                };
                for v in versions {
                    let o = Options { mix_version: v.unwrap_or(o.mix_version), ..o.clone() };
                    let mut r = bench::measure_llmzip(&name, &data, &m, &o)?;
                    if let Some(v) = v {
                        r.compressor.push_str(&format!(" mix v{v}"));
                    }
                    say(g, format_args!("{} {}: {:.3} bits/byte", r.file, r.compressor, r.bits_per_byte));
                    rows.push(r);
                }
            }
        }
        if !a.no_baselines {
            for (tool, level) in bench::TOOLS {
                if let Some(r) = bench::measure_tool(&name, &data, tool, level) {
                    rows.push(r?);
                }
            }
            for arc in &bench::ARCHIVERS {
                match bench::measure_archiver(&name, &data, arc) {
                    Some(r) => rows.push(r?),
                    None if !g.quiet => {
                        eprintln!("note: {} skipped: not installed (apt-get install {})", arc.name, arc.package)
                    }
                    None => {}
                }
            }
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", bench::markdown(&rows));
    }
    if let Some(p) = &a.plot {
        bench::plot::bits_per_byte_chart(&rows, p)?;
        say(g, format_args!("chart written to {}", p.display()));
    }
    Ok(())
}

/// `bench --paper`: the seed paper's experiments (#5).
fn paper(g: &Global, a: &args::BenchArgs, files: &[PathBuf], model_name: &str) -> anyhow::Result<()> {
    use llmzip::bench::{self, paper};
    let mut models = Models::new(g)?;
    let base = models.get(model_name)?;
    let mut sizes = Vec::new();
    let mut curve = Vec::new();
    for f in files {
        let data = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let arith = bench::measure_llmzip(&name, &data, &base, &bench::method_options(Method::Arith))?;
        for rate in [0.15, 0.5] {
            let l = paper::lossy(&base, &name, &data, rate, 0, 0)?;
            let o = Options { mask_rate: rate as f32, ..bench::method_options(Method::Mask) };
            let m = bench::measure_llmzip(&name, &data, &base, &o)?;
            say(
                g,
                format_args!(
                    "{name} {:.0}%: lossy {} bytes, {:.1}% lines",
                    rate * 100.0,
                    l.stored_bytes,
                    l.lines_exact
                ),
            );
            sizes.push((l, m.bytes_out as usize, arith.bytes_out as usize));
        }
        if data.len() < 64 << 10 {
            let tmp = tempfile::tempdir()?;
            for &e in &a.epochs {
                let tuned;
                let m = if e == 0 {
                    &base
                } else {
                    tuned = paper::finetuned(&base, f, e, &tmp.path().join(format!("e{e}")), &models.device)?;
                    &tuned
                };
                for rate in [0.15, 0.5] {
                    let l = paper::lossy(m, &name, &data, rate, 0, e)?;
                    say(g, format_args!("{name} {e} epochs {:.0}%: {:.1}% tokens", rate * 100.0, l.token_accuracy));
                    curve.push(l);
                }
            }
        }
    }
    if a.json {
        let sizes: Vec<_> = sizes
            .iter()
            .map(|(l, m, ar)| serde_json::json!({"lossy": l, "llmzip_mask_bytes": m, "llmzip_arith_bytes": ar}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"sizes": sizes, "epochs": curve}))?);
    } else {
        print!("{}\n{}", paper::markdown_sizes(&sizes), paper::markdown_epochs(&curve));
    }
    if let Some(p) = &a.plot {
        let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
        for l in &curve {
            let key = format!("{} {:.0}% masked", l.file, l.mask_rate * 100.0);
            let point = (l.epochs as f64, l.token_accuracy);
            match series.iter_mut().find(|s| s.0 == key) {
                Some(s) => s.1.push(point),
                None => series.push((key, vec![point])),
            }
        }
        bench::plot::line_chart(&series, "masked tokens restored by infilling", "fine-tuning epochs", "% restored", p)?;
        say(g, format_args!("chart written to {}", p.display()));
    }
    Ok(())
}
