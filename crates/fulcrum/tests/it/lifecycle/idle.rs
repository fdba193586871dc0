//! Item 5: the listener's `timeouts.idle` closes WebSocket tunnels and passthrough relays that
//! carry no byte either way for that long, and only those.

use std::time::Duration;

use fulcrum_testkit::Backend;

use super::{closed_within, echo, echo_server, open_relay, open_tunnel};
use crate::support::Lb;

/// `web` (http, tunnels to `be`) and `pt` (tls_passthrough to an echo server), both with
/// `idle`, in the TOML a test or a child process uses; `runtime` goes under `[runtime]`.
pub fn config(be: &Backend, echo: std::net::SocketAddr, idle: &str, runtime: &str) -> String {
    format!(
        "[runtime]\nworkers = 1\n{runtime}\n[access_log]\ntarget = \"off\"\n\
         [[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\
         [listener.timeouts]\nidle = \"{idle}\"\n\
         [[listener.route]]\npool = \"app\"\n\
         [[listener]]\nname = \"pt\"\nbind = \"127.0.0.1:0\"\nprotocol = \"tls_passthrough\"\n\
         [listener.timeouts]\nidle = \"{idle}\"\n\
         [[listener.route]]\npool = \"echo\"\n\
         [pool.app]\nbackends = [{{ address = \"{}\" }}]\n\
         [pool.echo]\nbackends = [{{ address = \"{echo}\" }}]\n",
        be.addr
    )
}

/// Issue 7 item 5: an idle WebSocket tunnel is closed after the listener's idle timeout.
#[test]
fn idle_websocket_tunnel_is_closed_after_the_idle_timeout() {
    let be = Backend::start("ws");
    let lb = Lb::start(&config(&be, echo_server(), "300ms", ""));
    let mut s = open_tunnel(lb.addr());
    echo(&mut s, b"hello");
    assert!(
        closed_within(&mut s, Duration::from_secs(10)),
        "an idle tunnel stayed open"
    );
}

/// Issue 7 item 5: an idle `tls_passthrough` relay is closed after the listener's idle
/// timeout.
#[test]
fn idle_passthrough_relay_is_closed_after_the_idle_timeout() {
    let be = Backend::start("be");
    let lb = Lb::start(&config(&be, echo_server(), "300ms", ""));
    let mut s = open_relay(lb.listener("pt"));
    echo(&mut s, b"application data");
    assert!(
        closed_within(&mut s, Duration::from_secs(10)),
        "an idle relay stayed open"
    );
}

/// Issue 7 item 5: tunnels and relays that carry bytes (either way) stay open however long,
/// past many idle timeouts.
#[test]
fn active_tunnel_and_relay_outlive_the_idle_timeout() {
    let be = Backend::start("ws");
    let lb = Lb::start(&config(&be, echo_server(), "400ms", ""));
    let mut tunnel = open_tunnel(lb.addr());
    let mut relay = open_relay(lb.listener("pt"));
    // 20 rounds 100 ms apart: five idle timeouts in all, never a quarter of one without bytes.
    for i in 0..20u8 {
        std::thread::sleep(Duration::from_millis(100));
        echo(&mut tunnel, &[b'a', i]);
        echo(&mut relay, &[b'b', i]);
    }
}
