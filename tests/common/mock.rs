//! The library's deterministic mock model ([`llmzip::model::mock`]) for the tests.

pub use llmzip::model::mock::with_mock;
