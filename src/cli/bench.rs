//! `llmzip bench`: llmzip beside gzip, bzip2, xz and zstd on the same files, in one run;
//! `--paper`: the seed paper's experiments.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::args::{parse_upos, Global, MethodArg, SelectArg};
use super::{say, Models};
use llmzip::coding::select::Select;
use llmzip::coding::Method;
use llmzip::{Error, Options};

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
    /// Arith: adaptive-model versions to measure, one row each (repeatable; 0 = the LM alone,
    /// `--no-mix`; default: what new files use)
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
    pub pos_classes: Vec<llmzip::text::pos::UPOS>,
}

impl BenchArgs {
    /// The files given, or the default texts of ../shared/bench that are there.
    fn texts(&self) -> anyhow::Result<Vec<PathBuf>> {
        if !self.files.is_empty() {
            return Ok(self.files.clone());
        }
        let dir = Path::new("../shared/bench");
        let mut names = vec!["alice29.txt", "asyoulik.txt", "sample.txt", "largesample.txt", "othello.txt"];
        if self.all {
            names.extend(["lcet10.txt", "plrabn12.txt"]);
        }
        if self.paper {
            names = vec!["sample.txt", "largesample.txt", "othello.txt"];
        }
        let v: Vec<PathBuf> = names.iter().map(|n| dir.join(n)).filter(|p| p.exists()).collect();
        if v.is_empty() {
            return Err(Error::Invalid("no files given and ../shared/bench not found".into()).into());
        }
        Ok(v)
    }
}

pub fn run(g: &Global, a: BenchArgs) -> anyhow::Result<()> {
    use llmzip::bench;
    let files = a.texts()?;
    // what `llmzip compress` writes when given no level: the default level's model and settings
    let level = super::levels::get(super::levels::DEFAULT);
    let model_names = if a.models.is_empty() { vec![level.model.to_string()] } else { a.models.clone() };
    if a.paper {
        let name = if a.models.is_empty() { super::levels::PAPER_MODEL } else { &model_names[0] };
        return paper(g, &a, &files, name);
    }
    let methods = if a.methods.is_empty() { vec![MethodArg::Arith] } else { a.methods.clone() };
    let models = Models::new(g)?;
    let mut rows = Vec::new();
    for f in &files {
        let data = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for mname in &model_names {
            let m = models.get(mname)?;
            for method in &methods {
                let o = level.options((*method).into(), m.lm.causal());
                // arith: one row per adaptive-model version asked for, 0 = the LM alone
                let versions = if a.mix_versions.is_empty() || o.method != Method::Arith {
                    vec![None]
                } else {
                    a.mix_versions.iter().map(|&v| Some(v)).collect()
                };
                for v in versions {
                    let o = match v {
                        Some(0) => Options { mix: false, ..o.clone() },
                        Some(v) => Options { mix_version: v, ..o.clone() },
                        None => o.clone(),
                    };
                    let mut r = bench::measure_llmzip(&name, &data, &m, &o)?;
                    match v {
                        Some(0) => r.compressor.push_str(" --no-mix"),
                        Some(v) => r.compressor.push_str(&format!(" mix v{v}")),
                        None => {}
                    }
                    say(g, format_args!("{} {}: {:.3} bits/byte", r.file, r.compressor, r.bits_per_byte));
                    rows.push(r);
                }
            }
        }
        if !a.no_baselines {
            baselines(g, &name, &data, &mut rows)?;
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

/// The other compressors on one file: the stream tools, and the archivers installed.
fn baselines(g: &Global, name: &str, data: &[u8], rows: &mut Vec<llmzip::bench::Row>) -> anyhow::Result<()> {
    use llmzip::bench;
    for (tool, level) in bench::TOOLS {
        if let Some(r) = bench::measure_tool(name, data, tool, level) {
            rows.push(r?);
        }
    }
    for arc in &bench::ARCHIVERS {
        match bench::measure_archiver(name, data, arc) {
            Some(r) => rows.push(r?),
            None if !g.quiet => {
                eprintln!("note: {} skipped: not installed (apt-get install {})", arc.name, arc.package)
            }
            None => {}
        }
    }
    Ok(())
}

/// `bench --paper`: the seed paper's experiments, for each selection strategy.
fn paper(g: &Global, a: &BenchArgs, files: &[PathBuf], model_name: &str) -> anyhow::Result<()> {
    use llmzip::bench::paper;
    let models = Models::new(g)?;
    let base = models.get(model_name)?;
    // fine-tuning needs float weights: say so before hours of measuring, not after the first text
    if a.epochs.iter().any(|&e| e > 0) && llmzip::model::resolve(model_name)?.weights.is_empty() {
        anyhow::bail!(
            "{model_name} holds only an integer version, and --epochs above 0 fine-tune it: use --epochs 0, \
             or --model DIR with its float weights (model.safetensors)"
        );
    }
    let selects: Vec<Select> =
        if a.selects.is_empty() { Select::ALL.to_vec() } else { a.selects.iter().map(|&s| s.into()).collect() };
    let mut sizes = Vec::new();
    let mut curve = Vec::new();
    for f in files {
        let data = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        sizes.extend(paper_sizes(g, a, &base, &name, &data, &selects)?);
        if data.len() < 64 << 10 {
            let tmp = tempfile::tempdir()?;
            for &e in &a.epochs {
                let tuned;
                let t = std::time::Instant::now();
                let m = if e == 0 {
                    &base
                } else {
                    tuned = paper::finetuned(&base, f, e, &tmp.path().join(format!("e{e}")), &models.device)?;
                    &tuned
                };
                let secs = if e == 0 { 0.0 } else { t.elapsed().as_secs_f64() };
                for rate in [0.15, 0.5] {
                    for &select in &selects {
                        let mut l = paper::lossy(m, &name, &data, rate, &how(a, select), e)?;
                        l.finetune_seconds = secs;
                        let (r, s, acc) = (rate * 100.0, select.name(), l.token_accuracy);
                        say(g, format_args!("{name} {e} epochs ({secs:.1} s) {r:.0}% {s}: {acc:.1}% tokens"));
                        curve.push(l);
                    }
                }
            }
        }
    }
    paper_report(g, a, &sizes, &curve)
}

fn how(a: &BenchArgs, select: Select) -> llmzip::bench::paper::How {
    llmzip::bench::paper::How { select, classes: a.pos_classes.clone(), seed: 0 }
}

/// The lossy rows of one text at 15% and 50%, with llmzip's lossless sizes beside them.
fn paper_sizes(
    g: &Global,
    a: &BenchArgs,
    base: &llmzip::Model,
    name: &str,
    data: &[u8],
    selects: &[Select],
) -> anyhow::Result<Vec<llmzip::bench::paper::SizeRow>> {
    use llmzip::bench::{self, paper};
    // arith at the mask column's plan, and as `llmzip compress` writes it with this model
    let arith = bench::measure_llmzip(name, data, base, &bench::method_options(Method::Arith))?;
    let level = super::levels::get(super::levels::DEFAULT).options(Method::Arith, base.lm.causal());
    let arith_level = bench::measure_llmzip(name, data, base, &level)?;
    say(
        g,
        format_args!(
            "{name} arith: {} bytes (W32 C8 R1), {} bytes (default level)",
            arith.bytes_out, arith_level.bytes_out
        ),
    );
    let mut rows = Vec::new();
    for rate in [0.15, 0.5] {
        for &select in selects {
            let lossy = paper::lossy(base, name, data, rate, &how(a, select), 0)?;
            let o = Options {
                mask_rate: rate as f32,
                select,
                pos_classes: a.pos_classes.clone(),
                ..bench::method_options(Method::Mask)
            };
            let m = bench::measure_llmzip(name, data, base, &o)?;
            say(
                g,
                format_args!(
                    "{name} {:.0}% {}: lossy {} bytes, {:.1}% tokens, {:.1}% lines; lossless mask {} bytes",
                    rate * 100.0,
                    select.name(),
                    lossy.stored_bytes,
                    lossy.token_accuracy,
                    lossy.lines_exact,
                    m.bytes_out
                ),
            );
            rows.push(paper::SizeRow {
                lossy,
                mask_bytes: m.bytes_out as usize,
                arith_bytes: arith.bytes_out as usize,
                arith_level_bytes: arith_level.bytes_out as usize,
            });
        }
    }
    Ok(rows)
}

fn paper_report(
    g: &Global,
    a: &BenchArgs,
    sizes: &[llmzip::bench::paper::SizeRow],
    curve: &[llmzip::bench::paper::Lossy],
) -> anyhow::Result<()> {
    use llmzip::bench::{self, paper};
    if a.json {
        let sizes: Vec<_> = sizes
            .iter()
            .map(|r| {
                serde_json::json!({"lossy": r.lossy, "llmzip_mask_bytes": r.mask_bytes, "llmzip_arith_bytes": r.arith_bytes,
                    "llmzip_arith_level_bytes": r.arith_level_bytes})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"sizes": sizes, "epochs": curve}))?);
    } else {
        print!("{}\n{}", paper::markdown_sizes(sizes), paper::markdown_epochs(curve));
    }
    if let Some(p) = &a.plot {
        let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
        for l in curve {
            let key = format!("{} {:.0}% {}", l.file, l.mask_rate * 100.0, l.select);
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
