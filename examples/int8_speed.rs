//! Model forward speed, float (candle f32) against the integer engine, side by side on the
//! model calls a real plan makes, and each one's share of this machine's measured GEMM peak.
//!
//! `cargo run --release --example int8_speed -- FLOAT_DIR INT_DIR TEXT [KB] [window context rounds] [reps]`
//! Calls alternate float / int per repetition; medians are printed.

use std::time::Instant;

use candle_core::{Device, Tensor};
use llmzip::model::int8::gemm::{gemm, ActRows, Isa, Packed};
use llmzip::schedule::{RevealPlan, Shape, Walker};
use llmzip::Model;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: usize| a.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (fl, il) = (
        Model::load(&a[1], &llmzip::model::DeviceSpec::Cpu).unwrap(),
        Model::load(&a[2], &llmzip::model::DeviceSpec::Cpu).unwrap(),
    );
    let text = std::fs::read(&a[3]).unwrap();
    let text = &text[..text.len().min(arg(4, 20) * 1000)];
    let plan = RevealPlan {
        window: arg(5, 32),
        context: arg(6, 8),
        rounds: arg(7, 1),
        shape: Shape::Geometric,
        lanes: llmzip::schedule::Lanes::AtMost(32),
        settle: None,
    };
    let reps = arg(8, 5);
    let ids = fl.tokenizer.encode(text).unwrap().ids;
    let s = fl.tokenizer.ids;
    let walker = Walker::new(&plan, ids.len(), 32);
    let steps: Vec<_> = (0..walker.phases()).flat_map(|ph| walker.phase(ph, &ids, s.cls, s.sep, s.mask)).collect();
    let cfg = fl.lm.architecture();
    let (h, i, v) = (cfg.hidden as f64, cfg.intermediate as f64, fl.lm.vocab_size() as f64);
    let (mut rows, mut sel, mut macs) = (0usize, 0usize, 0f64);
    for st in &steps {
        for q in &st.seqs {
            let n = q.len() as f64;
            rows += q.len();
            macs += cfg.layers as f64 * (n * (4.0 * h * h + 2.0 * h * i) + 2.0 * n * n * h);
        }
        sel += st.sel.len();
        macs += st.sel.len() as f64 * (h * h + v * h);
    }
    println!(
        "{} tokens, plan W{} C{} R{}: {} calls, {} positions, {} predicted, {:.2} GMAC; int kernels {}",
        ids.len(),
        plan.window,
        plan.context,
        plan.rounds,
        steps.len(),
        rows,
        sel,
        macs / 1e9,
        Isa::best().name()
    );
    let (mut tf, mut ti) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        for (m, t) in [(&fl, &mut tf), (&il, &mut ti)] {
            if std::env::var("ONLY_INT").is_ok() && std::ptr::eq(m, &fl) {
                t.push(0.0);
                continue;
            }
            let t0 = Instant::now();
            for st in &steps {
                std::hint::black_box(m.lm.log_probs(&st.seqs, &st.sel).unwrap());
            }
            t.push(t0.elapsed().as_secs_f64());
        }
    }
    let (mf, mi) = (median(&mut tf), median(&mut ti));
    // peaks: one large product of the layers' shape, f32 (candle) and int8 / int16 (ours)
    let (m, n, k) = (512usize, 512usize, 512usize);
    let fa = Tensor::randn(0f32, 1.0, (m, k), &Device::Cpu).unwrap();
    let fb = Tensor::randn(0f32, 1.0, (k, n), &Device::Cpu).unwrap();
    let w: Vec<i8> = (0..n * k).map(|x| ((x * 37) % 255) as i8 - 127 + 0).map(|x| x.max(-127)).collect();
    let a8: Vec<i8> = (0..m * k).map(|x| ((x * 11) % 255) as i8).map(|x| x.max(-127)).collect();
    let a16: Vec<i16> = a8.iter().map(|&x| x as i16 * 100).collect();
    let (p8, p16) = (Packed::new(Isa::best(), false, &w, n, k), Packed::new(Isa::best(), true, &w, n, k));
    let mut out = vec![0i32; m * n];
    let (mut pf, mut p8t, mut p16t) = (Vec::new(), Vec::new(), Vec::new());
    let threads = rayon::current_num_threads();
    for _ in 0..reps.max(5) {
        let t0 = Instant::now();
        for _ in 0..4 {
            std::hint::black_box(fa.matmul(&fb).unwrap());
        }
        pf.push(4.0 * (m * n * k) as f64 / t0.elapsed().as_secs_f64());
        for (p, a, t) in [(&p8, ActRows::I8(&a8), &mut p8t), (&p16, ActRows::I16(&a16), &mut p16t)] {
            // the engine runs products on every thread, one row block each
            let t0 = Instant::now();
            for _ in 0..4 {
                use rayon::prelude::*;
                out.par_chunks_mut(32 * n).enumerate().for_each(|(b, o)| {
                    let rows = o.len() / n;
                    let a = match a {
                        ActRows::I8(x) => ActRows::I8(&x[b * 32 * k..(b * 32 + rows) * k]),
                        ActRows::I16(x) => ActRows::I16(&x[b * 32 * k..(b * 32 + rows) * k]),
                    };
                    gemm(p, a, o);
                });
            }
            t.push(4.0 * (m * n * k) as f64 / t0.elapsed().as_secs_f64());
        }
    }
    let (pf, p8, p16) = (median(&mut pf), median(&mut p8t), median(&mut p16t));
    println!(
        "GEMM peaks ({m}x{k}x{n}, {threads} threads): f32 {:.1} GMAC/s, int8 {:.1}, int16 {:.1}",
        pf / 1e9,
        p8 / 1e9,
        p16 / 1e9
    );
    for (name, t, peak) in [("float", mf, pf), ("int8", mi, p8)] {
        println!(
            "{name:>6}: {:.3} s median of {reps}  {:.0} positions/s  {:.0} predicted tokens/s  {:.1} GMAC/s = {:.0}% of its GEMM peak",
            t, rows as f64 / t, sel as f64 / t, macs / t / 1e9, 100.0 * macs / t / peak
        );
    }
    println!("int8 / float speed: {:.2}x", mf / mi);
}
