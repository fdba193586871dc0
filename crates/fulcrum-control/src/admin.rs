//! The `[admin]` table on reload: what takes effect at once and what needs a restart.
//!
//! Live: `token` and `metrics_token` (the admin listener reads them from the configuration in
//! force for every request), `watch_config` (the watcher reads it every second) and
//! `audit_log` (reopened with the change). Restart: the listener's address, and adding or
//! removing the table; a reload that changes them is refused with an error saying so, and
//! counted as a failed reload — never reported as success while the old one stays.

use fulcrum_config::model::{Admin, LogTarget};

/// Refuses a change of `[admin]` that a running process cannot make.
pub(crate) fn check(old: Option<&Admin>, new: Option<&Admin>) -> Result<(), String> {
    match (old, new) {
        (Some(old), Some(new)) if old.bind != new.bind => Err(format!(
            "admin.bind: moving the admin listener from {} to {} needs a restart (the \
             admin API stays on {}; nothing was changed)",
            old.bind, new.bind, old.bind
        )),
        (None, Some(new)) => Err(format!(
            "[admin]: starting an admin listener (on {}) needs a restart (nothing was changed)",
            new.bind
        )),
        (Some(old), None) => Err(format!(
            "[admin]: stopping the admin listener (on {}) needs a restart (nothing was changed)",
            old.bind
        )),
        _ => Ok(()),
    }
}

/// Where audit lines go under `admin` (stderr without an `[admin]` table).
pub(crate) fn audit_target(admin: Option<&Admin>) -> LogTarget {
    admin.map_or(LogTarget::Stderr, |a| a.audit_log.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin(bind: &str) -> Admin {
        Admin {
            bind: bind.parse().unwrap(),
            token: None,
            metrics_token: None,
            watch_config: false,
            audit_log: LogTarget::Stderr,
        }
    }

    #[test]
    fn bind_and_presence_need_a_restart_the_rest_does_not() {
        let a = admin("127.0.0.1:9900");
        let mut live = a.clone();
        live.token = Some("t".into());
        live.metrics_token = Some("m".into());
        live.watch_config = true;
        live.audit_log = LogTarget::Off;
        assert_eq!(check(Some(&a), Some(&live)), Ok(()));
        assert_eq!(check(None, None), Ok(()));
        let moved = check(Some(&a), Some(&admin("127.0.0.1:9901"))).unwrap_err();
        assert!(moved.contains("needs a restart"), "{moved}");
        assert!(moved.contains("127.0.0.1:9901"), "{moved}");
        assert!(check(None, Some(&a))
            .unwrap_err()
            .contains("needs a restart"));
        assert!(check(Some(&a), None)
            .unwrap_err()
            .contains("needs a restart"));
    }
}
