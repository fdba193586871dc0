//! One client connection: guard + hyper (HTTP/1.1 or HTTP/2 by prior knowledge) + a watchdog
//! for the header and keep-alive idle timeouts and for graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::guard::{ConnActivity, GuardedIo};
use crate::proxy::{self, ConnCtx, Worker};
use crate::state::ListenerState;

/// Runs futures on the current worker's `LocalSet`: connection state is `Rc`, never crosses
/// threads.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalExec;

impl<F> hyper::rt::Executor<F> for LocalExec
where
    F: Future + 'static,
{
    fn execute(&self, fut: F) {
        tokio::task::spawn_local(fut);
    }
}

/// How long in-flight requests may run after shutdown begins, before connections are cut.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Serve one accepted client connection until it closes, times out, or shutdown ends it.
pub async fn serve(
    worker: Rc<Worker>,
    listener: Arc<ArcSwap<ListenerState>>,
    stream: TcpStream,
    peer: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    fulcrum_net::tune_stream(&stream);
    let l = listener.load_full();
    let timeouts = l.timeouts;
    let max_head = l.limits.max_header_bytes.max(8 * 1024);
    drop(l);
    let activity = ConnActivity::new(Instant::now());
    let cx = Rc::new(ConnCtx {
        worker,
        listener,
        peer,
        activity: activity.clone(),
        proto: "http",
    });
    let io = TokioIo::new(GuardedIo::new(stream, activity.clone()));
    let service = service_fn(move |req| proxy::handle(cx.clone(), req));

    let mut builder = auto::Builder::new(LocalExec);
    builder
        .http1()
        .timer(TokioTimer::new())
        .max_buf_size(max_head)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256)
        .max_header_list_size(u32::try_from(max_head).unwrap_or(u32::MAX));
    let conn = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(conn);

    let mut draining = false;
    let mut hard_deadline: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let wake = next_wake(
            &activity,
            timeouts.header,
            timeouts.idle,
            now,
            hard_deadline,
        );
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(client = %peer, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = tokio::time::sleep_until(wake.into()), if !draining || hard_deadline.is_some() => {
                let now = Instant::now();
                if hard_deadline.is_some_and(|d| now >= d) {
                    return;
                }
                if let Some(since) = activity.head_since() {
                    if now >= since + timeouts.header {
                        tracing::debug!(client = %peer, "request head timeout");
                        return;
                    }
                }
                if !draining
                    && activity.inflight() == 0
                    && activity.head_since().is_none()
                    && now >= activity.last() + timeouts.idle
                {
                    draining = true;
                    hard_deadline = Some(now + Duration::from_secs(1));
                    conn.as_mut().graceful_shutdown();
                }
            }
            _ = shutdown.changed(), if !draining => {
                draining = true;
                hard_deadline = Some(Instant::now() + SHUTDOWN_GRACE);
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// When the watchdog must look again.
fn next_wake(
    a: &ConnActivity,
    header: Duration,
    idle: Duration,
    now: Instant,
    hard: Option<Instant>,
) -> Instant {
    let mut t = match a.head_since() {
        Some(since) => since + header,
        None if a.inflight() == 0 => a.last() + idle,
        // A request is in flight: nothing to enforce here, look again later.
        None => now + idle.min(header),
    };
    // A head may start at any moment while we sleep on the idle deadline.
    t = t.min(now + header).max(now + Duration::from_millis(1));
    if let Some(h) = hard {
        t = t.min(h);
    }
    t
}
