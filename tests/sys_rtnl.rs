//! The rtnetlink layer against the real kernel. Every test first moves its own thread into a
//! fresh network namespace, so tests run in parallel, see only their own links, routes and
//! neighbours, and leave nothing behind. They need root (CI runs as root); without it they
//! fail with a message saying so.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};
use nix::sys::socket::{
    AddressFamily, LinkAddr, SockFlag, SockProtocol, SockType, recvfrom, setsockopt, socket,
    sockopt,
};
use nix::sys::time::TimeVal;

use l3roamd::engine::{
    AddressEvent, Errno, HostRoute, Input, KernelOp, Link, LookupAnswer, LookupToken, NeighState,
    Neighbour, RouteEvent, RouteKind,
};
use l3roamd::prefix::IpPrefix;
use l3roamd::sys::netns::enter_new_network_namespace;
use l3roamd::sys::rtnl::{MAX_QUEUED, Rtnl};
use l3roamd::wire::MacAddr;

const TIMEOUT: Duration = Duration::from_secs(5);

fn netns() {
    if !nix::unistd::geteuid().is_root() {
        panic!(
            "tests/sys_rtnl.rs needs root (it creates network namespaces, links and routes); \
             run the test suite as root, as CI does"
        );
    }
    if let Err(e) = enter_new_network_namespace() {
        panic!("{e}: tests/sys_rtnl.rs needs root with CAP_SYS_ADMIN and CAP_NET_ADMIN");
    }
}

/// Runs `ip` in the test's namespace; fails the test if it fails.
fn ip(args: &str) -> String {
    let out = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .expect("running ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits for the kernel's `local` route of an address just added: the kernel inserts it
/// after the address itself (and after its RTM_NEWADDR), which under load takes a moment.
fn wait_for_local_route(addr: &str) {
    let deadline = Instant::now() + TIMEOUT;
    let wanted = format!("local {addr} dev lo");
    loop {
        let table = ip("-6 route show table local");
        if table.contains(&wanted) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no '{wanted}' within {TIMEOUT:?}:\n{table}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ifindex(name: &str) -> u32 {
    nix::net::if_::if_nametoindex(name).expect("interface exists")
}

/// Asked from `ip`: /sys shows the namespace it was mounted in, not the test's.
fn mac_of(name: &str) -> MacAddr {
    let out = ip(&format!("-o link show dev {name}"));
    let mac = out
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .expect("an Ethernet address");
    mac.parse().expect("a MAC")
}

/// Disables IPv6 duplicate address detection for links created afterwards, so link-local
/// addresses are usable at once (the kernel solicits from them).
fn no_dad() {
    std::fs::write("/proc/sys/net/ipv6/conf/default/accept_dad", "0").expect("sysctl accept_dad");
}

/// A veth pair `v0` / `v1`, both up.
fn veth() -> (u32, u32) {
    ip("link add v0 type veth peer name v1");
    ip("link set v0 up");
    ip("link set v1 up");
    (ifindex("v0"), ifindex("v1"))
}

/// An [`Rtnl`] driven through a mio loop the way the daemon's driver does it; every input
/// it produces is kept in `seen`.
struct Kernel {
    rtnl: Rtnl,
    poll: Poll,
    events: Events,
    seen: Vec<Input>,
}

impl Kernel {
    fn open(neighbours: bool) -> Kernel {
        let mut rtnl =
            Rtnl::open(neighbours, l3roamd::sys::rtnl::EVENT_BUFFER).expect("opening rtnetlink");
        let poll = Poll::new().expect("poll");
        rtnl.register(poll.registry(), Token(0), Token(1))
            .expect("registering");
        Kernel {
            rtnl,
            poll,
            events: Events::with_capacity(16),
            seen: Vec::new(),
        }
    }

    fn submit(&mut self, op: KernelOp) {
        self.rtnl.submit(op, &mut self.seen);
        self.rtnl.flush(&mut self.seen);
    }

    fn step(&mut self, timeout: Duration) {
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => {}
            // A signal to the test process (another test's child exiting, say) interrupts
            // the wait; the sockets are drained below either way.
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => panic!("poll: {err}"),
        }
        // Tokens do not matter here: both sockets are drained on every wake-up, as a
        // spurious event must be harmless anyway.
        self.rtnl.read_events(&mut self.seen).expect("events");
        self.rtnl.read_replies(&mut self.seen).expect("replies");
        self.rtnl.flush(&mut self.seen);
    }

    /// Waits for an input matching `what`, removes it from `seen` and returns it.
    fn wait(&mut self, description: &str, what: impl Fn(&Input) -> bool) -> Input {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(i) = self.seen.iter().position(&what) {
                return self.seen.remove(i);
            }
            assert!(
                Instant::now() < deadline,
                "no {description} within {TIMEOUT:?}; seen: {:#?}",
                self.seen
            );
            self.step(Duration::from_millis(50));
        }
    }

    /// Collects inputs for `duration`.
    fn settle(&mut self, duration: Duration) {
        let deadline = Instant::now() + duration;
        while Instant::now() < deadline {
            self.step(Duration::from_millis(20));
        }
    }

    fn result_of(&mut self, op: KernelOp) -> Result<(), Errno> {
        self.submit(op.clone());
        match self.wait(
            &format!("result of {op:?}"),
            |i| matches!(i, Input::KernelResult { op: o, .. } if *o == op),
        ) {
            Input::KernelResult { result, .. } => result,
            _ => unreachable!(),
        }
    }

    fn lookup(&mut self, addr: &str) -> LookupAnswer {
        let addr: Ipv6Addr = addr.parse().unwrap();
        let token = LookupToken::HasRoute(u64::from(u128::from(addr) as u16));
        self.submit(KernelOp::LookupRoute { token, addr });
        match self.wait(
            &format!("lookup of {addr}"),
            |i| matches!(i, Input::RouteLookup { token: t, .. } if *t == token),
        ) {
            Input::RouteLookup {
                answer, addr: a, ..
            } => {
                assert_eq!(a, addr);
                answer
            }
            _ => unreachable!(),
        }
    }
}

fn host_route(dst: &str, table: u32, ifindex: u32) -> HostRoute {
    HostRoute {
        dst: dst.parse().unwrap(),
        table,
        ifindex,
    }
}

#[test]
fn dump_batch_reports_every_kind_of_object_and_ends_once() {
    netns();
    let (v0, _) = veth();
    ip("addr add 2001:db8::1/64 dev v0 nodad");
    ip("addr add 10.0.0.1/24 dev v0");
    ip("-6 route add 2001:db8:1::/64 dev v0 proto 42 table 1000");
    ip("neigh add 2001:db8::2 lladdr 02:00:00:00:00:02 dev v0 nud permanent");
    ip("neigh add 10.0.0.2 lladdr 02:00:00:00:00:03 dev v0 nud reachable");
    let v0_mac = mac_of("v0");

    let mut kernel = Kernel::open(false);
    // Asked twice before the batch started: one batch.
    kernel.rtnl.submit(KernelOp::Dump, &mut kernel.seen);
    kernel.rtnl.submit(KernelOp::Dump, &mut kernel.seen);
    kernel.rtnl.flush(&mut kernel.seen);
    let deadline = Instant::now() + TIMEOUT;
    while !kernel.seen.contains(&Input::DumpDone) && Instant::now() < deadline {
        kernel.step(Duration::from_millis(20));
    }
    let dumped = std::mem::take(&mut kernel.seen);
    // Everything came before the end.
    assert_eq!(dumped.last(), Some(&Input::DumpDone), "{dumped:#?}");
    kernel.settle(Duration::from_millis(300));
    assert!(
        !kernel.seen.contains(&Input::DumpDone),
        "a second DumpDone: {:#?}",
        kernel.seen
    );

    let has = |input: &Input| dumped.contains(input);
    assert!(
        dumped.iter().any(
            |i| matches!(i, Input::Link(Link { ifindex: 1, name, up: true, .. }) if name == "lo")
        ),
        "{dumped:#?}"
    );
    assert!(has(&Input::Link(Link {
        ifindex: v0,
        name: "v0".into(),
        up: true,
        mac: Some(v0_mac),
        master: None,
    })));
    assert!(has(&Input::Address(AddressEvent {
        ifindex: v0,
        addr: "2001:db8::1".parse().unwrap(),
        prefix_len: 64,
        deleted: false,
    })));
    assert!(has(&Input::Address(AddressEvent {
        ifindex: v0,
        addr: "10.0.0.1".parse().unwrap(),
        prefix_len: 24,
        deleted: false,
    })));
    assert!(has(&Input::Route(RouteEvent {
        dst: "2001:db8:1::".parse().unwrap(),
        prefix_len: 64,
        table: 1000,
        protocol: 42,
        kind: RouteKind::Unicast,
        metric: 1024,
        ifindex: Some(v0),
        deleted: false,
    })));
    assert!(
        dumped.iter().any(|i| matches!(i, Input::Route(r)
            if r.dst == "10.0.0.0".parse::<IpAddr>().unwrap() && r.prefix_len == 24 && r.table == 254)),
        "{dumped:#?}"
    );
    assert!(
        dumped
            .iter()
            .any(|i| matches!(i, Input::Route(r) if r.kind == RouteKind::Local && r.table == 255)),
        "local routes are reported too: {dumped:#?}"
    );
    assert!(has(&Input::Neighbour(Neighbour {
        ifindex: v0,
        addr: "2001:db8::2".parse().unwrap(),
        mac: Some("02:00:00:00:00:02".parse().unwrap()),
        state: NeighState::Permanent,
        deleted: false,
    })));
    assert!(
        dumped.iter().any(|i| matches!(i, Input::Neighbour(n)
            if n.addr == "10.0.0.2".parse::<IpAddr>().unwrap()
                && n.mac == Some("02:00:00:00:00:03".parse().unwrap()))),
        "{dumped:#?}"
    );
}

#[test]
fn a_dump_asked_for_while_one_runs_runs_again() {
    netns();
    let mut kernel = Kernel::open(false);
    kernel.submit(KernelOp::Dump);
    // The first batch has started (flushed by submit); these two make one more batch.
    kernel.submit(KernelOp::Dump);
    kernel.submit(KernelOp::Dump);
    kernel.wait("first DumpDone", |i| *i == Input::DumpDone);
    kernel.wait("second DumpDone", |i| *i == Input::DumpDone);
    kernel.settle(Duration::from_millis(300));
    assert!(
        !kernel.seen.contains(&Input::DumpDone),
        "{:#?}",
        kernel.seen
    );
}

#[test]
fn host_routes_are_installed_and_reported() {
    netns();
    let (v0, _) = veth();
    let mut kernel = Kernel::open(false);
    let v6 = host_route("2001:db8::100", 100, v0);
    let v4 = host_route("10.0.0.100", 1000, v0);
    assert_eq!(kernel.result_of(KernelOp::AddHostRoute(v6)), Ok(()));
    assert_eq!(kernel.result_of(KernelOp::AddHostRoute(v4)), Ok(()));
    // Create + replace: installing again is not an error.
    assert_eq!(kernel.result_of(KernelOp::AddHostRoute(v6)), Ok(()));

    let shown = ip("-6 route show table 100 proto 158");
    assert!(
        shown.contains("2001:db8::100 dev v0 metric 1024"),
        "{shown}"
    );
    let shown = ip("-4 route show table 1000 proto 158");
    assert!(shown.contains("10.0.0.100 dev v0"), "{shown}");
    assert!(ip("route show table all type throw").is_empty());

    kernel.wait("the IPv6 route event", |i| {
        *i == Input::Route(RouteEvent {
            dst: v6.dst,
            prefix_len: 128,
            table: 100,
            protocol: 158,
            kind: RouteKind::Unicast,
            metric: 1024,
            ifindex: Some(v0),
            deleted: false,
        })
    });
    kernel.wait("the IPv4 route event", |i| {
        *i == Input::Route(RouteEvent {
            dst: v4.dst,
            prefix_len: 32,
            table: 1000,
            protocol: 158,
            kind: RouteKind::Unicast,
            metric: 0,
            ifindex: Some(v0),
            deleted: false,
        })
    });
}

#[test]
fn deleting_a_host_route_removes_only_ours() {
    netns();
    let (v0, _) = veth();
    let mut kernel = Kernel::open(false);
    for (dst, family) in [("2001:db8::100", "-6"), ("10.0.0.100", "-4")] {
        let ours = host_route(dst, 100, v0);
        assert_eq!(kernel.result_of(KernelOp::AddHostRoute(ours)), Ok(()));
        // Same destination and table: another protocol on our device, our protocol on
        // another device.
        ip(&format!(
            "{family} route add {dst} dev v0 table 100 proto static metric 5"
        ));
        ip(&format!(
            "{family} route add {dst} dev v1 table 100 proto 158 metric 7"
        ));
        assert_eq!(kernel.result_of(KernelOp::DelHostRoute(ours)), Ok(()));
        let left = ip(&format!("{family} route show table 100"));
        // (IPv4 shows "scope link" for these, IPv6 does not.)
        let line = |dev: &str, what: &str| {
            left.lines()
                .any(|l| l.starts_with(&format!("{dst} dev {dev} ")) && l.contains(what))
        };
        assert!(line("v0", "proto static"), "{left}");
        assert!(line("v0", "metric 5"), "{left}");
        assert!(line("v1", "proto 158"), "{left}");
        assert!(line("v1", "metric 7"), "{left}");
        assert_eq!(left.lines().count(), 2, "{left}");
        assert!(ip("route show table all type throw").is_empty());
        // Gone already: the answer the engine treats as "nothing to delete".
        let again = kernel.result_of(KernelOp::DelHostRoute(ours));
        assert!(again.is_err_and(Errno::is_absent), "{again:?}");
        kernel.wait("the deletion event", |i| {
            matches!(i, Input::Route(r) if r.deleted && r.dst == ours.dst && r.protocol == 158 && r.ifindex == Some(v0))
        });
    }
}

#[test]
fn a_demotion_replaces_the_route_in_place_and_its_deletion_matches_the_protocol() {
    netns();
    let (v0, _) = veth();
    let mut kernel = Kernel::open(false);
    for (dst, family) in [("2001:db8::100", "-6"), ("10.0.0.100", "-4")] {
        let ours = host_route(dst, 100, v0);
        assert_eq!(kernel.result_of(KernelOp::AddHostRoute(ours)), Ok(()));
        let before = ip(&format!("{family} route show table 100 {dst}"));
        let demote = KernelOp::DemoteHostRoute {
            route: ours,
            protocol: 159,
        };
        assert_eq!(kernel.result_of(demote), Ok(()));
        // One route, the same but for its protocol: babeld sees a metric change, not a
        // deletion.
        let after = ip(&format!("{family} route show table 100 {dst}"));
        assert_eq!(
            after,
            before.replace("proto 158", "proto 159"),
            "{before} -> {after}"
        );
        assert_eq!(after.lines().count(), 1, "{after}");
        kernel.wait("the demotion event", |i| {
            matches!(i, Input::Route(r) if !r.deleted && r.dst == ours.dst && r.protocol == 159)
        });
        // The plain deletion of the install no longer matches; the demoted one does.
        let plain = kernel.result_of(KernelOp::DelHostRoute(ours));
        assert!(plain.is_err_and(Errno::is_absent), "{plain:?}");
        let delete = KernelOp::DelDemotedRoute {
            route: ours,
            protocol: 159,
        };
        assert_eq!(kernel.result_of(delete), Ok(()));
        assert_eq!(ip(&format!("{family} route show table 100 {dst}")), "");
    }
}

#[test]
fn failed_operations_come_back_with_their_errno() {
    netns();
    let (v0, _) = veth();
    let mut kernel = Kernel::open(false);
    let missing = host_route("2001:db8::100", 254, 9999);
    assert_eq!(
        kernel.result_of(KernelOp::AddHostRoute(missing)),
        Err(Errno(libc::ENODEV))
    );
    let gone = KernelOp::DelNeighbour {
        ifindex: v0,
        addr: "2001:db8::5".parse().unwrap(),
    };
    assert_eq!(kernel.result_of(gone), Err(Errno::ENOENT));
    // No tun device known yet: refused without asking the kernel.
    let prefix = IpPrefix::parse("2001:db8::/64").unwrap().prefix;
    assert_eq!(
        kernel.result_of(KernelOp::AddPrefixRoute(prefix)),
        Err(Errno(libc::ENODEV))
    );
}

#[test]
fn node_client_ip_on_loopback() {
    netns();
    let mut kernel = Kernel::open(false);
    let ncip: Ipv6Addr = "fec0::211:22ff:fe33:4455".parse().unwrap();
    assert_eq!(kernel.result_of(KernelOp::AddNodeClientIp(ncip)), Ok(()));
    let shown = ip("-6 addr show dev lo");
    assert!(
        shown.contains("inet6 fec0::211:22ff:fe33:4455/128 scope site"),
        "{shown}"
    );
    kernel.wait("the address event", |i| {
        *i == Input::Address(AddressEvent {
            ifindex: 1,
            addr: IpAddr::V6(ncip),
            prefix_len: 128,
            deleted: false,
        })
    });
    // The kernel's own routes for it, as §2.3 says.
    wait_for_local_route("fec0::211:22ff:fe33:4455");
    // Exclusive create: a second add says EEXIST (which the engine takes as "adopted").
    assert_eq!(
        kernel.result_of(KernelOp::AddNodeClientIp(ncip)),
        Err(Errno::EEXIST)
    );
    assert_eq!(kernel.result_of(KernelOp::DelNodeClientIp(ncip)), Ok(()));
    assert!(!ip("-6 addr show dev lo").contains("fec0::"));
    kernel.wait(
        "the deletion event",
        |i| matches!(i, Input::Address(a) if a.deleted && a.addr == IpAddr::V6(ncip)),
    );
    let again = kernel.result_of(KernelOp::DelNodeClientIp(ncip));
    assert!(again.is_err(), "{again:?}");
}

#[test]
fn neighbours_are_added_reported_and_deleted() {
    netns();
    let (v0, _) = veth();
    let mut kernel = Kernel::open(true);
    let mac: MacAddr = "02:00:00:00:00:05".parse().unwrap();
    for addr in ["2001:db8::5", "10.0.0.5"] {
        let addr: IpAddr = addr.parse().unwrap();
        let add = KernelOp::AddNeighbour {
            ifindex: v0,
            addr,
            mac,
        };
        assert_eq!(kernel.result_of(add), Ok(()));
        kernel.wait("the neighbour event", |i| {
            *i == Input::Neighbour(Neighbour {
                ifindex: v0,
                addr,
                mac: Some(mac),
                state: NeighState::Reachable,
                deleted: false,
            })
        });
        let shown = ip(&format!("neigh show dev v0 to {addr}"));
        assert!(
            shown.contains("lladdr 02:00:00:00:00:05 REACHABLE"),
            "{shown}"
        );

        let del = KernelOp::DelNeighbour { ifindex: v0, addr };
        assert_eq!(kernel.result_of(del), Ok(()));
        assert_eq!(ip(&format!("neigh show dev v0 to {addr}")), "");
        kernel.wait(
            "the deletion event",
            |i| matches!(i, Input::Neighbour(n) if n.deleted && n.addr == addr && n.ifindex == v0),
        );
    }
}

/// Waits on `v1` for a solicitation the kernel sends through `v0`: an IPv6 Neighbour
/// Solicitation for `target` sent to `target` itself, or an ARP request for `target`, in a
/// frame addressed to `mac` (a unicast probe, not the multicast/broadcast resolution).
fn expect_unicast_solicitation(v1: u32, target: IpAddr, mac: MacAddr) {
    let sock = socket(
        AddressFamily::Packet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::EthAll,
    )
    .expect("packet socket");
    setsockopt(&sock, sockopt::ReceiveTimeout, &TimeVal::new(0, 200_000)).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let mut buf = [0u8; 2048];
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let Ok((len, Some(from))) = recvfrom::<LinkAddr>(sock.as_raw_fd(), &mut buf) else {
            continue;
        };
        if from.ifindex() != v1 as usize {
            continue;
        }
        let frame = &buf[..len];
        seen.push(frame.get(..16).map(<[u8]>::to_vec));
        let dst_mac = &frame[..6];
        let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
        let hit = match target {
            IpAddr::V6(t) => {
                ethertype == 0x86dd
                    && len >= 14 + 40 + 24
                    && frame[14 + 6] == 58
                    && frame[14 + 40] == 135
                    && frame[14 + 24..14 + 40] == t.octets()
                    && frame[14 + 48..14 + 64] == t.octets()
            }
            IpAddr::V4(t) => {
                ethertype == 0x0806
                    && len >= 14 + 28
                    && frame[14 + 7] == 1
                    && frame[14 + 24..14 + 28] == t.octets()
            }
        };
        if hit {
            assert_eq!(dst_mac, mac.0, "the probe goes to the entry's MAC");
            return;
        }
    }
    panic!("no unicast solicitation for {target} on v1; frames: {seen:?}");
}

#[test]
fn probing_a_neighbour_makes_the_kernel_solicit_it_by_unicast() {
    netns();
    no_dad();
    let (v0, v1) = veth();
    ip("addr add 10.0.0.1/24 dev v0");
    let mut kernel = Kernel::open(true);
    let mac: MacAddr = "02:00:00:00:00:07".parse().unwrap();
    for target in ["fe80::7", "10.0.0.7"] {
        let addr: IpAddr = target.parse().unwrap();
        let add = KernelOp::AddNeighbour {
            ifindex: v0,
            addr,
            mac,
        };
        assert_eq!(kernel.result_of(add), Ok(()));
        let probe = KernelOp::ProbeNeighbour {
            ifindex: v0,
            addr,
            mac,
        };
        assert_eq!(kernel.result_of(probe), Ok(()));
        expect_unicast_solicitation(v1, addr, mac);
        kernel.wait(
            "the PROBE state",
            |i| matches!(i, Input::Neighbour(n) if n.addr == addr && n.state == NeighState::Probe),
        );
    }
    // Probing an address without entry creates one and verifies it all the same.
    let addr: IpAddr = "fe80::8".parse().unwrap();
    let probe = KernelOp::ProbeNeighbour {
        ifindex: v0,
        addr,
        mac,
    };
    assert_eq!(kernel.result_of(probe), Ok(()));
    expect_unicast_solicitation(v1, addr, mac);
}

#[test]
fn a_failed_neighbour_is_reported_without_mac() {
    netns();
    no_dad();
    let (v0, _) = veth();
    // Give up fast: unanswered probes every 100 ms.
    std::fs::write("/proc/sys/net/ipv6/neigh/v0/retrans_time_ms", "100").unwrap();
    let mut kernel = Kernel::open(true);
    let addr: IpAddr = "fe80::9".parse().unwrap();
    let mac: MacAddr = "02:00:00:00:00:09".parse().unwrap();
    let probe = KernelOp::ProbeNeighbour {
        ifindex: v0,
        addr,
        mac,
    };
    assert_eq!(kernel.result_of(probe), Ok(()));
    let Input::Neighbour(failed) = kernel.wait(
        "FAILED",
        |i| matches!(i, Input::Neighbour(n) if n.addr == addr && n.state == NeighState::Failed),
    ) else {
        unreachable!()
    };
    assert_eq!(failed.mac, None, "{failed:?}");
}

#[test]
fn route_lookups() {
    netns();
    veth();
    let mut kernel = Kernel::open(false);
    // Nothing at all: the kernel says ENETUNREACH.
    assert_eq!(kernel.lookup("2001:db8::77"), LookupAnswer::NoRoute);
    ip("-6 route add 2001:db8::/64 dev v0");
    ip("-6 route add 2001:db8::77/128 dev v0 proto 42");
    ip("-6 route add 2001:db8::88/128 dev v0 metric 65535");
    ip("-6 route add unreachable 2001:db8::66/128");
    ip("-6 route add blackhole 2001:db8::65/128");
    ip("-6 addr add 2001:db8::55/128 dev lo");
    wait_for_local_route("2001:db8::55");
    assert_eq!(kernel.lookup("2001:db8::77"), LookupAnswer::Route);
    // Only the /64 covers it.
    assert_eq!(kernel.lookup("2001:db8::99"), LookupAnswer::NoRoute);
    // babeld's retracted routes have metric 0xffff.
    assert_eq!(kernel.lookup("2001:db8::88"), LookupAnswer::NoRoute);
    assert_eq!(kernel.lookup("2001:db8::66"), LookupAnswer::NoRoute);
    assert_eq!(kernel.lookup("2001:db8::65"), LookupAnswer::NoRoute);
    assert_eq!(kernel.lookup("2001:db8::55"), LookupAnswer::Local);
    // Policy routing applies: a /128 only in another table counts once a rule points there.
    ip("-6 route add 2001:db8::44/128 dev v0 table 100 proto 158");
    assert_eq!(kernel.lookup("2001:db8::44"), LookupAnswer::NoRoute);
    ip("-6 rule add to 2001:db8::44/128 lookup 100");
    assert_eq!(kernel.lookup("2001:db8::44"), LookupAnswer::Route);
}

#[test]
fn prefix_routes_go_into_the_tun_device_behind_the_nodes_own_on_link_routes() {
    netns();
    // A veth stands in for the tun device: routes do not care.
    let (v0, _) = veth();
    let mut kernel = Kernel::open(false);
    kernel.rtnl.set_tun_ifindex(v0);
    // The node's own on-link IPv4 route for the same prefix (kernel metric 0): the C daemon's
    // metric-0 create-and-replace overwrote it.
    ip("link add lan0 type veth peer name lan1");
    ip("link set lan1 up");
    ip("link set lan0 up");
    ip("-4 addr add 10.5.0.1/16 dev lan0");
    let v6 = IpPrefix::parse("2001:db8:5::/64").unwrap().prefix;
    let v4 = IpPrefix::parse("10.5.0.0/16").unwrap().prefix;
    for prefix in [v6, v4] {
        assert_eq!(kernel.result_of(KernelOp::AddPrefixRoute(prefix)), Ok(()));
    }
    let shown = ip("-6 route show table main proto 158");
    assert!(
        shown.contains("2001:db8:5::/64 dev v0 metric 1024"),
        "{shown}"
    );
    let shown = ip("-4 route show table main 10.5.0.0/16");
    assert!(
        shown.contains("10.5.0.0/16 dev v0 proto 158 metric 1024"),
        "{shown}"
    );
    assert!(
        shown.contains("10.5.0.0/16 dev lan0 proto kernel"),
        "{shown}"
    );
    let chosen = ip("-4 route get 10.5.0.9");
    assert!(
        chosen.contains("dev lan0"),
        "the on-link route wins: {chosen}"
    );
    // The kernel's own prefix route for the same destination stays when ours goes.
    ip("-6 route add 2001:db8:5::/64 dev v0 proto kernel metric 256");
    for prefix in [v6, v4] {
        assert_eq!(kernel.result_of(KernelOp::DelPrefixRoute(prefix)), Ok(()));
    }
    assert_eq!(ip("route show table all proto 158"), "");
    assert!(ip("-6 route show").contains("2001:db8:5::/64 dev v0 proto kernel metric 256"));
    assert!(ip("-4 route show").contains("10.5.0.0/16 dev lan0 proto kernel"));
}

#[test]
fn bridge_fdb_reports_learned_macs_only() {
    netns();
    no_dad();
    ip("link add br0 type bridge");
    ip("link add v0 type veth peer name v1");
    ip("link set v0 master br0");
    ip("link set br0 up");
    ip("link set v0 up");
    let mut kernel = Kernel::open(true);
    let (br0, v0) = (ifindex("br0"), ifindex("v0"));
    let own = [mac_of("br0"), mac_of("v0")];
    // v1 coming up sends MLD reports and a router solicitation through the bridge port.
    ip("link set v1 up");
    let _ = Command::new("ping")
        .args(["-6", "-c", "1", "-W", "1", "ff02::1%v1"])
        .output();
    let peer = mac_of("v1");
    kernel.wait("the learned MAC", |i| {
        *i == Input::Fdb {
            port: v0,
            mac: peer,
            deleted: false,
        }
    });
    kernel.submit(KernelOp::Dump);
    kernel.wait("DumpDone", |i| *i == Input::DumpDone);
    kernel.wait(
        "the learned MAC in the dump",
        |i| matches!(i, Input::Fdb { port, mac, .. } if *port == v0 && *mac == peer),
    );
    for input in &kernel.seen {
        if let Input::Fdb { mac, .. } = input {
            assert!(
                !own.contains(mac),
                "a permanent entry came through: {input:?}"
            );
            assert!(!mac.is_multicast(), "{input:?}");
        }
    }
    assert!(
        kernel
            .seen
            .iter()
            .any(|i| matches!(i, Input::Link(l) if l.ifindex == v0 && l.master == Some(br0))),
        "{:#?}",
        kernel.seen
    );
    // Leaving the bridge is not disappearing (the kernel says RTM_DELLINK, family AF_BRIDGE).
    kernel.seen.clear();
    ip("link set v0 nomaster");
    kernel.wait(
        "v0 without master",
        |i| matches!(i, Input::Link(l) if l.ifindex == v0 && l.master.is_none()),
    );
    kernel.settle(Duration::from_millis(200));
    assert!(
        !kernel.seen.contains(&Input::LinkGone { ifindex: v0 }),
        "{:#?}",
        kernel.seen
    );
    ip("link del v0");
    kernel.wait("LinkGone", |i| *i == Input::LinkGone { ifindex: v0 });
}

#[test]
fn an_event_overrun_leads_to_a_dump_batch() {
    netns();
    let (v0, _) = veth();
    let mut kernel = Kernel::open(false);
    // The smallest buffer the kernel allows holds a handful of notifications.
    kernel.rtnl.set_event_buffer(0).unwrap();
    let batch = std::env::temp_dir().join(format!("l3roamd-overrun-{}", std::process::id()));
    let commands: String = (0..2000)
        .map(|i| format!("route add 10.{}.{}.0/24 dev v0\n", i / 256, i % 256))
        .collect();
    std::fs::write(&batch, commands).unwrap();
    let out = Command::new("ip")
        .arg("-batch")
        .arg(&batch)
        .output()
        .expect("ip -batch");
    let _ = std::fs::remove_file(&batch);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    kernel.wait("DumpDone after the overrun", |i| *i == Input::DumpDone);
    assert!(
        kernel.rtnl.stats().overruns >= 1,
        "{:?}",
        kernel.rtnl.stats()
    );
    // The dump has every route, including those whose notifications were lost.
    let routes = kernel
        .seen
        .iter()
        .filter(|i| matches!(i, Input::Route(r) if r.ifindex == Some(v0) && r.prefix_len == 24 && !r.deleted))
        .count();
    assert!(routes >= 2000, "{routes} routes seen");
}

#[test]
fn every_operation_is_answered_once_even_beyond_the_queue_bound() {
    netns();
    let mut kernel = Kernel::open(false);
    let ops: Vec<KernelOp> = (0..=MAX_QUEUED as u32)
        .map(|i| {
            let dst = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            KernelOp::AddHostRoute(HostRoute {
                dst,
                table: 254,
                ifindex: 9999,
            })
        })
        .collect();
    for op in &ops {
        kernel.rtnl.submit(op.clone(), &mut kernel.seen);
    }
    // The queue was full for the last one.
    assert_eq!(
        kernel.seen,
        [Input::KernelResult {
            op: ops[MAX_QUEUED].clone(),
            result: Err(Errno(libc::ENOBUFS)),
        }]
    );
    kernel.seen.clear();
    kernel.rtnl.flush(&mut kernel.seen);
    let deadline = Instant::now() + TIMEOUT;
    while kernel.seen.len() < MAX_QUEUED && Instant::now() < deadline {
        kernel.step(Duration::from_millis(20));
    }
    kernel.settle(Duration::from_millis(100));
    assert_eq!(kernel.seen.len(), MAX_QUEUED);
    for (input, op) in kernel.seen.iter().zip(&ops) {
        assert_eq!(
            *input,
            Input::KernelResult {
                op: op.clone(),
                result: Err(Errno(libc::ENODEV)),
            }
        );
    }
    assert_eq!(kernel.rtnl.stats().rejected, 1);
}
