//! `fulcrum`: see `fulcrum --help` and SPEC "Command line".

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;
use fulcrum::cli::{config_path, Cli, Command};
use fulcrum::running::Running;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!(
                "fulcrum {} (protocols: http/1.1, h2, h2c; tls: {})",
                env!("CARGO_PKG_VERSION"),
                fulcrum_tls::description()
            );
            ExitCode::SUCCESS
        }
        Command::Check { config } => check(config_path(config)),
        Command::Run { config } => {
            init_tracing();
            exit(run(config_path(config)))
        }
        Command::Demo { bind, admin_bind } => {
            init_tracing();
            exit(demo(bind, admin_bind))
        }
    }
}

fn exit(r: anyhow::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fulcrum: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = EnvFilter::try_from_env("FULCRUM_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal as _;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if std::env::var("FULCRUM_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn check(path: std::path::PathBuf) -> ExitCode {
    match fulcrum_config::load_file(&path) {
        Ok(cfg) => {
            println!("{}: valid", path.display());
            print!("{}", fulcrum_config::summary(&cfg));
            ExitCode::SUCCESS
        }
        Err(errors) => {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{errors}");
            let n = errors.errors.len();
            let _ = writeln!(
                err,
                "{}: {n} error{}",
                path.display(),
                if n == 1 { "" } else { "s" }
            );
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn run(path: std::path::PathBuf) -> anyhow::Result<()> {
    raise_fd_limit();
    let cfg = fulcrum_config::load_file(&path)
        .map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
    // Signal handlers and their runtime come first: once the listeners accept, a flood of
    // clients may take every descriptor left (so they could not be made later), and a SIGTERM
    // arriving right after start must already mean "drain", not the default "die".
    let rt = runtime()?;
    let mut signals = rt.block_on(async { Signals::new() })?;
    let running = Running::start_with_path(&cfg, Some(path.clone()))?;
    tracing::info!(config = %path.display(), workers = cfg.runtime.workers, "fulcrum started");
    let first = rt.block_on(wait_for_stop(&mut signals, Some(&running)));
    // SIGTERM (Kubernetes, systemd, docker stop): `/ready` answers 503 through the drain delay
    // while the listeners go on serving, so that whatever routes clients here notices first.
    // SIGINT (Ctrl-C) or a second signal skips the delay.
    let delay = running.control.begin_drain();
    if first == Stop::Term && !delay.is_zero() {
        rt.block_on(drain_delay(&mut signals, &running, delay));
    }
    tracing::info!("shutting down: finishing in-flight requests");
    running.shutdown();
    tracing::info!("stopped");
    Ok(())
}

/// Raise the open-file soft limit to the hard one: each connection is a descriptor, and so is
/// each backend connection.
fn raise_fd_limit() {
    match fulcrum_net::fd_limit::raise_to_hard() {
        Ok(l) => tracing::debug!(soft = l.soft, hard = l.hard, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
}

fn demo(bind: std::net::SocketAddr, admin: std::net::SocketAddr) -> anyhow::Result<()> {
    raise_fd_limit();
    let rt = runtime()?;
    let mut signals = rt.block_on(async { Signals::new() })?;
    let backends = rt.block_on(fulcrum::demo::start_backends(3))?;
    let text = fulcrum::demo::config_text(bind, admin, &backends);
    let cfg = fulcrum_config::parse_str(&text, "<demo>", &|v| std::env::var(v).ok())
        .map_err(|e| anyhow::anyhow!("demo configuration:\n{e}"))?;
    let running = Running::start(&cfg)?;
    let lb = running.addr("web").unwrap_or(bind);
    println!(
        "{}",
        fulcrum::demo::banner(lb, running.admin_addr, &backends)
    );
    let _ = std::io::stdout().flush();
    rt.block_on(wait_for_stop(&mut signals, None));
    running.shutdown();
    Ok(())
}

/// The signals `run` and `demo` handle, registered once (a signal that arrives between two
/// waits is still seen).
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Term,
    Int,
}

impl Signals {
    /// Must run inside the runtime.
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }
}

/// Wait for SIGTERM or SIGINT; SIGHUP reloads the configuration file.
async fn wait_for_stop(s: &mut Signals, running: Option<&Running>) -> Stop {
    loop {
        tokio::select! {
            _ = s.term.recv() => return Stop::Term,
            _ = s.int.recv() => return Stop::Int,
            _ = s.hup.recv() => reload(running),
        }
    }
}

/// The drain delay: wait it out (SIGHUP still reloads), or less if SIGTERM or SIGINT comes
/// again.
async fn drain_delay(s: &mut Signals, running: &Running, delay: std::time::Duration) {
    let sleep = tokio::time::sleep(delay);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            _ = &mut sleep => return,
            _ = s.term.recv() => break,
            _ = s.int.recv() => break,
            _ = s.hup.recv() => reload(Some(running)),
        }
    }
    tracing::info!("second signal: drain delay cut short");
}

fn reload(running: Option<&Running>) {
    match running {
        // Errors are logged, counted and audited by the control plane.
        Some(r) => {
            let _ = r.reload("signal");
        }
        None => tracing::warn!("SIGHUP: the demo has no configuration file to reload"),
    }
}
