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
}

const fn level(method: Method, window: usize, context: usize, lanes: usize) -> Level {
    Level {
        model: DEFAULT_MODEL,
        method,
        plan: RevealPlan { window, context, rounds: 1, shape: Shape::Geometric, lanes: Lanes::AtMost(lanes) },
        mix: true,
    }
}

use Method::{Arith, Mask};

/// Levels 1 to 9, fastest first. With the built-in model the LM call per token costs about
/// the same whatever the plan, so today the mask method (no range coder, no adaptive model)
/// is the fast end, and no plan measured smaller than level 6's: 7 to 9 repeat it until a
/// larger model or mixer earns them (README, "Levels").
pub const LEVELS: [Level; 9] = [
    /* 1 */ level(Mask, 64, 0, 32),
    /* 2 */ level(Mask, 64, 0, 32),
    /* 3 */ level(Arith, 64, 0, 32),
    /* 4 */ level(Arith, 32, 0, 32),
    /* 5 */ level(Arith, 32, 8, 32),
    /* 6 */ level(Arith, 32, 8, 8),
    /* 7 */ level(Arith, 32, 8, 8),
    /* 8 */ level(Arith, 32, 8, 8),
    /* 9 */ level(Arith, 32, 8, 8),
];

/// The level used when none is given.
pub const DEFAULT: u8 = 5;

/// Level `n` (1..=9).
pub fn get(n: u8) -> Level {
    LEVELS[(n.clamp(1, 9) - 1) as usize]
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

    /// Files written without a level must keep the bytes they had before levels existed.
    #[test]
    fn the_default_level_is_the_historical_default() {
        let d = get(DEFAULT);
        let o = llmzip::Options::default();
        assert_eq!((d.model, d.method, d.plan, d.mix), (DEFAULT_MODEL, o.method, o.plan, o.mix));
    }

    #[test]
    fn levels_are_listed_as_ranges() {
        assert_eq!(using(DEFAULT_MODEL), "1-9");
        assert_eq!(using("no-such-model"), "");
    }
}
