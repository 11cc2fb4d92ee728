//! llmzip: parse → run → exit code. Errors are one line plus a hint; a closed pipe is not an
//! error.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::args::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if err.chain().any(|e| {
                e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) || format!("{err:#}").contains("Broken pipe")
            {
                return ExitCode::SUCCESS;
            }
            let lib = err.chain().find_map(|e| e.downcast_ref::<llmzip::Error>());
            if matches!(lib, Some(llmzip::Error::Interrupted)) {
                eprintln!("llmzip: interrupted; no output was left behind");
                return ExitCode::from(130);
            }
            eprintln!("llmzip: error: {}", format!("{err:#}").replace('\n', " "));
            if let Some(h) = lib.and_then(|e| e.hint()) {
                eprintln!("  hint: {h}");
            }
            ExitCode::from(1)
        }
    }
}
