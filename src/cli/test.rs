//! `llmzip test`: decode and verify, write nothing (like `gzip -t`).

use anyhow::Context;

use super::args::{Global, TestArgs};
use super::io::open_input;
use super::{decode_stream, inputs, quiet_hooks, Models};

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
