//! CPU cost per coded token of a causal integer model with and without its K/V prefix cache,
//! and of a bidirectional integer model on the one-token plan of the default level.
//!
//! `cargo run --release --example kv_cache -- cached|uncached CAUSAL_INT_DIR TEXT [steps] [lanes]`
//! Lanes of growing sequences `[CLS, t_lo .. t_{i-1}]` (64 to 191 tokens, then a hop back to 64),
//! the last row of each selected: the calls of a causal one-token plan (`PARTS=2`: each step's
//! lanes in two calls, as the decoder makes them when it overlaps calls with coding).
//!
//! `cargo run --release --example kv_cache -- onetoken INT_DIR TEXT [tokens] [context]`
//! The calls of the one-token plan with `context` tokens (the default level's: 1) on the first
//! `tokens` tokens of TEXT.
//!
//! Prints CPU seconds (user + system, this process, the calls only) per token.

use llmzip::model::config::ModelConfig;
use llmzip::model::int8::{IntLm, FILE};
use llmzip::schedule::{Lanes, RevealPlan, Settle, Shape, Walker};
use llmzip::{MaskedLm, Model};

const SHORTEST: usize = 64;
const LONGEST: usize = 191;

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    s(u.ru_utime) + s(u.ru_stime)
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: usize| a.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (mode, dir) = (a[1].as_str(), &a[2]);
    let m = Model::load(dir, &llmzip::model::DeviceSpec::Cpu).unwrap();
    let ids = m.tokenizer.encode(&std::fs::read(&a[3]).unwrap()).unwrap().ids;
    let cls = m.tokenizer.ids.cls;
    let (tokens, rows, seconds, wall) = match mode {
        "cached" | "uncached" => {
            let cfg = ModelConfig::from_json(&std::fs::read_to_string(format!("{dir}/config.json")).unwrap(), "m");
            let cfg = cfg.unwrap();
            let lm = IntLm::load(&std::fs::read(format!("{dir}/{FILE}")).unwrap(), &cfg).unwrap();
            assert!(lm.causal(), "{dir} is not a causal model");
            let (steps, lanes) = (arg(4, 600), arg(5, 40));
            let per = ids.len() / lanes;
            assert!(per > steps + LONGEST, "the text is too short for {lanes} lanes of {steps} steps");
            // lane j predicts token i from [CLS, ids[lo..i]]
            let mut at: Vec<(usize, usize)> = (0..lanes).map(|j| (j * per, j * per + SHORTEST - 1)).collect();
            let (t0, w0) = (cpu_seconds(), std::time::Instant::now());
            let mut rows = 0;
            let parts: usize = std::env::var("PARTS").ok().and_then(|p| p.parse().ok()).unwrap_or(1);
            for _ in 0..steps {
                // PARTS=2: each step's lanes in two calls, as the decoder overlaps them
                for part in 0..parts {
                    let group = &at[part * lanes / parts..(part + 1) * lanes / parts];
                    let seqs: Vec<Vec<u32>> = group.iter().map(|&(lo, i)| [&[cls], &ids[lo..i]].concat()).collect();
                    let sel: Vec<(usize, usize)> = seqs.iter().enumerate().map(|(j, s)| (j, s.len() - 1)).collect();
                    rows += seqs.iter().map(Vec::len).sum::<usize>();
                    std::hint::black_box(match mode {
                        "cached" => lm.log_probs(&seqs, &sel).unwrap(),
                        _ => lm.engine.forward(&seqs, &sel).unwrap(),
                    });
                }
                for (lo, i) in at.iter_mut() {
                    *i += 1;
                    if *i - *lo + 1 > LONGEST {
                        *lo = *i + 1 - SHORTEST;
                    }
                }
            }
            if mode == "cached" {
                let (computed, reused) = lm.cache_rows();
                println!("rows computed {computed}, from the cache {reused}");
            }
            (steps * lanes, rows, cpu_seconds() - t0, w0.elapsed().as_secs_f64())
        }
        "onetoken" => {
            let n = ids.len().min(arg(4, 24000));
            let plan = RevealPlan {
                window: 32,
                context: arg(5, 1),
                rounds: 2,
                shape: Shape::Geometric,
                lanes: Lanes::AtMost(32),
                settle: Some(Settle { after: 0, window: 1 }),
            };
            let s = m.tokenizer.ids;
            let w = Walker::new(&plan, n, 32);
            let steps: Vec<_> = (0..w.phases()).flat_map(|ph| w.phase(ph, &ids[..n], s.cls, s.sep, s.mask)).collect();
            let rows = steps.iter().flat_map(|st| &st.seqs).map(Vec::len).sum();
            let (t0, w0) = (cpu_seconds(), std::time::Instant::now());
            for st in &steps {
                std::hint::black_box(m.lm.log_probs(&st.seqs, &st.sel).unwrap());
            }
            (n, rows, cpu_seconds() - t0, w0.elapsed().as_secs_f64())
        }
        _ => panic!("mode: cached, uncached or onetoken"),
    };
    println!(
        "{mode}: {tokens} tokens, {rows} positions sent ({:.1} per token), {seconds:.3} CPU-s, {:.1} CPU-us per token, {wall:.2} s wall",
        rows as f64 / tokens as f64,
        seconds / tokens as f64 * 1e6
    );
}
