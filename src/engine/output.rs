//! What the engine asks for: kernel operations, intercom datagrams, client frames, packets
//! to re-inject and control replies. The driver turns each into exactly one system call (or
//! one netlink request) and reports kernel results back as [`super::Input::KernelResult`].

use super::input::{ConnId, LookupToken};
use crate::prefix::IpPrefix;
use crate::wire::MacAddr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// rtnetlink protocol number marking every route this daemon installs.
pub const ROUTE_PROTOCOL: u8 = 158;
/// Prefix routes into the tun device always live in the main table (C behaviour).
pub const MAIN_TABLE: u32 = 254;
/// The metric of the prefix routes into the tun device, both families: host routes beat
/// them by length, and the node's own on-link routes of the same length (kernel metric 256
/// for IPv6, 0 for IPv4) by metric. The C daemon left IPv4 at the kernel's 0, where its
/// create-and-replace overwrote an on-link route of the same prefix.
pub const TUN_ROUTE_METRIC: u32 = 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    Kernel(KernelOp),
    Intercom {
        dst: Destination,
        bytes: Vec<u8>,
    },
    Solicit(Solicitation),
    /// Write this packet back into the tun device; the kernel routes it along the new route.
    Reinject(Vec<u8>),
    /// An ICMP error to send to `dst` through the kernel's routing: ICMPv6 with its checksum
    /// left zero for the kernel to fill, or ICMP with its checksum set.
    IcmpError {
        dst: IpAddr,
        message: Vec<u8>,
    },
    /// The reply for a control connection, then close it. Empty bytes: close without reply.
    ControlReply {
        conn: ConnId,
        bytes: Vec<u8>,
    },
    /// `verbosity`: switch the log level at run time.
    SetLogLevel(super::control::Verbosity),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Destination {
    /// ff02::5523 on one mesh interface, IPv6 hop limit 1.
    Multicast { ifindex: u32 },
    /// A node IP or node-client IP, port 5523.
    Unicast(Ipv6Addr),
}

/// A client host route: `dst/128` (or `/32`) `dev ifindex proto 158 table table`. Removal
/// matches every field, so the daemon never deletes a route it did not install.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostRoute {
    pub dst: IpAddr,
    pub table: u32,
    pub ifindex: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelOp {
    AddHostRoute(HostRoute),
    DelHostRoute(HostRoute),
    /// Releases a host route gracefully: the same route replaced in place (same table,
    /// destination, metric and device) with only the protocol changed, so that babeld sends
    /// a metric change (65534 by its release rule) where a deletion would make babeld 1.12.1
    /// and 1.13–1.14 retract a wrong prefix (babeld.md §4).
    DemoteHostRoute {
        route: HostRoute,
        protocol: u8,
    },
    /// Deletes a demoted route, matching its protocol, a hold time after the demotion and
    /// never in the same netlink batch.
    DelDemotedRoute {
        route: HostRoute,
        protocol: u8,
    },
    /// A REACHABLE entry with the client's MAC (create + replace).
    AddNeighbour {
        ifindex: u32,
        addr: IpAddr,
        mac: MacAddr,
    },
    DelNeighbour {
        ifindex: u32,
        addr: IpAddr,
    },
    /// Put the entry in state PROBE so the kernel verifies the client.
    ProbeNeighbour {
        ifindex: u32,
        addr: IpAddr,
        mac: MacAddr,
    },
    /// The node-client IP as a /128 on loopback.
    AddNodeClientIp(Ipv6Addr),
    DelNodeClientIp(Ipv6Addr),
    /// A client prefix routed into the tun device (table 254, proto 158).
    AddPrefixRoute(IpPrefix),
    DelPrefixRoute(IpPrefix),
    /// Dump links, addresses, routes, neighbours and the bridge FDB, one after the other;
    /// every object comes back as an input, then [`super::Input::DumpDone`]. Asked at start
    /// and for periodic reconciliation; the system layer also re-dumps by itself after a
    /// netlink overrun.
    Dump,
    /// Is there a usable /128 route to `addr`? Answered by [`super::Input::RouteLookup`].
    LookupRoute {
        token: LookupToken,
        addr: Ipv6Addr,
    },
}

/// A Neighbour Solicitation or ARP request for the client interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Solicitation {
    /// NS for `target`, sent to `dst` (the solicited-node group, or the target's unicast
    /// address when verifying a known client); `source_mac` goes into the SLLA option.
    Neighbour {
        ifindex: u32,
        target: Ipv6Addr,
        dst: Ipv6Addr,
        source_mac: Option<MacAddr>,
    },
    /// ARP request, probe style (sender IP 0.0.0.0), broadcast or unicast to `dst_mac`.
    Arp {
        ifindex: u32,
        target: Ipv4Addr,
        sender_mac: MacAddr,
        dst_mac: Option<MacAddr>,
    },
}

/// In the derived order: destination, table, interface.
impl crate::slot_map::SlotKey for HostRoute {
    const WIDTH: usize = 25;
    fn write(&self, out: &mut [u8]) {
        (self.dst, (self.table, self.ifindex)).write(out);
    }
}
