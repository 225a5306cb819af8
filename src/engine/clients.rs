//! The client table: MACs, their addresses and address states, and everything that adds or
//! removes them (behaviour.md §3–§5, §7, §8).

use super::{
    Engine, HostRoute, KernelOp, NeighState, Neighbour, Output, Snooped, Solicitation, TimerKey,
};
use crate::slot_map::SlotSet;
use crate::time::{Duration, Instant};
use crate::wire::MacAddr;

use std::net::{IpAddr, Ipv6Addr};

/// Address states, numbered as the C daemon numbers them (visible in `get_clients`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AddrState {
    Inactive = 0,
    Active = 1,
    Tentative = 2,
}

impl AddrState {
    /// ACTIVE and TENTATIVE both count: they make a client active and travel in INFO.
    pub fn is_active(self) -> bool {
        self != AddrState::Inactive
    }
}

/// Removal delay after PROBE / FAILED / DELNEIGH (behaviour.md §8).
pub const REMOVAL_DELAY: Duration = Duration::from_secs(120);
/// NS/ARP retries after PROBE / FAILED: one at once, then this many 300 ms apart.
pub const PROBE_RETRIES: u8 = 4;
pub const PROBE_INTERVAL: Duration = Duration::from_millis(300);
pub const OLD_CLIENT_LIFETIME: Duration = Duration::from_secs(300);
/// A client with no address and no association is forgotten after this long (§8 rule 10).
pub const ADDRESSLESS_LIFETIME: Duration = Duration::from_secs(300);
/// How long a client has to answer a liveness probe.
pub const LIVENESS_GRACE: Duration = Duration::from_secs(5);
/// How long a demoted host route stays before it is deleted. babeld needs a moment to
/// announce the metric change before the deletion (measured: 100 ms suffices on an idle
/// router; a second gives margin on a loaded one), and the two must never share a batch.
pub const RELEASE_HOLD: Duration = Duration::from_secs(1);
/// Deleted clients remembered at once; churn beyond this forgets the soonest to expire.
pub const MAX_OLD_CLIENTS: usize = 4096;

#[derive(Clone, Debug)]
pub(super) struct ClientAddress {
    pub addr: Ipv6Addr,
    pub state: AddrState,
    /// Last confirmation or state change; INFO prefers the most recent addresses.
    pub changed_at: Instant,
    pub remove_at: Option<Instant>,
    pub probes_left: u8,
    pub next_probe_at: Option<Instant>,
}

/// Where the client's node-client IP stands (the C daemon's "claimed" flag, refined).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Decision {
    NotTaken,
    /// Waiting for the kernel's /128 lookup.
    Looking,
    /// A CLAIM cycle runs.
    Claiming,
    /// The node-client IP is on this node's loopback.
    Assigned,
    /// Served elsewhere, but flapping: no CLAIM until the hold ends and the client answers
    /// (flapping.rs).
    Damped,
}

#[derive(Clone, Debug)]
pub(super) struct Client {
    pub mac: MacAddr,
    /// Order of first detection, for `get_clients`.
    pub seq: u64,
    pub ifindex: u32,
    pub addresses: Vec<ClientAddress>,
    pub decision: Decision,
    pub last_seen_at: Instant,
    /// A liveness probe is out; the client must be heard from before this.
    pub liveness_deadline: Option<Instant>,
    /// Wireless interfaces the client is associated on (nl80211).
    pub stations: SlotSet<u32>,
    /// Since when the client has had neither an address nor an association.
    pub idle_since: Option<Instant>,
    /// PLAT prefix received in an INFO, kept for diagnostics only.
    pub plat: Option<Ipv6Addr>,
}

impl Client {
    pub fn has_active_address(&self) -> bool {
        self.addresses.iter().any(|a| a.state.is_active())
    }

    pub fn address(&self, addr: &Ipv6Addr) -> Option<&ClientAddress> {
        self.addresses.iter().find(|a| a.addr == *addr)
    }

    fn address_mut(&mut self, addr: &Ipv6Addr) -> Option<&mut ClientAddress> {
        self.addresses.iter_mut().find(|a| a.addr == *addr)
    }

    /// The addresses an INFO carries: active ones, at most `limit`, preferring the most
    /// recently confirmed, in table order.
    pub fn info_addresses(&self, limit: usize) -> Vec<Ipv6Addr> {
        if limit == 0 {
            return Vec::new();
        }
        let mut active: Vec<&ClientAddress> = self
            .addresses
            .iter()
            .filter(|a| a.state.is_active())
            .collect();
        if active.len() > limit {
            let mut by_recency: Vec<Instant> = active.iter().map(|a| a.changed_at).collect();
            by_recency.sort_unstable_by(|a, b| b.cmp(a));
            let cutoff = by_recency[limit - 1];
            let mut newer = active.iter().filter(|a| a.changed_at > cutoff).count();
            active.retain(|a| {
                if a.changed_at > cutoff {
                    true
                } else if a.changed_at == cutoff && newer < limit {
                    newer += 1;
                    true
                } else {
                    false
                }
            });
        }
        active.into_iter().map(|a| a.addr).collect()
    }
}

/// A deleted client, remembered to answer a late CLAIM (behaviour.md §7).
#[derive(Clone, Debug)]
pub(super) struct OldClient {
    pub addresses: Vec<Ipv6Addr>,
    /// The node that claimed the client from us, if that is how we lost it.
    pub handed_to: Option<Ipv6Addr>,
    pub expires_at: Instant,
}

/// How a solicitation is addressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SolicitMode {
    /// To the solicited-node group (or the client's EUI-64 link-local address when known).
    Discover,
    /// Unicast to the address itself: is this known client still there?
    Verify(MacAddr),
}

impl Engine {
    /// Returns the client, creating it if unknown and the table has room.
    fn client_entry(&mut self, mac: MacAddr, ifindex: u32) -> Option<&mut Client> {
        if !self.clients.contains_key(&mac) {
            if self.learning_held(&mac) {
                return None;
            }
            if self.clients.len() >= self.cfg.limits.clients {
                self.stats.limit_clients += 1;
                return None;
            }
            log::info!("client {mac} appeared on {}", self.ifname(ifindex));
            let seq = self.next_client_seq;
            self.next_client_seq += 1;
            self.clients.insert(
                mac,
                Client {
                    mac,
                    seq,
                    ifindex,
                    addresses: Vec::new(),
                    decision: super::clients::Decision::NotTaken,
                    last_seen_at: self.now,
                    liveness_deadline: None,
                    stations: Default::default(),
                    idle_since: Some(self.now),
                    plat: None,
                },
            );
        }
        self.clients.get_mut(&mac)
    }

    /// The client was heard from: it is alive.
    fn heard_from(&mut self, mac: MacAddr) {
        let now = self.now;
        if let Some(client) = self.clients.get_mut(&mac) {
            client.last_seen_at = now;
            client.liveness_deadline = None;
        }
        self.claim_if_deferred(mac);
        self.duplicate_client_heard(mac);
    }

    /// notify-MAC (behaviour.md §4): "a client MAC was seen on `ifindex`".
    pub(super) fn notify_mac(&mut self, mac: MacAddr, ifindex: u32) {
        if mac.is_zero() || mac.is_multicast() {
            return;
        }
        let Some(client) = self.client_entry(mac, ifindex) else {
            return;
        };
        let already = client.decision != Decision::NotTaken || client.has_active_address();
        if !already {
            client.ifindex = ifindex;
            for address in client.addresses.iter_mut() {
                address.state = AddrState::Tentative;
            }
        }
        self.heard_from(mac);
        if !already {
            self.take_claim_decision(mac);
            // Wake the client up: its EUI-64 link-local address is the one most clients
            // answer for (the C daemon asked for the node-client IP, which nobody answers).
            self.solicit(mac.eui64_link_local(), SolicitMode::Discover);
        }
        self.reschedule_client(mac);
    }

    /// notify-MAC, then add-address for a client that is (now) here. One event that the
    /// client table has no room for counts once, and leaves the address with whoever has it.
    fn notify_mac_and_address(&mut self, mac: MacAddr, addr: Ipv6Addr, ifindex: u32) {
        self.notify_mac(mac, ifindex);
        if self.clients.contains_key(&mac) {
            self.add_address(addr, mac, ifindex);
        }
    }

    /// add-address (behaviour.md §4): "client `mac` uses `addr` (internal form)".
    pub(super) fn add_address(&mut self, addr: Ipv6Addr, mac: MacAddr, ifindex: u32) -> bool {
        if !self.in_client_prefix(&addr) || mac.is_zero() || mac.is_multicast() {
            return false;
        }
        // An address belongs to one client only: a MAC change (a new device, or a client that
        // changed its MAC) moves it.
        if let Some(other) = self.owner_of(&addr).filter(|other| *other != mac) {
            self.remove_address(other, &addr, "now used by another MAC");
        }
        let now = self.now;
        let max_addresses = self.cfg.limits.addresses_per_client;
        let Some(client) = self.client_entry(mac, ifindex) else {
            return false;
        };
        client.ifindex = ifindex;
        let full = client.addresses.len() >= max_addresses;
        let room = match client.address_mut(&addr) {
            Some(address) => {
                // Confirmed again: whatever removal was pending is off.
                address.remove_at = None;
                address.probes_left = 0;
                address.next_probe_at = None;
                true
            }
            None if full => false,
            None => {
                client.addresses.push(ClientAddress {
                    addr,
                    state: AddrState::Inactive,
                    changed_at: now,
                    remove_at: None,
                    probes_left: 0,
                    next_probe_at: None,
                });
                true
            }
        };
        if !room {
            self.stats.limit_addresses += 1;
            return false;
        }
        self.owners.insert(addr, mac);
        self.set_state(mac, &addr, AddrState::Active);
        self.heard_from(mac);
        if self
            .clients
            .get(&mac)
            .is_some_and(|c| c.decision == Decision::NotTaken)
        {
            self.take_claim_decision(mac);
        }
        self.dad.remove(&addr);
        self.reschedule_client(mac);
        true
    }

    /// Moves an address to `state`, installing or removing kernel objects on the way.
    pub(super) fn set_state(&mut self, mac: MacAddr, addr: &Ipv6Addr, state: AddrState) {
        let now = self.now;
        let Some(client) = self.clients.get_mut(&mac) else {
            return;
        };
        let ifindex = client.ifindex;
        let Some(address) = client.address_mut(addr) else {
            return;
        };
        let before = address.state;
        address.state = state;
        address.changed_at = now;
        if before != state {
            log::debug!("{mac}: {addr} changes from {before:?} to {state:?}");
        }
        match (before, state) {
            (AddrState::Active, AddrState::Active) => {
                let route = self.host_route(addr, ifindex);
                if self.installed_routes.get(&route.dst) != Some(&route) {
                    // The client moved between -i and -b: point the route at its interface.
                    self.install(mac, addr, ifindex);
                }
            }
            (_, AddrState::Active) => self.install(mac, addr, ifindex),
            (AddrState::Active, AddrState::Inactive)
            | (AddrState::Tentative, AddrState::Inactive) => self.uninstall(addr),
            (AddrState::Inactive, AddrState::Tentative) => {
                self.solicit(*addr, SolicitMode::Discover)
            }
            _ => {}
        }
    }

    fn host_route(&self, addr: &Ipv6Addr, ifindex: u32) -> HostRoute {
        HostRoute {
            dst: self.to_kernel(addr),
            table: self.cfg.export_table,
            ifindex,
        }
    }

    fn install(&mut self, mac: MacAddr, addr: &Ipv6Addr, ifindex: u32) {
        let route = self.host_route(addr, ifindex);
        // Back before its demoted route went: the replace below takes that route over (same
        // destination and metric), so there is nothing left to delete.
        if self.demoted_routes.remove(&route.dst).is_some() {
            self.timers.set(TimerKey::Demoted(route.dst), None);
        }
        if let Some(old) = self.installed_routes.insert(route.dst, route) {
            // A route on an interface that vanished went with it.
            if old.ifindex != route.ifindex && self.links.contains_key(&old.ifindex) {
                self.out
                    .push_back(Output::Kernel(KernelOp::DelHostRoute(old)));
                self.neighbour_op(KernelOp::DelNeighbour {
                    ifindex: old.ifindex,
                    addr: old.dst,
                });
            }
        }
        self.out
            .push_back(Output::Kernel(KernelOp::AddHostRoute(route)));
        if self.kernel_entry != Some((ifindex, route.dst, mac)) {
            self.neighbour_op(KernelOp::AddNeighbour {
                ifindex,
                addr: route.dst,
                mac,
            });
        }
        self.reinject(addr);
    }

    /// Removes exactly the host route and neighbour entry this process installed; the
    /// route by demotion first when a release protocol is configured, except at shutdown.
    /// A demotion tells the neighbours the route is gone for good (metric 65534 is infinity
    /// one hop away), which is what a hand-over needs, but a daemon that is restarted
    /// announces the same routes again from the same router, and babeld (1.12.1 measured)
    /// then keeps its unreachable entry for 15 to over 30 s before it takes them: deleted at
    /// once, a restart goes unnoticed, as with the C daemon.
    fn uninstall(&mut self, addr: &Ipv6Addr) {
        let dst = self.to_kernel(addr);
        if let Some(route) = self.installed_routes.remove(&dst) {
            if !self.links.contains_key(&route.ifindex) {
                // Its interface vanished, and the route and neighbour entry with it.
                return;
            }
            match self.cfg.release_protocol.filter(|_| !self.stopping) {
                Some(protocol) => {
                    self.stats.routes_demoted += 1;
                    self.out
                        .push_back(Output::Kernel(KernelOp::DemoteHostRoute {
                            route,
                            protocol,
                        }));
                    self.demoted_routes.insert(dst, route);
                    self.timers
                        .set(TimerKey::Demoted(dst), Some(self.now + RELEASE_HOLD));
                }
                None => self
                    .out
                    .push_back(Output::Kernel(KernelOp::DelHostRoute(route))),
            }
            // The kernel has just reported this address under another MAC: the entry is
            // the new owner's.
            let taken = matches!(self.kernel_entry,
                Some((ifindex, entry, _)) if ifindex == route.ifindex && entry == dst);
            if !taken {
                self.neighbour_op(KernelOp::DelNeighbour {
                    ifindex: route.ifindex,
                    addr: dst,
                });
            }
        }
    }

    /// The end of a release: the demoted route goes, matched by its protocol.
    pub(super) fn delete_demoted_route(&mut self, dst: IpAddr) {
        let (Some(route), Some(protocol)) =
            (self.demoted_routes.remove(&dst), self.cfg.release_protocol)
        else {
            return;
        };
        self.stats.demoted_routes_deleted += 1;
        self.out
            .push_back(Output::Kernel(KernelOp::DelDemotedRoute {
                route,
                protocol,
            }));
    }

    /// A route install failed: the address stays known but unconfirmed, and is retried on
    /// the next event that confirms it.
    pub(super) fn demote_to_tentative(&mut self, addr: &Ipv6Addr) {
        let Some(mac) = self.owner_of(addr) else {
            return;
        };
        if let Some(address) = self.clients.get_mut(&mac).and_then(|c| c.address_mut(addr)) {
            if address.state == AddrState::Active {
                address.state = AddrState::Tentative;
            }
        }
    }

    /// Removes an address now; deletes the client if no active address remains, otherwise
    /// asks the kernel to verify the others (behaviour.md §8 rule 6, with the FIX of §15 #20).
    pub(super) fn remove_address(&mut self, mac: MacAddr, addr: &Ipv6Addr, why: &str) {
        let Some(client) = self.clients.get(&mac) else {
            return;
        };
        if client.address(addr).is_none() {
            return;
        }
        log::info!("{mac}: removing {addr} ({why})");
        self.set_state(mac, addr, AddrState::Inactive);
        let now = self.now;
        let Some(client) = self.clients.get_mut(&mac) else {
            return;
        };
        client.addresses.retain(|a| a.addr != *addr);
        self.owners.remove(addr);
        if client.addresses.is_empty() && client.stations.is_empty() {
            client.idle_since = Some(now);
        }
        if client.has_active_address() {
            self.kernel_probe_all(mac);
            self.reschedule_client(mac);
        } else {
            self.delete_client(mac, "no address left");
        }
    }

    /// Deletes a client (behaviour.md §8 "Delete client"): its CLAIM cycle stops, a copy is
    /// kept for late CLAIMs, and its node-client IP, host routes and neighbour entries go.
    pub(super) fn delete_client(&mut self, mac: MacAddr, why: &str) {
        let Some(client) = self.clients.get(&mac) else {
            return;
        };
        log::info!("client {mac} removed ({why})");
        let old = OldClient {
            addresses: client.info_addresses(crate::wire::intercom::MAX_ADDRESSES_PER_TLV),
            handed_to: None,
            expires_at: self.now + OLD_CLIENT_LIFETIME,
        };
        let addresses: Vec<Ipv6Addr> = client.addresses.iter().map(|a| a.addr).collect();
        self.end_claim(mac);
        // An INFO is only taken for a current client: the window dies with the client.
        self.claim_windows.remove(&mac);
        self.timers.set(TimerKey::ClaimWindow(mac), None);
        self.release_node_client_ip(mac);
        for addr in &addresses {
            self.set_state(mac, addr, AddrState::Inactive);
            self.owners.remove(addr);
        }
        self.clients.remove(&mac);
        self.timers.set(TimerKey::Client(mac), None);
        if !self.stopping {
            self.remember_old_client(mac, old);
        }
    }

    fn remember_old_client(&mut self, mac: MacAddr, old: OldClient) {
        if !self.old_clients.contains_key(&mac) && self.old_clients.len() >= MAX_OLD_CLIENTS {
            self.stats.limit_old_clients += 1;
            let soonest = self
                .old_clients
                .iter()
                .min_by_key(|(_, o)| o.expires_at)
                .map(|(m, _)| *m);
            if let Some(evicted) = soonest {
                self.old_clients.remove(&evicted);
                self.timers.set(TimerKey::OldClient(evicted), None);
            }
        }
        self.timers
            .set(TimerKey::OldClient(mac), Some(old.expires_at));
        self.old_clients.insert(mac, old);
    }

    fn release_node_client_ip(&mut self, mac: MacAddr) {
        let ncip = self.node_client_ip(&mac);
        if self.node_client_ips.remove(&ncip) {
            self.out
                .push_back(Output::Kernel(KernelOp::DelNodeClientIp(ncip)));
        }
    }

    /// Asks the kernel to verify every address of the client (state PROBE). Not while its
    /// interface is away: it is asked when the interface is back (`client_link_up`).
    pub(super) fn kernel_probe_all(&mut self, mac: MacAddr) {
        let Some(client) = self
            .clients
            .get(&mac)
            .filter(|c| self.links.contains_key(&c.ifindex))
        else {
            return;
        };
        let ifindex = client.ifindex;
        let addrs: Vec<IpAddr> = client
            .addresses
            .iter()
            .map(|a| self.to_kernel(&a.addr))
            .collect();
        for addr in addrs {
            self.neighbour_op(KernelOp::ProbeNeighbour { ifindex, addr, mac });
        }
    }

    /// A client interface came up: new (it vanished and a new link took its name), or
    /// back from down. Either way the kernel dropped the host routes through it (IPv4 without
    /// a word), and the neighbour entries with them. The clients served on it, on its old
    /// index if it was re-created, are pointed at it, their routes installed again, and each
    /// is asked whether it is still there: one that answers is confirmed, one that does not
    /// leaves as any client whose neighbour entry failed (120 s).
    pub(super) fn client_link_up(&mut self, ifindex: u32) {
        let name = self.ifname(ifindex).to_string();
        let old = self
            .vanished_client_links
            .remove(&super::ifname_key(&name))
            .filter(|old| *old != ifindex);
        let macs: Vec<MacAddr> = self
            .clients
            .values()
            .filter(|c| c.ifindex == ifindex || Some(c.ifindex) == old)
            .map(|c| c.mac)
            .collect();
        if macs.is_empty() {
            return;
        }
        match old {
            Some(old) => log::info!(
                "client interface {name} is back as ifindex {ifindex} (was {old}): \
                 re-installing the routes of {} clients and asking them",
                macs.len()
            ),
            None => log::info!(
                "client interface {name} ({ifindex}) is up again: re-installing the routes \
                 of {} clients and asking them",
                macs.len()
            ),
        }
        for mac in macs {
            let Some(client) = self.clients.get_mut(&mac) else {
                continue;
            };
            client.ifindex = ifindex;
            let active: Vec<Ipv6Addr> = client
                .addresses
                .iter()
                .filter(|a| a.state == AddrState::Active)
                .map(|a| a.addr)
                .collect();
            for addr in active {
                self.install(mac, &addr, ifindex);
            }
            self.ask_client(mac);
        }
    }

    /// Sends an NS (IPv6) or ARP request (IPv4) for `target` on the client interface.
    pub(super) fn solicit(&mut self, target: Ipv6Addr, mode: SolicitMode) {
        let Some(ifindex) = self.client_ifindex() else {
            return;
        };
        let own_mac = self.client_if_mac();
        let frame = match self.cfg.v4_mapping.unmap(&target) {
            Some(v4) => {
                let Some(sender_mac) = own_mac else {
                    return;
                };
                Solicitation::Arp {
                    ifindex,
                    target: v4,
                    sender_mac,
                    dst_mac: match mode {
                        SolicitMode::Verify(mac) => Some(mac),
                        SolicitMode::Discover => None,
                    },
                }
            }
            None => {
                let dst = match mode {
                    SolicitMode::Verify(_) => target,
                    SolicitMode::Discover => self.discover_destination(&target),
                };
                Solicitation::Neighbour {
                    ifindex,
                    target,
                    dst,
                    source_mac: own_mac,
                }
            }
        };
        self.out.push_back(Output::Solicit(frame));
    }

    /// The solicited-node group, except for a known client whose EUI-64 link-local address
    /// is also known: then unicast to that address (behaviour.md §12.1).
    fn discover_destination(&self, target: &Ipv6Addr) -> Ipv6Addr {
        let link_local = self
            .owner_of(target)
            .map(|mac| mac.eui64_link_local())
            .filter(|ll| {
                self.owner_of(ll)
                    .is_some_and(|owner| Some(owner) == self.owner_of(target))
            });
        link_local.unwrap_or_else(|| crate::wire::ipv6::solicited_node(target))
    }

    /// Which client uses `addr`, if any.
    pub(super) fn owner_of(&self, addr: &Ipv6Addr) -> Option<MacAddr> {
        self.owners.get(addr).copied()
    }

    /// Rule 3: PROBE or FAILED: remove in 120 s unless confirmed, and ask the client now
    /// and four more times.
    fn suspect_address(&mut self, mac: MacAddr, addr: &Ipv6Addr) {
        let now = self.now;
        let Some(address) = self.clients.get_mut(&mac).and_then(|c| c.address_mut(addr)) else {
            return;
        };
        if address.remove_at.is_none() {
            address.remove_at = Some(now + REMOVAL_DELAY);
        }
        address.probes_left = PROBE_RETRIES;
        address.next_probe_at = Some(now + PROBE_INTERVAL);
        self.solicit(*addr, SolicitMode::Discover);
        self.reschedule_client(mac);
    }

    pub(super) fn handle_neighbour(&mut self, n: Neighbour) {
        if !self.cfg.learn_from_netlink || !self.is_client_side(n.ifindex) {
            return;
        }
        let addr = self.to_internal(n.addr);
        if n.deleted {
            // Rule 4. The kernel omits the MAC when a FAILED entry goes: find the owner by
            // address (the C daemon ignored these).
            let owner = match n.mac {
                Some(mac)
                    if self
                        .clients
                        .get(&mac)
                        .is_some_and(|c| c.address(&addr).is_some()) =>
                {
                    Some(mac)
                }
                _ => self.owner_of(&addr),
            };
            if let Some(mac) = owner {
                self.neighbour_gone(mac, &[addr]);
            }
            return;
        }
        match n.state {
            NeighState::Reachable => {
                if let Some(mac) = n.mac {
                    self.kernel_entry = Some((n.ifindex, n.addr, mac));
                    self.notify_mac_and_address(mac, addr, n.ifindex);
                    self.kernel_entry = None;
                }
            }
            NeighState::Probe | NeighState::Failed => {
                let owner = n
                    .mac
                    .filter(|mac| {
                        self.clients
                            .get(mac)
                            .is_some_and(|c| c.address(&addr).is_some())
                    })
                    .or_else(|| self.owner_of(&addr));
                if let Some(mac) = owner {
                    self.suspect_address(mac, &addr);
                }
            }
            NeighState::NoArp => {
                if let Some(mac) = self.owner_of(&addr) {
                    self.remove_address(mac, &addr, "neighbour entry is NOARP");
                }
            }
            _ => {}
        }
    }

    /// Bridge FDB learning (behaviour.md §4.1 row 3): a MAC that a port of `-b` learned is a
    /// client; when the bridge forgets it, its addresses are checked as after DELNEIGH. This
    /// is what finds a roamed client that sends nothing but its link-up chatter.
    pub(super) fn handle_fdb(&mut self, port: u32, mac: MacAddr, deleted: bool) {
        if !self.cfg.learn_from_netlink {
            return;
        }
        let Some(bridge) = self
            .cfg
            .client_bridge
            .as_deref()
            .and_then(|b| self.ifindex_of(b))
        else {
            return;
        };
        let on_client_port = self
            .links
            .get(&port)
            .is_some_and(|l| l.master == Some(bridge));
        // Frames the node itself sends through a port (e.g. from `-i local-node`) teach the
        // bridge the node's own MACs.
        let own = self.links.values().any(|l| l.mac == Some(mac));
        if !on_client_port || own {
            return;
        }
        if !deleted {
            let client_if = self.client_ifindex().unwrap_or(bridge);
            self.notify_mac(mac, client_if);
            return;
        }
        let addrs: Vec<Ipv6Addr> = match self.clients.get(&mac) {
            Some(client) => client.addresses.iter().map(|a| a.addr).collect(),
            None => return,
        };
        self.neighbour_gone(mac, &addrs);
    }

    pub(super) fn handle_station(&mut self, ifindex: u32, mac: MacAddr, associated: bool) {
        if !self.cfg.learn_from_nl80211 || !self.accepts_station_events(ifindex) {
            return;
        }
        if associated {
            let Some(client_if) = self.client_ifindex() else {
                return;
            };
            self.notify_mac(mac, client_if);
            if let Some(client) = self.clients.get_mut(&mac) {
                client.stations.insert(ifindex);
                client.idle_since = None;
            }
        } else if let Some(client) = self.clients.get_mut(&mac) {
            client.stations.remove(&ifindex);
            // Moving between the radios of one node shows NEW on one before DEL on the other.
            if client.stations.is_empty() {
                self.delete_client(mac, "disassociated");
            }
        }
    }

    pub(super) fn handle_snooped(&mut self, frame: Snooped) {
        let Some(client_if) = self.client_ifindex() else {
            return;
        };
        match frame {
            Snooped::Solicit {
                src,
                src_mac,
                target,
                ..
            } if self.cfg.learn_from_ndp => {
                if src.is_unspecified() {
                    self.start_dad_probe(target);
                } else {
                    self.notify_mac_and_address(src_mac, src, client_if);
                }
            }
            Snooped::Advert { target, mac, .. } if self.cfg.learn_from_ndp => {
                self.add_address(target, mac, client_if);
            }
            // Replies as the C daemon, and (NEW) requests and gratuitous ARP: a client's own
            // sender address is as good a sign of it as an NS is for IPv6.
            Snooped::Arp {
                sender_mac,
                sender_ip,
                ..
            } if !sender_ip.is_unspecified() => {
                let addr = self.cfg.v4_mapping.map(sender_ip);
                self.add_address(addr, sender_mac, client_if);
            }
            _ => {}
        }
    }

    /// Runs the client's due timers: probes, removals, liveness, expiry.
    pub(super) fn service_client(&mut self, mac: MacAddr) {
        let now = self.now;
        let Some(client) = self.clients.get_mut(&mac) else {
            return;
        };
        let mut to_probe = Vec::new();
        let mut to_remove = Vec::new();
        for address in client.addresses.iter_mut() {
            if address.next_probe_at.is_some_and(|at| at <= now) {
                to_probe.push(address.addr);
                address.probes_left = address.probes_left.saturating_sub(1);
                address.next_probe_at = (address.probes_left > 0).then_some(now + PROBE_INTERVAL);
            }
            if address.remove_at.is_some_and(|at| at <= now) {
                to_remove.push(address.addr);
            }
        }
        let liveness_failed = client.liveness_deadline.is_some_and(|at| at <= now);
        let liveness_due = client.liveness_deadline.is_none()
            && client.has_active_address()
            && self
                .cfg
                .liveness_interval
                .is_some_and(|interval| client.last_seen_at + interval <= now);
        let idle_expired = client.idle_since.is_some_and(|since| {
            client.addresses.is_empty() && since + ADDRESSLESS_LIFETIME <= now
        });

        for addr in to_probe {
            self.solicit(addr, SolicitMode::Discover);
        }
        for addr in to_remove {
            self.remove_address(mac, &addr, "neighbour gone for 120 s");
        }
        if liveness_failed {
            self.stats.liveness_purges += 1;
            self.delete_client(mac, "silent, liveness probe unanswered");
        } else if idle_expired {
            self.stats.clients_expired += 1;
            self.delete_client(mac, "no address and no association for 300 s");
        } else if liveness_due {
            self.start_liveness_probe(mac);
        }
        self.reschedule_client(mac);
    }

    /// The client has not been heard from for the liveness interval: ask it directly (unicast
    /// NS / ARP) and through the kernel; no answer within the grace time deletes it.
    fn start_liveness_probe(&mut self, mac: MacAddr) {
        self.stats.liveness_probes += 1;
        log::debug!("{mac}: not heard from for a while, probing");
        self.expect_answer(mac);
    }

    /// Asks the client whether it is here; without a sign of it within [`LIVENESS_GRACE`]
    /// it is deleted (the client's timer sees to it).
    pub(super) fn expect_answer(&mut self, mac: MacAddr) {
        let now = self.now;
        let Some(client) = self.clients.get_mut(&mac) else {
            return;
        };
        client.liveness_deadline = Some(now + LIVENESS_GRACE);
        self.ask_client(mac);
        self.reschedule_client(mac);
    }

    /// Asks the client directly: unicast NS / ARP to each active address, and the kernel
    /// probes every address. Any sign of it afterwards is `heard_from`.
    pub(super) fn ask_client(&mut self, mac: MacAddr) {
        let Some(client) = self.clients.get(&mac) else {
            return;
        };
        let addrs: Vec<Ipv6Addr> = client
            .addresses
            .iter()
            .filter(|a| a.state.is_active())
            .map(|a| a.addr)
            .collect();
        for addr in addrs {
            self.solicit(addr, SolicitMode::Verify(mac));
        }
        self.kernel_probe_all(mac);
    }

    /// Re-arms the client's timer at its earliest deadline.
    pub(super) fn reschedule_client(&mut self, mac: MacAddr) {
        let deadline = self.clients.get(&mac).and_then(|client| {
            let addresses = client
                .addresses
                .iter()
                .flat_map(|a| [a.remove_at, a.next_probe_at])
                .flatten();
            let liveness = match client.liveness_deadline {
                Some(at) => Some(at),
                None if client.has_active_address() => self
                    .cfg
                    .liveness_interval
                    .map(|interval| client.last_seen_at + interval),
                None => None,
            };
            let idle = client
                .idle_since
                .filter(|_| client.addresses.is_empty())
                .map(|since| since + ADDRESSLESS_LIFETIME);
            addresses.chain(liveness).chain(idle).min()
        });
        self.timers.set(TimerKey::Client(mac), deadline);
    }
}
