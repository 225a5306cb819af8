//! Reconciliation with the kernel (behaviour.md §9.5): the kernel is reconciled, not trusted.
//!
//! The engine watches the kernel objects that concern it (its own host routes, node-client
//! IPs on loopback, neighbour entries on the client side) as they are reported, by events and
//! by dumps. At every [`Input::DumpDone`] it compares that view with what it installed:
//!
//! - after the **first** dump, before anything is learned, host routes and node-client IPs
//!   left by an earlier run are adopted (a route whose address still has a neighbour entry
//!   with a MAC) or deleted with an exact match; learning inputs that arrived meanwhile are
//!   held and replayed afterwards, so no CLAIM leaves and no route is removed before the
//!   daemon knows what the kernel holds;
//! - after every later dump (periodic, or the system layer's re-dump after a netlink
//!   overrun) vanished routes and node-client IPs are re-installed, and an ACTIVE address
//!   without a neighbour entry is treated like a deleted entry (§8 rule 11); a link the
//!   batch did not report is gone, although its RTM_DELLINK was lost.
//!
//! The view starts afresh at [`Input::DumpStarted`]: what events reported before the batch
//! may have been undone by notifications that were lost (a neighbour reported, then deleted
//! during an overrun), and a view that kept it would hide the departure for good.
//!
//! From an [`Input::NetlinkOverrun`] until a batch completes without another one, the
//! engine's knowledge of the neighbour table is stale: an address it gives to one MAC may
//! long belong to another. Its own neighbour writes (a kernel probe or an entry written with
//! the client's MAC) would then overwrite what the kernel learned since, and a probe of the
//! wrong MAC would even have the kernel fail and drop the right entry. They wait, and at the
//! end of the batch only those whose address the kernel does not hold under another MAC are
//! sent; deletions are dropped (an entry nobody uses ages out by itself).

use super::clients::REMOVAL_DELAY;
use super::{Engine, Input, KernelOp, Output, TimerKey};
use crate::engine::input::{AddressEvent, Neighbour, RouteEvent, RouteKind};
use crate::engine::output::{HostRoute, ROUTE_PROTOCOL};
use crate::slot_map::{SlotKey, SlotMap, SlotSet};
use crate::time::{Duration, jittered};
use crate::wire::MacAddr;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv6Addr};

/// How often the kernel is re-read when nothing else asks for it (±25 %).
pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(300);
/// How soon the kernel is re-read after operations were refused for want of room (the
/// request queue or the kernel's socket buffer full): long enough for the backlog that
/// caused it to drain, short enough that no client waits minutes for its routes.
pub const REREAD_AFTER_REFUSAL: Duration = Duration::from_secs(2);
/// Learning inputs held until the first dump completes; more are dropped (and counted).
pub const MAX_DEFERRED: usize = 4096;
/// Neighbour writes held while the view is stale; more are dropped (and counted).
pub const MAX_HELD_NEIGHBOUR_OPS: usize = 4096;
/// Kernel objects remembered per kind. A view that overflowed is incomplete, and an
/// incomplete view must not delete anything: repairs are skipped for that round.
pub const MAX_VIEWED: usize = 16384;

#[derive(Default)]
pub(super) struct KernelView {
    /// The first dump has completed.
    pub synced: bool,
    /// A [`KernelOp::Dump`] went out and its [`Input::DumpDone`] has not come back.
    dump_pending: bool,
    /// Proto-158 host routes in the export table, reported since the last DumpDone.
    routes: SlotSet<HostRoute>,
    /// Host routes of the release protocol in the export table, likewise.
    demoted: SlotSet<HostRoute>,
    /// /128 addresses on loopback inside the node-client prefix.
    node_client_ips: SlotSet<Ipv6Addr>,
    /// Neighbour entries on the client side: (ifindex, address) -> MAC, if reported.
    neighbours: SlotMap<(u32, IpAddr), Option<MacAddr>>,
    /// Links reported since the batch began.
    links: SlotSet<u32>,
    /// A batch runs: [`Input::DumpStarted`] came and its [`Input::DumpDone`] has not.
    batch: bool,
    /// Notifications were lost and no batch has completed since without losing more.
    stale: bool,
    /// Notifications were lost while this batch ran: its view is incomplete.
    overrun_in_batch: bool,
    /// Neighbour writes held while stale.
    held: Vec<KernelOp>,
    /// Operations were refused since the current or last batch began: the next re-read
    /// comes after [`REREAD_AFTER_REFUSAL`], not [`RECONCILE_INTERVAL`].
    reread_wanted: bool,
    overflowed: bool,
    deferred: VecDeque<Input>,
}

impl KernelView {
    fn insert<K: SlotKey, V>(map: &mut SlotMap<K, V>, key: K, value: V, overflowed: &mut bool) {
        if map.len() < MAX_VIEWED || map.contains_key(&key) {
            map.insert(key, value);
        } else {
            *overflowed = true;
        }
    }

    fn insert_set<K: SlotKey>(set: &mut SlotSet<K>, key: K, overflowed: &mut bool) {
        if set.len() < MAX_VIEWED || set.contains(&key) {
            set.insert(key);
        } else {
            *overflowed = true;
        }
    }
}

impl Engine {
    /// The first output of a new engine, and every [`RECONCILE_INTERVAL`] after.
    pub(super) fn request_dump(&mut self) {
        if self.view.dump_pending {
            return;
        }
        self.view.dump_pending = true;
        self.out.push_back(Output::Kernel(KernelOp::Dump));
    }

    /// Holds a learning input until the first dump is complete. Returns it back when the
    /// engine is already synced.
    pub(super) fn defer_until_synced(&mut self, input: Input) -> Option<Input> {
        if self.view.synced {
            return Some(input);
        }
        if self.view.deferred.len() < MAX_DEFERRED {
            self.view.deferred.push_back(input);
        } else {
            self.stats.limit_deferred += 1;
        }
        None
    }

    pub(super) fn observe_route(&mut self, route: &RouteEvent) {
        let host_len = if route.dst.is_ipv4() { 32 } else { 128 };
        let host_route = route.table == self.cfg.export_table
            && route.kind == RouteKind::Unicast
            && route.prefix_len == host_len;
        let Some(ifindex) = route.ifindex.filter(|_| host_route) else {
            return;
        };
        let set = if route.protocol == ROUTE_PROTOCOL {
            &mut self.view.routes
        } else if Some(route.protocol) == self.cfg.release_protocol {
            &mut self.view.demoted
        } else {
            return;
        };
        let host = HostRoute {
            dst: route.dst,
            table: route.table,
            ifindex,
        };
        if route.deleted {
            set.remove(&host);
        } else {
            KernelView::insert_set(set, host, &mut self.view.overflowed);
        }
    }

    pub(super) fn observe_address(&mut self, event: &AddressEvent) {
        let IpAddr::V6(addr) = event.addr else {
            return;
        };
        let on_loopback = self.ifname(event.ifindex) == "lo";
        // Node-client IPs share the first 64 bits of -P, whatever its length (§2.1).
        let node_client =
            u128::from(addr) >> 64 == u128::from(self.cfg.node_client_prefix.addr()) >> 64;
        if !on_loopback || event.prefix_len != 128 || !node_client {
            return;
        }
        if event.deleted {
            self.view.node_client_ips.remove(&addr);
        } else {
            KernelView::insert_set(
                &mut self.view.node_client_ips,
                addr,
                &mut self.view.overflowed,
            );
        }
    }

    pub(super) fn observe_neighbour(&mut self, n: &Neighbour) {
        if !self.is_client_side(n.ifindex) {
            return;
        }
        let key = (n.ifindex, n.addr);
        if n.deleted {
            self.view.neighbours.remove(&key);
        } else {
            KernelView::insert(
                &mut self.view.neighbours,
                key,
                n.mac,
                &mut self.view.overflowed,
            );
        }
    }

    /// Notifications were lost; the system layer reads the kernel again.
    pub(super) fn handle_overrun(&mut self) {
        if !self.view.stale {
            log::info!("kernel notifications lost: neighbour writes wait for the re-read");
        }
        self.view.stale = true;
        if self.view.batch {
            self.view.overrun_in_batch = true;
        }
    }

    /// Every neighbour write goes through here (see the module docs).
    pub(super) fn neighbour_op(&mut self, op: KernelOp) {
        if !self.view.stale {
            self.out.push_back(Output::Kernel(op));
        } else if matches!(op, KernelOp::DelNeighbour { .. }) {
            log::debug!("{op:?} dropped: the neighbour table is being read again");
        } else if self.view.held.len() < MAX_HELD_NEIGHBOUR_OPS {
            self.view.held.push(op);
        } else {
            self.stats.limit_deferred += 1;
        }
    }

    /// The end of a complete batch: the held writes whose address the kernel does not hold
    /// under another MAC, and that still concern a client with that address.
    fn release_held_neighbour_ops(&mut self) {
        for op in std::mem::take(&mut self.view.held) {
            let (KernelOp::AddNeighbour { ifindex, addr, mac }
            | KernelOp::ProbeNeighbour { ifindex, addr, mac }) = op
            else {
                continue;
            };
            let kernel_mac = self
                .view
                .neighbours
                .get(&(ifindex, addr))
                .copied()
                .flatten();
            let ours = self.owner_of(&self.to_internal(addr)) == Some(mac);
            if ours && kernel_mac.is_none_or(|m| m == mac) {
                self.out.push_back(Output::Kernel(op));
            } else {
                log::debug!("{op:?} dropped: the kernel holds {addr} under {kernel_mac:?}");
            }
        }
    }

    /// A batch begins: everything that exists will be reported again.
    pub(super) fn handle_dump_started(&mut self) {
        self.view.overrun_in_batch = false;
        self.view.routes.clear();
        self.view.demoted.clear();
        self.view.node_client_ips.clear();
        self.view.neighbours.clear();
        self.view.links.clear();
        self.view.overflowed = false;
        self.view.batch = true;
        // What was refused before this batch began, the batch sees undone.
        self.view.reread_wanted = false;
    }

    /// A kernel operation was refused for want of room, not for what it asked. The intent
    /// stays recorded (installed routes, node-client IPs, releases); a re-read soon shows
    /// what the kernel lacks or still holds, and the repair after it puts that right.
    pub(super) fn kernel_refused(&mut self) {
        if !std::mem::replace(&mut self.view.reread_wanted, true) {
            log::info!(
                "kernel operations refused for want of room: re-reading the kernel in {} s \
                 to complete them",
                REREAD_AFTER_REFUSAL.as_secs()
            );
        }
        // A running batch schedules the re-read when it ends.
        if self.view.batch {
            return;
        }
        let soon = self.now + REREAD_AFTER_REFUSAL;
        if self
            .timers
            .deadline(&TimerKey::Reconcile)
            .is_none_or(|at| at > soon)
        {
            self.timers.set(TimerKey::Reconcile, Some(soon));
        }
    }

    pub(super) fn observe_link(&mut self, ifindex: u32) {
        if self.view.batch {
            KernelView::insert_set(&mut self.view.links, ifindex, &mut self.view.overflowed);
        }
    }

    pub(super) fn handle_dump_done(&mut self) {
        self.view.dump_pending = false;
        if self.view.overflowed {
            self.stats.limit_kernel_view += 1;
        }
        let batch = std::mem::take(&mut self.view.batch);
        // A batch that lost notifications itself is incomplete: absences prove nothing, and
        // the batch the loss queued comes next.
        let lost = std::mem::take(&mut self.view.overrun_in_batch);
        let complete = !lost && !self.view.overflowed;
        if batch && complete {
            let unreported: Vec<u32> = self
                .links
                .keys()
                .filter(|ifindex| !self.view.links.contains(ifindex))
                .copied()
                .collect();
            for ifindex in unreported {
                log::info!(
                    "link {} ({ifindex}) is gone: its removal was not reported",
                    self.ifname(ifindex)
                );
                self.handle_link_gone(ifindex);
            }
        }
        self.view.links.clear();
        if self.view.stale && complete {
            self.view.stale = false;
            self.release_held_neighbour_ops();
        }
        if lost {
            log::debug!("notifications lost during the re-read: repairs wait for the next");
        } else if self.view.overflowed {
            log::warn!(
                "more than {MAX_VIEWED} kernel objects of one kind: nothing repaired this round"
            );
        } else if self.view.synced {
            self.repair();
        } else {
            self.adopt_leftovers();
        }
        self.view.routes.clear();
        self.view.demoted.clear();
        self.view.node_client_ips.clear();
        self.view.neighbours.clear();
        self.view.overflowed = false;
        let interval = if std::mem::take(&mut self.view.reread_wanted) {
            REREAD_AFTER_REFUSAL
        } else {
            jittered(RECONCILE_INTERVAL, self.rng.next_u32())
        };
        self.timers
            .set(TimerKey::Reconcile, Some(self.now + interval));
        // The first read must be whole before anything is learned or adopted.
        if !self.view.synced && !lost {
            self.view.synced = true;
            log::info!("kernel state read: serving");
            for input in std::mem::take(&mut self.view.deferred) {
                self.dispatch(input);
            }
        }
    }

    /// Startup (§9.5): what an earlier run left is adopted or removed, never duplicated.
    fn adopt_leftovers(&mut self) {
        let leftovers: Vec<HostRoute> = self
            .view
            .routes
            .iter()
            .filter(|r| self.installed_routes.get(&r.dst) != Some(r))
            .copied()
            .collect();
        let mut adopted: SlotSet<Ipv6Addr> = SlotSet::new();
        for route in leftovers {
            let addr = self.to_internal(route.dst);
            let mac = self
                .view
                .neighbours
                .get(&(route.ifindex, route.dst))
                .copied()
                .flatten();
            // Anything not adopted here is removed with the other strays below.
            if let Some(mac) =
                mac.filter(|_| self.is_client_side(route.ifindex) && self.in_client_prefix(&addr))
            {
                log::info!(
                    "{mac}: adopting host route {} left by an earlier run",
                    route.dst
                );
                if self.add_address(addr, mac, route.ifindex) {
                    adopted.insert(self.node_client_ip(&mac));
                    // The entry may be hours old: let the kernel check the client is there.
                    self.neighbour_op(KernelOp::ProbeNeighbour {
                        ifindex: route.ifindex,
                        addr: route.dst,
                        mac,
                    });
                }
            }
        }
        // The adopted clients' node-client IPs are claimed only once their route lookup
        // answers (`Local`): kept until then.
        self.remove_strays(&adopted);
    }

    /// Periodic and after an overrun: put back what vanished, notice departed neighbours.
    fn repair(&mut self) {
        // A route on an interface that is away comes back with the interface
        // (`client_link_up`); on the old index it could only fail.
        let missing: Vec<HostRoute> = self
            .installed_routes
            .values()
            .filter(|r| !self.view.routes.contains(r) && self.links.contains_key(&r.ifindex))
            .copied()
            .collect();
        for route in missing {
            log::info!(
                "host route {} vanished from the kernel: re-installing",
                route.dst
            );
            self.out
                .push_back(Output::Kernel(KernelOp::AddHostRoute(route)));
        }
        let missing: Vec<Ipv6Addr> = self
            .node_client_ips
            .iter()
            .filter(|ip| !self.view.node_client_ips.contains(ip))
            .copied()
            .collect();
        for ip in missing {
            log::info!("node-client IP {ip} vanished from loopback: adding it again");
            self.out
                .push_back(Output::Kernel(KernelOp::AddNodeClientIp(ip)));
        }
        self.remove_strays(&SlotSet::new());
        if !self.cfg.learn_from_netlink {
            return;
        }
        let mut departed: Vec<(MacAddr, Ipv6Addr)> = Vec::new();
        for (mac, client) in self
            .clients
            .iter()
            .filter(|(_, c)| self.links.contains_key(&c.ifindex))
        {
            for address in client.addresses.iter().filter(|a| a.state.is_active()) {
                let key = (client.ifindex, self.to_kernel(&address.addr));
                if !self.view.neighbours.contains_key(&key) {
                    departed.push((*mac, address.addr));
                }
            }
        }
        for (mac, addr) in departed {
            log::debug!("{mac}: no neighbour entry for {addr} any more");
            self.neighbour_gone(mac, &[addr]);
        }
    }

    /// What is ours in the kernel but not wanted: left by an earlier run (a crash, a KILL,
    /// an interrupted release), or by a removal of this run that was refused (a full request
    /// queue when thousands of clients leave at once). Our protocol on a served interface,
    /// demoted or not, and our node-client IPs on loopback, except those in `keep`. A
    /// removal still on its way is asked twice; the second finds nothing, harmlessly.
    fn remove_strays(&mut self, keep: &SlotSet<Ipv6Addr>) {
        let routes: Vec<HostRoute> = self
            .view
            .routes
            .iter()
            .filter(|r| {
                self.is_client_side(r.ifindex) && self.installed_routes.get(&r.dst) != Some(r)
            })
            .copied()
            .collect();
        let demoted: Vec<HostRoute> = self
            .view
            .demoted
            .iter()
            .filter(|r| self.is_client_side(r.ifindex) && !self.demoted_routes.contains_key(&r.dst))
            .copied()
            .collect();
        let ips: Vec<Ipv6Addr> = self
            .view
            .node_client_ips
            .iter()
            .filter(|ip| !self.node_client_ips.contains(ip) && !keep.contains(ip))
            .copied()
            .collect();
        if routes.len() + demoted.len() + ips.len() > 0 {
            log::info!(
                "removing what is ours in the kernel but not wanted: {} host routes, {} demoted \
                 routes, {} node-client IPs",
                routes.len(),
                demoted.len(),
                ips.len()
            );
        }
        for route in routes {
            log::debug!("removing host route {}", route.dst);
            self.out
                .push_back(Output::Kernel(KernelOp::DelHostRoute(route)));
        }
        if let Some(protocol) = self.cfg.release_protocol {
            for route in demoted {
                log::debug!("removing demoted host route {}", route.dst);
                self.out
                    .push_back(Output::Kernel(KernelOp::DelDemotedRoute {
                        route,
                        protocol,
                    }));
            }
        }
        for ip in ips {
            log::debug!("removing node-client IP {ip}");
            self.out
                .push_back(Output::Kernel(KernelOp::DelNodeClientIp(ip)));
        }
    }

    /// §8 rule 4: remove the addresses in 120 s unless confirmed, and have the kernel probe
    /// every address of the client.
    pub(super) fn neighbour_gone(&mut self, mac: MacAddr, addrs: &[Ipv6Addr]) {
        let now = self.now;
        let Some(client) = self.clients.get_mut(&mac) else {
            return;
        };
        let mut news = false;
        for a in client
            .addresses
            .iter_mut()
            .filter(|a| addrs.contains(&a.addr))
        {
            if a.remove_at.is_none() {
                a.remove_at = Some(now + REMOVAL_DELAY);
                news = true;
            }
        }
        // Already suspected and probed: probing again at every re-read would only add to
        // the notifications (and, on a small buffer, to the overruns that cause re-reads).
        if news {
            self.kernel_probe_all(mac);
        }
        self.reschedule_client(mac);
    }
}
