//! `llmzip test`: decode and verify, write nothing (like `gzip -t`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::args::Global;
use super::io::open_input;
use super::{decode_stream, inputs, quiet_hooks, Models};

#[derive(Args, Debug, Clone)]
pub struct TestArgs {
    /// .llmz files; "-" or none means standard input
    pub files: Vec<PathBuf>,
    /// Model (default: the one named in each file)
    #[arg(short, long, env = "LLMZIP_MODEL")]
    pub model: Option<String>,
}

pub fn run(g: &Global, a: TestArgs) -> anyhow::Result<()> {
    let models = Models::new(g)?;
    for f in inputs(&a.files) {
        let n = decode_stream(&models, open_input(&f)?, &mut std::io::sink(), &a.model, &quiet_hooks())
            .with_context(|| format!("testing {}", f.display()))?;
        if !g.quiet {
            println!("{}: OK ({n} bytes)", f.display());
        }
    }
    Ok(())
}
