//! Models compiled into the binary, by name. A file names the model it was made with (the
//! header's model name and fingerprint), so every model that was ever built in stays here,
//! under the same name and with the same bytes, for as long as files made with it must decode.
//! Weights may be stored as f16: loading widens them to f32 exactly, so the stored bytes
//! (which the fingerprint covers) fix the f32 values the model computes with.

/// One built-in model: the three files of a Hugging Face directory.
pub struct Builtin {
    pub name: &'static str,
    pub config: &'static [u8],
    pub tokenizer: &'static [u8],
    pub weights: &'static [u8],
    /// the integer version (`llmzip quantize`), which loading prefers: the same numerics on
    /// every CPU and GPU; the float weights still decode files made with them
    pub int8: Option<&'static [u8]>,
    /// where its files live in the repository, and what it is
    pub about: &'static str,
}

/// A header without a model name means this model: the built-in default of the releases that
/// wrote version-2 files first. Fixed forever, whatever the default becomes.
pub const UNNAMED: &str = "llmzip-default";

/// Every built-in model.
pub static ALL: &[Builtin] = &[
    Builtin {
        name: "llmzip-default",
        config: include_bytes!("../../data/default-model/config.json"),
        tokenizer: include_bytes!("../../data/default-model/tokenizer.json"),
        weights: include_bytes!("../../data/default-model/model.safetensors"),
        int8: None,
        about: "data/default-model: post-LN RoBERTa 4L/128H, 8k byte-level BPE (f32)",
    },
    Builtin {
        name: "llmzip-small-1",
        config: include_bytes!("../../data/llmzip-small-1/config.json"),
        tokenizer: include_bytes!("../../data/llmzip-small-1/tokenizer.json"),
        weights: include_bytes!("../../data/llmzip-small-1/model.safetensors"),
        int8: Some(include_bytes!("../../data/llmzip-small-1/model.int8.safetensors")),
        about: "data/llmzip-small-1: pre-LN RoBERTa 4L/128H, any-order objective, 8k byte-level BPE (f16)",
    },
    Builtin {
        name: "llmzip-medium-1",
        config: include_bytes!("../../data/llmzip-medium-1/config.json"),
        tokenizer: include_bytes!("../../data/llmzip-medium-1/tokenizer.json"),
        weights: include_bytes!("../../data/llmzip-medium-1/model.safetensors"),
        int8: Some(include_bytes!("../../data/llmzip-medium-1/model.int8.safetensors")),
        about: "data/llmzip-medium-1: pre-LN RoBERTa 4L/256H, any-order objective, 8k byte-level BPE (f16)",
    },
    Builtin {
        name: "llmzip-large-1",
        config: include_bytes!("../../data/llmzip-large-1/config.json"),
        tokenizer: include_bytes!("../../data/llmzip-large-1/tokenizer.json"),
        // integer version only: its float weights (50 MB) would not fit the GPU machine's
        // working tree beside the repository
        weights: &[],
        int8: Some(include_bytes!("../../data/llmzip-large-1/model.int8.safetensors")),
        about: "data/llmzip-large-1: pre-LN RoBERTa 8L/320H, any-order objective, 8k byte-level BPE (integer only)",
    },
    Builtin {
        name: "llmzip-causal-1",
        config: include_bytes!("../../data/llmzip-causal-1/config.json"),
        tokenizer: include_bytes!("../../data/llmzip-causal-1/tokenizer.json"),
        weights: include_bytes!("../../data/llmzip-causal-1/model.safetensors"),
        int8: Some(include_bytes!("../../data/llmzip-causal-1/model.int8.safetensors")),
        about: "data/llmzip-causal-1: causal pre-LN RoBERTa 4L/256H, next-token objective, 8k byte-level BPE (f16)",
    },
    Builtin {
        name: "llmzip-causal-large-1",
        config: include_bytes!("../../data/llmzip-causal-large-1/config.json"),
        tokenizer: include_bytes!("../../data/llmzip-causal-large-1/tokenizer.json"),
        // integer version only, as llmzip-large-1: its f16 weights (25 MB) would crowd the
        // GPU machine's working tree
        weights: &[],
        int8: Some(include_bytes!("../../data/llmzip-causal-large-1/model.int8.safetensors")),
        about: "data/llmzip-causal-large-1: causal pre-LN RoBERTa 8L/320H, next-token objective, 8k byte-level BPE (integer only)",
    },
];

/// The built-in model called `name`.
pub fn find(name: &str) -> Option<&'static Builtin> {
    find_in(ALL, name)
}

fn find_in<'a>(list: &'a [Builtin], name: &str) -> Option<&'a Builtin> {
    list.iter().find(|b| b.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;
    use candle_core::Device;

    /// A second registry as the binary would carry it: the tiny pre-LN fixture stored as f16
    /// by scripts/builtin-model.py.
    static TEST_LIST: &[Builtin] = &[Builtin {
        name: "tiny-f16",
        config: include_bytes!("../../tests/fixtures/tiny-roberta-prelayernorm-f16/config.json"),
        tokenizer: include_bytes!("../../tests/fixtures/tiny-roberta-prelayernorm-f16/tokenizer.json"),
        weights: include_bytes!("../../tests/fixtures/tiny-roberta-prelayernorm-f16/model.safetensors"),
        int8: None,
        about: "test",
    }];

    fn load(b: &Builtin) -> Model {
        Model::from_bytes(b.name, b.config, b.tokenizer, &[b.weights], &crate::model::DeviceSpec::Cpu).unwrap()
    }

    #[test]
    fn f16_weights_load_as_the_exactly_widened_values_of_the_f32_model() {
        let b = find_in(TEST_LIST, "tiny-f16").unwrap();
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny-roberta-prelayernorm/model.safetensors");
        let f32s = crate::model::candle::read_weights(&[&std::fs::read(dir).unwrap()], &Device::Cpu).unwrap();
        let f16s = crate::model::candle::read_weights(&[b.weights], &Device::Cpu).unwrap();
        assert_eq!(f32s.len(), f16s.len());
        for (name, t) in &f32s {
            let rounded = t.to_dtype(candle_core::DType::F16).unwrap().to_dtype(candle_core::DType::F32).unwrap();
            let got = &f16s[name];
            assert_eq!(got.dtype(), candle_core::DType::F32);
            let d = (got - rounded).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert_eq!(d, 0.0, "{name}");
        }
        // the fingerprint covers the stored bytes: the same on every load
        assert_eq!(load(b).fingerprint, load(b).fingerprint);
    }

    #[test]
    fn a_file_names_its_built_in_model_and_decodes_by_that_name() {
        use crate::{Compressor, Decompressor, Hooks, Options};
        let m = load(&TEST_LIST[0]);
        let text = b"the cat sat on the mat. the dog sat on the log.".repeat(5);
        let c = Compressor::new(&m, Options::default()).unwrap();
        let mut z = Vec::new();
        c.compress(&text[..], &mut z, &Hooks::default()).unwrap();
        let h = crate::container::Header::read(&mut &z[..]).unwrap().unwrap();
        assert_eq!(h.model_name.as_deref(), Some("tiny-f16"), "only {UNNAMED} goes unnamed");
        let loader = |name: &str, _numerics: &str| -> crate::Result<std::sync::Arc<Model>> {
            let b = find_in(TEST_LIST, name).ok_or_else(|| crate::Error::model(name, "not built in"))?;
            Ok(std::sync::Arc::new(load(b)))
        };
        let mut out = Vec::new();
        Decompressor::by_engine(&loader, 1).decompress(&z[..], &mut out, &Hooks::default()).unwrap();
        assert_eq!(out, text);
    }

    #[test]
    fn names_are_unique_and_the_unnamed_model_is_built_in() {
        let mut names: Vec<&str> = ALL.iter().map(|b| b.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        assert!(find(UNNAMED).is_some());
        assert!(find(crate::model::DEFAULT_MODEL).is_some());
        assert!(find("no-such-model").is_none());
    }
}
