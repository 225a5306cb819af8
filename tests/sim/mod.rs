//! An in-process mesh: N engines, each with a fake kernel that answers operations as
//! rtnetlink would, joined by a fake network in which host routes and node-client IPs become
//! visible to the other nodes after a routing delay (per hop), unicast reaches whichever node
//! owns the destination in the sender's view, and multicast floods hop by hop. Loss, delay
//! and duplication come from a seeded PRNG, so a seed reproduces a run exactly. Optionally
//! ([`Mesh::enable_babel`]) every node also gets babeld's monitor stream: what it exports and
//! what it sees the others announce, as `xroute` and `route` updates.
#![allow(dead_code)]

use l3roamd::config::Config;
use l3roamd::engine::rng::Rng;
use l3roamd::engine::*;
use l3roamd::prefix::IpPrefix;
use l3roamd::time::{Duration, Instant};
use l3roamd::wire::MacAddr;
use l3roamd::wire::babel::{self, Change, Prefix, RouterId};
use l3roamd::wire::intercom::{self, MessageType};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv6Addr};

pub const CLIENT_IF: u32 = 3;
pub const MESH_IF: u32 = 2;
pub const LOOPBACK_IF: u32 = 1;
/// Client-side interface MAC of every node (only sent in NS options).
pub const NODE_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0xaa, 0xff]);

#[derive(Clone, Debug)]
pub struct Params {
    /// Per-hop delay before a node's route change is visible to its neighbours.
    pub routing_delay: Duration,
    /// Per-hop delay of an intercom datagram: uniform in [min, max].
    pub link_delay_min: Duration,
    pub link_delay_max: Duration,
    /// Per-hop loss and duplication, in parts per thousand.
    pub loss_permille: u32,
    pub dup_permille: u32,
    /// Kernel neighbour timing when a client has left: REACHABLE -> PROBE, PROBE -> FAILED,
    /// FAILED -> deleted.
    pub nud_reachable: Duration,
    pub nud_probe: Duration,
    pub nud_gc: Duration,
    /// Every node's `--key-file` keys; none: the unauthenticated intercom. The engines' wall
    /// clocks all start at 0 with the virtual clock, so they agree.
    pub keys: Vec<l3roamd::wire::auth::Key>,
    /// The IPv4 client prefix beside 2001:db8:1::/64: a /24 holds a few clients, a mesh of
    /// thousands needs more.
    pub ipv4_prefix: IpPrefix,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            routing_delay: Duration::from_millis(500),
            link_delay_min: Duration::from_millis(1),
            link_delay_max: Duration::from_millis(5),
            loss_permille: 0,
            dup_permille: 0,
            nud_reachable: Duration::from_secs(30),
            nud_probe: Duration::from_secs(3),
            nud_gc: Duration::from_secs(60),
            keys: Vec::new(),
            ipv4_prefix: IpPrefix::parse("198.51.100.0/24").unwrap().prefix,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Nud {
    Reachable,
    Probe,
    Failed,
}

#[derive(Clone, Debug)]
struct NeighEntry {
    mac: MacAddr,
    state: Nud,
    since: Instant,
}

/// What one node's kernel holds: what the engine installed, as rtnetlink would keep it.
#[derive(Debug, Default)]
pub struct FakeKernel {
    pub routes: BTreeSet<HostRoute>,
    /// Routes under the release protocol: babeld's release rule announces them at metric
    /// 65534, infinity one hop away, so to the rest of the mesh they are withdrawn.
    pub demoted: BTreeSet<HostRoute>,
    pub node_client_ips: BTreeSet<Ipv6Addr>,
    neighbours: BTreeMap<IpAddr, NeighEntry>,
}

pub struct Node {
    pub name: String,
    pub ip: Ipv6Addr,
    pub engine: Engine,
    pub kernel: FakeKernel,
    pub neighbours: Vec<usize>,
}

#[derive(Clone, Debug)]
pub struct SimClient {
    pub mac: MacAddr,
    /// Internal (16-byte) addresses; IPv4 ones in ::ffff:0:0/96.
    pub addrs: Vec<Ipv6Addr>,
    pub at: Option<usize>,
    /// Further nodes the client is on at the same time (a client bridged to two routers).
    pub also_at: Vec<usize>,
    /// Right after attaching, uses only its first address (the others come 20 s later),
    /// so that a hand-over must carry them in the INFO.
    pub first_address_first: bool,
    talks: u32,
    /// Addresses the client has used so far: the mesh can know no others.
    pub revealed: BTreeSet<Ipv6Addr>,
}

#[derive(Clone, Debug)]
enum Event {
    Input(usize, Input),
    /// A route announcement of `owner` for `addr` became visible at every node `hops` away:
    /// one event per ring of equally distant nodes, not one per node, so that a mesh of
    /// thousands does not queue thousands of events per route.
    RouteVisible {
        owner: usize,
        addr: Ipv6Addr,
        hops: u32,
    },
    /// The client talks to its node: the kernel confirms its neighbour entries.
    ClientTalks {
        client: usize,
        node: usize,
    },
    NudSweep,
    /// babeld's monitor stream: report what changed in each node's X and R.
    BabelSync,
}

/// babeld on every node, as its local interface reports: X, what the node exports (its host
/// routes, node-client IPs and node IP), and R, every announcement of another node that the
/// routing view lets it see, as if each neighbour relayed every route it has.
struct BabelSim {
    ids: Vec<RouterId>,
    reported_x: Vec<BTreeSet<Ipv6Addr>>,
    /// (owner, destination) -> the route's token, per viewer.
    reported_r: Vec<BTreeMap<(usize, Ipv6Addr), u64>>,
    next_token: u64,
}

/// How often the simulated babeld reports changes.
const BABEL_SYNC: Duration = Duration::from_millis(100);

/// One announcement of a route: from `.0` until `.1` (still announced when `None`).
type Announced = (Instant, Option<Instant>);

/// One intercom datagram put on the wire by a node (before loss).
#[derive(Clone, Debug)]
pub struct Sent {
    pub at: Instant,
    pub from: usize,
    pub kind: Option<MessageType>,
    /// As the node sent it: forwarding is judged by the ttl byte and the bytes around it.
    pub bytes: Vec<u8>,
    /// Link-level transmissions it costs before loss: one per hop of a unicast's path (none
    /// to the node itself), one copy per neighbour for multicast.
    pub transmissions: u32,
}

/// One NS or ARP request a node put on its client interface.
#[derive(Clone, Debug)]
pub struct Solicited {
    pub at: Instant,
    pub node: usize,
    /// Internal (16-byte) form; IPv4 targets in ::ffff:0:0/96.
    pub target: Ipv6Addr,
}

pub struct Mesh {
    pub now: Instant,
    pub nodes: Vec<Node>,
    pub clients: Vec<SimClient>,
    pub params: Params,
    rng: Rng,
    queue: BTreeMap<(Instant, u64), Event>,
    seq: u64,
    /// addr -> owner -> announcement intervals [start, end): by address first, so that who
    /// routes an address is found without a walk over every node.
    announcements: BTreeMap<Ipv6Addr, BTreeMap<usize, Vec<Announced>>>,
    pub hops: Vec<Vec<u32>>,
    /// Per node, the other nodes by distance: `rings[n][h]` are the nodes `h` hops from `n`.
    rings: Vec<Vec<Vec<usize>>>,
    /// Each node's next engine deadline as last read, and the same as one ordered index, so
    /// that the next timer of the mesh is not a walk over every engine.
    deadlines: Vec<Option<Instant>>,
    timer_index: BTreeSet<(Instant, usize)>,
    /// Clients by MAC and by address, in index order: who answers a probe or a solicitation.
    clients_by_mac: BTreeMap<MacAddr, Vec<usize>>,
    clients_by_addr: BTreeMap<Ipv6Addr, Vec<usize>>,
    /// When set, the time spent inside the engines' `handle_input` and `handle_timeout`.
    pub profile: Option<Profile>,
    pub sent: Vec<Sent>,
    pub solicited: Vec<Solicited>,
    pub reinjected: Vec<(usize, Vec<u8>)>,
    /// ICMP errors sent by each node: (node, destination, message).
    pub icmp_errors: Vec<(usize, IpAddr, Vec<u8>)>,
    pub prefix: IpPrefix,
    pub steps: u64,
    /// Nodes that crashed: they receive nothing and run no timers.
    pub dead: Vec<bool>,
    /// The next datagrams of these types are lost, once each, wherever they go.
    pub drop_next: Vec<MessageType>,
    babel: Option<BabelSim>,
    trace: bool,
}

/// Node `i`'s engine as the mesh starts it: its links reported, the first dump done (a fresh
/// node: the kernel holds nothing of ours), its first outputs drained.
pub fn node_engine(i: usize, params: &Params, seed: u64) -> Engine {
    let prefix = IpPrefix::parse("2001:db8:1::/64").unwrap().prefix;
    let mut cfg = Config::new(node_ip(i), vec![prefix]);
    cfg.client_if = Some("local-node".into());
    cfg.mesh_ifs = vec!["mesh0".into()];
    cfg.keys = params.keys.clone();
    cfg.client_prefixes.push(params.ipv4_prefix);
    let mut engine = Engine::with_seed(
        cfg,
        seed.wrapping_mul(1000).wrapping_add(i as u64),
        Instant::ZERO,
    );
    for link in [
        Link {
            ifindex: MESH_IF,
            name: "mesh0".into(),
            up: true,
            mac: None,
            master: None,
        },
        Link {
            ifindex: CLIENT_IF,
            name: "local-node".into(),
            up: true,
            mac: Some(NODE_MAC),
            master: None,
        },
        Link {
            ifindex: LOOPBACK_IF,
            name: "lo".into(),
            up: true,
            mac: None,
            master: None,
        },
    ] {
        engine.handle_input(Instant::ZERO, Input::Link(link));
    }
    engine.handle_input(Instant::ZERO, Input::DumpDone);
    while engine.poll_output().is_some() {}
    engine
}

/// What the engines were handed, by kind, for [`Profile`].
pub const EVENT_KINDS: [&str; 16] = [
    "timeout",
    "intercom SEEK",
    "intercom CLAIM",
    "intercom INFO",
    "intercom ACK",
    "intercom other",
    "route (babeld)",
    "neighbour",
    "kernel result",
    "route lookup",
    "station",
    "snooped NA/NS/ARP",
    "tun packet",
    "send failed",
    "address/link/dump",
    "other",
];
pub const TIMEOUT_KIND: usize = 0;

/// The index into [`EVENT_KINDS`] of an input.
pub fn event_kind(input: &Input) -> usize {
    match input {
        Input::Intercom(datagram) => {
            match intercom::Packet::new_checked(&datagram.bytes[..]).map(|p| p.msg_type()) {
                Ok(Ok(MessageType::Seek)) => 1,
                Ok(Ok(MessageType::Claim)) => 2,
                Ok(Ok(MessageType::Info)) => 3,
                Ok(Ok(MessageType::Ack)) => 4,
                _ => 5,
            }
        }
        Input::Route(_) => 6,
        Input::Neighbour(_) => 7,
        Input::KernelResult { .. } => 8,
        Input::RouteLookup { .. } => 9,
        Input::Station { .. } | Input::Fdb { .. } => 10,
        Input::Snooped(_) => 11,
        Input::TunPacket(_) => 12,
        Input::IntercomSendFailed { .. } => 13,
        Input::Address(_)
        | Input::Link(_)
        | Input::LinkGone { .. }
        | Input::DumpStarted
        | Input::DumpDone
        | Input::NetlinkOverrun => 14,
        _ => 15,
    }
}

/// Wall-clock time spent inside the engines, by [`EVENT_KINDS`]: what the daemon's own
/// protocol work costs, apart from the simulator around it.
#[derive(Clone, Debug, Default)]
pub struct Profile {
    pub count: [u64; EVENT_KINDS.len()],
    pub nanos: [u64; EVENT_KINDS.len()],
}

impl Profile {
    fn add(&mut self, kind: usize, took: std::time::Duration) {
        self.count[kind] += 1;
        self.nanos[kind] += took.as_nanos() as u64;
    }
}

pub fn node_ip(i: usize) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0x5523, 0, 0, 0, 0, 0, i as u16 + 1)
}

pub fn client_mac(i: usize) -> MacAddr {
    MacAddr([0x02, 0x11, 0x22, 0x33, (i >> 8) as u8, i as u8])
}

impl Mesh {
    /// Nodes joined by the given undirected mesh links.
    pub fn new(n: usize, links: &[(usize, usize)], params: Params, seed: u64) -> Mesh {
        let prefix = IpPrefix::parse("2001:db8:1::/64").unwrap().prefix;
        let mut nodes: Vec<Node> = (0..n)
            .map(|i| Node {
                name: format!("node{i}"),
                ip: node_ip(i),
                engine: node_engine(i, &params, seed),
                kernel: FakeKernel::default(),
                neighbours: Vec::new(),
            })
            .collect();
        for &(a, b) in links {
            nodes[a].neighbours.push(b);
            nodes[b].neighbours.push(a);
        }
        let hops: Vec<Vec<u32>> = (0..n).map(|from| bfs(&nodes, from)).collect();
        let rings = hops
            .iter()
            .map(|dist| {
                let far = dist.iter().filter(|&&d| d != u32::MAX).max().copied();
                let mut rings = vec![Vec::new(); far.map_or(0, |d| d as usize + 1)];
                for (node, &d) in dist.iter().enumerate() {
                    if d != u32::MAX {
                        rings[d as usize].push(node);
                    }
                }
                rings
            })
            .collect();
        let mut mesh = Mesh {
            now: Instant::ZERO,
            nodes,
            clients: Vec::new(),
            params,
            rng: Rng::from_u64(seed ^ 0x5eed),
            queue: BTreeMap::new(),
            seq: 0,
            announcements: BTreeMap::new(),
            hops,
            rings,
            deadlines: vec![None; n],
            timer_index: BTreeSet::new(),
            clients_by_mac: BTreeMap::new(),
            clients_by_addr: BTreeMap::new(),
            profile: None,
            sent: Vec::new(),
            solicited: Vec::new(),
            reinjected: Vec::new(),
            icmp_errors: Vec::new(),
            prefix,
            steps: 0,
            dead: vec![false; n],
            drop_next: Vec::new(),
            babel: None,
            trace: false,
        };
        // Node IPs are routed from the start, as babeld would have them before l3roamd runs.
        for i in 0..n {
            let ip = mesh.nodes[i].ip;
            mesh.announcements
                .entry(ip)
                .or_default()
                .insert(i, vec![(Instant::ZERO, None)]);
        }
        mesh.trace = std::env::var("SIM_TRACE").is_ok();
        mesh.schedule(Duration::from_secs(1), Event::NudSweep);
        mesh
    }

    /// A chain 0 - 1 - ... - (n-1).
    pub fn chain(n: usize, params: Params, seed: u64) -> Mesh {
        let links: Vec<(usize, usize)> = (1..n).map(|i| (i - 1, i)).collect();
        Mesh::new(n, &links, params, seed)
    }

    pub fn add_client(&mut self, mac: MacAddr, addrs: Vec<Ipv6Addr>) -> usize {
        let index = self.clients.len();
        self.clients_by_mac.entry(mac).or_default().push(index);
        for addr in &addrs {
            let owners = self.clients_by_addr.entry(*addr).or_default();
            if owners.last() != Some(&index) {
                owners.push(index);
            }
        }
        self.clients.push(SimClient {
            mac,
            addrs,
            at: None,
            also_at: Vec::new(),
            first_address_first: false,
            talks: 0,
            revealed: BTreeSet::new(),
        });
        self.clients.len() - 1
    }

    fn schedule(&mut self, after: Duration, event: Event) {
        self.seq += 1;
        self.queue.insert((self.now + after, self.seq), event);
    }

    fn random_delay(&mut self, min: Duration, max: Duration) -> Duration {
        let (lo, hi) = (min.as_millis() as u32, max.as_millis() as u32);
        Duration::from_millis(u64::from(lo + self.rng.below(hi.saturating_sub(lo) + 1)))
    }

    fn chance(&mut self, permille: u32) -> bool {
        permille > 0 && self.rng.below(1000) < permille
    }

    /// The client associates with / plugs into `node`; it starts talking at once.
    pub fn attach(&mut self, client: usize, node: usize) {
        self.clients[client].at = Some(node);
        self.clients[client].talks = 0;
        self.schedule(
            Duration::from_millis(1),
            Event::ClientTalks { client, node },
        );
    }

    /// The client is on `node` but says nothing until asked (it answers NS and ARP).
    pub fn attach_silent(&mut self, client: usize, node: usize) {
        self.clients[client].at = Some(node);
    }

    /// The client is on `node` and answers NS and ARP, but talks of its own accord only
    /// after `quiet` (a phone asleep in a pocket), then as usual.
    pub fn attach_quiet(&mut self, client: usize, node: usize, quiet: Duration) {
        self.clients[client].at = Some(node);
        self.clients[client].talks = 0;
        self.schedule(quiet, Event::ClientTalks { client, node });
    }

    /// The node crashes: it stops answering, and the mesh forgets its routes.
    pub fn kill(&mut self, node: usize) {
        self.dead[node] = true;
        self.refresh_deadline(node);
        let owned: Vec<Ipv6Addr> = self
            .announcements
            .iter()
            .filter(|(_, owners)| owners.contains_key(&node))
            .map(|(addr, _)| *addr)
            .collect();
        for addr in owned {
            self.withdraw(node, addr);
        }
    }

    pub fn detach(&mut self, client: usize) {
        self.clients[client].at = None;
        self.clients[client].also_at.clear();
    }

    /// The client is on `node` as well (bridged to both): it talks and answers there too.
    pub fn attach_also(&mut self, client: usize, node: usize) {
        self.clients[client].also_at.push(node);
        self.schedule(
            Duration::from_millis(1),
            Event::ClientTalks { client, node },
        );
    }

    /// Gives every node a babeld session (router-ids `ids`, one per node) and its monitor
    /// stream from now on.
    pub fn enable_babel(&mut self, ids: Vec<RouterId>) {
        assert_eq!(ids.len(), self.nodes.len());
        for (node, my_id) in ids.iter().enumerate() {
            self.input(node, Input::Babel(BabelEvent::Connected { my_id: *my_id }));
        }
        self.babel = Some(BabelSim {
            reported_x: vec![BTreeSet::new(); ids.len()],
            reported_r: vec![BTreeMap::new(); ids.len()],
            ids,
            next_token: 1,
        });
        self.schedule(Duration::ZERO, Event::BabelSync);
    }

    pub fn roam(&mut self, client: usize, node: usize) {
        self.detach(client);
        self.attach(client, node);
    }

    // ----- routing view -----

    fn announce(&mut self, owner: usize, addr: Ipv6Addr) {
        let intervals = self
            .announcements
            .entry(addr)
            .or_default()
            .entry(owner)
            .or_default();
        if intervals.last().is_some_and(|(_, end)| end.is_none()) {
            return;
        }
        intervals.push((self.now, None));
        for hops in 1..self.rings[owner].len() as u32 {
            if !self.rings[owner][hops as usize].is_empty() {
                let delay = self.params.routing_delay * hops;
                self.schedule(delay, Event::RouteVisible { owner, addr, hops });
            }
        }
    }

    fn withdraw(&mut self, owner: usize, addr: Ipv6Addr) {
        if let Some(last) = self
            .announcements
            .get_mut(&addr)
            .and_then(|owners| owners.get_mut(&owner))
            .and_then(|v| v.last_mut())
        {
            if last.1.is_none() {
                last.1 = Some(self.now);
            }
        }
    }

    fn route_delay(&self, owner: usize, viewer: usize) -> Duration {
        self.params.routing_delay * self.hops[owner][viewer].max(1)
    }

    /// Which nodes `viewer` currently believes announce `addr`, nearest first.
    pub fn owners_seen_by(&self, viewer: usize, addr: &Ipv6Addr) -> Vec<usize> {
        let Some(announced) = self.announcements.get(addr) else {
            return Vec::new();
        };
        let mut owners: Vec<usize> = announced
            .iter()
            .filter(|&(&owner, _)| owner != viewer)
            .filter(|&(&owner, intervals)| {
                let delay = self.route_delay(owner, viewer);
                intervals.iter().any(|(start, end)| {
                    *start + delay <= self.now && end.is_none_or(|end| end + delay > self.now)
                })
            })
            .map(|(&owner, _)| owner)
            .collect();
        owners.sort_by_key(|&o| (self.hops[viewer][o], o));
        owners
    }

    fn holds_locally(&self, node: usize, addr: &Ipv6Addr) -> bool {
        self.nodes[node].ip == *addr || self.nodes[node].kernel.node_client_ips.contains(addr)
    }

    // ----- running -----

    /// Re-reads a node's next engine deadline into the timer index: after every call into
    /// its engine.
    fn refresh_deadline(&mut self, node: usize) {
        let next = if self.dead[node] {
            None
        } else {
            self.nodes[node].engine.poll_timeout()
        };
        let old = std::mem::replace(&mut self.deadlines[node], next);
        if old != next {
            if let Some(at) = old {
                self.timer_index.remove(&(at, node));
            }
            if let Some(at) = next {
                self.timer_index.insert((at, node));
            }
        }
    }

    /// Runs until virtual time `until`, checking `check` after every step.
    pub fn run_until(&mut self, until: Instant, check: &mut dyn FnMut(&Mesh)) {
        // A caller may have fed an engine directly, or killed a node, since the last run.
        for node in 0..self.nodes.len() {
            self.refresh_deadline(node);
        }
        loop {
            let next_event = self.queue.keys().next().map(|(at, _)| *at);
            let next_timer = self.timer_index.first().map(|(at, _)| *at);
            let next = match (next_event, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => break,
                },
            };
            if next > until {
                break;
            }
            self.now = next;
            if next_event == Some(next) {
                let key = *self.queue.keys().next().unwrap();
                let event = self.queue.remove(&key).unwrap();
                self.dispatch(event);
            } else {
                // Every due node in index order; a node's timeout only queues events, so it
                // cannot make another node due.
                let due: Vec<usize> = self
                    .timer_index
                    .range(..=(next, usize::MAX))
                    .map(|&(_, node)| node)
                    .collect();
                for node in due {
                    self.timeout(node, next);
                }
            }
            self.steps += 1;
            check(self);
        }
        self.now = until;
    }

    pub fn run_for(&mut self, d: Duration, check: &mut dyn FnMut(&Mesh)) {
        let until = self.now + d;
        self.run_until(until, check);
    }

    fn timeout(&mut self, node: usize, now: Instant) {
        let engine = &mut self.nodes[node].engine;
        match &mut self.profile {
            Some(profile) => {
                let started = std::time::Instant::now();
                engine.handle_timeout(now);
                profile.add(TIMEOUT_KIND, started.elapsed());
            }
            None => engine.handle_timeout(now),
        }
        self.drain(node);
        self.refresh_deadline(node);
    }

    /// Feeds an input to a node now and processes what it answers.
    pub fn input(&mut self, node: usize, input: Input) {
        if self.dead[node] {
            return;
        }
        let engine = &mut self.nodes[node].engine;
        match &mut self.profile {
            Some(profile) => {
                let kind = event_kind(&input);
                let started = std::time::Instant::now();
                engine.handle_input(self.now, input);
                profile.add(kind, started.elapsed());
            }
            None => engine.handle_input(self.now, input),
        }
        self.drain(node);
        self.refresh_deadline(node);
    }

    /// Hands `node` a datagram as if it had arrived by multicast on its mesh interface from
    /// `src`: a peer outside the simulated mesh, such as a C daemon with its own nonces.
    pub fn receive_multicast(&mut self, node: usize, src: Ipv6Addr, bytes: Vec<u8>) {
        let datagram = Datagram {
            src,
            dst: intercom::GROUP,
            ifindex: MESH_IF,
            bytes,
        };
        self.input(node, Input::Intercom(datagram));
    }

    fn dispatch(&mut self, event: Event) {
        match event {
            Event::Input(node, input) => self.input(node, input),
            Event::RouteVisible { owner, addr, hops } => {
                let dst = match V4::try_unmap(&addr) {
                    Some(v4) => IpAddr::V4(v4),
                    None => IpAddr::V6(addr),
                };
                let prefix_len = if dst.is_ipv4() { 32 } else { 128 };
                for k in 0..self.rings[owner][hops as usize].len() {
                    let viewer = self.rings[owner][hops as usize][k];
                    self.input(
                        viewer,
                        Input::Route(RouteEvent {
                            dst,
                            prefix_len,
                            table: 254,
                            protocol: 42,
                            kind: RouteKind::Unicast,
                            metric: 256,
                            ifindex: Some(MESH_IF),
                            deleted: false,
                        }),
                    );
                }
            }
            Event::ClientTalks { client, node } => {
                if !self.clients[client].is_at(node) {
                    return;
                }
                let mac = self.clients[client].mac;
                let c = &mut self.clients[client];
                let using = if c.first_address_first && c.talks == 0 {
                    1
                } else {
                    c.addrs.len()
                };
                c.talks += 1;
                let used: Vec<Ipv6Addr> = c.addrs.iter().take(using).copied().collect();
                c.revealed.extend(used.iter().copied());
                for addr in used {
                    let kernel_addr = self.nodes[node].engine_kernel_form(&addr);
                    self.nodes[node].kernel.neighbours.insert(
                        kernel_addr,
                        NeighEntry {
                            mac,
                            state: Nud::Reachable,
                            since: self.now,
                        },
                    );
                    self.input(
                        node,
                        Input::Neighbour(Neighbour {
                            ifindex: CLIENT_IF,
                            addr: kernel_addr,
                            mac: Some(mac),
                            state: NeighState::Reachable,
                            deleted: false,
                        }),
                    );
                }
                // Keeps talking while it stays.
                self.schedule(Duration::from_secs(20), Event::ClientTalks { client, node });
            }
            Event::NudSweep => {
                self.nud_sweep();
                self.schedule(Duration::from_secs(1), Event::NudSweep);
            }
            Event::BabelSync => {
                self.babel_sync();
                self.schedule(BABEL_SYNC, Event::BabelSync);
            }
        }
    }

    /// Reports to each node what changed in its X and R since the last report.
    fn babel_sync(&mut self) {
        let Some(mut babel) = self.babel.take() else {
            return;
        };
        for viewer in 0..self.nodes.len() {
            if self.dead[viewer] {
                continue;
            }
            let node = &self.nodes[viewer];
            let x_now: BTreeSet<Ipv6Addr> = node
                .kernel
                .routes
                .iter()
                .map(|r| node.engine_internal_form(r.dst))
                .chain(node.kernel.node_client_ips.iter().copied())
                .chain(std::iter::once(node.ip))
                .collect();
            let r_now: BTreeSet<(usize, Ipv6Addr)> = self
                .announcements
                .iter()
                .flat_map(|(addr, owners)| owners.keys().map(|owner| (*owner, *addr)))
                .filter(|(owner, addr)| {
                    *owner != viewer && self.owners_seen_by(viewer, addr).contains(owner)
                })
                .collect();
            let mut events = Vec::new();
            let old_x = std::mem::replace(&mut babel.reported_x[viewer], x_now.clone());
            for (addr, change) in x_now
                .difference(&old_x)
                .map(|a| (*a, Change::Add))
                .chain(old_x.difference(&x_now).map(|a| (*a, Change::Flush)))
            {
                let prefix = self.babel_prefix(viewer, &addr);
                events.push(BabelEvent::XRoute(babel::XRoute {
                    change,
                    prefix,
                    source: Prefix::unspecified_like(&prefix.addr),
                    metric: 0,
                }));
            }
            let known: Vec<(usize, Ipv6Addr)> = babel.reported_r[viewer].keys().copied().collect();
            for key in known.iter().filter(|k| !r_now.contains(k)) {
                let token = babel.reported_r[viewer].remove(key).unwrap_or_default();
                events.push(self.babel_route(viewer, &babel.ids, *key, token, Change::Flush));
            }
            let new: Vec<(usize, Ipv6Addr)> = r_now
                .iter()
                .filter(|k| !babel.reported_r[viewer].contains_key(k))
                .copied()
                .collect();
            for key in new.iter() {
                let token = babel.next_token;
                babel.next_token += 1;
                babel.reported_r[viewer].insert(*key, token);
                events.push(self.babel_route(viewer, &babel.ids, *key, token, Change::Add));
            }
            for event in events {
                self.input(viewer, Input::Babel(event));
            }
        }
        self.babel = Some(babel);
    }

    fn babel_prefix(&self, viewer: usize, addr: &Ipv6Addr) -> Prefix {
        let addr = self.nodes[viewer].engine_kernel_form(addr);
        Prefix {
            addr,
            len: if addr.is_ipv4() { 32 } else { 128 },
        }
    }

    fn babel_route(
        &self,
        viewer: usize,
        ids: &[RouterId],
        (owner, addr): (usize, Ipv6Addr),
        token: u64,
        change: Change,
    ) -> BabelEvent {
        let prefix = self.babel_prefix(viewer, &addr);
        let hops = self.hops[viewer][owner].max(1);
        BabelEvent::Route(babel::Route {
            change,
            token: format!("{token:x}"),
            prefix,
            source: Prefix::unspecified_like(&prefix.addr),
            installed: true,
            id: ids[owner],
            metric: u16::try_from(96 * hops).unwrap_or(u16::MAX - 1),
            refmetric: Some(0),
            via: None,
            ifname: Some("mesh0".into()),
        })
    }

    /// The kernel's neighbour state machine for clients that left: entries nobody answers
    /// go REACHABLE -> PROBE -> FAILED -> deleted, with the notifications rtnetlink sends.
    fn nud_sweep(&mut self) {
        let now = self.now;
        // Who is where, in one walk over the clients rather than one per node.
        let mut present: Vec<Vec<MacAddr>> = vec![Vec::new(); self.nodes.len()];
        for c in &self.clients {
            for &node in c.at.iter().chain(c.also_at.iter()) {
                present[node].push(c.mac);
            }
        }
        let (reachable, probe, gc) = (
            self.params.nud_reachable,
            self.params.nud_probe,
            self.params.nud_gc,
        );
        for (node, present) in present.iter_mut().enumerate() {
            if self.nodes[node].kernel.neighbours.is_empty() {
                continue;
            }
            present.sort_unstable();
            let mut events = Vec::new();
            let entries = &mut self.nodes[node].kernel.neighbours;
            let mut gone = Vec::new();
            for (addr, entry) in entries.iter_mut() {
                if present.binary_search(&entry.mac).is_ok() {
                    continue;
                }
                let age = now.saturating_since(entry.since);
                match entry.state {
                    Nud::Reachable if age >= reachable => {
                        entry.state = Nud::Probe;
                        entry.since = now;
                        events.push((*addr, Some(entry.mac), NeighState::Probe, false));
                    }
                    Nud::Probe if age >= probe => {
                        entry.state = Nud::Failed;
                        entry.since = now;
                        events.push((*addr, None, NeighState::Failed, false));
                    }
                    Nud::Failed if age >= gc => {
                        gone.push(*addr);
                        events.push((*addr, None, NeighState::Failed, true));
                    }
                    _ => {}
                }
            }
            for addr in gone {
                entries.remove(&addr);
            }
            for (addr, mac, state, deleted) in events {
                self.input(
                    node,
                    Input::Neighbour(Neighbour {
                        ifindex: CLIENT_IF,
                        addr,
                        mac,
                        state,
                        deleted,
                    }),
                );
            }
        }
    }

    /// Processes everything a node asked for.
    fn drain(&mut self, node: usize) {
        let mut pending: VecDeque<Output> = VecDeque::new();
        while let Some(out) = self.nodes[node].engine.poll_output() {
            pending.push_back(out);
        }
        while let Some(out) = pending.pop_front() {
            if self.trace {
                eprintln!("{} node{node}: {out:?}", self.now);
            }
            match out {
                Output::Kernel(op) => self.kernel_op(node, op),
                Output::Intercom { dst, bytes } => self.send(node, dst, bytes),
                Output::Solicit(solicitation) => self.solicited(node, solicitation),
                Output::Reinject(packet) => self.reinjected.push((node, packet)),
                Output::IcmpError { dst, message } => self.icmp_errors.push((node, dst, message)),
                Output::ControlReply { .. } | Output::SetLogLevel(_) => {}
            }
        }
    }

    fn kernel_op(&mut self, node: usize, op: KernelOp) {
        let result = match &op {
            KernelOp::AddHostRoute(route) => {
                let k = &mut self.nodes[node].kernel;
                // A replace: one route per destination and table.
                let old: Vec<HostRoute> = k
                    .routes
                    .iter()
                    .filter(|r| r.dst == route.dst && r.table == route.table)
                    .copied()
                    .collect();
                for r in old {
                    k.routes.remove(&r);
                }
                k.demoted
                    .retain(|r| !(r.dst == route.dst && r.table == route.table));
                k.routes.insert(*route);
                let addr = self.nodes[node].engine_internal_form(route.dst);
                self.announce(node, addr);
                Ok(())
            }
            KernelOp::DelHostRoute(route) => {
                if self.nodes[node].kernel.routes.remove(route) {
                    let addr = self.nodes[node].engine_internal_form(route.dst);
                    self.withdraw(node, addr);
                    Ok(())
                } else {
                    Err(Errno::ESRCH)
                }
            }
            KernelOp::DemoteHostRoute { route, .. } => {
                let k = &mut self.nodes[node].kernel;
                k.routes.remove(route);
                k.demoted.insert(*route);
                let addr = self.nodes[node].engine_internal_form(route.dst);
                self.withdraw(node, addr);
                Ok(())
            }
            KernelOp::DelDemotedRoute { route, .. } => {
                if self.nodes[node].kernel.demoted.remove(route) {
                    Ok(())
                } else {
                    Err(Errno::ESRCH)
                }
            }
            KernelOp::AddNeighbour { addr, mac, .. } => {
                let entry = NeighEntry {
                    mac: *mac,
                    state: Nud::Reachable,
                    since: self.now,
                };
                self.nodes[node].kernel.neighbours.insert(*addr, entry);
                Ok(())
            }
            KernelOp::DelNeighbour { addr, .. } => {
                match self.nodes[node].kernel.neighbours.remove(addr) {
                    Some(_) => Ok(()),
                    None => Err(Errno::ENOENT),
                }
            }
            KernelOp::ProbeNeighbour { addr, mac, .. } => {
                let present = self
                    .clients_by_mac
                    .get(mac)
                    .is_some_and(|cs| cs.iter().any(|&c| self.clients[c].is_at(node)));
                let entry = NeighEntry {
                    mac: *mac,
                    state: if present { Nud::Reachable } else { Nud::Probe },
                    since: self.now,
                };
                self.nodes[node].kernel.neighbours.insert(*addr, entry);
                if present {
                    let confirm = Input::Neighbour(Neighbour {
                        ifindex: CLIENT_IF,
                        addr: *addr,
                        mac: Some(*mac),
                        state: NeighState::Reachable,
                        deleted: false,
                    });
                    self.schedule(Duration::from_millis(2), Event::Input(node, confirm));
                }
                Ok(())
            }
            KernelOp::AddNodeClientIp(addr) => {
                if self.nodes[node].kernel.node_client_ips.insert(*addr) {
                    self.announce(node, *addr);
                    Ok(())
                } else {
                    Err(Errno::EEXIST)
                }
            }
            KernelOp::DelNodeClientIp(addr) => {
                if self.nodes[node].kernel.node_client_ips.remove(addr) {
                    self.withdraw(node, *addr);
                    Ok(())
                } else {
                    Err(Errno::ENOENT)
                }
            }
            KernelOp::AddPrefixRoute(_) | KernelOp::DelPrefixRoute(_) => Ok(()),
            KernelOp::Dump => {
                // Everything the fake kernel holds, then the end of the dump, as rtnetlink
                // would report it.
                let k = &self.nodes[node].kernel;
                let mut report: Vec<Input> = Vec::new();
                report.extend(k.routes.iter().map(|r| {
                    Input::Route(RouteEvent {
                        dst: r.dst,
                        prefix_len: if r.dst.is_ipv4() { 32 } else { 128 },
                        table: r.table,
                        protocol: ROUTE_PROTOCOL,
                        kind: RouteKind::Unicast,
                        metric: 1024,
                        ifindex: Some(r.ifindex),
                        deleted: false,
                    })
                }));
                report.extend(k.node_client_ips.iter().map(|ip| {
                    Input::Address(AddressEvent {
                        ifindex: LOOPBACK_IF,
                        addr: IpAddr::V6(*ip),
                        prefix_len: 128,
                        deleted: false,
                    })
                }));
                report.extend(k.neighbours.iter().map(|(addr, entry)| {
                    Input::Neighbour(Neighbour {
                        ifindex: CLIENT_IF,
                        addr: *addr,
                        mac: Some(entry.mac),
                        state: match entry.state {
                            Nud::Reachable => NeighState::Reachable,
                            Nud::Probe => NeighState::Probe,
                            Nud::Failed => NeighState::Failed,
                        },
                        deleted: false,
                    })
                }));
                report.push(Input::DumpDone);
                for input in report {
                    self.schedule(Duration::from_millis(1), Event::Input(node, input));
                }
                Ok(())
            }
            KernelOp::LookupRoute { token, addr } => {
                let answer = if self.holds_locally(node, addr) {
                    LookupAnswer::Local
                } else if self.owners_seen_by(node, addr).is_empty() {
                    LookupAnswer::NoRoute
                } else {
                    LookupAnswer::Route
                };
                let input = Input::RouteLookup {
                    token: *token,
                    addr: *addr,
                    answer,
                };
                self.schedule(Duration::from_millis(1), Event::Input(node, input));
                Ok(())
            }
        };
        if let Err(errno) = result {
            self.schedule(
                Duration::ZERO,
                Event::Input(
                    node,
                    Input::KernelResult {
                        op,
                        result: Err(errno),
                    },
                ),
            );
        }
    }

    fn send(&mut self, from: usize, dst: Destination, bytes: Vec<u8>) {
        let kind = intercom::Packet::new_checked(&bytes[..])
            .ok()
            .and_then(|p| p.msg_type().ok());
        // Counted when it goes on the wire: a send the kernel refuses for want of a route is not.
        let mut on_wire = Sent {
            at: self.now,
            from,
            kind,
            bytes: bytes.clone(),
            transmissions: 0,
        };
        match dst {
            Destination::Multicast { .. } => {
                on_wire.transmissions = self.nodes[from].neighbours.len() as u32;
                self.sent.push(on_wire);
                for to in self.nodes[from].neighbours.clone() {
                    self.deliver(from, to, intercom::GROUP, MESH_IF, bytes.clone(), 1);
                }
            }
            Destination::Unicast(addr) => {
                if self.holds_locally(from, &addr) {
                    self.sent.push(on_wire);
                    self.deliver(from, from, addr, 1, bytes, 0);
                    return;
                }
                match self.owners_seen_by(from, &addr).first() {
                    Some(&to) => {
                        let hops = self.hops[from][to];
                        on_wire.transmissions = hops;
                        self.sent.push(on_wire);
                        self.deliver(from, to, addr, MESH_IF, bytes, hops);
                    }
                    None => {
                        let failed = Input::IntercomSendFailed {
                            dst: addr,
                            errno: Errno::ENETUNREACH,
                        };
                        self.schedule(Duration::ZERO, Event::Input(from, failed));
                    }
                }
            }
        }
    }

    /// Puts a datagram on the way, per hop lossy, delayed and sometimes duplicated; on
    /// arrival the destination must still hold the address.
    fn deliver(
        &mut self,
        from: usize,
        to: usize,
        dst: Ipv6Addr,
        ifindex: u32,
        bytes: Vec<u8>,
        hops: u32,
    ) {
        let mut delay = Duration::ZERO;
        let kind = intercom::Packet::new_checked(&bytes[..])
            .ok()
            .and_then(|p| p.msg_type().ok());
        if let Some(i) = self.drop_next.iter().position(|k| Some(*k) == kind) {
            self.drop_next.remove(i);
            return;
        }
        for _ in 0..hops {
            if self.chance(self.params.loss_permille) {
                return;
            }
            delay += self.random_delay(self.params.link_delay_min, self.params.link_delay_max);
        }
        let copies = if hops > 0 && self.chance(self.params.dup_permille) {
            2
        } else {
            1
        };
        for copy in 0..copies {
            let datagram = Datagram {
                src: self.nodes[from].ip,
                dst,
                ifindex,
                bytes: bytes.clone(),
            };
            let event = Event::Input(to, Input::Intercom(datagram));
            self.schedule(delay + Duration::from_millis(copy), event);
        }
    }

    /// A node solicited an address on its client interface: a client there answers.
    fn solicited(&mut self, node: usize, solicitation: Solicitation) {
        let (target, answer) = match solicitation {
            Solicitation::Neighbour { target, .. } => (target, true),
            Solicitation::Arp { target, .. } => (V4::map(target), false),
        };
        self.solicited.push(Solicited {
            at: self.now,
            node,
            target,
        });
        let Some(index) = self
            .clients_by_addr
            .get(&target)
            .and_then(|cs| cs.iter().copied().find(|&c| self.clients[c].is_at(node)))
        else {
            return;
        };
        let client = &mut self.clients[index];
        client.revealed.insert(target);
        let mac = client.mac;
        let frame = if answer {
            Snooped::Advert {
                ifindex: CLIENT_IF,
                target,
                mac,
            }
        } else {
            let v4 = V4::unmap(&target);
            Snooped::Arp {
                ifindex: CLIENT_IF,
                reply: true,
                sender_mac: mac,
                sender_ip: v4,
            }
        };
        self.schedule(
            Duration::from_millis(2),
            Event::Input(node, Input::Snooped(frame)),
        );
    }

    // ----- observation -----

    /// Nodes whose engine serves the client: it is in their table.
    pub fn serving(&self, client: usize) -> Vec<usize> {
        let mac = self.clients[client].mac;
        (0..self.nodes.len())
            .filter(|&n| !self.dead[n] && self.nodes[n].engine.serves(&mac))
            .collect()
    }

    /// Nodes whose kernel holds a host route for any of the client's addresses.
    pub fn routing(&self, client: usize) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&n| !self.dead[n])
            .filter(|&n| {
                self.clients[client].addrs.iter().any(|a| {
                    let dst = self.nodes[n].engine_kernel_form(a);
                    self.nodes[n].kernel.routes.iter().any(|r| r.dst == dst)
                })
            })
            .collect()
    }

    /// Whether `node` alone serves the client completely: every address the client has used
    /// active with its route, the node-client IP held, and no other node routing any of them.
    pub fn served_only_by(&self, client: usize, node: usize) -> bool {
        let all: Vec<usize> = (0..self.nodes.len()).collect();
        self.served_only_by_among(client, node, &all)
    }

    /// [`Mesh::served_only_by`] with only `others` searched for a route, table entry or
    /// node-client IP left behind: in a large mesh, the nodes the client has been on, the
    /// only ones that can have learned it.
    pub fn served_only_by_among(&self, client: usize, node: usize, others: &[usize]) -> bool {
        let c = &self.clients[client];
        let n = &self.nodes[node];
        let routes = |n: &Node| {
            c.addrs.iter().any(|a| {
                let dst = n.engine_kernel_form(a);
                n.kernel.routes.iter().any(|r| r.dst == dst)
            })
        };
        let complete = c.revealed.iter().all(|a| {
            let dst = n.engine_kernel_form(a);
            n.kernel.routes.iter().any(|r| r.dst == dst)
                && n.engine
                    .client_addresses(&c.mac)
                    .iter()
                    .any(|(x, s)| x == a && *s == AddrState::Active)
        });
        complete
            && !self.dead[node]
            && n.engine.holds_node_client_ip(&c.mac)
            && routes(n)
            && n.engine.serves(&c.mac)
            && others.iter().all(|&o| {
                let other = &self.nodes[o];
                o == node
                    || self.dead[o]
                    || !(routes(other)
                        || other.engine.serves(&c.mac)
                        || other.engine.holds_node_client_ip(&c.mac))
            })
    }

    pub fn intercom_sent_since(&self, since: Instant) -> usize {
        self.sent.iter().filter(|s| s.at >= since).count()
    }

    /// Kernel and engine agree on every node: the routes and node-client IPs in the fake
    /// kernel are exactly those the engine believes it installed.
    pub fn kernel_matches_engines(&self) -> Result<(), String> {
        for (i, n) in self.nodes.iter().enumerate() {
            let engine_routes: BTreeSet<HostRoute> = n.engine.installed_routes().copied().collect();
            if engine_routes != n.kernel.routes {
                return Err(format!(
                    "node{i}: engine routes {engine_routes:?} != kernel {:?}",
                    n.kernel.routes
                ));
            }
            let engine_demoted: BTreeSet<HostRoute> = n.engine.demoted_routes().copied().collect();
            if engine_demoted != n.kernel.demoted {
                return Err(format!(
                    "node{i}: engine demoted {engine_demoted:?} != kernel {:?}",
                    n.kernel.demoted
                ));
            }
        }
        Ok(())
    }
}

impl SimClient {
    pub fn is_at(&self, node: usize) -> bool {
        self.at == Some(node) || self.also_at.contains(&node)
    }
}

impl Node {
    fn engine_kernel_form(&self, addr: &Ipv6Addr) -> IpAddr {
        match V4::try_unmap(addr) {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(*addr),
        }
    }

    fn engine_internal_form(&self, addr: IpAddr) -> Ipv6Addr {
        match addr {
            IpAddr::V4(v4) => V4::map(v4),
            IpAddr::V6(v6) => v6,
        }
    }
}

/// The default `-4` mapping, ::ffff:0:0/96, as every simulated node uses it.
struct V4;

impl V4 {
    fn map(v4: std::net::Ipv4Addr) -> Ipv6Addr {
        v4.to_ipv6_mapped()
    }
    fn try_unmap(addr: &Ipv6Addr) -> Option<std::net::Ipv4Addr> {
        addr.to_ipv4_mapped()
    }
    fn unmap(addr: &Ipv6Addr) -> std::net::Ipv4Addr {
        addr.to_ipv4_mapped()
            .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED)
    }
}

fn bfs(nodes: &[Node], from: usize) -> Vec<u32> {
    let mut dist = vec![u32::MAX; nodes.len()];
    dist[from] = 0;
    let mut queue = VecDeque::from([from]);
    while let Some(n) = queue.pop_front() {
        for &m in &nodes[n].neighbours {
            if dist[m] == u32::MAX {
                dist[m] = dist[n] + 1;
                queue.push_back(m);
            }
        }
    }
    dist
}
