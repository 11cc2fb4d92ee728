//! llmzip: parse → run → exit code. Errors are one line plus a hint; a closed pipe is not an
//! error.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // A file-size limit (ulimit -f) must surface as an EFBIG write error, which removes the
    // temporary output, rather than as SIGXFSZ killing us mid-file.
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to SIG_IGN before any thread starts.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    // large model-call buffers stay in the heap (before any thread starts)
    llmzip::memory::tune_allocator();
    let args = cli::Cli::parse();
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
            eprintln!("llmzip: error: {}", one_line(&err));
            if let Some(h) = lib.and_then(|e| e.hint()) {
                eprintln!("  hint: {h}");
            }
            ExitCode::from(1)
        }
    }
}

/// The error and its causes on one line, each cause once: library errors already include
/// their source in their message.
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for e in err.chain() {
        let msg = e.to_string();
        if !line.contains(&msg) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&msg);
        }
    }
    line.replace('\n', " ")
}
