//! `llmzip quantize`: the integer version of a pre-LayerNorm model, calibrated on a text.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;

use super::args::Global;
use super::say;
use llmzip::model::int8::make;
use llmzip::model::int8::params::Act;
use llmzip::model::int8::quantize::Options;

#[derive(Args, Debug, Clone)]
pub struct QuantizeArgs {
    /// Directory of the float model (config.json, model.safetensors, tokenizer.json)
    pub model: String,
    /// Text whose activations set the integer scales (not a text you will measure on)
    #[arg(long, value_name = "FILE")]
    pub calibrate: PathBuf,
    /// Directory to write config.json, tokenizer.json and model.int8.safetensors to
    /// (default: the model's own directory)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Calibration tokens used at most
    #[arg(long, default_value_t = 65536)]
    pub tokens: usize,
    /// Quantile of each activation's magnitudes mapped to its largest integer (1 = the maximum)
    #[arg(long, default_value_t = 1.0)]
    pub clip: f64,
    /// Bits of the LayerNorm outputs inside layers (8 or 16)
    #[arg(long, default_value_t = 8, value_parser = bits)]
    pub ln_bits: u8,
    /// Bits of the feed-forward GELU outputs (8 or 16)
    #[arg(long, default_value_t = 8, value_parser = bits)]
    pub gelu_bits: u8,
    /// Bits of the final LayerNorm output (8 or 16)
    #[arg(long, default_value_t = 8, value_parser = bits)]
    pub final_bits: u8,
    /// Bits of the head's LayerNorm output, the output projection's input (8 or 16)
    #[arg(long, default_value_t = 16, value_parser = bits)]
    pub head_bits: u8,
    /// Also compare integer and float log-probabilities on this text (bits per token)
    #[arg(long, value_name = "FILE")]
    pub check: Option<PathBuf>,
}

fn bits(s: &str) -> Result<u8, String> {
    match s {
        "8" => Ok(8),
        "16" => Ok(16),
        _ => Err("8 or 16".into()),
    }
}

fn act(bits: u8) -> Act {
    if bits == 16 {
        Act::I16
    } else {
        Act::I8
    }
}

pub fn run(g: &Global, a: QuantizeArgs) -> anyhow::Result<()> {
    let text = std::fs::read(&a.calibrate).with_context(|| format!("reading {}", a.calibrate.display()))?;
    let o = Options {
        clip: a.clip,
        ln: act(a.ln_bits),
        gelu: act(a.gelu_bits),
        final_ln: act(a.final_bits),
        head: act(a.head_bits),
        ..Options::default()
    };
    let t = Instant::now();
    let (p, _) = make::quantize(&a.model, &text, a.tokens, &o)?;
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from(&a.model));
    make::write(&a.model, &p, &out)?;
    say(
        g,
        format_args!(
            "{}: integer checkpoint written ({:.1} s)",
            out.join(llmzip::model::int8::FILE).display(),
            t.elapsed().as_secs_f64()
        ),
    );
    if let Some(check) = &a.check {
        let text = std::fs::read(check).with_context(|| format!("reading {}", check.display()))?;
        let c = make::check(&a.model, &p, &text, a.tokens)?;
        // the answer `--check` asks for: printed unless --quiet, not only with --verbose
        if !g.quiet {
            println!(
                "check on {} {} positions: float {:.4} bits/token, integer {:.4} (+{:.2}%), KL {:.5} bits, |Δ log-prob| mean {:.2e} max {:.3} nats",
                c.positions,
                if c.causal { "next-token" } else { "masked" },
                c.float_bits,
                c.int_bits,
                100.0 * (c.int_bits / c.float_bits - 1.0),
                c.kl_bits,
                c.mean_abs_diff,
                c.max_abs_diff
            );
        }
    }
    Ok(())
}
