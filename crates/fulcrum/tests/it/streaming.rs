//! Bodies stream both ways with backpressure: a 1 GiB upload and a 1 GiB download pass through
//! a `fulcrum run` process whose resident memory stays under 64 MiB.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;

use fulcrum_testkit::Backend;

use crate::support::{field, simple, Proc, TempDir};

const GIB: u64 = 1 << 30;
const RSS_LIMIT_KIB: u64 = 64 * 1024;

/// `len` bytes of generated data, in 64 KiB frames, never held whole.
struct Generated {
    left: u64,
    chunk: Bytes,
}

impl Body for Generated {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = self.left.min(self.chunk.len() as u64) as usize;
        self.left -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(self.chunk.slice(..n)))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

fn rss_kib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[test]
fn one_gib_upload_and_download_stream_with_bounded_memory() {
    let be = Backend::start("be");
    let dir = TempDir::new("stream");
    let path = dir.write(
        "fulcrum.toml",
        &simple(
            &[&be],
            "limits = { max_body_bytes = \"2GiB\" }\ntimeouts = { request = \"120s\" }",
        ),
    );
    let p = Proc::run(&path);
    let line = p
        .wait_for_line("listening", Duration::from_secs(10))
        .expect("never listened");
    let addr: std::net::SocketAddr = field(&line, "address").unwrap().parse().unwrap();

    let pid = p.pid();
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, peak) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(kib) = rss_kib(pid) {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (up, down) = rt.block_on(async {
        let s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
            .await
            .unwrap();
        tokio::spawn(conn);

        let started = Instant::now();
        let body = Generated {
            left: GIB,
            chunk: Bytes::from(vec![b'u'; 64 * 1024]),
        };
        let req = http::Request::post("/upload")
            .header("host", "a")
            .body(body)
            .unwrap();
        let resp = send.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let text = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            &text[..],
            GIB.to_string().as_bytes(),
            "backend saw a different length"
        );
        let up = started.elapsed();

        send.ready().await.unwrap();
        let started = Instant::now();
        let req = http::Request::get(format!("/bytes/{GIB}"))
            .header("host", "a")
            .body(Generated {
                left: 0,
                chunk: Bytes::new(),
            })
            .unwrap();
        let resp = send.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let mut body = resp.into_body();
        let mut got = 0u64;
        while let Some(frame) = body.frame().await {
            got += frame.unwrap().data_ref().map_or(0, |d| d.len() as u64);
        }
        assert_eq!(got, GIB);
        (up, started.elapsed())
    });
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let peak = peak.load(Ordering::Relaxed);
    eprintln!(
        "1 GiB upload {:.1}s, 1 GiB download {:.1}s, proxy peak RSS {} KiB",
        up.as_secs_f64(),
        down.as_secs_f64(),
        peak
    );
    assert!(peak > 0, "RSS was never sampled");
    assert!(peak < RSS_LIMIT_KIB, "proxy RSS peaked at {peak} KiB");
}
