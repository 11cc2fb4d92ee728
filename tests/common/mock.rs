//! The library's deterministic mock model ([`llmzip::model::mock`]) for the tests.

#[allow(unused_imports)]
pub use llmzip::model::mock::with_mock;
