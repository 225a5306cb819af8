//! rtnetlink: the kernel's routes, addresses, neighbours, links and bridge FDB, as engine
//! inputs, and the engine's kernel operations as netlink requests.
//!
//! Two sockets, so that notifications can never crowd out answers:
//!
//! - the **event socket** joins the link, address and route groups (and, when asked, the
//!   neighbour group, which also carries bridge FDB changes). It gets a large receive
//!   buffer; when it still overflows, the kernel reports `ENOBUFS`, notifications are lost,
//!   and a full dump batch is queued so the engine can repair its view at `DumpDone`.
//! - the **request socket** joins no group. Every request asks for an ACK (lookups get
//!   their answer instead) and is matched to its answer by sequence number, so a route
//!   notification can never be mistaken for a lookup answer (the C daemon's defect, §6.1).
//!
//! Requests are queued and sent by [`Rtnl::flush`] while fewer than [`MAX_IN_FLIGHT`]
//! await an answer. Dumps run one at a time: the kernel allows one dump per socket, and
//! the C daemon lost entries by overlapping them (`spec/behaviour.md` §4.1 row 10).

use crate::slot_map::SlotMap;
use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use mio::{Interest, Registry, Token};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use nix::sys::socket::{getsockopt, setsockopt, sockopt};

use super::netlink::{self as nl, Malformed, Message, RouteSpec};
use super::{Context, Error, errno_of};
use crate::engine::{
    AddressEvent, Errno, HostRoute, Input, KernelOp, Link, LookupAnswer, MAIN_TABLE, NeighState,
    Neighbour, ROUTE_PROTOCOL, RouteEvent, RouteKind, TUN_ROUTE_METRIC,
};
use crate::prefix::IpPrefix;
use crate::wire::MacAddr;

/// Requests that may await their answer at once.
pub const MAX_IN_FLIGHT: usize = 64;
/// Requests that may wait to be sent; beyond this an operation fails with `ENOBUFS` (and
/// the engine re-reads the kernel soon to complete it). 5,000 clients arriving within a
/// second ask for about 25,000 operations, and the kernel takes them at 5,000-10,000 a second
/// on a small machine: 4,096 refused thousands of them. At 40 bytes each (x86_64) the full queue
/// is 640 KiB, given back once it has drained.
pub const MAX_QUEUED: usize = 16384;
/// What an emptied queue keeps of its capacity.
const QUEUE_KEPT: usize = 256;
/// Receive buffer asked for on the event socket unless `--netlink-rcvbuf` says otherwise.
pub const EVENT_BUFFER: usize = crate::config::DEFAULT_NETLINK_RCVBUF;
/// Large enough for any dump datagram: the kernel caps them at 32 KiB unless a single
/// message is larger.
const DATAGRAM_BUFFER: usize = 64 << 10;
/// At most one warning of each kind per interval; the rest are counted.
const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// The loopback device's index in every Linux network namespace; used until a link
/// message says otherwise.
const DEFAULT_LOOPBACK: u32 = 1;

/// One dump of a batch, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DumpStep {
    Links,
    Addresses,
    Routes6,
    Routes4,
    Neighbours6,
    Neighbours4,
    Fdb,
}

const DUMP_STEPS: [DumpStep; 7] = [
    DumpStep::Links,
    DumpStep::Addresses,
    DumpStep::Routes6,
    DumpStep::Routes4,
    DumpStep::Neighbours6,
    DumpStep::Neighbours4,
    DumpStep::Fdb,
];

impl DumpStep {
    fn request(self) -> (u16, u8) {
        match self {
            DumpStep::Links => (nl::RTM_GETLINK, nl::AF_UNSPEC),
            DumpStep::Addresses => (nl::RTM_GETADDR, nl::AF_UNSPEC),
            // Per family: AF_UNSPEC would also dump multicast routing tables.
            DumpStep::Routes6 => (nl::RTM_GETROUTE, nl::AF_INET6),
            DumpStep::Routes4 => (nl::RTM_GETROUTE, nl::AF_INET),
            DumpStep::Neighbours6 => (nl::RTM_GETNEIGH, nl::AF_INET6),
            DumpStep::Neighbours4 => (nl::RTM_GETNEIGH, nl::AF_INET),
            DumpStep::Fdb => (nl::RTM_GETNEIGH, nl::AF_BRIDGE),
        }
    }
}

/// What a sequence number awaits.
#[derive(Debug)]
enum Pending {
    Op(KernelOp),
    /// Index into [`DUMP_STEPS`].
    Dump(usize),
}

#[derive(Debug)]
enum Queued {
    Op(KernelOp),
    /// A whole dump batch, started when it reaches the head and no batch runs.
    Dump,
}

/// Counters for the status log and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RtnlStats {
    /// `ENOBUFS` on the event socket: notifications were lost.
    pub overruns: u64,
    /// `ENOBUFS` on the request socket: answers were lost.
    pub lost_replies: u64,
    /// Kernel messages that did not decode.
    pub malformed: u64,
    /// Datagrams larger than the receive buffer.
    pub truncated: u64,
    /// Answers whose sequence number matched no request.
    pub unknown_replies: u64,
    /// Operations refused because the queue was full.
    pub rejected: u64,
    /// Dump batches completed: the whole kernel state read (at start, periodically, and
    /// after every overrun).
    pub dumps: u64,
}

/// Lets one warning through per [`WARN_INTERVAL`] and counts the rest.
#[derive(Debug, Default)]
struct WarnLimit {
    quiet_until: Option<Instant>,
    suppressed: u64,
}

impl WarnLimit {
    /// `Some(suppressed since the last one)` when a warning may be logged now.
    fn allow(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self.quiet_until.is_some_and(|until| now < until) {
            self.suppressed += 1;
            return None;
        }
        self.quiet_until = now.checked_add(WARN_INTERVAL);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// The rtnetlink event and request sockets with their request queue.
pub struct Rtnl {
    events: Socket,
    requests: Socket,
    seq: u32,
    tun_ifindex: Option<u32>,
    loopback: u32,
    queue: VecDeque<Queued>,
    dump_queued: bool,
    dump_running: bool,
    in_flight: SlotMap<u32, Pending>,
    replies_lost: bool,
    buf: Vec<u8>,
    stats: RtnlStats,
    overrun_warning: WarnLimit,
    reject_warning: WarnLimit,
}

fn open_socket(what: &str) -> Result<Socket, Error> {
    let context = || format!("opening the rtnetlink {what} socket");
    let mut socket = Socket::new(NETLINK_ROUTE).context(context)?;
    socket.bind_auto().context(context)?;
    // Connected to the kernel, the socket refuses unicasts from other processes.
    socket.connect(&SocketAddr::new(0, 0)).context(context)?;
    socket.set_non_blocking(true).context(context)?;
    Ok(socket)
}

/// SO_RCVBUFFORCE passes rmem_max but needs CAP_NET_ADMIN; SO_RCVBUF is the fallback.
fn set_receive_buffer(socket: &Socket, bytes: usize) -> Result<(), Error> {
    setsockopt(socket, sockopt::RcvBufForce, &bytes)
        .or_else(|_| setsockopt(socket, sockopt::RcvBuf, &bytes))
        .map_err(|errno| Error::new("setting the rtnetlink receive buffer", errno.into()))
}

/// Reads one datagram; `Ok(len)` may exceed `buf.len()` when it was truncated.
fn recv(socket: &Socket, buf: &mut [u8]) -> io::Result<usize> {
    socket.recv(&mut &mut buf[..], libc::MSG_TRUNC)
}

fn send(socket: &Socket, bytes: &[u8]) -> io::Result<()> {
    loop {
        match socket.send(bytes, 0) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

impl Rtnl {
    /// Opens both sockets. `neighbours`: also receive neighbour and bridge FDB
    /// notifications (a client interface is configured and netlink learning is on).
    /// `event_buffer`: the event socket's receive buffer in bytes ([`EVENT_BUFFER`] unless
    /// the operator chose another).
    pub fn open(neighbours: bool, event_buffer: usize) -> Result<Rtnl, Error> {
        let events = open_socket("event")?;
        let mut groups = vec![
            libc::RTNLGRP_LINK,
            libc::RTNLGRP_IPV4_IFADDR,
            libc::RTNLGRP_IPV6_IFADDR,
            libc::RTNLGRP_IPV4_ROUTE,
            libc::RTNLGRP_IPV6_ROUTE,
        ];
        if neighbours {
            groups.push(libc::RTNLGRP_NEIGH);
        }
        for group in groups {
            events
                .add_membership(group)
                .context(|| format!("joining rtnetlink group {group}"))?;
        }
        match set_receive_buffer(&events, event_buffer) {
            Ok(()) => log::debug!(
                "rtnetlink event buffer: {event_buffer} bytes asked, the kernel counts {}",
                getsockopt(&events, sockopt::RcvBuf).unwrap_or(0)
            ),
            Err(e) => log::warn!(
                "{e}: the buffer stays at {} bytes, overruns are more likely",
                getsockopt(&events, sockopt::RcvBuf).unwrap_or(0)
            ),
        }
        let requests = open_socket("request")?;
        // Errors echo only the request header, and carry the kernel's message. Kernels
        // without these options still work, so failures are ignored.
        let _ = requests.set_cap_ack(true);
        let _ = requests.set_ext_ack(true);
        Ok(Rtnl {
            events,
            requests,
            seq: 0,
            tun_ifindex: None,
            loopback: DEFAULT_LOOPBACK,
            queue: VecDeque::new(),
            dump_queued: false,
            dump_running: false,
            in_flight: Default::default(),
            replies_lost: false,
            buf: vec![0; DATAGRAM_BUFFER],
            stats: RtnlStats::default(),
            overrun_warning: WarnLimit::default(),
            reject_warning: WarnLimit::default(),
        })
    }

    /// The device prefix routes point into (the tun device).
    pub fn set_tun_ifindex(&mut self, ifindex: u32) {
        self.tun_ifindex = Some(ifindex);
    }

    /// Resizes the event socket's receive buffer (the default is [`EVENT_BUFFER`]).
    pub fn set_event_buffer(&mut self, bytes: usize) -> Result<(), Error> {
        set_receive_buffer(&self.events, bytes)
    }

    /// Nothing queued and nothing awaiting an answer: every operation has been answered.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.in_flight.is_empty()
    }

    /// Counters since opening.
    pub fn stats(&self) -> RtnlStats {
        self.stats
    }

    /// Registers the event socket under `events` and the request socket under `requests`,
    /// both readable. On an event of either: read it, then [`Rtnl::flush`].
    pub fn register(
        &mut self,
        registry: &Registry,
        events: Token,
        requests: Token,
    ) -> Result<(), Error> {
        registry
            .register(&mut self.events, events, Interest::READABLE)
            .context(|| "registering the rtnetlink event socket".to_string())?;
        registry
            .register(&mut self.requests, requests, Interest::READABLE)
            .context(|| "registering the rtnetlink request socket".to_string())
    }

    /// Queues an operation. An operation beyond the queue bound is answered at once with
    /// `ENOBUFS` (a lookup with `NoRoute`). A dump joins a batch that has not started yet.
    pub fn submit(&mut self, op: KernelOp, out: &mut Vec<Input>) {
        if op == KernelOp::Dump {
            self.queue_dump();
            return;
        }
        if self.queue.len() >= MAX_QUEUED {
            self.stats.rejected += 1;
            if let Some(suppressed) = self.reject_warning.allow() {
                log::warn!(
                    "rtnetlink queue full ({MAX_QUEUED}): {op:?} refused \
                     ({suppressed} more refused since the last warning)"
                );
            }
            answer(op, Err(Errno(libc::ENOBUFS)), out);
            return;
        }
        self.queue.push_back(Queued::Op(op));
    }

    fn queue_dump(&mut self) {
        if !self.dump_queued {
            self.dump_queued = true;
            self.queue.push_back(Queued::Dump);
        }
    }

    /// Sends queued requests while fewer than [`MAX_IN_FLIGHT`] await an answer. Call
    /// after [`Rtnl::submit`] and after reading. Operations the kernel refuses to take
    /// are answered at once.
    ///
    /// A queued dump batch starts when it reaches the head of the queue, so it sees every
    /// operation submitted before it. While another batch still runs, it waits there and
    /// operations behind it go ahead: only dumps must not overlap, and route installs
    /// should not wait for a long route dump.
    pub fn flush(&mut self, out: &mut Vec<Input>) {
        while self.in_flight.len() < MAX_IN_FLIGHT {
            let next = match self.queue.front() {
                None => {
                    self.queue.shrink_to(QUEUE_KEPT);
                    break;
                }
                Some(Queued::Dump) if !self.dump_running => {
                    self.queue.pop_front();
                    self.dump_queued = false;
                    self.dump_running = true;
                    out.push(Input::DumpStarted);
                    self.start_dump_step(0, out);
                    continue;
                }
                // At most one batch is queued, so what follows it is an operation.
                Some(Queued::Dump) => self.queue.remove(1),
                Some(Queued::Op(_)) => self.queue.pop_front(),
            };
            let Some(Queued::Op(op)) = next else {
                break;
            };
            let seq = self.next_seq();
            let bytes = match self.encode(&op, seq) {
                Ok(bytes) => bytes,
                Err(errno) => {
                    answer(op, Err(errno), out);
                    continue;
                }
            };
            match send(&self.requests, &bytes) {
                Ok(()) => {
                    self.in_flight.insert(seq, Pending::Op(op));
                }
                // The kernel takes requests synchronously, so this is all but impossible;
                // the next flush (after any event) tries again.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Back where it came from: the head, or right behind a waiting batch.
                    match self.queue.front() {
                        Some(Queued::Dump) => self.queue.insert(1, Queued::Op(op)),
                        _ => self.queue.push_front(Queued::Op(op)),
                    }
                    break;
                }
                Err(e) => {
                    log::debug!("sending {op:?} failed: {e}");
                    answer(op, Err(errno_of(&e)), out);
                }
            }
        }
    }

    fn next_seq(&mut self) -> u32 {
        // At most MAX_IN_FLIGHT + 1 numbers are taken, so this ends at once.
        loop {
            self.seq = self.seq.wrapping_add(1);
            if self.seq != 0 && !self.in_flight.contains_key(&self.seq) {
                return self.seq;
            }
        }
    }

    /// Requests dump `index` of the batch, skipping dumps that cannot be requested; after
    /// the last one the batch ends with `DumpDone`.
    fn start_dump_step(&mut self, mut index: usize, out: &mut Vec<Input>) {
        while let Some(step) = DUMP_STEPS.get(index) {
            let seq = self.next_seq();
            let (kind, family) = step.request();
            match send(&self.requests, &nl::dump(seq, kind, family)) {
                Ok(()) => {
                    self.in_flight.insert(seq, Pending::Dump(index));
                    return;
                }
                Err(e) => {
                    log::warn!("requesting the {step:?} dump failed: {e}");
                    index += 1;
                }
            }
        }
        self.dump_running = false;
        self.stats.dumps += 1;
        out.push(Input::DumpDone);
    }

    fn encode(&self, op: &KernelOp, seq: u32) -> Result<Vec<u8>, Errno> {
        Ok(match op {
            KernelOp::AddHostRoute(route) => nl::new_route(seq, &host_route(route)),
            KernelOp::DelHostRoute(route) => nl::del_route(seq, &host_route(route)),
            KernelOp::DemoteHostRoute { route, protocol } => nl::new_route(
                seq,
                &RouteSpec {
                    protocol: *protocol,
                    ..host_route(route)
                },
            ),
            KernelOp::DelDemotedRoute { route, protocol } => nl::del_route(
                seq,
                &RouteSpec {
                    protocol: *protocol,
                    ..host_route(route)
                },
            ),
            KernelOp::AddNeighbour { ifindex, addr, mac } => {
                nl::new_neighbour(seq, *ifindex, addr, mac.0, nl::NUD_REACHABLE)
            }
            KernelOp::DelNeighbour { ifindex, addr } => nl::del_neighbour(seq, *ifindex, addr),
            // NUD_PROBE set administratively arms the neighbour timer at once, which then
            // sends unicast solicitations to `mac` (tests/sys_rtnl.rs checks the frames).
            KernelOp::ProbeNeighbour { ifindex, addr, mac } => {
                nl::new_neighbour(seq, *ifindex, addr, mac.0, nl::NUD_PROBE)
            }
            KernelOp::AddNodeClientIp(addr) => nl::new_address(seq, self.loopback, addr, 128),
            KernelOp::DelNodeClientIp(addr) => nl::del_address(seq, self.loopback, addr, 128),
            KernelOp::AddPrefixRoute(prefix) => nl::new_route(seq, &self.prefix_route(prefix)?),
            KernelOp::DelPrefixRoute(prefix) => nl::del_route(seq, &self.prefix_route(prefix)?),
            KernelOp::LookupRoute { addr, .. } => nl::get_route(seq, addr),
            KernelOp::Dump => return Err(Errno(libc::EINVAL)),
        })
    }

    fn prefix_route(&self, prefix: &IpPrefix) -> Result<RouteSpec, Errno> {
        let tun = self.tun_ifindex.ok_or(Errno(libc::ENODEV))?;
        Ok(RouteSpec {
            dst: prefix.addr(),
            dst_len: prefix.len(),
            table: MAIN_TABLE,
            protocol: ROUTE_PROTOCOL,
            oif: tun,
            metric: Some(TUN_ROUTE_METRIC),
        })
    }

    /// Drains the event socket: every notification becomes an input.
    pub fn read_events(&mut self, out: &mut Vec<Input>) -> Result<(), Error> {
        let mut buf = std::mem::take(&mut self.buf);
        let mut overrun = false;
        let result = loop {
            match recv(&self.events, &mut buf) {
                Ok(len) => {
                    let datagram = self.received(&buf, len);
                    for msg in nl::messages(datagram) {
                        match msg {
                            Ok(msg) => self.decode_into(&msg, out),
                            Err(e) => self.malformed(e),
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    self.stats.overruns += 1;
                    if let Some(suppressed) = self.overrun_warning.allow() {
                        log::warn!(
                            "rtnetlink notifications lost (receive buffer overrun; {} \
                             earlier overruns not logged): re-reading the kernel state",
                            suppressed
                        );
                    }
                    self.queue_dump();
                    if !std::mem::replace(&mut overrun, true) {
                        out.push(Input::NetlinkOverrun);
                    }
                }
                Err(e) => break Err(Error::new("reading rtnetlink notifications", e)),
            }
        };
        self.buf = buf;
        result
    }

    /// Drains the request socket: answers, lookup results and dumped objects become
    /// inputs; a finished dump step starts the next one.
    pub fn read_replies(&mut self, out: &mut Vec<Input>) -> Result<(), Error> {
        let mut buf = std::mem::take(&mut self.buf);
        let result = loop {
            match recv(&self.requests, &mut buf) {
                Ok(len) => {
                    let datagram = self.received(&buf, len);
                    for msg in nl::messages(datagram) {
                        match msg {
                            Ok(msg) => self.reply(&msg, out),
                            Err(e) => self.malformed(e),
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    self.stats.lost_replies += 1;
                    self.replies_lost = true;
                }
                Err(e) => break Err(Error::new("reading rtnetlink replies", e)),
            }
        };
        self.buf = buf;
        if self.replies_lost && result.is_ok() {
            self.fail_unanswered(out);
        }
        result
    }

    /// After `ENOBUFS` on the request socket and a drained queue: the kernel answers
    /// requests while they are sent, so every operation still waiting lost its answer.
    /// Their outcome is unknown; they are reported as `ENOBUFS` and a dump batch lets the
    /// engine see what really happened. Dumps are flow-controlled and lose nothing.
    fn fail_unanswered(&mut self, out: &mut Vec<Input>) {
        self.replies_lost = false;
        let lost: Vec<u32> = self
            .in_flight
            .iter()
            .filter(|(_, pending)| matches!(pending, Pending::Op(_)))
            .map(|(seq, _)| *seq)
            .collect();
        log::warn!(
            "rtnetlink answers lost (receive buffer overrun): {} operations reported as failed",
            lost.len()
        );
        for seq in lost {
            if let Some(Pending::Op(op)) = self.in_flight.remove(&seq) {
                answer(op, Err(Errno(libc::ENOBUFS)), out);
            }
        }
        self.queue_dump();
    }

    fn received<'b>(&mut self, buf: &'b [u8], len: usize) -> &'b [u8] {
        if len > buf.len() {
            self.stats.truncated += 1;
            log::warn!(
                "rtnetlink datagram of {len} bytes truncated to {}",
                buf.len()
            );
        }
        buf.get(..len).unwrap_or(buf)
    }

    fn malformed(&mut self, e: Malformed) {
        self.stats.malformed += 1;
        log::debug!("{e}");
    }

    fn decode_into(&mut self, msg: &Message<'_>, out: &mut Vec<Input>) {
        match to_input(msg, &mut self.loopback) {
            Ok(Some(input)) => out.push(input),
            Ok(None) => {}
            Err(e) => self.malformed(e),
        }
    }

    fn reply(&mut self, msg: &Message<'_>, out: &mut Vec<Input>) {
        let seq = msg.header.seq;
        match msg.header.kind {
            nl::NLMSG_NOOP | nl::NLMSG_OVERRUN => {}
            nl::NLMSG_ERROR | nl::NLMSG_DONE => {
                let status = nl::parse_status(msg).unwrap_or_else(|e| {
                    // Still an answer: report it as an I/O error rather than leave the
                    // request waiting forever.
                    self.malformed(e);
                    nl::Status {
                        errno: libc::EIO,
                        message: None,
                    }
                });
                match self.in_flight.remove(&seq) {
                    Some(Pending::Op(op)) => {
                        let result = match status.errno {
                            0 => Ok(()),
                            errno => {
                                if let Some(text) = &status.message {
                                    log::debug!("{op:?}: errno {errno}: {text}");
                                }
                                Err(Errno(errno))
                            }
                        };
                        answer(op, result, out);
                    }
                    Some(Pending::Dump(index)) => {
                        if status.errno != 0 {
                            log::warn!(
                                "{:?} dump failed: errno {} {}",
                                DUMP_STEPS.get(index),
                                status.errno,
                                status.message.unwrap_or_default()
                            );
                        }
                        self.start_dump_step(index + 1, out);
                    }
                    None => self.unknown_reply(seq),
                }
            }
            kind => match self.in_flight.get(&seq) {
                Some(Pending::Dump(_)) => self.decode_into(msg, out),
                Some(Pending::Op(KernelOp::LookupRoute { .. })) if kind == nl::RTM_NEWROUTE => {
                    let answer = match nl::parse_route(msg) {
                        Ok(route) => lookup_answer(&route),
                        Err(e) => {
                            self.malformed(e);
                            LookupAnswer::NoRoute
                        }
                    };
                    if let Some(Pending::Op(KernelOp::LookupRoute { token, addr })) =
                        self.in_flight.remove(&seq)
                    {
                        out.push(Input::RouteLookup {
                            token,
                            addr,
                            answer,
                        });
                    }
                }
                _ => self.unknown_reply(seq),
            },
        }
    }

    fn unknown_reply(&mut self, seq: u32) {
        self.stats.unknown_replies += 1;
        log::debug!("rtnetlink answer with unknown sequence number {seq} ignored");
    }
}

/// Reports the outcome of an operation: lookups always get a [`LookupAnswer`] (an error,
/// e.g. ENETUNREACH, means there is no route), everything else a `KernelResult`.
fn answer(op: KernelOp, result: Result<(), Errno>, out: &mut Vec<Input>) {
    match op {
        KernelOp::LookupRoute { token, addr } => {
            if let Err(errno) = result {
                log::debug!("route lookup for {addr}: errno {}", errno.0);
            }
            out.push(Input::RouteLookup {
                token,
                addr,
                answer: LookupAnswer::NoRoute,
            });
        }
        op => out.push(Input::KernelResult { op, result }),
    }
}

fn host_route(route: &HostRoute) -> RouteSpec {
    RouteSpec {
        dst: route.dst,
        dst_len: if route.dst.is_ipv4() { 32 } else { 128 },
        table: route.table,
        protocol: ROUTE_PROTOCOL,
        oif: route.ifindex,
        metric: None,
    }
}

/// What the FIB entry matching a /128 means for the claim decision (§6.1). Public only for
/// the fuzz targets.
#[doc(hidden)]
pub fn lookup_answer(route: &nl::RouteMessage) -> LookupAnswer {
    let h = &route.header;
    if h.kind == nl::RTN_LOCAL {
        LookupAnswer::Local
    } else if h.kind == nl::RTN_UNICAST
        && h.dst_len == 128
        && h.flags & nl::RTM_F_CLONED == 0
        && route.priority.unwrap_or(0) < 0xffff
    {
        LookupAnswer::Route
    } else {
        LookupAnswer::NoRoute
    }
}

fn route_kind(kind: u8) -> RouteKind {
    match kind {
        nl::RTN_UNICAST => RouteKind::Unicast,
        nl::RTN_LOCAL => RouteKind::Local,
        nl::RTN_UNREACHABLE => RouteKind::Unreachable,
        nl::RTN_BLACKHOLE => RouteKind::Blackhole,
        nl::RTN_PROHIBIT => RouteKind::Prohibit,
        nl::RTN_THROW => RouteKind::Throw,
        other => RouteKind::Other(other),
    }
}

fn neigh_state(state: u16) -> NeighState {
    // A bit set in principle; the kernel reports one state at a time. Should several bits
    // ever be set, the most settled state wins.
    if state & nl::NUD_PERMANENT != 0 {
        NeighState::Permanent
    } else if state & nl::NUD_NOARP != 0 {
        NeighState::NoArp
    } else if state & nl::NUD_REACHABLE != 0 {
        NeighState::Reachable
    } else if state & nl::NUD_STALE != 0 {
        NeighState::Stale
    } else if state & nl::NUD_DELAY != 0 {
        NeighState::Delay
    } else if state & nl::NUD_PROBE != 0 {
        NeighState::Probe
    } else if state & nl::NUD_FAILED != 0 {
        NeighState::Failed
    } else if state & nl::NUD_INCOMPLETE != 0 {
        NeighState::Incomplete
    } else {
        NeighState::None
    }
}

fn ifindex(index: i32) -> Result<u32, Malformed> {
    u32::try_from(index).map_err(|_| Malformed("negative interface index"))
}

fn family_matches(family: u8, addr: &IpAddr) -> bool {
    matches!(
        (family, addr),
        (nl::AF_INET, IpAddr::V4(_)) | (nl::AF_INET6, IpAddr::V6(_))
    )
}

/// Turns one kernel notification or dumped object into an engine input; `Ok(None)` for
/// what the engine does not need. A link flagged IFF_LOOPBACK updates `loopback`. Public only
/// for the fuzz targets.
#[doc(hidden)]
pub fn to_input(msg: &Message<'_>, loopback: &mut u32) -> Result<Option<Input>, Malformed> {
    match msg.header.kind {
        nl::RTM_NEWLINK | nl::RTM_DELLINK => {
            let link = nl::parse_link(msg)?;
            // AF_BRIDGE link messages describe bridge-port state; an RTM_DELLINK of that
            // family means "left the bridge", not "gone".
            if link.header.family != nl::AF_UNSPEC {
                return Ok(None);
            }
            let ifindex = ifindex(link.header.index)?;
            if link.deleted {
                return Ok(Some(Input::LinkGone { ifindex }));
            }
            if link.header.flags & nl::IFF_LOOPBACK != 0 {
                *loopback = ifindex;
            }
            Ok(Some(Input::Link(Link {
                ifindex,
                name: link.name.ok_or(Malformed("link without name"))?,
                up: link.header.flags & nl::IFF_UP != 0,
                mac: link.mac.map(MacAddr),
                master: link.master,
            })))
        }
        nl::RTM_NEWADDR | nl::RTM_DELADDR => {
            let a = nl::parse_address(msg)?;
            if a.header.family != nl::AF_INET && a.header.family != nl::AF_INET6 {
                return Ok(None);
            }
            let addr = a.addr.ok_or(Malformed("address message without address"))?;
            if !family_matches(a.header.family, &addr) {
                return Err(Malformed("address of the wrong family"));
            }
            Ok(Some(Input::Address(AddressEvent {
                ifindex: a.header.index,
                addr,
                prefix_len: a.header.prefix_len,
                deleted: a.deleted,
            })))
        }
        nl::RTM_NEWROUTE | nl::RTM_DELROUTE => {
            let r = nl::parse_route(msg)?;
            let family = r.header.family;
            if family != nl::AF_INET && family != nl::AF_INET6 {
                return Ok(None);
            }
            // IPv6 cache clones (exceptions) are not routes anyone installed.
            if r.header.flags & nl::RTM_F_CLONED != 0 {
                return Ok(None);
            }
            let dst = match r.dst {
                Some(dst) if family_matches(family, &dst) => dst,
                Some(_) => return Err(Malformed("route destination of the wrong family")),
                None if family == nl::AF_INET => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                None => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            };
            Ok(Some(Input::Route(RouteEvent {
                dst,
                prefix_len: r.header.dst_len,
                table: r.table,
                protocol: r.header.protocol,
                kind: route_kind(r.header.kind),
                metric: r.priority.unwrap_or(0),
                ifindex: r.oif,
                deleted: r.deleted,
            })))
        }
        nl::RTM_NEWNEIGH | nl::RTM_DELNEIGH => {
            let n = nl::parse_neighbour(msg)?;
            match n.header.family {
                nl::AF_INET | nl::AF_INET6 => {
                    // Proxy entries are answers this node gives, not neighbours it has.
                    if n.header.flags & nl::NTF_PROXY != 0 {
                        return Ok(None);
                    }
                    let addr = n.dst.ok_or(Malformed("neighbour without destination"))?;
                    if !family_matches(n.header.family, &addr) {
                        return Err(Malformed("neighbour of the wrong family"));
                    }
                    Ok(Some(Input::Neighbour(Neighbour {
                        ifindex: ifindex(n.header.index)?,
                        addr,
                        mac: n.lladdr.map(MacAddr),
                        state: neigh_state(n.header.state),
                        deleted: n.deleted,
                    })))
                }
                nl::AF_BRIDGE => {
                    // Only what the bridge learned: not its own and its ports' MACs
                    // (permanent), not static entries, not a device's own address lists
                    // (NTF_SELF without NTF_MASTER).
                    let h = &n.header;
                    let fixed = h.state & (nl::NUD_PERMANENT | nl::NUD_NOARP) != 0;
                    let own_list = h.flags & nl::NTF_SELF != 0 && h.flags & nl::NTF_MASTER == 0;
                    match n.lladdr {
                        Some(mac) if !fixed && !own_list => Ok(Some(Input::Fdb {
                            port: ifindex(h.index)?,
                            mac: MacAddr(mac),
                            deleted: n.deleted,
                        })),
                        _ => Ok(None),
                    }
                }
                _ => Ok(None),
            }
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message of `kind` with a fixed header and attributes, in host byte order.
    fn message(kind: u16, fixed: &[u8], attrs: &[(u16, &[u8])]) -> Vec<u8> {
        message_seq(kind, 0, fixed, attrs)
    }

    fn message_seq(kind: u16, seq: u32, fixed: &[u8], attrs: &[(u16, &[u8])]) -> Vec<u8> {
        nl::test_message(kind, seq, fixed, attrs)
    }

    fn decode(bytes: &[u8]) -> Result<Option<Input>, Malformed> {
        let msg = nl::messages(bytes).next().unwrap().unwrap();
        to_input(&msg, &mut 1)
    }

    fn ndmsg(family: u8, index: i32, state: u16, flags: u8) -> Vec<u8> {
        let mut b = Vec::new();
        nl::NdMsg {
            family,
            index,
            state,
            flags,
            kind: 0,
        }
        .emit(&mut b);
        b
    }

    const MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x42];

    #[test]
    fn neighbours() {
        let dst = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let bytes = message(
            nl::RTM_NEWNEIGH,
            &ndmsg(nl::AF_INET6, 4, nl::NUD_REACHABLE, 0),
            &[(nl::NDA_DST, &dst), (nl::NDA_LLADDR, &MAC)],
        );
        assert_eq!(
            decode(&bytes),
            Ok(Some(Input::Neighbour(Neighbour {
                ifindex: 4,
                addr: "fe80::1".parse().unwrap(),
                mac: Some(MacAddr(MAC)),
                state: NeighState::Reachable,
                deleted: false,
            })))
        );
        // A FAILED entry's deletion carries no link-layer address.
        let bytes = message(
            nl::RTM_DELNEIGH,
            &ndmsg(nl::AF_INET, 4, nl::NUD_FAILED, 0),
            &[(nl::NDA_DST, &[10, 0, 0, 7])],
        );
        let Ok(Some(Input::Neighbour(n))) = decode(&bytes) else {
            panic!("{:?}", decode(&bytes));
        };
        assert_eq!(
            (n.mac, n.state, n.deleted),
            (None, NeighState::Failed, true)
        );
        // Proxy entries are skipped; a destination of the wrong family is malformed.
        let proxy = message(
            nl::RTM_NEWNEIGH,
            &ndmsg(nl::AF_INET6, 4, 0, nl::NTF_PROXY),
            &[(nl::NDA_DST, &dst)],
        );
        assert_eq!(decode(&proxy), Ok(None));
        let wrong = message(
            nl::RTM_NEWNEIGH,
            &ndmsg(nl::AF_INET6, 4, nl::NUD_STALE, 0),
            &[(nl::NDA_DST, &[10, 0, 0, 7])],
        );
        assert!(decode(&wrong).is_err());
    }

    #[test]
    fn fdb_only_dynamic_entries() {
        let fdb = |state, flags| {
            decode(&message(
                nl::RTM_NEWNEIGH,
                &ndmsg(nl::AF_BRIDGE, 6, state, flags),
                &[
                    (nl::NDA_LLADDR, &MAC),
                    (nl::NDA_MASTER, &5u32.to_ne_bytes()),
                ],
            ))
        };
        let learned = Ok(Some(Input::Fdb {
            port: 6,
            mac: MacAddr(MAC),
            deleted: false,
        }));
        assert_eq!(fdb(nl::NUD_REACHABLE, 0), learned);
        assert_eq!(fdb(nl::NUD_STALE, nl::NTF_MASTER), learned);
        assert_eq!(fdb(nl::NUD_PERMANENT, 0), Ok(None));
        assert_eq!(fdb(nl::NUD_NOARP, 0), Ok(None));
        assert_eq!(fdb(nl::NUD_REACHABLE, nl::NTF_SELF), Ok(None));
        assert_eq!(
            fdb(nl::NUD_REACHABLE, nl::NTF_SELF | nl::NTF_MASTER),
            learned
        );
    }

    #[test]
    fn links() {
        let mut fixed = Vec::new();
        nl::IfInfoMsg {
            family: nl::AF_UNSPEC,
            kind: 772,
            index: 9,
            flags: nl::IFF_UP | nl::IFF_LOOPBACK,
            change: 0,
        }
        .emit(&mut fixed);
        let bytes = message(
            nl::RTM_NEWLINK,
            &fixed,
            &[(nl::IFLA_IFNAME, b"lo\0"), (nl::IFLA_ADDRESS, &[0; 6])],
        );
        let msg = nl::messages(&bytes).next().unwrap().unwrap();
        let mut loopback = 1;
        assert_eq!(
            to_input(&msg, &mut loopback),
            Ok(Some(Input::Link(Link {
                ifindex: 9,
                name: "lo".into(),
                up: true,
                mac: Some(MacAddr([0; 6])),
                master: None,
            })))
        );
        assert_eq!(loopback, 9);
        // A port leaving a bridge (AF_BRIDGE RTM_DELLINK) is not a link going away.
        fixed[0] = nl::AF_BRIDGE;
        let bytes = message(nl::RTM_DELLINK, &fixed, &[(nl::IFLA_IFNAME, b"v0\0")]);
        assert_eq!(decode(&bytes), Ok(None));
    }

    #[test]
    fn routes_and_lookup_answers() {
        let route = |dst_len: u8, kind: u8, flags: u32, metric: u32| {
            let mut fixed = Vec::new();
            nl::RtMsg {
                family: nl::AF_INET6,
                dst_len,
                table: nl::RT_TABLE_MAIN,
                protocol: 42,
                kind,
                flags,
                ..nl::RtMsg::default()
            }
            .emit(&mut fixed);
            let dst = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5];
            message(
                nl::RTM_NEWROUTE,
                &fixed,
                &[
                    (nl::RTA_TABLE, &1000u32.to_ne_bytes()),
                    (nl::RTA_DST, &dst),
                    (nl::RTA_PRIORITY, &metric.to_ne_bytes()),
                    (nl::RTA_OIF, &3u32.to_ne_bytes()),
                ],
            )
        };
        let bytes = route(128, nl::RTN_UNICAST, 0, 1024);
        assert_eq!(
            decode(&bytes),
            Ok(Some(Input::Route(RouteEvent {
                dst: "2001:db8::5".parse().unwrap(),
                prefix_len: 128,
                table: 1000,
                protocol: 42,
                kind: RouteKind::Unicast,
                metric: 1024,
                ifindex: Some(3),
                deleted: false,
            })))
        );
        let answer = |bytes: &[u8]| {
            let msg = nl::messages(bytes).next().unwrap().unwrap();
            lookup_answer(&nl::parse_route(&msg).unwrap())
        };
        assert_eq!(answer(&bytes), LookupAnswer::Route);
        let unicast = nl::RTN_UNICAST;
        assert_eq!(
            answer(&route(128, unicast, 0, 0xffff)),
            LookupAnswer::NoRoute
        );
        assert_eq!(answer(&route(64, unicast, 0, 1024)), LookupAnswer::NoRoute);
        assert_eq!(
            answer(&route(128, nl::RTN_LOCAL, 0, 0)),
            LookupAnswer::Local
        );
        let unreachable = route(128, nl::RTN_UNREACHABLE, 0, 0);
        assert_eq!(answer(&unreachable), LookupAnswer::NoRoute);
        // Cloned (cache) routes are no route at all.
        let cloned = route(128, unicast, nl::RTM_F_CLONED, 0);
        assert_eq!(answer(&cloned), LookupAnswer::NoRoute);
        assert_eq!(decode(&cloned), Ok(None));
    }

    #[test]
    fn default_route_has_an_unspecified_destination() {
        let mut fixed = Vec::new();
        nl::RtMsg {
            family: nl::AF_INET,
            table: nl::RT_TABLE_MAIN,
            kind: nl::RTN_UNICAST,
            ..nl::RtMsg::default()
        }
        .emit(&mut fixed);
        let bytes = message(nl::RTM_NEWROUTE, &fixed, &[]);
        let Ok(Some(Input::Route(r))) = decode(&bytes) else {
            panic!()
        };
        assert_eq!(
            (r.dst, r.prefix_len, r.table),
            ("0.0.0.0".parse().unwrap(), 0, 254)
        );
    }

    #[test]
    fn overflowing_lookups_are_answered_with_no_route() {
        let mut out = Vec::new();
        let token = crate::engine::LookupToken::HasRoute(3);
        let addr: Ipv6Addr = "fec0::1".parse().unwrap();
        answer(
            KernelOp::LookupRoute { token, addr },
            Err(Errno(libc::ENOBUFS)),
            &mut out,
        );
        assert_eq!(
            out,
            [Input::RouteLookup {
                token,
                addr,
                answer: LookupAnswer::NoRoute
            }]
        );
    }

    /// An NLMSG_ERROR (errno 0: ACK) or NLMSG_DONE answering `seq`.
    fn status(kind: u16, seq: u32, errno: i32) -> Vec<u8> {
        let mut payload = (-errno).to_ne_bytes().to_vec();
        if kind == nl::NLMSG_ERROR {
            // The capped echo of the request header.
            payload.extend([0u8; 16]);
        }
        message_seq(kind, seq, &payload, &[])
    }

    /// Feeds one crafted answer as if it had been read from the request socket.
    fn feed(rtnl: &mut Rtnl, bytes: &[u8]) -> Vec<Input> {
        let mut out = Vec::new();
        for msg in nl::messages(bytes) {
            rtnl.reply(&msg.unwrap(), &mut out);
        }
        out
    }

    /// Opening needs no privileges. These tests send nothing but read-only dump
    /// requests, so they are safe in the host's namespace.
    fn rtnl() -> Rtnl {
        Rtnl::open(false, EVENT_BUFFER).expect("rtnetlink sockets")
    }

    fn route_op(dst: &str) -> KernelOp {
        KernelOp::AddHostRoute(HostRoute {
            dst: dst.parse().unwrap(),
            table: 254,
            ifindex: 2,
        })
    }

    #[test]
    fn answers_go_to_their_own_request() {
        let mut rtnl = rtnl();
        let token = crate::engine::LookupToken::HasRoute(1);
        let addr: Ipv6Addr = "fec0::1".parse().unwrap();
        let lookup = KernelOp::LookupRoute { token, addr };
        rtnl.in_flight.insert(5, Pending::Op(route_op("10.0.0.1")));
        rtnl.in_flight.insert(6, Pending::Op(route_op("10.0.0.2")));
        rtnl.in_flight.insert(7, Pending::Op(lookup.clone()));
        rtnl.in_flight.insert(8, Pending::Op(lookup));
        // Out of order, as a matter of principle.
        assert_eq!(
            feed(&mut rtnl, &status(nl::NLMSG_ERROR, 6, libc::ENODEV)),
            [Input::KernelResult {
                op: route_op("10.0.0.2"),
                result: Err(Errno(libc::ENODEV))
            }]
        );
        assert_eq!(
            feed(&mut rtnl, &status(nl::NLMSG_ERROR, 5, 0)),
            [Input::KernelResult {
                op: route_op("10.0.0.1"),
                result: Ok(())
            }]
        );
        let lookup_answer = |answer| Input::RouteLookup {
            token,
            addr,
            answer,
        };
        assert_eq!(
            feed(&mut rtnl, &status(nl::NLMSG_ERROR, 7, libc::ENETUNREACH)),
            [lookup_answer(LookupAnswer::NoRoute)]
        );
        let mut local = Vec::new();
        nl::RtMsg {
            family: nl::AF_INET6,
            dst_len: 128,
            table: 255,
            kind: nl::RTN_LOCAL,
            ..nl::RtMsg::default()
        }
        .emit(&mut local);
        let reply = message_seq(
            nl::RTM_NEWROUTE,
            8,
            &local,
            &[(nl::RTA_DST, &addr.octets())],
        );
        assert_eq!(
            feed(&mut rtnl, &reply),
            [lookup_answer(LookupAnswer::Local)]
        );
        assert!(rtnl.in_flight.is_empty());
        assert_eq!(rtnl.stats.unknown_replies, 0);
    }

    #[test]
    fn answers_with_unknown_sequence_numbers_are_ignored() {
        let mut rtnl = rtnl();
        rtnl.in_flight.insert(5, Pending::Op(route_op("10.0.0.1")));
        assert_eq!(feed(&mut rtnl, &status(nl::NLMSG_ERROR, 77, 0)), []);
        assert_eq!(feed(&mut rtnl, &status(nl::NLMSG_DONE, 78, 0)), []);
        // A route that answers no lookup (here: seq 5 is a route install, not a lookup).
        let mut fixed = Vec::new();
        nl::RtMsg::default().emit(&mut fixed);
        assert_eq!(
            feed(&mut rtnl, &message_seq(nl::RTM_NEWROUTE, 5, &fixed, &[])),
            []
        );
        assert_eq!(rtnl.stats.unknown_replies, 3);
        assert_eq!(rtnl.in_flight.len(), 1);
    }

    #[test]
    fn a_dump_batch_runs_its_steps_one_at_a_time_and_ends_once() {
        let mut rtnl = rtnl();
        let mut out = Vec::new();
        rtnl.submit(KernelOp::Dump, &mut out);
        rtnl.submit(KernelOp::Dump, &mut out);
        assert_eq!(rtnl.queue.len(), 1, "coalesced");
        assert!(out.is_empty());
        rtnl.flush(&mut out);
        assert!(rtnl.dump_running && !rtnl.dump_queued);
        assert_eq!(std::mem::take(&mut out), [Input::DumpStarted]);
        // A dump asked for now is a new batch, after this one.
        rtnl.submit(KernelOp::Dump, &mut out);
        assert!(rtnl.dump_queued);
        let mut steps = Vec::new();
        let mut link = Vec::new();
        nl::IfInfoMsg {
            index: 1,
            ..nl::IfInfoMsg::default()
        }
        .emit(&mut link);
        loop {
            let dumps: Vec<(u32, usize)> = rtnl
                .in_flight
                .iter()
                .filter_map(|(seq, p)| match p {
                    Pending::Dump(index) => Some((*seq, *index)),
                    Pending::Op(_) => None,
                })
                .collect();
            let [(seq, index)] = dumps[..] else {
                break;
            };
            steps.push(DUMP_STEPS[index]);
            let object = message_seq(nl::RTM_NEWLINK, seq, &link, &[(nl::IFLA_IFNAME, b"lo\0")]);
            assert!(matches!(feed(&mut rtnl, &object)[..], [Input::Link(_)]));
            out.extend(feed(&mut rtnl, &status(nl::NLMSG_DONE, seq, 0)));
            if index < DUMP_STEPS.len() - 1 {
                assert!(out.is_empty(), "{out:?}");
            }
        }
        assert_eq!(steps, DUMP_STEPS);
        assert_eq!(out, [Input::DumpDone]);
        assert!(!rtnl.dump_running);
    }

    #[test]
    fn operations_pass_a_batch_that_waits_for_the_running_one() {
        let mut rtnl = rtnl();
        let mut out = Vec::new();
        rtnl.submit(KernelOp::Dump, &mut out);
        rtnl.flush(&mut out);
        assert!(rtnl.dump_running);
        assert_eq!(std::mem::take(&mut out), [Input::DumpStarted]);
        rtnl.submit(KernelOp::Dump, &mut out);
        // Lookups are read-only, so this test may really send them.
        let token = crate::engine::LookupToken::HasRoute(1);
        let addr: Ipv6Addr = "fec0::1".parse().unwrap();
        let lookup = KernelOp::LookupRoute { token, addr };
        rtnl.submit(lookup.clone(), &mut out);
        rtnl.submit(lookup.clone(), &mut out);
        rtnl.flush(&mut out);
        assert!(out.is_empty());
        let waiting: Vec<&KernelOp> = rtnl
            .in_flight
            .values()
            .filter_map(|p| match p {
                Pending::Op(op) => Some(op),
                Pending::Dump(_) => None,
            })
            .collect();
        assert_eq!(waiting, [&lookup, &lookup]);
        assert!(matches!(
            rtnl.queue.iter().collect::<Vec<_>>()[..],
            [Queued::Dump]
        ));
    }

    #[test]
    fn lost_answers_are_reported_and_repaired() {
        let mut rtnl = rtnl();
        let token = crate::engine::LookupToken::HasRoute(1);
        let addr: Ipv6Addr = "fec0::1".parse().unwrap();
        rtnl.in_flight.insert(5, Pending::Op(route_op("10.0.0.1")));
        rtnl.in_flight
            .insert(6, Pending::Op(KernelOp::LookupRoute { token, addr }));
        rtnl.in_flight.insert(7, Pending::Dump(2));
        rtnl.dump_running = true;
        rtnl.replies_lost = true;
        let mut out = Vec::new();
        rtnl.fail_unanswered(&mut out);
        assert_eq!(
            out,
            [
                Input::KernelResult {
                    op: route_op("10.0.0.1"),
                    result: Err(Errno(libc::ENOBUFS))
                },
                Input::RouteLookup {
                    token,
                    addr,
                    answer: LookupAnswer::NoRoute
                }
            ]
        );
        // The running dump is flow-controlled and goes on; a new batch follows it.
        assert_eq!(rtnl.in_flight.len(), 1);
        assert!(rtnl.dump_queued && !rtnl.replies_lost);
    }

    proptest::proptest! {
        #[test]
        fn decoding_arbitrary_messages_never_panics(
            kind in proptest::prelude::prop_oneof![16u16..=30, proptest::prelude::any::<u16>()],
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..96),
        ) {
            let mut bytes = ((16 + payload.len()) as u32).to_ne_bytes().to_vec();
            bytes.extend(kind.to_ne_bytes());
            bytes.extend([0u8; 10]);
            bytes.extend(&payload);
            let msg = nl::messages(&bytes).next().unwrap().unwrap();
            let _ = to_input(&msg, &mut 1);
            if let Ok(route) = nl::parse_route(&msg) {
                let _ = lookup_answer(&route);
            }
        }
    }

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Notifications captured from Linux 6.18 (x86-64) in a network namespace, all in one
    /// datagram as the kernel may send them: `ip -6 route add 2001:db8::100/128 dev v0
    /// table 1000 proto 158`, `ip neigh add 10.0.0.5 lladdr 02:00:00:00:00:05 dev v0 nud
    /// reachable`, `ip -6 addr add fec0::1/128 dev lo` and the local route that follows.
    #[test]
    #[cfg(target_endian = "little")]
    fn kernel_vectors() {
        let datagram = unhex(concat!(
            "7400000018000006c04a016bf52400000a800000fc9e00010000000008000f00e8030000",
            "1400010020010db80000000000000000000001000800060000040000080004000300000024",
            "000c000000000000000000000000000000000000000000000000000000000000000000050014",
            "0000000000",
            "4c0000001c00000000000000f6240000020000000300000002000001080001000a0000050a",
            "000200020000000005000008000400000000001400030000000000000000000000000002000000",
            "480000001400000000000000000000000a80c0c80100000014000100fec0000000000000000",
            "000000000000114000600ffffffffffffffff92df030092df030008000800c0000000",
            "740000001800000600000000000000000a800000ff0200020000000008000f00ff0000001400",
            "0100fec000000000000000000000000000010800060000000000080004000100000024000c00",
            "00000000000000000000000000000000000000000000000000000000000000000500140000000000",
        ));
        let mut loopback = 1;
        let inputs: Vec<Input> = nl::messages(&datagram)
            .map(|m| to_input(&m.unwrap(), &mut loopback).unwrap().unwrap())
            .collect();
        assert_eq!(
            inputs,
            [
                Input::Route(RouteEvent {
                    dst: "2001:db8::100".parse().unwrap(),
                    prefix_len: 128,
                    table: 1000,
                    protocol: 158,
                    kind: RouteKind::Unicast,
                    metric: 1024,
                    ifindex: Some(3),
                    deleted: false,
                }),
                Input::Neighbour(Neighbour {
                    ifindex: 3,
                    addr: "10.0.0.5".parse().unwrap(),
                    mac: Some(MacAddr([2, 0, 0, 0, 0, 5])),
                    state: NeighState::Reachable,
                    deleted: false,
                }),
                // IPv6 addresses come with IFA_ADDRESS only.
                Input::Address(AddressEvent {
                    ifindex: 1,
                    addr: "fec0::1".parse().unwrap(),
                    prefix_len: 128,
                    deleted: false,
                }),
                Input::Route(RouteEvent {
                    dst: "fec0::1".parse().unwrap(),
                    prefix_len: 128,
                    table: 255,
                    protocol: 2,
                    kind: RouteKind::Local,
                    metric: 0,
                    ifindex: Some(1),
                    deleted: false,
                }),
            ]
        );
    }
}
