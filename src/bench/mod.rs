//! `llmzip bench`: llmzip and the classic compressors side by side, in one run, every llmzip
//! result verified by decompressing it.

use std::time::Instant;

use serde::Serialize;

pub mod paper;
pub mod plot;
pub mod tools;

pub use tools::{measure_archiver, measure_tool, ARCHIVERS, TOOLS};

use crate::coding::Method;
use crate::error::{Error, Result};
use crate::{Compressor, Decompressor, Hooks, Model, Options};

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub file: String,
    pub compressor: String,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub bits_per_byte: f64,
    pub ratio: f64,
    /// ratio with the model's weight bytes added to the output (llmzip rows only)
    pub adjusted_ratio: Option<f64>,
    pub compress_kb_s: f64,
    pub decompress_kb_s: f64,
}

pub(crate) fn row(file: &str, name: String, n: usize, out: usize, model_bytes: Option<u64>, c: f64, d: f64) -> Row {
    Row {
        file: file.to_string(),
        compressor: name,
        bytes_in: n as u64,
        bytes_out: out as u64,
        bits_per_byte: out as f64 * 8.0 / n.max(1) as f64,
        ratio: n as f64 / out.max(1) as f64,
        adjusted_ratio: model_bytes.map(|m| n as f64 / (out as u64 + m) as f64),
        compress_kb_s: n as f64 / 1000.0 / c.max(1e-9),
        decompress_kb_s: n as f64 / 1000.0 / d.max(1e-9),
    }
}

/// One llmzip measurement; fails loudly if the round trip is not exact.
pub fn measure_llmzip(file: &str, data: &[u8], model: &Model, opts: &Options) -> Result<Row> {
    let c = Compressor::new(model, opts.clone())?;
    let t = Instant::now();
    let mut z = Vec::new();
    c.compress(data, &mut z, &Hooks::default())?;
    let tc = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut out = Vec::with_capacity(data.len());
    Decompressor::new(model, 1).decompress(&z[..], &mut out, &Hooks::default())?;
    let td = t.elapsed().as_secs_f64();
    if out != data {
        return Err(Error::Checksum(format!("bench round trip of {file} differs")));
    }
    let name = format!("llmzip {} ({})", opts.method.name(), model.name);
    Ok(row(file, name, data.len(), z.len(), Some(model.weight_bytes), tc, td))
}

pub fn markdown(rows: &[Row]) -> String {
    let mut s = String::from(
        "| file | compressor | bytes in | bytes out | bits/byte | ratio | adjusted ratio | compress KB/s | decompress KB/s |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {:.3} | {:.3} | {} | {:.1} | {:.1} |\n",
            r.file,
            r.compressor,
            r.bytes_in,
            r.bytes_out,
            r.bits_per_byte,
            r.ratio,
            r.adjusted_ratio.map(|a| format!("{a:.4}")).unwrap_or_else(|| "–".into()),
            r.compress_kb_s,
            r.decompress_kb_s
        ));
    }
    s
}

pub fn method_options(method: Method) -> Options {
    Options { method, ..Options::default() }
}
