//! The changes the admin API and signals ask for: reload, add and remove backends, and the
//! read-only view of pools. Every change writes one audit line.

use std::collections::HashMap;
use std::net::SocketAddr;

use fulcrum_config::model;
use fulcrum_dataplane::BackendState;
use serde_json::{json, Value};

use crate::Control;

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("no configuration file to reload (started without one)")]
    NoFile,
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Apply(String),
}

/// What identifies a version of a file cheaply: modification time and size.
pub type FileStamp = (std::time::SystemTime, u64);

/// The file's stamp now (`None` when it cannot be read).
pub fn file_stamp(path: &std::path::Path) -> Option<FileStamp> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// An admin API failure: an HTTP status and a message.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

fn api_err(status: u16, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        message: message.into(),
    }
}

impl Control {
    /// Re-read the configuration file; on any error the running configuration stays.
    /// `client` names who asked (an address, `signal`, `file-watch`) for the audit line.
    pub fn reload(&self, client: &str) -> Result<(), ReloadError> {
        let result = match self.config_path() {
            None => Err(ReloadError::NoFile),
            Some(path) => {
                // Taken before reading: a change made while we read is seen by the watcher.
                self.set_loaded_stamp(file_stamp(path));
                match fulcrum_config::load_file(path) {
                    Err(errors) => Err(ReloadError::Invalid(errors.to_string())),
                    Ok(cfg) => self.apply(cfg).map_err(ReloadError::Apply),
                }
            }
        };
        let object = self
            .config_path()
            .map_or_else(|| "<none>".to_string(), |p| p.display().to_string());
        match &result {
            Ok(()) => {
                tracing::info!(by = client, "configuration reloaded");
                self.audit.record(client, "reload", &object, "ok", None);
            }
            Err(e) => {
                tracing::error!(by = client, error = %e, "configuration reload failed; the running configuration stays");
                self.audit
                    .record(client, "reload", &object, "error", Some(&e.to_string()));
            }
        }
        self.count_reload(result.is_ok());
        result
    }

    fn count_reload(&self, ok: bool) {
        let result = if ok {
            fulcrum_telemetry::ReloadResult::Success
        } else {
            fulcrum_telemetry::ReloadResult::Failure
        };
        self.metrics
            .config_reloads_total
            .with(&[result.as_str()])
            .inc(0);
    }

    /// Add a backend to a pool (the autoscaler hook). It joins with slow start.
    pub fn add_backend(
        &self,
        client: &str,
        pool: &str,
        address: &str,
        weight: u32,
    ) -> Result<(), ApiError> {
        let object = format!("pool {pool} backend {address}");
        let res = (|| {
            let addr: SocketAddr = address.parse().map_err(|_| {
                api_err(
                    400,
                    format!("invalid address {address:?} (expected IP:PORT)"),
                )
            })?;
            if addr.port() == 0 {
                return Err(api_err(400, "port 0 cannot be connected to"));
            }
            if weight == 0 {
                return Err(api_err(400, "weight must be greater than 0"));
            }
            self.reapply(
                |inner| {
                    let Some(p) = inner.config.pool(pool).cloned() else {
                        return Err(api_err(404, format!("no pool {pool:?}")));
                    };
                    let exists = p.backends.iter().any(|b| b.address == addr)
                        && !inner.overlay.removed.contains(&(pool.to_string(), addr));
                    let added = inner
                        .overlay
                        .added
                        .get(pool)
                        .is_some_and(|l| l.iter().any(|b| b.address == addr));
                    if exists || added {
                        return Err(api_err(
                            409,
                            format!("backend {addr} is already in pool {pool:?}"),
                        ));
                    }
                    inner.overlay.removed.remove(&(pool.to_string(), addr));
                    if !p.backends.iter().any(|b| b.address == addr) {
                        inner
                            .overlay
                            .added
                            .entry(pool.to_string())
                            .or_default()
                            .push(model::Backend {
                                address: addr,
                                weight,
                            });
                    }
                    Ok(())
                },
                |e| api_err(500, e),
            )
        })();
        self.audit_result(client, "add_backend", &object, &res);
        res
    }

    /// Drain a backend and remove it from its pool.
    pub fn remove_backend(&self, client: &str, pool: &str, address: &str) -> Result<(), ApiError> {
        let object = format!("pool {pool} backend {address}");
        let res = (|| {
            let addr: SocketAddr = address.parse().map_err(|_| {
                api_err(
                    400,
                    format!("invalid address {address:?} (expected IP:PORT)"),
                )
            })?;
            self.reapply(
                |inner| {
                    if inner.config.pool(pool).is_none() {
                        return Err(api_err(404, format!("no pool {pool:?}")));
                    }
                    if !inner.backends.contains_key(&(pool.to_string(), addr)) {
                        return Err(api_err(404, format!("no backend {addr} in pool {pool:?}")));
                    }
                    if let Some(list) = inner.overlay.added.get_mut(pool) {
                        list.retain(|b| b.address != addr);
                    }
                    inner.overlay.removed.insert((pool.to_string(), addr));
                    Ok(())
                },
                |e| api_err(500, e),
            )
        })();
        self.audit_result(client, "remove_backend", &object, &res);
        res
    }

    fn audit_result(&self, client: &str, action: &str, object: &str, res: &Result<(), ApiError>) {
        match res {
            Ok(()) => self.audit.record(client, action, object, "ok", None),
            Err(e) => self
                .audit
                .record(client, action, object, "error", Some(&e.message)),
        }
    }

    /// Every pool with its backends: health, weights, in-flight requests, draining ones.
    pub fn pools_json(&self) -> Value {
        let inner = self.lock();
        let mut pools = Vec::new();
        // By name, made once: no scan of the pool specs or of the draining list per pool.
        let specs = crate::pools_by_name(&inner.config);
        let mut draining: HashMap<&str, Vec<&BackendState>> = HashMap::new();
        for d in &inner.draining {
            draining
                .entry(d.pool.as_str())
                .or_default()
                .push(&d.backend);
        }
        for p in &inner.pools {
            let spec = specs.get(p.name.as_str()).copied();
            let mut backends: Vec<Value> = p
                .backends
                .iter()
                .map(|b| backend_json(b, "active"))
                .collect();
            for b in draining.get(p.name.as_str()).into_iter().flatten() {
                backends.push(backend_json(b, "draining"));
            }
            pools.push(json!({
                "name": p.name,
                "balance": spec.map(|s| s.balance.as_str()),
                "health_check": spec.map(|s| s.health.is_some()),
                "backends": backends,
            }));
        }
        json!({ "pools": pools })
    }

    /// The `[admin]` settings in force: the admin listener reads its tokens from here for
    /// every request, and the file watcher its `watch_config`, so a reload changes them live.
    pub fn admin_settings(&self) -> Option<std::sync::Arc<model::Admin>> {
        self.admin.load_full()
    }

    /// Audit an admin request refused with 401 or 403: who, which request (method and path)
    /// and why — never the token it presented.
    pub fn audit_denied(&self, client: &str, request: &str, status: u16, reason: &str) {
        self.audit
            .record_denied(client, request, &format!("{status} {reason}"));
    }

    /// The stamp of the configuration file as it was when last read.
    pub fn loaded_stamp(&self) -> Option<FileStamp> {
        *crate::locked(&self.loaded_stamp)
    }

    pub fn set_loaded_stamp(&self, stamp: Option<FileStamp>) {
        *crate::locked(&self.loaded_stamp) = stamp;
    }

    /// Whether this instance wants new clients: every listener is bound (true once started)
    /// and no shutdown has begun (`/ready` answers 503 through the drain delay and after).
    pub fn ready(&self) -> bool {
        // Shutdown begins with the drain (`shutdown` calls `begin_drain` first).
        !self.is_draining()
    }
}

/// One backend in `GET /api/v1/pools` (a draining backend's effective weight is 0).
fn backend_json(b: &BackendState, state: &str) -> Value {
    let s = b.stats();
    json!({
        "address": b.label,
        "state": state,
        "health": s.health.as_str(),
        "ejected": s.ejected,
        "weight": s.weight,
        "effective_weight": s.effective_weight,
        "inflight": s.inflight,
        "requests": s.requests,
        "failures": s.failures,
    })
}
