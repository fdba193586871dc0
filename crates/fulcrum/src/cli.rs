//! The command line (see SPEC "Command line").

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "fulcrum",
    about = "A self-hosted cloud load balancer.",
    version
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the configuration in FILE. SIGHUP reloads it; SIGTERM/SIGINT drain and exit.
    Run {
        /// Configuration file [default: $FULCRUM_CONFIG, else ./fulcrum.toml]
        #[arg(short = 'c', long = "config")]
        config: Option<PathBuf>,
    },
    /// Validate FILE and print a summary. Exit 0 when valid, 1 when not.
    Check {
        /// Configuration file [default: $FULCRUM_CONFIG, else ./fulcrum.toml]
        #[arg(short = 'c', long = "config")]
        config: Option<PathBuf>,
    },
    /// A first look: three demo backends, a load balancer on 127.0.0.1:8080, admin on :9900.
    Demo {
        /// Where the load balancer listens.
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: SocketAddr,
        /// Where the admin API listens.
        #[arg(long, default_value = "127.0.0.1:9900")]
        admin_bind: SocketAddr,
    },
    /// Print the version and build features.
    Version,
}

/// The configuration file to use: `-c`, else `$FULCRUM_CONFIG`, else `./fulcrum.toml`.
pub fn config_path(arg: Option<PathBuf>) -> PathBuf {
    arg.or_else(|| std::env::var_os("FULCRUM_CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("fulcrum.toml"))
}
