//! `llmzip info`: what a .llmz file holds, read without decoding.

use std::path::PathBuf;

use clap::Args;

use super::inputs;
use super::io::open_input;
use llmzip::container::FileSummary;

#[derive(Args, Debug, Clone)]
pub struct InfoArgs {
    /// .llmz files; "-" or none means standard input
    pub files: Vec<PathBuf>,
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: InfoArgs) -> anyhow::Result<()> {
    let mut all = Vec::new();
    for f in inputs(&a.files) {
        let s = FileSummary::read(f.display().to_string(), open_input(&f)?, llmzip::model::UNNAMED_MODEL)?;
        if !a.json {
            print(&s);
        }
        all.push(s);
    }
    if a.json {
        let text = match all.as_slice() {
            [one] => serde_json::to_string_pretty(one)?,
            _ => serde_json::to_string_pretty(&all)?,
        };
        println!("{text}");
    }
    Ok(())
}

fn print(s: &FileSummary) {
    println!(
        "{}: {} -> {} bytes, ratio {:.3}, {:.3} bits/byte",
        s.file, s.original_bytes, s.compressed_bytes, s.ratio, s.bits_per_byte
    );
    for m in &s.members {
        let mix =
            if m.method == "arith" && m.mix > 0 { format!(" + adaptive model v{}", m.mix) } else { String::new() };
        let settle = match m.settle {
            Some((after, w)) => format!(", then windows of {w} after {after} tokens"),
            None => String::new(),
        };
        println!(
            "  method {}{mix}  model {} ({})  numerics {}\n  schedule: window {} context {} rounds {} {} lanes {}{settle}  batch {}  blocks {}",
            m.method,
            m.model,
            &m.fingerprint[..16],
            m.numerics,
            m.window,
            m.context,
            m.rounds,
            m.shape,
            m.lanes,
            m.batch,
            m.blocks
        );
    }
}
