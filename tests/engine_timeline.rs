//! Engine timelines in virtual time: an input at t, the outputs expected at t, t + 300 ms,
//! ..., and the give-up. No sleeps; the clock is an argument.

use l3roamd::config::Config;
use l3roamd::engine::control::{Command, CommandError, ErrorReason, Verbosity};
use l3roamd::engine::*;
use l3roamd::prefix::IpPrefix;
use l3roamd::time::Instant;
use l3roamd::wire::MacAddr;
use l3roamd::wire::intercom::{self, Header, Info, Message, Repr};
use std::net::{IpAddr, Ipv6Addr};

const MESH_A: u32 = 2;
const MESH_B: u32 = 4;
const CLIENT_IF: u32 = 3;
const LOOPBACK: u32 = 1;
const NODE_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0xaa, 0xff]);
const CLIENT: MacAddr = MacAddr([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);

fn ms(t: u64) -> Instant {
    Instant::from_millis(t)
}

fn ip(text: &str) -> Ipv6Addr {
    text.parse().unwrap()
}

fn me() -> Ipv6Addr {
    ip("fd00:5523::a")
}

fn peer() -> Ipv6Addr {
    ip("fd00:5523::b")
}

fn ncip() -> Ipv6Addr {
    ip("fec0::11:22ff:fe33:4455")
}

/// The command line of the harness's node (`default_config()`, as a test below checks).
const HARNESS_ARGS: [&str; 12] = [
    "-a",
    "fd00:5523::a",
    "-p",
    "2001:db8:1::/64",
    "-p",
    "198.51.100.0/24",
    "-i",
    "local-node",
    "-m",
    "mesh0",
    "-m",
    "mesh1",
];

struct Harness {
    engine: Engine,
    next_conn: u64,
}

/// The node every harness runs unless told otherwise.
fn default_config() -> Config {
    let prefix = IpPrefix::parse("2001:db8:1::/64").unwrap().prefix;
    let mut cfg = Config::new(me(), vec![prefix]);
    cfg.client_if = Some("local-node".into());
    cfg.client_prefixes
        .push(IpPrefix::parse("198.51.100.0/24").unwrap().prefix);
    cfg.mesh_ifs = vec!["mesh0".into(), "mesh1".into()];
    cfg
}

impl Harness {
    fn new() -> Harness {
        let mut h = Harness::unsynced();
        // The kernel was read: learning starts (nothing is held back any more).
        h.input(0, Input::DumpDone);
        h
    }

    /// A node that has not finished its startup dump yet.
    fn unsynced() -> Harness {
        Harness::unsynced_with(default_config())
    }

    /// The harness's node started with `flags` added to [`HARNESS_ARGS`].
    fn with_flags(flags: &[&str]) -> Harness {
        let words: Vec<String> = HARNESS_ARGS
            .iter()
            .chain(flags)
            .map(|w| w.to_string())
            .collect();
        let cfg = match l3roamd::config::parse(&words) {
            Ok(l3roamd::config::Action::Run(cfg)) => cfg,
            other => panic!("{words:?}: {other:?}"),
        };
        let mut h = Harness::unsynced_with(cfg);
        h.input(0, Input::DumpDone);
        h
    }

    fn unsynced_with(cfg: Config) -> Harness {
        let mut engine = Engine::with_seed(cfg, 42, ms(0));
        for link in harness_links() {
            engine.handle_input(ms(0), link);
        }
        let mut h = Harness {
            engine,
            next_conn: 0,
        };
        h.drain();
        h
    }

    /// Nothing pending but the periodic kernel re-read (300 s ± 25 % after the first dump).
    fn assert_idle(&self) {
        let next = self.engine.poll_timeout();
        assert!(
            next.is_some_and(|t| t >= ms(225_000)),
            "expected no wake-up before the periodic reconciliation, got {next:?}"
        );
    }

    fn drain(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.engine.poll_output()).collect()
    }

    fn input(&mut self, t: u64, input: Input) -> Vec<Output> {
        self.engine.handle_input(ms(t), input);
        self.drain()
    }

    /// Runs every timer up to and including `t`, returning what came out, with times.
    fn run_until(&mut self, t: u64) -> Vec<(u64, Output)> {
        let mut outputs = Vec::new();
        while let Some(at) = self.engine.poll_timeout() {
            if at > ms(t) {
                break;
            }
            self.engine.handle_timeout(at);
            outputs.extend(self.drain().into_iter().map(|o| (at.as_millis(), o)));
        }
        outputs
    }

    fn reachable(&mut self, t: u64, addr: &str) -> Vec<Output> {
        let addr: IpAddr = addr.parse().unwrap();
        self.input(
            t,
            Input::Neighbour(Neighbour {
                ifindex: CLIENT_IF,
                addr,
                mac: Some(CLIENT),
                state: NeighState::Reachable,
                deleted: false,
            }),
        )
    }

    fn answer_lookup(&mut self, t: u64, answer: LookupAnswer) -> Vec<Output> {
        self.input(
            t,
            Input::RouteLookup {
                token: LookupToken::ClaimDecision(CLIENT),
                addr: ncip(),
                answer,
            },
        )
    }

    fn datagram(&mut self, t: u64, dst: Ipv6Addr, ifindex: u32, repr: &Repr) -> Vec<Output> {
        self.raw_datagram(t, dst, ifindex, repr.to_bytes())
    }

    fn raw_datagram(&mut self, t: u64, dst: Ipv6Addr, ifindex: u32, bytes: Vec<u8>) -> Vec<Output> {
        self.input(
            t,
            Input::Intercom(Datagram {
                src: peer(),
                dst,
                ifindex,
                bytes,
            }),
        )
    }

    /// Runs one control command and returns the reply it got.
    fn ask(&mut self, t: u64, command: Command) -> String {
        self.next_conn += 1;
        let conn = self.next_conn;
        let out = self.input(t, Input::Control { conn, command });
        match out
            .into_iter()
            .find(|o| matches!(o, Output::ControlReply { conn: c, .. } if *c == conn))
        {
            Some(Output::ControlReply { bytes, .. }) => String::from_utf8(bytes).unwrap(),
            other => panic!("no reply: {other:?}"),
        }
    }

    /// `ask` with a command line, parsed as the control socket parses it.
    fn say(&mut self, line: &str) -> String {
        let command = l3roamd::engine::control::parse_command(line.as_bytes()).unwrap();
        self.ask(0, command)
    }

    /// A client served here: learned, no route elsewhere, node-client IP assigned.
    fn with_served_client(addrs: &[&str]) -> Harness {
        let mut h = Harness::new();
        for addr in addrs {
            h.reachable(0, addr);
        }
        h.answer_lookup(1, LookupAnswer::NoRoute);
        h
    }
}

/// Learns `mac` with one address and answers its claim decision with `answer`.
fn learn(h: &mut Harness, mac: MacAddr, addr: &str, answer: LookupAnswer) -> Vec<Output> {
    h.input(
        0,
        Input::Neighbour(Neighbour {
            ifindex: CLIENT_IF,
            addr: addr.parse().unwrap(),
            mac: Some(mac),
            state: NeighState::Reachable,
            deleted: false,
        }),
    );
    h.input(
        0,
        Input::RouteLookup {
            token: LookupToken::ClaimDecision(mac),
            addr: mac.node_client_ip(&ip("fec0::")),
            answer,
        },
    )
}

fn intercoms(outputs: &[Output]) -> Vec<(Destination, Repr)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Intercom { dst, bytes } => Some((*dst, Repr::parse(bytes).unwrap())),
            _ => None,
        })
        .collect()
}

/// When intercom multicast went out on `ifindex`, one entry per datagram.
fn multicast_times(outputs: &[(u64, Output)], ifindex: u32) -> Vec<u64> {
    outputs
        .iter()
        .filter(|(_, o)| {
            matches!(o, Output::Intercom { dst: Destination::Multicast { ifindex: i }, .. } if *i == ifindex)
        })
        .map(|(t, _)| *t)
        .collect()
}

/// The harness node's links, as the kernel reports them (also in every re-read).
fn harness_links() -> Vec<Input> {
    [
        (LOOPBACK, "lo", None),
        (MESH_A, "mesh0", None),
        (MESH_B, "mesh1", None),
        (CLIENT_IF, "local-node", Some(NODE_MAC)),
    ]
    .into_iter()
    .map(|(ifindex, name, mac)| {
        Input::Link(Link {
            ifindex,
            name: name.into(),
            up: true,
            mac,
            master: None,
        })
    })
    .collect()
}

fn kernel_ops(outputs: &[Output]) -> Vec<KernelOp> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Kernel(op) => Some(op.clone()),
            _ => None,
        })
        .collect()
}

fn claim_from_peer(mac: MacAddr, nonce: [u8; 4]) -> Repr {
    Repr {
        header: Header {
            ttl: 1,
            nonce,
            sender: peer(),
        },
        message: Message::Claim { mac },
    }
}

fn ack_from_peer(nonce: [u8; 4]) -> Repr {
    Repr {
        header: Header {
            ttl: 1,
            nonce,
            sender: peer(),
        },
        message: Message::Ack { mac: CLIENT },
    }
}

fn info_from_peer(addrs: &[&str], nonce: [u8; 4]) -> Repr {
    Repr {
        header: Header {
            ttl: 1,
            nonce,
            sender: peer(),
        },
        message: Message::Info(Info {
            mac: CLIENT,
            lease: 0,
            plat: Ipv6Addr::UNSPECIFIED,
            addresses: addrs.iter().map(|a| ip(a)).collect(),
        }),
    }
}

fn route(addr: &str) -> HostRoute {
    HostRoute {
        dst: addr.parse().unwrap(),
        table: 254,
        ifindex: CLIENT_IF,
    }
}

/// The first step of releasing `addr`'s host route under the default release protocol.
fn demote(addr: &str) -> KernelOp {
    KernelOp::DemoteHostRoute {
        route: route(addr),
        protocol: 159,
    }
}

/// The second step, one hold later.
fn delete_demoted(addr: &str) -> KernelOp {
    KernelOp::DelDemotedRoute {
        route: route(addr),
        protocol: 159,
    }
}

/// When each of the given kernel operations came out.
fn times_of(outputs: &[(u64, Output)], op: &KernelOp) -> Vec<u64> {
    outputs
        .iter()
        .filter(|(_, o)| matches!(o, Output::Kernel(k) if k == op))
        .map(|(t, _)| *t)
        .collect()
}

#[test]
fn new_client_takes_the_fast_path_without_intercom() {
    let mut h = Harness::new();
    let out = h.reachable(0, "2001:db8:1::55");
    let ops = kernel_ops(&out);
    assert!(ops.contains(&KernelOp::AddHostRoute(route("2001:db8:1::55"))));
    // The kernel has just reported the entry: writing it again would only repeat it, and,
    // late after lost notifications, overwrite what the kernel learned since.
    assert!(
        !ops.iter()
            .any(|op| matches!(op, KernelOp::AddNeighbour { .. })),
        "{ops:?}"
    );
    assert!(ops.contains(&KernelOp::LookupRoute {
        token: LookupToken::ClaimDecision(CLIENT),
        addr: ncip()
    }));
    let out = h.answer_lookup(2, LookupAnswer::NoRoute);
    assert_eq!(kernel_ops(&out), vec![KernelOp::AddNodeClientIp(ncip())]);
    assert!(intercoms(&out).is_empty());
    assert!(h.engine.holds_node_client_ip(&CLIENT));
}

#[test]
fn outside_the_client_prefixes_nothing_is_learned() {
    let mut h = Harness::new();
    let out = h.reachable(0, "2001:db8:99::1");
    assert!(
        kernel_ops(&out)
            .iter()
            .all(|op| !matches!(op, KernelOp::AddHostRoute(_)))
    );
}

#[test]
fn claim_is_sent_every_300_ms_sixteen_times_then_the_node_takes_the_client() {
    let mut h = Harness::new();
    h.reachable(0, "2001:db8:1::55");
    let out = h.answer_lookup(0, LookupAnswer::Route);
    let first = intercoms(&out);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].0, Destination::Unicast(ncip()));
    assert_eq!(first[0].1.header.ttl, 1);
    assert_eq!(first[0].1.message, Message::Claim { mac: CLIENT });

    let later = h.run_until(10_000);
    let claims: Vec<(u64, Repr)> = later
        .iter()
        .filter_map(|(t, o)| match o {
            Output::Intercom { bytes, .. } => Some((*t, Repr::parse(bytes).unwrap())),
            _ => None,
        })
        .collect();
    let times: Vec<u64> = claims.iter().map(|(t, _)| *t).collect();
    assert_eq!(
        times,
        (1..16).map(|i| i * 300).collect::<Vec<_>>(),
        "15 retries after the first"
    );
    assert!(
        claims.iter().all(|(_, r)| *r == first[0].1),
        "retries are byte-identical"
    );
    let assigned: Vec<u64> = later
        .iter()
        .filter(|(_, o)| *o == Output::Kernel(KernelOp::AddNodeClientIp(ncip())))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(
        assigned,
        vec![4800],
        "gives up one interval after the 16th CLAIM"
    );
}

#[test]
fn info_ends_the_claim_and_every_address_in_it_becomes_active() {
    let mut h = Harness::new();
    h.reachable(0, "2001:db8:1::55");
    h.answer_lookup(0, LookupAnswer::Route);
    h.run_until(600);
    let info = info_from_peer(
        &[
            "2001:db8:1::55",
            "fe80::11:22ff:fe33:4455",
            "::ffff:198.51.100.55",
            "2001:db8:99::1",
        ],
        [1, 2, 3, 4],
    );
    let out = h.datagram(700, me(), MESH_A, &info);
    let sent = intercoms(&out);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, Destination::Unicast(peer()));
    assert_eq!(sent[0].1.message, Message::Ack { mac: CLIENT });
    let ops = kernel_ops(&out);
    // The C daemon took over only the address it already knew; all of them count here,
    // except the one outside every client prefix.
    for addr in ["fe80::11:22ff:fe33:4455", "198.51.100.55"] {
        assert!(
            ops.contains(&KernelOp::AddHostRoute(route(addr))),
            "{addr}: {ops:?}"
        );
    }
    assert!(!ops.iter().any(|op| matches!(op, KernelOp::AddHostRoute(r) if r.dst == "2001:db8:99::1".parse::<IpAddr>().unwrap())));
    assert!(ops.contains(&KernelOp::AddNodeClientIp(ncip())));
    assert!(
        intercoms(
            &h.run_until(10_000)
                .into_iter()
                .map(|(_, o)| o)
                .collect::<Vec<_>>()
        )
        .is_empty(),
        "no CLAIM after the INFO"
    );
}

#[test]
fn unsolicited_info_is_acked_but_its_content_ignored() {
    let mut h = Harness::with_served_client(&["2001:db8:1::55"]);
    let out = h.datagram(
        100,
        me(),
        MESH_A,
        &info_from_peer(&["2001:db8:1::66"], [9, 9, 9, 9]),
    );
    assert_eq!(intercoms(&out).len(), 1, "ACK so the peer stops retrying");
    assert!(kernel_ops(&out).is_empty());
    assert_eq!(h.engine.stats().infos_ignored, 1);
}

#[test]
fn a_retransmitted_info_gets_the_identical_ack_again_and_is_not_reprocessed() {
    let mut h = Harness::new();
    h.reachable(0, "2001:db8:1::55");
    h.answer_lookup(0, LookupAnswer::Route);
    let info = info_from_peer(&["2001:db8:1::55"], [5, 5, 5, 5]);
    let first = h.datagram(100, me(), MESH_A, &info);
    let again = h.datagram(600, me(), MESH_A, &info);
    let (a, b) = (intercoms(&first), intercoms(&again));
    assert_eq!(a.len(), 1);
    assert_eq!(a, b, "byte-identical ACK, same nonce");
    assert!(kernel_ops(&again).is_empty());
}

#[test]
fn a_claim_for_a_served_client_hands_it_over_with_info_every_500_ms_until_acked() {
    let mut h = Harness::with_served_client(&["2001:db8:1::55", "fe80::11:22ff:fe33:4455"]);
    let out = h.datagram(
        1000,
        ncip(),
        MESH_A,
        &claim_from_peer(CLIENT, [0, 0, 0x55, 0xb6]),
    );
    let sent = intercoms(&out);
    assert_eq!(sent.len(), 1);
    let Message::Info(info) = &sent[0].1.message else {
        panic!("expected INFO")
    };
    assert_eq!(sent[0].0, Destination::Unicast(peer()));
    assert_eq!(
        info.addresses,
        vec![ip("2001:db8:1::55"), ip("fe80::11:22ff:fe33:4455")]
    );
    let ops = kernel_ops(&out);
    assert!(ops.contains(&demote("2001:db8:1::55")));
    assert!(ops.contains(&demote("fe80::11:22ff:fe33:4455")));
    assert!(ops.contains(&KernelOp::DelNodeClientIp(ncip())));
    assert!(h.engine.client_macs().is_empty());

    let retries = h.run_until(2200);
    let times: Vec<u64> = retries
        .iter()
        .filter(|(_, o)| matches!(o, Output::Intercom { .. }))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(times, vec![1500, 2000]);
    assert_eq!(
        times_of(&retries, &delete_demoted("2001:db8:1::55")),
        vec![2000]
    );
    let ack = ack_from_peer([7; 4]);
    h.datagram(2300, me(), MESH_A, &ack);
    let after_ack = h.run_until(20_000);
    assert!(
        !after_ack
            .iter()
            .any(|(_, o)| matches!(o, Output::Intercom { .. })),
        "no INFO after the ACK: {after_ack:?}"
    );
    assert!(!h.engine.info_in_progress(&CLIENT));
}

#[test]
fn info_without_ack_stops_after_sixteen_transmissions() {
    let mut h = Harness::with_served_client(&["2001:db8:1::55"]);
    h.datagram(1000, ncip(), MESH_A, &claim_from_peer(CLIENT, [1; 4]));
    let times: Vec<u64> = h
        .run_until(60_000)
        .iter()
        .filter(|(_, o)| matches!(o, Output::Intercom { .. }))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(times, (1..16).map(|i| 1000 + i * 500).collect::<Vec<_>>());
}

#[test]
fn an_ack_from_another_node_does_not_stop_the_info() {
    let mut h = Harness::with_served_client(&["2001:db8:1::55"]);
    h.datagram(0, ncip(), MESH_A, &claim_from_peer(CLIENT, [1; 4]));
    let forged = Repr {
        header: Header {
            ttl: 1,
            nonce: [2; 4],
            sender: ip("fd00::666"),
        },
        message: Message::Ack { mac: CLIENT },
    };
    h.datagram(100, me(), MESH_A, &forged);
    assert!(h.engine.info_in_progress(&CLIENT));
}

#[test]
fn old_clients_answer_late_claims_for_300_seconds() {
    let mut h = Harness::with_served_client(&["2001:db8:1::55"]);
    h.datagram(1000, ncip(), MESH_A, &claim_from_peer(CLIENT, [1; 4]));
    h.datagram(1100, me(), MESH_A, &ack_from_peer([2; 4]));
    assert!(h.engine.has_old_client(&CLIENT));
    // A later CLAIM (another cycle, another nonce) reaches the node IP.
    let out = h.datagram(299_000, me(), MESH_A, &claim_from_peer(CLIENT, [3; 4]));
    let Some((
        _,
        Repr {
            message: Message::Info(info),
            ..
        },
    )) = intercoms(&out).into_iter().next()
    else {
        panic!("no INFO")
    };
    assert_eq!(info.addresses, vec![ip("2001:db8:1::55")]);
    h.run_until(300_999);
    assert!(h.engine.has_old_client(&CLIENT));
    h.run_until(301_000);
    assert!(!h.engine.has_old_client(&CLIENT));
}

#[test]
fn seek_solicits_locally_and_is_flooded_on_every_mesh_interface_with_ttl_minus_one() {
    let mut h = Harness::new();
    let seek = Repr {
        header: Header {
            ttl: 255,
            nonce: [4; 4],
            sender: peer(),
        },
        message: Message::Seek {
            addresses: vec![ip("2001:db8:1::99")],
        },
    };
    let out = h.datagram(0, intercom::GROUP, MESH_A, &seek);
    let solicits: Vec<_> = out
        .iter()
        .filter(|o| matches!(o, Output::Solicit(_)))
        .collect();
    assert_eq!(
        solicits,
        vec![&Output::Solicit(Solicitation::Neighbour {
            ifindex: CLIENT_IF,
            target: ip("2001:db8:1::99"),
            dst: ip("ff02::1:ff00:99"),
            source_mac: Some(NODE_MAC)
        })]
    );
    let sent = intercoms(&out);
    assert_eq!(
        sent.iter().map(|(d, _)| *d).collect::<Vec<_>>(),
        vec![
            Destination::Multicast { ifindex: MESH_A },
            Destination::Multicast { ifindex: MESH_B },
        ],
        "including the arrival interface"
    );
    for (_, r) in &sent {
        assert_eq!(r.header.ttl, 254);
        assert_eq!(r.header.sender, peer());
        assert_eq!(r.header.nonce, [4; 4]);
    }
    // The same SEEK again (looped back by a neighbour with a lower ttl): a duplicate.
    let mut looped = seek.clone();
    looped.header.ttl = 253;
    assert!(h.datagram(10, intercom::GROUP, MESH_B, &looped).is_empty());
}

#[test]
fn seeks_with_ttl_one_unicast_seeks_and_foreign_interfaces_are_not_flooded() {
    let mut h = Harness::new();
    let mk = |ttl, nonce| Repr {
        header: Header {
            ttl,
            nonce,
            sender: peer(),
        },
        message: Message::Seek {
            addresses: vec![ip("2001:db8:1::99")],
        },
    };
    assert!(intercoms(&h.datagram(0, intercom::GROUP, MESH_A, &mk(1, [1; 4]))).is_empty());
    assert!(intercoms(&h.datagram(0, me(), MESH_A, &mk(200, [2; 4]))).is_empty());
    assert!(
        h.datagram(0, intercom::GROUP, 77, &mk(200, [3; 4]))
            .is_empty(),
        "not a mesh interface"
    );
}

#[test]
fn malformed_and_own_packets_are_dropped_and_counted_never_forwarded() {
    let mut h = Harness::new();
    let mut zero_len_tlv = claim_from_peer(CLIENT, [1; 4]).to_bytes();
    zero_len_tlv[25] = 0;
    let mut unknown_type = Repr {
        header: Header {
            ttl: 255,
            nonce: [2; 4],
            sender: peer(),
        },
        message: Message::Seek {
            addresses: vec![ip("2001:db8:1::1")],
        },
    }
    .to_bytes();
    unknown_type[2] = 9;
    for bytes in [zero_len_tlv, unknown_type, vec![0; 10], vec![1; 44]] {
        assert!(h.raw_datagram(0, intercom::GROUP, MESH_A, bytes).is_empty());
    }
    assert_eq!(h.engine.stats().intercom_malformed.total(), 4);
    let own = Repr {
        header: Header {
            ttl: 255,
            nonce: [3; 4],
            sender: me(),
        },
        message: Message::Seek {
            addresses: vec![ip("2001:db8:1::1")],
        },
    };
    assert!(h.datagram(0, intercom::GROUP, MESH_A, &own).is_empty());
    assert_eq!(h.engine.stats().intercom_own, 1);
}

#[test]
fn a_c_peers_constant_nonce_does_not_hide_its_second_claim() {
    let mut h = Harness::new();
    let other = MacAddr([0x02, 0x11, 0x22, 0x33, 0x44, 0x66]);
    learn(&mut h, CLIENT, "2001:db8:1::55", LookupAnswer::NoRoute);
    learn(&mut h, other, "2001:db8:1::56", LookupAnswer::NoRoute);
    // Both CLAIMs carry the C daemon's stuck nonce 00 00 55 b6.
    for mac in [CLIENT, other] {
        let out = h.datagram(
            10,
            mac.node_client_ip(&ip("fec0::")),
            MESH_A,
            &claim_from_peer(mac, [0, 0, 0x55, 0xb6]),
        );
        assert_eq!(intercoms(&out).len(), 1, "INFO for {mac}");
    }
}

#[test]
fn nonces_differ_between_claim_cycles() {
    // (Within one cycle every copy is byte-identical: see the CLAIM retry timeline.)
    let mut h = Harness::new();
    let other = MacAddr([0x02, 0x11, 0x22, 0x33, 0x44, 0x66]);
    let first = learn(&mut h, CLIENT, "2001:db8:1::55", LookupAnswer::Route);
    let second = learn(&mut h, other, "2001:db8:1::56", LookupAnswer::Route);
    assert_ne!(
        intercoms(&first)[0].1.header.nonce,
        intercoms(&second)[0].1.header.nonce
    );
}

#[test]
fn probe_or_failed_triggers_five_solicitations_and_removal_after_120_s() {
    let mut h = Harness::with_served_client(&["2001:db8:1::55"]);
    let out = h.input(
        1000,
        Input::Neighbour(Neighbour {
            ifindex: CLIENT_IF,
            addr: "2001:db8:1::55".parse().unwrap(),
            mac: None,
            state: NeighState::Failed,
            deleted: false,
        }),
    );
    assert_eq!(
        out.iter()
            .filter(|o| matches!(o, Output::Solicit(_)))
            .count(),
        1
    );
    let later = h.run_until(121_000);
    let solicits: Vec<u64> = later
        .iter()
        .filter(|(_, o)| matches!(o, Output::Solicit(_)))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(solicits, vec![1300, 1600, 1900, 2200]);
    assert_eq!(times_of(&later, &demote("2001:db8:1::55")), vec![121_000]);
    assert!(
        h.engine.client_macs().is_empty(),
        "last address gone: client deleted"
    );
    assert!(
        later
            .iter()
            .any(|(_, o)| *o == Output::Kernel(KernelOp::DelNodeClientIp(ncip())))
    );
}

#[test]
fn a_confirmation_cancels_the_pending_removal() {
    let mut h = Harness::with_served_client(&["2001:db8:1::55"]);
    h.input(
        1000,
        Input::Neighbour(Neighbour {
            ifindex: CLIENT_IF,
            addr: "2001:db8:1::55".parse().unwrap(),
            mac: Some(CLIENT),
            state: NeighState::Probe,
            deleted: false,
        }),
    );
    h.reachable(5000, "2001:db8:1::55");
    let later = h.run_until(200_000);
    assert!(
        !later
            .iter()
            .any(|(_, o)| matches!(o, Output::Kernel(KernelOp::DelHostRoute(_))))
    );
    assert_eq!(h.engine.client_macs(), vec![CLIENT]);
}

#[test]
fn delneigh_asks_the_kernel_to_probe_every_address_and_removes_after_120_s() {
    let mut h = Harness::with_served_client(&["2001:db8:1::55", "198.51.100.55"]);
    let out = h.input(
        1000,
        Input::Neighbour(Neighbour {
            ifindex: CLIENT_IF,
            addr: "2001:db8:1::55".parse().unwrap(),
            mac: None,
            state: NeighState::Failed,
            deleted: true,
        }),
    );
    let probes: Vec<KernelOp> = kernel_ops(&out)
        .into_iter()
        .filter(|op| matches!(op, KernelOp::ProbeNeighbour { .. }))
        .collect();
    assert_eq!(probes.len(), 2);
    let later = h.run_until(122_000);
    assert_eq!(times_of(&later, &demote("2001:db8:1::55")), vec![121_000]);
    assert_eq!(
        times_of(&later, &delete_demoted("2001:db8:1::55")),
        vec![122_000]
    );
    assert_eq!(
        h.engine.client_addresses(&CLIENT).len(),
        1,
        "the other address stays"
    );
}

#[test]
fn a_silent_client_is_probed_after_the_liveness_interval_and_purged_without_answer() {
    let mut h = Harness::with_served_client(&["2001:db8:1::55", "198.51.100.55"]);
    let later = h.run_until(900_000);
    let verify: Vec<&Output> = later
        .iter()
        .filter(|(t, _)| *t == 900_000)
        .map(|(_, o)| o)
        .collect();
    assert!(
        verify.contains(&&Output::Solicit(Solicitation::Neighbour {
            ifindex: CLIENT_IF,
            target: ip("2001:db8:1::55"),
            dst: ip("2001:db8:1::55"),
            source_mac: Some(NODE_MAC)
        })),
        "{verify:?}"
    );
    assert!(verify.contains(&&Output::Solicit(Solicitation::Arp {
        ifindex: CLIENT_IF,
        target: "198.51.100.55".parse().unwrap(),
        sender_mac: NODE_MAC,
        dst_mac: Some(CLIENT)
    })));
    let later = h.run_until(905_000);
    assert!(
        later
            .iter()
            .any(|(t, o)| *t == 905_000 && *o == Output::Kernel(KernelOp::DelNodeClientIp(ncip())))
    );
    assert!(h.engine.client_macs().is_empty());
    assert_eq!(h.engine.stats().liveness_purges, 1);
}

#[test]
fn a_client_that_answers_the_liveness_probe_stays() {
    let mut h = Harness::with_served_client(&["2001:db8:1::55"]);
    h.run_until(900_000);
    h.input(
        900_010,
        Input::Snooped(Snooped::Advert {
            ifindex: CLIENT_IF,
            target: ip("2001:db8:1::55"),
            mac: CLIENT,
        }),
    );
    h.run_until(1_000_000);
    assert_eq!(h.engine.client_macs(), vec![CLIENT]);
    assert_eq!(
        h.engine.poll_timeout(),
        Some(ms(900_010 + 900_000)),
        "next probe one interval after the answer"
    );
}

#[test]
fn a_client_without_address_or_association_expires_after_300_s() {
    let mut h = Harness::new();
    h.input(
        0,
        Input::Station {
            ifindex: CLIENT_IF,
            mac: CLIENT,
            associated: true,
        },
    );
    h.input(
        10,
        Input::Station {
            ifindex: CLIENT_IF,
            mac: CLIENT,
            associated: false,
        },
    );
    assert!(
        h.engine.client_macs().is_empty(),
        "DEL_STATION deletes at once"
    );
    let mut h = Harness::new();
    h.input(
        0,
        Input::Snooped(Snooped::Solicit {
            ifindex: CLIENT_IF,
            src: ip("2001:db8:99::1"),
            src_mac: CLIENT,
            target: ip("fe80::1"),
        }),
    );
    assert_eq!(
        h.engine.client_macs(),
        vec![CLIENT],
        "known MAC, address outside the prefixes"
    );
    h.answer_lookup(1, LookupAnswer::NoRoute);
    h.run_until(299_999);
    assert_eq!(h.engine.client_macs(), vec![CLIENT]);
    h.run_until(300_000);
    assert!(h.engine.client_macs().is_empty());
}

#[test]
fn station_events_from_mesh_interfaces_are_ignored() {
    let mut h = Harness::new();
    h.input(
        0,
        Input::Station {
            ifindex: MESH_A,
            mac: CLIENT,
            associated: true,
        },
    );
    assert!(h.engine.client_macs().is_empty());
}

#[test]
fn dad_probe_solicits_every_300_ms_until_the_address_is_known() {
    let mut h = Harness::new();
    let out = h.input(
        0,
        Input::Snooped(Snooped::Solicit {
            ifindex: CLIENT_IF,
            src: Ipv6Addr::UNSPECIFIED,
            src_mac: CLIENT,
            target: ip("2001:db8:1::77"),
        }),
    );
    assert_eq!(
        out.iter()
            .filter(|o| matches!(o, Output::Solicit(_)))
            .count(),
        1
    );
    let first = h.run_until(700);
    assert_eq!(
        first
            .iter()
            .filter(|(_, o)| matches!(o, Output::Solicit(_)))
            .map(|(t, _)| *t)
            .collect::<Vec<_>>(),
        vec![300, 600]
    );
    h.input(
        800,
        Input::Snooped(Snooped::Advert {
            ifindex: CLIENT_IF,
            target: ip("2001:db8:1::77"),
            mac: CLIENT,
        }),
    );
    let rest = h.run_until(10_000);
    assert!(!rest.iter().any(|(_, o)| matches!(o, Output::Solicit(Solicitation::Neighbour { target, .. }) if *target == ip("2001:db8:1::77"))));
}

#[test]
fn dad_probe_gives_up_after_sixteen() {
    let mut h = Harness::new();
    h.input(
        0,
        Input::Snooped(Snooped::Solicit {
            ifindex: CLIENT_IF,
            src: Ipv6Addr::UNSPECIFIED,
            src_mac: CLIENT,
            target: ip("2001:db8:1::77"),
        }),
    );
    assert_eq!(h.run_until(60_000).len(), 15);
    h.assert_idle();
}

#[test]
fn info_carries_at_most_15_addresses_and_accepts_more_on_receipt() {
    let addrs: Vec<String> = (0..20)
        .map(|i| format!("2001:db8:1::{:x}", 0x100 + i))
        .collect();
    let refs: Vec<&str> = addrs.iter().map(String::as_str).collect();
    let mut h = Harness::with_served_client(&refs);
    let out = h.datagram(10, ncip(), MESH_A, &claim_from_peer(CLIENT, [1; 4]));
    let Message::Info(info) = &intercoms(&out)[0].1.message else {
        panic!()
    };
    assert_eq!(info.addresses.len(), 15);
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Intercom { bytes, .. } if bytes.len() == 52 + 16 * 15))
    );

    let mut h = Harness::new();
    h.reachable(0, "2001:db8:1::100");
    h.answer_lookup(0, LookupAnswer::Route);
    let out = h.datagram(10, me(), MESH_A, &info_from_peer(&refs, [2; 4]));
    assert_eq!(
        kernel_ops(&out)
            .iter()
            .filter(|op| matches!(op, KernelOp::AddHostRoute(_)))
            .count(),
        19
    );
    assert_eq!(h.engine.client_addresses(&CLIENT).len(), 20);
}

#[test]
fn unknown_destinations_wait_seek_after_300_ms_and_are_reinjected_in_order() {
    let mut h = Harness::new();
    let packet = |n: u8| {
        let mut p = vec![0u8; 40];
        p[0] = 0x60;
        p[24..40].copy_from_slice(&ip("2001:db8:1::99").octets());
        p.push(n);
        p
    };
    let out = h.input(0, Input::TunPacket(packet(1)));
    assert!(matches!(
        out.as_slice(),
        [Output::Solicit(Solicitation::Neighbour { .. })]
    ));
    h.input(100, Input::TunPacket(packet(2)));
    let seeks = h.run_until(3400);
    assert_eq!(multicast_times(&seeks, MESH_A), vec![300, 3300]);
    let local: Vec<u64> = seeks
        .iter()
        .filter(|(_, o)| matches!(o, Output::Solicit(_)))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(local, vec![3000]);
    let out = h.input(4000, babel_route("2001:db8:1::99", 1024));
    assert_eq!(
        out,
        vec![Output::Reinject(packet(1)), Output::Reinject(packet(2))]
    );
}

#[test]
fn unknown_destinations_expire_after_5_s_and_infinite_metric_routes_do_not_count() {
    let mut h = Harness::new();
    let mut p = vec![0u8; 40];
    p[0] = 0x60;
    p[24..40].copy_from_slice(&ip("2001:db8:1::99").octets());
    h.input(0, Input::TunPacket(p));
    let out = h.input(1000, babel_route("2001:db8:1::99", 0xffff));
    assert!(out.is_empty());
    h.run_until(5000);
    assert_eq!(h.engine.stats().tun_expired, 1);
    h.assert_idle();
}

/// A whole IPv6 UDP packet from `src` to `dst`, as the kernel hands it to the tun.
fn udp6(src: &str, dst: &str, payload_len: usize) -> Vec<u8> {
    let mut packet = l3roamd::wire::ipv6::Repr {
        traffic_class: 0,
        flow_label: 0,
        payload_len: u16::try_from(8 + payload_len).unwrap(),
        next_header: 17,
        hop_limit: 63,
        src: ip(src),
        dst: ip(dst),
    }
    .to_bytes();
    packet.resize(packet.len() + 8 + payload_len, 0xab);
    packet
}

fn udp4(src: &str, dst: &str) -> Vec<u8> {
    let mut packet = l3roamd::wire::ipv4::Repr {
        dscp_ecn: 0,
        total_len: 28,
        ident: 1,
        flags_fragment: 0,
        ttl: 63,
        protocol: 17,
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        options: Vec::new(),
    }
    .to_bytes();
    packet.resize(28, 0xab);
    packet
}

fn icmp_errors(outputs: &[(u64, Output)]) -> Vec<(u64, IpAddr, Vec<u8>)> {
    outputs
        .iter()
        .filter_map(|(t, o)| match o {
            Output::IcmpError { dst, message } => Some((*t, *dst, message.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn expired_packets_get_one_unreachable_per_source_and_second() {
    let mut h = Harness::new();
    let first = udp6("2001:db8:2::2", "2001:db8:1::99", 1400);
    h.input(0, Input::TunPacket(first.clone()));
    h.input(
        100,
        Input::TunPacket(udp6("2001:db8:2::2", "2001:db8:1::98", 10)),
    );
    h.input(400, Input::TunPacket(udp4("192.0.2.7", "198.51.100.99")));
    let errors = icmp_errors(&h.run_until(4999));
    assert!(errors.is_empty(), "nothing before 5 s: {errors:?}");
    let errors = icmp_errors(&h.run_until(6000));
    let v6 = IpAddr::V6(ip("2001:db8:2::2"));
    let v4: IpAddr = "192.0.2.7".parse().unwrap();
    assert_eq!(
        errors
            .iter()
            .map(|(t, dst, _)| (*t, *dst))
            .collect::<Vec<_>>(),
        vec![(5000, v6), (5400, v4)],
        "the packet to ::98 expired within a second of the one to ::99, from the same source"
    );
    let (_, _, message) = &errors[0];
    assert_eq!(&message[..2], &[1, 0], "no route to destination");
    assert_eq!(&message[8..], &first[..1232]);
    assert_eq!(&errors[1].2[..2], &[3, 1], "host unreachable");
    let stats = h.engine.stats();
    assert_eq!(
        (
            stats.tun_expired,
            stats.icmp_errors_out,
            stats.limit_icmp_errors
        ),
        (3, 2, 1)
    );
    h.assert_idle();
    let reply = h.say("get_stats");
    assert!(
        reply.contains(
            r#""unknown_destinations": { "dropped": 0, "expired": 3, "reinjected": 0, "icmp_errors": 2 }"#
        ),
        "{reply}"
    );
    assert!(
        reply.contains(r#""icmp_errors": 1, "#),
        "the limit: {reply}"
    );
    assert!(
        reply.contains(r#""intercom_out": { "seek": 6, "#),
        "{reply}"
    );
    assert_json_object_of_numbers(&reply);
}

/// `{ "group": { "name": number, ... }, ... }` and nothing else: what `get_stats` promises.
fn assert_json_object_of_numbers(reply: &str) {
    let inner = reply
        .strip_prefix("{ ")
        .and_then(|r| r.strip_suffix(" }"))
        .unwrap_or_else(|| panic!("not an object: {reply}"));
    let mut groups = 0;
    for group in inner.split(" }, ") {
        let (name, fields) = group.split_once(": { ").expect("a group");
        assert!(name.starts_with('"') && name.ends_with('"'), "{name}");
        for field in fields.trim_end_matches(" }").split(", ") {
            let (key, value) = field.split_once(": ").expect("a field");
            assert!(key.starts_with('"') && key.ends_with('"'), "{key}");
            value
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("{field} in {reply}"));
        }
        groups += 1;
    }
    assert_eq!(groups, 13, "{reply}");
}

#[test]
fn at_most_ten_unreachables_per_second_whatever_expires() {
    let mut h = Harness::new();
    for i in 0..30 {
        let src = format!("2001:db8:2::{:x}", 0x100 + i);
        let dst = format!("2001:db8:1::{:x}", 0x100 + i);
        h.input(0, Input::TunPacket(udp6(&src, &dst, 0)));
    }
    let errors = icmp_errors(&h.run_until(6000));
    assert_eq!(errors.len(), 10);
    assert!(errors.iter().all(|(t, _, _)| *t == 5000));
    assert_eq!(h.engine.stats().limit_icmp_errors, 20);
}

#[test]
fn seek_origination_is_limited_to_20_per_second_and_the_rest_wait_for_a_slot() {
    let mut h = Harness::new();
    for i in 0..30 {
        let dst = format!("2001:db8:1::{:x}", 0x100 + i);
        h.input(0, Input::TunPacket(udp6("2001:db8:2::2", &dst, 0)));
    }
    let seek_times = multicast_times(&h.run_until(2000), MESH_A);
    assert_eq!(seek_times.len(), 30, "{seek_times:?}");
    assert!(seek_times[..20].iter().all(|t| *t == 300));
    assert!(seek_times[20..].iter().all(|t| *t == 1300));
    assert_eq!(h.engine.stats().limit_seeks, 10);
}

#[test]
fn waiting_packets_are_bounded_per_destination_in_destinations_and_in_bytes() {
    use l3roamd::engine::stats::Stats;
    let counts = |s: &Stats| {
        (
            s.limit_queue_packets,
            s.limit_queue_destinations,
            s.limit_queue_bytes,
        )
    };
    let mut h = Harness::new();
    for _ in 0..65 {
        h.input(
            0,
            Input::TunPacket(udp6("2001:db8:2::2", "2001:db8:1::1:0", 0)),
        );
    }
    assert_eq!(
        counts(h.engine.stats()),
        (1, 0, 0),
        "64 packets per destination"
    );
    for i in 1..=256 {
        let dst = format!("2001:db8:1::1:{i:x}");
        h.input(0, Input::TunPacket(udp6("2001:db8:2::2", &dst, 0)));
    }
    assert_eq!(counts(h.engine.stats()), (1, 1, 0), "256 destinations");

    let mut h = Harness::new();
    // Jumbo packets (the tun's MTU is 9000): 116 of them fit in 1 MiB, the 117th does not.
    for i in 0..117 {
        let dst = format!("2001:db8:1::2:{:x}", i / 64);
        h.input(0, Input::TunPacket(udp6("2001:db8:2::2", &dst, 8952)));
    }
    assert_eq!(counts(h.engine.stats()), (0, 0, 1), "1 MiB in all");
    // Whatever was queued leaves whole, in order, when the route appears.
    let out = h.input(10, babel_route("2001:db8:1::2:0", 1024));
    assert_eq!(out.len(), 64);
    assert!(
        out.iter()
            .all(|o| matches!(o, Output::Reinject(p) if p.len() == 9000))
    );
}

#[test]
fn multicast_and_out_of_prefix_tun_packets_are_dropped_without_queueing() {
    let mut h = Harness::new();
    for dst in ["ff02::1", "2001:db8:99::1"] {
        let mut p = vec![0u8; 40];
        p[0] = 0x60;
        p[24..40].copy_from_slice(&ip(dst).octets());
        assert!(h.input(0, Input::TunPacket(p)).is_empty());
    }
    h.assert_idle();
}

#[test]
fn control_commands_act_on_the_engine() {
    let mut h = Harness::new();
    assert_eq!(h.say("add_address 2001:db8:1::55 02:11:22:33:44:55"), "OK");
    assert_eq!(
        h.say("add_address 2001:db8:99::1 02:11:22:33:44:55"),
        "NOT OK",
        "outside every prefix"
    );
    assert_eq!(h.say("add_address 198.51.100.70 02:11:22:33:44:55"), "OK");
    assert_eq!(
        h.say("get_clients"),
        r#"{ "clients": 1, "clientlist": { "02:11:22:33:44:55": { "interface": "local-node", "addresses": { "2001:db8:1::55": { "state": 1 }, "::ffff:198.51.100.70": { "state": 1 } } } } }"#
    );
    assert_eq!(
        h.say("get_prefixes"),
        r#"{ "prefixes": [ "::ffff:0.0.0.0", "fe80::", "2001:db8:1::", "::ffff:198.51.100.0" ] }"#
    );
    assert_eq!(
        h.say("get_meshifs"),
        r#"{ "mesh_interfaces": [ "mesh0", "mesh1" ] }"#
    );
    assert_eq!(h.say("add_meshif mesh9"), "");
    assert_eq!(
        h.say("get_meshifs"),
        r#"{ "mesh_interfaces": [ "mesh0", "mesh1", "mesh9" ] }"#
    );
    assert_eq!(h.say("del_address 198.51.100.70 02:11:22:33:44:55"), "OK");
    assert_eq!(
        h.say("del_address 198.51.100.70 02:11:22:33:44:55"),
        "NOT OK",
        "already gone"
    );

    let out = h.input(
        0,
        Input::Control {
            conn: 11,
            command: Command::Verbosity(Verbosity::Debug),
        },
    );
    assert!(out.contains(&Output::SetLogLevel(Verbosity::Debug)));
    // has_route waits for the kernel's answer before it replies.
    let out = h.input(
        0,
        Input::Control {
            conn: 12,
            command: Command::HasRoute {
                text: "fec0::1".into(),
                addr: ip("fec0::1"),
            },
        },
    );
    assert!(kernel_ops(&out).contains(&KernelOp::LookupRoute {
        token: LookupToken::HasRoute(12),
        addr: ip("fec0::1")
    }));
    assert!(!out.iter().any(|o| matches!(o, Output::ControlReply { .. })));
    let out = h.input(
        1,
        Input::RouteLookup {
            token: LookupToken::HasRoute(12),
            addr: ip("fec0::1"),
            answer: LookupAnswer::Local,
        },
    );
    assert_eq!(
        out,
        vec![Output::ControlReply {
            conn: 12,
            bytes: b"found route fec0::1/128: YES\n".to_vec()
        }]
    );
}

#[test]
fn shutdown_removes_exactly_what_was_installed_and_sends_nothing() {
    let mut h = Harness::with_served_client(&["2001:db8:1::55", "198.51.100.55"]);
    h.engine.shutdown(ms(10));
    let out = h.drain();
    assert!(intercoms(&out).is_empty());
    let ops = kernel_ops(&out);
    // Deleted at once, not demoted: a restarted daemon announces the same routes again.
    for expected in [
        KernelOp::DelHostRoute(route("2001:db8:1::55")),
        KernelOp::DelHostRoute(route("198.51.100.55")),
        KernelOp::DelNodeClientIp(ncip()),
        KernelOp::DelPrefixRoute(IpPrefix::parse("2001:db8:1::/64").unwrap().prefix),
    ] {
        assert!(ops.contains(&expected), "{expected:?} missing from {ops:?}");
    }
    assert!(ops.iter().all(|op| !matches!(
        op,
        KernelOp::AddHostRoute(_) | KernelOp::AddNodeClientIp(_) | KernelOp::DemoteHostRoute { .. }
    )));
    assert_eq!(h.engine.poll_timeout(), None);
}

#[test]
fn a_release_under_way_at_shutdown_is_completed_after_its_hold() {
    let mut h = Harness::with_served_client(&["2001:db8:1::55"]);
    h.datagram(1000, ncip(), MESH_A, &claim_from_peer(CLIENT, [8; 4]));
    assert_eq!(h.engine.demoted_routes().count(), 1);
    h.engine.shutdown(ms(1500));
    h.drain();
    // The holds are the only timers left, and they end in the deletions.
    assert_eq!(h.engine.poll_timeout(), Some(ms(2000)));
    let later = h.run_until(10_000);
    assert_eq!(
        kernel_ops(&just_outputs(&later)),
        vec![delete_demoted("2001:db8:1::55")]
    );
    assert_eq!(h.engine.poll_timeout(), None);
}

#[test]
fn an_idle_engine_wakes_only_to_reconcile_every_300_s() {
    let mut h = Harness::new();
    h.assert_idle();
    let due = h.engine.poll_timeout().unwrap().as_millis();
    assert!(due <= 375_000);
    assert!(h.run_until(due - 1).is_empty());
    assert_eq!(
        h.run_until(due),
        vec![(due, Output::Kernel(KernelOp::Dump))]
    );
    // No second dump while the first is unanswered.
    assert!(h.engine.poll_timeout().is_none());
}

#[test]
fn a_failed_route_install_leaves_the_address_tentative() {
    let mut h = Harness::with_served_client(&["2001:db8:1::55"]);
    h.input(
        5,
        Input::KernelResult {
            op: KernelOp::AddHostRoute(route("2001:db8:1::55")),
            result: Err(Errno(22)),
        },
    );
    assert_eq!(
        h.engine.client_addresses(&CLIENT),
        vec![(ip("2001:db8:1::55"), AddrState::Tentative)]
    );
    assert_eq!(h.engine.installed_routes().count(), 0);
    h.reachable(10, "2001:db8:1::55");
    assert_eq!(
        h.engine.client_addresses(&CLIENT),
        vec![(ip("2001:db8:1::55"), AddrState::Active)]
    );
}

#[test]
fn a_client_back_before_the_new_nodes_route_arrived_is_claimed_from_that_node_directly() {
    let mut h = Harness::with_served_client(&["2001:db8:1::55"]);
    h.datagram(1000, ncip(), MESH_A, &claim_from_peer(CLIENT, [1; 4]));
    h.datagram(1001, me(), MESH_A, &ack_from_peer([2; 4]));
    h.reachable(1400, "2001:db8:1::55");
    let out = h.answer_lookup(1401, LookupAnswer::NoRoute);
    let sent = intercoms(&out);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].0,
        Destination::Unicast(peer()),
        "to the node it was handed to"
    );
    assert_eq!(sent[0].1.message, Message::Claim { mac: CLIENT });
    assert!(
        kernel_ops(&out).is_empty(),
        "no node-client IP until the peer answers"
    );
}

#[test]
fn dad_probe_cycles_are_bounded() {
    let mut h = Harness::new();
    let mut solicits = 0;
    for i in 0..300u16 {
        let target = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 1, i);
        let out = h.input(
            0,
            Input::Snooped(Snooped::Solicit {
                ifindex: CLIENT_IF,
                src: Ipv6Addr::UNSPECIFIED,
                src_mac: CLIENT,
                target,
            }),
        );
        solicits += out
            .iter()
            .filter(|o| matches!(o, Output::Solicit(_)))
            .count();
    }
    assert_eq!(solicits, 256);
    assert_eq!(h.engine.stats().limit_dad_probes, 44);
}

#[test]
fn old_clients_are_bounded_and_the_soonest_to_expire_goes_first() {
    let mut h = Harness::new();
    let mac = |i: u32| MacAddr([0x02, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8, 1]);
    for i in 0..4100u32 {
        h.input(
            u64::from(i),
            Input::Station {
                ifindex: CLIENT_IF,
                mac: mac(i),
                associated: true,
            },
        );
        h.input(
            u64::from(i),
            Input::Station {
                ifindex: CLIENT_IF,
                mac: mac(i),
                associated: false,
            },
        );
    }
    assert_eq!(h.engine.old_client_count(), 4096);
    assert_eq!(h.engine.stats().limit_old_clients, 4);
    let claim = |h: &mut Harness, m: MacAddr| {
        let out = h.datagram(5000, me(), MESH_A, &claim_from_peer(m, [9, 9, 9, m.0[4]]));
        intercoms(&out).len()
    };
    assert_eq!(claim(&mut h, mac(0)), 0, "the oldest was forgotten");
    assert_eq!(claim(&mut h, mac(4099)), 1, "the newest answers");
}

#[test]
fn the_claim_window_dies_with_the_client() {
    let mut h = Harness::new();
    h.reachable(0, "2001:db8:1::55");
    h.answer_lookup(1, LookupAnswer::Route);
    assert!(h.engine.claim_in_progress(&CLIENT));
    // The client goes before the INFO arrives, and comes back: a fresh claim decision is
    // pending, no CLAIM of ours is answered by the INFO that now arrives.
    let del = Command::DelAddress {
        addr: "2001:db8:1::55".parse().unwrap(),
        mac: CLIENT,
    };
    h.input(
        2,
        Input::Control {
            conn: 1,
            command: del,
        },
    );
    assert!(h.engine.client_macs().is_empty());
    h.reachable(3, "2001:db8:1::55");
    let out = h.datagram(
        4,
        me(),
        MESH_A,
        &info_from_peer(&["2001:db8:1::55", "2001:db8:1::66"], [3; 4]),
    );
    assert_eq!(intercoms(&out).len(), 1, "still ACKed");
    assert!(kernel_ops(&out).is_empty(), "content ignored: {out:?}");
    assert_eq!(h.engine.stats().infos_ignored, 1);
}

#[test]
fn prefixes_and_mesh_interfaces_added_at_run_time_are_bounded() {
    let mut h = Harness::new();
    // fe80::/64, 2001:db8:1::/64 and 198.51.100.0/24 are there already.
    let replies: Vec<String> = (0..62u16)
        .map(|i| h.say(&format!("add_prefix 2001:db8:{:x}::/64", 0x100 + i)))
        .collect();
    assert!(
        replies[..61]
            .iter()
            .all(|r| r.starts_with("Added prefix: "))
    );
    assert_eq!(replies[61], "ERROR: limit reached\n");
    // mesh0 and mesh1 are there already.
    let replies: Vec<String> = (0..63)
        .map(|i| h.ask(0, Command::AddMeshif(format!("m{i}"))))
        .collect();
    assert!(replies[..62].iter().all(String::is_empty));
    assert_eq!(replies[62], "ERROR: limit reached\n");
    assert_eq!(
        h.ask(0, Command::AddMeshif("m0".into())),
        "",
        "an existing name is still a silent no-op"
    );
}

/// A /128 that babeld (protocol 42) installed towards another node, at `metric`.
fn babel_route(dst: &str, metric: u32) -> Input {
    Input::Route(RouteEvent {
        dst: dst.parse().unwrap(),
        prefix_len: 128,
        table: 254,
        protocol: 42,
        kind: RouteKind::Unicast,
        metric,
        ifindex: Some(MESH_A),
        deleted: false,
    })
}

fn proto158(dst: &str, ifindex: u32, deleted: bool) -> Input {
    Input::Route(RouteEvent {
        dst: dst.parse().unwrap(),
        prefix_len: if dst.contains(':') { 128 } else { 32 },
        table: 254,
        protocol: 158,
        kind: RouteKind::Unicast,
        metric: 1024,
        ifindex: Some(ifindex),
        deleted,
    })
}

fn on_loopback(addr: Ipv6Addr) -> Input {
    Input::Address(AddressEvent {
        ifindex: LOOPBACK,
        addr: IpAddr::V6(addr),
        prefix_len: 128,
        deleted: false,
    })
}

fn host_route(dst: &str, ifindex: u32) -> HostRoute {
    HostRoute {
        dst: dst.parse().unwrap(),
        table: 254,
        ifindex,
    }
}

#[test]
fn learning_waits_for_the_first_dump_then_leftovers_are_adopted_or_removed() {
    let mut h = Harness::unsynced();
    let stale_ncip = ip("fec0::99:99ff:fe99:9999");
    let mut before = Vec::new();
    for input in [
        // A route whose client still has a neighbour entry: adopted.
        proto158("2001:db8:1::55", CLIENT_IF, false),
        // One without: removed, exactly.
        proto158("2001:db8:1::66", CLIENT_IF, false),
        // Proto 158 on an interface this run does not serve: not ours to judge.
        proto158("2001:db8:1::77", 9, false),
        on_loopback(ncip()),
        on_loopback(stale_ncip),
        Input::Neighbour(Neighbour {
            ifindex: CLIENT_IF,
            addr: "2001:db8:1::55".parse().unwrap(),
            mac: Some(CLIENT),
            state: NeighState::Stale,
            deleted: false,
        }),
        Input::Snooped(Snooped::Solicit {
            ifindex: CLIENT_IF,
            src: ip("2001:db8:1::88"),
            src_mac: MacAddr([2, 0, 0, 0, 0, 0x88]),
            target: ip("2001:db8:1::1"),
        }),
    ] {
        before.extend(h.input(0, input));
    }
    assert!(
        before.is_empty(),
        "acted before the kernel was read: {before:?}"
    );

    let ops = kernel_ops(&h.input(5, Input::DumpDone));
    for expected in [
        KernelOp::DelHostRoute(host_route("2001:db8:1::66", CLIENT_IF)),
        KernelOp::DelNodeClientIp(stale_ncip),
        KernelOp::ProbeNeighbour {
            ifindex: CLIENT_IF,
            addr: "2001:db8:1::55".parse().unwrap(),
            mac: CLIENT,
        },
        KernelOp::LookupRoute {
            token: LookupToken::ClaimDecision(CLIENT),
            addr: ncip(),
        },
        // The held-back NS is learned now.
        KernelOp::AddHostRoute(host_route("2001:db8:1::88", CLIENT_IF)),
    ] {
        assert!(ops.contains(&expected), "{expected:?} missing from {ops:?}");
    }
    assert!(!ops.contains(&KernelOp::DelHostRoute(host_route(
        "2001:db8:1::55",
        CLIENT_IF
    ))));
    assert!(!ops.contains(&KernelOp::DelNodeClientIp(ncip())));
    assert!(ops.iter().all(|op| !matches!(op,
        KernelOp::DelHostRoute(r) | KernelOp::AddHostRoute(r) if r.ifindex == 9)));
    // The adopted client's node-client IP is found on loopback: kept (the add only opens
    // its CLAIM socket; the kernel answers EEXIST), never claimed from ourselves.
    let out = h.answer_lookup(6, LookupAnswer::Local);
    assert_eq!(kernel_ops(&out), vec![KernelOp::AddNodeClientIp(ncip())]);
    assert!(intercoms(&out).is_empty());
    assert!(
        h.input(
            7,
            Input::KernelResult {
                op: KernelOp::AddNodeClientIp(ncip()),
                result: Err(Errno::EEXIST),
            },
        )
        .is_empty()
    );
    assert!(h.engine.holds_node_client_ip(&CLIENT));
    assert_eq!(h.engine.installed_routes().count(), 2);
}

#[test]
fn periodic_reconciliation_repairs_what_vanished() {
    let mut h = Harness::with_served_client(&["2001:db8:1::55"]);
    h.drain();
    let due = h.engine.poll_timeout().unwrap().as_millis();
    assert!((225_000..=375_000).contains(&due), "{due}");
    assert_eq!(
        h.run_until(due),
        vec![(due, Output::Kernel(KernelOp::Dump))]
    );

    // A dump that finds everything in place changes nothing.
    let mut out = Vec::new();
    for input in [
        proto158("2001:db8:1::55", CLIENT_IF, false),
        on_loopback(ncip()),
        Input::Neighbour(Neighbour {
            ifindex: CLIENT_IF,
            addr: "2001:db8:1::55".parse().unwrap(),
            mac: Some(CLIENT),
            state: NeighState::Reachable,
            deleted: false,
        }),
        Input::DumpDone,
    ] {
        out.extend(h.input(due, input));
    }
    assert!(kernel_ops(&out).is_empty(), "{out:?}");

    // Someone flushed the route, the address and the neighbour entry: the next dump finds
    // none of them. Route and address come back; the client is asked whether it is there.
    let due = h.engine.poll_timeout().unwrap().as_millis();
    h.run_until(due);
    let ops = kernel_ops(&h.input(due, Input::DumpDone));
    for expected in [
        KernelOp::AddHostRoute(host_route("2001:db8:1::55", CLIENT_IF)),
        KernelOp::AddNodeClientIp(ncip()),
        KernelOp::ProbeNeighbour {
            ifindex: CLIENT_IF,
            addr: "2001:db8:1::55".parse().unwrap(),
            mac: CLIENT,
        },
    ] {
        assert!(ops.contains(&expected), "{expected:?} missing from {ops:?}");
    }
    // Without an answer the address goes after the 120 s of rule 4.
    let later = kernel_ops(
        &h.run_until(due + 120_000)
            .into_iter()
            .map(|(_, o)| o)
            .collect::<Vec<_>>(),
    );
    assert!(later.contains(&KernelOp::DemoteHostRoute {
        route: host_route("2001:db8:1::55", CLIENT_IF),
        protocol: 159
    }));
}

#[test]
fn a_mac_learned_by_a_port_of_the_client_bridge_is_a_client_the_nodes_own_are_not() {
    const BRIDGE: u32 = 7;
    const PORT: u32 = 8;
    const OTHER_PORT: u32 = 9;
    const BRIDGE_MAC: MacAddr = MacAddr([0x02, 0, 0x5e, 0, 0x53, 0x01]);
    let prefix = IpPrefix::parse("2001:db8:1::/64").unwrap().prefix;
    let mut cfg = Config::new(me(), vec![prefix]);
    cfg.client_if = Some("br-client".into());
    cfg.client_bridge = Some("br-client".into());
    let mut engine = Engine::with_seed(cfg, 3, ms(0));
    for (ifindex, name, mac, master) in [
        (BRIDGE, "br-client", BRIDGE_MAC, None),
        (PORT, "client0", MacAddr([2, 0, 0, 0, 0, 8]), Some(BRIDGE)),
        (OTHER_PORT, "mesh0", MacAddr([2, 0, 0, 0, 0, 9]), None),
    ] {
        engine.handle_input(
            ms(0),
            Input::Link(Link {
                ifindex,
                name: name.into(),
                up: true,
                mac: Some(mac),
                master,
            }),
        );
    }
    engine.handle_input(ms(0), Input::DumpDone);
    let mut h = Harness {
        engine,
        next_conn: 0,
    };
    h.drain();
    let fdb = |port, mac, deleted| Input::Fdb { port, mac, deleted };

    // The node's own MACs and MACs behind interfaces that are not ports of -b teach nothing.
    assert!(h.input(0, fdb(PORT, BRIDGE_MAC, false)).is_empty());
    assert!(h.input(0, fdb(OTHER_PORT, CLIENT, false)).is_empty());

    // A client's MAC on a port: the claim decision starts, and the client is woken up.
    let out = h.input(0, fdb(PORT, CLIENT, false));
    assert!(kernel_ops(&out).contains(&KernelOp::LookupRoute {
        token: LookupToken::ClaimDecision(CLIENT),
        addr: ncip(),
    }));
    assert!(out.iter().any(|o| matches!(o, Output::Solicit(_))));
    h.answer_lookup(1, LookupAnswer::NoRoute);
    h.input(
        2,
        Input::Neighbour(Neighbour {
            ifindex: BRIDGE,
            addr: "2001:db8:1::55".parse().unwrap(),
            mac: Some(CLIENT),
            state: NeighState::Reachable,
            deleted: false,
        }),
    );

    // The bridge forgets the MAC: the kernel is asked to check each address.
    let out = h.input(3, fdb(PORT, CLIENT, true));
    assert!(kernel_ops(&out).contains(&KernelOp::ProbeNeighbour {
        ifindex: BRIDGE,
        addr: "2001:db8:1::55".parse().unwrap(),
        mac: CLIENT,
    }));
}

// ----- graceful release (babeld.md §4) -----

#[test]
fn a_release_demotes_first_and_deletes_one_hold_later_in_another_batch() {
    let mut h = Harness::with_served_client(&["2001:db8:1::55", "198.51.100.55"]);
    let out = h.datagram(1000, ncip(), MESH_A, &claim_from_peer(CLIENT, [3; 4]));
    let ops = kernel_ops(&out);
    assert!(ops.contains(&demote("2001:db8:1::55")));
    assert!(ops.contains(&demote("198.51.100.55")));
    assert!(
        !ops.iter().any(|op| matches!(
            op,
            KernelOp::DelHostRoute(_) | KernelOp::DelDemotedRoute { .. }
        )),
        "no deletion in the demotion's batch: {ops:?}"
    );
    assert_eq!(h.engine.demoted_routes().count(), 2);
    let later = h.run_until(10_000);
    for addr in ["2001:db8:1::55", "198.51.100.55"] {
        assert_eq!(
            times_of(&later, &delete_demoted(addr)),
            vec![2000],
            "{addr}"
        );
    }
    assert_eq!(h.engine.demoted_routes().count(), 0);
    let stats = h.engine.stats();
    assert_eq!((stats.routes_demoted, stats.demoted_routes_deleted), (2, 2));
}

#[test]
fn a_client_back_within_the_hold_takes_its_demoted_route_back() {
    let mut h = Harness::with_served_client(&["2001:db8:1::55"]);
    h.datagram(1000, ncip(), MESH_A, &claim_from_peer(CLIENT, [4; 4]));
    let out = h.reachable(1300, "2001:db8:1::55");
    assert!(
        kernel_ops(&out).contains(&KernelOp::AddHostRoute(route("2001:db8:1::55"))),
        "{out:?}"
    );
    assert_eq!(h.engine.demoted_routes().count(), 0);
    let later = h.run_until(10_000);
    assert!(
        times_of(&later, &delete_demoted("2001:db8:1::55")).is_empty(),
        "the route the client came back to must stay: {later:?}"
    );
    h.engine.check_consistency().unwrap();
}

#[test]
fn release_protocol_zero_deletes_at_once() {
    let prefix = IpPrefix::parse("2001:db8:1::/64").unwrap().prefix;
    let mut cfg = Config::new(me(), vec![prefix]);
    cfg.client_if = Some("local-node".into());
    cfg.release_protocol = None;
    let mut engine = Engine::with_seed(cfg, 7, ms(0));
    engine.handle_input(
        ms(0),
        Input::Link(Link {
            ifindex: CLIENT_IF,
            name: "local-node".into(),
            up: true,
            mac: Some(NODE_MAC),
            master: None,
        }),
    );
    let mut h = Harness {
        engine,
        next_conn: 0,
    };
    h.input(0, Input::DumpDone);
    h.reachable(0, "2001:db8:1::55");
    h.answer_lookup(1, LookupAnswer::NoRoute);
    let ops = kernel_ops(&h.datagram(1000, ncip(), MESH_A, &claim_from_peer(CLIENT, [5; 4])));
    assert!(ops.contains(&KernelOp::DelHostRoute(route("2001:db8:1::55"))));
    assert!(
        !ops.iter()
            .any(|op| matches!(op, KernelOp::DemoteHostRoute { .. }))
    );
    assert_eq!(h.engine.demoted_routes().count(), 0);
}

#[test]
fn a_failed_demotion_falls_back_to_deleting_the_route() {
    let mut h = Harness::with_served_client(&["2001:db8:1::55"]);
    h.datagram(1000, ncip(), MESH_A, &claim_from_peer(CLIENT, [6; 4]));
    let out = h.input(
        1001,
        Input::KernelResult {
            op: demote("2001:db8:1::55"),
            result: Err(Errno(95)),
        },
    );
    assert_eq!(
        kernel_ops(&out),
        vec![KernelOp::DelHostRoute(route("2001:db8:1::55"))]
    );
    assert!(times_of(&h.run_until(10_000), &delete_demoted("2001:db8:1::55")).is_empty());
}

#[test]
fn demoted_routes_left_by_an_earlier_run_are_deleted_at_startup() {
    let mut h = Harness::unsynced();
    let mut leftover = proto158("2001:db8:1::77", CLIENT_IF, false);
    if let Input::Route(r) = &mut leftover {
        r.protocol = 159;
    }
    h.input(0, leftover);
    let ops = kernel_ops(&h.input(0, Input::DumpDone));
    assert!(ops.contains(&delete_demoted("2001:db8:1::77")), "{ops:?}");
    // A demotion seen as a route event re-injects nothing: it leads nowhere new.
    let mut own = proto158("2001:db8:1::78", CLIENT_IF, false);
    if let Input::Route(r) = &mut own {
        r.protocol = 159;
    }
    h.input(
        10,
        Input::TunPacket(udp6("2001:db8:2::1", "2001:db8:1::78", 10)),
    );
    let out = h.input(20, own);
    assert!(
        !out.iter().any(|o| matches!(o, Output::Reinject(_))),
        "{out:?}"
    );
}

// ----- flap damping (flapping.rs) -----

/// One round trip of the client through this node: claimed away by the peer at `t` (a move),
/// back 100 ms later and claimed from the peer if the node is not damping (a second move when
/// the peer's INFO comes). Returns whether this node sent a CLAIM.
fn bounce(h: &mut Harness, t: u64, nonce: u8) -> bool {
    h.datagram(
        t,
        ncip(),
        MESH_A,
        &claim_from_peer(CLIENT, [nonce, 0, 0, 1]),
    );
    h.datagram(t + 10, me(), MESH_A, &ack_from_peer([nonce, 0, 0, 3]));
    h.reachable(t + 100, "2001:db8:1::55");
    let out = h.answer_lookup(t + 101, LookupAnswer::Route);
    let claimed = intercoms(&out)
        .iter()
        .any(|(_, r)| matches!(r.message, Message::Claim { .. }));
    if claimed {
        h.datagram(
            t + 150,
            me(),
            MESH_A,
            &info_from_peer(&["2001:db8:1::55"], [nonce, 0, 0, 2]),
        );
    }
    claimed
}

#[test]
fn a_client_moving_six_times_in_5_s_is_not_claimed_for_30_s_then_claimed_if_it_answers() {
    let mut h = Harness::with_served_client(&["2001:db8:1::55"]);
    // Moves 1..6 at 1000, 1150, 2000, 2150, 3000, 3150: the sixth is a flap.
    for (i, t) in [1000, 2000].into_iter().enumerate() {
        assert!(bounce(&mut h, t, i as u8), "not damped yet at {t}");
        assert_eq!(h.engine.stats().flaps_detected, 0);
    }
    assert!(bounce(&mut h, 3000, 2));
    assert_eq!(h.engine.stats().flaps_detected, 1);
    // Claimed away once more (handed over: a peer is always answered), then back: the node
    // serves what it learns itself but sends no CLAIM.
    let out = h.datagram(4000, ncip(), MESH_A, &claim_from_peer(CLIENT, [9, 0, 0, 1]));
    assert!(
        intercoms(&out)
            .iter()
            .any(|(_, r)| matches!(r.message, Message::Info(_)))
    );
    assert!(h.engine.client_macs().is_empty());
    let out = h.reachable(4100, "2001:db8:1::55");
    assert!(kernel_ops(&out).contains(&KernelOp::AddHostRoute(route("2001:db8:1::55"))));
    let out = h.answer_lookup(4101, LookupAnswer::Route);
    assert!(intercoms(&out).is_empty(), "{out:?}");
    assert_eq!(h.engine.stats().claims_deferred, 1);
    // Heard from again during the hold: still nothing.
    assert!(intercoms(&h.reachable(20_000, "2001:db8:1::55")).is_empty());
    let during: Vec<Output> = h.run_until(33_149).into_iter().map(|(_, o)| o).collect();
    assert!(
        !intercoms(&during)
            .iter()
            .any(|(_, r)| matches!(r.message, Message::Claim { .. })),
        "no CLAIM during the hold"
    );
    // The hold ends 30 s after the flap (3150): the client is asked directly.
    let asked = h.run_until(33_150);
    assert!(
        asked.iter().any(|(t, o)| *t == 33_150
            && matches!(o, Output::Solicit(Solicitation::Neighbour { dst, .. }) if *dst == ip("2001:db8:1::55"))),
        "{asked:?}"
    );
    // It answers: the claim decision runs again, and this time the CLAIM goes out.
    let out = h.reachable(33_200, "2001:db8:1::55");
    assert!(
        kernel_ops(&out)
            .iter()
            .any(|op| matches!(op, KernelOp::LookupRoute { .. }))
    );
    let out = h.answer_lookup(33_201, LookupAnswer::Route);
    assert_eq!(
        intercoms(&out)
            .iter()
            .filter(|(d, r)| *d == Destination::Unicast(ncip())
                && r.message == Message::Claim { mac: CLIENT })
            .count(),
        1
    );
    let json = h.say("get_stats");
    assert!(
        json.contains("\"flapping\": { \"detected\": 1, \"claims_deferred\": 1 }"),
        "{json}"
    );
}

#[test]
fn a_flapping_client_that_does_not_answer_after_the_hold_is_forgotten() {
    let mut h = Harness::with_served_client(&["2001:db8:1::55"]);
    for (i, t) in [1000, 2000, 3000].into_iter().enumerate() {
        bounce(&mut h, t, i as u8);
    }
    assert_eq!(h.engine.stats().flaps_detected, 1);
    assert!(!bounce(&mut h, 4000, 7), "deferred");
    // The client settled at the peer: nothing answers the question at the end of the hold,
    // and its routes here are released.
    let later = h.run_until(40_000);
    assert_eq!(times_of(&later, &demote("2001:db8:1::55")), vec![38_150]);
    assert!(h.engine.client_macs().is_empty());
    assert!(
        !later
            .iter()
            .any(|(_, o)| matches!(o, Output::Intercom { .. }))
    );
}

#[test]
fn six_moves_spread_over_more_than_5_s_are_no_flap() {
    let mut h = Harness::with_served_client(&["2001:db8:1::55"]);
    // Two moves every 2.5 s, as the demo roams: never six within 5 s.
    for i in 0..6u8 {
        let t = 1000 + u64::from(i) * 2500;
        assert!(bounce(&mut h, t, i), "round {i}");
        h.run_until(t + 2400);
    }
    assert_eq!(h.engine.stats().flaps_detected, 0);
    assert_eq!(h.engine.stats().claims_deferred, 0);
}

// ---------------------------------------------------------------------------------------------
// Duplicate host routes through babeld (duplicates.rs: grace 10 s, verification 5 s, one
// action per MAC per 60 s, the greater router-id yields and holds off for 60 s)

use l3roamd::engine::duplicates::{ACTION_INTERVAL, GRACE, VERIFY_WINDOW, YIELD_HOLD};
use l3roamd::wire::babel::{Change, Prefix, Route, RouterId, XRoute};

const CLIENT_ADDR: &str = "2001:db8:1::55";

/// Router-ids as babeld prints them for `router-id 02:00:00:ff:00:0N`.
fn rid(n: u8) -> RouterId {
    RouterId([2, 0, 0, 0xff, 0xfe, 0xff, 0, n])
}

/// This node's router-id in the duplicate tests: between the peers' 3 and 7.
fn my_rid() -> RouterId {
    rid(5)
}

fn babel(h: &mut Harness, t: u64, event: BabelEvent) -> Vec<Output> {
    h.input(t, Input::Babel(event))
}

fn host_prefix(addr: &str) -> Prefix {
    let len = if addr.contains(':') { 128 } else { 32 };
    Prefix::parse(&format!("{addr}/{len}")).unwrap()
}

fn xroute(change: Change, addr: &str) -> BabelEvent {
    let prefix = host_prefix(addr);
    BabelEvent::XRoute(XRoute {
        change,
        prefix,
        source: Prefix::unspecified_like(&prefix.addr),
        metric: 0,
    })
}

/// A route learned through a neighbour: babeld's `route` line for `addr` from `id`.
fn learned(change: Change, token: &str, addr: &str, id: RouterId, metric: u16) -> BabelEvent {
    let prefix = host_prefix(addr);
    BabelEvent::Route(Route {
        change,
        token: token.into(),
        prefix,
        source: Prefix::unspecified_like(&prefix.addr),
        installed: false,
        id,
        metric,
        refmetric: Some(0),
        via: Some("fe80::2".parse().unwrap()),
        ifname: Some("mesh0".into()),
    })
}

/// A served client and a babeld session at t = 1 s that sees this node export the client's
/// /128 and node-client IP, and knows the peer's node IP under `peer_id`.
fn monitored(peer_id: RouterId) -> Harness {
    let mut h = Harness::with_served_client(&[CLIENT_ADDR]);
    babel(&mut h, 1000, BabelEvent::Connected { my_id: my_rid() });
    babel(&mut h, 1000, xroute(Change::Add, CLIENT_ADDR));
    babel(&mut h, 1000, xroute(Change::Add, &ncip().to_string()));
    babel(&mut h, 1000, xroute(Change::Add, &me().to_string()));
    babel(
        &mut h,
        1000,
        learned(Change::Add, "a0", &peer().to_string(), peer_id, 96),
    );
    h
}

/// The peer starts announcing the client's /128 at `t`.
fn duplicate_at(h: &mut Harness, t: u64, peer_id: RouterId) {
    babel(h, t, learned(Change::Add, "d1", CLIENT_ADDR, peer_id, 96));
}

fn verify_ns(addr: &str) -> Output {
    Output::Solicit(Solicitation::Neighbour {
        ifindex: CLIENT_IF,
        target: ip(addr),
        dst: ip(addr),
        source_mac: Some(NODE_MAC),
    })
}

fn advert(h: &mut Harness, t: u64) -> Vec<Output> {
    h.input(
        t,
        Input::Snooped(Snooped::Advert {
            ifindex: CLIENT_IF,
            target: ip(CLIENT_ADDR),
            mac: CLIENT,
        }),
    )
}

fn claims_to(outputs: &[(u64, Output)], dst: Ipv6Addr) -> Vec<u64> {
    outputs
        .iter()
        .filter(|(_, o)| match o {
            Output::Intercom {
                dst: Destination::Unicast(d),
                bytes,
            } => {
                *d == dst
                    && Repr::parse(bytes).is_ok_and(|r| r.message == Message::Claim { mac: CLIENT })
            }
            _ => false,
        })
        .map(|(t, _)| *t)
        .collect()
}

fn just_outputs(timed: &[(u64, Output)]) -> Vec<Output> {
    timed.iter().map(|(_, o)| o.clone()).collect()
}

fn ms_of(d: l3roamd::time::Duration) -> u64 {
    d.as_millis() as u64
}

#[test]
fn a_duplicate_younger_than_the_grace_period_is_ignored() {
    let mut h = monitored(rid(3));
    duplicate_at(&mut h, 2000, rid(3));
    // The other node's retraction arrives a moment before the grace period is over.
    let before = h.run_until(2000 + ms_of(GRACE) - 1);
    babel(
        &mut h,
        2000 + ms_of(GRACE) - 1,
        learned(Change::Flush, "d1", CLIENT_ADDR, rid(3), 96),
    );
    let after = h.run_until(60_000);
    for (_, o) in before.iter().chain(&after) {
        assert!(
            !matches!(o, Output::Solicit(_) | Output::Intercom { .. }),
            "{o:?}"
        );
    }
    assert_eq!(h.engine.client_macs(), vec![CLIENT]);
    let s = h.engine.stats();
    assert_eq!(
        (s.dup_detected, s.dup_ended, s.dup_verifications),
        (1, 1, 0)
    );
    // A retracted route (metric 65535) is no duplicate either.
    babel(
        &mut h,
        61_000,
        learned(Change::Add, "d2", CLIENT_ADDR, rid(3), 65535),
    );
    assert_eq!(h.engine.stats().dup_detected, 1);
    // Nor is our own router-id coming back through a neighbour.
    babel(
        &mut h,
        61_000,
        learned(Change::Add, "d3", CLIENT_ADDR, my_rid(), 96),
    );
    assert_eq!(h.engine.stats().dup_detected, 1);
}

#[test]
fn an_absent_client_is_released_after_grace_and_verification() {
    let mut h = monitored(rid(3));
    duplicate_at(&mut h, 2000, rid(3));
    let checked = 2000 + ms_of(GRACE);
    let out = h.run_until(checked);
    let at_check: Vec<Output> = out
        .iter()
        .filter(|(t, _)| *t == checked)
        .map(|(_, o)| o.clone())
        .collect();
    assert!(at_check.contains(&verify_ns(CLIENT_ADDR)), "{at_check:?}");
    assert!(at_check.contains(&Output::Kernel(KernelOp::ProbeNeighbour {
        ifindex: CLIENT_IF,
        addr: CLIENT_ADDR.parse().unwrap(),
        mac: CLIENT,
    })));
    let out = h.run_until(checked + ms_of(VERIFY_WINDOW) - 1);
    assert!(kernel_ops(&just_outputs(&out)).is_empty(), "{out:?}");
    assert_eq!(h.engine.client_macs(), vec![CLIENT]);
    let out = h.run_until(checked + ms_of(VERIFY_WINDOW));
    let ops = kernel_ops(&just_outputs(&out));
    assert!(ops.contains(&demote(CLIENT_ADDR)), "{ops:?}");
    assert!(ops.contains(&KernelOp::DelNodeClientIp(ncip())));
    assert!(h.engine.client_macs().is_empty());
    let s = h.engine.stats();
    assert_eq!(
        (s.dup_verified_absent, s.dup_released, s.dup_reasserted),
        (1, 1, 0)
    );
    assert!(
        h.engine.has_old_client(&CLIENT),
        "released as any deleted client"
    );
}

#[test]
fn a_present_client_is_reasserted_with_a_claim_to_the_other_nodes_node_ip() {
    let mut h = monitored(rid(3));
    duplicate_at(&mut h, 2000, rid(3));
    let checked = 2000 + ms_of(GRACE);
    h.run_until(checked);
    // The client answers the unicast NS: no need to wait out the window.
    advert(&mut h, checked + 20);
    let out = h.run_until(checked + 20);
    assert_eq!(claims_to(&out, peer()), vec![checked + 20]);
    assert_eq!(h.engine.client_macs(), vec![CLIENT]);
    assert!(h.engine.claim_in_progress(&CLIENT));
    let s = h.engine.stats();
    assert_eq!((s.dup_verified_present, s.dup_reasserted), (1, 1));
    // The other node hands the client over: INFO, our ACK, the cycle ends, nothing removed.
    let out = h.datagram(
        checked + 30,
        me(),
        MESH_A,
        &info_from_peer(&[CLIENT_ADDR], [9; 4]),
    );
    assert!(
        intercoms(&out)
            .iter()
            .any(|(d, r)| *d == Destination::Unicast(peer())
                && r.message == Message::Ack { mac: CLIENT })
    );
    assert!(!h.engine.claim_in_progress(&CLIENT));
    assert!(h.engine.holds_node_client_ip(&CLIENT));
    assert!(!kernel_ops(&out).iter().any(|op| matches!(
        op,
        KernelOp::DelHostRoute(_) | KernelOp::DemoteHostRoute { .. } | KernelOp::DelNodeClientIp(_)
    )));
}

#[test]
fn without_a_node_ip_of_the_other_router_nothing_is_claimed_and_it_is_counted() {
    let mut h = monitored(rid(3));
    // The duplicate comes from a router whose node IP babeld has not told us.
    duplicate_at(&mut h, 2000, rid(9));
    let checked = 2000 + ms_of(GRACE);
    h.run_until(checked);
    advert(&mut h, checked + 20);
    let out = h.run_until(checked + 20_000);
    assert!(intercoms(&just_outputs(&out)).is_empty(), "{out:?}");
    assert_eq!(h.engine.stats().dup_no_address, 1);
    assert_eq!(h.engine.client_macs(), vec![CLIENT]);
}

/// Runs a monitored node into a re-assert against `peer_id`: its CLAIM is out at the time
/// returned.
fn reasserted(peer_id: RouterId) -> (Harness, u64) {
    let mut h = monitored(peer_id);
    duplicate_at(&mut h, 2000, peer_id);
    let checked = 2000 + ms_of(GRACE);
    h.run_until(checked);
    advert(&mut h, checked + 20);
    let out = h.run_until(checked + 20);
    assert_eq!(claims_to(&out, peer()), vec![checked + 20]);
    (h, checked + 20)
}

#[test]
fn crossing_claims_the_greater_router_id_yields_and_holds_the_client_off() {
    // This node (5) is greater than the peer (3).
    let (mut h, t) = reasserted(rid(3));
    let out = h.datagram(t + 5, me(), MESH_A, &claim_from_peer(CLIENT, [7; 4]));
    let sent = intercoms(&out);
    assert!(
        sent.iter().any(|(d, r)| *d == Destination::Unicast(peer())
            && matches!(&r.message, Message::Info(info) if info.mac == CLIENT)),
        "{sent:?}"
    );
    assert!(h.engine.client_macs().is_empty());
    assert!(!h.engine.claim_in_progress(&CLIENT), "our CLAIM stops");
    assert_eq!(h.engine.stats().dup_yielded, 1);
    // Learning it again is ignored for the hold time, and counted.
    let yielded = t + 5;
    let out = h.reachable(yielded + ms_of(YIELD_HOLD) - 1, CLIENT_ADDR);
    assert!(out.is_empty(), "{out:?}");
    assert!(h.engine.client_macs().is_empty());
    // Counted per attempt to create the client (an event may make two).
    assert!(h.engine.stats().dup_learning_suppressed >= 1);
    h.run_until(yielded + ms_of(YIELD_HOLD));
    h.reachable(yielded + ms_of(YIELD_HOLD), CLIENT_ADDR);
    assert_eq!(
        h.engine.client_macs(),
        vec![CLIENT],
        "learned after the hold"
    );
}

#[test]
fn crossing_claims_the_smaller_router_id_keeps_the_client_and_its_claim_goes_on() {
    // This node (5) is smaller than the peer (7).
    let (mut h, t) = reasserted(rid(7));
    let out = h.datagram(t + 5, me(), MESH_A, &claim_from_peer(CLIENT, [7; 4]));
    assert!(intercoms(&out).is_empty(), "no INFO: {out:?}");
    assert!(kernel_ops(&out).is_empty());
    assert_eq!(h.engine.client_macs(), vec![CLIENT]);
    assert_eq!(h.engine.stats().dup_kept, 1);
    let out = h.run_until(t + 300);
    assert_eq!(
        claims_to(&out, peer()),
        vec![t + 300],
        "our CLAIM is retried"
    );
    // The peer yields to it: INFO, and the client stays here.
    h.datagram(
        t + 310,
        me(),
        MESH_A,
        &info_from_peer(&[CLIENT_ADDR], [8; 4]),
    );
    assert!(!h.engine.claim_in_progress(&CLIENT));
    assert!(h.engine.holds_node_client_ip(&CLIENT));
}

#[test]
fn a_claim_back_after_a_handover_is_answered_once_the_client_is_verified() {
    // The peer (7, greater) handed the client over to our re-assert...
    let (mut h, t) = reasserted(rid(7));
    h.datagram(
        t + 10,
        me(),
        MESH_A,
        &info_from_peer(&[CLIENT_ADDR], [8; 4]),
    );
    // ...and claims it back 30 s later: it reaches the client too. No answer yet, but a
    // verification.
    let back = t + 30_000;
    let out = h.datagram(back, ncip(), MESH_A, &claim_from_peer(CLIENT, [9; 4]));
    assert!(intercoms(&out).is_empty(), "{out:?}");
    assert!(out.contains(&verify_ns(CLIENT_ADDR)), "{out:?}");
    assert_eq!(h.engine.stats().dup_claims_deferred, 1);
    // The client answers: this node is the smaller, keeps it, and claims it back in turn.
    advert(&mut h, back + 15);
    let out = h.run_until(back + 15);
    assert_eq!(claims_to(&out, peer()), vec![back + 15]);
    assert_eq!(h.engine.client_macs(), vec![CLIENT]);
    assert_eq!(h.engine.stats().dup_kept, 1);
}

#[test]
fn a_claim_back_for_a_client_that_really_left_is_handed_over_after_the_window() {
    let (mut h, t) = reasserted(rid(7));
    h.datagram(
        t + 10,
        me(),
        MESH_A,
        &info_from_peer(&[CLIENT_ADDR], [8; 4]),
    );
    // The client roamed to the peer: nothing answers here.
    let back = t + 30_000;
    h.datagram(back, ncip(), MESH_A, &claim_from_peer(CLIENT, [9; 4]));
    let out = h.run_until(back + ms_of(VERIFY_WINDOW) - 1);
    assert!(intercoms(&just_outputs(&out)).is_empty());
    let out = h.run_until(back + ms_of(VERIFY_WINDOW));
    let sent = intercoms(&just_outputs(&out));
    assert!(
        sent.iter().any(|(d, r)| *d == Destination::Unicast(peer())
            && matches!(&r.message, Message::Info(info) if info.mac == CLIENT)),
        "{sent:?}"
    );
    assert!(h.engine.client_macs().is_empty());
    let s = h.engine.stats();
    assert_eq!((s.dup_yielded, s.dup_kept, s.handovers_out), (0, 0, 1));
}

#[test]
fn a_new_duplicate_from_the_node_that_handed_over_ends_in_a_tie_break_both_ways() {
    for (peer_id, this_yields) in [(rid(3), true), (rid(7), false)] {
        let (mut h, t) = reasserted(peer_id);
        h.datagram(
            t + 10,
            me(),
            MESH_A,
            &info_from_peer(&[CLIENT_ADDR], [8; 4]),
        );
        // The peer withdraws, then announces the client afresh: it reaches it again.
        babel(
            &mut h,
            t + 1000,
            learned(Change::Flush, "d1", CLIENT_ADDR, peer_id, 96),
        );
        babel(
            &mut h,
            30_000,
            learned(Change::Add, "d2", CLIENT_ADDR, peer_id, 96),
        );
        // One action per MAC per minute: the next verification waits for t - 20 + 60 s.
        let first_verification = t - 20;
        let next = first_verification + ms_of(ACTION_INTERVAL);
        let out = h.run_until(next - 1);
        assert!(
            !out.iter().any(|(_, o)| *o == verify_ns(CLIENT_ADDR)),
            "{out:?}"
        );
        let out = h.run_until(next);
        assert!(
            out.iter()
                .any(|(at, o)| *at == next && *o == verify_ns(CLIENT_ADDR))
        );
        advert(&mut h, next + 10);
        let out = h.run_until(next + 10);
        let s = h.engine.stats();
        if this_yields {
            assert!(h.engine.client_macs().is_empty(), "{peer_id}");
            assert_eq!((s.dup_yielded, s.dup_kept), (1, 0));
            assert!(claims_to(&out, peer()).is_empty());
        } else {
            assert_eq!(h.engine.client_macs(), vec![CLIENT], "{peer_id}");
            assert_eq!((s.dup_yielded, s.dup_kept), (0, 1));
            assert_eq!(claims_to(&out, peer()), vec![next + 10]);
        }
    }
}

#[test]
fn a_persisting_duplicate_is_acted_on_at_most_once_a_minute() {
    // The peer never answers the re-assert (its daemon is gone, its routes stay): the CLAIM
    // is repeated once a minute, and this node never yields to it.
    let mut h = monitored(rid(3));
    duplicate_at(&mut h, 2000, rid(3));
    let mut verifications = Vec::new();
    let mut t = 2000;
    while t < 200_000 {
        let out = h.run_until(t + 1000);
        for (at, o) in &out {
            if *o == verify_ns(CLIENT_ADDR) {
                verifications.push(*at);
                advert(&mut h, *at + 10);
            }
        }
        t += 1000;
    }
    assert_eq!(verifications, vec![12_000, 72_000, 132_000, 192_000]);
    let s = h.engine.stats();
    assert_eq!((s.dup_reasserted, s.dup_yielded), (4, 0));
    assert_eq!(h.engine.client_macs(), vec![CLIENT]);
}

#[test]
fn the_stale_route_of_the_node_that_handed_the_client_over_is_left_to_expire() {
    let mut h = Harness::new();
    babel(&mut h, 0, BabelEvent::Connected { my_id: my_rid() });
    babel(
        &mut h,
        0,
        learned(Change::Add, "a0", &peer().to_string(), rid(3), 96),
    );
    // The client roams here from the peer: CLAIM, INFO.
    h.reachable(1000, CLIENT_ADDR);
    h.answer_lookup(1001, LookupAnswer::Route);
    h.datagram(1010, me(), MESH_A, &info_from_peer(&[CLIENT_ADDR], [1; 4]));
    assert!(h.engine.holds_node_client_ip(&CLIENT));
    // babeld 1.12.1 never withdraws the peer's route; ours appears beside it.
    babel(
        &mut h,
        1000,
        learned(Change::Add, "d1", CLIENT_ADDR, rid(3), 96),
    );
    babel(&mut h, 1020, xroute(Change::Add, CLIENT_ADDR));
    let out = h.run_until(100_000);
    assert!(
        !out.iter()
            .any(|(_, o)| matches!(o, Output::Solicit(_) | Output::Intercom { .. })),
        "{out:?}"
    );
    let s = h.engine.stats();
    assert_eq!(
        (s.dup_detected, s.dup_stale, s.dup_verifications),
        (1, 1, 0)
    );
    // It expires (metric 65535), as it does after 12-90 s.
    babel(
        &mut h,
        100_000,
        learned(Change::Change, "d1", CLIENT_ADDR, rid(3), 65535),
    );
    assert_eq!(h.engine.stats().dup_ended, 1);
}

#[test]
fn an_xroute_announced_at_65534_or_more_is_being_withdrawn_not_exported() {
    let mut h = monitored(rid(3));
    duplicate_at(&mut h, 2000, rid(3));
    assert_eq!(h.engine.stats().dup_detected, 1);
    // A graceful release demotes the route: babeld announces it at 65534 until it goes.
    let mut demoted = xroute(Change::Change, CLIENT_ADDR);
    if let BabelEvent::XRoute(x) = &mut demoted {
        x.metric = 65534;
    }
    babel(&mut h, 3000, demoted);
    assert_eq!(h.engine.stats().dup_ended, 1);
    assert!(
        !h.run_until(60_000)
            .iter()
            .any(|(_, o)| *o == verify_ns(CLIENT_ADDR))
    );
}

#[test]
fn a_duplicate_no_client_here_owns_is_only_logged_and_counted() {
    let mut h = monitored(rid(3));
    // A proto-158 route left behind by hand, and the peer's route for the same address.
    babel(&mut h, 2000, xroute(Change::Add, "2001:db8:1::77"));
    babel(
        &mut h,
        2000,
        learned(Change::Add, "d7", "2001:db8:1::77", rid(3), 96),
    );
    let out = h.run_until(100_000);
    assert!(!out.iter().any(|(_, o)| matches!(
        o,
        Output::Solicit(_)
            | Output::Intercom { .. }
            | Output::Kernel(KernelOp::DelHostRoute(_) | KernelOp::DemoteHostRoute { .. })
    )));
    let s = h.engine.stats();
    assert_eq!(
        (s.dup_detected, s.dup_unowned, s.dup_verifications),
        (1, 1, 0)
    );
}

#[test]
fn duplicates_of_an_ipv4_address_or_the_node_client_ip_belong_to_their_client() {
    for (addr, announced) in [
        ("198.51.100.55", "198.51.100.55"),
        (CLIENT_ADDR, &*ncip().to_string()),
    ] {
        let mut h = Harness::with_served_client(&[addr]);
        babel(&mut h, 1000, BabelEvent::Connected { my_id: my_rid() });
        babel(&mut h, 1000, xroute(Change::Add, announced));
        babel(
            &mut h,
            1000,
            learned(Change::Add, "a0", &peer().to_string(), rid(3), 96),
        );
        babel(
            &mut h,
            2000,
            learned(Change::Add, "d1", announced, rid(3), 96),
        );
        h.run_until(2000 + ms_of(GRACE) + ms_of(VERIFY_WINDOW));
        assert!(h.engine.client_macs().is_empty(), "{announced}");
        assert_eq!(h.engine.stats().dup_released, 1, "{announced}");
    }
}

#[test]
fn a_disconnect_clears_the_view_and_the_next_session_starts_the_grace_period_again() {
    let mut h = monitored(rid(3));
    duplicate_at(&mut h, 2000, rid(3));
    babel(&mut h, 5000, BabelEvent::Disconnected);
    let out = h.run_until(60_000);
    assert!(
        !out.iter().any(|(_, o)| matches!(o, Output::Solicit(_))),
        "{out:?}"
    );
    assert_eq!(h.engine.client_macs(), vec![CLIENT]);
    // Route lines without a session are not believed.
    duplicate_at(&mut h, 60_000, rid(3));
    assert!(h.run_until(120_000).is_empty());
    // A new session dumps everything again: the duplicate is new to it.
    babel(&mut h, 120_000, BabelEvent::Connected { my_id: my_rid() });
    babel(&mut h, 120_000, xroute(Change::Add, CLIENT_ADDR));
    babel(
        &mut h,
        120_000,
        learned(Change::Add, "a0", &peer().to_string(), rid(3), 96),
    );
    duplicate_at(&mut h, 120_000, rid(3));
    let out = h.run_until(120_000 + ms_of(GRACE));
    assert!(
        out.iter()
            .any(|(t, o)| *t == 130_000 && *o == verify_ns(CLIENT_ADDR))
    );
    let s = h.engine.stats();
    assert_eq!(
        (s.babel_connects, s.babel_disconnects, s.dup_detected),
        (2, 1, 2)
    );
}

#[test]
fn the_babel_view_is_bounded_and_irrelevant_routes_are_not_kept() {
    let mut h = monitored(rid(3));
    // Routes outside the client prefixes, node-client and node /64s, and non-host routes,
    // take no room.
    for (i, prefix) in ["2001:db8:2::/64", "2001:db8:9::1/128", "10.0.2.0/24"]
        .iter()
        .enumerate()
    {
        let prefix = Prefix::parse(prefix).unwrap();
        babel(
            &mut h,
            2000,
            BabelEvent::Route(Route {
                change: Change::Add,
                token: format!("e{i}"),
                prefix,
                source: Prefix::unspecified_like(&prefix.addr),
                installed: true,
                id: rid(3),
                metric: 96,
                refmetric: None,
                via: None,
                ifname: None,
            }),
        );
    }
    let max = l3roamd::engine::duplicates::MAX_ROUTES;
    for i in 0..max {
        let addr = Ipv6Addr::from(u128::from(ip("2001:db8:1::")) + 0x1_0000 + i as u128);
        babel(
            &mut h,
            2000,
            learned(
                Change::Add,
                &format!("f{i:x}"),
                &addr.to_string(),
                rid(3),
                96,
            ),
        );
    }
    // The peer's node IP took one slot: this one is one too many.
    assert_eq!(h.engine.stats().babel_routes_limit, 1);
    // A flush frees a slot.
    babel(
        &mut h,
        2000,
        learned(Change::Flush, "f0", "2001:db8:1::1:0", rid(3), 96),
    );
    duplicate_at(&mut h, 2000, rid(3));
    assert_eq!(h.engine.stats().babel_routes_limit, 1);
    assert_eq!(h.engine.stats().dup_detected, 1);
    let json = h.say("get_stats");
    assert!(
        json.contains("\"duplicates\": { \"detected\": 1,"),
        "{json}"
    );
    assert!(json.contains("\"babel_routes_limit\": 1"), "{json}");
}

#[test]
fn a_claim_from_the_other_node_while_verifying_is_answered_by_the_verification() {
    for (peer_id, present) in [(rid(3), true), (rid(7), true), (rid(3), false)] {
        let mut h = monitored(peer_id);
        duplicate_at(&mut h, 2000, peer_id);
        let checked = 2000 + ms_of(GRACE);
        h.run_until(checked);
        // Both nodes saw the duplicate; the peer's verification ended first.
        let out = h.datagram(
            checked + 3,
            ncip(),
            MESH_A,
            &claim_from_peer(CLIENT, [7; 4]),
        );
        assert!(intercoms(&out).is_empty(), "{out:?}");
        assert_eq!(h.engine.stats().dup_claims_deferred, 1);
        let t = if present {
            advert(&mut h, checked + 5);
            checked + 5
        } else {
            checked + ms_of(VERIFY_WINDOW)
        };
        let out = h.run_until(t);
        let sent = intercoms(&just_outputs(&out));
        let info = sent.iter().any(|(d, r)| {
            *d == Destination::Unicast(peer())
                && matches!(&r.message, Message::Info(i) if i.mac == CLIENT)
        });
        let claim = !claims_to(&out, peer()).is_empty();
        let s = h.engine.stats();
        match (peer_id > my_rid(), present) {
            // The peer is greater: this node keeps the client and claims it in turn.
            (true, true) => {
                assert!(claim && !info, "{sent:?}");
                assert_eq!(s.dup_kept, 1);
                assert_eq!(h.engine.client_macs(), vec![CLIENT]);
            }
            // This node is greater: it yields, with the INFO the claimer waits for.
            (false, true) => {
                assert!(info && !claim, "{sent:?}");
                assert_eq!(s.dup_yielded, 1);
                assert!(h.engine.client_macs().is_empty());
            }
            // Not here at all: handed over as any claimed client.
            (_, false) => {
                assert!(info && !claim, "{sent:?}");
                assert_eq!((s.dup_yielded, s.dup_kept), (0, 0));
                assert!(h.engine.client_macs().is_empty());
            }
        }
    }
}

#[test]
fn a_claim_from_a_node_announcing_the_client_beside_us_is_verified_first() {
    let mut h = monitored(rid(7));
    duplicate_at(&mut h, 2000, rid(7));
    // Before the grace period is over, the peer claims: it reaches the client too.
    let out = h.datagram(5000, ncip(), MESH_A, &claim_from_peer(CLIENT, [7; 4]));
    assert!(intercoms(&out).is_empty(), "{out:?}");
    assert!(out.contains(&verify_ns(CLIENT_ADDR)), "{out:?}");
    advert(&mut h, 5005);
    let out = h.run_until(5005);
    assert_eq!(claims_to(&out, peer()), vec![5005], "the smaller keeps it");
    // Without such a duplicate a CLAIM is answered at once, as always.
    let mut h = monitored(rid(7));
    let out = h.datagram(5000, ncip(), MESH_A, &claim_from_peer(CLIENT, [7; 4]));
    assert!(
        intercoms(&out)
            .iter()
            .any(|(_, r)| matches!(&r.message, Message::Info(_)))
    );
    assert!(h.engine.client_macs().is_empty());
}

#[test]
fn a_duplicate_the_flap_hold_made_is_left_to_the_hold_and_a_claim_after_it_answered_at_once() {
    let mut h = monitored(rid(7));
    // Six moves by 3150: a flap, held until 33 150. The client ends up here.
    for (i, t) in [1000, 2000, 3000].into_iter().enumerate() {
        bounce(&mut h, t, 20 + i as u8);
    }
    assert_eq!(h.engine.stats().flaps_detected, 1);
    // The peer, damped too, serves what it learns itself: it announces the client beside us,
    // long after its hand-over (no stale route of it).
    duplicate_at(&mut h, 14_000, rid(7));
    let during = h.run_until(33_149);
    assert!(
        !during.iter().any(|(_, o)| *o == verify_ns(CLIENT_ADDR)),
        "no verification during the hold: {during:?}"
    );
    assert!(claims_to(&during, peer()).is_empty());
    assert_eq!(h.engine.stats().dup_verifications, 0);
    // Its hold over, the peer found the client there and claims it: handed over at once.
    let out = h.datagram(33_200, ncip(), MESH_A, &claim_from_peer(CLIENT, [30; 4]));
    assert!(
        intercoms(&out)
            .iter()
            .any(|(_, r)| matches!(&r.message, Message::Info(_))),
        "{out:?}"
    );
    assert!(h.engine.client_macs().is_empty());
    assert_eq!(h.engine.stats().dup_claims_deferred, 0);
}

// ---------------------------------------------------------------------------------------------
// Limits (README "Limits") and hostile intercom input

#[test]
fn the_harness_command_line_is_the_harness_node() {
    assert_eq!(
        Harness::with_flags(&[]).engine.stats(),
        Harness::new().engine.stats()
    );
    let words: Vec<String> = HARNESS_ARGS.map(String::from).to_vec();
    assert_eq!(
        l3roamd::config::parse(&words),
        Ok(l3roamd::config::Action::Run(default_config()))
    );
}

/// A client learned from a reachable neighbour entry.
fn neighbour_of(mac: MacAddr, addr: &str) -> Input {
    Input::Neighbour(Neighbour {
        ifindex: CLIENT_IF,
        addr: addr.parse().unwrap(),
        mac: Some(mac),
        state: NeighState::Reachable,
        deleted: false,
    })
}

fn nth_mac(i: u32) -> MacAddr {
    MacAddr([0x02, 0x77, (i >> 16) as u8, (i >> 8) as u8, i as u8, 1])
}

#[test]
fn max_clients_is_the_bound_that_is_hit_and_counted() {
    let mut h = Harness::with_flags(&["--max-clients", "3"]);
    for i in 0..5u32 {
        h.input(
            10,
            neighbour_of(nth_mac(i), &format!("2001:db8:1::{:x}", 0x100 + i)),
        );
    }
    assert_eq!(
        h.engine.client_macs(),
        vec![nth_mac(0), nth_mac(1), nth_mac(2)]
    );
    assert_eq!(h.engine.stats().limit_clients, 2);
    assert!(h.say("get_stats").contains(r#""limits": { "clients": 2, "#));
    // One goes, and the next newcomer takes its place.
    h.input(
        20,
        Input::Station {
            ifindex: CLIENT_IF,
            mac: nth_mac(3),
            associated: true,
        },
    );
    assert_eq!(h.engine.stats().limit_clients, 3);
    assert_eq!(h.say("del_address 2001:db8:1::100 02:77:00:00:00:01"), "OK");
    h.input(30, neighbour_of(nth_mac(3), "2001:db8:1::103"));
    assert!(h.engine.client_macs().contains(&nth_mac(3)));
    assert_eq!(h.engine.stats().limit_clients, 3);
    // The default is far above.
    let mut h = Harness::new();
    for i in 0..5u32 {
        h.input(
            10,
            neighbour_of(nth_mac(i), &format!("2001:db8:1::{:x}", 0x100 + i)),
        );
    }
    assert_eq!(
        (h.engine.client_macs().len(), h.engine.stats().limit_clients),
        (5, 0)
    );
}

#[test]
fn max_addresses_is_the_bound_per_client_that_is_hit_and_counted() {
    let mut h = Harness::with_flags(&["--max-addresses", "2"]);
    for addr in [
        "2001:db8:1::1:1",
        "198.51.100.7",
        "2001:db8:1::1:2",
        "2001:db8:1::1:3",
    ] {
        h.input(10, neighbour_of(CLIENT, addr));
    }
    let addresses: Vec<Ipv6Addr> = h
        .engine
        .client_addresses(&CLIENT)
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    assert_eq!(
        addresses,
        vec![ip("2001:db8:1::1:1"), ip("::ffff:198.51.100.7")]
    );
    assert_eq!(h.engine.stats().limit_addresses, 2);
    let other = nth_mac(9);
    h.input(20, neighbour_of(other, "2001:db8:1::9:1"));
    assert!(h.say("get_stats").contains(r#""addresses": 2, "#));
    // Per client: another client has its own two.
    assert_eq!(h.engine.client_addresses(&other).len(), 1);
    h.input(21, neighbour_of(other, "2001:db8:1::9:2"));
    assert_eq!(h.engine.client_addresses(&other).len(), 2);
    assert_eq!(h.engine.stats().limit_addresses, 2);
}

#[test]
fn max_queued_packets_bounds_the_waiting_packets_in_all() {
    let mut h = Harness::with_flags(&["--max-queued-packets", "5"]);
    for i in 0..7 {
        let dst = format!("2001:db8:1::3:{}", i % 3);
        h.input(0, Input::TunPacket(udp6("2001:db8:2::2", &dst, 0)));
    }
    let stats = h.engine.stats();
    assert_eq!(
        (
            stats.limit_queue_total,
            stats.limit_queue_packets,
            stats.limit_queue_destinations,
            stats.limit_queue_bytes
        ),
        (2, 0, 0, 0)
    );
    assert!(h.say("get_stats").contains(r#""queued_packets": 2, "#));
    // Destination :3:0 got packets 0 and 3, :3:1 got 1 and 4, :3:2 got 2: released, they
    // make room again.
    let out = h.input(10, babel_route("2001:db8:1::3:0", 1024));
    assert_eq!(out.len(), 2);
    for _ in 0..3 {
        h.input(
            20,
            Input::TunPacket(udp6("2001:db8:2::2", "2001:db8:1::3:5", 0)),
        );
    }
    assert_eq!(h.engine.stats().limit_queue_total, 3);
    // Expired packets make room too.
    h.run_until(6000);
    h.input(
        6000,
        Input::TunPacket(udp6("2001:db8:2::2", "2001:db8:1::3:6", 0)),
    );
    assert_eq!(h.engine.stats().limit_queue_total, 3);
}

fn seek_from_peer(addresses: &[Ipv6Addr], ttl: u8, nonce: [u8; 4]) -> Repr {
    Repr {
        header: Header {
            ttl,
            nonce,
            sender: peer(),
        },
        message: Message::Seek {
            addresses: addresses.to_vec(),
        },
    }
}

fn solicited(outputs: &[Output]) -> Vec<IpAddr> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Solicit(Solicitation::Neighbour { target, .. }) => Some(IpAddr::V6(*target)),
            Output::Solicit(Solicitation::Arp { target, .. }) => Some(IpAddr::V4(*target)),
            _ => None,
        })
        .collect()
}

#[test]
fn received_seeks_solicit_at_most_20_addresses_per_second_one_per_address() {
    let mut h = Harness::new();
    let addr = |i: u32| Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0x5ee, i as u16);
    let mut out = Vec::new();
    for i in 0..30u32 {
        let seek = seek_from_peer(&[addr(i)], 255, (i + 1).to_be_bytes());
        out.extend(h.datagram(0, intercom::GROUP, MESH_A, &seek));
    }
    let first: Vec<IpAddr> = (0..20).map(|i| IpAddr::V6(addr(i))).collect();
    assert_eq!(solicited(&out), first);
    assert_eq!(h.engine.stats().limit_seek_solicitations, 10);
    // Every SEEK is still flooded on: the budget is for the client link.
    assert_eq!(
        multicast_times(&out.into_iter().map(|o| (0, o)).collect::<Vec<_>>(), MESH_A).len(),
        30
    );
    // One SEEK with many addresses spends the budget as many SEEKs do.
    let many: Vec<Ipv6Addr> = (100..130).map(addr).collect();
    let out = h.datagram(1000, me(), MESH_A, &seek_from_peer(&many, 1, [7; 4]));
    assert_eq!(solicited(&out).len(), 20);
    assert_eq!(h.engine.stats().limit_seek_solicitations, 20);
    // The same address again within the second: already asked.
    let out = h.datagram(1500, me(), MESH_A, &seek_from_peer(&[addr(100)], 1, [8; 4]));
    assert!(solicited(&out).is_empty());
    assert_eq!(h.engine.stats().limit_seek_solicitations, 21);
    // A second later the budget is back.
    let out = h.datagram(2000, me(), MESH_A, &seek_from_peer(&[addr(100)], 1, [9; 4]));
    assert_eq!(solicited(&out), vec![IpAddr::V6(addr(100))]);
    assert!(h.say("get_stats").contains(r#""seek_solicitations": 21, "#));

    // A node without a client link solicits nothing, and spends no budget on it.
    let mut cfg = default_config();
    cfg.client_if = None;
    let mut h = Harness::unsynced_with(cfg);
    h.input(0, Input::DumpDone);
    for i in 0..30u32 {
        let seek = seek_from_peer(&[addr(i)], 255, (i + 1).to_be_bytes());
        let out = h.datagram(0, intercom::GROUP, MESH_A, &seek);
        assert!(solicited(&out).is_empty());
    }
    assert_eq!(h.engine.stats().limit_seek_solicitations, 0);
}

#[test]
fn every_malformed_class_is_dropped_and_counted_under_its_reason() {
    let mut h = Harness::new();
    let claim = |nonce: u8| claim_from_peer(CLIENT, [nonce; 4]).to_bytes();
    let with = |mut bytes: Vec<u8>, at: usize, value: u8| {
        bytes[at] = value;
        bytes
    };
    let appended = |mut bytes: Vec<u8>, tail: &[u8]| {
        bytes.extend_from_slice(tail);
        bytes
    };
    let oversized = seek_from_peer(&vec![ip("2001:db8:1::1"); 75], 255, [3; 4]).to_bytes();
    assert_eq!(oversized.len(), 1524);
    let conflicting = {
        let mut b = claim(4)[..24].to_vec();
        b[2] = 2;
        b.extend_from_slice(&[1, 8, 2, 0, 0, 0, 0, 1, 1, 8, 2, 0, 0, 0, 0, 2]);
        b
    };
    let zero_ttl = seek_from_peer(&[ip("2001:db8:1::77")], 0, [5; 4]);
    let multicast_sender = Repr {
        header: Header {
            sender: ip("ff02::1"),
            ..claim_from_peer(CLIENT, [6; 4]).header
        },
        ..claim_from_peer(CLIENT, [6; 4])
    };
    let unspecified_sender = Repr {
        header: Header {
            sender: Ipv6Addr::UNSPECIFIED,
            ttl: 255,
            ..zero_ttl.header
        },
        message: zero_ttl.message.clone(),
    };
    let mut own = claim_from_peer(CLIENT, [7; 4]);
    own.header.sender = me();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", claim(1)[..23].to_vec()),
        ("bad_version", with(claim(1), 0, 2)),
        ("oversized", oversized),
        ("unknown_type", with(claim(1), 2, 9)),
        ("truncated_tlv", appended(claim(1), &[0])),
        ("zero_length_tlv", with(claim(1), 25, 0)),
        ("bad_tlv_length", with(claim(1), 25, 9)),
        ("unknown_tlv", with(claim(1), 24, 1)),
        ("duplicate_tlv", appended(claim(1), &claim(1)[24..])),
        ("missing_tlv", claim(1)[..24].to_vec()),
        ("conflicting_mac", conflicting),
        ("zero_ttl", zero_ttl.to_bytes()),
        ("bad_sender", multicast_sender.to_bytes()),
        ("bad_sender", unspecified_sender.to_bytes()),
        ("own", own.to_bytes()),
    ];
    for (reason, bytes) in &cases {
        for dst in [intercom::GROUP, me()] {
            let out = h.raw_datagram(10, dst, MESH_A, bytes.clone());
            assert!(out.is_empty(), "{reason}: {out:?}");
        }
    }
    // A replay: the second copy of a CLAIM (for a client not here) is a duplicate.
    let replayed = claim_from_peer(nth_mac(1), [8; 4]);
    for _ in 0..2 {
        assert!(h.datagram(20, me(), MESH_A, &replayed).is_empty());
    }
    // Not addressed to anything of ours.
    assert!(
        h.datagram(20, ip("2001:db8:ff::99"), MESH_A, &replayed)
            .is_empty()
    );
    let reply = h.say("get_stats");
    let group = reply
        .split(r#""intercom_dropped": { "#)
        .nth(1)
        .and_then(|rest| rest.split(" }").next())
        .unwrap_or_else(|| panic!("{reply}"));
    assert_eq!(
        group,
        "\"malformed\": 28, \"truncated\": 2, \"bad_version\": 2, \"oversized\": 2, \
         \"unknown_type\": 2, \"truncated_tlv\": 2, \"zero_length_tlv\": 2, \
         \"bad_tlv_length\": 2, \"unknown_tlv\": 2, \"duplicate_tlv\": 2, \"missing_tlv\": 2, \
         \"conflicting_mac\": 2, \"zero_ttl\": 2, \"bad_sender\": 4, \"other\": 0, \
         \"not_for_us\": 1, \"own\": 2, \"duplicate\": 1, \"claim_for_unknown_client\": 1, \
         \"unexpected_info\": 0, \"unexpected_ack\": 0"
    );
    assert_json_object_of_numbers(&reply);
}

#[test]
fn a_flood_of_new_datagrams_evicts_from_the_duplicate_cache_and_that_is_counted() {
    let mut h = Harness::new();
    let claims: Vec<Repr> = (0..1025u32)
        .map(|i| claim_from_peer(nth_mac(i), i.to_be_bytes()))
        .collect();
    for claim in &claims {
        h.datagram(0, me(), MESH_A, claim);
    }
    assert_eq!(h.engine.stats().limit_duplicate_cache, 1);
    assert_eq!(h.engine.stats().intercom_duplicates, 0);
    // The first was pushed out: its replay is new again; the last is still known.
    h.datagram(1, me(), MESH_A, &claims[1024]);
    assert_eq!(h.engine.stats().intercom_duplicates, 1);
    h.datagram(1, me(), MESH_A, &claims[0]);
    assert_eq!(h.engine.stats().limit_duplicate_cache, 2);
    assert!(h.say("get_stats").contains(r#""duplicate_cache": 2, "#));
}

#[test]
fn a_control_line_too_long_is_counted_as_a_limit() {
    let mut h = Harness::new();
    let out = h.input(
        0,
        Input::ControlRejected {
            conn: 7,
            error: CommandError::Error(ErrorReason::LineTooLong),
        },
    );
    assert_eq!(
        out,
        vec![Output::ControlReply {
            conn: 7,
            bytes: b"ERROR: line too long\n".to_vec()
        }]
    );
    h.input(
        0,
        Input::ControlRejected {
            conn: 8,
            error: CommandError::Error(ErrorReason::UnknownCommand),
        },
    );
    let reply = h.say("get_stats");
    assert!(reply.contains(r#""control_line": 1 }"#), "{reply}");
    assert!(
        reply.contains(r#""control": { "errors": 2, "timeouts": 0 }"#),
        "{reply}"
    );
}

#[test]
fn a_kernel_view_beyond_its_bound_repairs_nothing_and_is_counted() {
    let mut h = Harness::unsynced();
    let n = l3roamd::engine::reconcile::MAX_VIEWED as u32 + 1;
    for i in 0..n {
        let dst = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, (i >> 16) as u16, i as u16);
        h.input(0, proto158(&dst.to_string(), CLIENT_IF, false));
    }
    let out = h.input(0, Input::DumpDone);
    assert!(
        kernel_ops(&out)
            .iter()
            .all(|op| !matches!(op, KernelOp::DelHostRoute(_)))
    );
    assert_eq!(h.engine.stats().limit_kernel_view, 1);
    assert!(h.say("get_stats").contains(r#""kernel_view": 1, "#));
}

/// After lost notifications the engine's idea of who has an address may be stale: its
/// neighbour writes wait for the re-read, and a probe of an address the kernel now holds
/// under another MAC is dropped (it would overwrite the entry with the old MAC and have the
/// kernel fail it), while one of an address the kernel no longer holds goes out.
#[test]
fn neighbour_writes_wait_for_the_re_read_after_an_overrun() {
    let other = MacAddr([0x02, 0, 0, 0, 0x0e, 0x01]);
    let mut h = Harness::new();
    h.reachable(0, "2001:db8:1::55");
    h.reachable(0, "2001:db8:1::56");
    let probes = |out: &[Output]| -> Vec<IpAddr> {
        kernel_ops(out)
            .into_iter()
            .filter_map(|op| match op {
                KernelOp::ProbeNeighbour { addr, mac, .. } if mac == CLIENT => Some(addr),
                _ => None,
            })
            .collect()
    };
    h.input(10, Input::NetlinkOverrun);
    let gone = h.input(
        20,
        Input::Neighbour(Neighbour {
            ifindex: CLIENT_IF,
            addr: "2001:db8:1::55".parse().unwrap(),
            mac: Some(CLIENT),
            state: NeighState::None,
            deleted: true,
        }),
    );
    assert!(probes(&gone).is_empty(), "held while the view is stale");
    h.input(30, Input::DumpStarted);
    h.input(
        30,
        Input::Neighbour(Neighbour {
            ifindex: CLIENT_IF,
            addr: "2001:db8:1::56".parse().unwrap(),
            mac: Some(other),
            state: NeighState::Stale,
            deleted: false,
        }),
    );
    let done = h.input(40, Input::DumpDone);
    assert_eq!(
        probes(&done),
        ["2001:db8:1::55".parse::<IpAddr>().unwrap()],
        "::56 is another MAC's now"
    );
}

/// Thousands of clients arriving or leaving at once can fill the request queue: a refused
/// install stays intended, the kernel is re-read within 2 s rather than 300, and the repair
/// after it installs what is missing and removes what a refused removal left behind.
#[test]
fn refused_kernel_operations_are_completed_by_a_re_read_two_seconds_later() {
    let mut h = Harness::with_served_client(&["2001:db8:1::55"]);
    h.drain();
    // A refused probe is a question not asked: no re-read would ask it again.
    let due = h.engine.poll_timeout();
    h.input(
        500,
        Input::KernelResult {
            op: KernelOp::ProbeNeighbour {
                ifindex: CLIENT_IF,
                addr: "2001:db8:1::55".parse().unwrap(),
                mac: CLIENT,
            },
            result: Err(Errno::ENOBUFS),
        },
    );
    assert_eq!(h.engine.poll_timeout(), due);
    let route = host_route("2001:db8:1::55", CLIENT_IF);
    let refused = h.input(
        1000,
        Input::KernelResult {
            op: KernelOp::AddHostRoute(route),
            result: Err(Errno::ENOBUFS),
        },
    );
    assert!(kernel_ops(&refused).is_empty(), "{refused:?}");
    assert!(h.engine.installed_routes().any(|r| *r == route));
    assert_eq!(h.engine.poll_timeout(), Some(ms(3000)));
    assert_eq!(
        h.run_until(3000),
        vec![(3000, Output::Kernel(KernelOp::Dump))]
    );

    // A refusal while the batch runs is for the next re-read, again 2 s after this one.
    let orphan_ncip = ip("fec0::99");
    let mut out = h.input(3010, Input::DumpStarted);
    for input in harness_links().into_iter().chain([
        // A removal refused earlier: the route and node-client IP of a client long gone.
        proto158("2001:db8:1::99", CLIENT_IF, false),
        on_loopback(ncip()),
        on_loopback(orphan_ncip),
        Input::Neighbour(Neighbour {
            ifindex: CLIENT_IF,
            addr: "2001:db8:1::55".parse().unwrap(),
            mac: Some(CLIENT),
            state: NeighState::Reachable,
            deleted: false,
        }),
        Input::KernelResult {
            op: KernelOp::DelHostRoute(host_route("2001:db8:1::77", CLIENT_IF)),
            result: Err(Errno::ENOBUFS),
        },
        Input::DumpDone,
    ]) {
        out.extend(h.input(3050, input));
    }
    let ops = kernel_ops(&out);
    for expected in [
        KernelOp::AddHostRoute(route),
        KernelOp::DelHostRoute(host_route("2001:db8:1::99", CLIENT_IF)),
        KernelOp::DelNodeClientIp(orphan_ncip),
    ] {
        assert!(ops.contains(&expected), "{expected:?} missing from {ops:?}");
    }
    assert!(!ops.contains(&KernelOp::DelNodeClientIp(ncip())), "{ops:?}");
    assert_eq!(h.engine.poll_timeout(), Some(ms(5050)));

    // Nothing refused during the next batch: back to the 300 s rhythm.
    h.run_until(5050);
    h.input(5060, Input::DumpStarted);
    for input in harness_links().into_iter().chain([
        proto158("2001:db8:1::55", CLIENT_IF, false),
        on_loopback(ncip()),
        Input::Neighbour(Neighbour {
            ifindex: CLIENT_IF,
            addr: "2001:db8:1::55".parse().unwrap(),
            mac: Some(CLIENT),
            state: NeighState::Reachable,
            deleted: false,
        }),
        Input::DumpDone,
    ]) {
        h.input(5100, input);
    }
    let due = h.engine.poll_timeout().unwrap().as_millis();
    assert!((5100 + 225_000..=5100 + 375_000).contains(&due), "{due}");
}
