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
    let cfg = fulcrum_config::load_file(&path)
        .map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
    let running = Running::start_with_path(&cfg, Some(path.clone()))?;
    tracing::info!(config = %path.display(), workers = cfg.runtime.workers, "fulcrum started");
    runtime()?.block_on(wait_for_stop(Some(&running)))?;
    tracing::info!("shutting down: finishing in-flight requests");
    running.shutdown();
    tracing::info!("stopped");
    Ok(())
}

fn demo(bind: std::net::SocketAddr, admin: std::net::SocketAddr) -> anyhow::Result<()> {
    let rt = runtime()?;
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
    rt.block_on(wait_for_stop(None))?;
    running.shutdown();
    Ok(())
}

/// Wait for SIGTERM or SIGINT; SIGHUP reloads the configuration file.
async fn wait_for_stop(running: Option<&Running>) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
            _ = hup.recv() => match running {
                // Errors are logged, counted and audited by the control plane.
                Some(r) => { let _ = r.reload("signal"); }
                None => tracing::warn!("SIGHUP: the demo has no configuration file to reload"),
            },
        }
    }
}
