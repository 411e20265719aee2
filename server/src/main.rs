//! `cmdb-server`: parses the arguments, sets up logging and the runtime, runs the subcommand
//! ([`cmdb_server::cli`]) and turns its outcome into an exit code.

use std::process::ExitCode;

use clap::Parser;
use cmdb_server::cli::{self, Cli};

/// mimalloc, not glibc's malloc: profiling a bulk import showed a quarter of the server's CPU
/// in glibc's malloc and free (SurrealDB's write path allocates many short-lived buffers),
/// and glibc's per-thread arenas kept memory the server no longer used.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CMDB_LOG").unwrap_or_else(|_| {
                "info,surrealdb=warn,surrealdb_core=warn,surrealkv=warn".into()
            }),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
