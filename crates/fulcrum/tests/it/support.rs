//! Starting Fulcrum for a test, in-process or as a child process.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fulcrum::running::Running;
use fulcrum_testkit::{Backend, Client, Reply};

/// Fulcrum started in this process from a TOML text; shut down on drop.
pub struct Lb {
    running: Option<Running>,
}

impl Lb {
    /// Start from a file, as `fulcrum run -c FILE` would: reloads re-read it.
    pub fn start_file(path: &std::path::Path) -> Lb {
        let cfg =
            fulcrum_config::load_file(path).unwrap_or_else(|e| panic!("test config invalid:\n{e}"));
        Self::start_loaded(&cfg, path)
    }

    /// Start `cfg`, already read from `path` (which reloads re-read).
    pub fn start_loaded(cfg: &fulcrum_config::model::Config, path: &std::path::Path) -> Lb {
        Lb {
            running: Some(Running::start_with_path(cfg, Some(path.to_path_buf())).unwrap()),
        }
    }

    pub fn running(&self) -> &Running {
        self.running.as_ref().unwrap()
    }

    /// Re-read the file (what SIGHUP does).
    pub fn reload(&self) -> Result<(), String> {
        self.running().reload("test").map_err(|e| e.to_string())
    }

    /// The admin listener's address (the config must have an `[admin]` table).
    pub fn admin(&self) -> SocketAddr {
        self.running().admin_addr.expect("no [admin] table")
    }

    /// Start `cfg`, or say why it could not start.
    pub fn try_start(cfg: &fulcrum_config::model::Config) -> Result<Lb, String> {
        Running::start(cfg)
            .map(|r| Lb { running: Some(r) })
            .map_err(|e| format!("{e:#}"))
    }

    pub fn start(toml: &str) -> Lb {
        let cfg = fulcrum_config::parse_str(toml, "test.toml", &|v| std::env::var(v).ok())
            .unwrap_or_else(|e| panic!("test config invalid:\n{e}\n{toml}"));
        Lb {
            running: Some(Running::start(&cfg).unwrap()),
        }
    }

    /// The first address of listener `web`.
    pub fn addr(&self) -> SocketAddr {
        self.listener("web")
    }

    pub fn listener(&self, name: &str) -> SocketAddr {
        self.running.as_ref().unwrap().addr(name).unwrap()
    }

    pub fn all_addrs(&self, name: &str) -> Vec<SocketAddr> {
        self.running.as_ref().unwrap().bound(name)
    }
}

impl Drop for Lb {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown();
        }
    }
}

/// A pool table listing `backends`.
pub fn pool(name: &str, balance: &str, backends: &[&Backend]) -> String {
    let list: Vec<String> = backends
        .iter()
        .map(|b| format!("{{ address = \"{}\" }}", b.addr))
        .collect();
    format!(
        "[pool.{name}]\nbalance = \"{balance}\"\nbackends = [{}]\n",
        list.join(", ")
    )
}

/// A one-listener, one-pool config: `web` on 127.0.0.1:0 routing everything to pool `app`.
pub fn simple(backends: &[&Backend], listener_extra: &str) -> String {
    format!(
        "[runtime]\nworkers = 2\n[access_log]\ntarget = \"off\"\n\
         [[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n{listener_extra}\n\
         [[listener.route]]\npool = \"app\"\n{}",
        pool("app", "round_robin", backends)
    )
}

/// The `fulcrum` binary built for these tests.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fulcrum"))
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "fulcrum-test-{tag}-{}-{}",
            std::process::id(),
            fastrand_like()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fastrand_like() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::Instant::now())
}

/// `fulcrum run -c FILE` as a child process; killed on drop if still running.
pub struct Proc {
    pub child: Child,
    pub stderr_lines: std::sync::mpsc::Receiver<String>,
}

impl Proc {
    pub fn run(config: &std::path::Path) -> Proc {
        Self::run_under(&[], config)
    }

    /// `fulcrum run -c FILE` started through `wrapper` (a command that runs the rest of its
    /// arguments, e.g. `["taskset", "-c", "0"]`); empty: directly.
    pub fn run_under(wrapper: &[&str], config: &std::path::Path) -> Proc {
        let mut cmd = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(bin());
                c
            }
            None => Command::new(bin()),
        };
        let mut child = cmd
            .args(["run", "-c"])
            .arg(config)
            .env("FULCRUM_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc {
            child,
            stderr_lines: rx,
        }
    }

    /// Wait for a stderr line containing `needle`; returns it.
    #[must_use]
    pub fn wait_for_line(&self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.stderr_lines.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return Some(l),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Wait for exit; `None` on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some(st);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parse "address=1.2.3.4:5" style fields out of a log line (plain, no colour: FULCRUM_LOG
/// output to a pipe has no ANSI codes).
pub fn field(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!("{key}="))? + key.len() + 1;
    Some(line[start..].split_whitespace().next()?.to_string())
}

/// One admin API request on a fresh connection.
pub fn admin_call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Reply {
    let mut b = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    let body = bytes::Bytes::from(body.unwrap_or("").to_string());
    Client::http1(addr)
        .send(b.body(http_body_util::Full::new(body)).unwrap())
        .unwrap()
}

/// `GET /api/v1/pools` as JSON.
pub fn pools_json(admin: SocketAddr, token: Option<&str>) -> serde_json::Value {
    let r = admin_call(admin, "GET", "/api/v1/pools", token, None);
    assert_eq!(r.status, 200, "{}", r.text());
    serde_json::from_slice(&r.body).unwrap()
}

/// The backend `address` of pool `pool` in the API listing, if listed.
pub fn backend_entry(admin: SocketAddr, pool: &str, address: &str) -> Option<serde_json::Value> {
    let v = pools_json(admin, None);
    v["pools"].as_array()?.iter().find(|p| p["name"] == pool)?["backends"]
        .as_array()?
        .iter()
        .find(|b| b["address"] == address)
        .cloned()
}

/// A field of a listed backend, or `Null` when it is not listed.
pub fn backend_field(admin: SocketAddr, pool: &str, address: &str, key: &str) -> serde_json::Value {
    backend_entry(admin, pool, address).map_or(serde_json::Value::Null, |b| b[key].clone())
}

/// The outcome of one request of a load loop.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// When the response (or the error) was complete.
    pub at: Instant,
    pub path: String,
    /// 0 when the exchange itself failed (`error` says why).
    pub status: u16,
    pub backend: Option<String>,
    /// The body, or the error when `status` is 0.
    pub body: String,
}

/// How to run a load loop: every thread keeps one keep-alive connection (reconnecting after a
/// transport error) and cycles through `paths`; all bounded in time and count.
pub struct LoadOpts {
    pub threads: usize,
    pub paths: Vec<String>,
    /// Per thread, at most one request per `pace` (None: back to back).
    pub pace: Option<Duration>,
    pub max_time: Duration,
    pub max_requests: usize,
}

/// A running load loop.
pub struct Load {
    stop: Arc<AtomicBool>,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    pub fn start(addr: SocketAddr, opts: LoadOpts) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicUsize::new(0));
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let started = Instant::now();
        let opts = Arc::new(opts);
        let threads = (0..opts.threads)
            .map(|t| {
                let (stop, count, outcomes, opts) =
                    (stop.clone(), count.clone(), outcomes.clone(), opts.clone());
                std::thread::spawn(move || {
                    let mut client = Client::http1(addr);
                    let mut next = Instant::now();
                    for i in 0.. {
                        if stop.load(Ordering::Relaxed)
                            || started.elapsed() >= opts.max_time
                            || count.fetch_add(1, Ordering::Relaxed) >= opts.max_requests
                        {
                            break;
                        }
                        let path = &opts.paths[(t + i) % opts.paths.len()];
                        let res = client.get("test.local", path, &[]);
                        let o = match res {
                            Ok(r) => Outcome {
                                at: Instant::now(),
                                path: path.clone(),
                                status: r.status.as_u16(),
                                backend: r.header("x-backend"),
                                body: r.text(),
                            },
                            Err(e) => Outcome {
                                at: Instant::now(),
                                path: path.clone(),
                                status: 0,
                                backend: None,
                                body: e,
                            },
                        };
                        let reconnect = o.status == 0;
                        outcomes.lock().unwrap().push(o);
                        if reconnect {
                            client = Client::http1(addr);
                        }
                        if let Some(p) = opts.pace {
                            next += p;
                            let now = Instant::now();
                            if next > now {
                                std::thread::sleep(next - now);
                            } else {
                                next = now;
                            }
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            outcomes,
            threads,
        }
    }

    /// Requests completed so far (including failed ones).
    pub fn completed(&self) -> usize {
        self.outcomes.lock().unwrap().len()
    }

    /// Wait (up to `timeout`) until `n` more requests than now have completed.
    #[must_use]
    pub fn wait_more(&self, n: usize, timeout: Duration) -> bool {
        let target = self.completed() + n;
        fulcrum_testkit::wait_until(timeout, || self.completed() >= target)
    }

    /// Stop, join every thread, return every outcome.
    pub fn finish(mut self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            t.join().unwrap();
        }
        std::mem::take(&mut *self.outcomes.lock().unwrap())
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// `POST /api/v1/pools/{pool}/backends` with the JSON `body`.
pub fn post_backend(admin: SocketAddr, pool: &str, body: &str) -> Reply {
    admin_call(
        admin,
        "POST",
        &format!("/api/v1/pools/{pool}/backends"),
        None,
        Some(body),
    )
}

/// `DELETE /api/v1/pools/{pool}/backends/{encoded}` (the address percent-encoded as needed).
pub fn delete_backend(admin: SocketAddr, pool: &str, encoded: &str) -> Reply {
    admin_call(
        admin,
        "DELETE",
        &format!("/api/v1/pools/{pool}/backends/{encoded}"),
        None,
        None,
    )
}

/// A pool's `backends = [...]` value listing `bs`.
pub fn backends_list(bs: &[&Backend]) -> String {
    let list: Vec<String> = bs
        .iter()
        .map(|b| format!("{{ address = \"{}\" }}", b.addr))
        .collect();
    format!("[{}]", list.join(", "))
}

/// Replace `path` with `text` by rename, as editors and config managers do (a reader never
/// sees half a file).
pub fn replace_file(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}
