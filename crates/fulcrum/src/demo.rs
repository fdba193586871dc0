//! `fulcrum demo`: the embedded default. Three demo backends on loopback that answer with
//! their own name, a load balancer in front of them, and the admin endpoints.

use std::convert::Infallible;
use std::net::SocketAddr;

use anyhow::Context as _;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The demo's configuration, with the demo backends' real addresses filled in. It goes through
/// the same parser and validation as a user's file.
pub fn config_text(bind: SocketAddr, admin: SocketAddr, backends: &[SocketAddr]) -> String {
    let list: Vec<String> = backends
        .iter()
        .map(|b| format!("  {{ address = \"{b}\" }},"))
        .collect();
    format!(
        r#"# The configuration `fulcrum demo` runs.
[runtime]
workers = 1

[access_log]
target = "off"

[admin]
bind = "{admin}"

[[listener]]
name = "web"
bind = "{bind}"

  [[listener.route]]
  name = "hello"
  pool = "demo"

[pool.demo]
balance = "round_robin"
backends = [
{}
]
"#,
        list.join("\n")
    )
}

/// Start `n` demo backends on loopback (ephemeral ports), each answering with its name.
/// They run on the current tokio runtime.
pub async fn start_backends(n: usize) -> anyhow::Result<Vec<SocketAddr>> {
    let mut addrs = Vec::with_capacity(n);
    for i in 1..=n {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("demo backend: bind 127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        addrs.push(addr);
        let name = format!("backend-{i}");
        tokio::spawn(serve_backend(listener, name));
    }
    Ok(addrs)
}

async fn serve_backend(listener: TcpListener, name: String) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let name = name.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let body = format!("Hello from {name} (you asked for {})\n", req.uri().path());
                async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body)))) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// What the demo prints once it is up.
pub fn banner(bind: SocketAddr, admin: Option<SocketAddr>, backends: &[SocketAddr]) -> String {
    let mut s = String::new();
    s.push_str("Fulcrum demo is running.\n");
    for (i, b) in backends.iter().enumerate() {
        s.push_str(&format!("  backend-{} on http://{b}\n", i + 1));
    }
    s.push_str(&format!(
        "  load balancer on http://{bind} (round robin over the three)\n"
    ));
    if let Some(a) = admin {
        s.push_str(&format!("  admin on http://{a} (/healthz, /ready)\n"));
    }
    s.push_str("\nTry this:\n");
    s.push_str(&format!(
        "  for i in 1 2 3 4 5 6; do curl -s http://{bind}/; done\n"
    ));
    if let Some(a) = admin {
        s.push_str(&format!("  curl -s http://{a}/ready\n"));
    }
    s.push_str("\nPress Ctrl-C to stop.\n");
    s
}
