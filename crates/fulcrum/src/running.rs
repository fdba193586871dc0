//! A running Fulcrum: the control plane (listeners bound, workers started) plus the control
//! thread, which runs the control plane's timers, the admin listener and the file watcher.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use fulcrum_admin::AdminOps;
use fulcrum_config::model::Config;
use fulcrum_control::{Control, ReloadError};

/// A started instance. Call [`Running::shutdown`] to stop it.
pub struct Running {
    pub control: Arc<Control>,
    pub admin_addr: Option<SocketAddr>,
    thread: Option<JoinHandle<()>>,
}

/// The admin API's view of the control plane.
struct Ops(Arc<Control>);

impl AdminOps for Ops {
    fn access(&self) -> fulcrum_admin::Access {
        let admin = self.0.admin_settings();
        fulcrum_admin::Access {
            token: admin.as_ref().and_then(|a| a.token.clone()),
            metrics_token: admin.and_then(|a| a.metrics_token.clone()),
        }
    }
    fn denied(&self, client: &str, request: &str, status: u16, reason: &str) {
        self.0.audit_denied(client, request, status, reason);
    }
    fn ready(&self) -> bool {
        self.0.ready()
    }
    fn pools(&self) -> serde_json::Value {
        self.0.pools_json()
    }
    fn guards(&self) -> serde_json::Value {
        self.0.guards_json()
    }
    fn reload(&self, client: &str) -> Result<(), String> {
        self.0.reload(client).map_err(|e| e.to_string())
    }
    fn add_backend(
        &self,
        client: &str,
        pool: &str,
        address: &str,
        weight: u32,
    ) -> Result<(), (u16, String)> {
        self.0
            .add_backend(client, pool, address, weight)
            .map_err(|e| (e.status, e.message))
    }
    fn remove_backend(&self, client: &str, pool: &str, address: &str) -> Result<(), (u16, String)> {
        self.0
            .remove_backend(client, pool, address)
            .map_err(|e| (e.status, e.message))
    }
    fn metrics(&self) -> String {
        self.0.metrics_text()
    }
}

impl Running {
    /// Start from a configuration that has no file behind it (tests, the demo).
    pub fn start(cfg: &Config) -> anyhow::Result<Running> {
        Self::start_with_path(cfg, None)
    }

    /// Start; `path` is the file that reloads read.
    pub fn start_with_path(cfg: &Config, path: Option<PathBuf>) -> anyhow::Result<Running> {
        Self::start_with_resolver(cfg, path, Arc::new(fulcrum_control::SystemResolver))
    }

    /// Start with a chosen resolver for DNS-named backends (tests control what names mean).
    pub fn start_with_resolver(
        cfg: &Config,
        path: Option<PathBuf>,
        resolver: Arc<dyn fulcrum_control::Resolve>,
    ) -> anyhow::Result<Running> {
        // The file's stamp as of `cfg`: if the file already says something else (it changed
        // after `cfg` was read), the stamp stays unset and the watcher reloads at once.
        let stamp = path.as_deref().and_then(|p| {
            let stamp = fulcrum_control::file_stamp(p);
            match fulcrum_config::load_file(p) {
                Ok(now) if now == *cfg => stamp,
                _ => None,
            }
        });
        let control = Control::start_with_resolver(cfg.clone(), path, resolver)
            .map_err(anyhow::Error::msg)?;
        control.set_loaded_stamp(stamp);
        let admin = match &cfg.admin {
            Some(a) => {
                let socket = std::net::TcpListener::bind(a.bind)
                    // The address may come from `${ENV}`: print it as written.
                    .with_context(|| {
                        cfg.redactions
                            .apply(&format!("admin: cannot bind {}", a.bind))
                    });
                let socket = match socket {
                    Ok(s) => s,
                    Err(e) => {
                        control.shutdown();
                        return Err(e);
                    }
                };
                socket.set_nonblocking(true)?;
                Some(socket)
            }
            None => None,
        };
        let admin_addr = match &admin {
            Some(s) => Some(s.local_addr()?),
            None => None,
        };
        let ctl = control.clone();
        let thread = std::thread::Builder::new()
            .name("fulcrum-control".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => return tracing::error!(error = %e, "control runtime"),
                };
                rt.block_on(async move {
                    let mut tasks = tokio::task::JoinSet::new();
                    tasks.spawn(ctl.clone().run());
                    if let Some(socket) = admin {
                        match tokio::net::TcpListener::from_std(socket) {
                            Ok(l) => {
                                let ops: Arc<dyn AdminOps> = Arc::new(Ops(ctl.clone()));
                                tasks.spawn(fulcrum_admin::serve(l, ops, ctl.shutdown_signal()));
                            }
                            Err(e) => tracing::error!(error = %e, "admin listener"),
                        }
                        // Runs whatever `watch_config` says now: a reload can turn it on or off.
                        tasks.spawn(watch_file(ctl.clone()));
                    }
                    while tasks.join_next().await.is_some() {}
                });
            })?;
        if let Some(a) = admin_addr {
            tracing::info!(address = %a, "admin listening");
        }
        Ok(Running {
            control,
            admin_addr,
            thread: Some(thread),
        })
    }

    /// The first bound address of listener `name`.
    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.control.bound(name).first().copied()
    }

    /// Every bound address of listener `name`.
    pub fn bound(&self, name: &str) -> Vec<SocketAddr> {
        self.control.bound(name)
    }

    /// Re-read the configuration file (SIGHUP).
    pub fn reload(&self, client: &str) -> Result<(), ReloadError> {
        self.control.reload(client)
    }

    /// Stop accepting, let in-flight requests finish, and wait for every thread to end.
    pub fn shutdown(mut self) {
        self.control.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `[admin] watch_config = true`: reload when the file's modification time or size differs
/// from what was last read. Polled once a second: portable, and a config file does not change
/// often. The setting is read from the configuration in force at every poll.
async fn watch_file(control: Arc<Control>) {
    let Some(path) = control.config_path().cloned() else {
        return;
    };
    let mut shutdown = control.shutdown_signal();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        if !control.admin_settings().is_some_and(|a| a.watch_config) {
            continue;
        }
        let now = fulcrum_control::file_stamp(&path);
        if now.is_some() && now != control.loaded_stamp() {
            let _ = control.reload("file-watch");
        }
    }
}
