//! The audit log: one JSON line per change made through the admin API or a reload, and per
//! admin request refused with 401 or 403.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::sync::Mutex;

use fulcrum_config::model::LogTarget;
use serde::Serialize;

/// Where audit lines go. Changes are rare, so each line is written (and flushed) at once.
pub struct Audit {
    target: Mutex<Open>,
}

/// The configured target and its open destination.
struct Open {
    spec: LogTarget,
    target: Target,
}

/// A new destination opened for a reload, put in place by [`Audit::commit`] once the reload
/// succeeded.
pub(crate) struct Reopened(Open);

enum Target {
    Off,
    Stderr,
    File(File),
}

#[derive(Serialize)]
struct Line<'a> {
    ts: f64,
    audit: bool,
    client: &'a str,
    action: &'a str,
    object: &'a str,
    result: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
}

impl Audit {
    pub fn open(target: &LogTarget) -> io::Result<Audit> {
        Ok(Audit {
            target: Mutex::new(Open {
                spec: target.clone(),
                target: Self::open_target(target)?,
            }),
        })
    }

    fn open_target(target: &LogTarget) -> io::Result<Target> {
        Ok(match target {
            LogTarget::Off => Target::Off,
            LogTarget::Stderr => Target::Stderr,
            LogTarget::File(p) => Target::File(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| {
                        io::Error::new(e.kind(), format!("audit log {}: {e}", p.display()))
                    })?,
            ),
        })
    }

    /// Opens `target` when it is not the one in use (`None` when it is): a file that cannot be
    /// opened rejects the reload.
    pub(crate) fn prepare(&self, target: &LogTarget) -> io::Result<Option<Reopened>> {
        if crate::locked(&self.target).spec == *target {
            return Ok(None);
        }
        Ok(Some(Reopened(Open {
            spec: target.clone(),
            target: Self::open_target(target)?,
        })))
    }

    /// Lines from now on go to the reopened destination.
    pub(crate) fn commit(&self, reopened: Reopened) {
        *crate::locked(&self.target) = reopened.0;
    }

    /// Record one change: who (`client`: an address, `signal` or `file-watch`), what
    /// (`action` on `object`), and how it ended (`result`: `ok` or `error`, with `detail`).
    pub fn record(
        &self,
        client: &str,
        action: &str,
        object: &str,
        result: &str,
        detail: Option<&str>,
    ) {
        let line = Line {
            ts: fulcrum_http::access_log::now_ts(),
            audit: true,
            client,
            action,
            object,
            result,
            detail,
        };
        let Ok(mut text) = serde_json::to_vec(&line) else {
            return;
        };
        text.push(b'\n');
        let mut t = crate::locked(&self.target);
        let res = match &mut t.target {
            Target::Off => Ok(()),
            Target::Stderr => io::stderr().lock().write_all(&text),
            Target::File(f) => f.write_all(&text),
        };
        if let Err(e) = res {
            tracing::warn!(error = %e, "audit log write failed");
        }
    }
}
