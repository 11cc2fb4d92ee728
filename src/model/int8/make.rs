//! `llmzip quantize`: a float pre-LN checkpoint and a calibration text in, the integer
//! checkpoint out (written beside config.json and tokenizer.json, covered by the fingerprint
//! of every file made with it).

use std::path::Path;

use candle_core::Tensor;
use rand::{Rng, SeedableRng};

use super::calibrate::{FloatModel, Stats};
use super::params::IntParams;
use super::quantize::{build, Options};
use crate::error::{Error, Result};
use crate::model::candle::{names_for, read_weights};
use crate::model::config::{Arch, ModelConfig};
use crate::model::resolve;
use crate::text::LosslessTokenizer;

/// Calibration sequences: `[CLS]`, CONTEXT visible tokens, WINDOW tokens of which a random
/// share (uniform in (0, 1]) is masked, `[SEP]` — the shapes the reveal plans send. A causal
/// model's: `[CLS]` and CONTEXT + WINDOW tokens, none masked.
const CONTEXT: usize = 32;
const WINDOW: usize = 32;
const BATCH: usize = 16;

/// A batch of sequences and, at each of their positions, the token the model predicts there:
/// the position's own (masked models) or the next one (causal models).
pub struct Batch {
    pub seqs: Vec<Vec<u32>>,
    pub truth: Vec<Vec<u32>>,
}

/// Token sequences cut from `text` and masked as the coder's rounds would (seeded); for a
/// `causal` model, unmasked.
pub fn calibration_batches(
    tok: &LosslessTokenizer,
    text: &[u8],
    max_tokens: usize,
    causal: bool,
) -> Result<Vec<Batch>> {
    let ids = tok.encode(text)?.ids;
    let ids = &ids[..ids.len().min(max_tokens)];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x11a7);
    let s = tok.ids;
    let (mut seqs, mut truth) = (Vec::new(), Vec::new());
    for chunk in ids.chunks_exact(CONTEXT + WINDOW) {
        if causal {
            seqs.push([&[s.cls], chunk].concat());
            truth.push([chunk, &[s.sep]].concat());
            continue;
        }
        let rate: f64 = 1.0 - rng.random::<f64>();
        let mut seq = Vec::with_capacity(CONTEXT + WINDOW + 2);
        seq.push(s.cls);
        for (i, &t) in chunk.iter().enumerate() {
            seq.push(if i >= CONTEXT && rng.random::<f64>() < rate { s.mask } else { t });
        }
        seq.push(s.sep);
        seqs.push(seq);
        truth.push([&[s.cls], chunk, &[s.sep]].concat());
    }
    if seqs.is_empty() {
        return Err(Error::Invalid(format!("the calibration text has fewer than {} tokens", CONTEXT + WINDOW)));
    }
    Ok(seqs
        .chunks(BATCH)
        .zip(truth.chunks(BATCH))
        .map(|(a, b)| Batch { seqs: a.to_vec(), truth: b.to_vec() })
        .collect())
}

/// Quantises the float model `name` with statistics from `text`.
pub fn quantize(name: &str, text: &[u8], max_tokens: usize, o: &Options) -> Result<(IntParams, Stats)> {
    let b = resolve(name)?;
    if b.weights.is_empty() {
        return Err(Error::model(name, "no float weights (model.safetensors) to quantise"));
    }
    let cfg_text = std::str::from_utf8(&b.config).map_err(|_| Error::model(name, "config.json is not UTF-8"))?;
    let cfg = ModelConfig::from_json(cfg_text, name)?;
    if cfg.arch != Arch::RobertaPreLayerNorm {
        return Err(Error::model(name, "only pre-LayerNorm RoBERTa models (roberta-prelayernorm) can be quantised"));
    }
    let tok = LosslessTokenizer::from_bytes(&b.tokenizer, name)?;
    let dev = super::calibrate::device();
    let tensors = read_weights(&b.weight_slices(), &dev)?;
    let names = names_for(cfg.arch);
    let m = FloatModel { cfg: &cfg, t: &tensors, names: &names };
    let mut st = Stats::default();
    for batch in calibration_batches(&tok, text, max_tokens, cfg.causal)? {
        let t = batch.seqs[0].len();
        let flat: Vec<u32> = batch.seqs.concat();
        m.run(&Tensor::from_vec(flat, (batch.seqs.len(), t), &dev)?, &mut st)?;
    }
    Ok((build(&m, &st, o)?, st))
}

/// Writes config.json, tokenizer.json (copied from the float model's directory) and the
/// integer checkpoint into `out`, replacing an older integer checkpoint there.
pub fn write(name: &str, p: &IntParams, out: &Path) -> Result<()> {
    let b = resolve(name)?;
    // read back with the loader's checks first, so that no checkpoint is written that the
    // engine would refuse to load
    let bytes = p.to_bytes()?;
    let cfg_text = std::str::from_utf8(&b.config).map_err(|_| Error::model(name, "config.json is not UTF-8"))?;
    IntParams::read(&bytes, &ModelConfig::from_json(cfg_text, name)?)
        .map_err(|e| Error::model(name, format!("the integer engine cannot run this model: {e}")))?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(format!("creating {}", out.display()), e))?;
    let put = |file: &str, bytes: &[u8]| -> Result<()> {
        let path = out.join(file);
        let tmp = out.join(format!(".{file}.tmp"));
        std::fs::write(&tmp, bytes).map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(format!("writing {}", path.display()), e))
    };
    for (file, bytes) in [("config.json", &b.config), ("tokenizer.json", &b.tokenizer)] {
        let path = out.join(file);
        if std::fs::read(&path).ok().as_deref() != Some(bytes.as_ref()) {
            put(file, bytes)?;
        }
    }
    put(super::FILE, &bytes)
}

/// How the integer engine's log-probabilities compare with the float model's at the masked
/// positions of calibration-shaped sequences (a causal model's: every position).
#[derive(Debug, Clone, Default)]
pub struct Check {
    pub positions: usize,
    /// mean code length of the true token, bits
    pub float_bits: f64,
    pub int_bits: f64,
    /// mean Kullback-Leibler divergence of the integer distribution from the float one, bits
    pub kl_bits: f64,
    /// over every vocabulary entry at every position, nats
    pub max_abs_diff: f64,
    pub mean_abs_diff: f64,
}

/// Runs the float model `name` and the integer engine `p` on sequences cut from `text`.
pub fn check(name: &str, p: &IntParams, text: &[u8], max_tokens: usize) -> Result<Check> {
    use crate::model::MaskedLm;
    let b = resolve(name)?;
    let cfg_text = std::str::from_utf8(&b.config).map_err(|_| Error::model(name, "config.json is not UTF-8"))?;
    let cfg = ModelConfig::from_json(cfg_text, name)?;
    let tok = LosslessTokenizer::from_bytes(&b.tokenizer, name)?;
    let dev = super::calibrate::device();
    let tensors = read_weights(&b.weight_slices(), &dev)?;
    let names = names_for(cfg.arch);
    let m = FloatModel { cfg: &cfg, t: &tensors, names: &names };
    let lm = super::IntLm::from_params(p.clone(), cfg.max_sequence(), cfg.causal);
    let v = cfg.vocab_size;
    let mut c = Check::default();
    let mut sum_abs = 0f64;
    let ln2 = std::f64::consts::LN_2;
    for batch in calibration_batches(&tok, text, max_tokens, cfg.causal)? {
        let (seqs, t) = (&batch.seqs, batch.seqs[0].len());
        let lp_f = m.run(&Tensor::from_vec(seqs.concat(), (seqs.len(), t), &dev)?, &mut Stats::default())?;
        let lp_f = lp_f.flatten_all()?.to_vec1::<f32>()?;
        let sel: Vec<(usize, usize)> = (0..seqs.len())
            .flat_map(|i| (0..t).map(move |j| (i, j)))
            // a causal model's last row predicts a token beyond the text
            .filter(|&(i, j)| if cfg.causal { j + 1 < t } else { seqs[i][j] == tok.ids.mask })
            .collect();
        let lp_i = lm.log_probs(seqs, &sel)?;
        for (k, &(i, j)) in sel.iter().enumerate() {
            let f = &lp_f[(i * t + j) * v..(i * t + j + 1) * v];
            let q = &lp_i[k * v..(k + 1) * v];
            let truth = batch.truth[i][j] as usize;
            c.float_bits -= f[truth] as f64 / ln2;
            c.int_bits -= q[truth] as f64 / ln2;
            for (&a, &b) in f.iter().zip(q) {
                let d = (a as f64 - b as f64).abs();
                // beyond -30 nats a token costs the coder's floor either way
                c.max_abs_diff = c.max_abs_diff.max(if a > -30.0 { d } else { 0.0 });
                sum_abs += d;
                c.kl_bits += (a as f64).exp() * (a as f64 - b as f64) / ln2;
            }
            c.positions += 1;
        }
    }
    let n = c.positions.max(1) as f64;
    c.float_bits /= n;
    c.int_bits /= n;
    c.kl_bits /= n;
    c.mean_abs_diff = sum_abs / (n * v as f64);
    Ok(c)
}
