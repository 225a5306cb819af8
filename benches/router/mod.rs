//! The one-router harness of the scale and idle benchmarks (BENCHMARKS.md sections 2 and 3):
//! a "router" network namespace running the release l3roamd with a client bridge, and a
//! "clients" namespace on the other side of the bridge's one port, from which the bench plays
//! any number of clients.
//!
//! ```text
//!   router namespace                                   clients namespace
//!   lo: node IP 2001:db8:ff::1, node-client IPs
//!   mesh0 (veth, no peer of interest)
//!   br-client (GW_MAC, 2001:db8:1::1/128, 10.0.0.1/32)
//!     +-- cl0 ============================== veth ====== eth0 (raw frames, any MAC)
//! ```
//!
//! A client appears the two ways the daemon learns from (behaviour.md §4.1):
//! - **kernel neighbour entries**: for each of its addresses the bench writes a REACHABLE
//!   entry on br-client (rows 2 and 3: an `RTM_NEWNEIGH` the daemon hears), flagged
//!   `extern_learn`. Such entries (like PERMANENT ones, which the daemon ignores) are not
//!   counted against the kernel's neighbour-table thresholds (`gc_thresh1/2/3`, 128/512/1024
//!   by default). Those thresholds are global, not per namespace, and writable only in the
//!   initial one: 15,000 ordinary entries would overflow the table of every namespace on the
//!   machine (new entries fail, older ones are evicted) and the run would need host-wide
//!   settings changed. With `extern_learn` it needs none.
//! - **frames**, sent from the clients namespace with the client's own MAC as Ethernet source
//!   (what a client sends when it arrives, and what the daemon snoops): an ARP announcement
//!   of its IPv4 address (RFC 5227: a request with sender and target IP its own, broadcast),
//!   and from each IPv6 address a Neighbour Solicitation for the gateway address with a
//!   source link-layer option (a client resolving its gateway). The bridge learns each MAC
//!   on its port (an FDB entry, row 3 with `-b`).
//!
//! A client's frames go out only after its neighbour entries are written, so the daemon hears
//! the kernel first and writes no neighbour entry of its own (it does for addresses it learns
//! from frames alone, behaviour.md §9.2; such an entry would not be `extern_learn` and would
//! count toward the global thresholds). [`Router::neighbours_rewritten`] counts the entries
//! that lost the flag, to show it held.
//!
//! Clients leave when the bench sets their entries FAILED (still `extern_learn`), as the kernel
//! does when traffic for a client that is gone finds no answer (§8 rule 3: the daemon asks the
//! client five times and removes the address 120 s later). Deleting the entries instead (rule
//! 4) or taking the port down (the bridge forgets the MACs) makes the daemon ask the kernel to
//! probe every address (`ProbeNeighbour`): 15,000 entries it writes without the flag, which the
//! global thresholds would not take.
//!
//! Everything is torn down by [`Router`]'s `Drop`, and by tests/netns/mesh.sh's watchdog
//! (`watch`, `track`, `down`) if the bench process dies without unwinding.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use l3roamd::engine::Input;
use l3roamd::sys::netlink as nl;
use l3roamd::sys::packet::FrameSender;
use l3roamd::wire::icmpv6::{Ndp, NeighborSolicit};
use l3roamd::wire::{MacAddr, arp, ethernet, ipv6};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use nix::sys::signal::{self, Signal};
use nix::sys::socket::{setsockopt, sockopt};
use nix::sys::time::TimeVal;
use nix::unistd::Pid;

use super::netns;

pub const NODE_IP: &str = "2001:db8:ff::1";
pub const CLIENT_PREFIX6: &str = "2001:db8:1::/64";
pub const CLIENT_PREFIX4: &str = "10.0.0.0/16";
pub const BRIDGE: &str = "br-client";
pub const MESH_IF: &str = "mesh0";
pub const GW_MAC: &str = "02:00:5e:00:53:01";
pub const GW_IP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
pub const GW_IP4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// The daemon's default node-client prefix (`-P`): node-client IPs are fec0::EUI-64.
pub const NODE_CLIENT_PREFIX: Ipv6Addr = Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0);
/// The routes the daemon installs, and those it demotes on release (`--release-protocol`).
pub const PROTO_DAEMON: u8 = 158;
pub const PROTO_RELEASED: u8 = 159;
const NTF_EXT_LEARNED: u8 = 0x10;
const NUD_REACHABLE: u16 = 0x02;
const NUD_FAILED: u16 = 0x20;
/// Where the flags byte of `struct ndmsg` sits in an RTM_NEWNEIGH request.
const NDMSG_FLAGS_OFFSET: usize = nl::HEADER_LEN + 10;

/// One client the bench plays: a MAC, an IPv4 address and two IPv6 addresses (its SLAAC
/// address and a second one, as a privacy address would be).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Client {
    pub mac: MacAddr,
    pub v4: Ipv4Addr,
    pub v6: [Ipv6Addr; 2],
}

impl Client {
    /// Client `i` (from 0; at most 65,000): MAC 02:c1:00:00:hh:ll with hhll = i + 1, IPv4
    /// 10.0.0.0 + 512 + i, IPv6 2001:db8:1::EUI-64 and 2001:db8:1::2:0:0:i.
    pub fn new(i: u32) -> Client {
        let n = i + 1;
        let mac = MacAddr([0x02, 0xc1, 0, (n >> 16) as u8, (n >> 8) as u8, n as u8]);
        let v4 = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 0)) + 512 + i);
        let eui = mac.eui64();
        let mut slaac = [0u8; 16];
        slaac[..8].copy_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0).octets()[..8]);
        slaac[8..].copy_from_slice(&eui);
        let second = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 2, 0, (i >> 16) as u16, i as u16);
        Client {
            mac,
            v4,
            v6: [Ipv6Addr::from(slaac), second],
        }
    }

    pub fn addrs(&self) -> [IpAddr; 3] {
        [
            IpAddr::V4(self.v4),
            IpAddr::V6(self.v6[0]),
            IpAddr::V6(self.v6[1]),
        ]
    }

    pub fn node_client_ip(&self) -> Ipv6Addr {
        self.mac.node_client_ip(&NODE_CLIENT_PREFIX)
    }

    /// The frames of its arrival: an ARP announcement of its IPv4 address, and from each IPv6
    /// address a Neighbour Solicitation for the gateway with its MAC as source link-layer
    /// address, all with its MAC as Ethernet source.
    pub fn arrival_frames(&self) -> Vec<Vec<u8>> {
        let mut frames = Vec::with_capacity(3);
        let announce = arp::Repr {
            operation: arp::Operation::Request,
            sender_mac: self.mac,
            sender_ip: self.v4,
            target_mac: MacAddr::ZERO,
            target_ip: self.v4,
        };
        frames.push(frame(
            MacAddr::BROADCAST,
            self.mac,
            ethernet::EtherType::Arp,
            &announce.to_bytes(),
        ));
        let group = ipv6::solicited_node(&GW_IP6);
        let o = group.octets();
        let group_mac = MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]]);
        for src in self.v6 {
            let ns = Ndp::from(NeighborSolicit {
                target: GW_IP6,
                source_ll: Some(self.mac),
            });
            let mut icmp = vec![0; ns.buffer_len()];
            ns.emit_with_checksum(&src, &group, &mut icmp);
            let header = ipv6::Repr {
                traffic_class: 0,
                flow_label: 0,
                payload_len: icmp.len() as u16,
                next_header: ipv6::NEXT_HEADER_ICMPV6,
                hop_limit: 255,
                src,
                dst: group,
            };
            let mut packet = header.to_bytes();
            packet.extend_from_slice(&icmp);
            frames.push(frame(
                group_mac,
                self.mac,
                ethernet::EtherType::Ipv6,
                &packet,
            ));
        }
        frames
    }
}

fn frame(dst: MacAddr, src: MacAddr, ethertype: ethernet::EtherType, payload: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0; ethernet::HEADER_LEN];
    ethernet::Repr {
        dst,
        src,
        ethertype,
    }
    .emit(&mut bytes);
    bytes.extend_from_slice(payload);
    bytes
}

/// Where the tables, data and plots go: `$BENCH_OUT`, or `<target>/bench`.
pub fn bench_out() -> PathBuf {
    let dir = std::env::var_os("BENCH_OUT").map_or_else(
        || {
            Path::new(env!("CARGO_TARGET_TMPDIR"))
                .parent()
                .expect("target dir")
                .join("bench")
        },
        PathBuf::from,
    );
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

/// `l3roamd -V` of the binary under test, its path, and the kernel: the tables' header.
pub fn what_ran() -> String {
    let bin = netns::daemon_binary();
    let version = Command::new(&bin)
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|e| format!("(-V failed: {e})"));
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{version} ({}), kernel {}", bin.display(), kernel.trim())
}

/// Runs a command to completion; panics with its output if it fails.
pub fn sh(args: &[&str]) -> String {
    netns::run(Command::new(args[0]).args(&args[1..]))
}

fn random_id() -> String {
    let mut bytes = [0u8; 3];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("/dev/urandom");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), as
/// mesh.sh's `proc_start` reads it: the watchdog signals a PID only while it still matches.
fn proc_start(pid: u32) -> String {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    let after = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
    after
        .split_whitespace()
        .nth(19)
        .expect("starttime in /proc/PID/stat")
        .to_string()
}

/// What /proc tells about the daemon at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcSample {
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
    pub rss_kib: u64,
    pub hwm_kib: u64,
    pub voluntary: u64,
    pub nonvoluntary: u64,
    pub fds: usize,
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux for every architecture the daemon
/// runs on).
pub fn ticks_per_second() -> u64 {
    let out = Command::new("getconf").arg("CLK_TCK").output();
    out.ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

/// utime + stime of /proc/PID/stat, in clock ticks.
pub fn parse_stat_cpu(stat: &str) -> Option<u64> {
    let after = stat.rsplit_once(") ")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat(5), counted from 1; `after` starts at field 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A `Name:   value [kB]` line of /proc/PID/status.
pub fn status_field(status: &str, name: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// `get_stats` as `group.counter` -> value.
pub fn parse_counters(reply: &str) -> BTreeMap<String, u64> {
    let mut counters = BTreeMap::new();
    let inner = reply.trim().trim_start_matches('{').trim_end_matches('}');
    for group in inner.split(" }, ") {
        let Some((name, fields)) = group.split_once(": { ") else {
            continue;
        };
        for field in fields.trim_end_matches([' ', '}']).split(", ") {
            let Some((key, value)) = field.split_once(": ") else {
                continue;
            };
            if let Ok(value) = value.trim().parse::<u64>() {
                counters.insert(
                    format!(
                        "{}.{}",
                        name.trim().trim_matches('"'),
                        key.trim_matches('"')
                    ),
                    value,
                );
            }
        }
    }
    counters
}

/// The counters that changed between two `get_stats`, as `name before → after`.
pub fn counter_changes(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> Vec<(String, u64, u64)> {
    after
        .iter()
        .filter_map(|(key, &value)| {
            let old = before.get(key).copied().unwrap_or(0);
            (old != value).then(|| (key.clone(), old, value))
        })
        .collect()
}

/// The two namespaces, the daemon, and the files of this run.
pub struct Router {
    pub name: String,
    /// Logs and the watchdog's bookkeeping: `<target>/netns-logs/bench-<name>/`.
    pub dir: PathBuf,
    pub ns: String,
    pub clients_ns: String,
    /// /run/l3rb<id>: the control socket (short enough for sun_path).
    pub run: PathBuf,
    pub bridge_ifindex: u32,
    pub clients_ifindex: u32,
    daemon: Option<Child>,
    pub log: PathBuf,
    torn_down: bool,
}

impl Router {
    /// Builds both namespaces for the benchmark `name`.
    pub fn up(name: &str) -> Router {
        let id = random_id();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("target dir")
            .join("netns-logs")
            .join(format!("bench-{name}"));
        if dir.join("netns").exists() && !dir.join("down").exists() {
            // A run whose process died: its watchdog tears it down within a second.
            thread::sleep(Duration::from_secs(2));
            assert!(
                dir.join("down").exists(),
                "{} holds namespaces still up: another run of this bench? (if not: \
                 bash {} down {})",
                dir.display(),
                netns::MESH_SH,
                dir.display()
            );
        }
        if dir.exists() {
            fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        }
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let run = PathBuf::from(format!("/run/l3rb{id}"));
        fs::create_dir_all(&run).unwrap_or_else(|e| panic!("{}: {e}", run.display()));
        // mesh.sh's `down` removes MESH_RUN when mesh.env names it.
        fs::write(
            dir.join("mesh.env"),
            format!("MESH_RUN={}\nMESH_DIR={}\n", run.display(), dir.display()),
        )
        .expect("mesh.env");
        let ns = format!("l3rb{id}-router");
        let clients_ns = format!("l3rb{id}-clients");
        let mut router = Router {
            name: name.to_string(),
            dir: dir.clone(),
            ns: ns.clone(),
            clients_ns: clients_ns.clone(),
            run,
            bridge_ifindex: 0,
            clients_ifindex: 0,
            daemon: None,
            log: dir.join("l3roamd.log"),
            torn_down: false,
        };
        router.start_watchdog();
        for n in [&ns, &clients_ns] {
            let mut list = File::options()
                .create(true)
                .append(true)
                .open(dir.join("netns"))
                .expect("netns list");
            writeln!(list, "{n}").expect("netns list");
            sh(&["ip", "netns", "add", n]);
            sh(&["ip", "-n", n, "link", "set", "lo", "up"]);
        }
        router.build();
        router
    }

    /// mesh.sh's watchdog: `down` as soon as this process is gone.
    // Never waited for: it must outlive this process if that dies; `down` stops it.
    #[allow(clippy::zombie_processes)]
    fn start_watchdog(&self) {
        let me = std::process::id();
        let child = Command::new("setsid")
            .args(["bash", netns::MESH_SH, "watch"])
            .arg(&self.dir)
            .arg(me.to_string())
            .arg(proc_start(me))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mesh.sh watch");
        // setsid forks when it leads a process group already; give it a moment to exec.
        thread::sleep(Duration::from_millis(50));
        fs::write(
            self.dir.join("watchdog"),
            format!("{} {}\n", child.id(), proc_start(child.id())),
        )
        .expect("watchdog file");
    }

    fn build(&mut self) {
        let (r, c) = (self.ns.as_str(), self.clients_ns.as_str());
        sh(&[
            "ip",
            "netns",
            "exec",
            r,
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.forwarding=1",
            "net.ipv4.ip_forward=1",
            "net.ipv4.conf.all.rp_filter=0",
            "net.ipv4.conf.default.rp_filter=0",
            "net.ipv6.conf.all.accept_dad=0",
            "net.ipv6.conf.default.accept_dad=0",
        ]);
        sh(&[
            "ip",
            "-n",
            r,
            "addr",
            "add",
            &format!("{NODE_IP}/128"),
            "dev",
            "lo",
        ]);
        // A mesh interface for the intercom's multicast; no other node listens on it.
        sh(&[
            "ip",
            "-n",
            r,
            "link",
            "add",
            MESH_IF,
            "type",
            "veth",
            "peer",
            "name",
            "mesh0-peer",
        ]);
        sh(&["ip", "-n", r, "link", "set", MESH_IF, "up"]);
        sh(&["ip", "-n", r, "link", "set", "mesh0-peer", "up"]);
        sh(&[
            "ip", "-n", r, "link", "add", "name", BRIDGE, "address", GW_MAC, "type", "bridge",
        ]);
        // The clients: one veth whose far end plays every client with raw frames. IPv6 is
        // off there, so that its kernel sends nothing of its own (DAD, MLD, RS).
        sh(&[
            "ip", "-n", c, "link", "add", "name", "eth0", "type", "veth", "peer", "name", "cl0",
            "netns", r,
        ]);
        sh(&[
            "ip",
            "netns",
            "exec",
            c,
            "sysctl",
            "-qw",
            "net.ipv6.conf.eth0.disable_ipv6=1",
        ]);
        sh(&[
            "ip",
            "netns",
            "exec",
            r,
            "sysctl",
            "-qw",
            "net.ipv6.conf.cl0.disable_ipv6=1",
        ]);
        sh(&["ip", "-n", r, "link", "set", "cl0", "master", BRIDGE, "up"]);
        sh(&["ip", "-n", c, "link", "set", "eth0", "up"]);
        sh(&["ip", "-n", r, "link", "set", BRIDGE, "up"]);
        sh(&[
            "ip",
            "-n",
            r,
            "addr",
            "add",
            &format!("{GW_IP6}/128"),
            "dev",
            BRIDGE,
            "nodad",
        ]);
        sh(&[
            "ip",
            "-n",
            r,
            "addr",
            "add",
            &format!("{GW_IP4}/32"),
            "dev",
            BRIDGE,
        ]);
        self.bridge_ifindex = self.ifindex(r, BRIDGE);
        self.clients_ifindex = self.ifindex(c, "eth0");
    }

    fn ifindex(&self, ns: &str, dev: &str) -> u32 {
        sh(&[
            "ip",
            "netns",
            "exec",
            ns,
            "cat",
            &format!("/sys/class/net/{dev}/ifindex"),
        ])
        .trim()
        .parse()
        .expect("ifindex")
    }

    pub fn socket(&self) -> PathBuf {
        self.run.join("l3roamd.sock")
    }

    /// The daemon's command line: Gluon's shape (`-i` and `-b` the client bridge, table 254),
    /// without `-v` (Gluon's default verbosity), with `extra` appended.
    pub fn daemon_args(&self, extra: &[String]) -> Vec<String> {
        let mut args: Vec<String> = [
            "-a",
            NODE_IP,
            "-p",
            CLIENT_PREFIX6,
            "-p",
            CLIENT_PREFIX4,
            "-m",
            MESH_IF,
            "-i",
            BRIDGE,
            "-b",
            BRIDGE,
            "-t",
            "254",
            "-s",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(self.socket().to_string_lossy().into_owned());
        args.extend(extra.iter().cloned());
        args
    }

    /// Starts the daemon and waits until it has read the kernel (its first dump is done).
    pub fn start_daemon(&mut self, args: Vec<String>) {
        assert!(self.daemon.is_none(), "the daemon runs already");
        let mut log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("daemon log");
        writeln!(log, "### l3roamd {args:?}").expect("daemon log");
        let err = log.try_clone().expect("daemon log");
        let bin = netns::daemon_binary();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .arg(&bin)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let _ = Command::new("bash")
            .args([netns::MESH_SH, "track"])
            .arg(&self.dir)
            .arg(child.id().to_string())
            .arg("l3roamd")
            .status();
        self.daemon = Some(child);
        let start = Instant::now();
        loop {
            self.assert_running();
            if self.socket().exists()
                && self
                    .try_counters()
                    .is_some_and(|c| c.get("kernel.netlink_dumps") >= Some(&1))
            {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "l3roamd is not up after 20 s; log {}",
                self.log.display()
            );
            thread::sleep(Duration::from_millis(50));
        }
        // The client-side sockets open once the dump is in.
        thread::sleep(Duration::from_millis(300));
    }

    pub fn pid(&self) -> u32 {
        self.daemon.as_ref().expect("the daemon runs").id()
    }

    pub fn assert_running(&mut self) {
        let daemon = self.daemon.as_mut().expect("the daemon was started");
        if let Some(status) = daemon.try_wait().expect("try_wait") {
            let log = fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            panic!(
                "l3roamd exited ({status}); log {}:\n{}",
                self.log.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }

    /// TERM, and the exit status (the daemon removes what it installed first).
    pub fn stop_daemon(&mut self, bound: Duration) -> ExitStatus {
        let mut child = self.daemon.take().expect("the daemon runs");
        let _ = signal::kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            if start.elapsed() > bound {
                let _ = child.kill();
                let status = child.wait().expect("wait");
                eprintln!("l3roamd ignored TERM for {bound:?}: killed");
                return status;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// One control command; the reply and how long it took from connect to the daemon's
    /// close.
    pub fn control_timed(&self, command: &str) -> (String, Duration) {
        let start = Instant::now();
        let mut stream = UnixStream::connect(self.socket())
            .unwrap_or_else(|e| panic!("connect {}: {e}", self.socket().display()));
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream
            .write_all(format!("{command}\n").as_bytes())
            .expect("write");
        let mut reply = String::new();
        stream
            .read_to_string(&mut reply)
            .unwrap_or_else(|e| panic!("{command}: {e}"));
        (reply, start.elapsed())
    }

    pub fn control(&self, command: &str) -> String {
        self.control_timed(command).0
    }

    fn try_counters(&self) -> Option<BTreeMap<String, u64>> {
        let mut stream = UnixStream::connect(self.socket()).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        stream.write_all(b"get_stats\n").ok()?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply).ok()?;
        Some(parse_counters(&reply)).filter(|c| !c.is_empty())
    }

    pub fn counters(&self) -> BTreeMap<String, u64> {
        self.try_counters().expect("get_stats")
    }

    pub fn sample(&self) -> ProcSample {
        let pid = self.pid();
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let fds = fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
        ProcSample {
            cpu_ticks: parse_stat_cpu(&stat).unwrap_or(0),
            rss_kib: status_field(&status, "VmRSS").unwrap_or(0),
            hwm_kib: status_field(&status, "VmHWM").unwrap_or(0),
            voluntary: status_field(&status, "voluntary_ctxt_switches").unwrap_or(0),
            nonvoluntary: status_field(&status, "nonvoluntary_ctxt_switches").unwrap_or(0),
            fds,
        }
    }

    /// Waits until the daemon has used no CPU for `quiet` (at most `bound`); its CPU ticks
    /// then.
    pub fn settle(&self, quiet: Duration, bound: Duration) -> ProcSample {
        let start = Instant::now();
        let mut last = self.sample();
        let mut since = Instant::now();
        while start.elapsed() < bound {
            thread::sleep(Duration::from_millis(100));
            let now = self.sample();
            if now.cpu_ticks != last.cpu_ticks {
                since = Instant::now();
            } else if since.elapsed() >= quiet {
                return now;
            }
            last = now;
        }
        last
    }

    /// Neighbour entries on the bridge in the router namespace: (all, without `extern_learn`).
    pub fn neighbours(&self) -> (usize, usize) {
        let mut all = 0;
        let mut plain = 0;
        for family in ["-4", "-6"] {
            let out = sh(&["ip", "-n", &self.ns, family, "neigh", "show", "dev", BRIDGE]);
            for line in out.lines().filter(|l| l.contains("lladdr")) {
                all += 1;
                if !line.contains("extern_learn") {
                    plain += 1;
                }
            }
        }
        (all, plain)
    }

    /// Client host routes of `protocol` in table 254 (through the bridge), both families.
    pub fn count_routes(&self, protocol: u8) -> usize {
        let proto = protocol.to_string();
        ["-4", "-6"]
            .iter()
            .map(|family| {
                sh(&[
                    "ip", "-n", &self.ns, family, "route", "show", "table", "254", "proto", &proto,
                    "dev", BRIDGE,
                ])
                .lines()
                .count()
            })
            .sum()
    }

    /// Node-client IPs on lo (addresses inside fec0::/64).
    pub fn count_node_client_ips(&self) -> usize {
        sh(&[
            "ip", "-n", &self.ns, "-6", "-o", "addr", "show", "dev", "lo",
        ])
        .lines()
        .filter(|l| l.contains(" fec0::"))
        .count()
    }

    pub fn down(&mut self) {
        if self.torn_down {
            return;
        }
        self.torn_down = true;
        if let Some(mut child) = self.daemon.take() {
            let _ = signal::kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let status = Command::new("bash")
            .args([netns::MESH_SH, "down"])
            .arg(&self.dir)
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!("mesh.sh down {} failed: {status:?}", self.dir.display());
        }
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("--- logs in {}", self.dir.display());
        }
        self.down();
    }
}

/// The neighbour-table overflows the kernel counted (`table_fulls` of
/// /proc/net/stat/{arp,ndisc}_cache, summed over CPUs): global, every namespace's.
pub fn neighbour_table_fulls() -> u64 {
    ["arp_cache", "ndisc_cache"]
        .iter()
        .map(|table| {
            let text = fs::read_to_string(format!("/proc/net/stat/{table}")).unwrap_or_default();
            let mut lines = text.lines();
            let Some(header) = lines.next() else { return 0 };
            let Some(column) = header.split_whitespace().position(|h| h == "table_fulls") else {
                return 0;
            };
            lines
                .filter_map(|l| l.split_whitespace().nth(column))
                .filter_map(|hex| u64::from_str_radix(hex, 16).ok())
                .sum::<u64>()
        })
        .sum()
}

// ----- the bench's own netlink socket -----

fn open_netlink(groups: &[u32], rcvbuf: usize) -> Socket {
    let mut socket = Socket::new(NETLINK_ROUTE).expect("netlink socket");
    socket.bind_auto().expect("netlink bind");
    socket
        .connect(&SocketAddr::new(0, 0))
        .expect("netlink connect");
    for group in groups {
        socket.add_membership(*group).expect("netlink group");
    }
    setsockopt(&socket, sockopt::RcvBufForce, &rcvbuf).expect("SO_RCVBUFFORCE");
    socket
}

fn enter(ns: &str) {
    let path = PathBuf::from("/run/netns").join(ns);
    l3roamd::sys::netns::enter_network_namespace(&path).unwrap_or_else(|e| panic!("{e}"));
}

/// RTM_NEWNEIGH (create, replace) of `addr` on `ifindex` in `state`, flagged extern_learn.
fn neighbour_request(seq: u32, ifindex: u32, addr: &IpAddr, mac: MacAddr, state: u16) -> Vec<u8> {
    let mut bytes = nl::new_neighbour(seq, ifindex, addr, mac.0, state);
    bytes[NDMSG_FLAGS_OFFSET] |= NTF_EXT_LEARNED;
    bytes
}

/// Writes neighbour entries from a thread in the router namespace, one client at a time on
/// a schedule, and counts the kernel's refusals.
struct EntryWriter {
    socket: Socket,
    ifindex: u32,
    seq: u32,
    unanswered: usize,
    errors: BTreeMap<i32, usize>,
    buf: Vec<u8>,
}

impl EntryWriter {
    fn new(ifindex: u32) -> EntryWriter {
        let socket = open_netlink(&[], 32 << 20);
        let _ = socket.set_cap_ack(true);
        EntryWriter {
            socket,
            ifindex,
            seq: 0,
            unanswered: 0,
            errors: BTreeMap::new(),
            buf: vec![0; 1 << 16],
        }
    }

    fn write(&mut self, client: &Client, state: u16) {
        for addr in client.addrs() {
            self.seq += 1;
            let request = neighbour_request(self.seq, self.ifindex, &addr, client.mac, state);
            self.socket.send(&request, 0).expect("RTM_NEWNEIGH");
            self.unanswered += 1;
        }
        if self.unanswered >= 256 {
            self.read_acks(false);
        }
    }

    fn read_acks(&mut self, wait: bool) {
        let flags = if wait { 0 } else { libc::MSG_DONTWAIT };
        setsockopt(&self.socket, sockopt::ReceiveTimeout, &TimeVal::new(2, 0)).expect("timeout");
        while self.unanswered > 0 {
            let Ok(len) = self.socket.recv(&mut &mut self.buf[..], flags) else {
                if wait {
                    eprintln!("{} neighbour writes unanswered after 2 s", self.unanswered);
                }
                return;
            };
            for msg in nl::messages(&self.buf[..len.min(self.buf.len())]).flatten() {
                if msg.header.kind == nl::NLMSG_ERROR {
                    self.unanswered = self.unanswered.saturating_sub(1);
                    if let Ok(status) = nl::parse_status(&msg) {
                        if status.errno != 0 {
                            *self.errors.entry(status.errno).or_default() += 1;
                        }
                    }
                }
            }
        }
    }
}

/// When each client was announced, and what went wrong.
#[derive(Debug, Default)]
pub struct Announced {
    /// The client's neighbour entries were written (the first of its three writes started).
    pub entries_at: Vec<Instant>,
    /// Its frames were sent.
    pub frames_at: Vec<Instant>,
    /// Refusals of neighbour writes, by errno.
    pub entry_errors: BTreeMap<i32, usize>,
    pub frame_errors: usize,
}

/// Client `i`'s slot in a schedule that spreads `n` clients evenly over `spread`.
pub fn slot(start: Instant, spread: Duration, i: usize, n: usize) -> Instant {
    if n <= 1 {
        return start;
    }
    start + spread.mul_f64(i as f64 / (n - 1) as f64)
}

fn sleep_until(at: Instant) {
    let now = Instant::now();
    if at > now {
        thread::sleep(at - now);
    }
}

/// The clients arrive: each one's neighbour entries (REACHABLE, extern_learn) in its slot of
/// `spread`, then, with `frames`, its frames. Returns once every write is answered.
/// Frames stop once this many neighbour entries without `extern_learn` were seen: the
/// global thresholds (gc_thresh2 = 512 by default) must stay clear of the bench, whatever
/// else runs on the machine.
pub const PLAIN_ENTRY_GUARD: usize = 300;

pub fn arrive(
    router: &Router,
    clients: &[Client],
    spread: Duration,
    frames: bool,
    plain: &Arc<AtomicUsize>,
) -> Announced {
    let start = Instant::now() + Duration::from_millis(100);
    let written = Arc::new(AtomicUsize::new(0));
    let n = clients.len();
    let entries = {
        let (ns, ifindex, clients, written) = (
            router.ns.clone(),
            router.bridge_ifindex,
            clients.to_vec(),
            Arc::clone(&written),
        );
        thread::spawn(move || {
            enter(&ns);
            let mut writer = EntryWriter::new(ifindex);
            let mut at = Vec::with_capacity(clients.len());
            for (i, client) in clients.iter().enumerate() {
                sleep_until(slot(start, spread, i, n));
                at.push(Instant::now());
                writer.write(client, NUD_REACHABLE);
                written.store(i + 1, Ordering::Release);
            }
            writer.read_acks(true);
            (at, writer.errors)
        })
    };
    let sent = frames.then(|| {
        let (ns, ifindex, clients, written, plain) = (
            router.clients_ns.clone(),
            router.clients_ifindex,
            clients.to_vec(),
            Arc::clone(&written),
            Arc::clone(plain),
        );
        thread::spawn(move || {
            enter(&ns);
            let sender = FrameSender::open(ifindex).unwrap_or_else(|e| panic!("{e}"));
            let mut at = Vec::with_capacity(clients.len());
            let mut errors = 0;
            for (i, client) in clients.iter().enumerate() {
                // After its neighbour entries: see the module's documentation.
                while written.load(Ordering::Acquire) <= i {
                    thread::yield_now();
                }
                if plain.load(Ordering::Relaxed) >= PLAIN_ENTRY_GUARD {
                    eprintln!(
                        "frames stopped after {i} clients: {PLAIN_ENTRY_GUARD} neighbour \
                         entries without extern_learn (the global table's thresholds)"
                    );
                    break;
                }
                at.push(Instant::now());
                for bytes in client.arrival_frames() {
                    if sender.send(&bytes).is_err() {
                        errors += 1;
                    }
                }
            }
            (at, errors)
        })
    });
    let (entries_at, entry_errors) = entries.join().expect("the neighbour writer");
    let (frames_at, frame_errors) = match sent {
        Some(thread) => thread.join().expect("the frame sender"),
        None => (Vec::new(), 0),
    };
    Announced {
        entries_at,
        frames_at,
        entry_errors,
        frame_errors,
    }
}

/// The clients leave: each one's neighbour entries become FAILED (still extern_learn) in its
/// slot of `spread`.
pub fn leave(router: &Router, clients: &[Client], spread: Duration) -> Announced {
    let start = Instant::now() + Duration::from_millis(100);
    let n = clients.len();
    let macs: Vec<MacAddr> = clients.iter().map(|c| c.mac).collect();
    let (ns, ifindex, clients) = (router.ns.clone(), router.bridge_ifindex, clients.to_vec());
    let (entries_at, entry_errors) = thread::spawn(move || {
        enter(&ns);
        let mut writer = EntryWriter::new(ifindex);
        let mut at = Vec::with_capacity(clients.len());
        for (i, client) in clients.iter().enumerate() {
            sleep_until(slot(start, spread, i, n));
            at.push(Instant::now());
            writer.write(client, NUD_FAILED);
        }
        writer.read_acks(true);
        (at, writer.errors)
    })
    .join()
    .expect("the neighbour writer");
    forget_macs(router, &macs);
    Announced {
        entries_at,
        entry_errors,
        ..Announced::default()
    }
}

/// A station that left is gone from the bridge too: the access point drops it, or its
/// entry ages out. Left in place, the entries the clients' frames taught the bridge would
/// make the daemon's next re-read find those MACs on the port again (`-b`: a MAC the bridge
/// knows is a client) and take them back for another 300 s. Clients that sent no frames have
/// no entry; `-force` goes past them.
fn forget_macs(router: &Router, macs: &[MacAddr]) {
    let batch: String = macs
        .iter()
        .map(|mac| format!("fdb del {mac} dev cl0 master\n"))
        .collect();
    let path = router.dir.join("fdb-del.batch");
    fs::write(&path, batch).expect("writing the fdb batch");
    let _ = Command::new("bridge")
        .args(["-n", &router.ns, "-force", "-batch"])
        .arg(&path)
        .stderr(Stdio::null())
        .status();
}

// ----- watching the kernel -----

/// What the monitor records: kernel notifications that concern the daemon's objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// A host route in table 254: added or replaced (`Some(protocol)`) or deleted (`None`).
    Route {
        dst: IpAddr,
        metric: u32,
        protocol: Option<u8>,
        deleted_protocol: u8,
    },
    /// A node-client IP on lo appeared or went.
    NodeClientIp { addr: Ipv6Addr, present: bool },
    /// A neighbour entry on the bridge changed or went (only with `neighbours`).
    Neighbour,
    /// The monitor's own receive buffer overflowed: notifications were lost.
    Overrun,
}

/// Records every route, address (and optionally neighbour) notification of the router
/// namespace with the time it was read, from a thread of its own.
pub struct Monitor {
    stop: Arc<AtomicBool>,
    events: Arc<Mutex<Vec<(Instant, Seen)>>>,
    /// Addresses whose neighbour entry on the bridge was seen without `extern_learn` (with
    /// `neighbours`): entries the daemon wrote, or the kernel made, which count toward the
    /// global thresholds.
    pub plain: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Monitor {
    pub fn start(router: &Router, neighbours: bool) -> Monitor {
        let stop = Arc::new(AtomicBool::new(false));
        let events = Arc::new(Mutex::new(Vec::new()));
        let plain = Arc::new(AtomicUsize::new(0));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = {
            let (stop, events, ns) = (Arc::clone(&stop), Arc::clone(&events), router.ns.clone());
            let plain = Arc::clone(&plain);
            let bridge = router.bridge_ifindex;
            thread::spawn(move || {
                enter(&ns);
                let mut groups = vec![
                    libc::RTNLGRP_IPV4_ROUTE,
                    libc::RTNLGRP_IPV6_ROUTE,
                    libc::RTNLGRP_IPV6_IFADDR,
                ];
                if neighbours {
                    groups.push(libc::RTNLGRP_NEIGH);
                }
                let socket = open_netlink(&groups, 256 << 20);
                setsockopt(&socket, sockopt::ReceiveTimeout, &TimeVal::new(0, 50_000))
                    .expect("timeout");
                ready_tx.send(()).expect("ready");
                let mut buf = vec![0u8; 1 << 20];
                let mut loopback = 1;
                let mut batch = Vec::new();
                let mut plain_addrs = std::collections::HashSet::new();
                while !stop.load(Ordering::Relaxed) {
                    let len = match socket.recv(&mut &mut buf[..], 0) {
                        Ok(len) => len,
                        Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                            batch.push((Instant::now(), Seen::Overrun));
                            continue;
                        }
                        Err(_) => continue,
                    };
                    let at = Instant::now();
                    for msg in nl::messages(&buf[..len.min(buf.len())]).flatten() {
                        if let Some(addr) = plain_entry(&msg, bridge) {
                            plain_addrs.insert(addr);
                            plain.store(plain_addrs.len(), Ordering::Relaxed);
                        }
                        if let Some(seen) = decode(&msg, &mut loopback, bridge) {
                            batch.push((at, seen));
                        }
                    }
                    if !batch.is_empty() {
                        events
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .append(&mut batch);
                    }
                }
            })
        };
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the monitor's socket");
        Monitor {
            stop,
            events,
            plain,
            thread: Some(thread),
        }
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<(Instant, Seen)> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop();
    }
}

fn decode(msg: &nl::Message<'_>, loopback: &mut u32, bridge: u32) -> Option<Seen> {
    match l3roamd::sys::rtnl::to_input(msg, loopback).ok()?? {
        Input::Route(r) => {
            let host = if r.dst.is_ipv4() { 32 } else { 128 };
            if r.table != 254 || r.prefix_len != host || r.ifindex != Some(bridge) {
                return None;
            }
            Some(Seen::Route {
                dst: r.dst,
                metric: r.metric,
                protocol: (!r.deleted).then_some(r.protocol),
                deleted_protocol: r.protocol,
            })
        }
        Input::Address(a) => match a.addr {
            IpAddr::V6(addr) if a.prefix_len == 128 && is_node_client_ip(&addr) => {
                Some(Seen::NodeClientIp {
                    addr,
                    present: !a.deleted,
                })
            }
            _ => None,
        },
        Input::Neighbour(n) if n.ifindex == bridge => Some(Seen::Neighbour),
        _ => None,
    }
}

/// The address of an IPv4/IPv6 neighbour entry on the bridge reported without
/// `extern_learn`.
fn plain_entry(msg: &nl::Message<'_>, bridge: u32) -> Option<IpAddr> {
    if msg.header.kind != nl::RTM_NEWNEIGH {
        return None;
    }
    let n = nl::parse_neighbour(msg).ok()?;
    let h = &n.header;
    let family = h.family == nl::AF_INET || h.family == nl::AF_INET6;
    (family && h.index == bridge as i32 && h.flags & NTF_EXT_LEARNED == 0)
        .then_some(n.dst)
        .flatten()
}

fn is_node_client_ip(addr: &Ipv6Addr) -> bool {
    addr.octets()[..8] == NODE_CLIENT_PREFIX.octets()[..8]
}

/// The kernel's objects of the daemon as the notifications tell them, replayed in order.
#[derive(Debug, Default)]
pub struct Replay {
    /// (destination, metric) -> protocol of the route there now.
    routes: HashMap<(IpAddr, u32), u8>,
    ncips: std::collections::HashSet<Ipv6Addr>,
    pub daemon_routes: usize,
    pub released_routes: usize,
    pub node_client_ips: usize,
    pub overruns: usize,
}

impl Replay {
    pub fn apply(&mut self, seen: &Seen) {
        match *seen {
            Seen::Route {
                dst,
                metric,
                protocol,
                deleted_protocol,
            } => {
                let key = (dst, metric);
                let old = match protocol {
                    // A create-and-replace (a demotion replaces 158 by 159 in place) is one
                    // notification of the new route.
                    Some(p) => self.routes.insert(key, p),
                    None if self.routes.get(&key) == Some(&deleted_protocol) => {
                        self.routes.remove(&key)
                    }
                    None => None,
                };
                self.count(old, -1);
                if let Some(p) = protocol {
                    self.count(Some(p), 1);
                }
            }
            Seen::NodeClientIp { addr, present } => {
                if present {
                    self.ncips.insert(addr);
                } else {
                    self.ncips.remove(&addr);
                }
                self.node_client_ips = self.ncips.len();
            }
            Seen::Neighbour => {}
            Seen::Overrun => self.overruns += 1,
        }
    }

    fn count(&mut self, protocol: Option<u8>, delta: isize) {
        let slot = match protocol {
            Some(PROTO_DAEMON) => &mut self.daemon_routes,
            Some(PROTO_RELEASED) => &mut self.released_routes,
            _ => return,
        };
        *slot = slot.saturating_add_signed(delta);
    }

    /// Whether a route for `dst` of `protocol` is there.
    pub fn has_route(&self, dst: &IpAddr, protocol: u8) -> bool {
        self.routes
            .iter()
            .any(|((d, _), p)| d == dst && *p == protocol)
    }
}

/// One line of a timeline: time since `origin` and the counts then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Point {
    pub ms: u64,
    pub daemon_routes: usize,
    pub released_routes: usize,
    pub node_client_ips: usize,
}

/// The counts every `step` from `origin` to `end`, replaying `events` (sorted by time).
pub fn timeline(
    events: &[(Instant, Seen)],
    origin: Instant,
    end: Instant,
    step: Duration,
) -> Vec<Point> {
    let mut replay = Replay::default();
    let mut next = events.iter().peekable();
    let mut points = Vec::new();
    let mut t = origin;
    while t <= end {
        while let Some((at, seen)) = next.peek() {
            if *at > t {
                break;
            }
            replay.apply(seen);
            next.next();
        }
        points.push(Point {
            ms: (t - origin).as_millis() as u64,
            daemon_routes: replay.daemon_routes,
            released_routes: replay.released_routes,
            node_client_ips: replay.node_client_ips,
        });
        t += step;
    }
    points
}

/// The first moment at or after `from` when `done` holds for the counts replayed from the
/// beginning of `events` (sorted by time).
pub fn first_when(
    events: &[(Instant, Seen)],
    from: Instant,
    done: impl Fn(&Replay) -> bool,
) -> Option<Instant> {
    let mut replay = Replay::default();
    let mut checked_from = false;
    for (at, seen) in events {
        if *at >= from && !checked_from {
            checked_from = true;
            if done(&replay) {
                return Some(from);
            }
        }
        replay.apply(seen);
        if *at >= from && done(&replay) {
            return Some(*at);
        }
    }
    (!checked_from && done(&replay)).then_some(from)
}

/// When each key first reached the state `present` says (a route of `protocol` there, or
/// gone), scanning `events` from `from` on.
pub fn route_times(
    events: &[(Instant, Seen)],
    from: Instant,
    protocol: u8,
    present: bool,
) -> HashMap<IpAddr, Instant> {
    let mut replay = Replay::default();
    let mut times = HashMap::new();
    for (at, seen) in events {
        replay.apply(seen);
        if *at < from {
            continue;
        }
        if let Seen::Route { dst, .. } = seen {
            if replay.has_route(dst, protocol) == present {
                times.entry(*dst).or_insert(*at);
            }
        }
    }
    times
}

/// When each node-client IP first appeared (`present`) or went, from `from` on.
pub fn ncip_times(
    events: &[(Instant, Seen)],
    from: Instant,
    present: bool,
) -> HashMap<Ipv6Addr, Instant> {
    let mut times = HashMap::new();
    for (at, seen) in events {
        if *at < from {
            continue;
        }
        if let Seen::NodeClientIp { addr, present: p } = seen {
            if *p == present {
                times.entry(*addr).or_insert(*at);
            }
        }
    }
    times
}

// ----- statistics -----

/// The `percent`-th percentile of `values`, nearest rank (tests/stats); `None` when empty.
pub fn quantile(values: &[f64], percent: usize) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    crate::netns::stats::nearest_rank(&sorted, percent)
}

pub fn median(values: &[f64]) -> Option<f64> {
    quantile(values, 50)
}

/// Milliseconds from `from` to `to` (negative when `to` is earlier).
pub fn ms_between(from: Instant, to: Instant) -> f64 {
    if to >= from {
        (to - from).as_secs_f64() * 1e3
    } else {
        -((from - to).as_secs_f64() * 1e3)
    }
}

/// Thousands separated by commas, as BENCHMARKS.md writes counts.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Checks of the helpers above whose mistakes would silently corrupt the figures; the bench
/// runs them when started without `--bench` (as `cargo test --benches` does).
pub fn self_test() {
    // Nearest rank: the median of 1..=4 is 2, p95 of 1..=20 is 19, one value is every quantile.
    assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.0));
    let twenty: Vec<f64> = (1..=20).map(f64::from).collect();
    assert_eq!(quantile(&twenty, 95), Some(19.0));
    assert_eq!(quantile(&twenty, 100), Some(20.0));
    assert_eq!(quantile(&twenty, 0), Some(1.0));
    assert_eq!(quantile(&[7.0], 50), Some(7.0));
    assert_eq!(median(&[]), None);
    assert_eq!(thousands(15000), "15,000");
    assert_eq!(thousands(999), "999");
    assert_eq!(thousands(1234567), "1,234,567");

    // /proc/PID/stat: utime 30 and stime 12 (fields 14, 15), a command name with spaces and
    // a parenthesis in it.
    let stat = "4242 (l3 (x) d) S 1 4242 4242 0 -1 4194560 100 0 0 0 30 12 0 0 20 0 1 0 \
                99 1000 200 18446744073709551615";
    assert_eq!(parse_stat_cpu(stat), Some(42));
    let status = "Name:\tl3roamd\nVmHWM:\t    3456 kB\nVmRSS:\t    3000 kB\n\
                  voluntary_ctxt_switches:\t17\nnonvoluntary_ctxt_switches:\t3\n";
    assert_eq!(status_field(status, "VmHWM"), Some(3456));
    assert_eq!(status_field(status, "voluntary_ctxt_switches"), Some(17));
    assert_eq!(status_field(status, "nonvoluntary_ctxt_switches"), Some(3));
    assert_eq!(status_field(status, "VmPeak"), None);

    let reply = r#"{ "intercom_in": { "seek": 0, "claim": 2 }, "limits": { "clients": 904 } }"#;
    let counters = parse_counters(reply);
    assert_eq!(counters.get("intercom_in.claim"), Some(&2));
    assert_eq!(counters.get("limits.clients"), Some(&904));
    assert_eq!(counters.len(), 3);
    let mut after = counters.clone();
    after.insert("limits.clients".into(), 1000);
    assert_eq!(
        counter_changes(&counters, &after),
        vec![("limits.clients".to_string(), 904, 1000)]
    );

    // Evenly spread slots: the first at the start, the last at the end.
    let t0 = Instant::now();
    let spread = Duration::from_millis(1000);
    assert_eq!(slot(t0, spread, 0, 5), t0);
    assert_eq!(slot(t0, spread, 4, 5), t0 + spread);
    assert_eq!(slot(t0, spread, 2, 5), t0 + Duration::from_millis(500));

    // Replay: an install, its demotion (a replace, one notification), the demoted route's
    // deletion; a deletion of another protocol's route there changes nothing.
    let dst: IpAddr = "2001:db8:1::5".parse().unwrap();
    let route = |protocol, deleted_protocol| Seen::Route {
        dst,
        metric: 1024,
        protocol,
        deleted_protocol,
    };
    let ncip: Ipv6Addr = "fec0::1".parse().unwrap();
    let ms = Duration::from_millis;
    let events = vec![
        (t0 + ms(10), route(Some(PROTO_DAEMON), PROTO_DAEMON)),
        (
            t0 + ms(20),
            Seen::NodeClientIp {
                addr: ncip,
                present: true,
            },
        ),
        (t0 + ms(30), route(None, 3)),
        (t0 + ms(40), route(Some(PROTO_RELEASED), PROTO_RELEASED)),
        (
            t0 + ms(50),
            Seen::NodeClientIp {
                addr: ncip,
                present: false,
            },
        ),
        (t0 + ms(60), route(None, PROTO_RELEASED)),
    ];
    let points = timeline(&events, t0, t0 + ms(60), ms(20));
    let counts: Vec<(usize, usize, usize)> = points
        .iter()
        .map(|p| (p.daemon_routes, p.released_routes, p.node_client_ips))
        .collect();
    assert_eq!(counts, vec![(0, 0, 0), (1, 0, 1), (0, 1, 1), (0, 0, 0)]);
    assert_eq!(
        first_when(&events, t0, |r| r.daemon_routes == 1
            && r.node_client_ips == 1),
        Some(t0 + ms(20))
    );
    // Counted from the beginning, reported from `from` on: nothing is there before the first
    // event, but that is not when everything was gone.
    assert_eq!(
        first_when(&events, t0 + ms(15), |r| r.daemon_routes == 0),
        Some(t0 + ms(40))
    );
    assert_eq!(
        first_when(&events, t0 + ms(55), |r| r.node_client_ips == 0),
        Some(t0 + ms(55))
    );
    assert_eq!(
        first_when(&events, t0 + ms(99), |r| r.released_routes == 0),
        Some(t0 + ms(99))
    );
    assert_eq!(
        route_times(&events, t0, PROTO_DAEMON, false)[&dst],
        t0 + ms(40)
    );
    assert_eq!(
        route_times(&events, t0, PROTO_RELEASED, false)[&dst],
        t0 + ms(10)
    );
    assert_eq!(ncip_times(&events, t0, false)[&ncip], t0 + ms(50));

    // Clients: distinct MACs and addresses, inside the prefixes, frames that the daemon's
    // own parsers take for what they are.
    let (a, b) = (Client::new(0), Client::new(4999));
    assert_ne!(a.mac, b.mac);
    assert_eq!(a.v4, Ipv4Addr::new(10, 0, 2, 0));
    assert_eq!(b.v4, Ipv4Addr::new(10, 0, 21, 135));
    assert_eq!(b.v6[1], "2001:db8:1:0:2::1387".parse::<Ipv6Addr>().unwrap());
    assert_eq!(a.v6[0].segments()[..4], [0x2001, 0xdb8, 1, 0]);
    assert_eq!(a.v6[0].octets()[8..], a.mac.eui64());
    let frames = b.arrival_frames();
    assert_eq!(frames.len(), 3);
    let announce = arp::Repr::parse(&frames[0][ethernet::HEADER_LEN..]).unwrap();
    assert_eq!(
        (announce.sender_mac, announce.sender_ip, announce.target_ip),
        (b.mac, b.v4, b.v4)
    );
    assert_eq!(ethernet::Repr::parse(&frames[1]).unwrap().src, b.mac);
    let (ip, ns) = l3roamd::wire::icmpv6::parse_ns_packet(&frames[2][ethernet::HEADER_LEN..])
        .expect("an NS the daemon's snooping parses");
    assert_eq!(
        (ip.src, ns.target, ns.source_ll),
        (b.v6[1], GW_IP6, Some(b.mac))
    );
    assert!(l3roamd::wire::icmpv6::verify_checksum(
        &ip.src,
        &ip.dst,
        &frames[2][ethernet::HEADER_LEN + ipv6::HEADER_LEN..]
    ));
    let request = neighbour_request(7, 3, &IpAddr::V4(b.v4), b.mac, NUD_FAILED);
    let msg = nl::messages(&request).next().unwrap().unwrap();
    let (ndmsg, _) = nl::NdMsg::parse(msg.payload).unwrap();
    assert_eq!(
        (ndmsg.flags, ndmsg.state, ndmsg.index),
        (NTF_EXT_LEARNED, NUD_FAILED, 3)
    );
}
