//! Full block decoding (residual, range or mask decoder, tokenizer) with the tiny RoBERTa
//! test model, on arbitrary payloads under arbitrary plans.
#![no_main]

use std::sync::OnceLock;

fn model() -> &'static llmzip::Model {
    static MODEL: OnceLock<llmzip::Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/tiny-roberta");
        llmzip::Model::load(dir, &llmzip::model::DeviceSpec::Cpu).expect("tiny-roberta fixture")
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    llmzip::fuzz::decode_block(model(), data);
});
