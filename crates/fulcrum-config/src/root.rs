//! The document root and the small top-level tables: `[runtime]`, `[access_log]`, `[admin]`.

use std::net::SocketAddr;
use std::path::PathBuf;

use toml::de::DeTable;

use crate::decode::{self, Ctx, Table, Value, Where};
use crate::listener::{self, Binds};
use crate::model::{AccessLog, Admin, Config, LogTarget, Runtime};
use crate::pool;

const ROOT_KEYS: &[&str] = &["runtime", "access_log", "admin", "listener", "pool"];
const RUNTIME_KEYS: &[&str] = &["workers", "drain_delay", "shutdown_grace"];
const ACCESS_LOG_KEYS: &[&str] = &["target", "sample"];
const ADMIN_KEYS: &[&str] = &[
    "bind",
    "token",
    "metrics_token",
    "watch_config",
    "audit_log",
];

/// The most worker threads a file may ask for.
pub(crate) const MAX_WORKERS: i64 = 1024;
/// The longest `drain_delay` and `shutdown_grace` a file may ask for.
pub(crate) const MAX_SHUTDOWN_STEP: std::time::Duration = std::time::Duration::from_secs(3600);
/// `admin.bind` when the `[admin]` table leaves it out.
pub(crate) const DEFAULT_ADMIN_BIND: &str = "127.0.0.1:9900";

/// Walks the whole document. `None` when anything was reported to `ctx`.
pub(crate) fn config(ctx: &mut Ctx<'_>, root: &DeTable<'_>) -> Option<Config> {
    let t = Table::from_entries(ctx, root, 0..0, Where::root(), ROOT_KEYS);
    let runtime = t.or(ctx, "runtime", None, |ctx, v, at| {
        runtime(ctx, v, at).map(Some)
    });
    let access_log = t.or(ctx, "access_log", default_access_log(), access_log);
    let admin = t.or(ctx, "admin", None, |ctx, v, at| admin(ctx, v, at).map(Some));

    let pool_names = t.get("pool").map(pool::declared_names).unwrap_or_default();
    let pools = t.or(ctx, "pool", Vec::new(), pool::pools);

    let mut binds = Binds::default();
    if let (Some(Some(a)), Some(v)) = (&admin, t.get("admin")) {
        let span = Table::open_quiet(v)
            .and_then(|a| a.get("bind"))
            .map_or(v.span(), Value::span);
        binds.claim(
            ctx,
            (false, a.bind),
            &span,
            &Where::root().key("admin").key("bind"),
            "admin",
        );
    }
    let listeners = t.or(ctx, "listener", Vec::new(), |ctx, v, at| {
        listener::listeners(ctx, v, at, &pool_names, &mut binds)
    });
    if let (Some(pools), Some(listeners), Some(v)) = (&pools, &listeners, t.get("pool")) {
        proxy_protocol_users(ctx, pools, listeners, v);
    }

    Some(Config {
        runtime: runtime?.unwrap_or_else(|| Runtime {
            workers: available_cpus(),
            drain_delay: Runtime::DEFAULT_DRAIN_DELAY,
            shutdown_grace: Runtime::DEFAULT_SHUTDOWN_GRACE,
        }),
        access_log: access_log?,
        admin: admin?,
        listeners: listeners?,
        pools: pools?,
        redactions: ctx.redactions().clone(),
    })
}

/// A pool that sends a PROXY header must serve only layer-4 listeners (tcp, udp,
/// tls_passthrough): HTTP listeners share backend connections between clients, and their
/// backends learn the client from `X-Forwarded-For`. A udp listener's pool sends v2 only: v1
/// is text for streams and has no datagram form.
fn proxy_protocol_users(
    ctx: &mut Ctx<'_>,
    pools: &[crate::model::Pool],
    listeners: &[crate::model::Listener],
    v: &Value<'_>,
) {
    for p in pools.iter().filter(|p| p.proxy_protocol.is_some()) {
        let http = listeners.iter().find(|l| {
            l.protocol.is_http()
                && l.routes.iter().any(|r| match &r.action {
                    crate::model::Action::Pool(name) => *name == p.name,
                    crate::model::Action::Split(targets) => {
                        targets.iter().any(|t| t.pool == p.name)
                    }
                    _ => false,
                })
        });
        let span = Table::open_quiet(v)
            .and_then(|t| t.get(&p.name).and_then(Table::open_quiet))
            .and_then(|t| t.key_span("proxy_protocol"))
            .unwrap_or(v.span());
        let at = Where::root()
            .entity(format!("pool {:?}", p.name))
            .key("proxy_protocol");
        if let Some(l) = http {
            let msg = format!(
                "a pool that sends a PROXY header serves only tcp, udp and tls_passthrough \
                 listeners, and listener {:?} ({}) routes to it; HTTP backends learn the client \
                 from X-Forwarded-For",
                l.name,
                crate::listener::protocol_name(l.protocol)
            );
            ctx.error(&span, &at, msg);
            continue;
        }
        let udp = listeners.iter().find(|l| {
            l.protocol == crate::model::Protocol::Udp && l.pool.as_deref() == Some(&p.name)
        });
        if let (Some(l), Some(crate::model::ProxyVersion::V1)) = (udp, p.proxy_protocol) {
            let msg = format!(
                "udp listener {:?} relays to this pool, and a udp pool sends \"v2\" only: v1 is \
                 a text line for streams, with no form for datagrams",
                l.name
            );
            ctx.error(&span, &at, msg);
        }
    }
}

fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().max(1))
}

fn runtime(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<Runtime> {
    let t = Table::open(ctx, v, at, RUNTIME_KEYS)?;
    let workers = t.or(ctx, "workers", 0, |ctx, v, at| {
        decode::integer(ctx, v, at, 0, MAX_WORKERS)
    });
    let drain_delay = t.or(
        ctx,
        "drain_delay",
        Runtime::DEFAULT_DRAIN_DELAY,
        shutdown_step,
    );
    let shutdown_grace = t.or(
        ctx,
        "shutdown_grace",
        Runtime::DEFAULT_SHUTDOWN_GRACE,
        shutdown_step,
    );
    let workers = match usize::try_from(workers?) {
        Ok(0) | Err(_) => available_cpus(),
        Ok(n) => n,
    };
    Some(Runtime {
        workers,
        drain_delay: drain_delay?,
        shutdown_grace: shutdown_grace?,
    })
}

/// `drain_delay` / `shutdown_grace`: `"0s"` up to [`MAX_SHUTDOWN_STEP`].
fn shutdown_step(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<std::time::Duration> {
    let d = decode::duration(ctx, v, at.clone(), decode::Zero::Allowed)?;
    if d > MAX_SHUTDOWN_STEP {
        ctx.error(&v.span(), &at, "must be at most \"1h\"");
        return None;
    }
    Some(d)
}

fn default_access_log() -> AccessLog {
    AccessLog {
        target: LogTarget::Stderr,
        sample: 1.0,
    }
}

fn access_log(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<AccessLog> {
    let t = Table::open(ctx, v, at, ACCESS_LOG_KEYS)?;
    let target = t.or(ctx, "target", LogTarget::Stderr, log_target);
    let sample = t.or(ctx, "sample", 1.0, decode::fraction);
    Some(AccessLog {
        target: target?,
        sample: sample?,
    })
}

/// A log destination: `"stderr"`, `"off"` or a file path.
fn log_target(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<LogTarget> {
    let s = decode::string(ctx, v, at.clone())?;
    Some(match s.as_str() {
        "stderr" => LogTarget::Stderr,
        "off" => LogTarget::Off,
        "" => {
            ctx.error(&v.span(), &at, "must be \"stderr\", \"off\" or a file path");
            return None;
        }
        path => LogTarget::File(PathBuf::from(path)),
    })
}

fn admin(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<Admin> {
    let t = Table::open(ctx, v, at, ADMIN_KEYS)?;
    let default_bind: SocketAddr = DEFAULT_ADMIN_BIND.parse().ok()?;
    let bind = t.or(ctx, "bind", default_bind, decode::bind_addr);
    let token = t.or(ctx, "token", None, |ctx, v, at| {
        secret(ctx, v, at, "run the admin API without a token")
    });
    let metrics_token = t.or(ctx, "metrics_token", None, |ctx, v, at| {
        secret(ctx, v, at, "leave /metrics open")
    });
    let watch_config = t.or(ctx, "watch_config", false, decode::boolean);
    let audit_log = t.or(ctx, "audit_log", LogTarget::Stderr, log_target);
    // Without a token the admin API's only protection is that nobody else can reach it.
    if let (Some(bind), Some(None)) = (bind, &token) {
        if !bind.ip().to_canonical().is_loopback() {
            let span = t.get("bind").map_or(t.span.clone(), Value::span);
            ctx.error(
                &span,
                &t.at("bind"),
                format!(
                    "{bind} is not a loopback address: an admin listener reachable from other \
                     hosts needs a token (set admin.token), or bind it to 127.0.0.1 or [::1]"
                ),
            );
            return None;
        }
    }
    Some(Admin {
        bind: bind?,
        token: token?,
        metrics_token: metrics_token?,
        watch_config: watch_config?,
        audit_log: audit_log?,
    })
}

/// A bearer token: a non-empty string.
fn secret(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where, without: &str) -> Option<Option<String>> {
    let token = decode::string(ctx, v, at.clone())?;
    if token.is_empty() {
        ctx.error(
            &v.span(),
            &at,
            format!("must not be empty (remove the key to {without})"),
        );
        return None;
    }
    Some(Some(token))
}
