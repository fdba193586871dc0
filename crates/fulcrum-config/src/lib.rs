//! Fulcrum's configuration: it owns the TOML file schema, its validation and the typed
//! [`model`] the rest of the program runs from.
//!
//! Reading a file collects *every* problem before failing, each with `file:line:column`, the
//! key path and what would be valid (see [`ConfigErrors`]). The walk goes over `toml`'s spanned
//! document tree by hand rather than through serde, so that one bad value does not hide the next.
//! `${ENV_VAR}` references in string values are resolved here, through a caller-supplied lookup.
//!
//! This crate must not do I/O beyond reading the file and checking that the files it names
//! (TLS certificates, keys and CA bundles) exist and can be opened — their content is parsed
//! where TLS is set up. It binds no sockets, resolves no names and starts nothing: a
//! [`model::Config`] is plain data that the control plane diffs and applies.

pub mod model;

mod action;
mod auth;
mod cidr;
mod decode;
mod env;
mod error;
mod guard;
mod health;
mod listener;
mod pool;
mod root;
mod route;
mod summary;
mod tls;
mod units;

#[cfg(test)]
mod tests;

use std::path::Path;

use decode::{Ctx, Where};
pub use env::Redactions;
pub use error::{ConfigError, ConfigErrors};
pub use summary::summary;
pub use units::{parse_duration, parse_size};

/// Reads and validates the file at `path`, resolving `${ENV_VAR}` from the process
/// environment. Errors name the file as `path` is displayed.
pub fn load_file(path: &Path) -> Result<model::Config, ConfigErrors> {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(src) => parse_str(&src, &name, &|var| std::env::var(var).ok()),
        Err(e) => Err(ConfigErrors {
            errors: vec![ConfigError {
                file: name,
                line: 0,
                column: 0,
                message: format!("cannot read: {e}"),
            }],
        }),
    }
}

/// Validates the configuration text `src`. `file_name` is only used in error messages;
/// `env` resolves `${NAME}` references in string values.
pub fn parse_str(
    src: &str,
    file_name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<model::Config, ConfigErrors> {
    let mut ctx = Ctx::new(src, file_name, env);
    let config = match toml::de::DeTable::parse(src) {
        Ok(doc) => root::config(&mut ctx, doc.get_ref()),
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim().replace('\n', "; ");
            ctx.error(&span, &Where::root(), format!("invalid TOML: {message}"));
            None
        }
    };
    match config {
        Some(config) if !ctx.has_errors() => Ok(config),
        _ => {
            let mut errors = ctx.into_errors();
            if errors.is_empty() {
                // Every `None` above comes with an error; this is a safety net.
                errors.push(ConfigError {
                    file: file_name.to_owned(),
                    line: 1,
                    column: 1,
                    message: "internal error: configuration rejected without a reason".to_owned(),
                });
            }
            Err(ConfigErrors { errors })
        }
    }
}
