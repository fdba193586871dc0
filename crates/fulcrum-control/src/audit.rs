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
    /// Refused admin requests are audited at most [`DENIED_PER_WINDOW`] per window, so a
    /// flood of unauthenticated requests cannot grow the audit log without bound.
    denied: Mutex<DeniedLimit>,
}

/// Refusals audited one line each per [`DENIED_WINDOW`]; beyond that they are counted and
/// reported in one line when the window ends.
const DENIED_PER_WINDOW: u32 = 20;
const DENIED_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);

/// The refusal budget of the current window (time passed in, so it is testable).
#[derive(Debug)]
pub(crate) struct DeniedLimit {
    window: Option<std::time::Instant>,
    written: u32,
    suppressed: u64,
}

/// What to do with one refusal.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DeniedVerdict {
    /// Write its line; first report `suppressed` refusals of the window that ended.
    Write { suppressed: u64 },
    /// Count it only.
    Suppress,
}

impl DeniedLimit {
    pub(crate) fn new() -> Self {
        DeniedLimit {
            window: None,
            written: 0,
            suppressed: 0,
        }
    }

    pub(crate) fn check(&mut self, now: std::time::Instant) -> DeniedVerdict {
        let fresh = self
            .window
            .is_none_or(|start| now.saturating_duration_since(start) >= DENIED_WINDOW);
        let mut ended = 0;
        if fresh {
            self.window = Some(now);
            self.written = 0;
            ended = std::mem::take(&mut self.suppressed);
        }
        if self.written < DENIED_PER_WINDOW {
            self.written += 1;
            DeniedVerdict::Write { suppressed: ended }
        } else {
            self.suppressed += 1;
            DeniedVerdict::Suppress
        }
    }
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
            denied: Mutex::new(DeniedLimit::new()),
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

    /// Record one refused admin request, within the refusal budget (see [`DeniedLimit`]).
    pub(crate) fn record_denied(&self, client: &str, request: &str, detail: &str) {
        let verdict = crate::locked(&self.denied).check(std::time::Instant::now());
        let DeniedVerdict::Write { suppressed } = verdict else {
            return;
        };
        if suppressed > 0 {
            let note = format!(
                "{suppressed} more refused admin requests in the last window were not logged one by one"
            );
            self.record("-", "access", "*", "denied", Some(&note));
        }
        self.record(client, "access", request, "denied", Some(detail));
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Issue 7 item 16 (follow-up): refused admin requests are audited, but a flood of them
    /// writes a bounded number of lines and reports what it skipped.
    #[test]
    fn refusals_are_audited_within_a_budget_per_window() {
        let mut l = DeniedLimit::new();
        let t0 = Instant::now();
        for i in 0..DENIED_PER_WINDOW {
            assert_eq!(
                l.check(t0 + Duration::from_millis(u64::from(i))),
                DeniedVerdict::Write { suppressed: 0 }
            );
        }
        for _ in 0..1000 {
            assert_eq!(
                l.check(t0 + Duration::from_secs(5)),
                DeniedVerdict::Suppress
            );
        }
        assert_eq!(
            l.check(t0 + DENIED_WINDOW),
            DeniedVerdict::Write { suppressed: 1000 }
        );
        assert_eq!(
            l.check(t0 + DENIED_WINDOW),
            DeniedVerdict::Write { suppressed: 0 }
        );
    }
}
