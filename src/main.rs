//! The `berth` binary: parse the command line, set up logging, run.

use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
    let cli = berth::cli::Cli::parse();
    if cli.is_serve() {
        limit_malloc_arenas();
    }
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("BERTH_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        // A failed log write must never fail a request (its report would go to stderr too).
        .log_internal_errors(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(berth::cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth: {}", berth::error_chain(e.as_ref()));
            // az's codes: 3 for a resource not found, 1 for other failures (clap exits 2 on usage).
            std::process::ExitCode::from(berth::cli::exit_code(&e))
        }
    }
}

/// glibc gives each thread that contends for the heap an arena of its own (up to eight per
/// core) and keeps what is freed there, so a server's RSS creeps up under long mixed load:
/// `bench/soak` measured 62 to 100 MiB over 10 minutes with the default, and a flat 59 MiB with
/// two arenas for the same throughput. glibc reads `MALLOC_ARENA_MAX` only when a process
/// starts, so `serve` runs itself again, once, with it set (unless the operator set it).
fn limit_malloc_arenas() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    let error = std::process::Command::new(exe).args(std::env::args_os().skip(1)).env("MALLOC_ARENA_MAX", "2").exec();
    // Only reached if the exec failed: carry on with the defaults.
    eprintln!("berth: cannot limit malloc arenas ({error}); going on without");
}
