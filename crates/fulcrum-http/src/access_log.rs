//! The access log: one JSON object per request, buffered per worker and flushed in batches so
//! that logging costs no syscall per request.

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use fulcrum_config::model::{self, LogTarget};
use serde::Serialize;

const FLUSH_AT: usize = 32 * 1024;

enum Target {
    Off,
    Stderr,
    File(File),
}

/// A worker's access log writer.
pub struct AccessLog {
    target: Target,
    sample: f64,
    buf: RefCell<Vec<u8>>,
}

/// One access log line.
#[derive(Debug, Serialize)]
pub struct Entry<'a> {
    pub ts: f64,
    pub listener: &'a str,
    pub route: Option<&'a str>,
    pub pool: Option<&'a str>,
    pub backend: Option<&'a str>,
    pub client: String,
    pub method: &'a str,
    pub host: Option<&'a str>,
    pub path: &'a str,
    pub status: u16,
    pub bytes_out: u64,
    pub duration_ms: f64,
    pub request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The guard that refused the request (`rate_limit`, `access`), when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guard: Option<&'static str>,
    pub complete: bool,
    /// Which engine served the request: `h1` (the fast path) or `hyper`.
    pub engine: &'static str,
}

pub fn now_ts() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl AccessLog {
    pub fn open(cfg: &model::AccessLog) -> io::Result<Self> {
        let target = match &cfg.target {
            LogTarget::Off => Target::Off,
            LogTarget::Stderr => Target::Stderr,
            LogTarget::File(p) => Target::File(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| {
                        io::Error::new(e.kind(), format!("access log {}: {e}", p.display()))
                    })?,
            ),
        };
        Ok(AccessLog {
            target,
            sample: cfg.sample,
            buf: RefCell::new(Vec::with_capacity(FLUSH_AT + 1024)),
        })
    }

    pub fn off() -> Self {
        AccessLog {
            target: Target::Off,
            sample: 0.0,
            buf: RefCell::new(Vec::new()),
        }
    }

    /// Whether this request should be logged (decided once, at its start).
    pub fn sampled(&self) -> bool {
        match self.target {
            Target::Off => false,
            _ => self.sample >= 1.0 || fastrand::f64() < self.sample,
        }
    }

    /// Buffer one line: an [`Entry`] (a request) or a connection's (`crate::layer4`).
    pub fn record<E: Serialize>(&self, entry: &E) {
        let full = {
            let mut buf = self.buf.borrow_mut();
            if serde_json::to_writer(&mut *buf, entry).is_ok() {
                buf.push(b'\n');
            }
            buf.len() >= FLUSH_AT
        };
        if full {
            self.flush();
        }
    }

    /// Write out what is buffered. Called when the buffer fills, periodically, and at exit.
    pub fn flush(&self) {
        let mut buf = self.buf.borrow_mut();
        if buf.is_empty() {
            return;
        }
        let res = match &self.target {
            Target::Off => Ok(()),
            Target::Stderr => io::stderr().lock().write_all(&buf),
            Target::File(f) => (&*f).write_all(&buf),
        };
        if let Err(e) = res {
            tracing::warn!(error = %e, "access log write failed");
        }
        buf.clear();
    }
}
