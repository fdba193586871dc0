//! Admission, written once for both engines: from the facts of a request — its validated
//! authority, its path and query, its header fields (through [`fulcrum_route::Headers`]) —
//! and of its connection (the TLS server name, whether a client certificate was verified),
//! decide the route and what it does, before any backend is involved. The hyper path
//! (`proxy.rs`) and the HTTP/1.1 fast path (`h1/exchange.rs`) each read those facts from
//! their own parse and act on the answer in their own way (a `Response`, or bytes).
//!
//! The route's guards run here too (`fulcrum-guard`, through the snapshot's
//! [`RequestGuards`]): the access list on the client address, then authentication (the
//! `Authorization` field, the API key's header or query parameter, the connection's client
//! certificate), then the rate limit on its key (the address, a header's first value read
//! through [`Fields`], never a header map built for it, or the authenticated identity), then
//! the web application firewall on the method, path, query and every header field (walked
//! through [`Fields::each_field`]). A refusal is a [`ProxyError`] like the others (401, 403,
//! 429); an authentication failure is also logged (a `warn` line with the listener, route,
//! client, kind and reason, never the credential). A Basic password hash is checked here,
//! inline: see `fulcrum_guard::auth`. A body the WAF reads ([`Admitted::waf_body`]) is read
//! by the engine and handed to [`inspect_body`].

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use fulcrum_config::model::{ApiKeySource, RateKey};
use fulcrum_dataplane::{RequestGuards, WafCounters, WafDecision, WafGuard};
use fulcrum_guard::auth::{Cert, Failure, Identity, Presented};
use fulcrum_guard::Decision;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use crate::error::{Challenge, ProxyError, Throttled};
use crate::state::{ListenerState, PoolState, RouteAction};

/// Header lookup for admission: route matching ([`fulcrum_route::Headers`]) and the first
/// value of a field (a rate limit's `header:NAME` key).
pub trait Fields: fulcrum_route::Headers {
    fn first_value(&self, name: &HeaderName) -> Option<&[u8]>;

    /// Every field in order, name and value, until `f` returns `false` (the WAF reads them).
    fn each_field(&self, f: &mut dyn FnMut(&[u8], &[u8]) -> bool);
}

impl Fields for HeaderMap {
    fn first_value(&self, name: &HeaderName) -> Option<&[u8]> {
        self.get(name).map(HeaderValue::as_bytes)
    }

    fn each_field(&self, f: &mut dyn FnMut(&[u8], &[u8]) -> bool) {
        for (n, v) in self {
            if !f(n.as_str().as_bytes(), v.as_bytes()) {
                return;
            }
        }
    }
}

impl Fields for crate::h1::request::View<'_> {
    fn first_value(&self, name: &HeaderName) -> Option<&[u8]> {
        self.head.get_all(self.buf, name.as_str().as_bytes()).next()
    }

    fn each_field(&self, f: &mut dyn FnMut(&[u8], &[u8]) -> bool) {
        for field in &self.head.fields {
            if !f(field.name.of(self.buf), field.value_of(self.buf)) {
                return;
            }
        }
    }
}

/// What a request says about itself, as either engine parsed it.
pub struct Request<'a, H: ?Sized> {
    /// The method as received (the WAF's protocol checks read it).
    pub method: &'a [u8],
    /// The validated authority (`Host`, HTTP/2 `:authority` or an absolute-form target).
    pub authority: Option<&'a str>,
    /// The path as received (`/`-led for origin-form targets; `*` for `OPTIONS *`).
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a H,
    /// The client's address: the PROXY header's source from a trusted front balancer, else
    /// the `trusted_proxies`-derived address, else the peer.
    pub client: IpAddr,
    /// When the request's head was complete (the guards' clock).
    pub now: Instant,
    /// Whether a body follows the head (a length above 0, or chunked).
    pub body: bool,
}

/// What the connection says: the server name its TLS handshake settled, and whether the
/// client presented a verified certificate.
#[derive(Clone, Copy)]
pub struct Connection<'a> {
    pub sni: Option<&'a str>,
    pub client_cert: bool,
    /// The verified client certificate's subject and SANs (auth `kind = "mtls"`).
    pub cert: Option<Cert<'a>>,
    /// The engine hands requests for pools with backend TLS, and requests whose body the
    /// WAF reads, to another engine (the fast path, to hyper): their guards are left to
    /// that one.
    pub hands_over_tls_pools: bool,
}

/// What the matched route does.
pub enum Act<'l> {
    Respond {
        status: StatusCode,
        body: &'l Bytes,
    },
    Redirect {
        status: StatusCode,
        location: &'l HeaderValue,
    },
    /// Forward to this pool (for a split, the one drawn by weight).
    Pool(Arc<PoolState>),
}

/// Why a request was not admitted, and the route it had matched if it got that far (its
/// metrics series then counts the refusal).
pub struct Refused {
    pub route: Option<usize>,
    pub error: ProxyError,
}

impl From<ProxyError> for Refused {
    fn from(error: ProxyError) -> Self {
        Refused { route: None, error }
    }
}

/// The route a request takes, and what goes on from it.
pub struct Admitted<'l> {
    /// The route's index in the listener's table (for metrics, logs, its rules).
    pub route: usize,
    pub act: Act<'l>,
    /// The target to send when it differs from the one received: the normal path the
    /// route matched, with the query as received.
    pub rewritten: Option<String>,
    /// `forward_identity`: the field to send the authenticated identity in (any copy from the
    /// client removed), and its value (`None` when it cannot be a field value).
    pub forward: Option<(&'l HeaderName, Option<HeaderValue>)>,
    /// The route's WAF reads this request's body: the engine reads up to
    /// `max_body_inspect` bytes of it before choosing a backend and calls [`inspect_body`]
    /// (the fast path hands such requests to hyper).
    pub waf_body: bool,
}

/// Route `req` on `listener`: the TLS name check (421 when the authority selects another
/// certificate than the handshake's), the path in normal form (400 for ambiguous ones), the
/// first route that matches (and whose client-certificate rule the connection meets), the
/// route's encoded-slash rule, and the action with its pool drawn.
pub fn admit<'l, H: Fields + ?Sized>(
    listener: &'l ListenerState,
    conn: Connection<'_>,
    req: &Request<'_, H>,
    worker: usize,
) -> Result<Admitted<'l>, Refused> {
    if let (Some(sni), Some(host), Some(tls)) = (conn.sni, req.authority, &listener.tls) {
        if crate::authority::misdirected(tls, sni, host) {
            return Err(ProxyError::Misdirected.into());
        }
    }
    let path = fulcrum_route::normalize_path(req.path)
        .map_err(|e| ProxyError::AmbiguousPath(e.as_str()))?;
    let (route, action) = listener
        .routes
        .find_where(req.authority, &path, req.headers, |i| {
            conn.client_cert
                || !listener
                    .route_rules
                    .get(i)
                    .is_some_and(|r| r.needs_client_cert)
        })
        .ok_or_else(|| ProxyError::NoRoute)?;
    let rules = listener.route_rules.get(route);
    let refused = |error| Refused {
        route: Some(route),
        error,
    };
    if path.has_encoded_slash() && !rules.is_some_and(|r| r.allow_encoded_slashes) {
        return Err(refused(ProxyError::AmbiguousPath(
            "encoded slash in the path",
        )));
    }
    // A target that is not a path (`OPTIONS *`) goes on as it came.
    let rewritten = (path.is_rewritten() && req.path.starts_with('/')).then(|| {
        let query = req.query.map_or(0, |q| q.len() + 1);
        let mut t = String::with_capacity(path.as_str().len() + query);
        t.push_str(path.as_str());
        if let Some(q) = req.query {
            t.push('?');
            t.push_str(q);
        }
        t
    });
    let act = match action {
        RouteAction::Respond { status, body } => Act::Respond {
            status: *status,
            body,
        },
        RouteAction::Redirect { location, status } => Act::Redirect {
            status: *status,
            location,
        },
        RouteAction::Pool(_) | RouteAction::Split { .. } => match action.pool() {
            Some(p) => Act::Pool(p.clone()),
            None => return Err(refused(ProxyError::NoBackend)),
        },
    };
    // A request the engine hands to another (the fast path gives TLS pools to hyper) meets
    // its guards there, once.
    let waf_body = matches!(&act, Act::Pool(_))
        && req.body
        && rules.is_some_and(|r| r.guards.waf.is_some())
        && inspectable(req.headers.first_value(&http::header::CONTENT_TYPE));
    let handed_over =
        conn.hands_over_tls_pools && (waf_body || matches!(&act, Act::Pool(p) if p.tls.is_some()));
    let mut forward = None;
    if let Some(r) = rules.filter(|r| !r.guards.is_empty() && !handed_over) {
        let names = (listener.name.as_str(), route_name(listener, route));
        let id = guard(&r.guards, req, conn, worker, names, waf_body).map_err(|e| {
            if let Some((kind, reason)) = e.auth_failure() {
                tracing::warn!(
                    listener = %listener.name,
                    route = names.1,
                    client = %req.client,
                    kind,
                    reason,
                    "authentication refused a request"
                );
            }
            refused(e)
        })?;
        if let Some(name) = r
            .guards
            .auth
            .as_ref()
            .and_then(|a| a.forward_identity.as_ref())
        {
            let value = id.and_then(|id| HeaderValue::from_str(&id.subject).ok());
            forward = Some((name, value));
        }
    }
    Ok(Admitted {
        route,
        act,
        rewritten,
        forward,
        waf_body,
    })
}

/// Whether the WAF reads a body of this `Content-Type` (none: read as a form, as PHP does).
fn inspectable(content_type: Option<&[u8]>) -> bool {
    let Some(ct) = content_type else {
        return true;
    };
    let mime = ct.split(|&b| b == b';').next().unwrap_or(b"").trim_ascii();
    let lower = mime.to_ascii_lowercase();
    lower == b"application/x-www-form-urlencoded"
        || lower == b"application/json"
        || lower.ends_with(b"+json")
        || lower.starts_with(b"multipart/")
        || lower == b"application/xml"
        || lower == b"text/xml"
        || lower.ends_with(b"+xml")
}

/// The route's WAF on the first bytes of the request's body (`Admitted::waf_body`): the
/// decision counted and logged as for the head; `Err` when it blocks.
#[allow(clippy::too_many_arguments)]
pub fn inspect_body(
    listener: &ListenerState,
    route: usize,
    content_type: Option<&[u8]>,
    body: &[u8],
    client: IpAddr,
    worker: usize,
) -> Result<(), ProxyError> {
    let Some(g) = listener.route_rules.get(route).map(|r| &r.guards) else {
        return Ok(());
    };
    let Some(w) = &g.waf else {
        return Ok(());
    };
    let found = w.waf.inspector().body(content_type, body);
    let names = (listener.name.as_str(), route_name(listener, route));
    decide(
        w,
        g.waf_counters.as_ref(),
        found,
        client,
        worker,
        names,
        false,
    )
}

fn route_name(listener: &ListenerState, route: usize) -> &str {
    listener.route_names.get(route).map_or("", String::as_str)
}

/// The route's access list, then its authentication, then its rate limit, then its
/// firewall; each decision counted on `worker`'s shard. The identity, when the route
/// authenticates. `names`: the listener's and the route's, for the WAF's log line.
fn guard<H: Fields + ?Sized>(
    g: &RequestGuards,
    req: &Request<'_, H>,
    conn: Connection<'_>,
    worker: usize,
    names: (&str, &str),
    waf_body: bool,
) -> Result<Option<Identity>, ProxyError> {
    if let Some(list) = &g.access {
        let verdict = list.check(req.client);
        if let Some(c) = &g.access_counters {
            c.record(worker, verdict.allowed());
        }
        if !verdict.allowed() {
            return Err(ProxyError::Forbidden(verdict.reason()));
        }
    }
    let mut identity = None;
    if let Some(a) = &g.auth {
        let query_key;
        let api_key = match &a.api_key {
            Some(ApiKeySource::Header(name)) => req.headers.first_value(name),
            Some(ApiKeySource::Query(name)) => {
                query_key = req.query.and_then(|q| query_param(q, name));
                query_key.as_deref()
            }
            None => None,
        };
        let presented = Presented {
            authorization: req.headers.first_value(&http::header::AUTHORIZATION),
            api_key,
            cert: conn.cert,
        };
        let unix_now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let result = a.authenticator.check(&presented, req.now, unix_now);
        if let Some(c) = &g.auth_counters {
            c.record(worker, result.is_ok());
        }
        let kind = a.authenticator.kind();
        match result {
            Ok(id) => identity = Some(id),
            Err(Failure::Unauthenticated(reason)) => {
                let challenge = a.authenticator.challenge(reason);
                return Err(ProxyError::Unauthorized(Box::new(Challenge {
                    kind,
                    reason,
                    www_authenticate: HeaderValue::from_str(&challenge)
                        .unwrap_or_else(|_| HeaderValue::from_static("Bearer realm=\"fulcrum\"")),
                })));
            }
            Err(Failure::Forbidden(reason)) => {
                return Err(ProxyError::AuthForbidden { kind, reason });
            }
        }
    }
    if let Some(rl) = &g.rate_limit {
        let decision = match &rl.key {
            RateKey::Header(name) => match req.headers.first_value(name) {
                Some(v) => rl.limiter.check(v, req.now),
                None => rl.limiter.check_ip(req.client, req.now),
            },
            RateKey::ApiKey => match identity.as_ref().filter(|_| {
                g.auth
                    .as_ref()
                    .is_some_and(|a| a.authenticator.kind() == "api_key")
            }) {
                Some(id) => rl.limiter.check(id.subject.as_bytes(), req.now),
                None => rl.limiter.check_ip(req.client, req.now),
            },
            RateKey::Jwt(claim) => match identity.as_ref().and_then(|id| id.claim(claim)) {
                Some(v) => rl.limiter.check(v.as_bytes(), req.now),
                None => rl.limiter.check_ip(req.client, req.now),
            },
            RateKey::ClientIp => rl.limiter.check_ip(req.client, req.now),
        };
        if let Some(c) = &g.rate_counters {
            c.record(worker, decision.allowed());
        }
        if let Decision::Deny { retry_after } = decision {
            let ratelimit = fulcrum_guard::ratelimit_header(&rl.name, &decision);
            return Err(ProxyError::RateLimited(Box::new(Throttled {
                retry_after: fulcrum_guard::ceil_secs(retry_after),
                policy: rl.policy.clone(),
                ratelimit: HeaderValue::from_str(&ratelimit)
                    .unwrap_or_else(|_| HeaderValue::from_static("\"default\";r=0;t=1")),
            })));
        }
    }
    if let Some(w) = &g.waf {
        waf(w, g.waf_counters.as_ref(), req, worker, names, waf_body)?;
    }
    Ok(identity)
}

/// The first value of query parameter `name`, percent-decoded (`+` as a space); `None` when
/// absent or not valid percent-encoding.
fn query_param(query: &str, name: &str) -> Option<Vec<u8>> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k)? == name.as_bytes()).then(|| percent_decode(v))?
    })
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'%' => {
                let hex = |j: usize| b.get(j).and_then(|&h| (h as char).to_digit(16));
                out.push((hex(i + 1)? * 16 + hex(i + 2)?) as u8);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(out)
}

/// The firewall on the request's head: method and path, query, every field. A request
/// whose body is inspected next is counted once, after its body (`body_follows`).
fn waf<H: Fields + ?Sized>(
    w: &WafGuard,
    counters: Option<&WafCounters>,
    req: &Request<'_, H>,
    worker: usize,
    names: (&str, &str),
    body_follows: bool,
) -> Result<(), ProxyError> {
    let mut ins = w.waf.inspector();
    let mut found = ins.request_line(req.method, req.path.as_bytes());
    if found.is_none() {
        found = req.query.and_then(|q| ins.query(q.as_bytes()));
    }
    if found.is_none() {
        req.headers.each_field(&mut |n, v| {
            found = ins.header(n, v);
            found.is_none()
        });
    }
    decide(w, counters, found, req.client, worker, names, body_follows)
}

/// Count, log and act on what the firewall found.
fn decide(
    w: &WafGuard,
    counters: Option<&WafCounters>,
    found: Option<fulcrum_guard::waf::Finding>,
    client: IpAddr,
    worker: usize,
    (listener, route): (&str, &str),
    body_follows: bool,
) -> Result<(), ProxyError> {
    let Some(f) = found else {
        if let Some(c) = counters.filter(|_| !body_follows) {
            c.record(worker, WafDecision::Allow);
        }
        return Ok(());
    };
    let decision = if w.block {
        WafDecision::Deny
    } else {
        WafDecision::Detect
    };
    if let Some(c) = counters {
        c.record(worker, decision);
    }
    tracing::warn!(
        listener,
        route,
        client = %client,
        class = f.class.as_str(),
        rule = f.rule,
        part = f.part,
        name = %f.name,
        matched = %f.excerpt,
        action = if w.block { "block" } else { "detect" },
        "waf: request matched"
    );
    if w.block {
        return Err(ProxyError::WafBlocked {
            class: f.class.as_str(),
            part: f.part,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_params_are_found_and_decoded() {
        use super::query_param;
        assert_eq!(
            query_param("a=1&key=s%3Dx+y&key=2", "key").as_deref(),
            Some(&b"s=x y"[..])
        );
        assert_eq!(query_param("k%65y=v", "key").as_deref(), Some(&b"v"[..]));
        assert_eq!(query_param("keys=v", "key"), None);
        assert_eq!(query_param("key", "key").as_deref(), Some(&b""[..]));
        assert_eq!(query_param("key=%zz", "key"), None);
        assert_eq!(query_param("key=%4", "key"), None);
    }
}
