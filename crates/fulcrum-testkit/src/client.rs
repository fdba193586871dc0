//! Clients for tests: raw bytes over a socket, and a small blocking hyper client that keeps
//! one connection (HTTP/1.1 or HTTP/2 prior knowledge).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};

/// What came back from a raw exchange.
#[derive(Debug)]
pub struct RawReply {
    pub bytes: Vec<u8>,
    /// The server closed the connection (we read end-of-stream) before the timeout.
    pub closed: bool,
}

impl RawReply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// The status code of the first response, if any.
    pub fn status(&self) -> Option<u16> {
        let t = self.text();
        t.strip_prefix("HTTP/1.1 ")
            .or_else(|| t.strip_prefix("HTTP/1.0 "))
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse().ok())
    }

    /// How many responses (status lines) came back.
    pub fn responses(&self) -> usize {
        self.text().matches("HTTP/1.1 ").count()
    }
}

/// Send `request` as raw bytes and read until the server closes or `timeout` passes.
pub fn raw_exchange(addr: SocketAddr, request: &[u8], timeout: Duration) -> RawReply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    // A server that refuses early may close before we finish writing: that is fine.
    let _ = s.write_all(request);
    read_until_close(&mut s, timeout)
}

/// Read from `s` until end-of-stream or `timeout`.
pub fn read_until_close(s: &mut TcpStream, timeout: Duration) -> RawReply {
    let deadline = Instant::now() + timeout;
    let mut bytes = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return RawReply {
                bytes,
                closed: false,
            };
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => {
                return RawReply {
                    bytes,
                    closed: true,
                }
            }
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            // A reset after the response also means the server closed.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return RawReply {
                    bytes,
                    closed: true,
                }
            }
            Err(_) => {
                return RawReply {
                    bytes,
                    closed: false,
                }
            }
        }
    }
}

/// A response read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }
}

enum Conn {
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

/// One client connection with its own runtime; blocking calls.
pub struct Client {
    rt: tokio::runtime::Runtime,
    conn: Conn,
    pub addr: SocketAddr,
}

impl Client {
    pub fn http1(addr: SocketAddr) -> Client {
        Self::http1_from(None, addr)
    }

    /// An HTTP/1.1 connection from source address `src` (any 127.0.0.0/8 address works on
    /// Linux loopback), to test client-address hashing.
    pub fn http1_from(src: Option<std::net::IpAddr>, addr: SocketAddr) -> Client {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let conn = rt.block_on(async {
            let s = match src {
                None => tokio::net::TcpStream::connect(addr).await.unwrap(),
                Some(ip) => {
                    let sock = if ip.is_ipv4() {
                        tokio::net::TcpSocket::new_v4().unwrap()
                    } else {
                        tokio::net::TcpSocket::new_v6().unwrap()
                    };
                    sock.bind(SocketAddr::new(ip, 0)).unwrap();
                    sock.connect(addr).await.unwrap()
                }
            };
            let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
                .await
                .unwrap();
            tokio::spawn(conn.with_upgrades());
            Conn::H1(send)
        });
        Client { rt, conn, addr }
    }

    pub fn http2(addr: SocketAddr) -> Client {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let conn = rt.block_on(async {
            let s = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (send, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(s))
                    .await
                    .unwrap();
            tokio::spawn(conn);
            Conn::H2(send)
        });
        Client { rt, conn, addr }
    }

    /// Send a request; `Err` carries hyper's error text (e.g. the connection was closed).
    pub fn send(&mut self, req: Request<Full<Bytes>>) -> Result<Reply, String> {
        let Client { rt, conn, .. } = self;
        rt.block_on(async {
            let resp = match conn {
                Conn::H1(s) => {
                    s.ready().await.map_err(|e| e.to_string())?;
                    s.send_request(req).await
                }
                Conn::H2(s) => {
                    s.ready().await.map_err(|e| e.to_string())?;
                    s.send_request(req).await
                }
            }
            .map_err(|e| e.to_string())?;
            let (parts, body) = resp.into_parts();
            let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
            Ok(Reply {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        })
    }

    /// GET `path` with a Host header of `host` and extra headers.
    pub fn get(
        &mut self,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Reply, String> {
        let h2 = matches!(self.conn, Conn::H2(_));
        let mut b = Request::builder().method(Method::GET);
        b = if h2 {
            b.uri(format!("http://{host}{path}"))
        } else {
            b.uri(path).header("host", host)
        };
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        self.send(b.body(Full::new(Bytes::new())).unwrap())
    }
}

/// One GET on a fresh HTTP/1.1 connection.
pub fn get(addr: SocketAddr, path: &str) -> Reply {
    Client::http1(addr).get("test.local", path, &[]).unwrap()
}
