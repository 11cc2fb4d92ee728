//! `llmzip decompress`: .llmz files or stdin → the original bytes, written atomically and
//! only after every block's checksum matched.

use std::time::Instant;

use anyhow::Context;

use super::args::{DecompressArgs, Global};
use super::io::{is_stdio, open_input, source_stamp};
use super::{check_output_args, decode_stream, dest_for, inputs, progress, say, Models, SUFFIX};
use llmzip::{Error, Hooks};

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
        dest.check(a.io.force, false)?;
        let stamp = source_stamp(f);
        let input = open_input(f)?;
        let mut sink = dest.open(a.io.force)?;
        let pb = progress::bar(!g.quiet, "decompressing");
        let progress = |n: usize| pb.inc(n as u64);
        let hooks = Hooks { progress: &progress, cancel: &super::cancelled };
        let t = Instant::now();
        let n = decode_stream(&models, input, sink.writer(), &a.io.model, &hooks)
            .with_context(|| format!("decompressing {}", f.display()))?;
        pb.finish_and_clear();
        sink.finish(stamp.as_ref())?;
        let kb_s = n as f64 / 1000.0 / t.elapsed().as_secs_f64().max(1e-9);
        say(g, format_args!("{}: {} bytes, {:.1} KB/s", f.display(), n, kb_s));
        if a.io.rm && !is_stdio(f) {
            std::fs::remove_file(f).with_context(|| format!("removing {}", f.display()))?;
        }
    }
    Ok(())
}
