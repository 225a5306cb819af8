//! Hostile input end to end: a stranger on a mesh link (the rogue namespace of
//! tests/netns/mesh.sh, attached to r2 by a link of its own) sends the daemons every kind of
//! malformed intercom datagram, then floods them with valid-looking SEEKs and CLAIMs while a
//! real client roams. README "Limits" lists the bounds this holds the daemons to.
//!
//! Needs root and babeld, like tests/netns_e2e.rs (same harness, same mesh); logs in
//! `target/netns-logs/<test>/`.

mod netns;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use l3roamd::engine::seek::MAX_SEEK_SOLICITATIONS_PER_SECOND;
use l3roamd::engine::{Input, Snooped};
use l3roamd::wire::MacAddr;
use l3roamd::wire::intercom::{GROUP, Header, Message, Repr};
use netns::{Mesh, NEW_CLIENT_BOUND, Rogue, Topology, announce_client, eventually, ms, must};

/// A roam, from the move to the first echo reply after it at every pinger: tests/netns_e2e.rs'
/// `ROAM_BOUND`, which the flood must not stretch.
const ROAM_BOUND: Duration = Duration::from_secs(2);
/// How long a datagram from the rogue may take to be counted: one hop, or two through r2,
/// plus the control round trip.
const COUNTED_BOUND: Duration = Duration::from_secs(2);

/// The flood: about this many datagrams per second, for this long.
const FLOOD_RATE: u64 = 3000;
const FLOOD_FOR: Duration = Duration::from_secs(20);
/// Each daemon's control socket is asked `get_clients` this often during the flood...
const PROBE_EVERY: Duration = Duration::from_millis(50);
/// ...and must answer within this (the bound; a slower answer is a failure, also on a
/// loaded machine: rerun to tell contention from a regression before touching it).
const CONTROL_LATENCY_BOUND: Duration = Duration::from_millis(100);
/// CPU time (user + system) each daemon may spend during the flood, in seconds. r2 hears
/// 34,000 of the 60,000 datagrams, forwards each of the 24,000 SEEKs on three links and drops
/// the 48,000 copies r1 and r3 send back; r1 and r3 hear about 35,000 each. Measured with the
/// test build: 0.94 s at r2, 0.5–0.6 s at r1 and r3; the bound leaves four times that.
const FLOOD_CPU_BOUND_SECS: f64 = 4.0;
/// Peak resident memory of each daemon (VmHWM) by the end of the test: the duplicate cache
/// holds at most 1024 datagrams, nothing else grows with the flood. Measured: 3.2 MiB before,
/// 3.6–3.8 MiB at the peak.
const PEAK_RSS_BOUND_KIB: u64 = 6 * 1024;
/// /proc/PID/stat counts in USER_HZ, which the kernel fixes at 100 for user space on every
/// architecture l3roamd runs on.
const USER_HZ: f64 = 100.0;

/// xorshift64*: the flood's addresses, MACs and nonces; seeded, so a run can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn nonce(&mut self) -> [u8; 4] {
        (self.next() as u32).to_be_bytes()
    }

    /// A unicast, locally administered MAC no client has.
    fn mac(&mut self) -> MacAddr {
        let b = self.next().to_be_bytes();
        MacAddr([0x06, 0xee, b[0], b[1], b[2], b[3]])
    }
}

/// The node-client IP of `mac` in the mesh's node-client prefix (fec0::/64).
fn ncip_of(mac: MacAddr) -> Ipv6Addr {
    mac.node_client_ip(&Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0))
}

fn header(ttl: u8, nonce: [u8; 4], sender: Ipv6Addr) -> Header {
    Header { ttl, nonce, sender }
}

fn claim(nonce: [u8; 4], sender: Ipv6Addr, mac: MacAddr) -> Vec<u8> {
    Repr {
        header: header(1, nonce, sender),
        message: Message::Claim { mac },
    }
    .to_bytes()
}

fn seek(ttl: u8, nonce: [u8; 4], sender: Ipv6Addr, addresses: Vec<Ipv6Addr>) -> Vec<u8> {
    Repr {
        header: header(ttl, nonce, sender),
        message: Message::Seek { addresses },
    }
    .to_bytes()
}

/// Where the rogue sends, and which daemon hears it there.
struct Target {
    dst: Ipv6Addr,
    router: &'static str,
    what: &'static str,
}

/// The counters of every router, by `group.name`.
fn all_counters(mesh: &Mesh) -> BTreeMap<&'static str, BTreeMap<String, u64>> {
    ["r1", "r2", "r3"]
        .into_iter()
        .map(|r| (r, mesh.counters(r)))
        .collect()
}

fn delta(
    before: &BTreeMap<&'static str, BTreeMap<String, u64>>,
    after: &BTreeMap<&'static str, BTreeMap<String, u64>>,
    router: &str,
    key: &str,
) -> u64 {
    let get = |m: &BTreeMap<&'static str, BTreeMap<String, u64>>| {
        m.get(router)
            .and_then(|c| c.get(key))
            .copied()
            .unwrap_or_else(|| panic!("{router} reports no {key}"))
    };
    get(after) - get(before)
}

/// Makes one datagram for a target, given the sender a well-behaved node would use.
type Forge = dyn Fn(&mut Rng, &Target, Ipv6Addr) -> Vec<u8>;

/// One malformed class: what the rogue sends to `target`, and the counter it must land in.
struct Class {
    name: &'static str,
    counter: &'static str,
    /// Sent this many times to each target (a replay is sent twice; only the copy counts).
    copies: u64,
    forge: Box<Forge>,
}

fn classes(node_ip_of: BTreeMap<&'static str, Ipv6Addr>) -> Vec<Class> {
    let valid_claim = |rng: &mut Rng, sender: Ipv6Addr| claim(rng.nonce(), sender, rng.mac());
    let surgery = |at: usize, value: u8| {
        move |rng: &mut Rng, _: &Target, sender: Ipv6Addr| {
            let mut bytes = claim(rng.nonce(), sender, rng.mac());
            bytes[at] = value;
            bytes
        }
    };
    vec![
        Class {
            name: "truncated (23 bytes)",
            counter: "intercom_dropped.truncated",
            copies: 1,
            forge: Box::new(move |rng, _, sender| valid_claim(rng, sender)[..23].to_vec()),
        },
        Class {
            name: "zero-length TLV",
            counter: "intercom_dropped.zero_length_tlv",
            copies: 1,
            forge: Box::new(surgery(25, 0)),
        },
        Class {
            name: "unknown TLV",
            counter: "intercom_dropped.unknown_tlv",
            copies: 1,
            forge: Box::new(surgery(24, 7)),
        },
        Class {
            name: "bad TLV length",
            counter: "intercom_dropped.bad_tlv_length",
            copies: 1,
            forge: Box::new(surgery(25, 9)),
        },
        Class {
            name: "unknown type",
            counter: "intercom_dropped.unknown_type",
            copies: 1,
            forge: Box::new(surgery(2, 4)),
        },
        Class {
            name: "wrong version",
            counter: "intercom_dropped.bad_version",
            copies: 1,
            forge: Box::new(surgery(0, 2)),
        },
        Class {
            name: "trailing byte",
            counter: "intercom_dropped.truncated_tlv",
            copies: 1,
            forge: Box::new(move |rng, _, sender| {
                let mut bytes = valid_claim(rng, sender);
                bytes.push(0);
                bytes
            }),
        },
        Class {
            name: "oversized (1604 bytes, fragmented on the way)",
            counter: "intercom_dropped.oversized",
            copies: 1,
            forge: Box::new(|rng, _, sender| {
                let addresses = (0..79u16)
                    .map(|i| Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0x0b, i))
                    .collect();
                seek(255, rng.nonce(), sender, addresses)
            }),
        },
        Class {
            name: "ttl 0",
            counter: "intercom_dropped.zero_ttl",
            copies: 1,
            forge: Box::new(|rng, _, sender| {
                seek(
                    0,
                    rng.nonce(),
                    sender,
                    vec!["2001:db8:1::7:7".parse().unwrap()],
                )
            }),
        },
        Class {
            name: "forged sender: the receiver's own node IP",
            counter: "intercom_dropped.own",
            copies: 1,
            forge: Box::new(move |rng, target, _| valid_claim(rng, node_ip_of[target.router])),
        },
        Class {
            name: "forged sender: multicast",
            counter: "intercom_dropped.bad_sender",
            copies: 1,
            forge: Box::new(move |rng, _, _| valid_claim(rng, "ff02::1".parse().unwrap())),
        },
        Class {
            name: "replayed CLAIM",
            counter: "intercom_dropped.duplicate",
            copies: 2,
            forge: Box::new(move |rng, _, sender| valid_claim(rng, sender)),
        },
    ]
}

/// The reasons `intercom_dropped.malformed` adds up.
const MALFORMED_REASONS: &[&str] = &[
    "truncated",
    "bad_version",
    "oversized",
    "unknown_type",
    "truncated_tlv",
    "zero_length_tlv",
    "bad_tlv_length",
    "unknown_tlv",
    "duplicate_tlv",
    "missing_tlv",
    "conflicting_mac",
    "zero_ttl",
    "bad_sender",
    "other",
];

/// Polls each daemon's control socket with `get_clients` every [`PROBE_EVERY`] until told to
/// stop; returns every answer's latency per router.
fn probe_control(
    sockets: Vec<(&'static str, PathBuf)>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<BTreeMap<&'static str, Vec<Duration>>> {
    thread::spawn(move || {
        let mut latencies: BTreeMap<&'static str, Vec<Duration>> = BTreeMap::new();
        while !stop.load(Ordering::Relaxed) {
            let round = Instant::now();
            for (router, path) in &sockets {
                let start = Instant::now();
                let reply = (|| -> std::io::Result<String> {
                    let mut stream = UnixStream::connect(path)?;
                    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
                    stream.write_all(b"get_clients\n")?;
                    let mut reply = String::new();
                    stream.read_to_string(&mut reply)?;
                    Ok(reply)
                })();
                let took = start.elapsed();
                match reply {
                    Ok(reply) if reply.starts_with("{ \"clients\": ") => {
                        latencies.entry(router).or_default().push(took);
                    }
                    other => panic!("get_clients on {router} during the flood: {other:?}"),
                }
            }
            thread::sleep(PROBE_EVERY.saturating_sub(round.elapsed()));
        }
        latencies
    })
}

/// A daemon's CPU time so far (user + system), from /proc/PID/stat.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("daemon stat");
    // The command may contain spaces and parentheses: fields count from the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15 of stat(5); the rest starts at field 3.
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    ticks as f64 / USER_HZ
}

/// A line of /proc/PID/status in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("daemon status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// Samples each daemon's VmRSS every 100 ms until told to stop; returns the largest.
fn sample_rss(
    pids: Vec<(&'static str, u32)>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<BTreeMap<&'static str, u64>> {
    thread::spawn(move || {
        let mut largest = BTreeMap::new();
        while !stop.load(Ordering::Relaxed) {
            for (router, pid) in &pids {
                let rss = status_kib(*pid, "VmRSS");
                let max = largest.entry(*router).or_insert(0);
                *max = rss.max(*max);
            }
            thread::sleep(Duration::from_millis(100));
        }
        largest
    })
}

/// Solicitations from the routers (the gateway MAC) that reach the client: NS and ARP
/// requests seen by packet sockets in the client's namespace, per second of the test.
struct Solicitations {
    per_second: Arc<Mutex<BTreeMap<u64, u64>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Solicitations {
    fn watch(mesh: &Mesh, epoch: Instant) -> Solicitations {
        let ns = PathBuf::from("/run/netns").join(mesh.ns("cli"));
        let link = mesh.sh("cli", &["ip", "-o", "link", "show", "eth0"]);
        let ifindex: u32 = link
            .split(':')
            .next()
            .and_then(|i| i.trim().parse().ok())
            .unwrap_or_else(|| panic!("no ifindex in {link:?}"));
        let gw: MacAddr = mesh.var("GW_MAC").parse().expect("GW_MAC");
        let per_second = Arc::new(Mutex::new(BTreeMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, done) = (Arc::clone(&per_second), Arc::clone(&stop));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = thread::spawn(move || {
            l3roamd::sys::netns::enter_network_namespace(&ns).expect("enter the client's netns");
            let ns_socket =
                l3roamd::sys::packet::PacketSocket::open_ns(ifindex).expect("NS socket");
            let arp_socket =
                l3roamd::sys::packet::PacketSocket::open_arp(ifindex).expect("ARP socket");
            ready_tx.send(()).expect("ready");
            let mut dropped = 0;
            while !done.load(Ordering::Relaxed) {
                let mut frames = Vec::new();
                for socket in [&ns_socket, &arp_socket] {
                    socket.read(&mut frames, &mut dropped).expect("read");
                }
                let second = epoch.elapsed().as_secs();
                let from_router = frames
                    .iter()
                    .filter(|input| match input {
                        Input::Snooped(Snooped::Solicit { src_mac, .. }) => *src_mac == gw,
                        Input::Snooped(Snooped::Arp {
                            sender_mac, reply, ..
                        }) => *sender_mac == gw && !reply,
                        _ => false,
                    })
                    .count() as u64;
                if from_router > 0 {
                    *seen
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .entry(second)
                        .or_insert(0) += from_router;
                }
                thread::sleep(Duration::from_millis(5));
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the client-side sockets open");
        Solicitations {
            per_second,
            stop,
            thread: Some(thread),
        }
    }

    /// Solicitations seen in the seconds `from..to` since the epoch.
    fn between(&self, from: u64, to: u64) -> (u64, u64) {
        let seen = self
            .per_second
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let counts: Vec<u64> = seen.range(from..to).map(|(_, n)| *n).collect();
        (
            counts.iter().sum(),
            counts.iter().copied().max().unwrap_or(0),
        )
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the solicitation watcher");
        }
    }
}

impl Drop for Solicitations {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// What the flood sent, by kind.
#[derive(Debug, Default)]
struct Sent {
    seek_multicast: u64,
    seek_unicast: u64,
    claim_multicast: u64,
    claim_node_ip: u64,
    claim_client_ncip: u64,
    claim_random_ncip: u64,
    errors: u64,
}

impl Sent {
    fn total(&self) -> u64 {
        self.seek_multicast
            + self.seek_unicast
            + self.claim_multicast
            + self.claim_node_ip
            + self.claim_client_ncip
            + self.claim_random_ncip
    }
}

/// Valid-looking SEEKs for random addresses of the client prefixes (by multicast on the
/// rogue's link, which r2 floods on, and by unicast to r1 and r3) and CLAIMs for random MACs
/// (by multicast, to every node IP, to the real client's node-client IP and to random
/// node-client IPs), from random senders in the node prefix, at [`FLOOD_RATE`] for
/// [`FLOOD_FOR`].
fn flood(
    rogue: Arc<Rogue>,
    node_ips: Vec<Ipv6Addr>,
    client_ncip: Ipv6Addr,
) -> JoinHandle<(Sent, Duration)> {
    thread::spawn(move || {
        let mut rng = Rng(0x5eed_1e55_f100_d000);
        let mut sent = Sent::default();
        let start = Instant::now();
        let mut n: u64 = 0;
        while start.elapsed() < FLOOD_FOR {
            let due = (start.elapsed().as_secs_f64() * FLOOD_RATE as f64) as u64;
            while n < due {
                n += 1;
                let sender = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0x100, rng.next() as u16);
                let address = if rng.next() % 4 == 0 {
                    Ipv4Addr::new(10, 0, 1, rng.next() as u8).to_ipv6_mapped()
                } else {
                    let iid = rng.next();
                    Ipv6Addr::new(
                        0x2001,
                        0xdb8,
                        1,
                        0,
                        (iid >> 48) as u16,
                        (iid >> 32) as u16,
                        (iid >> 16) as u16,
                        iid as u16,
                    )
                };
                let (dst, bytes, counter) = match n % 10 {
                    0..=3 => (
                        GROUP,
                        seek(255, rng.nonce(), sender, vec![address]),
                        &mut sent.seek_multicast,
                    ),
                    4 => (
                        node_ips[(n / 10) as usize % 2 * 2],
                        seek(1, rng.nonce(), sender, vec![address]),
                        &mut sent.seek_unicast,
                    ),
                    5 => (
                        GROUP,
                        claim(rng.nonce(), sender, rng.mac()),
                        &mut sent.claim_multicast,
                    ),
                    6 | 7 => (
                        node_ips[(n / 10) as usize % 3],
                        claim(rng.nonce(), sender, rng.mac()),
                        &mut sent.claim_node_ip,
                    ),
                    8 => (
                        client_ncip,
                        claim(rng.nonce(), sender, rng.mac()),
                        &mut sent.claim_client_ncip,
                    ),
                    _ => {
                        let mac = rng.mac();
                        (
                            ncip_of(mac),
                            claim(rng.nonce(), sender, mac),
                            &mut sent.claim_random_ncip,
                        )
                    }
                };
                match rogue.send(dst, &bytes) {
                    Ok(_) => *counter += 1,
                    Err(_) => sent.errors += 1,
                }
            }
            thread::sleep(Duration::from_micros(500));
        }
        (sent, start.elapsed())
    })
}

/// Pings the client from the server in both families, moves it to `to`, and returns when
/// both pingers had a reply again, with how long that took after the move.
fn roam_under_flood(mesh: &mut Mesh, to: &str) -> Duration {
    let (c6, c4) = (
        mesh.var("CLIENT_IP6").to_string(),
        mesh.var("CLIENT_IP4").to_string(),
    );
    let pingers = [mesh.start_pinger("srv", &c6), mesh.start_pinger("srv", &c4)];
    thread::sleep(Duration::from_millis(500));
    let from = mesh.client_at();
    let start = Instant::now();
    mesh.roam(to);
    let moved = Instant::now();
    let (took, _) = must(
        &format!("traffic back after the roam {from} -> {to} under the flood"),
        eventually(Duration::from_secs(25), || {
            let mut back = Duration::ZERO;
            for p in pingers {
                let pinger = mesh.pinger(p);
                match pinger.first_reply_after(moved) {
                    Some(at) => back = back.max(at - start),
                    None => {
                        return Err(format!("no echo reply {} -> {}", pinger.node, pinger.addr));
                    }
                }
            }
            Ok(back)
        }),
    );
    mesh.stop_pingers();
    eprintln!(
        "roam {from} -> {to} under the flood: traffic back after {} ms",
        ms(took)
    );
    took
}

/// The client's routes and node-client IP are where it is, and nothing else any router
/// holds came from the rogue: no client but the real one, no host route but its two, no
/// node-client IP but its one.
fn only_the_real_client(mesh: &Mesh, at: &str) -> Result<(), String> {
    let mac = mesh.var("CLIENT_MAC").to_string();
    let ncip = mesh.var("CLIENT_NCIP").to_string();
    for router in ["r1", "r2", "r3"] {
        let here = router == at;
        let listed = mesh.control(router, "get_clients");
        let clients = if here { 1 } else { 0 };
        if !listed.starts_with(&format!("{{ \"clients\": {clients}"))
            || (here && !listed.contains(&format!("\"{mac}\"")))
        {
            return Err(format!("{router} lists: {listed}"));
        }
        // Its global and link-local IPv6 addresses and its IPv4 address, and nothing else
        // (the routes into the tun are the daemon's too).
        let own: Vec<String> = if here {
            ["CLIENT_IP6", "CLIENT_LL", "CLIENT_IP4"]
                .iter()
                .map(|key| format!("{} ", mesh.var(key)))
                .collect()
        } else {
            Vec::new()
        };
        let mut hosts: Vec<String> = ["-6", "-4"]
            .iter()
            .flat_map(|family| mesh.daemon_routes(router, family))
            .filter(|line| !line.contains("l3roam0"))
            .collect();
        hosts.sort_by_key(|line| own.iter().position(|addr| line.starts_with(addr.as_str())));
        let matched = hosts.len() == own.len()
            && hosts
                .iter()
                .zip(&own)
                .all(|(line, addr)| line.starts_with(addr.as_str()));
        if !matched {
            return Err(format!("{router} host routes: {hosts:?}"));
        }
        let lo: Vec<String> = mesh
            .lo_addrs(router)
            .into_iter()
            .filter(|a| a.starts_with("fec0:"))
            .collect();
        let expected: Vec<String> = if here { vec![ncip.clone()] } else { vec![] };
        if lo != expected {
            return Err(format!("{router}: node-client IPs on lo {lo:?}"));
        }
    }
    Ok(())
}

#[test]
fn a_rogue_on_a_mesh_link_is_dropped_and_counted_and_its_flood_leaves_the_mesh_serving() {
    let mut mesh = Mesh::up("hostile", Topology::default());
    mesh.start_daemons();
    announce_client(&mut mesh, NEW_CLIENT_BOUND);
    let client_ncip: Ipv6Addr = mesh.var("CLIENT_NCIP").parse().expect("CLIENT_NCIP");
    // The rogue reaches the client's node-client IP through r2, once babeld carries it there.
    must(
        "r2 routes the client's node-client IP",
        eventually(NEW_CLIENT_BOUND, || {
            let route = mesh.sh(
                "r2",
                &["ip", "-6", "route", "show", &format!("{client_ncip}/128")],
            );
            if route.contains("via") {
                Ok(())
            } else {
                Err(format!("r2: {route:?}"))
            }
        }),
    );
    let rogue = Arc::new(mesh.attach_rogue());
    assert_eq!(
        mesh.control("r2", &format!("add_meshif {}", rogue.peer_if)),
        ""
    );
    let node_ip_of: BTreeMap<&'static str, Ipv6Addr> = ["r1", "r2", "r3"]
        .into_iter()
        .map(|r| (r, mesh.node_ip(r).parse().expect("node IP")))
        .collect();
    let mut rng = Rng(0x0dd_ba11);
    // The group membership on the new mesh interface may lag the command a little: send
    // until r2 hears.
    let heard = mesh.counter("r2", "intercom_dropped.claim_for_unknown_client");
    must(
        "r2 hears the rogue's multicast",
        eventually(COUNTED_BOUND * 3, || {
            rogue
                .send(GROUP, &claim(rng.nonce(), rogue.addr, rng.mac()))
                .map_err(|e| e.to_string())?;
            thread::sleep(Duration::from_millis(100));
            let now = mesh.counter("r2", "intercom_dropped.claim_for_unknown_client");
            if now > heard {
                Ok(())
            } else {
                Err(format!("r2 heard nothing ({now})"))
            }
        }),
    );

    // (1) Every malformed class, to the group on the rogue's link and by unicast to every
    // node IP and to the client's node-client IP, each dropped and counted under its reason
    // by the daemon that received it.
    let targets = [
        Target {
            dst: GROUP,
            router: "r2",
            what: "ff02::5523 on the rogue's link",
        },
        Target {
            dst: node_ip_of["r1"],
            router: "r1",
            what: "r1's node IP",
        },
        Target {
            dst: node_ip_of["r2"],
            router: "r2",
            what: "r2's node IP",
        },
        Target {
            dst: node_ip_of["r3"],
            router: "r3",
            what: "r3's node IP",
        },
        Target {
            dst: client_ncip,
            router: "r1",
            what: "the client's node-client IP (at r1)",
        },
    ];
    let per_router = |router: &str| targets.iter().filter(|t| t.router == router).count() as u64;
    let classes = classes(node_ip_of.clone());
    let before = all_counters(&mesh);
    for class in &classes {
        for target in &targets {
            let bytes = (class.forge)(&mut rng, target, rogue.addr);
            for _ in 0..class.copies {
                rogue
                    .send(target.dst, &bytes)
                    .unwrap_or_else(|e| panic!("{} to {}: {e}", class.name, target.what));
            }
        }
    }
    let expected = |router: &str, counter: &str| -> u64 {
        classes.iter().filter(|c| c.counter == counter).count() as u64 * per_router(router)
    };
    let after = must(
        "every malformed datagram counted",
        eventually(COUNTED_BOUND, || {
            let after = all_counters(&mesh);
            for router in ["r1", "r2", "r3"] {
                for class in &classes {
                    let got = delta(&before, &after, router, class.counter);
                    if got < expected(router, class.counter) {
                        return Err(format!("{router}: {} {got}", class.counter));
                    }
                }
            }
            Ok(after)
        }),
    )
    .0;
    for router in ["r1", "r2", "r3"] {
        for class in &classes {
            let got = delta(&before, &after, router, class.counter);
            eprintln!(
                "{router}: {:<48} -> {:<36} {got}",
                class.name, class.counter
            );
            assert_eq!(
                got,
                expected(router, class.counter),
                "{router}: {}",
                class.name
            );
        }
        let malformed: u64 = MALFORMED_REASONS
            .iter()
            .map(|r| delta(&before, &after, router, &format!("intercom_dropped.{r}")))
            .sum();
        assert_eq!(
            delta(&before, &after, router, "intercom_dropped.malformed"),
            malformed,
            "{router}: the total is the sum of its reasons"
        );
        // Only the replayed CLAIMs' first copies were valid; nothing was forwarded, answered
        // or solicited for the rest.
        for (key, valid) in [
            ("intercom_in.claim", per_router(router)),
            (
                "intercom_dropped.claim_for_unknown_client",
                per_router(router),
            ),
            ("intercom_in.seek", 0),
            ("intercom_out.seek_forwarded", 0),
            ("intercom_out.info", 0),
            ("intercom_out.ack", 0),
            ("intercom_dropped.other", 0),
        ] {
            assert_eq!(
                delta(&before, &after, router, key),
                valid,
                "{router}: {key}"
            );
        }
    }
    mesh.assert_all_running();

    // (2) The flood, while the control sockets are probed, the daemons' CPU and memory are
    // watched, the client link is listened to, and the real client roams r1 -> r3 -> r1.
    let epoch = Instant::now();
    let mut solicitations = Solicitations::watch(&mesh, epoch);
    let pids: Vec<(&'static str, u32)> = ["r1", "r2", "r3"]
        .into_iter()
        .map(|r| (r, mesh.daemon(r).pid()))
        .collect();
    let cpu_before: Vec<f64> = pids.iter().map(|(_, pid)| cpu_secs(*pid)).collect();
    let rss_before: Vec<u64> = pids
        .iter()
        .map(|(_, pid)| status_kib(*pid, "VmRSS"))
        .collect();
    let before = all_counters(&mesh);
    let stop = Arc::new(AtomicBool::new(false));
    let sockets = ["r1", "r2", "r3"]
        .into_iter()
        .map(|r| (r, mesh.socket(r)))
        .collect();
    let prober = probe_control(sockets, Arc::clone(&stop));
    let sampler = sample_rss(pids.clone(), Arc::clone(&stop));
    let flood_start_second = epoch.elapsed().as_secs() + 1;
    let flooder = flood(
        Arc::clone(&rogue),
        ["r1", "r2", "r3"].iter().map(|r| node_ip_of[r]).collect(),
        client_ncip,
    );
    thread::sleep(Duration::from_secs(4));
    let roams = [roam_under_flood(&mut mesh, "r3"), {
        thread::sleep(Duration::from_secs(5));
        roam_under_flood(&mut mesh, "r1")
    }];
    let (sent, flood_took) = flooder.join().expect("the flood");
    let flood_end_second = epoch.elapsed().as_secs();
    let cpu: Vec<f64> = pids
        .iter()
        .zip(&cpu_before)
        .map(|((_, pid), before)| cpu_secs(*pid) - before)
        .collect();
    // The tail of the flood drains, then the probes stop.
    thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    let latencies = prober.join().expect("the control prober");
    let rss_max = sampler.join().expect("the RSS sampler");
    thread::sleep(Duration::from_secs(1));
    solicitations.stop();
    let after = all_counters(&mesh);

    // The figures first, then the verdicts.
    eprintln!(
        "flood: {} datagrams in {:.1} s ({:.0}/s), {sent:?}",
        sent.total(),
        flood_took.as_secs_f64(),
        sent.total() as f64 / flood_took.as_secs_f64()
    );
    for (i, (router, pid)) in pids.iter().enumerate() {
        let lat = &latencies[router];
        let mut sorted = lat.clone();
        sorted.sort();
        eprintln!(
            "{router}: control get_clients: {} answers, median {} ms, max {} ms; CPU {:.2} s \
             during the flood; VmRSS {} KiB before, max {} KiB during; VmHWM {} KiB",
            lat.len(),
            ms(sorted[sorted.len() / 2]),
            ms(sorted[sorted.len() - 1]),
            cpu[i],
            rss_before[i],
            rss_max[router],
            status_kib(*pid, "VmHWM"),
        );
        let changed: Vec<String> = after[router]
            .iter()
            .filter_map(|(key, value)| {
                let was = before[router].get(key).copied().unwrap_or(0);
                (*value != was).then(|| format!("{key} +{}", value - was))
            })
            .collect();
        eprintln!(
            "{router}: counters during the flood: {}",
            changed.join(", ")
        );
    }
    let (solicited, busiest) = solicitations.between(flood_start_second, flood_end_second + 2);
    eprintln!(
        "client link: {solicited} solicitations from the routers in seconds \
         {flood_start_second}..{}, at most {busiest} in one second",
        flood_end_second + 2
    );

    assert!(
        sent.total() >= FLOOD_RATE * FLOOD_FOR.as_secs() * 9 / 10,
        "the flood did not get out: {sent:?}"
    );
    for took in roams {
        assert!(
            took <= ROAM_BOUND,
            "a roam under the flood took {} ms",
            ms(took)
        );
    }
    for (i, (router, pid)) in pids.iter().enumerate() {
        let slowest = latencies[router].iter().max().copied().unwrap_or_default();
        assert!(
            latencies[router].len() as u128 >= ms(FLOOD_FOR) / ms(PROBE_EVERY) / 2,
            "{router}: only {} answers",
            latencies[router].len()
        );
        assert!(
            slowest <= CONTROL_LATENCY_BOUND,
            "{router}: get_clients took {} ms under the flood",
            ms(slowest)
        );
        assert!(
            cpu[i] <= FLOOD_CPU_BOUND_SECS,
            "{router}: {:.2} s of CPU during the flood",
            cpu[i]
        );
        let peak = status_kib(*pid, "VmHWM");
        assert!(peak <= PEAK_RSS_BOUND_KIB, "{router}: VmHWM {peak} KiB");
    }
    // Every SEEK the rogue multicast reached r2 and, forwarded, r1 and r3; each solicited at
    // most 20 addresses a second, and the client heard no more than that from its router.
    let seconds = flood_end_second + 2 - flood_start_second;
    let allowed = MAX_SEEK_SOLICITATIONS_PER_SECOND as u64 * (seconds + 1) + 40;
    assert!(
        solicited <= allowed,
        "{solicited} solicitations in {seconds} s reached the client (allowed {allowed})"
    );
    assert!(
        busiest <= MAX_SEEK_SOLICITATIONS_PER_SECOND as u64 + 10,
        "{busiest} solicitations in one second"
    );
    for router in ["r1", "r3"] {
        assert!(
            delta(&before, &after, router, "limits.seek_solicitations") > 0,
            "{router} never hit the solicitation budget"
        );
    }
    // r2 has no client link: it solicits nothing, so it has no budget to exhaust.
    assert_eq!(delta(&before, &after, "r2", "limits.seek_solicitations"), 0);
    for router in ["r1", "r2", "r3"] {
        for key in [
            "limits.clients",
            "limits.addresses",
            "intercom_dropped.malformed",
        ] {
            assert_eq!(delta(&before, &after, router, key), 0, "{router}: {key}");
        }
    }

    // (3) Afterwards: every daemon runs, the real client is served where it is, and nothing
    // of the flood's clients or addresses is held anywhere.
    mesh.assert_all_running();
    must(
        "r1 serves the client again, and only it",
        eventually(ROAM_BOUND, || only_the_real_client(&mesh, "r1")),
    );
    let c6 = mesh.var("CLIENT_IP6").to_string();
    must("server -> client, IPv6", mesh.reach("srv", &c6, ROAM_BOUND));
    mesh.assert_all_running();
}

/// One control command; the reply, or why there was none.
fn ask(path: &std::path::Path, command: &str) -> Result<String, String> {
    let mut stream = UnixStream::connect(path).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(format!("{command}\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut reply = String::new();
    stream
        .read_to_string(&mut reply)
        .map_err(|e| e.to_string())?;
    if reply.is_empty() {
        return Err("closed without a reply".into());
    }
    Ok(reply)
}

/// `--max-control-connections`: connections beyond the flag's value are closed at once and
/// counted; connections that say nothing are closed after 5 s and counted, which frees their
/// slots.
#[test]
fn control_connections_beyond_the_flag_are_refused_and_counted() {
    let mut mesh = Mesh::up("control_connections", Topology::default());
    let mut args = mesh.daemon_args("r2", false);
    args.extend(["--max-control-connections".to_string(), "3".to_string()]);
    mesh.start_daemon("r2", args);
    let path = mesh.socket("r2");
    // Three that say nothing hold every slot, until the daemon gives up on them.
    let idle: Vec<UnixStream> = (0..3)
        .map(|_| UnixStream::connect(&path).expect("connect"))
        .collect();
    let opened = Instant::now();
    thread::sleep(Duration::from_millis(200));
    for _ in 0..2 {
        let refused = ask(&path, "get_stats");
        assert!(
            refused.is_err(),
            "a fourth connection is closed without an answer: {refused:?}"
        );
    }
    // Until the three time out, every further one is refused too.
    let stats = must(
        "the idle connections time out and free their slots",
        eventually(Duration::from_secs(8), || ask(&path, "get_stats")),
    )
    .0;
    let freed = opened.elapsed();
    eprintln!(
        "slots freed {} ms after the idle connections opened",
        ms(freed)
    );
    assert!(
        (Duration::from_secs(5)..Duration::from_secs(7)).contains(&freed),
        "freed after {} ms",
        ms(freed)
    );
    let counter = |key: &str| -> u64 {
        stats
            .split_once(&format!("\"{key}\": "))
            .and_then(|(_, rest)| rest.split([',', ' ']).next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {stats}"))
    };
    assert!(counter("control_connections") >= 2, "{stats}");
    assert_eq!(counter("timeouts"), 3, "{stats}");
    // The daemon closed them: each reads the end of the stream.
    for mut stream in idle {
        let mut rest = Vec::new();
        assert_eq!(
            stream.read_to_end(&mut rest).map(|_| rest.len()).ok(),
            Some(0)
        );
    }
    mesh.assert_all_running();
}
