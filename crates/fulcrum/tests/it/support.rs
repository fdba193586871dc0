//! Starting Fulcrum for a test, in-process or as a child process.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fulcrum::running::Running;
use fulcrum_testkit::Backend;

/// Fulcrum started in this process from a TOML text; shut down on drop.
pub struct Lb {
    running: Option<Running>,
}

impl Lb {
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
        let mut child = Command::new(bin())
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
