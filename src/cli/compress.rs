//! `llmzip compress`: files or stdin → .llmz, written atomically.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::args::{CompressArgs, Global};
use super::io::{open_input, Dest};
use super::{check_output_args, decode_stream, dest_for, inputs, levels, quiet_hooks, say, through, Models};
use llmzip::schedule::{Lanes, RevealPlan};
use llmzip::{Compressor, Options, Stats};

pub fn run(g: &Global, a: CompressArgs) -> anyhow::Result<()> {
    let files = inputs(&a.io.files);
    check_output_args(&a.io, &files)?;
    let models = Models::new(g)?;
    let model = models.get(&model_name(&a))?;
    let comp = Compressor::new(&model, Options { jobs: models.jobs, ..options(&a) })?;
    for f in &files {
        let dest = dest_for(f, &a.io, || {
            let mut s = f.as_os_str().to_owned();
            s.push(format!(".{}", super::SUFFIX));
            Ok(PathBuf::from(s))
        })?;
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

/// The settings: the level's, with whatever was given explicitly instead.
fn options(a: &CompressArgs) -> Options {
    let level = levels::get(a.level.chosen().unwrap_or(levels::DEFAULT));
    Options {
        method: a.method.map_or(level.method, Into::into),
        plan: RevealPlan {
            window: a.window.unwrap_or(level.plan.window),
            context: a.context.unwrap_or(level.plan.context),
            rounds: a.rounds.unwrap_or(level.plan.rounds),
            shape: a.shape.map_or(level.plan.shape, Into::into),
            lanes: a.lanes.map(Lanes::from_count).unwrap_or(level.plan.lanes),
        },
        batch: a.batch,
        mask_rate: a.mask_rate,
        select: a.select.into(),
        pos_classes: a.pos_classes.clone(),
        block_size: a.block_size,
        mix: level.mix && !a.no_mix,
            mix_version: a.mix_version.unwrap_or(llmzip::coding::MIX_VERSION),
        jobs: 1,
    }
}

/// The model: the one given, else the level's.
fn model_name(a: &CompressArgs) -> String {
    let level = levels::get(a.level.chosen().unwrap_or(levels::DEFAULT));
    a.io.model.clone().unwrap_or_else(|| level.model.to_string())
}

/// The `-v` line for one file.
fn summary(f: &Path, s: &Stats, secs: f64) -> String {
    format!(
        "{}: {} -> {} bytes, {:.3} bits/byte, {} tokens ({}{} literal, residual {} bytes), {:.1} KB/s (tokenizer {:.2} s, model {:.2} s)",
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
