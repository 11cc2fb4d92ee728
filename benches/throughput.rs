//! Throughput of the pieces, on the built-in model (`cargo bench`):
//! model forward tokens/s at the default plan's sequence shape, the forward pass's GFLOP/s
//! next to a plain f32 matmul of the same machine (how far from the limit we are), range
//! coder tokens/s (what `--method arith` runs per token) and tokenizer MB/s.

use std::time::Duration;

use candle_core::{Device, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use llmzip::coding::adaptive::{Version, Writer};
use llmzip::model::DEFAULT_MODEL;
use llmzip::Model;

fn text() -> Vec<u8> {
    std::fs::read("../shared/bench/alice29.txt")
        .unwrap_or_else(|_| b"The quick brown fox jumps over the lazy dog. ".repeat(2000))
}

fn benches(c: &mut Criterion) {
    let m = Model::load(DEFAULT_MODEL, &llmzip::model::DeviceSpec::Cpu).unwrap();
    let cfg = m.lm.architecture();
    let opts = llmzip::Options::default();
    let (w, ctx, lanes) = (opts.plan.window, opts.plan.context, opts.batch);
    let seq_len = w + ctx + 2;
    let seqs: Vec<Vec<u32>> =
        (0..lanes).map(|i| (0..seq_len as u32).map(|j| 5 + (i as u32 * 7 + j) % 4000).collect()).collect();
    let sel: Vec<(usize, usize)> = (0..lanes).flat_map(|i| (1..1 + w / 4).map(move |p| (i, p))).collect();
    let tokens = (lanes * seq_len) as u64;
    // FLOPs of one call: encoder over every position + output projection at selected ones
    let h = cfg.hidden as u64;
    let per_tok = cfg.layers as u64 * (8 * h * h + 4 * h * cfg.intermediate as u64 + 4 * seq_len as u64 * h);
    let flops = tokens * per_tok + sel.len() as u64 * 2 * (h * h + h * m.lm.vocab_size() as u64);
    let mut g = c.benchmark_group("model");
    g.measurement_time(Duration::from_secs(5)).sample_size(10);
    g.throughput(Throughput::Elements(tokens));
    g.bench_function("forward tokens (default plan shape)", |b| b.iter(|| m.lm.log_probs(&seqs, &sel).unwrap()));
    g.throughput(Throughput::Elements(flops));
    g.bench_function("forward flop", |b| b.iter(|| m.lm.log_probs(&seqs, &sel).unwrap()));
    let n = 512usize;
    let a = Tensor::randn(0f32, 1.0, (n, n), &Device::Cpu).unwrap();
    g.throughput(Throughput::Elements(2 * (n * n * n) as u64));
    g.bench_function(BenchmarkId::new("f32 matmul flop (peak reference)", n), |b| b.iter(|| a.matmul(&a).unwrap()));
    g.finish();

    let v = m.lm.vocab_size();
    let lp: Vec<f32> = {
        let raw: Vec<f32> = (0..v).map(|i| -((i % 97) as f32) / 7.0).collect();
        let z = raw.iter().map(|x| x.exp()).sum::<f32>().ln();
        raw.iter().map(|x| x - z).collect()
    };
    let mut g = c.benchmark_group("coder");
    g.throughput(Throughput::Elements(1000));
    // what `--method arith` runs per token: the adaptive model of new files, its frequencies,
    // the range coder
    g.bench_function("code 1000 tokens (current adaptive model + range coder)", |b| {
        b.iter(|| {
            let version = Version::CURRENT;
            let mut model = version.model(v, 1000, 1, || m.tokenizer.token_bytes());
            let mut w = Writer::new(version);
            for i in 0..1000 {
                w.tok = ((i * 7919) % v) as u32;
                model.code(i, &lp, &mut w).unwrap();
            }
            w.finish().unwrap()
        })
    });
    g.finish();

    let t = text();
    let mut g = c.benchmark_group("tokenizer");
    g.throughput(Throughput::Bytes(t.len() as u64));
    g.sample_size(10);
    g.bench_function("lossless encode", |b| b.iter(|| m.tokenizer.encode(&t).unwrap()));
    let enc = m.tokenizer.encode(&t).unwrap();
    g.bench_function("lossless decode", |b| b.iter(|| m.tokenizer.decode(&enc.ids, &enc.residual).unwrap()));
    g.finish();
}

criterion_group!(all, benches);
criterion_main!(all);
