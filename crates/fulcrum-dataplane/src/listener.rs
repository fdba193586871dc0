//! A listener as the data path sees it: its compiled route table with the actions and rules
//! of each route, its limits and timeouts, TLS and metric handles. Built whole by the control
//! plane and swapped in through an `ArcSwap`; a request keeps the `Arc` it started with.

use std::sync::Arc;

use bytes::Bytes;
use fulcrum_config::model::{Cidr, Limits, Timeouts};
use fulcrum_route::{RouteTable, SniTable};
use http::{HeaderName, HeaderValue, StatusCode};

use crate::{ListenerMetrics, PoolState};

/// What a matched route does.
#[derive(Debug)]
pub enum RouteAction {
    Pool(Arc<PoolState>),
    /// Weighted choice; `total` is the sum of weights (> 0).
    Split {
        targets: Vec<(Arc<PoolState>, u32)>,
        total: u32,
    },
    Redirect {
        location: HeaderValue,
        status: StatusCode,
    },
    Respond {
        status: StatusCode,
        body: Bytes,
    },
}

impl RouteAction {
    /// The pool for this request, for `Pool` and `Split` actions.
    pub fn pool(&self) -> Option<&Arc<PoolState>> {
        match self {
            RouteAction::Pool(p) => Some(p),
            RouteAction::Split { targets, total } => {
                let mut n = fastrand::u32(..(*total).max(1));
                for (p, w) in targets {
                    if n < *w {
                        return Some(p);
                    }
                    n -= w;
                }
                targets.last().map(|(p, _)| p)
            }
            _ => None,
        }
    }
}

/// Per route, what a request that takes it may do beyond matching.
#[derive(Debug, Clone, Default)]
pub struct RouteRules {
    /// `Upgrade` protocols tunnelled (lowercase); an upgrade asking for anything else is
    /// forwarded as a plain request.
    pub upgrades: Box<[String]>,
    /// Paths with `%2F`/`%5C` may take this route.
    pub allow_encoded_slashes: bool,
    /// Only connections with a verified client certificate match (`client_cert = true`).
    pub needs_client_cert: bool,
    /// The route's rate limit and access list (its own, else the listener's).
    pub guards: crate::RequestGuards,
}

impl RouteRules {
    /// Whether every protocol the `Upgrade` values offer is allowed here.
    pub fn allows_upgrade<'a>(&self, offered: impl Iterator<Item = &'a HeaderValue>) -> bool {
        let mut any = false;
        for v in offered {
            let Ok(v) = v.to_str() else { return false };
            for p in v.split(',') {
                let p = p.trim_matches([' ', '\t']);
                // Empty list elements are allowed and mean nothing (RFC 9110 §5.6.1).
                if p.is_empty() {
                    continue;
                }
                if !self.upgrades.iter().any(|u| u.eq_ignore_ascii_case(p)) {
                    return false;
                }
                any = true;
            }
        }
        any
    }
}

/// A listener snapshot: immutable once built, shared by `Arc`.
#[derive(Debug)]
pub struct ListenerState {
    pub name: String,
    pub routes: RouteTable<RouteAction>,
    pub route_names: Vec<String>,
    pub timeouts: Timeouts,
    pub limits: Limits,
    /// Metric handles; `None` when nothing collects metrics (some tests).
    pub metrics: Option<ListenerMetrics>,
    /// Per route (index-aligned): upgrades and encoded slashes allowed, client certificate
    /// required.
    pub route_rules: Vec<RouteRules>,
    /// `trusted_proxies`: peers whose forwarding headers are believed.
    pub trusted_proxies: Box<[Cidr]>,
    /// `http` or `https`, for `X-Forwarded-Proto`.
    pub proto: HeaderValue,
    /// http listeners with `https_redirect`: the https port for the 308's `Location`.
    pub https_redirect: Option<u16>,
    /// https listeners with `[listener.hsts]`: the `Strict-Transport-Security` value.
    pub hsts: Option<HeaderValue>,
    /// mTLS: headers that carry the verified client's subject and SANs to backends (and are
    /// always removed from what clients send).
    pub client_subject_header: Option<HeaderName>,
    pub client_san_header: Option<HeaderName>,
    /// `tls_passthrough` listeners: pools by the ClientHello's SNI.
    pub passthrough: Option<SniTable<Arc<PoolState>>>,
    /// `[listener.proxy_protocol] trusted`: peers that must start with a PROXY header (whose
    /// source address is then the client's); `None`: headers are not read.
    pub proxy_trusted: Option<Box<[Cidr]>>,
    /// `tcp` listeners: the pool every connection is relayed to.
    pub l4_pool: Option<Arc<PoolState>>,
    /// `https` listeners: the TLS acceptor (its certificates reload in place).
    pub tls: Option<Arc<fulcrum_tls::TlsAcceptor>>,
    /// Which engine serves HTTP/1.1 (`engine`).
    pub engine: fulcrum_config::model::Engine,
    /// The listener's own request guards (what routes without their own hold; kept here so a
    /// reload can carry its tables over).
    pub guards: crate::RequestGuards,
    /// Checked at accept: per-address connection limits, and on tcp and tls_passthrough
    /// listeners the access list.
    pub conn_guards: crate::ConnGuards,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(rules: &RouteRules, values: &[&'static str]) -> bool {
        let v: Vec<HeaderValue> = values.iter().map(|s| HeaderValue::from_static(s)).collect();
        rules.allows_upgrade(v.iter())
    }

    /// Issue 7 item 9 (review): only listed protocols are tunnelled, in any case; empty list
    /// elements (`websocket,`) are no protocol at all; nothing offered is no upgrade.
    #[test]
    fn upgrades_are_allowed_only_when_every_offer_is_listed() {
        let rules = RouteRules {
            upgrades: vec!["websocket".to_owned()].into_boxed_slice(),
            allow_encoded_slashes: false,
            needs_client_cert: false,
            guards: Default::default(),
        };
        assert!(allows(&rules, &["WebSocket"]));
        assert!(allows(&rules, &["websocket, ", ", websocket"]));
        assert!(!allows(&rules, &["websocket, h2c"]));
        assert!(!allows(&rules, &["websocket", "h2c"]));
        assert!(!allows(&rules, &[""]));
        assert!(!allows(&rules, &[]));
        assert!(!allows(&RouteRules::default(), &["websocket"]));
    }
}
