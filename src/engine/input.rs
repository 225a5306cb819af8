//! What the engine is told: kernel events decoded into the engine's own small vocabulary,
//! frames seen on the client interface, intercom datagrams, control commands, and the results
//! of the operations it asked for. No netlink type crosses this boundary.

use super::control::{Command, CommandError};
use super::output::KernelOp;
use crate::wire::MacAddr;
use crate::wire::babel::{self, RouterId};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Identifies one control-socket connection; chosen by the driver.
pub type ConnId = u64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A link appeared or changed (RTM_NEWLINK, and every link of the startup dump).
    Link(Link),
    /// A link disappeared (RTM_DELLINK).
    LinkGone { ifindex: u32 },
    /// A neighbour entry changed or disappeared (RTM_NEWNEIGH / RTM_DELNEIGH).
    Neighbour(Neighbour),
    /// A route appeared or disappeared (RTM_NEWROUTE / RTM_DELROUTE).
    Route(RouteEvent),
    /// An interface address appeared or disappeared (RTM_NEWADDR / RTM_DELADDR).
    Address(AddressEvent),
    /// A bridge learned (or forgot) a MAC on one of its ports: a dynamic FDB entry, never
    /// the bridge's own permanent ones.
    Fdb {
        port: u32,
        mac: MacAddr,
        deleted: bool,
    },
    /// Kernel notifications were lost (a receive buffer overrun); the system layer reads
    /// the kernel again, [`Input::DumpStarted`] to [`Input::DumpDone`].
    NetlinkOverrun,
    /// A batch of dumps begins: the answer to [`KernelOp::Dump`], or the system layer's own
    /// after notifications were lost (a receive buffer overrun). What was reported before may
    /// be stale; everything that exists is reported again before [`Input::DumpDone`].
    DumpStarted,
    /// The dumps asked for with [`KernelOp::Dump`] are complete: every link, address, route
    /// and neighbour that existed has been reported since the request.
    DumpDone,
    /// The answer to a [`KernelOp::LookupRoute`].
    RouteLookup {
        token: LookupToken,
        addr: Ipv6Addr,
        answer: LookupAnswer,
    },
    /// The kernel's answer to an operation the engine asked for.
    KernelResult {
        op: KernelOp,
        result: Result<(), Errno>,
    },
    /// nl80211 NEW_STATION (`associated`) or DEL_STATION.
    Station {
        ifindex: u32,
        mac: MacAddr,
        associated: bool,
    },
    /// A frame seen on the client interface.
    Snooped(Snooped),
    /// An intercom datagram to UDP port 5523.
    Intercom(Datagram),
    /// Sending an intercom datagram to `dst` failed (e.g. no route to a node-client IP).
    IntercomSendFailed { dst: Ipv6Addr, errno: Errno },
    /// A packet read from the tun device: a destination no host route covers yet.
    TunPacket(Vec<u8>),
    /// A complete command line arrived on a control connection.
    Control { conn: ConnId, command: Command },
    /// A control line that did not parse (or was too long); the error decides the reply.
    ControlRejected { conn: ConnId, error: CommandError },
    /// What babeld's local interface reported (`--babeld`).
    Babel(BabelEvent),
}

/// One event of the session with babeld's local interface (babeld.md §6): the system layer
/// reads the header, sends `monitor` and hands over every route line it parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BabelEvent {
    /// A session began: babeld's header was read and `monitor` sent; its dump follows.
    Connected { my_id: RouterId },
    /// The session ended (or never got past the header): what it reported is void.
    Disconnected,
    /// A route this node redistributes was added, changed or withdrawn.
    XRoute(babel::XRoute),
    /// A route learned from a neighbour was added, changed or flushed.
    Route(babel::Route),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub ifindex: u32,
    pub name: String,
    pub up: bool,
    pub mac: Option<MacAddr>,
    /// The bridge this link is a port of, if any.
    pub master: Option<u32>,
}

/// Neighbour (NUD) states as the kernel reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeighState {
    Incomplete,
    Reachable,
    Stale,
    Delay,
    Probe,
    Failed,
    NoArp,
    Permanent,
    None,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neighbour {
    pub ifindex: u32,
    pub addr: IpAddr,
    /// Absent in FAILED notifications and in deletions of FAILED entries.
    pub mac: Option<MacAddr>,
    pub state: NeighState,
    pub deleted: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteKind {
    Unicast,
    Local,
    Unreachable,
    Blackhole,
    Prohibit,
    Throw,
    Other(u8),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteEvent {
    pub dst: IpAddr,
    pub prefix_len: u8,
    pub table: u32,
    pub protocol: u8,
    pub kind: RouteKind,
    pub metric: u32,
    pub ifindex: Option<u32>,
    pub deleted: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressEvent {
    pub ifindex: u32,
    pub addr: IpAddr,
    pub prefix_len: u8,
    pub deleted: bool,
}

/// Who asked for a route lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LookupToken {
    /// The claim decision for a client (behaviour.md §6.1).
    ClaimDecision(MacAddr),
    /// `has_route` on a control connection.
    HasRoute(ConnId),
}

/// What a /128 lookup found (behaviour.md §6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupAnswer {
    /// No usable /128: no route, a shorter match, an infinite metric, or a reject type.
    NoRoute,
    /// A usable unicast /128, of any protocol.
    Route,
    /// The address is local to this node (`local` route), e.g. left by an earlier run.
    Local,
}

/// A kernel error number (positive, as in errno).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    pub const ENOENT: Errno = Errno(2);
    pub const ESRCH: Errno = Errno(3);
    pub const ENODEV: Errno = Errno(19);
    pub const EEXIST: Errno = Errno(17);
    pub const ENOBUFS: Errno = Errno(105);
    pub const ENETUNREACH: Errno = Errno(101);
    pub const EHOSTUNREACH: Errno = Errno(113);

    /// "Nothing to delete": a normal answer when removing something already gone.
    pub fn is_absent(self) -> bool {
        self == Errno::ENOENT || self == Errno::ESRCH
    }
}

/// Client frames the snooping sockets deliver, already parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Snooped {
    /// A Neighbour Solicitation sent by a client (source `::` for DAD).
    Solicit {
        ifindex: u32,
        src: Ipv6Addr,
        src_mac: MacAddr,
        target: Ipv6Addr,
    },
    /// A Neighbour Advertisement with a Target Link-Layer Address option.
    Advert {
        ifindex: u32,
        target: Ipv6Addr,
        mac: MacAddr,
    },
    /// An ARP packet (request or reply) from a client.
    Arp {
        ifindex: u32,
        reply: bool,
        sender_mac: MacAddr,
        sender_ip: Ipv4Addr,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// The interface the datagram arrived on.
    pub ifindex: u32,
    pub bytes: Vec<u8>,
}
