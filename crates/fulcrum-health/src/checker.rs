//! The async shell: one check over a real socket (TCP, HTTP, or UDP in `udp.rs`), and the
//! loop that runs checks on schedule.
//! All judgement (thresholds, verdicts) stays in [`crate::ActiveHealth`], owned by the caller.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use fulcrum_config::model::{HealthCheck, Probe};
use http::header::{CONNECTION, HOST, USER_AGENT};
use http::Request;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::{CheckError, Schedule};

/// The `User-Agent` of HTTP checks.
pub const USER_AGENT_VALUE: &str = "fulcrum-health";

/// Run one check of `target`; `true` if it passed. See [`probe`].
pub async fn check_once(target: SocketAddr, spec: &HealthCheck, host: Option<&str>) -> bool {
    check_once_with(target, spec, host, &[]).await
}

/// [`check_once`], sending `preface` first on a TCP or HTTP check's connection (a PROXY
/// protocol header, for backends that expect one; see [`probe_with`]).
pub async fn check_once_with(
    target: SocketAddr,
    spec: &HealthCheck,
    host: Option<&str>,
    preface: &[u8],
) -> bool {
    match probe_with(target, spec, host, preface).await {
        Ok(()) => true,
        Err(error) => {
            tracing::debug!(%target, %error, "health check failed");
            false
        }
    }
}

/// One check of `target`, all within `spec.timeout`, made to `spec.port` of its IP address
/// when set. By `spec.probe`: a TCP connect; an HTTP/1.1 `GET path` (`Host`: `host`, or the
/// address checked) that must answer 2xx or 3xx, of which only the status line and headers
/// are read (the body is dropped unread); or a UDP probe, one datagram that must be answered by
/// one starting with the expected bytes (an ICMP port unreachable fails it at once).
pub async fn probe(
    target: SocketAddr,
    spec: &HealthCheck,
    host: Option<&str>,
) -> Result<(), CheckError> {
    probe_with(target, spec, host, &[]).await
}

/// [`probe`], writing `preface` first once connected over TCP (a PROXY header: a TCP check
/// then sends it and closes, an HTTP check sends its request after it). A UDP probe sends its
/// payload bare, without `preface`.
pub async fn probe_with(
    target: SocketAddr,
    spec: &HealthCheck,
    host: Option<&str>,
    preface: &[u8],
) -> Result<(), CheckError> {
    let target = match spec.port {
        Some(port) => SocketAddr::new(target.ip(), port),
        None => target,
    };
    let check = async {
        let path = match &spec.probe {
            Probe::Udp { send, expect } => return crate::udp::probe(target, send, expect).await,
            Probe::Tcp => None,
            Probe::Http { path } => Some(path),
        };
        let mut stream = TcpStream::connect(target)
            .await
            .map_err(CheckError::Connect)?;
        if !preface.is_empty() {
            stream
                .write_all(preface)
                .await
                .map_err(CheckError::Connect)?;
        }
        match path {
            None => Ok(()),
            Some(path) => http_get(stream, target, path, host).await,
        }
    };
    tokio::time::timeout(spec.timeout, check)
        .await
        .unwrap_or(Err(CheckError::Timeout(spec.timeout)))
}

async fn http_get(
    stream: TcpStream,
    target: SocketAddr,
    path: &str,
    host: Option<&str>,
) -> Result<(), CheckError> {
    // Best effort: a check is one small request, Nagle would only delay it.
    let _ = stream.set_nodelay(true);
    let host = host.map_or_else(|| target.to_string(), str::to_owned);
    let request = Request::get(path)
        .header(HOST, host)
        .header(CONNECTION, "close")
        .header(USER_AGENT, USER_AGENT_VALUE)
        .body(Empty::<Bytes>::new())
        .map_err(CheckError::Request)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| CheckError::Http(e.into()))?;
    // Drive the connection here rather than in a spawned task, so that the timeout (dropping
    // this future) closes the socket.
    let send = sender.send_request(request);
    tokio::pin!(send, conn);
    let response = tokio::select! {
        biased;
        response = &mut send => response,
        // The connection may finish in the same poll that delivered the response (the server
        // answered and closed); the request future then has the response, or the error.
        _ = &mut conn => send.await,
    }
    .map_err(|e| CheckError::Http(e.into()))?;
    let status = response.status();
    if status.is_success() || status.is_redirection() {
        Ok(())
    } else {
        Err(CheckError::Status(status))
    }
}

/// Check `target` until `stop` turns `true` (or its sender is dropped): the first check soon
/// after the start, then one every `spec.interval` ± 10% after the previous one finished (so
/// checks never overlap). Each result goes to `on_result(ok, when)`.
pub async fn run_checks(
    target: SocketAddr,
    spec: &HealthCheck,
    on_result: impl FnMut(bool, Instant),
    stop: watch::Receiver<bool>,
) {
    run_checks_with(target, spec, &[], on_result, stop).await;
}

/// [`run_checks`], each check sending `preface` first (see [`probe_with`]).
pub async fn run_checks_with(
    target: SocketAddr,
    spec: &HealthCheck,
    preface: &[u8],
    mut on_result: impl FnMut(bool, Instant),
    mut stop: watch::Receiver<bool>,
) {
    let mut schedule = Schedule::new(spec.interval, fastrand::Rng::new());
    let mut next = schedule.first_check(Instant::now());
    let stopped = stop.wait_for(|stop| *stop);
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            biased;
            _ = &mut stopped => return,
            () = tokio::time::sleep_until(next.into()) => {}
        }
        let ok = tokio::select! {
            biased;
            _ = &mut stopped => return,
            ok = check_once_with(target, spec, None, preface) => ok,
        };
        let now = Instant::now();
        on_result(ok, now);
        next = schedule.next_check(now);
    }
}
