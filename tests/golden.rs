//! The model runtime must match Hugging Face transformers: max |Δ log-prob| ≤ 1e-4 on the
//! golden set made by tests/golden/make_golden.py (tiny random models, a padded batch; a causal
//! one, `RobertaPreLayerNormForCausalLM`) and on the real splade-tiny checkpoint (legacy
//! gamma/beta names, tied decoder omitted).

mod common;

use serde_json::Value;

fn golden() -> Value {
    serde_json::from_str(&std::fs::read_to_string(common::fixture("golden.json")).unwrap()).unwrap()
}

fn seqs_sel(g: &Value) -> (Vec<Vec<u32>>, Vec<(usize, usize)>) {
    let seqs = g["seqs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect())
        .collect();
    let sel = g["sel"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_u64().unwrap() as usize, p[1].as_u64().unwrap() as usize))
        .collect();
    (seqs, sel)
}

#[test]
fn tiny_models_match_transformers() {
    let g = golden();
    for (arch, key) in [
        ("tiny-bert", "bert"),
        ("tiny-roberta", "roberta"),
        ("tiny-distilbert", "distilbert"),
        ("tiny-roberta-prelayernorm", "roberta-prelayernorm"),
        ("tiny-roberta-prelayernorm-causal", "roberta-prelayernorm-causal"),
    ] {
        let m = common::load(arch);
        assert_eq!(m.lm.causal(), key.ends_with("-causal"), "{arch}");
        let (seqs, sel) = seqs_sel(&g[key]);
        assert!(
            seqs.iter().map(Vec::len).min() != seqs.iter().map(Vec::len).max(),
            "golden batch must exercise padding"
        );
        let lp = m.lm.log_probs(&seqs, &sel).unwrap();
        let v = m.lm.vocab_size();
        let want = g[key]["log_probs"].as_array().unwrap();
        assert_eq!(want.len(), sel.len());
        let mut worst = 0f32;
        for (k, row) in want.iter().enumerate() {
            for (j, x) in row.as_array().unwrap().iter().enumerate() {
                worst = worst.max((lp[k * v + j] - x.as_f64().unwrap() as f32).abs());
            }
        }
        eprintln!("{arch}: max |Δ log-prob| = {worst:e}");
        assert!(worst <= 1e-4, "{arch}: max |Δ log-prob| = {worst}");
    }
}

/// The causal model's rows see only the rows before them: each golden row matches
/// transformers whether it is computed alone, in its own sequence or in the padded batch
/// (one row takes the full computation, 16 or more the rows-only one), and truncating a
/// sequence after a row changes that row by float rounding only.
#[test]
fn causal_rows_match_transformers_in_every_call_shape() {
    let g = &golden()["roberta-prelayernorm-causal"];
    let m = common::load("tiny-roberta-prelayernorm-causal");
    let (seqs, sel) = seqs_sel(g);
    let v = m.lm.vocab_size();
    let want: Vec<Vec<f32>> = g["log_probs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect())
        .collect();
    let worst = |got: &[f32], k: usize| got.iter().zip(&want[k]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    let mut shapes = 0;
    for (i, s) in seqs.iter().enumerate() {
        let rows: Vec<usize> = (0..sel.len()).filter(|&k| sel[k].0 == i).collect();
        let own: Vec<(usize, usize)> = rows.iter().map(|&k| (0, sel[k].1)).collect();
        let lp = m.lm.log_probs(std::slice::from_ref(s), &own).unwrap();
        for (n, &k) in rows.iter().enumerate() {
            assert!(worst(&lp[n * v..(n + 1) * v], k) <= 1e-4, "sequence {i} row {}", sel[k].1);
            let p = sel[k].1;
            let alone = m.lm.log_probs(std::slice::from_ref(s), &[(0, p)]).unwrap();
            assert!(worst(&alone, k) <= 1e-4, "row {p} of sequence {i} alone");
            let cut = m.lm.log_probs(&[s[..=p].to_vec()], &[(0, p)]).unwrap();
            assert!(worst(&cut, k) <= 1e-4, "row {p} of sequence {i} cut after it");
            shapes += 3;
        }
    }
    assert!(shapes >= 3 * 40);
}

#[test]
fn splade_tiny_loads_and_matches_transformers() {
    let Some(dir) = common::shared("models/splade-tiny") else {
        eprintln!("skipped: ../shared/models/splade-tiny not present");
        return;
    };
    let m = llmzip::Model::load(dir.to_str().unwrap(), &llmzip::model::DeviceSpec::Cpu).unwrap();
    let g = &golden()["splade-tiny"];
    let v = m.lm.vocab_size();
    assert_eq!(v, 30522);
    let seqs: Vec<Vec<u32>> = g["seqs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect())
        .collect();
    for (i, seq) in seqs.iter().enumerate() {
        let p = g["sel"][i][1].as_u64().unwrap() as usize;
        let lp = m.lm.log_probs(std::slice::from_ref(seq), &[(0, p)]).unwrap();
        let row = &g["rows"][i];
        let mut worst = 0f32;
        for (id, x) in row["ids"].as_array().unwrap().iter().zip(row["log_probs"].as_array().unwrap()) {
            worst = worst.max((lp[id.as_u64().unwrap() as usize] - x.as_f64().unwrap() as f32).abs());
        }
        assert!(worst <= 1e-4, "splade-tiny: max |Δ log-prob| = {worst}");
        assert!(lp.len() == v);
    }
}

/// Files written before the pre-LayerNorm encoder joined the shared transformer code (made by
/// the binary of commit 4d2b2b4, commands in tests/fixtures/v2/README.md) still decode: the
/// post-LN numerics of every architecture, with and without mixing, lanes and lockstep, did
/// not change by a bit.
#[test]
fn files_made_before_still_decode_with_every_architecture() {
    let text = std::fs::read(common::fixture("v2/text.txt")).unwrap();
    for (file, model) in [
        ("default.llmz", None),
        ("default-lockstep.llmz", None),
        ("tiny-bert.llmz", Some("tiny-bert")),
        ("tiny-distilbert-mask.llmz", Some("tiny-distilbert")),
        ("tiny-roberta-nomix.llmz", Some("tiny-roberta")),
    ] {
        let m = match model {
            Some(f) => common::load(f),
            None => llmzip::Model::load(llmzip::model::DEFAULT_MODEL, &llmzip::model::DeviceSpec::Cpu).unwrap(),
        };
        let z = std::fs::read(common::fixture(&format!("v2/{file}"))).unwrap();
        assert_eq!(llmzip::container::Header::read(&mut &z[..]).unwrap().unwrap().version, 2);
        let mut out = Vec::new();
        llmzip::Decompressor::new(&m, 1).decompress(&z[..], &mut out, &llmzip::Hooks::default()).unwrap();
        assert_eq!(out, text, "{file}");
    }
}
