//! The integer engine's GPU kernels against its CPU kernels (build with `--features int8-cuda`).
//!
//! `int8_gpu compile [ARCH]`: compile the kernels with NVRTC only (no GPU needed).
//! `int8_gpu check INT_DIR TEXT [KB] [REPS]`: on GPU 0 and the CPU, the residual stream after
//! each layer and the log-probabilities of two plans' model calls, bit for bit; the same text
//! compressed with each engine (the same bytes?) and the GPU's file decoded on the CPU;
//! forward time side by side (medians).
//! `LLMZIP_INT8_CUDA=0 int8_gpu write INT_DIR TEXT OUT`: compress TEXT with the engine the
//! loader picks (the GPU with that variable) at plan W16 C8 R2: a fixture the CPU-only tests
//! decode.

// examples build with the package's features: without GPU kernels this one only says so
#[cfg(not(any(feature = "cuda", feature = "int8-cuda")))]
fn main() {
    eprintln!("int8_gpu: build with --features int8-cuda (or cuda)");
    std::process::exit(2);
}

#[cfg(any(feature = "cuda", feature = "int8-cuda"))]
fn main() {
    gpu::main()
}

#[cfg(any(feature = "cuda", feature = "int8-cuda"))]
mod gpu {
    use std::time::Instant;

    use llmzip::model::config::ModelConfig;
    use llmzip::model::int8::{cuda, IntLm, IntParams, FILE};
    use llmzip::schedule::{RevealPlan, Shape, Walker};
    use llmzip::{Compressor, Decompressor, Hooks, MaskedLm, Model, Options};

    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    }

    /// The float version of the model in `dir` (model.safetensors) on GPU 0 through candle, to time
    /// the same calls; `None` where the directory has no float weights.
    #[cfg(feature = "cuda")]
    fn float_gpu(dir: &str) -> Option<Box<dyn MaskedLm>> {
        let w = std::fs::read(format!("{dir}/model.safetensors")).ok()?;
        let c = std::fs::read(format!("{dir}/config.json")).unwrap();
        let lm = llmzip::model::candle::CandleLm::load(dir, &c, &[&w], llmzip::model::DeviceSpec::Cuda(0)).unwrap();
        Some(Box::new(lm))
    }

    pub fn main() {
        let a: Vec<String> = std::env::args().collect();
        if a.get(1).map(String::as_str) == Some("compile") {
            let arch: &'static str = Box::leak(a.get(2).cloned().unwrap_or("compute_90".into()).into_boxed_str());
            println!("kernels compiled for {arch}: {} bytes of PTX", cuda::compile(arch).unwrap());
            return;
        }
        let dir = &a[2];
        if a[1] == "kvspeed" {
            kvspeed(
                dir,
                &a[3],
                a.get(4).map_or(512, |s| s.parse().unwrap()),
                a.get(5).map_or(200, |s| s.parse().unwrap()),
            );
            return;
        }
        if a[1] == "write" {
            // the loader's own choice: LLMZIP_INT8_CUDA=0 puts it on the GPU
            let f = |n: &str| std::fs::read(format!("{dir}/{n}")).unwrap();
            let m = Model::from_int8(
                dir,
                &f("config.json"),
                &f("tokenizer.json"),
                &f(FILE),
                &llmzip::model::DeviceSpec::Cpu,
            )
            .unwrap();
            let o = Options {
                plan: RevealPlan {
                    window: 16,
                    context: 8,
                    rounds: 2,
                    shape: Shape::Geometric,
                    lanes: llmzip::schedule::Lanes::AtMost(32),
                    settle: None,
                },
                ..Options::default()
            };
            let mut z = Vec::new();
            Compressor::new(&m, o)
                .unwrap()
                .compress(&std::fs::read(&a[3]).unwrap()[..], &mut z, &Hooks::default())
                .unwrap();
            std::fs::write(&a[4], &z).unwrap();
            println!("{}: {} bytes written", a[4], z.len());
            return;
        }
        let kb: usize = a.get(4).and_then(|s| s.parse().ok()).unwrap_or(20);
        let reps: usize = a.get(5).and_then(|s| s.parse().ok()).unwrap_or(3);
        let cfg = ModelConfig::from_json(&std::fs::read_to_string(format!("{dir}/config.json")).unwrap(), dir).unwrap();
        let bytes = std::fs::read(format!("{dir}/{FILE}")).unwrap();
        let p = IntParams::read(&bytes, &cfg).unwrap();
        let t = Instant::now();
        let gpu = cuda::CudaLm::new(&p, 0, cfg.max_sequence(), cfg.causal).unwrap();
        println!("GPU engine ready in {:.2} s (NVRTC compile + upload)", t.elapsed().as_secs_f64());
        let cpu = IntLm::from_params(p, cfg.max_sequence(), cfg.causal);
        // from the files, not through the model registry (keeps the built-in models out of the binary)
        let load = || {
            let f = |n: &str| std::fs::read(format!("{dir}/{n}")).unwrap();
            Model::from_int8(dir, &f("config.json"), &f("tokenizer.json"), &f(FILE), &llmzip::model::DeviceSpec::Cpu)
                .unwrap()
        };
        let model = load();
        let text = std::fs::read(&a[3]).unwrap();
        let text = &text[..text.len().min(kb * 1000)];
        let ids = model.tokenizer.encode(text).unwrap().ids;
        let s = model.tokenizer.ids;
        let mut calls = Vec::new();
        for plan in [
            RevealPlan {
                window: 32,
                context: 8,
                rounds: 1,
                shape: Shape::Geometric,
                lanes: llmzip::schedule::Lanes::AtMost(32),
                settle: None,
            },
            RevealPlan {
                window: 32,
                context: 32,
                rounds: 2,
                shape: Shape::Geometric,
                lanes: llmzip::schedule::Lanes::AtMost(32),
                settle: None,
            },
        ] {
            let w = Walker::new(&plan, ids.len(), 32);
            let steps: Vec<_> = (0..w.phases()).flat_map(|ph| w.phase(ph, &ids, s.cls, s.sep, s.mask)).collect();
            calls.push((plan, steps));
        }
        // step by step on the first call
        let first = &calls[0].1[0];
        for l in 0..=cfg.layers {
            let (c, g) =
                (cpu.engine.residual_after(&first.seqs, l).unwrap(), gpu.residual_after(&first.seqs, l).unwrap());
            let bad = c.iter().zip(&g).filter(|(x, y)| x != y).count();
            println!(
                "residual after {l} layers: {} values, {bad} differ{}",
                c.len(),
                if bad > 0 {
                    format!(" (first at {:?})", c.iter().zip(&g).position(|(x, y)| x != y))
                } else {
                    String::new()
                }
            );
        }
        #[cfg(feature = "cuda")]
        let float = float_gpu(dir);
        for (plan, steps) in &calls {
            let (mut same, mut same_simple, mut total) = (0usize, 0usize, 0usize);
            for st in steps {
                let c = cpu.log_probs(&st.seqs, &st.sel).unwrap();
                gpu.use_simple_gemm(true);
                let s = gpu.log_probs(&st.seqs, &st.sel).unwrap();
                gpu.use_simple_gemm(false);
                let g = gpu.log_probs(&st.seqs, &st.sel).unwrap();
                total += c.len();
                same += c.iter().zip(&g).filter(|(x, y)| x.to_bits() == y.to_bits()).count();
                same_simple += c.iter().zip(&s).filter(|(x, y)| x.to_bits() == y.to_bits()).count();
            }
            println!(
                "W{} C{} R{}: {} calls, {same} of {total} log-probabilities bit-identical (dp4a), {same_simple} (simple kernels)",
                plan.window,
                plan.context,
                plan.rounds,
                steps.len()
            );
            // engines alternate within each repetition: CPU, GPU simple, GPU dp4a, GPU float
            let mut t: Vec<Vec<f64>> = vec![Vec::new(); 4];
            let time = |lm: &dyn MaskedLm| {
                let s = Instant::now();
                for st in steps {
                    std::hint::black_box(lm.log_probs(&st.seqs, &st.sel).unwrap());
                }
                s.elapsed().as_secs_f64()
            };
            for _ in 0..reps {
                t[0].push(time(&cpu));
                gpu.use_simple_gemm(true);
                t[1].push(time(&gpu));
                gpu.use_simple_gemm(false);
                t[2].push(time(&gpu));
                #[cfg(feature = "cuda")]
                if let Some(f) = &float {
                    t[3].push(time(f.as_ref()));
                }
            }
            let pred: usize = steps.iter().map(|s| s.sel.len()).sum();
            let rows: usize = steps.iter().map(|s| s.seqs.iter().map(Vec::len).sum::<usize>()).sum();
            println!("  {} predicted tokens, {} rows through the layers", pred, rows);
            for (name, v) in ["CPU int8", "GPU int8 simple", "GPU int8 dp4a", "GPU float (candle)"].iter().zip(t) {
                if !v.is_empty() {
                    let m = median(v);
                    println!("  forward {name}: {m:.3} s ({:.0} tokens/s)", pred as f64 / m);
                }
            }
            println!("  CPU threads: {}", rayon::current_num_threads());
        }
        // whole files: compress with each engine, decode the GPU's on the CPU
        let mut gmodel = load();
        gmodel.lm = Box::new(gpu);
        for (plan, _) in &calls {
            let o = Options { plan: *plan, ..Options::default() };
            let (mut zc, mut zg) = (Vec::new(), Vec::new());
            let t = Instant::now();
            Compressor::new(&model, o.clone()).unwrap().compress(text, &mut zc, &Hooks::default()).unwrap();
            let tc = t.elapsed().as_secs_f64();
            let t = Instant::now();
            Compressor::new(&gmodel, o.clone()).unwrap().compress(text, &mut zg, &Hooks::default()).unwrap();
            let tg = t.elapsed().as_secs_f64();
            let mut back = Vec::new();
            Decompressor::new(&model, 1).decompress(&zg[..], &mut back, &Hooks::default()).unwrap();
            println!(
                "compress W{} C{} R{}: CPU {} B in {:.2} s, GPU {} B in {:.2} s, files identical: {}, GPU file decoded on the CPU: {}",
                plan.window, plan.context, plan.rounds, zc.len(), tc, zg.len(), tg, zc == zg, back == text
            );
        }
    }

    /// `int8_gpu kvspeed INT_DIR TEXT [LANES] [STEPS]`: the calls of the default causal plan
    /// (context 16, window 48: `[CLS] t_lo .. t_{i-1}`, the last row selected, `lo` hopping
    /// by 48 when 64 tokens are shown) for LANES lanes spread over TEXT, one call per step, on
    /// GPU 0 with the K/V cache: seconds per call and per token, the cache's phases.
    fn kvspeed(dir: &str, text: &str, lanes: usize, steps: usize) {
        let f = |n: &str| std::fs::read(format!("{dir}/{n}")).unwrap();
        let cfg = ModelConfig::from_json(&String::from_utf8(f("config.json")).unwrap(), "m").unwrap();
        let p = IntParams::read(&f(FILE), &cfg).unwrap();
        let lm = cuda::CudaLm::new(&p, 0, cfg.max_sequence(), true).unwrap();
        let m =
            Model::from_int8(dir, &f("config.json"), &f("tokenizer.json"), &f(FILE), &llmzip::model::DeviceSpec::Cpu)
                .unwrap();
        let ids = m.tokenizer.encode(&std::fs::read(text).unwrap()).unwrap().ids;
        let cls = m.tokenizer.ids.cls;
        let span = ids.len() / lanes;
        assert!(span > steps, "text too short for {lanes} lanes x {steps} steps");
        let mut lo: Vec<usize> = (0..lanes).map(|l| l * span).collect();
        let mut times = Vec::new();
        let t0 = Instant::now();
        for step in 0..steps {
            let seqs: Vec<Vec<u32>> = (0..lanes)
                .map(|l| {
                    let i = l * span + step;
                    if i - lo[l] >= 64 {
                        lo[l] += 48;
                    }
                    std::iter::once(cls).chain(ids[lo[l]..i].iter().copied()).collect()
                })
                .collect();
            let sel: Vec<(usize, usize)> = seqs.iter().enumerate().map(|(k, s)| (k, s.len() - 1)).collect();
            let t = Instant::now();
            let out = lm.log_probs(&seqs, &sel).unwrap();
            times.push(t.elapsed().as_secs_f64());
            assert_eq!(out.len(), lanes * lm.vocab_size());
        }
        let total = t0.elapsed().as_secs_f64();
        let (calls, ph) = lm.cache_profile();
        let (computed, reused) = lm.cache_rows();
        println!(
            "kvspeed {lanes} lanes x {steps} steps: {total:.3} s, median call {:.3} ms, {:.1} k tokens/s; \
             rows computed {computed} reused {reused}; {calls} calls: lock {:.3} place {:.3} launch {:.3} kernels {:.3} fetch {:.3} s",
            1e3 * median(times),
            (lanes * steps) as f64 / total / 1e3,
            ph[0], ph[1], ph[2], ph[3], ph[4]
        );
    }
}
