//! THE loop: one mio `Poll` over every descriptor the daemon has. It turns readiness into
//! engine inputs and engine outputs into system calls, in order, and decides nothing itself.
//!
//! Per wake-up: read the clock once, drain every ready descriptor until it would block,
//! feed each input to the engine and carry out its outputs before the next input, run the
//! engine's due timers, then arm the one timerfd for the next deadline.

use crate::config::Config;
use crate::engine::stats::SystemCounters;
use crate::engine::{ConnId, Destination, Engine, Input, KernelOp, Output, Solicitation};
use crate::slot_map::SlotMap;
use crate::sys::babel::BabelClient;
use crate::sys::control::{Connection, ControlServer, Progress};
use crate::sys::icmp_error::IcmpErrorSockets;
use crate::sys::icmp6::NdpSocket;
use crate::sys::intercom::IntercomSocket;
use crate::sys::nl80211::Nl80211;
use crate::sys::packet::PacketSocket;
use crate::sys::rtnl::Rtnl;
use crate::sys::signals::Signals;
use crate::sys::timer::{Clock, Timer};
use crate::sys::tun::{MTU, Tun};
use crate::sys::{self, Error, errno_of};
use crate::time::{Duration, Instant};
use crate::wire::arp;
use crate::wire::intercom::GROUP;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use nix::sys::signal::Signal;
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

const SIGNALS: Token = Token(0);
const TIMER: Token = Token(1);
const RTNL_EVENTS: Token = Token(2);
const RTNL_REPLIES: Token = Token(3);
const NL80211: Token = Token(4);
const TUN: Token = Token(5);
const NODE: Token = Token(6);
const CONTROL: Token = Token(7);
const SNOOP_NS: Token = Token(8);
const SNOOP_ARP: Token = Token(9);
const NDP: Token = Token(10);
const BABEL: Token = Token(11);
const NODE_CLIENTS: Token = Token(12);
/// Tokens from here on are handed out to sockets that come and go.
const FIRST_DYNAMIC: usize = 64;

/// A control client that has not sent a whole line by then is dropped (cli-and-control §4.1).
const CONTROL_TIMEOUT: Duration = Duration::from_secs(5);
/// Packets waiting for the tun device to take them back; more are dropped and counted.
const MAX_REINJECT_BACKLOG: usize = 256;
/// Packets read from the tun per loop iteration: under a flood the other sources (the
/// control socket, the intercom, netlink) get their turn between batches.
const TUN_READ_BUDGET: usize = 64;
/// How long shutdown waits for the kernel to confirm the removals (procd kills after 5 s).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// What a dynamic token stands for.
#[derive(Clone, Copy, Debug)]
enum Dynamic {
    Mesh(u32),
    Conn(ConnId),
}

/// The sockets on the client interface (`-i`), opened once the kernel has been read.
struct ClientSide {
    ifindex: u32,
    ns: Option<PacketSocket>,
    arp: PacketSocket,
    ndp: NdpSocket,
}

struct ControlConn {
    conn: Connection,
    token: Token,
    deadline: Instant,
}

pub struct Driver {
    poll: Poll,
    clock: Clock,
    /// Read once per wake-up: every input of one iteration happens at the same instant.
    now: Instant,
    timer: Timer,
    signals: Signals,
    engine: Engine,
    learn_from_ndp: bool,
    client_if: Option<String>,
    /// `--max-control-connections`: more at once are refused.
    max_connections: usize,
    rtnl: Rtnl,
    nl80211: Option<Nl80211>,
    tun: Tun,
    node: IntercomSocket,
    mesh: SlotMap<u32, (Token, IntercomSocket)>,
    node_clients: IntercomSocket,
    client_side: Option<ClientSide>,
    control: Option<ControlServer>,
    conns: SlotMap<ConnId, ControlConn>,
    tokens: SlotMap<Token, Dynamic>,
    next_token: usize,
    next_conn: ConnId,
    reinject: VecDeque<Vec<u8>>,
    /// One packet read from the tun device: allocated once, as large as its MTU.
    tun_buf: Vec<u8>,
    /// The tun had more to read when its budget ran out: the next poll does not block.
    tun_backlogged: bool,
    /// None when the raw sockets could not be opened: then no ICMP errors are sent.
    icmp_errors: Option<IcmpErrorSockets>,
    /// The connection to babeld's local interface, with `--babeld`.
    babel: Option<BabelClient>,
    /// Inputs that outputs produced (a failed send): fed after the current output drain.
    backlog: VecDeque<Input>,
    synced: bool,
    stopping: bool,
    counters: SystemCounters,
}

/// Runs the daemon until TERM or INT; an error is fatal (exit status 1).
pub fn run(cfg: Config) -> Result<(), Error> {
    let mut driver = Driver::start(cfg)?;
    driver.serve()?;
    driver.shut_down();
    Ok(())
}

fn register(poll: &Poll, fd: &impl AsFd, token: Token, interest: Interest) -> Result<(), Error> {
    poll.registry()
        .register(&mut SourceFd(&fd.as_fd().as_raw_fd()), token, interest)
        .map_err(|e| Error::new(format!("registering {token:?} with the poll"), e))
}

fn deregister(poll: &Poll, fd: &impl AsFd) {
    let _ = poll
        .registry()
        .deregister(&mut SourceFd(&fd.as_fd().as_raw_fd()));
}

impl Driver {
    /// behaviour.md §13.1: everything that can fail for want of configuration fails before
    /// the kernel is touched; then control socket, tun, rtnetlink and the startup dump.
    fn start(cfg: Config) -> Result<Driver, Error> {
        let signals = Signals::install()?;
        let node = IntercomSocket::node(cfg.node_ip)?;
        let node_clients = IntercomSocket::node_clients()?;
        let control = match &cfg.control_socket {
            Some(path) => Some(ControlServer::bind(Path::new(path))?),
            None => None,
        };
        let tun = Tun::create(&cfg.tun_name)?;
        // Neighbour and bridge FDB events (one multicast group) are what -i and -b learn from.
        let neighbours =
            (cfg.client_if.is_some() || cfg.client_bridge.is_some()) && cfg.learn_from_netlink;
        let mut rtnl = Rtnl::open(neighbours, cfg.netlink_rcvbuf)?;
        rtnl.set_tun_ifindex(tun.ifindex);
        let nl80211 = if cfg.client_if.is_some() && cfg.learn_from_nl80211 {
            let found = Nl80211::open()?;
            if found.is_none() {
                log::info!("nl80211 is not available: no wifi station events");
            }
            found
        } else {
            None
        };
        let poll = Poll::new().map_err(|e| Error::new("creating the poll", e))?;
        let timer = Timer::new()?;
        register(&poll, &signals, SIGNALS, Interest::READABLE)?;
        register(&poll, &timer, TIMER, Interest::READABLE)?;
        rtnl.register(poll.registry(), RTNL_EVENTS, RTNL_REPLIES)?;
        let mut nl80211 = nl80211;
        if let Some(nl) = nl80211.as_mut() {
            nl.register(poll.registry(), NL80211)?;
        }
        register(&poll, &tun, TUN, Interest::READABLE)?;
        register(&poll, &node, NODE, Interest::READABLE)?;
        register(&poll, &node_clients, NODE_CLIENTS, Interest::READABLE)?;
        let mut control = control;
        if let Some(server) = control.as_mut() {
            poll.registry()
                .register(server.listener(), CONTROL, Interest::READABLE)
                .map_err(|e| Error::new("registering the control socket", e))?;
        }
        let icmp_errors = IcmpErrorSockets::open()
            .inspect_err(|e| log::warn!("{e}: no ICMP errors for expired packets"))
            .ok();
        let clock = Clock::start();
        let seed = sys::random_seed()?;
        log::info!(
            "l3roamd {} starting: node IP {}, tun {} (ifindex {})",
            crate::VERSION,
            cfg.node_ip,
            tun.name,
            tun.ifindex
        );
        if !cfg.keys.is_empty() {
            let rollout = if cfg.accept_unauthenticated.is_empty() {
                String::new()
            } else {
                format!(
                    "; also sent unsigned, and unsigned accepted from {} node(s)",
                    cfg.accept_unauthenticated.len()
                )
            };
            log::info!(
                "intercom authenticated: signed with the first of {} key(s){rollout}",
                cfg.keys.len()
            );
        }
        let learn_from_ndp = cfg.learn_from_ndp;
        let client_if = cfg.client_if.clone();
        let max_connections = cfg.limits.control_connections;
        let now = clock.now();
        // Connects at the first timer run, once the engine has its first outputs out.
        let babel = cfg
            .babeld
            .clone()
            .map(|endpoint| BabelClient::new(endpoint, BABEL, now));
        let mut engine = Engine::new(cfg, seed, now);
        engine.set_wall_clock(now, clock.wall_ms());
        let mut driver = Driver {
            poll,
            clock,
            now,
            timer,
            signals,
            engine,
            learn_from_ndp,
            client_if,
            max_connections,
            rtnl,
            nl80211,
            tun,
            node,
            mesh: Default::default(),
            node_clients,
            client_side: None,
            control,
            conns: Default::default(),
            tokens: Default::default(),
            next_token: FIRST_DYNAMIC,
            next_conn: 0,
            reinject: VecDeque::new(),
            tun_buf: vec![0; MTU + 64],
            tun_backlogged: false,
            icmp_errors,
            babel,
            backlog: VecDeque::new(),
            synced: false,
            stopping: false,
            counters: SystemCounters::default(),
        };
        driver.perform_outputs();
        // The loop arms the timer after each wake-up; the first deadlines (babeld's first
        // connection attempt is due at once) must not wait for some other event to come.
        let first = driver.next_deadline();
        driver
            .timer
            .arm(&driver.clock, first)
            .map_err(|e| Error::new("arming the timerfd", e))?;
        Ok(driver)
    }

    fn serve(&mut self) -> Result<(), Error> {
        let mut events = Events::with_capacity(64);
        while !self.stopping {
            let timeout = self.tun_backlogged.then_some(std::time::Duration::ZERO);
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::new("waiting for events", e)),
            }
            self.now = self.clock.now();
            self.engine.set_wall_clock(self.now, self.clock.wall_ms());
            let mut tun_readable = std::mem::take(&mut self.tun_backlogged);
            for event in events.iter() {
                if event.token() == TUN {
                    if event.is_writable() {
                        self.flush_reinject();
                    }
                    tun_readable |= event.is_readable();
                } else {
                    self.handle_event(event.token())?;
                }
            }
            if tun_readable {
                self.tun_backlogged = self.read_tun();
            }
            self.run_due_timers();
            self.flush_rtnl();
            let next = self.next_deadline();
            self.timer
                .arm(&self.clock, next)
                .map_err(|e| Error::new("arming the timerfd", e))?;
        }
        Ok(())
    }

    fn handle_event(&mut self, token: Token) -> Result<(), Error> {
        let mut inputs = Vec::new();
        match token {
            SIGNALS => self.handle_signals(),
            TIMER => self.timer.acknowledge(),
            RTNL_EVENTS => self.rtnl.read_events(&mut inputs)?,
            RTNL_REPLIES => self.rtnl.read_replies(&mut inputs)?,
            NL80211 => {
                if let Some(nl) = &mut self.nl80211 {
                    if let Err(e) = nl.read(&mut inputs) {
                        // §13.4: re-open this socket only. Closing the old one takes it out
                        // of the poll as well.
                        log::warn!("nl80211: {e}; re-opening");
                        self.nl80211 = None;
                        self.reopen_nl80211();
                    }
                }
            }
            NODE => {
                if let Err(e) = self.node.read(&mut inputs) {
                    log::warn!("intercom socket of the node IP: {e}");
                }
            }
            NODE_CLIENTS => {
                if let Err(e) = self.node_clients.read(&mut inputs) {
                    log::warn!("intercom socket of the node-client IPs: {e}");
                }
            }
            CONTROL => self.accept_control(),
            BABEL => {
                if let Some(babel) = &mut self.babel {
                    babel.handle_event(
                        self.poll.registry(),
                        self.now,
                        &mut inputs,
                        &mut self.counters,
                    );
                }
            }
            SNOOP_NS | SNOOP_ARP | NDP => self.read_client_side(token, &mut inputs),
            other => match self.tokens.get(&other).copied() {
                Some(Dynamic::Mesh(ifindex)) => {
                    if let Some((_, socket)) = self.mesh.get(&ifindex) {
                        if let Err(e) = socket.read(&mut inputs) {
                            log::warn!("intercom socket on ifindex {ifindex}: {e}");
                        }
                    }
                }
                Some(Dynamic::Conn(conn)) => self.service_conn(conn, &mut inputs),
                None => {}
            },
        }
        for input in inputs {
            self.feed(input);
        }
        Ok(())
    }

    /// One input into the engine, its outputs out, then whatever those outputs caused.
    fn feed(&mut self, input: Input) {
        self.backlog.push_back(input);
        while let Some(input) = self.backlog.pop_front() {
            let sockets_may_change = matches!(
                input,
                Input::Link(_) | Input::LinkGone { .. } | Input::DumpDone
            );
            if input == Input::DumpDone {
                self.synced = true;
            }
            let control = matches!(input, Input::Control { .. });
            if control {
                self.counters.kernel_queue_full = self.rtnl.stats().rejected;
                let rtnl = self.rtnl.stats();
                self.counters.netlink_overruns = rtnl.overruns;
                self.counters.netlink_replies_lost = rtnl.lost_replies;
                self.counters.netlink_dumps = rtnl.dumps;
                self.engine.set_system_counters(self.counters);
            }
            self.engine.handle_input(self.now, input);
            self.perform_outputs();
            if sockets_may_change || control {
                self.sync_sockets();
            }
        }
    }

    fn reopen_nl80211(&mut self) {
        match Nl80211::open() {
            Ok(Some(mut nl)) => match nl.register(self.poll.registry(), NL80211) {
                Ok(()) => self.nl80211 = Some(nl),
                Err(e) => log::warn!("{e}: station events off until restart"),
            },
            Ok(None) => log::warn!("nl80211 is gone: station events off until restart"),
            Err(e) => log::warn!("{e}: station events off until restart"),
        }
    }

    fn run_due_timers(&mut self) {
        let now = self.now;
        if let Some(babel) = self
            .babel
            .as_mut()
            .filter(|b| b.deadline().is_some_and(|at| at <= now))
        {
            let mut inputs = Vec::new();
            babel.handle_timeout(self.poll.registry(), now, &mut inputs, &mut self.counters);
            for input in inputs {
                self.feed(input);
            }
        }
        if self.engine.poll_timeout().is_some_and(|at| at <= now) {
            self.engine.handle_timeout(now);
            self.perform_outputs();
            while let Some(input) = self.backlog.pop_front() {
                self.feed(input);
            }
        }
        let expired: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for conn in expired {
            self.counters.control_timeouts += 1;
            log::debug!("control connection {conn}: no command within 5 s, closed");
            self.close_conn(conn);
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let conns = self.conns.values().map(|c| c.deadline).min();
        let babel = self.babel.as_ref().and_then(BabelClient::deadline);
        [self.engine.poll_timeout(), conns, babel]
            .into_iter()
            .flatten()
            .min()
    }

    // ----- outputs -----

    fn perform_outputs(&mut self) {
        while let Some(output) = self.engine.poll_output() {
            match output {
                Output::Kernel(op) => self.kernel_op(op),
                Output::Intercom { dst, bytes } => self.send_intercom(dst, &bytes),
                Output::Solicit(solicitation) => self.solicit(solicitation),
                Output::Reinject(packet) => self.write_tun(packet),
                Output::IcmpError { dst, message } => {
                    if let Some(sockets) = &self.icmp_errors {
                        if let Err(e) = sockets.send(dst, &message) {
                            log::debug!("ICMP error to {dst}: {e}");
                        }
                    }
                }
                Output::ControlReply { conn, bytes } => self.reply(conn, bytes),
                Output::SetLogLevel(verbosity) => {
                    log::set_max_level(verbosity.log_level().level_filter());
                    log::info!("log level now {}", verbosity.word());
                }
            }
        }
    }

    fn kernel_op(&mut self, op: KernelOp) {
        let mut answered = Vec::new();
        self.rtnl.submit(op, &mut answered);
        self.backlog.extend(answered);
    }

    /// Sends what rtnetlink has queued; operations refused at once come back as inputs.
    fn flush_rtnl(&mut self) {
        let mut answered = Vec::new();
        self.rtnl.flush(&mut answered);
        for input in answered {
            self.feed(input);
        }
    }

    fn send_intercom(&mut self, dst: Destination, bytes: &[u8]) {
        let (addr, scope) = match dst {
            Destination::Multicast { ifindex } => (GROUP, ifindex),
            Destination::Unicast(addr) => (addr, 0),
        };
        match self.node.send(bytes, addr, scope) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                log::debug!("intercom send buffer full: datagram to {addr} dropped");
                self.counters.intercom_send_dropped += 1;
            }
            Err(e) => match dst {
                Destination::Unicast(dst) => {
                    log::debug!("intercom to {dst}: {e}");
                    self.backlog.push_back(Input::IntercomSendFailed {
                        dst,
                        errno: errno_of(&e),
                    });
                }
                Destination::Multicast { ifindex } => {
                    log::debug!("intercom multicast on ifindex {ifindex}: {e}");
                }
            },
        }
    }

    fn solicit(&mut self, solicitation: Solicitation) {
        let Some(side) = &self.client_side else {
            return;
        };
        let result = match solicitation {
            Solicitation::Neighbour {
                ifindex,
                target,
                dst,
                source_mac,
            } if ifindex == side.ifindex => side.ndp.send_solicit(target, dst, source_mac),
            Solicitation::Arp {
                ifindex,
                target,
                sender_mac,
                dst_mac,
            } if ifindex == side.ifindex => side
                .arp
                .send_arp(&arp::Repr::probe_request(sender_mac, target), dst_mac),
            _ => Ok(()),
        };
        if let Err(e) = result {
            log::debug!("solicitation on the client interface: {e}");
        }
    }

    fn write_tun(&mut self, packet: Vec<u8>) {
        if !self.reinject.is_empty() {
            if self.reinject.len() < MAX_REINJECT_BACKLOG {
                self.reinject.push_back(packet);
            } else {
                self.counters.reinject_dropped += 1;
            }
            return;
        }
        match self.tun.send(&packet) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.reinject.push_back(packet);
                self.set_tun_interest(Interest::READABLE | Interest::WRITABLE);
            }
            Err(e) => log::debug!("re-injecting a packet: {e}"),
        }
    }

    fn set_tun_interest(&self, interest: Interest) {
        let _ = self.poll.registry().reregister(
            &mut SourceFd(&self.tun.as_fd().as_raw_fd()),
            TUN,
            interest,
        );
    }

    // ----- inputs -----

    fn handle_signals(&mut self) {
        while let Some(signal) = self.signals.pending() {
            match signal {
                Signal::SIGTERM | Signal::SIGINT => {
                    log::info!("{signal}: removing what this process installed, then exiting");
                    self.stopping = true;
                }
                Signal::SIGUSR1 => self.log_state(),
                other => log::info!("{other} ignored"),
            }
        }
    }

    fn log_state(&self) {
        let macs = self.engine.client_macs();
        log::info!("{} clients", macs.len());
        for mac in macs {
            let addresses: Vec<String> = self
                .engine
                .client_addresses(&mac)
                .iter()
                .map(|(addr, state)| format!("{addr} {state:?}"))
                .collect();
            log::info!(
                "  {mac}{}: {}",
                if self.engine.holds_node_client_ip(&mac) {
                    " (node-client IP here)"
                } else {
                    ""
                },
                addresses.join(", ")
            );
        }
        log::info!("counters: {}", self.engine.stats().to_json());
        log::info!(
            "sockets: {} mesh, {} control connections; {} snooped frames dropped",
            self.mesh.len(),
            self.conns.len(),
            self.counters.frames_dropped
        );
    }

    fn flush_reinject(&mut self) {
        while let Some(packet) = self.reinject.front() {
            match self.tun.send(packet) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                _ => {
                    self.reinject.pop_front();
                }
            }
        }
        if self.reinject.is_empty() {
            self.set_tun_interest(Interest::READABLE);
        }
    }

    /// Reads at most [`TUN_READ_BUDGET`] packets; true if the tun may hold more (the poll
    /// is edge-triggered, so it will not say so again).
    fn read_tun(&mut self) -> bool {
        for _ in 0..TUN_READ_BUDGET {
            match self.tun.recv(&mut self.tun_buf) {
                Ok(n) => {
                    let packet = self.tun_buf[..n].to_vec();
                    self.feed(Input::TunPacket(packet));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) => {
                    log::warn!("reading the tun device: {e}");
                    return false;
                }
            }
        }
        true
    }

    fn read_client_side(&mut self, token: Token, inputs: &mut Vec<Input>) {
        let Some(side) = &self.client_side else {
            return;
        };
        let result = match token {
            SNOOP_NS => side.ns.as_ref().map_or(Ok(()), |s| {
                s.read(inputs, &mut self.counters.frames_dropped)
            }),
            SNOOP_ARP => side.arp.read(inputs, &mut self.counters.frames_dropped),
            _ => side.ndp.read(inputs, &mut self.counters.frames_dropped),
        };
        if let Err(e) = result {
            // §13.4: an error on one socket re-opens that socket only.
            log::warn!("client interface socket: {e}; re-opening");
            self.close_client_side();
            self.sync_sockets();
        }
    }

    fn accept_control(&mut self) {
        loop {
            let Some(server) = &self.control else {
                return;
            };
            let stream = match server.accept() {
                Ok(stream) => stream,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log::warn!("accepting a control connection: {e}");
                    return;
                }
            };
            if self.conns.len() >= self.max_connections {
                log::debug!("too many control connections: one refused");
                self.counters.control_refused += 1;
                continue;
            }
            self.next_conn += 1;
            let conn = self.next_conn;
            let token = self.dynamic_token(Dynamic::Conn(conn));
            let mut control = ControlConn {
                conn: Connection::new(stream),
                token,
                deadline: self.now + CONTROL_TIMEOUT,
            };
            if self
                .poll
                .registry()
                .register(
                    &mut control.conn.stream,
                    token,
                    Interest::READABLE | Interest::WRITABLE,
                )
                .is_err()
            {
                self.tokens.remove(&token);
                continue;
            }
            self.conns.insert(conn, control);
            // The line may be there already.
            let mut inputs = Vec::new();
            self.service_conn(conn, &mut inputs);
            for input in inputs {
                self.feed(input);
            }
        }
    }

    fn service_conn(&mut self, conn: ConnId, inputs: &mut Vec<Input>) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.conn.has_reply() {
            if c.conn.write() {
                self.close_conn(conn);
            }
            return;
        }
        match c.conn.read(conn) {
            Progress::Waiting => {}
            Progress::Command(input) => inputs.push(input),
            Progress::Closed => self.close_conn(conn),
        }
    }

    fn reply(&mut self, conn: ConnId, bytes: Vec<u8>) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.conn.set_reply(bytes);
        if c.conn.write() {
            self.close_conn(conn);
        }
    }

    fn close_conn(&mut self, conn: ConnId) {
        if let Some(mut c) = self.conns.remove(&conn) {
            let _ = self.poll.registry().deregister(&mut c.conn.stream);
            self.tokens.remove(&c.token);
        }
    }

    // ----- sockets that follow the links -----

    fn dynamic_token(&mut self, what: Dynamic) -> Token {
        while self.tokens.contains_key(&Token(self.next_token)) {
            self.next_token = self.next_token.wrapping_add(1).max(FIRST_DYNAMIC);
        }
        let token = Token(self.next_token);
        self.next_token = self.next_token.wrapping_add(1).max(FIRST_DYNAMIC);
        self.tokens.insert(token, what);
        token
    }

    /// Mesh sockets follow the mesh interfaces that exist and are up; the client-side
    /// sockets follow the `-i` interface, once the kernel has been read.
    fn sync_sockets(&mut self) {
        let wanted = self.engine.mesh_ifindexes_up();
        let gone: Vec<u32> = self
            .mesh
            .keys()
            .filter(|i| !wanted.contains(i))
            .copied()
            .collect();
        for ifindex in gone {
            if let Some((token, socket)) = self.mesh.remove(&ifindex) {
                deregister(&self.poll, &socket);
                self.tokens.remove(&token);
                log::info!("intercom: left {GROUP} on ifindex {ifindex}");
            }
        }
        for ifindex in wanted {
            if self.mesh.contains_key(&ifindex) {
                continue;
            }
            match IntercomSocket::mesh(ifindex) {
                Ok(socket) => {
                    let token = self.dynamic_token(Dynamic::Mesh(ifindex));
                    if register(&self.poll, &socket, token, Interest::READABLE).is_ok() {
                        log::info!("intercom: joined {GROUP} on ifindex {ifindex}");
                        self.mesh.insert(ifindex, (token, socket));
                    } else {
                        self.tokens.remove(&token);
                    }
                }
                Err(e) => log::warn!("{e}"),
            }
        }

        // The engine's view of the links: it also drops a link whose removal was lost in
        // an overrun, and one whose name a new link took.
        let client = self.client_if.as_deref().and_then(|name| {
            self.engine
                .link_index(name)
                .map(|ifindex| (name.to_string(), ifindex))
        });
        let current = self.client_side.as_ref().map(|s| s.ifindex);
        match client {
            Some((_, ifindex)) if current == Some(ifindex) => {}
            Some((name, ifindex)) if self.synced => {
                self.close_client_side();
                match self.open_client_side(&name, ifindex) {
                    Ok(side) => {
                        log::info!("client interface {name} (ifindex {ifindex}): listening");
                        self.client_side = Some(side);
                    }
                    Err(e) => log::warn!("client interface {name}: {e}"),
                }
            }
            Some(_) => {}
            None => self.close_client_side(),
        }
    }

    fn open_client_side(&mut self, name: &str, ifindex: u32) -> Result<ClientSide, Error> {
        let ns = if self.learn_from_ndp {
            Some(PacketSocket::open_ns(ifindex)?)
        } else {
            None
        };
        let side = ClientSide {
            ifindex,
            ns,
            arp: PacketSocket::open_arp(ifindex)?,
            ndp: NdpSocket::open(name, ifindex)?,
        };
        if let Some(ns) = &side.ns {
            register(&self.poll, ns, SNOOP_NS, Interest::READABLE)?;
        }
        register(&self.poll, &side.arp, SNOOP_ARP, Interest::READABLE)?;
        if self.learn_from_ndp {
            register(&self.poll, &side.ndp, NDP, Interest::READABLE)?;
        }
        Ok(side)
    }

    fn close_client_side(&mut self) {
        if let Some(side) = self.client_side.take() {
            if let Some(ns) = &side.ns {
                deregister(&self.poll, ns);
            }
            deregister(&self.poll, &side.arp);
            deregister(&self.poll, &side.ndp);
        }
    }

    // ----- shutdown -----

    /// behaviour.md §13.3: no intercom traffic any more; every host route and node-client IP
    /// this process installed removed (exact match), waiting for the kernel's answers, then
    /// the tun device and the control socket go with the process.
    fn shut_down(&mut self) {
        self.engine.shutdown(self.clock.now());
        self.perform_outputs();
        let give_up = self.clock.now() + SHUTDOWN_GRACE;
        let mut events = Events::with_capacity(16);
        loop {
            let now = self.clock.now();
            // The holds of demoted routes: their deletions are the last removals.
            if self.engine.poll_timeout().is_some_and(|at| at <= now) {
                self.engine.handle_timeout(now);
                self.perform_outputs();
            }
            let mut inputs = Vec::new();
            self.rtnl.flush(&mut inputs);
            let holds_due = self.engine.poll_timeout();
            if self.rtnl.is_idle() && holds_due.is_none() {
                break;
            }
            if now >= give_up {
                log::warn!("shutdown: the kernel did not confirm every removal in time");
                break;
            }
            let wait = holds_due
                .unwrap_or(give_up)
                .min(give_up)
                .saturating_since(now);
            if self.poll.poll(&mut events, Some(wait)).is_err() {
                continue;
            }
            for event in events.iter() {
                if event.token() == RTNL_REPLIES {
                    if let Err(e) = self.rtnl.read_replies(&mut inputs) {
                        log::warn!("shutdown: {e}");
                    }
                }
            }
            // Results are only logged now: the engine has nothing left to decide.
            for input in inputs {
                if let Input::KernelResult {
                    op,
                    result: Err(errno),
                } = input
                {
                    if !errno.is_absent() {
                        log::warn!("shutdown: {op:?} failed: errno {}", errno.0);
                    }
                }
            }
        }
        log::info!("stopped");
    }
}
