//! A progress line on stderr, only when stderr is a terminal and the work is long enough to
//! deserve one.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub fn bar(enabled: bool, label: &str) -> ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    pb.set_style(ProgressStyle::with_template("{spinner} {msg} {pos} tokens, {per_sec}, {elapsed}").unwrap());
    pb.set_message(label.to_string());
    // indicatif draws only after this delay: quick runs print nothing
    pb.enable_steady_tick(Duration::from_millis(1000));
    pb
}

/// Training progress: steps, loss, tokens/s, ETA when the step count is known. Drawn only on
/// a terminal; elsewhere a line every ~30 s keeps logs informative.
pub fn training_bar(steps: Option<usize>) -> ProgressBar {
    let pb = match steps {
        Some(n) => ProgressBar::new(n as u64),
        None => ProgressBar::no_length(),
    };
    if std::io::stderr().is_terminal() {
        let t = if steps.is_some() {
            "{bar:30} {pos}/{len} {msg} eta {eta}"
        } else {
            "{spinner} step {pos} {msg} {elapsed}"
        };
        pb.set_style(ProgressStyle::with_template(t).unwrap());
        pb.set_draw_target(ProgressDrawTarget::stderr());
    } else {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    pb
}
