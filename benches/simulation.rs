//! Benchmark 4: the in-process simulator at scale (BENCHMARKS.md "4. Simulation at scale").
//!
//! 1,000 nodes, 20,000 clients and 10,000 roams by default, in virtual time, through the same
//! simulator as tests/simulation.rs. Reports intercom packets per roam by message type,
//! transmissions per SEEK, engine CPU per event by kind, engine memory per client and at rest,
//! roams completed and failed, and the run's wall and CPU time. The tables go to stdout as
//! Markdown; with `--out DIR` the raw data go to DIR as TSV for the plots.
//!
//! `cargo bench --bench simulation -- [--quick] [--nodes N] [--clients N] [--roams N]
//! [--seeks N] [--seed N] [--roam-interval-ms N] [--loss-permille N] [--out DIR]`
//!
//! Run by `cargo test --benches` (without cargo bench's `--bench` argument), it checks its
//! own statistics helpers and a tiny mesh instead.

#[path = "../tests/sim/mod.rs"]
mod sim;
#[path = "../tests/stats/mod.rs"]
mod stats;

use l3roamd::engine::rng::Rng;
use l3roamd::prefix::IpPrefix;
use l3roamd::time::{Duration, Instant};
use l3roamd::wire::MacAddr;
use l3roamd::wire::intercom::{self, Message, MessageType, Repr};
use sim::{EVENT_KINDS, Mesh, Params, Profile};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};

// ----- the heap, counted -----

/// The system allocator, counting the bytes live and their peak: the engines' heap is what
/// dropping them gives back.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: every call is passed on unchanged to the system allocator; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is the system allocator's.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from the system allocator.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, and `new_size` is the caller's to vouch for.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_heap() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// CPU time of the whole process (it runs on one thread).
fn cpu_time() -> std::time::Duration {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID) {
        Ok(t) => std::time::Duration::new(t.tv_sec() as u64, t.tv_nsec() as u32),
        Err(_) => std::time::Duration::ZERO,
    }
}

/// The process's peak resident set (VmHWM), in bytes.
fn max_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

// ----- options -----

#[derive(Clone, Debug, PartialEq)]
struct Options {
    nodes: usize,
    clients: usize,
    roams: usize,
    seeks: usize,
    seed: u64,
    roam_interval: Duration,
    loss_permille: u32,
    out: Option<String>,
    /// Progress lines on stderr.
    progress: bool,
}

impl Options {
    fn full() -> Options {
        Options {
            nodes: 1000,
            clients: 20_000,
            roams: 10_000,
            seeks: 1000,
            seed: 1,
            roam_interval: Duration::from_millis(50),
            loss_permille: 10,
            out: None,
            progress: true,
        }
    }

    fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options::full();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = |name: &str| -> Result<u64, String> {
                it.next()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| format!("{name} needs a number"))
            };
            match arg.as_str() {
                // cargo bench passes it; cargo test does not.
                "--bench" => {}
                "--quick" => {
                    o.nodes = 200;
                    o.clients = 4000;
                    o.roams = 1000;
                    o.seeks = 100;
                }
                "--nodes" => o.nodes = value(arg)? as usize,
                "--clients" => o.clients = value(arg)? as usize,
                "--roams" => o.roams = value(arg)? as usize,
                "--seeks" => o.seeks = value(arg)? as usize,
                "--seed" => o.seed = value(arg)?,
                "--roam-interval-ms" => o.roam_interval = Duration::from_millis(value(arg)?),
                "--loss-permille" => o.loss_permille = value(arg)? as u32,
                "--out" => o.out = Some(it.next().ok_or("--out needs a directory")?.clone()),
                other => return Err(format!("unknown argument {other}")),
            }
        }
        if o.nodes < 2 || o.nodes > 65_000 {
            return Err("--nodes: 2 to 65000".into());
        }
        if o.clients == 0 || o.clients + o.seeks > 1 << 20 {
            return Err("--clients: 1 to about a million, sleepers included".into());
        }
        if o.roam_interval.is_zero() || o.loss_permille > 1000 {
            return Err("--roam-interval-ms must be positive, --loss-permille at most 1000".into());
        }
        Ok(o)
    }
}

// ----- topology -----

/// Gateways per node: a supernode per 250 nodes, as Freifunk communities run them.
const NODES_PER_GATEWAY: usize = 250;
/// Nodes within radio range of a node, on average: who a walking client can roam to.
const RADIO_NEIGHBOURS: f64 = 4.0;
/// Nodes that mesh over Wi-Fi with the others in range (Gluon's mesh-on-Wi-Fi).
const WIFI_MESH_PERMILLE: u32 = 800;
/// Nodes with a VPN uplink to a gateway; every island without one gets one.
const VPN_UPLINK_PERMILLE: u32 = 300;

struct Topology {
    gateways: usize,
    links: Vec<(usize, usize)>,
    /// Per node, the nodes within radio range (for gateways: none).
    radio: Vec<Vec<usize>>,
    vpn_links: usize,
}

fn uniform(rng: &mut Rng) -> f64 {
    f64::from(rng.next_u32()) / 4_294_967_296.0
}

/// Gateways 0..g, full-meshed among themselves (the backbone); the other nodes spread
/// uniformly over a square, meshing over Wi-Fi with the nodes in radio range, some with a
/// VPN uplink to a gateway, and every Wi-Fi island without an uplink given one.
fn topology(n: usize, rng: &mut Rng) -> Topology {
    let g = n.div_ceil(NODES_PER_GATEWAY).clamp(1, n - 1);
    let pos: Vec<(f64, f64)> = (0..n).map(|_| (uniform(rng), uniform(rng))).collect();
    let mesh_wifi: Vec<bool> = (0..n)
        .map(|i| i >= g && rng.below(1000) < WIFI_MESH_PERMILLE)
        .collect();
    let routers = (n - g) as f64;
    let range2 = RADIO_NEIGHBOURS / (std::f64::consts::PI * routers);
    let mut radio = vec![Vec::new(); n];
    let mut links = Vec::new();
    for a in 0..g {
        for b in a + 1..g {
            links.push((a, b));
        }
    }
    for a in g..n {
        for b in a + 1..n {
            let (dx, dy) = (pos[a].0 - pos[b].0, pos[a].1 - pos[b].1);
            if dx * dx + dy * dy <= range2 {
                radio[a].push(b);
                radio[b].push(a);
                if mesh_wifi[a] && mesh_wifi[b] {
                    links.push((a, b));
                }
            }
        }
    }
    // A node alone in its corner still has a nearest neighbour to roam to.
    for a in g..n {
        if radio[a].is_empty() {
            let nearest = (g..n).filter(|&b| b != a).min_by(|&b, &c| {
                let d = |x: usize| (pos[a].0 - pos[x].0).powi(2) + (pos[a].1 - pos[x].1).powi(2);
                d(b).total_cmp(&d(c))
            });
            radio[a].extend(nearest);
        }
    }
    let mut uplinked = vec![false; n];
    let mut vpn_links = 0;
    for (a, up) in uplinked.iter_mut().enumerate().skip(g) {
        if rng.below(1000) < VPN_UPLINK_PERMILLE {
            links.push((rng.below(g as u32) as usize, a));
            *up = true;
            vpn_links += 1;
        }
    }
    // Islands: components of the Wi-Fi links among the routers.
    let mut island = vec![usize::MAX; n];
    let mut wifi = vec![Vec::new(); n];
    for &(a, b) in &links {
        if a >= g && b >= g {
            wifi[a].push(b);
            wifi[b].push(a);
        }
    }
    for start in g..n {
        if island[start] != usize::MAX {
            continue;
        }
        let mut members = vec![start];
        island[start] = start;
        let mut k = 0;
        while k < members.len() {
            for &m in &wifi[members[k]] {
                if island[m] == usize::MAX {
                    island[m] = start;
                    members.push(m);
                }
            }
            k += 1;
        }
        if !members.iter().any(|&m| uplinked[m]) {
            let m = members[rng.below(members.len() as u32) as usize];
            links.push((rng.below(g as u32) as usize, m));
            uplinked[m] = true;
            vpn_links += 1;
        }
    }
    Topology {
        gateways: g,
        links,
        radio,
        vpn_links,
    }
}

// ----- clients -----

fn mac_of(client: usize) -> MacAddr {
    let i = client as u32;
    MacAddr([
        0x02,
        0x11,
        (i >> 24) as u8,
        (i >> 16) as u8,
        (i >> 8) as u8,
        i as u8,
    ])
}

fn client_of(mac: &MacAddr) -> Option<usize> {
    let m = mac.0;
    (m[0] == 0x02 && m[1] == 0x11).then(|| u32::from_be_bytes([m[2], m[3], m[4], m[5]]) as usize)
}

/// A dual-stack client as Gluon's clients are: its EUI-64 link-local address, a stable and
/// a temporary (privacy) global IPv6 address, and an IPv4 lease.
fn addresses_of(client: usize) -> Vec<Ipv6Addr> {
    let i = client as u32;
    let (hi, lo) = ((i >> 16) as u16, i as u16);
    let v4 = u32::from(Ipv4Addr::new(10, 0, 0, 0)) + 1 + i;
    vec![
        mac_of(client).eui64_link_local(),
        Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, hi, lo, 1),
        Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, hi, lo, 2),
        Ipv4Addr::from(v4).to_ipv6_mapped(),
    ]
}

/// An IPv6 UDP packet from a host on the Internet to `dst`.
fn packet_to(dst: Ipv6Addr) -> Vec<u8> {
    let mut packet = vec![0x60, 0, 0, 0, 0, 1, 17, 64];
    packet.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 5, 0, 0, 0, 0, 1).octets());
    packet.extend_from_slice(&dst.octets());
    packet.push(0);
    packet
}

fn packet_destination(packet: &[u8]) -> Option<Ipv6Addr> {
    let bytes: [u8; 16] = packet.get(24..40)?.try_into().ok()?;
    Some(Ipv6Addr::from(bytes))
}

// ----- statistics -----

/// The `p`-th percentile (nearest rank, 0..=100, tests/stats) of sorted values; 0 when empty.
fn percentile(sorted: &[u64], p: usize) -> u64 {
    stats::nearest_rank(sorted, p).unwrap_or(0)
}

fn mean(values: &[u64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<u64>() as f64 / values.len() as f64
    }
}

/// (value, how many) for each value from 0 to the largest.
fn histogram(values: &[u64]) -> Vec<(u64, u64)> {
    let max = values.iter().copied().max().unwrap_or(0);
    let mut counts = vec![0u64; max as usize + 1];
    for &v in values {
        counts[v as usize] += 1;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(v, c)| (v as u64, c))
        .collect()
}

fn bytes(b: f64) -> String {
    if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{:.2} KiB", b / 1024.0)
    } else {
        format!("{b:.0} B")
    }
}

/// The intercom message a datagram carries and whose client it concerns.
fn classify(datagram: &[u8]) -> (Option<MessageType>, Option<MacAddr>) {
    match Repr::parse(datagram) {
        Ok(Repr { message, .. }) => {
            let mac = match &message {
                Message::Claim { mac } | Message::Ack { mac } => Some(*mac),
                Message::Info(info) => Some(info.mac),
                Message::Seek { .. } => None,
            };
            (Some(message.msg_type()), mac)
        }
        Err(_) => (
            intercom::Packet::new_checked(datagram)
                .ok()
                .and_then(|p| p.msg_type().ok()),
            None,
        ),
    }
}

// ----- the run -----

type Counter = fn(&l3roamd::engine::stats::Stats) -> u64;

/// The engines' limit counters (get_stats "limits") and flap damping, summed over the mesh.
const LIMITS: [(&str, Counter); 13] = [
    ("clients", |s| s.limit_clients),
    ("addresses", |s| s.limit_addresses),
    ("old_clients", |s| s.limit_old_clients),
    ("queue_destinations", |s| s.limit_queue_destinations),
    ("queue_packets", |s| s.limit_queue_packets),
    ("seeks", |s| s.limit_seeks),
    ("seek_solicitations", |s| s.limit_seek_solicitations),
    ("icmp_errors", |s| s.limit_icmp_errors),
    ("dad_probes", |s| s.limit_dad_probes),
    ("flap_records", |s| s.limit_flap_records),
    ("duplicate_cache", |s| s.limit_duplicate_cache),
    ("kernel_view", |s| s.limit_kernel_view),
    ("flaps_detected", |s| s.flaps_detected),
];

/// Message types counted per roam.
const TYPES: [MessageType; 4] = [
    MessageType::Claim,
    MessageType::Info,
    MessageType::Ack,
    MessageType::Seek,
];

fn type_index(kind: MessageType) -> usize {
    match kind {
        MessageType::Claim => 0,
        MessageType::Info => 1,
        MessageType::Ack => 2,
        MessageType::Seek => 3,
    }
}

/// A passive client says nothing for this long after its move (then it talks every 20 s,
/// as every client does): only the Wi-Fi association tells the new node.
const PASSIVE_QUIET: Duration = Duration::from_secs(20);
/// How long a roam may take before it counts as failed.
const ROAM_DEADLINE: Duration = Duration::from_secs(10);
/// How long after the last roam a failed one is waited for.
const HEAL_LIMIT: Duration = Duration::from_secs(300);
/// How often a failed roam is looked at again, to see when it heals.
const OVERDUE_CHECK: Duration = Duration::from_millis(100);
/// Clients arrive over this long before the roams start.
const ARRIVALS: Duration = Duration::from_secs(60);
/// Then the mesh settles (routes propagate, every first dump is long done).
const SETTLE: Duration = Duration::from_secs(30);

struct Roam {
    client: usize,
    from: usize,
    to: usize,
    passive: bool,
    hops: u32,
    at: Instant,
    /// Until the new node alone served the client; `None` if it never did by the end.
    took: Option<Duration>,
    checked_at: Instant,
    /// Datagrams by [`TYPES`] concerning this client until its next roam.
    datagrams: [u64; 4],
    transmissions: [u64; 4],
}

struct SeekEmission {
    origin: usize,
    at: Instant,
    datagrams: u64,
    transmissions: u64,
}

struct Sought {
    gateway: usize,
    /// From the gateway to the sleeper's node.
    hops: u32,
    /// SEEKs the gateway originated for it.
    emissions: u32,
    at: Instant,
    delivered: Option<Duration>,
}

#[derive(Default)]
struct Tally {
    roams: Vec<Roam>,
    /// client -> index of its latest roam.
    latest: BTreeMap<usize, usize>,
    /// Roams not finished yet, oldest first.
    in_flight: Vec<usize>,
    /// client -> nodes it has been on: the only ones that can have learned it.
    visited: BTreeMap<usize, Vec<usize>>,
    seeks: BTreeMap<(Ipv6Addr, [u8; 4]), SeekEmission>,
    sought: BTreeMap<Ipv6Addr, Sought>,
    /// How much of the mesh's re-injection record [`Tally::check`] has seen.
    reinjected_seen: usize,
    /// Datagrams about clients that have not roamed, by type.
    unattributed: [u64; 4],
    other_datagrams: u64,
    icmp_errors: u64,
}

impl Tally {
    fn visit(&mut self, client: usize, node: usize) {
        let v = self.visited.entry(client).or_default();
        if !v.contains(&node) {
            v.push(node);
        }
    }

    /// Marks the roams in flight that are done: the new node alone serves the client. A roam
    /// past its deadline has failed, but is still watched (less often) to see when it heals.
    fn check(&mut self, mesh: &Mesh) {
        let now = mesh.now;
        let roams = &mut self.roams;
        let visited = &self.visited;
        self.in_flight.retain(|&r| {
            let roam = &mut roams[r];
            if now.saturating_since(roam.at) > ROAM_DEADLINE {
                if now.saturating_since(roam.checked_at) < OVERDUE_CHECK {
                    return true;
                }
                roam.checked_at = now;
            }
            let mac = mac_of(roam.client);
            let engine = &mesh.nodes[roam.to].engine;
            // Cheap first: the new node has not even taken the client yet.
            if !(engine.serves(&mac) && engine.holds_node_client_ip(&mac)) {
                return true;
            }
            let others = visited.get(&roam.client).map_or(&[][..], |v| &v[..]);
            if mesh.served_only_by_among(roam.client, roam.to, others) {
                roam.took = Some(now.saturating_since(roam.at));
                return false;
            }
            true
        });
        // Packets re-injected at the gateway they waited at: a SEEK found their client.
        for (node, packet) in &mesh.reinjected[self.reinjected_seen..] {
            if let Some(s) = packet_destination(packet).and_then(|d| self.sought.get_mut(&d)) {
                if s.gateway == *node && s.delivered.is_none() {
                    s.delivered = Some(now.saturating_since(s.at));
                }
            }
        }
        self.reinjected_seen = mesh.reinjected.len();
    }

    /// Takes what the mesh recorded since the last call.
    fn collect(&mut self, mesh: &mut Mesh) {
        for sent in std::mem::take(&mut mesh.sent) {
            let (kind, mac) = classify(&sent.bytes);
            let Some(kind) = kind else {
                self.other_datagrams += 1;
                continue;
            };
            let t = type_index(kind);
            if kind == MessageType::Seek {
                if let Ok(Repr {
                    header,
                    message: Message::Seek { addresses },
                }) = Repr::parse(&sent.bytes)
                {
                    if sent.from < mesh.nodes.len() && mesh.nodes[sent.from].ip == header.sender {
                        for a in addresses {
                            if let Some(s) = self.sought.get_mut(&a) {
                                s.emissions += 1;
                            }
                        }
                    }
                }
                if let Ok(p) = intercom::Packet::new_checked(&sent.bytes[..]) {
                    let e = self
                        .seeks
                        .entry((p.sender(), p.nonce()))
                        .or_insert(SeekEmission {
                            origin: sent.from,
                            at: sent.at,
                            datagrams: 0,
                            transmissions: 0,
                        });
                    e.datagrams += 1;
                    e.transmissions += u64::from(sent.transmissions);
                }
                continue;
            }
            match mac
                .and_then(|m| client_of(&m))
                .and_then(|c| self.latest.get(&c))
            {
                Some(&r) => {
                    self.roams[r].datagrams[t] += 1;
                    self.roams[r].transmissions[t] += u64::from(sent.transmissions);
                }
                None => self.unattributed[t] += 1,
            }
        }
        mesh.reinjected.clear();
        self.reinjected_seen = 0;
        self.icmp_errors += std::mem::take(&mut mesh.icmp_errors).len() as u64;
        mesh.solicited.clear();
    }
}

/// Runs the mesh until `until`, checking the roams in flight after every step.
fn advance(mesh: &mut Mesh, tally: &mut Tally, until: Instant) {
    mesh.run_until(until, &mut |m: &Mesh| {
        if !tally.in_flight.is_empty() || m.reinjected.len() > tally.reinjected_seen {
            tally.check(m);
        }
    });
    tally.check(mesh);
    tally.collect(mesh);
}

struct Report {
    out: String,
}

impl Report {
    fn line(&mut self, text: &str) {
        self.out.push_str(text);
        self.out.push('\n');
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        // `cargo test --benches` runs this target without cargo bench's argument.
        self_test();
        return;
    }
    let options = match Options::parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("simulation: {e}");
            std::process::exit(2);
        }
    };
    let report = run(&options);
    print!("{}", report.out);
}

fn run(o: &Options) -> Report {
    let wall = std::time::Instant::now();
    let cpu0 = cpu_time();
    let mut report = Report { out: String::new() };
    let mut rng = Rng::from_u64(o.seed);
    let params = Params {
        routing_delay: Duration::from_millis(500),
        link_delay_min: Duration::from_millis(1),
        link_delay_max: Duration::from_millis(10),
        loss_permille: o.loss_permille,
        ipv4_prefix: IpPrefix::parse("10.0.0.0/8").expect("a prefix").prefix,
        ..Params::default()
    };

    // Engine memory at rest: fresh engines, as the mesh starts them, measured apart.
    let rest = {
        let before = live_heap();
        let engines: Vec<_> = (0..o.nodes)
            .map(|i| sim::node_engine(i, &params, o.seed))
            .collect();
        let held = live_heap().saturating_sub(before);
        drop(engines);
        held as f64 / o.nodes as f64
    };

    let topo = topology(o.nodes, &mut rng);
    let mut mesh = Mesh::new(o.nodes, &topo.links, params, o.seed);
    mesh.profile = Some(Profile::default());
    let g = topo.gateways;
    let routers: Vec<usize> = (g..o.nodes).collect();
    let degrees: Vec<u64> = mesh
        .nodes
        .iter()
        .map(|n| n.neighbours.len() as u64)
        .collect();
    let (mut diameter, mut distance_sum, mut pairs) = (0u32, 0u64, 0u64);
    for (a, row) in mesh.hops.iter().enumerate() {
        for &d in &row[a + 1..] {
            diameter = diameter.max(d);
            distance_sum += u64::from(d);
            pairs += 1;
        }
    }
    if o.progress {
        eprintln!(
            "simulation: {} nodes ({g} gateways), {} links, diameter {diameter} hops",
            o.nodes,
            topo.links.len()
        );
    }

    // Clients arrive at random routers over ARRIVALS, talking at once; the sleepers are
    // there from the start but silent: no node knows them until a SEEK finds them.
    let mut tally = Tally::default();
    let mut arrivals: Vec<(u64, usize, usize)> = (0..o.clients)
        .map(|c| {
            let at = u64::from(rng.below(ARRIVALS.as_millis() as u32));
            let node = routers[rng.below(routers.len() as u32) as usize];
            (at, c, node)
        })
        .collect();
    arrivals.sort_unstable();
    for c in 0..o.clients + o.seeks {
        mesh.add_client(mac_of(c), addresses_of(c));
    }
    for s in o.clients..o.clients + o.seeks {
        let node = routers[rng.below(routers.len() as u32) as usize];
        mesh.attach_silent(s, node);
        tally.visit(s, node);
    }
    for (at, c, node) in arrivals {
        advance(&mut mesh, &mut tally, Instant::from_millis(at));
        mesh.attach(c, node);
        tally.visit(c, node);
    }
    let roams_start = Instant::ZERO + ARRIVALS + SETTLE;
    advance(&mut mesh, &mut tally, roams_start);
    let phase1_events: u64 = mesh.profile.as_ref().map_or(0, |p| p.count.iter().sum());
    if o.progress {
        eprintln!(
            "simulation: {} clients arrived, {} events so far, {:.1} s wall",
            o.clients,
            phase1_events,
            wall.elapsed().as_secs_f64()
        );
    }

    // One roam every roam_interval: a client not already roaming moves to a node within
    // radio range of its own, half of them actively (talking at once), half passively (only
    // the Wi-Fi association tells the new node; the client answers solicitations). Every
    // roams/seeks roams, a packet from the Internet for a sleeper reaches a gateway.
    let seek_every = o
        .roams
        .checked_div(o.seeks)
        .map_or(usize::MAX, |n| n.max(1));
    let mut next_sleeper = o.clients;
    let mut t = roams_start;
    for r in 0..o.roams {
        t = t + o.roam_interval;
        advance(&mut mesh, &mut tally, t);
        // A client whose last roam is still unresolved stays out of it, while there are others.
        let mut client = rng.below(o.clients as u32) as usize;
        for _ in 0..1000 {
            if !tally
                .latest
                .get(&client)
                .is_some_and(|&i| tally.in_flight.contains(&i))
            {
                break;
            }
            client = rng.below(o.clients as u32) as usize;
        }
        let from = mesh.clients[client].at.expect("an arrived client");
        let near = &topo.radio[from];
        let to = near[rng.below(near.len() as u32) as usize];
        let passive = rng.below(2) == 1;
        mesh.detach(client);
        if passive {
            mesh.attach_quiet(client, to, PASSIVE_QUIET);
            mesh.input(
                to,
                l3roamd::engine::Input::Station {
                    ifindex: sim::CLIENT_IF,
                    mac: mac_of(client),
                    associated: true,
                },
            );
        } else {
            mesh.attach(client, to);
        }
        tally.visit(client, to);
        let index = tally.roams.len();
        tally.roams.push(Roam {
            client,
            from,
            to,
            passive,
            hops: mesh.hops[from][to],
            at: mesh.now,
            took: None,
            checked_at: mesh.now,
            datagrams: [0; 4],
            transmissions: [0; 4],
        });
        tally.latest.insert(client, index);
        tally.in_flight.push(index);
        if (r + 1) % seek_every == 0 && next_sleeper < o.clients + o.seeks {
            let gateway = rng.below(g as u32) as usize;
            let dst = addresses_of(next_sleeper)[1];
            let sleeper_at = mesh.clients[next_sleeper]
                .at
                .expect("a sleeper is attached");
            tally.sought.insert(
                dst,
                Sought {
                    gateway,
                    hops: mesh.hops[gateway][sleeper_at],
                    emissions: 0,
                    at: mesh.now,
                    delivered: None,
                },
            );
            mesh.input(gateway, l3roamd::engine::Input::TunPacket(packet_to(dst)));
            next_sleeper += 1;
        }
        if o.progress && (r + 1) % (o.roams / 10).max(1) == 0 {
            eprintln!(
                "simulation: {} roams, {} in flight, {:.1} s wall",
                r + 1,
                tally.in_flight.len(),
                wall.elapsed().as_secs_f64()
            );
        }
    }
    // The last roams and SEEKs get their time; failed roams, until they heal (the node
    // left behind lets go when its neighbour entries age out) or give up.
    let mut end = t + ROAM_DEADLINE + Duration::from_secs(5);
    advance(&mut mesh, &mut tally, end);
    while !tally.in_flight.is_empty() && end.saturating_since(t) < HEAL_LIMIT {
        end = end + Duration::from_secs(10);
        advance(&mut mesh, &mut tally, end);
    }
    let virtual_time = mesh.now.saturating_since(Instant::ZERO);
    let profile = mesh.profile.take().unwrap_or_default();
    let events: u64 = profile.count.iter().sum();
    let engine_nanos: u64 = profile.nanos.iter().sum();

    // The engines' own counters of work they refused: their limits, mesh-wide.
    let limits: Vec<(&str, u64)> = LIMITS
        .iter()
        .map(|(name, get)| {
            (
                *name,
                mesh.nodes.iter().map(|n| get(n.engine.stats())).sum(),
            )
        })
        .filter(|(_, total)| *total > 0)
        .collect();

    // Engine memory after the run: what dropping the engines gives back.
    let clients_served: usize = mesh
        .nodes
        .iter()
        .map(|n| n.engine.client_macs().len())
        .sum();
    let per_node_clients: Vec<u64> = mesh
        .nodes
        .iter()
        .map(|n| n.engine.client_macs().len() as u64)
        .collect();
    let mut engines_heap = 0usize;
    for node in std::mem::take(&mut mesh.nodes) {
        let sim::Node { engine, .. } = node;
        let before = live_heap();
        drop(engine);
        engines_heap += before.saturating_sub(live_heap());
    }
    let cpu = cpu_time().saturating_sub(cpu0);
    let wall = wall.elapsed();

    // ----- the report -----
    let overhead = timer_overhead();
    let r = &mut report;
    let roams = &tally.roams;
    let done: Vec<&Roam> = roams
        .iter()
        .filter(|r| r.took.is_some_and(|t| t <= ROAM_DEADLINE))
        .collect();
    let failed: Vec<&Roam> = roams
        .iter()
        .filter(|r| r.took.is_none_or(|t| t > ROAM_DEADLINE))
        .collect();
    let took_sorted = |filter: &dyn Fn(&Roam) -> bool| {
        let mut v: Vec<u64> = done
            .iter()
            .filter(|r| filter(r))
            .map(|r| r.took.map_or(0, |t| t.as_millis() as u64))
            .collect();
        v.sort_unstable();
        v
    };
    let total_datagrams = |r: &Roam| r.datagrams[..3].iter().sum::<u64>();
    let mut per_roam: Vec<u64> = roams.iter().map(total_datagrams).collect();
    per_roam.sort_unstable();
    let mut roam_hops: Vec<u64> = roams.iter().map(|r| u64::from(r.hops)).collect();
    roam_hops.sort_unstable();

    r.line(&format!(
        "Simulation at scale: {} nodes, {} clients, {} roams, {} SEEK targets (seed {}, loss {} per mille per hop, one roam every {} ms)",
        o.nodes,
        o.clients,
        o.roams,
        o.seeks,
        o.seed,
        o.loss_permille,
        o.roam_interval.as_millis()
    ));
    r.line("");
    r.line(&format!(
        "Topology: gateways {g} (full mesh), routers {}; {} links ({} VPN uplinks); degree mean {:.1}, max {}; diameter {diameter} hops, mean distance {:.1} hops; roams go {:.2} hops on average (median {}, max {}).",
        routers.len(),
        topo.links.len(),
        topo.vpn_links,
        mean(&degrees),
        degrees.iter().max().copied().unwrap_or(0),
        distance_sum as f64 / pairs.max(1) as f64,
        mean(&roam_hops),
        percentile(&roam_hops, 50),
        roam_hops.last().copied().unwrap_or(0)
    ));
    r.line("");
    r.line("| figure | value |");
    r.line("| --- | --- |");
    r.line(&format!(
        "| roams completed / failed (not served by the new node alone within {} s) | {} / {} |",
        ROAM_DEADLINE.as_secs(),
        done.len(),
        failed.len()
    ));
    if !failed.is_empty() {
        // What each failed roam followed: the client's previous move, and how far the node
        // before that is from the new one (a CLAIM needs a route to the node-client IP).
        let described: Vec<String> = failed
            .iter()
            .map(|f| {
                let before = roams
                    .iter()
                    .rfind(|p| p.client == f.client && p.at < f.at);
                let history = match before {
                    Some(p) => format!(
                        "node{} -> node{} -> node{}, {} ms apart; {} -> {}: {} hops, {} -> {}: {} hops",
                        p.from,
                        f.from,
                        f.to,
                        f.at.saturating_since(p.at).as_millis(),
                        f.from,
                        f.to,
                        f.hops,
                        p.from,
                        f.to,
                        mesh.hops[p.from][f.to]
                    ),
                    None => format!("node{} -> node{}, {} hops", f.from, f.to, f.hops),
                };
                let healed = f.took.map_or("never".into(), |t| format!("{} s", t.as_secs()));
                format!("{history}; served by the new node alone after {healed}")
            })
            .collect();
        r.line(&format!("| failed roams | {} |", described.join("<br>")));
    }
    for (label, filter) in [
        ("all", &(|_: &Roam| true) as &dyn Fn(&Roam) -> bool),
        ("active", &|r: &Roam| !r.passive),
        ("passive", &|r: &Roam| r.passive),
    ] {
        let v = took_sorted(filter);
        r.line(&format!(
            "| handover in virtual time, {label} ({} roams): median / p95 / max | {} / {} / {} ms |",
            v.len(),
            percentile(&v, 50),
            percentile(&v, 95),
            v.last().copied().unwrap_or(0)
        ));
    }
    let all_tx: Vec<u64> = roams
        .iter()
        .map(|r| r.transmissions[..3].iter().sum())
        .collect();
    r.line(&format!(
        "| intercom datagrams per roam (CLAIM+INFO+ACK): mean / median / p95 / max | {:.2} / {} / {} / {} |",
        mean(&per_roam),
        percentile(&per_roam, 50),
        percentile(&per_roam, 95),
        per_roam.last().copied().unwrap_or(0)
    ));
    r.line(&format!(
        "| link-level transmissions per roam: mean | {:.2} |",
        mean(&all_tx)
    ));
    let emissions: Vec<&SeekEmission> = tally.seeks.values().collect();
    let seek_datagrams: Vec<u64> = emissions.iter().map(|e| e.datagrams).collect();
    let seek_tx: Vec<u64> = emissions.iter().map(|e| e.transmissions).collect();
    let mut sorted_seek = seek_datagrams.clone();
    sorted_seek.sort_unstable();
    r.line(&format!(
        "| SEEK emissions (originated, repeats included) | {} |",
        emissions.len()
    ));
    r.line(&format!(
        "| datagrams per SEEK emission (origin + forwards): mean / min / max | {:.1} / {} / {} |",
        mean(&seek_datagrams),
        sorted_seek.first().copied().unwrap_or(0),
        sorted_seek.last().copied().unwrap_or(0)
    ));
    r.line(&format!(
        "| link-level copies per SEEK emission (one per neighbour per multicast): mean | {:.1} |",
        mean(&seek_tx)
    ));
    let mut delivered: Vec<u64> = tally
        .sought
        .values()
        .filter_map(|s| s.delivered.map(|d| d.as_millis() as u64))
        .collect();
    delivered.sort_unstable();
    r.line(&format!(
        "| sought sleepers whose packet was re-injected / sought; time to re-injection median / max | {} / {}; {} / {} ms |",
        delivered.len(),
        tally.sought.len(),
        percentile(&delivered, 50),
        delivered.last().copied().unwrap_or(0)
    ));
    let mut sought_hops: Vec<u64> = tally.sought.values().map(|s| u64::from(s.hops)).collect();
    sought_hops.sort_unstable();
    let expired: Vec<String> = tally
        .sought
        .values()
        .filter(|s| s.delivered.is_none())
        .map(|s| format!("{} hops, {} SEEKs", s.hops, s.emissions))
        .collect();
    let repeated = tally.sought.values().filter(|s| s.emissions > 1).count();
    r.line(&format!(
        "| sleepers' distance from the gateway: median / max; sought with a repeated SEEK | {} / {} hops; {repeated} |",
        percentile(&sought_hops, 50),
        sought_hops.last().copied().unwrap_or(0),
    ));
    r.line(&format!(
        "| packets that expired (5 s) unanswered: distance, SEEKs sent for them | {} |",
        if expired.is_empty() {
            "none".to_string()
        } else {
            expired.join("; ")
        }
    ));
    let overhead_ns = overhead.as_nanos() as f64;
    let engine_ns = engine_nanos as f64 - overhead_ns * events as f64;
    let sim_ns = cpu.as_nanos() as f64 - engine_nanos as f64;
    r.line(&format!(
        "| engine limits hit and flaps damped, summed over all nodes (get_stats names) | {} |",
        if limits.is_empty() {
            "none".to_string()
        } else {
            limits
                .iter()
                .map(|(name, n)| format!("{name} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    ));
    r.line(&format!(
        "| engine CPU per event, all kinds ({events} events) | {:.2} µs |",
        engine_ns.max(0.0) / events.max(1) as f64 / 1000.0
    ));
    r.line(&format!(
        "| simulator's own CPU per event (timing overhead included) | {:.2} µs |",
        sim_ns.max(0.0) / events.max(1) as f64 / 1000.0
    ));
    r.line(&format!(
        "| engine CPU per node per second of virtual time | {:.1} µs |",
        engine_ns.max(0.0) / o.nodes as f64 / virtual_time.as_secs_f64().max(1.0) / 1000.0
    ));
    r.line(&format!(
        "| engine heap at rest, per node | {} |",
        bytes(rest)
    ));
    r.line(&format!(
        "| engines' heap after the run ({clients_served} clients served) | {} |",
        bytes(engines_heap as f64)
    ));
    r.line(&format!(
        "| engine heap per client: all engines / clients; above rest | {} ; {} |",
        bytes(engines_heap as f64 / clients_served.max(1) as f64),
        bytes(
            (engines_heap as f64 - rest * o.nodes as f64).max(0.0) / clients_served.max(1) as f64
        )
    ));
    r.line(&format!(
        "| clients per router after the run: mean / max | {:.1} / {} |",
        mean(&per_node_clients[g..]),
        per_node_clients.iter().max().copied().unwrap_or(0)
    ));
    r.line(&format!(
        "| bench process: peak heap / max RSS | {} / {} |",
        bytes(PEAK.load(Ordering::Relaxed) as f64),
        max_rss().map_or("?".into(), |b| bytes(b as f64))
    ));
    r.line(&format!(
        "| virtual time / wall time / CPU time (engine share) | {} s / {:.1} s / {:.1} s ({:.0} %) |",
        virtual_time.as_secs(),
        wall.as_secs_f64(),
        cpu.as_secs_f64(),
        100.0 * engine_ns.max(0.0) / cpu.as_nanos().max(1) as f64
    ));
    r.line("");

    r.line("Intercom datagrams per roam by message type (all datagrams about the roaming client until its next roam; link-level: one transmission per hop of a unicast):");
    r.line("");
    r.line("| message | datagrams per roam: mean | max | roams with one or more | link-level transmissions per roam: mean |");
    r.line("| --- | --- | --- | --- | --- |");
    for (t, kind) in TYPES.iter().enumerate().take(3) {
        let v: Vec<u64> = roams.iter().map(|r| r.datagrams[t]).collect();
        let tx: Vec<u64> = roams.iter().map(|r| r.transmissions[t]).collect();
        r.line(&format!(
            "| {kind:?} | {:.3} | {} | {} | {:.3} |",
            mean(&v),
            v.iter().max().copied().unwrap_or(0),
            v.iter().filter(|&&x| x > 0).count(),
            mean(&tx)
        ));
    }
    let unattributed: u64 = tally.unattributed.iter().sum();
    r.line(&format!(
        "| all | {:.3} | {} | {} | {:.3} |",
        mean(&per_roam),
        per_roam.last().copied().unwrap_or(0),
        per_roam.iter().filter(|&&x| x > 0).count(),
        mean(&all_tx)
    ));
    r.line("");
    r.line(&format!(
        "Datagrams about clients that never roamed: {unattributed}; unparsable: {}; ICMP errors sent: {}.",
        tally.other_datagrams, tally.icmp_errors
    ));
    r.line("");

    r.line(&format!(
        "Engine CPU per event by kind (wall-clock time inside handle_input/handle_timeout, {:.0} ns of timing overhead per event subtracted):",
        overhead_ns
    ));
    r.line("");
    r.line("| event | count | share of engine time | per event |");
    r.line("| --- | --- | --- | --- |");
    let mut rows: Vec<(usize, f64)> = (0..EVENT_KINDS.len())
        .filter(|&k| profile.count[k] > 0)
        .map(|k| {
            let ns = (profile.nanos[k] as f64 - overhead_ns * profile.count[k] as f64).max(0.0);
            (k, ns)
        })
        .collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    for &(k, ns) in &rows {
        r.line(&format!(
            "| {} | {} | {:.1} % | {:.2} µs |",
            EVENT_KINDS[k],
            profile.count[k],
            100.0 * ns / engine_ns.max(1.0),
            ns / profile.count[k] as f64 / 1000.0
        ));
    }

    if let Some(dir) = &o.out {
        let mut roams_tsv = String::from(
            "# roam\tclient\tfrom\tto\thops\tpassive\tstart_ms\thandover_ms\tclaim\tinfo\tack\tlink_tx\n",
        );
        for (i, x) in roams.iter().enumerate() {
            let _ = writeln!(
                roams_tsv,
                "{i}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                x.client,
                x.from,
                x.to,
                x.hops,
                u8::from(x.passive),
                x.at.as_millis(),
                x.took.map_or(-1, |t| t.as_millis() as i64),
                x.datagrams[0],
                x.datagrams[1],
                x.datagrams[2],
                x.transmissions[..3].iter().sum::<u64>()
            );
        }
        let mut hist = String::from("# datagrams\tactive_roams\tpassive_roams\n");
        let active: Vec<u64> = roams
            .iter()
            .filter(|r| !r.passive)
            .map(total_datagrams)
            .collect();
        let passive: Vec<u64> = roams
            .iter()
            .filter(|r| r.passive)
            .map(total_datagrams)
            .collect();
        let (ha, hp) = (histogram(&active), histogram(&passive));
        for v in 0..ha.len().max(hp.len()) {
            let get = |h: &[(u64, u64)]| h.get(v).map_or(0, |x| x.1);
            let _ = writeln!(hist, "{v}\t{}\t{}", get(&ha), get(&hp));
        }
        let mut cpu_tsv = String::from("# kind\tcount\tns_per_event\n");
        for &(k, ns) in &rows {
            let _ = writeln!(
                cpu_tsv,
                "\"{}\"\t{}\t{:.0}",
                EVENT_KINDS[k],
                profile.count[k],
                ns / profile.count[k] as f64
            );
        }
        let mut seeks_tsv = String::from("# origin\tat_ms\tdatagrams\ttransmissions\n");
        for e in &emissions {
            let _ = writeln!(
                seeks_tsv,
                "{}\t{}\t{}\t{}",
                e.origin,
                e.at.as_millis(),
                e.datagrams,
                e.transmissions
            );
        }
        for (name, text) in [
            ("simulation.tsv", roams_tsv),
            ("simulation-packets.tsv", hist),
            ("simulation-cpu.tsv", cpu_tsv),
            ("simulation-seeks.tsv", seeks_tsv),
        ] {
            let path = std::path::Path::new(dir).join(name);
            if let Err(e) = std::fs::write(&path, text) {
                eprintln!("simulation: {}: {e}", path.display());
                std::process::exit(1);
            }
        }
    }
    report
}

/// What timing one engine call costs by itself: the time an empty region measures.
fn timer_overhead() -> std::time::Duration {
    const ROUNDS: u32 = 1_000_000;
    let mut sum = std::time::Duration::ZERO;
    for _ in 0..ROUNDS {
        let t = std::time::Instant::now();
        sum += std::hint::black_box(t).elapsed();
    }
    sum / ROUNDS
}

// ----- self-test (cargo test --benches) -----

fn self_test() {
    // Nearest rank: the median of 1..=10 is 5, p95 is 10, p0 the smallest.
    let v: Vec<u64> = (1..=10).collect();
    assert_eq!(
        (percentile(&v, 50), percentile(&v, 95), percentile(&v, 0)),
        (5, 10, 1)
    );
    assert_eq!(percentile(&[], 50), 0);
    assert_eq!(percentile(&[7], 99), 7);
    assert_eq!(
        histogram(&[0, 2, 2, 3]),
        vec![(0, 1), (1, 0), (2, 2), (3, 1)]
    );
    assert_eq!(mean(&[1, 2, 3, 6]), 3.0);
    // Client numbers survive the MAC, and datagrams are attributed to the right client.
    for c in [0, 1, 255, 256, 20_000, 1 << 20] {
        assert_eq!(client_of(&mac_of(c)), Some(c));
    }
    assert_eq!(client_of(&MacAddr([2, 0, 0, 0, 0, 1])), None);
    let claim = Repr {
        header: intercom::Header {
            ttl: 255,
            nonce: [1, 2, 3, 4],
            sender: sim::node_ip(3),
        },
        message: Message::Claim { mac: mac_of(4242) },
    }
    .to_bytes();
    assert_eq!(
        classify(&claim),
        (Some(MessageType::Claim), Some(mac_of(4242)))
    );
    assert_eq!(classify(&[0xff]).0, None);
    // Every client gets its own addresses.
    let a: std::collections::BTreeSet<Ipv6Addr> = (0..70_000).flat_map(addresses_of).collect();
    assert_eq!(a.len(), 4 * 70_000);
    assert_eq!(
        packet_destination(&packet_to(a.first().copied().unwrap())),
        a.first().copied()
    );
    // The topology is connected, gateways are full-meshed, everyone has someone to roam to.
    let mut rng = Rng::from_u64(7);
    let topo = topology(300, &mut rng);
    let mesh = Mesh::new(300, &topo.links, Params::default(), 7);
    assert!(mesh.hops.iter().flatten().all(|&d| d != u32::MAX));
    assert_eq!(topo.gateways, 2);
    assert!(topo.radio[topo.gateways..].iter().all(|r| !r.is_empty()));
    assert!(topo.radio[..topo.gateways].iter().all(|r| r.is_empty()));
    // Options: defaults, --quick, and a mistake.
    let args = |s: &str| -> Vec<String> { s.split_whitespace().map(String::from).collect() };
    assert_eq!(Options::parse(&args("--bench")), Ok(Options::full()));
    let quick = Options::parse(&args("--quick --roams 50")).expect("parses");
    assert_eq!((quick.nodes, quick.roams), (200, 50));
    assert!(Options::parse(&args("--nodes")).is_err());
    assert!(Options::parse(&args("--frobnicate")).is_err());
    // A tiny run: every roam completes, with CLAIM, INFO and ACK.
    let tiny = Options {
        nodes: 20,
        clients: 50,
        roams: 20,
        seeks: 2,
        loss_permille: 0,
        progress: false,
        ..Options::full()
    };
    let report = run(&tiny);
    assert!(
        report.out.contains(
            "| roams completed / failed (not served by the new node alone within 10 s) | 20 / 0 |"
        ),
        "{}",
        report.out
    );
    println!("simulation bench self-test: ok");
}
