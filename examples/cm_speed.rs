//! Speed aid for the coding thread (the adaptive model of `--method arith`), not part of the
//! product: times what one block's coding thread does per token, without the model calls.
//!
//! `cm_speed dump MODEL FILE OUT [TOKENS]` runs the LM once over FILE as one block with the
//! default level's causal plan (context 16, hop 48, 32 lanes) and records, in coding order,
//! the first TOKENS coded tokens (all by default) with the LM's whole log-probability row of
//! each: all the coding thread gets from the model calls.
//! `cm_speed run DUMP [REPS [VERSION]]` codes the recorded tokens REPS times with adaptive
//! model VERSION (default: what new files use), then decodes them, and prints the coding
//! thread's CPU seconds per pass, microseconds per token, the coded size and an FNV-1a digest
//! of the coded bytes (equal digests: the same bytes), and of each pass's CPU time the part
//! spent in the kernel (the tables' pages are cleared on first touch; a coding change does not
//! move that). `CM_SPEED_ROWS=gpu` feeds the rows a GPU run feeds instead (made from the
//! recorded ones beforehand, bit for bit the backends' own): path rows to the encoder, ranked
//! rows to the decoder, so the pass times only what a GPU run's coding thread does.

use std::io::{Read, Write};

use llmzip::coding::adaptive::{Reader, Version, Writer};
use llmzip::coding::cm::ranked;
use llmzip::coding::cm::tree::{LmBits, Tree};
use llmzip::coding::profile::thread_cpu;
use llmzip::coding::{drive_known, Ctx};
use llmzip::model::RowForm;
use llmzip::schedule::{Lanes, RevealPlan, Shape};
use llmzip::{Model, Options};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("dump") => dump(&args[1], &args[2], &args[3], args.get(4).map_or(usize::MAX, |t| t.parse().unwrap())),
        Some("run") => run(
            &args[1],
            args.get(2).map_or(3, |r| r.parse().unwrap()),
            args.get(3).map_or(llmzip::coding::MIX_VERSION, |v| v.parse().unwrap()),
        ),
        _ => eprintln!("usage: cm_speed dump MODEL FILE OUT [TOKENS] | cm_speed run DUMP [REPS [VERSION]]"),
    }
}

fn dump(model: &str, file: &str, out: &str, keep: usize) {
    let m = Model::load(model, &llmzip::model::DeviceSpec::Cpu).unwrap();
    let data = std::fs::read(file).unwrap();
    let tok = m.tokenizer.encode(&data).unwrap();
    let mut opts = Options::default();
    opts.plan =
        RevealPlan { window: 48, context: 16, rounds: 1, shape: Shape::Causal, lanes: Lanes::AtMost(32), settle: None };
    let nanos = std::sync::atomic::AtomicU64::new(0);
    let ctx = Ctx {
        lm: m.lm.as_ref(),
        plan: &opts.plan,
        ids: m.tokenizer.ids,
        tokenizer: &m.tokenizer,
        batch: opts.batch,
        mix: llmzip::coding::MIX_VERSION,
        cancel: &|| false,
        progress: &|_| {},
        model_nanos: &nanos,
    };
    let v = m.lm.vocab_size();
    let n = tok.ids.len();
    let keep = keep.min(n);
    let mut f = std::io::BufWriter::new(std::fs::File::create(out).unwrap());
    let text = m.tokenizer.token_bytes();
    for x in [v as u32, n as u32, keep as u32, text.len() as u32] {
        f.write_all(&x.to_le_bytes()).unwrap();
    }
    for t in &text {
        f.write_all(&(t.len() as u32).to_le_bytes()).unwrap();
        f.write_all(t).unwrap();
    }
    let mut done = 0;
    drive_known(&ctx, &tok.ids, |i, lp| {
        if done < keep {
            f.write_all(&(i as u32).to_le_bytes()).unwrap();
            f.write_all(&tok.ids[i].to_le_bytes()).unwrap();
            for x in lp {
                f.write_all(&x.to_le_bytes()).unwrap();
            }
            done += 1;
        }
        Ok(())
    })
    .unwrap();
    f.flush().unwrap();
}

fn run(path: &str, reps: usize, version: u8) {
    let mut raw = Vec::new();
    std::fs::File::open(path).unwrap().read_to_end(&mut raw).unwrap();
    let u = |at: usize| u32::from_le_bytes(raw[at..at + 4].try_into().unwrap());
    let (v, n, keep, nt) = (u(0) as usize, u(4) as usize, u(8) as usize, u(12) as usize);
    // CM_SPEED_TOKENS: code only the first this many of the recorded tokens
    let keep = std::env::var("CM_SPEED_TOKENS").map_or(keep, |t| t.parse::<usize>().unwrap().min(keep));
    let mut at = 16;
    let mut text = Vec::with_capacity(nt);
    for _ in 0..nt {
        let len = u(at) as usize;
        text.push(raw[at + 4..at + 4 + len].to_vec());
        at += 4 + len;
    }
    let mut pos = Vec::with_capacity(keep);
    let mut toks = Vec::with_capacity(keep);
    let mut lps: Vec<f32> = Vec::with_capacity(keep * v);
    for _ in 0..keep {
        pos.push(u(at) as usize);
        toks.push(u(at + 4));
        at += 8;
        lps.extend(raw[at..at + 4 * v].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())));
        at += 4 * v;
    }
    drop(raw);
    let version = Version::from_u8(version).unwrap();
    let gpu = std::env::var("CM_SPEED_ROWS").is_ok_and(|r| r == "gpu");
    // the GPU's rows: (encoder's form and rows, decoder's form and rows)
    let (enc_rows, dec_rows) = if gpu { gpu_rows(version, v, &text, &toks, &lps) } else { Default::default() };
    let (enc_form, enc_w, dec_form, dec_w) = match &enc_rows {
        Some((ef, _)) => {
            let df = dec_rows.as_ref().unwrap().0;
            (*ef, ef.len(v), df, df.len(v))
        }
        None => (RowForm::LogProbs, v, RowForm::LogProbs, v),
    };
    let enc_lp: &[f32] = enc_rows.as_ref().map_or(&lps, |r| &r.1);
    let dec_lp: &[f32] = dec_rows.as_ref().map_or(&lps, |r| &r.1);
    println!("{keep} of {n} tokens, vocabulary {v}, version {version:?}, rows {enc_form:?} / {dec_form:?}");
    for rep in 0..reps {
        let mut model = version.model_for(v, n, 1, || text.clone(), enc_form).unwrap();
        let mut w = Writer::new(version);
        let t0 = thread_cpu();
        let s0 = thread_sys();
        for k in 0..keep {
            w.tok = toks[k];
            model.code(pos[k], &enc_lp[k * enc_w..(k + 1) * enc_w], &mut w).unwrap();
        }
        let bytes = w.finish().unwrap();
        let enc = thread_cpu() - t0;
        let enc_sys = thread_sys() - s0;
        let mut model = version.model_for(v, n, 1, || text.clone(), dec_form).unwrap();
        let mut r = Reader::new(version, &bytes).unwrap();
        let t0 = thread_cpu();
        let s0 = thread_sys();
        for k in 0..keep {
            let t = model.code(pos[k], &dec_lp[k * dec_w..(k + 1) * dec_w], &mut r).unwrap();
            assert_eq!(t, toks[k], "decoded token {k} differs");
        }
        let dec = thread_cpu() - t0;
        let dec_sys = thread_sys() - s0;
        let digest = bytes.iter().fold(0xCBF2_9CE4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01B3));
        println!(
            "pass {rep}: encode {enc:.3} s ({:.2} us/token), decode {dec:.3} s ({:.2} us/token), {} bytes, digest {digest:016x}; user only: encode {:.2} decode {:.2} us/token",
            enc * 1e6 / keep as f64,
            dec * 1e6 / keep as f64,
            bytes.len(),
            (enc - enc_sys) * 1e6 / keep as f64,
            (dec - dec_sys) * 1e6 / keep as f64,
        );
    }
}

/// The rows a GPU run feeds a block's coding threads for `toks` with log-probabilities `lps`:
/// path rows for the encoder, ranked rows for the decoder (`None`: the version reads
/// log-probabilities only).
#[allow(clippy::type_complexity)]
fn gpu_rows(
    version: Version,
    v: usize,
    text: &[Vec<u8>],
    toks: &[u32],
    lps: &[f32],
) -> (Option<(RowForm, Vec<f32>)>, Option<(RowForm, Vec<f32>)>) {
    let Some(p) = version.params(1) else { return (None, None) };
    let tree = Tree::new(v, text);
    let depth = ranked::depth_for(&tree);
    let (mut lm, mut row) = (LmBits::default(), Vec::new());
    let (mut enc, mut dec) = (Vec::new(), Vec::new());
    for (k, &t) in toks.iter().enumerate() {
        let lp = &lps[k * v..(k + 1) * v];
        ranked::path_row(lp, &tree, p.v3, tree.rank(t), &mut lm, &mut row);
        enc.extend_from_slice(&row);
        ranked::ranked_row(lp, &tree, p.v3, depth, &mut lm, &mut row);
        dec.extend_from_slice(&row);
    }
    (Some((RowForm::Path, enc)), Some((RowForm::Ranked { depth }, dec)))
}

/// This thread's CPU seconds in the kernel so far.
fn thread_sys() -> f64 {
    // SAFETY: getrusage writes the struct it is given
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut u) };
    u.ru_stime.tv_sec as f64 + u.ru_stime.tv_usec as f64 * 1e-6
}
