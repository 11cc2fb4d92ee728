//! `llmzip decompress`: .llmz files or stdin → the original bytes, written atomically and
//! only after every block's checksum matched.

use anyhow::Context;
use clap::Args;

use super::args::{Global, OutputArgs};
use super::io::is_stdio;
use super::{check_output_args, decode_stream, dest_for, inputs, say, through, Models, SUFFIX};
use llmzip::Error;

#[derive(Args, Debug, Clone)]
pub struct DecompressArgs {
    #[command(flatten)]
    pub io: OutputArgs,
}

pub fn run(g: &Global, a: DecompressArgs) -> anyhow::Result<()> {
    let files = inputs(&a.io.files);
    check_output_args(&a.io, &files)?;
    let models = Models::new(g)?;
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
        let (n, secs) = through(g, f, &dest, a.io.force, false, "decompressing", |input, out, hooks| {
            decode_stream(&models, input, out, &a.io.model, hooks)
                .with_context(|| format!("decompressing {}", f.display()))
        })?;
        let model = llmzip::decompressor::MODEL_NANOS.swap(0, std::sync::atomic::Ordering::Relaxed) as f64 / 1e9;
        let in_flight = llmzip::decompressor::IN_FLIGHT.lock().unwrap_or_else(|p| p.into_inner()).take();
        say(
            g,
            format_args!(
                "{}: {} bytes, {:.1} KB/s (model {model:.2} s){}",
                f.display(),
                n,
                n as f64 / 1000.0 / secs.max(1e-9),
                in_flight.map_or(String::new(), |(jobs, need)| super::memory_note(jobs, need))
            ),
        );
        if a.io.rm && !is_stdio(f) {
            std::fs::remove_file(f).with_context(|| format!("removing {}", f.display()))?;
        }
    }
    Ok(())
}
