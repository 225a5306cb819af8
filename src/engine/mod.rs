//! The protocol engine: a sans-IO state machine.
//!
//! The driver feeds it `(now, Input)` through [`Engine::handle_input`], calls
//! [`Engine::handle_timeout`] when [`Engine::poll_timeout`] says so, and after every call
//! drains [`Engine::poll_output`] before the next input, so that kernel operations and
//! packets keep their causal order. The engine never opens, reads or writes a descriptor,
//! never reads a clock or the OS random source and never sleeps: the same seed and the same
//! inputs give the same outputs. Every map whose iteration order can reach an output is
//! ordered.
#![forbid(unsafe_code)]

pub mod auth;
mod clients;
mod commands;
pub mod control;
pub mod dedup;
pub mod duplicates;
pub mod flapping;
mod handover;
pub mod input;
pub mod output;
pub mod reconcile;
pub mod rng;
pub mod seek;
pub mod stats;
pub mod timers;

pub use clients::{AddrState, PROBE_INTERVAL, PROBE_RETRIES, RELEASE_HOLD, REMOVAL_DELAY};
pub use input::*;
pub use output::*;

use crate::config::Config;
use crate::prefix::{IpPrefix, Prefix6};
use crate::slot_map::{SlotMap, SlotSet};
use crate::time::Instant;
use crate::wire::MacAddr;
use clients::{Client, OldClient};
use control::ErrorReason;
use handover::Retransmission;
use rng::Rng;
use seek::Seek;
use stats::Stats;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv6Addr};
use timers::Timers;

/// Client prefixes at most (`-p` and `add_prefix`); each is a route into the tun device.
pub const MAX_PREFIXES: usize = 64;
/// Mesh interfaces at most (`-m` and `add_meshif`).
pub const MAX_MESH_IFS: usize = 64;
/// At most one warning about a peer's clock per minute.
const CLOCK_WARNING_INTERVAL: crate::time::Duration = crate::time::Duration::from_secs(60);

/// Timer keys: one per entity that owns deadlines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKey {
    Client(MacAddr),
    Claim(MacAddr),
    ClaimWindow(MacAddr),
    Info(MacAddr),
    OldClient(MacAddr),
    Seek(Ipv6Addr),
    Dad(Ipv6Addr),
    /// A flapping client's hold is over.
    FlapHold(MacAddr),
    /// The hold of a demoted host route is over: delete it.
    Demoted(IpAddr),
    DupCache,
    /// A duplicate host route's grace period or next check (babeld monitoring).
    Duplicate(Ipv6Addr),
    /// A client's duplicate handling: verification deadline, holds, expiries.
    DuplicateMac(MacAddr),
    Reconcile,
}

/// A client prefix, in the form it was given and in the internal 16-byte form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ClientPrefix {
    given: IpPrefix,
    internal: Prefix6,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct LinkInfo {
    name: String,
    up: bool,
    mac: Option<MacAddr>,
    master: Option<u32>,
}

pub struct Engine {
    cfg: Config,
    rng: Rng,
    now: Instant,
    out: VecDeque<Output>,
    timers: Timers<TimerKey>,
    /// Client prefixes in insertion order: `fe80::/64` first, then `-p`, then `add_prefix`.
    prefixes: Vec<ClientPrefix>,
    /// Mesh interface names in the order they were added (`-m`, then `add_meshif`).
    mesh_ifs: Vec<String>,
    links: SlotMap<u32, LinkInfo>,
    clients: SlotMap<MacAddr, Client>,
    /// Which client uses each address: an address belongs to one client at a time.
    owners: SlotMap<Ipv6Addr, MacAddr>,
    next_client_seq: u64,
    old_clients: SlotMap<MacAddr, OldClient>,
    claims: SlotMap<MacAddr, Retransmission>,
    /// INFO content is accepted until this time after a CLAIM cycle ended.
    claim_windows: SlotMap<MacAddr, Instant>,
    infos: SlotMap<MacAddr, Retransmission>,
    dedup: dedup::DupCache,
    /// What babeld reports, and what the duplicate policy decided per MAC.
    dups: duplicates::Duplicates,
    seeks: SlotMap<Ipv6Addr, Seek>,
    /// What the queues of `seeks` hold, in bytes and in packets.
    seek_bytes: usize,
    seek_packets: usize,
    /// SEEKs originated in the last second, by address.
    seek_window: stats::RateWindow<Ipv6Addr>,
    /// Solicitations for received SEEKs in the last second, by address.
    seek_solicit_window: stats::RateWindow<Ipv6Addr>,
    /// ICMP errors sent in the last second, by destination.
    icmp_window: stats::RateWindow<IpAddr>,
    dad: SlotMap<Ipv6Addr, handover::DadProbe>,
    /// Node-client IPs this node holds on loopback (CLAIMs to them are ours to answer).
    node_client_ips: SlotSet<Ipv6Addr>,
    /// Host routes this process installed, by destination, for exact removal.
    installed_routes: SlotMap<IpAddr, HostRoute>,
    /// Host routes released by demotion and not yet deleted (`TimerKey::Demoted`).
    demoted_routes: SlotMap<IpAddr, HostRoute>,
    /// Recent moves of clients, and their flap holds.
    flaps: SlotMap<MacAddr, flapping::FlapRecord>,
    /// `has_route` requests waiting for the kernel, with the argument text to echo.
    pending_has_route: SlotMap<ConnId, String>,
    view: reconcile::KernelView,
    /// While a neighbour notification (or dumped entry) in state REACHABLE is handled: the
    /// entry the kernel holds. The daemon's own neighbour writes would only repeat it, or
    /// (for the client that had the address before) delete it; acted on late, after lost
    /// notifications, either would overwrite what the kernel learned since.
    kernel_entry: Option<(u32, IpAddr, MacAddr)>,
    /// Client interfaces (`-i`, `-b`) that vanished, by name, with their last index: the
    /// clients on them move to the interface that takes the name next.
    vanished_client_links: SlotMap<[u8; 16], u32>,
    stats: Stats,
    log_limiter: stats::LogLimiter,
    /// Keys, allow-list and replay cache with `--key-file`; `None` without.
    auth: Option<auth::Auth>,
    /// The wall clock (ms since the Unix epoch) at an instant of `now`'s clock: the driver
    /// sets it every turn, and between two settings it advances with `now`.
    wall_anchor: (Instant, u64),
    /// Peers whose clocks are off: the operator must hear of it, but not with every packet.
    clock_warning: stats::WarnLimit,
    stopping: bool,
}

impl Engine {
    /// A new engine. `seed` keys the PRNG (the driver takes it from the kernel). The prefix
    /// routes into the tun device are queued as the first outputs.
    pub fn new(cfg: Config, seed: [u8; 32], now: Instant) -> Engine {
        Engine::with_rng(cfg, Rng::from_seed(seed), now)
    }

    /// Like [`Engine::new`] with a PRNG seeded from a number: for tests and simulations.
    pub fn with_seed(cfg: Config, seed: u64, now: Instant) -> Engine {
        Engine::with_rng(cfg, Rng::from_u64(seed), now)
    }

    fn with_rng(cfg: Config, rng: Rng, now: Instant) -> Engine {
        let mut engine = Engine {
            mesh_ifs: Vec::new(),
            prefixes: Vec::new(),
            rng,
            now,
            out: VecDeque::new(),
            timers: Timers::default(),
            links: Default::default(),
            clients: Default::default(),
            owners: Default::default(),
            next_client_seq: 0,
            old_clients: Default::default(),
            claims: Default::default(),
            claim_windows: Default::default(),
            infos: Default::default(),
            dedup: dedup::DupCache::default(),
            dups: duplicates::Duplicates::default(),
            seeks: Default::default(),
            seek_bytes: 0,
            seek_packets: 0,
            seek_window: stats::RateWindow::new(seek::MAX_SEEKS_PER_SECOND),
            seek_solicit_window: stats::RateWindow::new(seek::MAX_SEEK_SOLICITATIONS_PER_SECOND),
            icmp_window: stats::RateWindow::new(seek::MAX_ICMP_ERRORS_PER_SECOND),
            dad: Default::default(),
            node_client_ips: Default::default(),
            installed_routes: Default::default(),
            demoted_routes: Default::default(),
            flaps: Default::default(),
            pending_has_route: Default::default(),
            view: reconcile::KernelView::default(),
            vanished_client_links: Default::default(),
            kernel_entry: None,
            stats: Stats::default(),
            log_limiter: stats::LogLimiter::default(),
            auth: auth::Auth::new(&cfg.keys, &cfg.accept_unauthenticated),
            cfg,
            wall_anchor: (now, 0),
            clock_warning: stats::WarnLimit::new(CLOCK_WARNING_INTERVAL),
            stopping: false,
        };
        let link_local = IpPrefix::V6(Prefix6::new(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 64));
        for prefix in std::iter::once(link_local).chain(engine.cfg.client_prefixes.clone()) {
            if engine.add_prefix(prefix).is_err() {
                log::warn!("more than {MAX_PREFIXES} client prefixes: {prefix} ignored");
            }
        }
        for name in engine.cfg.mesh_ifs.clone() {
            if engine.add_mesh_if(name.clone()).is_err() {
                log::warn!("more than {MAX_MESH_IFS} mesh interfaces: {name} ignored");
            }
        }
        engine.request_dump();
        engine
    }

    /// Tells the engine the wall clock (ms since the Unix epoch) at `now`: what signed
    /// intercom datagrams carry and are checked against. The driver calls it every loop turn,
    /// before the inputs of the turn; until it is first called the wall clock counts from 0.
    pub fn set_wall_clock(&mut self, now: Instant, unix_ms: u64) {
        self.wall_anchor = (now, unix_ms);
    }

    /// The wall clock at the engine's `now`.
    fn wall_ms(&self) -> u64 {
        let (at, unix_ms) = self.wall_anchor;
        let elapsed = self.now.as_millis().saturating_sub(at.as_millis());
        unix_ms.saturating_add(elapsed)
    }

    pub fn handle_input(&mut self, now: Instant, input: Input) {
        self.advance(now);
        self.dispatch(input);
    }

    fn dispatch(&mut self, input: Input) {
        match input {
            Input::Link(link) => self.handle_link(link),
            Input::LinkGone { ifindex } => self.handle_link_gone(ifindex),
            Input::Neighbour(neighbour) => {
                self.observe_neighbour(&neighbour);
                if let Some(Input::Neighbour(n)) =
                    self.defer_until_synced(Input::Neighbour(neighbour))
                {
                    self.handle_neighbour(n);
                }
            }
            Input::Route(route) => {
                self.observe_route(&route);
                self.handle_route(route);
            }
            Input::Address(address) => self.observe_address(&address),
            Input::NetlinkOverrun => self.handle_overrun(),
            Input::DumpStarted => self.handle_dump_started(),
            Input::DumpDone => self.handle_dump_done(),
            Input::Fdb { .. } | Input::Station { .. } | Input::Snooped(_) => {
                match self.defer_until_synced(input) {
                    Some(Input::Fdb { port, mac, deleted }) => self.handle_fdb(port, mac, deleted),
                    Some(Input::Station {
                        ifindex,
                        mac,
                        associated,
                    }) => self.handle_station(ifindex, mac, associated),
                    Some(Input::Snooped(frame)) => self.handle_snooped(frame),
                    _ => {}
                }
            }
            Input::RouteLookup {
                token,
                addr,
                answer,
            } => self.handle_lookup(token, addr, answer),
            Input::KernelResult { op, result } => self.handle_kernel_result(op, result),
            Input::Intercom(datagram) => self.handle_datagram(datagram),
            Input::IntercomSendFailed { dst, errno } => self.handle_send_failed(dst, errno),
            Input::TunPacket(packet) => self.handle_tun_packet(packet),
            Input::Control { conn, command } => self.handle_command(conn, command),
            Input::Babel(event) => self.handle_babel(event),
            Input::ControlRejected { conn, error } => {
                self.stats.control_errors += 1;
                if error.reason() == ErrorReason::LineTooLong {
                    self.stats.limit_control_line += 1;
                }
                self.out.push_back(Output::ControlReply {
                    conn,
                    bytes: error.reply().into_bytes(),
                });
            }
        }
    }

    /// Runs every timer that is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        while let Some(key) = self.timers.pop_due(now) {
            match key {
                TimerKey::Client(mac) => self.service_client(mac),
                TimerKey::Claim(mac) => self.service_claim(mac),
                TimerKey::ClaimWindow(mac) => {
                    self.claim_windows.remove(&mac);
                }
                TimerKey::Info(mac) => self.service_info(mac),
                TimerKey::OldClient(mac) => {
                    self.old_clients.remove(&mac);
                }
                TimerKey::Seek(addr) => self.service_seek(addr),
                TimerKey::Dad(addr) => self.service_dad(addr),
                TimerKey::Demoted(dst) => self.delete_demoted_route(dst),
                TimerKey::FlapHold(mac) => self.service_flap_record(mac),
                TimerKey::Reconcile => self.request_dump(),
                TimerKey::Duplicate(addr) => self.check_duplicate(addr),
                TimerKey::DuplicateMac(mac) => self.service_duplicate_record(mac),
                TimerKey::DupCache => {
                    self.dedup.expire(now);
                    self.timers
                        .set(TimerKey::DupCache, self.dedup.next_expiry());
                }
            }
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// The next instant at which [`Engine::handle_timeout`] has work; `None` when idle.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// Orderly shutdown (behaviour.md §13.3): no intercom traffic any more; every host route,
    /// node-client IP and prefix route this process installed is removed, nothing else.
    pub fn shutdown(&mut self, now: Instant) {
        self.advance(now);
        self.stopping = true;
        self.claims.clear();
        self.infos.clear();
        let macs: Vec<MacAddr> = self.clients.keys().copied().collect();
        for mac in macs {
            self.delete_client(mac, "shutdown");
        }
        for prefix in std::mem::take(&mut self.prefixes) {
            self.out
                .push_back(Output::Kernel(KernelOp::DelPrefixRoute(prefix.given)));
        }
        // Only the holds of routes demoted before the shutdown outlive it: the driver runs
        // them before it exits, so that those releases complete.
        let mut timers = Timers::default();
        for dst in self.demoted_routes.keys() {
            timers.set(
                TimerKey::Demoted(*dst),
                self.timers.deadline(&TimerKey::Demoted(*dst)),
            );
        }
        self.timers = timers;
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The system layer's counters, so that `get_stats` reports them with the engine's.
    pub fn set_system_counters(&mut self, counters: stats::SystemCounters) {
        self.stats.system = counters;
    }

    /// Clients currently served here, in order of first detection.
    pub fn client_macs(&self) -> Vec<MacAddr> {
        let mut macs: Vec<(u64, MacAddr)> = self.clients.values().map(|c| (c.seq, c.mac)).collect();
        macs.sort();
        macs.into_iter().map(|(_, mac)| mac).collect()
    }

    /// A client's addresses (internal form) and their states.
    pub fn client_addresses(&self, mac: &MacAddr) -> Vec<(Ipv6Addr, AddrState)> {
        self.clients
            .get(mac)
            .map(|c| c.addresses.iter().map(|a| (a.addr, a.state)).collect())
            .unwrap_or_default()
    }

    /// Whether the client is in this node's table: what [`Engine::client_macs`] lists,
    /// without building the list.
    pub fn serves(&self, mac: &MacAddr) -> bool {
        self.clients.contains_key(mac)
    }

    /// Whether this node holds the client's node-client IP.
    pub fn holds_node_client_ip(&self, mac: &MacAddr) -> bool {
        self.node_client_ips
            .contains(&mac.node_client_ip(&self.cfg.node_client_prefix.addr()))
    }

    pub fn has_old_client(&self, mac: &MacAddr) -> bool {
        self.old_clients.contains_key(mac)
    }

    pub fn claim_in_progress(&self, mac: &MacAddr) -> bool {
        self.claims.contains_key(mac)
    }

    pub fn info_in_progress(&self, mac: &MacAddr) -> bool {
        self.infos.contains_key(mac)
    }

    pub fn installed_routes(&self) -> impl Iterator<Item = &HostRoute> {
        self.installed_routes.values()
    }

    /// Host routes demoted on release whose deletion is still due.
    pub fn demoted_routes(&self) -> impl Iterator<Item = &HostRoute> {
        self.demoted_routes.values()
    }

    /// Checks the engine's own bookkeeping against itself: the address index against the
    /// client table, node-client IPs and installed routes against the clients they belong to.
    /// For tests; costs a walk over every client.
    pub fn check_consistency(&self) -> Result<(), String> {
        let mut indexed = 0;
        for (mac, client) in &self.clients {
            for address in &client.addresses {
                indexed += 1;
                if self.owners.get(&address.addr) != Some(mac) {
                    return Err(format!(
                        "{} of {mac} missing from the address index",
                        address.addr
                    ));
                }
                let route = self.installed_routes.get(&self.to_kernel(&address.addr));
                if (address.state == AddrState::Active) != route.is_some() {
                    return Err(format!(
                        "{mac}: {} is {:?} but route {route:?}",
                        address.addr, address.state
                    ));
                }
            }
        }
        if indexed != self.owners.len() {
            return Err(format!(
                "address index holds {} entries for {indexed} addresses",
                self.owners.len()
            ));
        }
        if self.installed_routes.len() > indexed {
            return Err("a host route without its address".into());
        }
        if let Some(dst) = self
            .demoted_routes
            .keys()
            .find(|dst| self.installed_routes.contains_key(dst))
        {
            return Err(format!("{dst} both installed and demoted"));
        }
        for ncip in &self.node_client_ips {
            let held = self
                .clients
                .keys()
                .any(|mac| self.node_client_ip(mac) == *ncip);
            if !held {
                return Err(format!("node-client IP {ncip} held without its client"));
            }
        }
        Ok(())
    }

    fn advance(&mut self, now: Instant) {
        // Time never runs backwards inside the engine, whatever the caller passes.
        if now > self.now {
            self.now = now;
        }
    }

    // ----- prefixes, links, interfaces -----

    fn prefix_index(&self, given: &IpPrefix) -> Option<usize> {
        self.prefixes.iter().position(|p| p.given == *given)
    }

    /// Adds a client prefix and its tun route. `Err` when the table is full; a prefix that
    /// is already there changes nothing.
    fn add_prefix(&mut self, given: IpPrefix) -> Result<(), ErrorReason> {
        if self.prefix_index(&given).is_some() {
            return Ok(());
        }
        if self.prefixes.len() >= MAX_PREFIXES {
            self.stats.limit_prefixes += 1;
            return Err(ErrorReason::LimitReached);
        }
        let internal = self.cfg.v4_mapping.to_internal_prefix(&given);
        self.prefixes.push(ClientPrefix { given, internal });
        self.out
            .push_back(Output::Kernel(KernelOp::AddPrefixRoute(given)));
        Ok(())
    }

    fn del_prefix(&mut self, given: &IpPrefix) -> bool {
        match self.prefix_index(given) {
            Some(index) => {
                let prefix = self.prefixes.remove(index);
                self.out
                    .push_back(Output::Kernel(KernelOp::DelPrefixRoute(prefix.given)));
                true
            }
            None => false,
        }
    }

    /// Whether `addr` (internal form) is a client address: inside a client prefix.
    fn in_client_prefix(&self, addr: &Ipv6Addr) -> bool {
        self.prefixes.iter().any(|p| p.internal.contains(addr))
    }

    fn add_mesh_if(&mut self, name: String) -> Result<(), ErrorReason> {
        if self.mesh_ifs.contains(&name) {
            return Ok(());
        }
        if self.mesh_ifs.len() >= MAX_MESH_IFS {
            self.stats.limit_mesh_ifs += 1;
            return Err(ErrorReason::LimitReached);
        }
        self.mesh_ifs.push(name);
        Ok(())
    }

    /// Deleted clients remembered for late CLAIMs, for tests and diagnostics.
    pub fn old_client_count(&self) -> usize {
        self.old_clients.len()
    }

    fn handle_link(&mut self, link: Link) {
        self.observe_link(link.ifindex);
        let info = LinkInfo {
            name: link.name,
            up: link.up,
            mac: link.mac,
            master: link.master,
        };
        let was_up = self.links.get(&link.ifindex).map(|l| l.up);
        if self.links.get(&link.ifindex) != Some(&info) {
            log::debug!(
                "link {} ({}) {}",
                info.name,
                link.ifindex,
                if info.up { "up" } else { "down" }
            );
        }
        let up = info.up;
        // A name that is taken by a new link: the old one is gone, whether or not its
        // removal was reported.
        let stale: Vec<u32> = self
            .links
            .iter()
            .filter(|(ifindex, l)| **ifindex != link.ifindex && l.name == info.name)
            .map(|(ifindex, _)| *ifindex)
            .collect();
        for ifindex in stale {
            self.handle_link_gone(ifindex);
        }
        self.links.insert(link.ifindex, info);
        if up && was_up != Some(true) && self.is_client_side(link.ifindex) {
            self.client_link_up(link.ifindex);
        }
    }

    fn handle_link_gone(&mut self, ifindex: u32) {
        if self.is_client_side(ifindex) {
            let name = self.ifname(ifindex).to_string();
            log::info!("client interface {name} ({ifindex}) is gone");
            self.vanished_client_links
                .insert(ifname_key(&name), ifindex);
        }
        self.links.remove(&ifindex);
    }

    /// The index of the link called `name`, as far as the kernel has reported.
    pub fn link_index(&self, name: &str) -> Option<u32> {
        self.ifindex_of(name)
    }

    fn ifindex_of(&self, name: &str) -> Option<u32> {
        self.links
            .iter()
            .find(|(_, link)| link.name == name)
            .map(|(ifindex, _)| *ifindex)
    }

    fn ifname(&self, ifindex: u32) -> &str {
        self.links.get(&ifindex).map_or("", |l| l.name.as_str())
    }

    /// The client interface (`-i`), if configured and present.
    fn client_ifindex(&self) -> Option<u32> {
        self.cfg
            .client_if
            .as_deref()
            .and_then(|name| self.ifindex_of(name))
    }

    fn client_if_mac(&self) -> Option<MacAddr> {
        self.client_ifindex()
            .and_then(|i| self.links.get(&i))
            .and_then(|l| l.mac)
    }

    /// Interfaces on which clients are learned from kernel neighbour events: `-i` and `-b`.
    fn is_client_side(&self, ifindex: u32) -> bool {
        let name = self.ifname(ifindex);
        !name.is_empty()
            && (self.cfg.client_if.as_deref() == Some(name)
                || self.cfg.client_bridge.as_deref() == Some(name))
    }

    /// Interfaces whose station events count: `-i` and the ports of `-b`.
    fn accepts_station_events(&self, ifindex: u32) -> bool {
        if self.ifname(ifindex).is_empty() {
            return false;
        }
        if self.cfg.client_if.as_deref() == Some(self.ifname(ifindex)) {
            return true;
        }
        let bridge = self
            .cfg
            .client_bridge
            .as_deref()
            .and_then(|b| self.ifindex_of(b));
        bridge.is_some() && self.links.get(&ifindex).and_then(|l| l.master) == bridge
    }

    /// Mesh interfaces that exist and are up, in configuration order.
    pub fn mesh_ifindexes_up(&self) -> Vec<u32> {
        self.mesh_ifs
            .iter()
            .filter_map(|name| self.ifindex_of(name))
            .filter(|ifindex| self.links.get(ifindex).is_some_and(|l| l.up))
            .collect()
    }

    fn is_mesh_if(&self, ifindex: u32) -> bool {
        let name = self.ifname(ifindex);
        !name.is_empty() && self.mesh_ifs.iter().any(|m| m == name)
    }

    fn node_client_ip(&self, mac: &MacAddr) -> Ipv6Addr {
        mac.node_client_ip(&self.cfg.node_client_prefix.addr())
    }

    fn to_kernel(&self, addr: &Ipv6Addr) -> IpAddr {
        self.cfg.v4_mapping.to_kernel(addr)
    }

    fn to_internal(&self, addr: IpAddr) -> Ipv6Addr {
        self.cfg.v4_mapping.to_internal(addr)
    }

    // ----- kernel results and routes -----

    fn handle_kernel_result(&mut self, op: KernelOp, result: Result<(), Errno>) {
        let Err(errno) = result else { return };
        if errno == Errno::ENOBUFS {
            match op {
                // Refused for want of room (the request queue or the kernel's buffer), not for
                // what it asks: the intent stays, and the repair after a re-read completes it.
                KernelOp::AddHostRoute(_)
                | KernelOp::DelHostRoute(_)
                | KernelOp::DemoteHostRoute { .. }
                | KernelOp::DelDemotedRoute { .. }
                | KernelOp::AddNodeClientIp(_)
                | KernelOp::DelNodeClientIp(_) => {
                    log::debug!("{op:?}: refused for want of room");
                    self.kernel_refused();
                    return;
                }
                // A question not asked, an entry not written: the client's own timers go on,
                // and the kernel learns the entry itself. A re-read would not redo them.
                KernelOp::ProbeNeighbour { .. }
                | KernelOp::AddNeighbour { .. }
                | KernelOp::DelNeighbour { .. } => {
                    log::debug!("{op:?}: refused for want of room");
                    return;
                }
                // Nothing else redoes them: warned about below.
                _ => {}
            }
        }
        match op {
            KernelOp::AddNodeClientIp(addr) if errno == Errno::EEXIST => {
                log::debug!("node-client IP {addr} was already on loopback: adopted");
            }
            KernelOp::DelHostRoute(_)
            | KernelOp::DelDemotedRoute { .. }
            | KernelOp::DelNeighbour { .. }
            | KernelOp::DelNodeClientIp(_)
            | KernelOp::DelPrefixRoute(_)
                if errno.is_absent() || errno == Errno::ENODEV =>
            {
                // ENODEV: the interface went, and what was on it with it.
                log::debug!("{op:?}: already gone");
            }
            // Asked while its interface was going away; it is asked again when the
            // interface is back (`client_link_up`).
            KernelOp::ProbeNeighbour { .. } if errno == Errno::ENODEV => {
                log::debug!("{op:?}: the interface is gone");
            }
            KernelOp::AddHostRoute(route) => {
                self.stats.kernel_failures += 1;
                log::warn!(
                    "installing host route {} failed: errno {}",
                    route.dst,
                    errno.0
                );
                if self.installed_routes.get(&route.dst) == Some(&route) {
                    self.installed_routes.remove(&route.dst);
                }
                let addr = self.to_internal(route.dst);
                self.demote_to_tentative(&addr);
            }
            KernelOp::DemoteHostRoute { route, .. } => {
                self.stats.kernel_failures += 1;
                log::warn!(
                    "demoting host route {} failed: errno {}; deleting it",
                    route.dst,
                    errno.0
                );
                if self.demoted_routes.get(&route.dst) == Some(&route) {
                    self.demoted_routes.remove(&route.dst);
                    self.timers.set(TimerKey::Demoted(route.dst), None);
                    self.out
                        .push_back(Output::Kernel(KernelOp::DelHostRoute(route)));
                }
            }
            other => {
                self.stats.kernel_failures += 1;
                log::warn!("kernel operation {other:?} failed: errno {}", errno.0);
            }
        }
    }

    fn handle_route(&mut self, route: RouteEvent) {
        if route.deleted || route.kind != RouteKind::Unicast || route.metric >= 0xffff {
            return;
        }
        // Our own release leads nowhere new: packets must wait for the new node's route.
        if Some(route.protocol) == self.cfg.release_protocol {
            return;
        }
        let host_len = if route.dst.is_ipv4() { 32 } else { 128 };
        if route.prefix_len != host_len {
            return;
        }
        let addr = self.to_internal(route.dst);
        self.reinject(&addr);
    }
}

/// In the derived order: the variant, then its key.
impl crate::slot_map::SlotKey for TimerKey {
    const WIDTH: usize = 18;
    fn write(&self, out: &mut [u8]) {
        fn keyed(out: &mut [u8], variant: u8, key: &impl crate::slot_map::SlotKey) -> u8 {
            key.write(out);
            variant
        }
        let (variant, rest) = out.split_at_mut(1);
        variant[0] = match self {
            TimerKey::Client(mac) => keyed(rest, 0, mac),
            TimerKey::Claim(mac) => keyed(rest, 1, mac),
            TimerKey::ClaimWindow(mac) => keyed(rest, 2, mac),
            TimerKey::Info(mac) => keyed(rest, 3, mac),
            TimerKey::OldClient(mac) => keyed(rest, 4, mac),
            TimerKey::Seek(addr) => keyed(rest, 5, addr),
            TimerKey::Dad(addr) => keyed(rest, 6, addr),
            TimerKey::FlapHold(mac) => keyed(rest, 7, mac),
            TimerKey::Demoted(addr) => keyed(rest, 8, addr),
            TimerKey::DupCache => 9,
            TimerKey::Duplicate(addr) => keyed(rest, 10, addr),
            TimerKey::DuplicateMac(mac) => keyed(rest, 11, mac),
            TimerKey::Reconcile => 12,
        };
    }
}

/// An interface name as a map key: Linux names are at most 15 bytes and hold no NUL, so the
/// zero-padded bytes tell names apart and sort as the names do.
fn ifname_key(name: &str) -> [u8; 16] {
    let mut key = [0; 16];
    for (slot, byte) in key.iter_mut().zip(name.bytes()) {
        *slot = byte;
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_keys_and_deadlines_are_encoded_in_their_own_order() {
        let macs = [
            MacAddr([0; 6]),
            MacAddr([0, 0, 0, 0, 0, 1]),
            MacAddr([255; 6]),
        ];
        let v6 = [
            Ipv6Addr::UNSPECIFIED,
            Ipv6Addr::LOCALHOST,
            "ff02::1".parse().unwrap(),
        ];
        let ips = [
            IpAddr::from([10, 0, 0, 1]),
            IpAddr::V6(v6[1]),
            IpAddr::V6(v6[2]),
        ];
        let mut keys = vec![TimerKey::DupCache, TimerKey::Reconcile];
        for mac in macs {
            keys.extend([
                TimerKey::Client(mac),
                TimerKey::Claim(mac),
                TimerKey::ClaimWindow(mac),
                TimerKey::Info(mac),
                TimerKey::OldClient(mac),
                TimerKey::FlapHold(mac),
                TimerKey::DuplicateMac(mac),
            ]);
        }
        for addr in v6 {
            keys.extend([
                TimerKey::Seek(addr),
                TimerKey::Dad(addr),
                TimerKey::Duplicate(addr),
            ]);
        }
        keys.extend(ips.map(TimerKey::Demoted));
        crate::slot_map::assert_order_preserved(&keys);
        let deadlines: Vec<(Instant, TimerKey)> = [0, 1, u64::MAX]
            .into_iter()
            .flat_map(|ms| keys.iter().map(move |key| (Instant::from_millis(ms), *key)))
            .collect();
        crate::slot_map::assert_order_preserved(&deadlines);
    }
}
