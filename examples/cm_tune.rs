//! Tuning aid for the context-mixing model (adaptive model v3), not part of the product.
//!
//! `cm_tune dump MODEL FILE OUT [ROUNDS [CONTEXT [SETTLE_WINDOW]]]` runs the LM once over FILE (one block, the
//! default plan with ROUNDS rounds and CONTEXT context tokens) and records, in coding order, each token and the LM's odds along the
//! token's own path of decisions: all that the model needs from the LM to code that token.
//! `cm_tune replay [key=value ...] DUMP...` then replays the coding with other parameters in
//! seconds and prints bits per byte (the ideal code length of the decisions).

use std::io::{Read, Write};

use llmzip::coding::cm::contexts::Kind;
use llmzip::coding::cm::{ContextMix, LmOdds, Params};
use llmzip::coding::{drive_known, Ctx};
use llmzip::{Model, Options};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("dump") => dump(
            &args[1],
            &args[2],
            &args[3],
            args.get(4).map_or(1, |r| r.parse().unwrap()),
            args.get(5).map(|c| c.parse().unwrap()),
            args.get(6).map(|w| w.parse().unwrap()),
        ),
        Some("replay") => replay(&args[1..]),
        _ => {
            eprintln!("usage: cm_tune dump MODEL FILE OUT [ROUNDS [CONTEXT [SETTLE_WINDOW]]] | cm_tune replay [key=value ...] DUMP...")
        }
    }
}

fn dump(model: &str, file: &str, out: &str, rounds: usize, context: Option<usize>, settle: Option<usize>) {
    let m = Model::load(model, &llmzip::model::DeviceSpec::Cpu).unwrap();
    let data = std::fs::read(file).unwrap();
    let tok = m.tokenizer.encode(&data).unwrap();
    let mut opts = Options::default();
    opts.plan.rounds = rounds;
    // ROUNDS 0: the causal plan of the default level (CONTEXT … CONTEXT + 47 tokens before
    // each token, 32 lanes)
    if rounds == 0 {
        opts.plan.rounds = 1;
        opts.plan.shape = llmzip::schedule::Shape::Causal;
        opts.plan.window = 48;
        opts.plan.context = 16;
    }
    // CM_LANES=L: at most L lanes (the plan's default otherwise)
    if let Some(l) = std::env::var("CM_LANES").ok().and_then(|l| l.parse().ok()) {
        opts.plan.lanes = llmzip::schedule::Lanes::AtMost(l);
    }
    if let Some(c) = context {
        opts.plan.context = c;
    }
    // one-round windows of this many tokens from the first token on (the default level's
    // plan for structured text)
    if let Some(window) = settle {
        opts.plan.settle = Some(llmzip::schedule::Settle { after: 0, window });
    }
    let nanos = std::sync::atomic::AtomicU64::new(0);
    let ctx = Ctx {
        lm: m.lm.as_ref(),
        plan: &opts.plan,
        ids: m.tokenizer.ids,
        tokenizer: &m.tokenizer,
        batch: opts.batch,
        mix: llmzip::coding::MAX_MIX_VERSION,
        cancel: &|| false,
        progress: &|_| {},
        model_nanos: &nanos,
    };
    let v = m.lm.vocab_size();
    let text = m.tokenizer.token_bytes();
    let cm = ContextMix::new(v, 1, &text, Params::default());
    let tree = cm.tree();
    let mut lm = llmzip::coding::cm::tree::LmBits::default();
    let mut w = Vec::new();
    for x in [v as u32, tok.ids.len() as u32, data.len() as u32, text.len() as u32] {
        w.extend_from_slice(&x.to_le_bytes());
    }
    drive_known(&ctx, &tok.ids, |i, lp| {
        w.extend_from_slice(&(i as u32).to_le_bytes());
        w.extend_from_slice(&tok.ids[i].to_le_bytes());
        let t = tree.rank(tok.ids[i]);
        lm.load(lp, tree, false);
        let mut node = 1u32;
        for d in 0..tree.bits {
            let (lo, mid, hi) = tree.split(node, d);
            let odds = if mid < hi { lm.odds(d, lo, mid, hi) } else { 0.0 };
            w.extend_from_slice(&odds.to_le_bytes());
            node = 2 * node + ((t >> (tree.bits - 1 - d)) & 1);
        }
        Ok(())
    })
    .unwrap();
    for t in &text {
        w.extend_from_slice(&(t.len() as u32).to_le_bytes());
        w.extend_from_slice(t);
    }
    std::fs::File::create(out).unwrap().write_all(&w).unwrap();
}

fn kind(s: &str) -> Kind {
    match s {
        "col" => Kind::Column,
        "above" => Kind::Above,
        "al" => Kind::AboveLeft,
        "word" => Kind::Word,
        "field" => Kind::Field,
        "fa" => Kind::FieldAbove,
        "lr" => Kind::Between,
        "nf" => Kind::NextFields,
        _ if s.starts_with('t') => Kind::Tokens(s[1..].parse().unwrap()),
        _ if s.starts_with('b') => Kind::Bytes(s[1..].parse().unwrap()),
        _ if s.starts_with('s') => Kind::Skip(s[1..].parse().unwrap()),
        _ if s.starts_with('n') => Kind::Near(s[1..].parse().unwrap()),
        _ if s.starts_with("x") => {
            let (l, r) = s[1..].split_once('.').unwrap();
            Kind::Sides(l.parse().unwrap(), r.parse().unwrap())
        }
        _ => panic!("unknown context {s}"),
    }
}

struct Recorded<'a>(&'a [f32]);

impl LmOdds for Recorded<'_> {
    fn odds(&self, depth: u32, _lo: usize, _mid: usize, _hi: usize) -> f32 {
        self.0[depth as usize]
    }
}

fn replay(args: &[String]) {
    let mut p = Params::default();
    let mut files = Vec::new();
    for a in args {
        match a.split_once('=') {
            Some(("rounds", v)) => p = Params::for_plan(v.parse().unwrap()),
            Some(("ctx", v)) => p.contexts = v.split(',').map(kind).collect(),
            Some(("slots", v)) => p.slots_per_token = v.parse().unwrap(),
            Some(("rate", v)) => p.mixer_rate = v.parse().unwrap(),
            Some(("boost", v)) => p.mixer_boost = v.parse().unwrap(),
            Some(("apm_rate", v)) => p.apm_rate = v.parse().unwrap(),
            Some(("apm", v)) => p.apm_share = v.parse().unwrap(),
            Some(("match", v)) => p.match_model = v != "0",
            Some(("apm_prev", v)) => p.apm_prev = v != "0",
            Some(("sel_mask", v)) => p.sel_mask = v != "0",
            Some(("v5", v)) => p = Params::v5(v.parse().unwrap()),
            Some(("apm_mix", v)) => p.apm_mix = v != "0",
            Some(("apm_mix_rate", v)) => p.apm_mix_rate = v.parse().unwrap(),
            Some(("gap", v)) => p.match_gap = v != "0",
            Some(("long", v)) => p.match_long = v.parse().unwrap(),
            Some(("v6", v)) => p = Params::v6(v.parse().unwrap()),
            Some(("v7", v)) => p = Params::v7(v.parse().unwrap()),
            Some(("ptr", v)) => p.pointers = v != "0",
            Some(("key", v)) => p.keyed = v != "0",
            Some(("v8", v)) => p = Params::v8(v.parse().unwrap()),
            Some(("v9", v)) => p = Params::v9(v.parse().unwrap()),
            Some(("maxbits", v)) => p.max_bits = v.parse().unwrap(),
            Some(("o0", v)) => p.small_order0 = v != "0",
            Some(("ways", v)) => p.ways = v.parse().unwrap(),
            Some(("apm_bits", v)) => p.apm_bits = v.parse().unwrap(),
            Some(("mslots", v)) => p.match_slots = v.parse().unwrap(),
            Some(("keyed_every", v)) => p.keyed_every = v.parse().unwrap(),
            // shift=KIND:S,...: context KIND's table 2^S times the size
            Some(("shift", v)) => {
                p.ctx_shift = vec![0; p.contexts.len()];
                for ks in v.split(',') {
                    let (k, sh) = ks.split_once(':').unwrap();
                    let at = p.contexts.iter().position(|&c| c == kind(k)).unwrap();
                    p.ctx_shift[at] = sh.parse().unwrap();
                }
            }
            Some(("add", v)) => p.contexts.extend(v.split(',').map(kind)),
            Some((k, _)) => panic!("unknown parameter {k}"),
            None => files.push(a.clone()),
        }
    }
    let (mut all_bits, mut all_bytes) = (0.0f64, 0u64);
    for f in &files {
        let mut raw = Vec::new();
        std::fs::File::open(f).unwrap().read_to_end(&mut raw).unwrap();
        let u = |k: usize| u32::from_le_bytes(raw[4 * k..4 * k + 4].try_into().unwrap());
        let (v, n, bytes) = (u(0) as usize, u(1) as usize, u(2) as u64);
        let bits = usize::BITS - (v.max(2) - 1).leading_zeros();
        let steps_end = 4 * (4 + n * (2 + bits as usize));
        let mut text = Vec::new();
        let mut at = steps_end;
        for _ in 0..u(3) {
            let len = u32::from_le_bytes(raw[at..at + 4].try_into().unwrap()) as usize;
            text.push(raw[at + 4..at + 4 + len].to_vec());
            at += 4 + len;
        }
        let mut cm = ContextMix::new(v, n, &text, p.clone());
        let mb = llmzip::coding::cm::model_bytes(v, n, &p);
        let bits = bits as usize;
        let t0 = std::time::Instant::now();
        let mut cost = 0.0f64;
        let mut lm_cost = 0.0f64;
        // FNV-1a of every P(1) in order: equal digests mean the same coded bytes
        let mut digest = 0xCBF2_9CE4_8422_2325u64;
        // cost of tokens coded without their left neighbour known (later rounds' gaps)
        let (mut blind, mut blind_n) = (0.0f64, 0usize);
        let mut seen = vec![false; n];
        // CM_COSTS=PATH: each token's position, id and bits, for a look at where they go
        let mut costs = std::env::var("CM_COSTS")
            .ok()
            .map(|p| std::fs::File::create(format!("{p}.{}", f.rsplit('/').next().unwrap())).unwrap());
        let mut off = 4;
        for _ in 0..n {
            let (i, tok) = (u(off) as usize, u(off + 1));
            let odds: Vec<f32> = (0..bits).map(|d| f32::from_bits(u(off + 2 + d))).collect();
            off += 2 + bits;
            // the LM alone: each coded decision at the LM's own odds
            let (tree, rank) = (cm.tree(), cm.tree().rank(tok));
            let mut node = 1u32;
            for d in 0..tree.bits {
                let (_, mid, hi) = tree.split(node, d);
                let b = (rank >> (tree.bits - 1 - d)) & 1;
                if mid < hi {
                    let x = if b == 1 { odds[d as usize] } else { -odds[d as usize] } as f64;
                    lm_cost += (1.0 + (-x).exp()).log2();
                }
                node = 2 * node + b;
            }
            let before = cost;
            cm.code(i, &Recorded(&odds), Some(tok), |bit, p1| {
                let b = bit.unwrap();
                let q = p1 as f64 / 65536.0;
                cost -= if b { q } else { 1.0 - q }.log2();
                digest = (digest ^ p1 as u64).wrapping_mul(0x100_0000_01B3);
                Ok(b)
            })
            .unwrap();
            if let Some(c) = &mut costs {
                writeln!(c, "{i} {tok} {}", cost - before).unwrap();
            }
            if i > 0 && !seen[i - 1] {
                blind += cost - before;
                blind_n += 1;
            }
            seen[i] = true;
        }
        println!(
            "{:28} {:.6} bits/byte  ({:.1} MB; LM alone {:.4}; {:.0} tokens/s; {} tokens without their left neighbour: {:.1}% of the bits; P(1) digest {digest:016x})",
            f.rsplit('/').next().unwrap(),
            cost / bytes as f64,
            mb as f64 / 1e6,
            lm_cost / bytes as f64,
            n as f64 / t0.elapsed().as_secs_f64(),
            blind_n,
            100.0 * blind / cost
        );
        all_bits += cost;
        all_bytes += bytes;
    }
    println!("{:28} {:.4} bits/byte", "all", all_bits / all_bytes as f64);
}
