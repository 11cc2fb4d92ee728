//! Compression levels: `-1` (fastest) … `-9` (smallest), `--fast` = `-1`, `--best` = `-9`.
//! Each level names a tested combination of built-in model, method, reveal plan and adaptive
//! token model; options given explicitly (`--model`, `--window`, `--no-mix`, …) override the
//! level's choice. This table is the one place to edit when models or mixers change: keep it
//! ordered from fastest to smallest by measurement (the README's level table), keep every
//! model in it built in (a level must work on any machine), and keep [`DEFAULT`] at the
//! settings existing files were written with unless the default is meant to change.

use llmzip::coding::Method;
use llmzip::model::DEFAULT_MODEL;
use llmzip::schedule::{Lanes, RevealPlan, Shape};

/// What one level chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    pub model: &'static str,
    pub method: Method,
    pub plan: RevealPlan,
    /// arith: mix the LM with the adaptive token model
    pub mix: bool,
    /// arith: the adaptive token model's version ([`MIX_VERSIONS`])
    pub mix_version: u8,
}

const fn level(method: Method, window: usize, context: usize, lanes: usize) -> Level {
    Level { method, ..plan(DEFAULT_MODEL, window, context, 1, lanes) }
}

/// A level with a model of its own and a plan of several rounds (arith, adaptive model on).
const fn plan(model: &'static str, window: usize, context: usize, rounds: usize, lanes: usize) -> Level {
    Level {
        model,
        method: Method::Arith,
        plan: RevealPlan { window, context, rounds, shape: Shape::Geometric, lanes: Lanes::AtMost(lanes) },
        mix: true,
        // filled in by `get` from MIX_VERSIONS
        mix_version: 0,
    }
}

use Method::{Arith, Mask};

/// Levels 1 to 9, fastest first. 1 to 5 use the first built-in model (5 is what files written
/// without a level have always used); 6 to 9 use the pre-LayerNorm models on their integer
/// engine, which see more context in more rounds (alice29, integer engine: 2.027, 1.997,
/// 1.946 and 1.937 bits/byte against 2.083 at level 5; README, "Levels").
pub const LEVELS: [Level; 9] = [
    /* 1 */ level(Mask, 64, 0, 32),
    /* 2 */ level(Mask, 64, 0, 32),
    /* 3 */ level(Arith, 64, 0, 32),
    /* 4 */ level(Arith, 32, 0, 32),
    /* 5 */ level(Arith, 32, 8, 32),
    /* 6 */ plan("llmzip-small-1", 32, 32, 2, 32),
    /* 7 */ plan("llmzip-small-1", 64, 64, 4, 32),
    /* 8 */ plan("llmzip-medium-1", 32, 32, 3, 32),
    /* 9 */ plan("llmzip-medium-1", 64, 64, 4, 32),
];

/// The adaptive token model of each level (arith), a column of its own so that it changes
/// apart from the models and plans: version 4 (context mixing) where it measured smaller than
/// version 2 (README, "Levels"). Levels 1 and 2 (mask) do not use it.
pub const MIX_VERSIONS: [u8; 9] = [2, 2, 4, 4, 4, 4, 4, 4, 4];

/// The level used when none is given.
pub const DEFAULT: u8 = 5;

/// Level `n` (1..=9).
pub fn get(n: u8) -> Level {
    let k = (n.clamp(1, 9) - 1) as usize;
    Level { mix_version: MIX_VERSIONS[k], ..LEVELS[k] }
}

/// The levels that use `model`, as "1-4, 7" (empty when none does).
pub fn using(model: &str) -> String {
    let ns: Vec<u8> = (1..=9).filter(|&n| get(n).model == model).collect();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ns.len() {
        let mut j = i;
        while j + 1 < ns.len() && ns[j + 1] == ns[j] + 1 {
            j += 1;
        }
        parts.push(if i == j { ns[i].to_string() } else { format!("{}-{}", ns[i], ns[j]) });
        i = j + 1;
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The library's defaults are the default level's: files written without a level and
    /// through the library come out the same.
    #[test]
    fn the_default_level_is_the_library_default() {
        let d = get(DEFAULT);
        let o = llmzip::Options::default();
        assert_eq!(
            (d.model, d.method, d.plan, d.mix, d.mix_version),
            (DEFAULT_MODEL, o.method, o.plan, o.mix, o.mix_version)
        );
    }

    #[test]
    fn levels_are_listed_as_ranges() {
        assert_eq!(using(DEFAULT_MODEL), "1-5");
        assert_eq!(using("llmzip-medium-1"), "8-9");
        assert_eq!(using("no-such-model"), "");
    }
}
