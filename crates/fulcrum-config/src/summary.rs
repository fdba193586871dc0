//! The one-screen summary printed by `fulcrum check`.

use std::fmt::Write;
use std::time::Duration;

use crate::decode::human_size;
use crate::listener::protocol_name;
use crate::model::{
    Action, CertKey, ClientAuthMode, Config, Listener, LogTarget, PoolTls, Probe, Protocol, Route,
    TlsVersion,
};
use crate::route::show_host;

/// Listeners (binds, protocol, TLS, redirect and HSTS, routes with their match and action) and
/// pools (balance, backends with weights, health checks, outlier ejection, retries and TLS),
/// one line each.
pub fn summary(cfg: &Config) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_summary(&mut out, cfg);
    // Values that came from `${ENV}` (header values, redirect targets, tokens) are shown as
    // written, never as their values.
    cfg.redactions.apply(&out)
}

fn write_summary(out: &mut String, cfg: &Config) -> std::fmt::Result {
    writeln!(out, "runtime: {} workers", cfg.runtime.workers)?;
    writeln!(
        out,
        "access_log: {} (sample {})",
        log_target(&cfg.access_log.target),
        cfg.access_log.sample
    )?;
    match &cfg.admin {
        Some(a) => {
            let token = if a.token.is_some() {
                "token required"
            } else {
                "no token"
            };
            let metrics = if a.metrics_token.is_some() {
                "; /metrics token required"
            } else {
                ""
            };
            writeln!(out, "admin: {} ({token}{metrics})", a.bind)?;
            let watch = if a.watch_config { "on" } else { "off" };
            writeln!(
                out,
                "  audit log: {}; watch config file: {watch}",
                log_target(&a.audit_log)
            )?;
        }
        None => writeln!(out, "admin: off")?,
    }
    for l in &cfg.listeners {
        let binds: Vec<String> = l.binds.iter().map(|b| b.to_string()).collect();
        writeln!(
            out,
            "listener {:?} {} on {}",
            l.name,
            protocol_name(l.protocol),
            binds.join(", ")
        )?;
        write_listener_tls(out, l)?;
        let (t, lim) = (&l.timeouts, &l.limits);
        let per_ip: Vec<String> = [
            lim.max_connections_per_ip.map(|n| format!("{n} open")),
            lim.new_connections_per_ip.map(|n| format!("{n}/s new")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !per_ip.is_empty() {
            writeln!(
                out,
                "  connections per client address: {}",
                per_ip.join(", ")
            )?;
        }
        if l.pool.is_some() {
            if let Some(a) = &l.guards.access {
                writeln!(out, "  protections: {}", access_summary(a))?;
            }
        }
        if let Some(pool) = &l.pool {
            let limit = match l.protocol {
                Protocol::Udp => format!("{} flows", lim.max_flows),
                _ => format!("{} connections", lim.max_connections),
            };
            writeln!(
                out,
                "  relays to pool {pool:?}; timeouts: idle {}; limits: {limit}",
                duration(t.idle),
            )?;
            continue;
        }
        writeln!(
            out,
            "  timeouts: header {}, idle {}, request {}; limits: header {}, body {}, {} connections",
            duration(t.header),
            duration(t.idle),
            duration(t.request),
            human_size(lim.max_header_bytes as u64),
            human_size(lim.max_body_bytes),
            lim.max_connections,
        )?;
        if let Some(g) = guards_summary(&l.guards) {
            writeln!(out, "  protections: {g}")?;
        }
        if l.routes.is_empty() && l.https_redirect.is_none() {
            match l.protocol {
                Protocol::TlsPassthrough => {
                    writeln!(out, "  no routes: every connection is closed")?;
                }
                _ => writeln!(out, "  no routes: every request gets 404")?,
            }
        }
        for r in &l.routes {
            writeln!(
                out,
                "  route {:?}: {} -> {}",
                r.name,
                matcher(r, l.protocol),
                action(&r.action)
            )?;
            if let Some(g) = guards_summary(&r.guards) {
                writeln!(out, "    protections (replacing the listener's): {g}")?;
            }
        }
    }
    for p in &cfg.pools {
        writeln!(
            out,
            "pool {:?} {} (connect {}, drain {}, slow start {})",
            p.name,
            p.balance.as_str(),
            duration(p.connect_timeout),
            duration(p.drain_timeout),
            duration(p.slow_start),
        )?;
        for b in &p.backends {
            writeln!(out, "  {} weight {}", b.address, b.weight)?;
        }
        for d in &p.dns {
            writeln!(
                out,
                "  {}:{} (dns, refresh {}) weight {}",
                d.host,
                d.port,
                duration(p.dns_refresh),
                d.weight
            )?;
        }
        match &p.health {
            Some(h) => {
                let mut check = match &h.probe {
                    Probe::Tcp => "tcp".to_owned(),
                    Probe::Http { path } => format!("GET {path}"),
                    Probe::Udp { send, expect } => format!(
                        "udp probe of {} bytes, reply starting with {} bytes",
                        send.len(),
                        expect.len()
                    ),
                };
                if let Some(port) = h.port {
                    check.push_str(&format!(" on port {port}"));
                }
                writeln!(
                    out,
                    "  health: {check} every {} (timeout {}, up {}, down {})",
                    duration(h.interval),
                    duration(h.timeout),
                    h.healthy_threshold,
                    h.unhealthy_threshold,
                )?;
            }
            None => writeln!(out, "  health: no active checks")?,
        }
        let o = &p.outlier;
        let outlier = if o.consecutive_failures == 0 {
            "off".to_owned()
        } else {
            format!(
                "eject after {} failures for {} to {}, at most {}%",
                o.consecutive_failures,
                duration(o.base_ejection_time),
                duration(o.max_ejection_time),
                o.max_ejection_percent
            )
        };
        let retry = if p.retry.attempts == 0 {
            "off".to_owned()
        } else {
            format!(
                "{} more attempt{}, budget {}%",
                p.retry.attempts,
                if p.retry.attempts == 1 { "" } else { "s" },
                p.retry.budget_percent
            )
        };
        writeln!(out, "  outlier: {outlier}; retry: {retry}")?;
        if let Some(tls) = &p.tls {
            writeln!(out, "  tls: {}", pool_tls(tls))?;
        }
    }
    Ok(())
}

/// The `tls`, `https_redirect` and `hsts` lines of a listener (none for plain http).
fn write_listener_tls(out: &mut String, l: &Listener) -> std::fmt::Result {
    if let Some(tls) = &l.tls {
        let certs: Vec<String> = tls.certs.iter().map(cert_key).collect();
        let min = match tls.min_version {
            TlsVersion::V1_2 => "1.2",
            TlsVersion::V1_3 => "1.3",
        };
        writeln!(out, "  tls: min version {min}; certs {}", certs.join(", "))?;
        match &tls.client_auth {
            Some(ca) => {
                let mode = match ca.mode {
                    ClientAuthMode::Required => "required",
                    ClientAuthMode::Optional => "optional",
                };
                let mut line = format!("  client auth: {mode}, ca {}", ca.ca.display());
                if let Some(h) = &ca.subject_header {
                    line.push_str(&format!("; subject -> {h}"));
                }
                if let Some(h) = &ca.san_header {
                    line.push_str(&format!("; san -> {h}"));
                }
                writeln!(out, "{line}")?;
            }
            None => writeln!(out, "  client auth: off")?,
        }
    }
    if let Some(port) = l.https_redirect {
        writeln!(
            out,
            "  https_redirect: every request -> 308 to https port {port} (routes unused)"
        )?;
    }
    if let Some(h) = &l.hsts {
        let mut line = format!("  hsts: max-age {}", duration(h.max_age));
        if h.include_subdomains {
            line.push_str(", includeSubDomains");
        }
        if h.preload {
            line.push_str(", preload");
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

fn cert_key(c: &CertKey) -> String {
    format!("{} + {}", c.cert.display(), c.key.display())
}

fn pool_tls(tls: &PoolTls) -> String {
    let mut parts = Vec::new();
    match (&tls.ca, tls.verify) {
        (_, false) => parts.push("verify off".to_owned()),
        (Some(ca), true) => parts.push(format!("verify against {}", ca.display())),
        (None, true) => parts.push("verify against the system roots".to_owned()),
    }
    if let Some(sni) = &tls.sni {
        parts.push(format!("sni {sni}"));
    }
    if let Some(c) = &tls.client_cert {
        parts.push(format!("client cert {}", cert_key(c)));
    }
    parts.join(", ")
}

fn log_target(t: &LogTarget) -> String {
    match t {
        LogTarget::Stderr => "stderr".to_owned(),
        LogTarget::Off => "off".to_owned(),
        LogTarget::File(path) => path.display().to_string(),
    }
}

fn matcher(r: &Route, protocol: Protocol) -> String {
    let mut parts = Vec::new();
    if let Some(sni) = &r.sni {
        parts.push(format!("sni {}", show_host(sni)));
    }
    if let Some(h) = &r.host {
        parts.push(format!("host {}", show_host(h)));
    }
    if let Some(p) = &r.path_prefix {
        parts.push(format!("path {p}*"));
    }
    for (name, value) in &r.headers {
        parts.push(format!(
            "header {name}: {}",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    if r.client_cert {
        parts.push("client certificate".to_owned());
    }
    if parts.is_empty() && protocol == Protocol::TlsPassthrough {
        "any other sni (default)".to_owned()
    } else if parts.is_empty() {
        "any request".to_owned()
    } else {
        parts.join(", ")
    }
}

fn action(a: &Action) -> String {
    match a {
        Action::Pool(p) => format!("pool {p}"),
        Action::Split(targets) => {
            let t: Vec<String> = targets
                .iter()
                .map(|t| format!("{} {}", t.pool, t.weight))
                .collect();
            format!("split {}", t.join(", "))
        }
        Action::Redirect { to, status } => format!("redirect {} {to}", status.as_u16()),
        Action::Respond { status, body } => {
            format!("respond {} ({} byte body)", status.as_u16(), body.len())
        }
    }
}

/// The largest whole unit: `2s`, `250ms`, `5m`, `1500ms`.
pub(crate) fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 && !d.is_zero() {
        return format!("{d:?}");
    }
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1000)] {
        if ms >= size && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    if ms == 0 {
        return "0s".to_owned();
    }
    format!("{ms}ms")
}

/// One line of what a listener's or route's guards do, or `None` when it has none. Never a
/// secret: key and user names, not their hashes.
fn guards_summary(g: &crate::model::Guards) -> Option<String> {
    use crate::model::{ApiKeySource, AuthKind, JwksSource, RateKey};
    let mut parts = Vec::new();
    if let Some(rl) = &g.rate_limit {
        let key = match &rl.key {
            RateKey::ClientIp => "client_ip".to_string(),
            RateKey::Header(h) => format!("header:{h}"),
            RateKey::ApiKey => "api_key".to_string(),
            RateKey::Jwt(c) => format!("jwt:{c}"),
        };
        parts.push(format!(
            "rate limit {}/s burst {} by {key} (at most {} keys)",
            rl.requests_per_second, rl.burst, rl.max_keys
        ));
    }
    if let Some(a) = &g.access {
        parts.push(access_summary(a));
    }
    if let Some(a) = &g.auth {
        let detail = match &a.kind {
            AuthKind::ApiKey { source, keys } => {
                let from = match source {
                    ApiKeySource::Header(h) => format!("header {h}"),
                    ApiKeySource::Query(q) => format!("query parameter {q}"),
                };
                let names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
                format!("api_key from {from}, keys {}", names.join(", "))
            }
            AuthKind::Basic { users } => {
                let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
                format!("basic, users {}", names.join(", "))
            }
            AuthKind::Jwt { jwks, issuer, .. } => {
                let from = match jwks {
                    JwksSource::File { path, .. } => path.display().to_string(),
                    JwksSource::Url { url, .. } => url.clone(),
                };
                match issuer {
                    Some(i) => format!("jwt, keys from {from}, issuer {i}"),
                    None => format!("jwt, keys from {from}"),
                }
            }
            AuthKind::Mtls => "mtls (the client certificate)".to_string(),
        };
        parts.push(format!("auth {detail}"));
    }
    if let Some(w) = &g.waf {
        let mode = match w.mode {
            crate::model::WafMode::Block => "block",
            crate::model::WafMode::Detect => "detect",
            crate::model::WafMode::Off => "off",
        };
        parts.push(format!(
            "waf {mode} at paranoia {}, bodies inspected up to {}",
            w.paranoia,
            human_size(w.max_body_inspect as u64)
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn access_summary(a: &crate::model::Access) -> String {
    format!("access {} allow, {} deny", a.allow.len(), a.deny.len())
}
