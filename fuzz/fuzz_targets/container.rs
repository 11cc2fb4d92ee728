//! The .llmz parser on arbitrary bytes: headers, block and end records.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    llmzip::fuzz::container(data);
});
