//! The connection to babeld's local interface against a stand-in babeld on a real socket (a
//! Unix socket in a temporary directory, and TCP on ::1): the header check, `monitor`, route
//! lines to the engine, overlong and malformed lines, the end of a session and the back-off.
//! No root needed.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::Duration as StdDuration;

use l3roamd::config::BabelEndpoint;
use l3roamd::engine::stats::SystemCounters;
use l3roamd::engine::{BabelEvent, Input};
use l3roamd::sys::babel::BabelClient;
use l3roamd::time::{Duration, Instant};
use l3roamd::wire::babel::{Change, RouterId};
use mio::{Events, Poll, Token};

const TOKEN: Token = Token(11);
const HEADER: &str =
    "BABEL 1.0\nversion babeld-1.12.1\nhost r1\nmy-id 02:00:00:ff:fe:ff:00:01\nok\n";
const ROUTE: &str = "add route 5641cf550c30 prefix 2001:db8:1::100/128 from ::/0 installed no \
                     id 02:00:00:ff:fe:ff:00:03 metric 192 refmetric 96 via fe80::1 if m-r2\n";

struct Harness {
    poll: Poll,
    client: BabelClient,
    counters: SystemCounters,
}

impl Harness {
    fn new(endpoint: BabelEndpoint) -> Harness {
        Harness {
            poll: Poll::new().unwrap(),
            client: BabelClient::new(endpoint, TOKEN, Instant::ZERO),
            counters: SystemCounters::default(),
        }
    }

    fn timeout(&mut self, now: Instant) -> Vec<Input> {
        let mut inputs = Vec::new();
        self.client
            .handle_timeout(self.poll.registry(), now, &mut inputs, &mut self.counters);
        inputs
    }

    /// Waits (up to a second) for readiness and lets the client act, until `until` says
    /// enough or the time is up.
    fn events(&mut self, now: Instant, until: impl Fn(&[Input]) -> bool) -> Vec<Input> {
        let mut inputs = Vec::new();
        let mut events = Events::with_capacity(8);
        for _ in 0..20 {
            self.poll
                .poll(&mut events, Some(StdDuration::from_millis(50)))
                .unwrap();
            if !events.is_empty() {
                self.client.handle_event(
                    self.poll.registry(),
                    now,
                    &mut inputs,
                    &mut self.counters,
                );
            }
            if until(&inputs) {
                break;
            }
        }
        inputs
    }
}

/// A socket path in a directory of its own, which the test removes when done.
fn temp_socket(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("l3roamd-sys-babel-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("babeld.sock");
    let _ = std::fs::remove_file(&path);
    path
}

fn remove_temp(path: &std::path::Path) {
    if let Some(dir) = path.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn connected(inputs: &[Input]) -> bool {
    inputs
        .iter()
        .any(|i| matches!(i, Input::Babel(BabelEvent::Connected { .. })))
}

fn disconnected(inputs: &[Input]) -> bool {
    inputs
        .iter()
        .any(|i| matches!(i, Input::Babel(BabelEvent::Disconnected)))
}

/// Reads what the client sent until `want` arrived.
fn expect_request(stream: &mut UnixStream, want: &str) {
    stream
        .set_read_timeout(Some(StdDuration::from_secs(2)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while !got.ends_with(want.as_bytes()) {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "the client closed before sending {want:?}");
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(String::from_utf8_lossy(&got), want);
}

#[test]
fn a_session_reads_the_header_asks_for_monitor_and_forwards_routes() {
    let path = temp_socket("session.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let mut h = Harness::new(BabelEndpoint::Path(path.clone()));
    assert_eq!(h.client.deadline(), Some(Instant::ZERO));
    assert!(h.timeout(Instant::ZERO).is_empty());
    assert_eq!(
        h.client.deadline(),
        Some(Instant::from_millis(10_000)),
        "one connection, no retry pending, the header due within 10 s"
    );
    let (mut babeld, _) = listener.accept().unwrap();

    // The header arrives in pieces; nothing reaches the engine before `ok`.
    babeld.write_all(&HEADER.as_bytes()[..20]).unwrap();
    assert!(h.events(Instant::ZERO, |_| false).is_empty());
    babeld.write_all(&HEADER.as_bytes()[20..]).unwrap();
    let inputs = h.events(Instant::ZERO, connected);
    assert_eq!(h.client.deadline(), None, "a session runs: nothing is due");
    assert_eq!(
        inputs,
        vec![Input::Babel(BabelEvent::Connected {
            my_id: RouterId([2, 0, 0, 0xff, 0xfe, 0xff, 0, 1])
        })]
    );
    expect_request(&mut babeld, "monitor\n");

    // The dump: interfaces and neighbours are not the engine's business; a route is; an
    // overlong line and a malformed one are counted and skipped.
    let long = format!("add route 1 {}\n", "x".repeat(600));
    let dump = format!(
        "add interface m-r2 up true ipv6 fe80::1\n{long}{ROUTE}add route zz prefix nonsense\n\
         add xroute 10.0.1.100/32-0.0.0.0/0 prefix 10.0.1.100/32 from 0.0.0.0/0 metric 0\nok\n"
    );
    babeld.write_all(dump.as_bytes()).unwrap();
    let inputs = h.events(Instant::ZERO, |i| i.len() >= 2);
    assert!(
        matches!(&inputs[..], [
            Input::Babel(BabelEvent::Route(r)),
            Input::Babel(BabelEvent::XRoute(x)),
        ] if r.metric == 192 && r.change == Change::Add && x.prefix.addr.is_ipv4()),
        "{inputs:?}"
    );
    assert_eq!(h.counters.babel_lines_too_long, 1);
    assert_eq!(h.counters.babel_lines_malformed, 1);

    // babeld goes away: the engine hears of it, and the next attempt is 1 s later.
    drop(babeld);
    let t = Instant::from_millis(5000);
    let inputs = h.events(t, disconnected);
    assert_eq!(inputs, vec![Input::Babel(BabelEvent::Disconnected)]);
    assert_eq!(h.client.deadline(), Some(t + Duration::from_secs(1)));
    assert!(h.timeout(t).is_empty(), "not before its time");
    h.timeout(t + Duration::from_secs(1));
    let (_again, _) = listener.accept().unwrap();
    assert_eq!(
        h.client.deadline(),
        Some(t + Duration::from_secs(11)),
        "its header is due"
    );
    remove_temp(&path);
}

#[test]
fn a_wrong_first_line_or_a_missing_babeld_backs_off_doubling_to_a_minute() {
    let path = temp_socket("backoff.sock");
    let mut h = Harness::new(BabelEndpoint::Path(path.clone()));
    // Nobody listens: 1, 2, 4, ... 60, 60 s.
    let mut t = Instant::ZERO;
    let mut waits = Vec::new();
    for _ in 0..9 {
        assert!(h.timeout(t).is_empty());
        let next = h.client.deadline().expect("a retry");
        waits.push(next.saturating_since(t).as_secs());
        t = next;
    }
    assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    assert_eq!(h.counters.babel_connect_failures, 9);

    // Something that is not babeld's local interface: disconnected, still backing off, and
    // the engine never heard of a session.
    let listener = UnixListener::bind(&path).unwrap();
    h.timeout(t);
    let (mut impostor, _) = listener.accept().unwrap();
    impostor.write_all(b"SSH-2.0-OpenSSH_9.2\n").unwrap();
    let inputs = h.events(t, |_| false);
    assert!(inputs.is_empty(), "{inputs:?}");
    assert_eq!(h.client.deadline(), Some(t + Duration::from_secs(60)));
    assert_eq!(h.counters.babel_connect_failures, 10);

    // A header without my-id is no session either.
    t = t + Duration::from_secs(60);
    h.timeout(t);
    let (mut babeld, _) = listener.accept().unwrap();
    babeld.write_all(b"BABEL 1.0\nversion x\nok\n").unwrap();
    assert!(h.events(t, |_| false).is_empty());
    assert_eq!(h.counters.babel_connect_failures, 11);

    // A peer that accepts and says nothing is given up after 10 s.
    t = t + Duration::from_secs(60);
    h.timeout(t);
    let (_silent, _) = listener.accept().unwrap();
    assert!(h.events(t, |_| false).is_empty());
    assert_eq!(h.client.deadline(), Some(t + Duration::from_secs(10)));
    h.timeout(t + Duration::from_secs(10));
    assert_eq!(
        h.client.deadline(),
        Some(t + Duration::from_secs(10) + Duration::from_secs(60))
    );
    assert_eq!(h.counters.babel_connect_failures, 12);
    t = t + Duration::from_secs(10);

    // A real session resets the back-off: after it ends, the next try is 1 s away.
    t = t + Duration::from_secs(60);
    h.timeout(t);
    let (mut babeld, _) = listener.accept().unwrap();
    babeld.write_all(HEADER.as_bytes()).unwrap();
    assert!(connected(&h.events(t, connected)));
    drop(babeld);
    assert!(disconnected(&h.events(t, disconnected)));
    assert_eq!(h.client.deadline(), Some(t + Duration::from_secs(1)));
    remove_temp(&path);
}

#[test]
fn a_tcp_port_means_the_loopback_address_babeld_binds() {
    let listener = std::net::TcpListener::bind("[::1]:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut h = Harness::new(BabelEndpoint::Port(port));
    h.timeout(Instant::ZERO);
    let (mut babeld, peer) = listener.accept().unwrap();
    assert!(peer.ip().is_loopback());
    babeld.write_all(HEADER.as_bytes()).unwrap();
    assert!(connected(&h.events(Instant::ZERO, connected)));
    babeld
        .set_read_timeout(Some(StdDuration::from_secs(2)))
        .unwrap();
    let mut request = [0u8; 8];
    babeld.read_exact(&mut request).unwrap();
    assert_eq!(&request, b"monitor\n");
    babeld.write_all(ROUTE.as_bytes()).unwrap();
    let inputs = h.events(Instant::ZERO, |i| !i.is_empty());
    assert!(matches!(&inputs[..], [Input::Babel(BabelEvent::Route(_))]));
}
