//! Whatever arrives, in whatever order, the engine neither panics nor grows without bound,
//! and never emits what deployed C peers choke on (intercom.md §11).

use l3roamd::config::Config;
use l3roamd::engine::control::parse_command;
use l3roamd::engine::*;
use l3roamd::prefix::IpPrefix;
use l3roamd::time::Instant;
use l3roamd::wire::MacAddr;
use l3roamd::wire::babel::{self, Change, Prefix, RouterId};
use l3roamd::wire::intercom::{self, Header, Info, Message, Repr};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const ME: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x5523, 0, 0, 0, 0, 0, 0xa);

fn mac() -> impl Strategy<Value = MacAddr> {
    // A handful of MACs, so that events about the same client meet; plus the odd ones.
    prop_oneof![
        (0u8..6).prop_map(|i| MacAddr([0x02, 0x11, 0x22, 0x33, 0x44, i])),
        Just(MacAddr::ZERO),
        Just(MacAddr::BROADCAST),
        any::<[u8; 6]>().prop_map(MacAddr),
    ]
}

fn addr() -> impl Strategy<Value = Ipv6Addr> {
    prop_oneof![
        (0u16..8).prop_map(|i| Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, i)),
        (0u8..4).prop_map(|i| Ipv4Addr::new(198, 51, 100, i).to_ipv6_mapped()),
        (0u8..4).prop_map(|i| MacAddr([0x02, 0x11, 0x22, 0x33, 0x44, i]).eui64_link_local()),
        Just(Ipv6Addr::UNSPECIFIED),
        any::<u128>().prop_map(Ipv6Addr::from),
    ]
}

fn kernel_addr() -> impl Strategy<Value = IpAddr> {
    addr().prop_map(|a| match a.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(a),
    })
}

fn sender() -> impl Strategy<Value = Ipv6Addr> {
    prop_oneof![
        Just(ME),
        (1u16..4).prop_map(|i| Ipv6Addr::new(0xfd00, 0x5523, 0, 0, 0, 0, 0, i))
    ]
}

fn repr() -> impl Strategy<Value = Repr> {
    let header = (any::<u8>(), any::<[u8; 4]>(), sender())
        .prop_map(|(ttl, nonce, sender)| Header { ttl, nonce, sender });
    let message = prop_oneof![
        prop::collection::vec(addr(), 1..4).prop_map(|addresses| Message::Seek { addresses }),
        mac().prop_map(|mac| Message::Claim { mac }),
        mac().prop_map(|mac| Message::Ack { mac }),
        (
            mac(),
            any::<u16>(),
            addr(),
            prop::collection::vec(addr(), 0..20)
        )
            .prop_map(|(mac, lease, plat, addresses)| Message::Info(Info {
                mac,
                lease,
                plat,
                addresses
            })),
    ];
    (header, message).prop_map(|(header, message)| Repr { header, message })
}

fn neigh_state() -> impl Strategy<Value = NeighState> {
    prop_oneof![
        Just(NeighState::Reachable),
        Just(NeighState::Probe),
        Just(NeighState::Failed),
        Just(NeighState::Stale),
        Just(NeighState::NoArp),
        Just(NeighState::Incomplete),
    ]
}

/// babeld's monitor stream about the same few addresses, node-client IPs and node IPs, from
/// this node's router-id (0) and two others.
fn babel_event() -> impl Strategy<Value = BabelEvent> {
    let id = (0u8..3).prop_map(|i| RouterId([2, 0, 0, 0xff, 0xfe, 0xff, 0, i]));
    // The addresses the other strategies use most, so that X and R meet.
    let host = prop_oneof![
        (0u16..4).prop_map(|i| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, i))),
        (0u8..2).prop_map(|i| IpAddr::V4(Ipv4Addr::new(198, 51, 100, i))),
        (0u8..6).prop_map(|i| IpAddr::V6(
            MacAddr([0x02, 0x11, 0x22, 0x33, 0x44, i]).node_client_ip(&"fec0::".parse().unwrap())
        )),
        (1u16..4).prop_map(|i| IpAddr::V6(Ipv6Addr::new(0xfd00, 0x5523, 0, 0, 0, 0, 0, i))),
        kernel_addr(),
    ];
    let prefix = host.prop_map(|addr| Prefix {
        addr,
        len: if addr.is_ipv4() { 32 } else { 128 },
    });
    let change = prop_oneof![Just(Change::Add), Just(Change::Change), Just(Change::Flush)];
    prop_oneof![
        1 => id.clone().prop_map(|my_id| BabelEvent::Connected { my_id }),
        1 => Just(BabelEvent::Disconnected),
        10 => (change.clone(), prefix.clone()).prop_map(|(change, prefix)| {
            BabelEvent::XRoute(babel::XRoute {
                change,
                prefix,
                source: Prefix::unspecified_like(&prefix.addr),
                metric: 0,
            })
        }),
        20 => (change, 0u8..12, prefix, id, prop_oneof![Just(96u16), Just(65535)]).prop_map(
            |(change, token, prefix, id, metric)| BabelEvent::Route(babel::Route {
                change,
                token: format!("{token:x}"),
                prefix,
                source: Prefix::unspecified_like(&prefix.addr),
                installed: false,
                id,
                metric,
                refmetric: None,
                via: None,
                ifname: None,
            })
        ),
    ]
}

fn input() -> impl Strategy<Value = Input> {
    let ifindex = prop_oneof![Just(2u32), Just(3u32), Just(9u32)];
    let dst = prop_oneof![
        Just(intercom::GROUP),
        Just(ME),
        mac().prop_map(|m| m.node_client_ip(&"fec0::".parse().unwrap()))
    ];
    prop_oneof![
        (dst.clone(), ifindex.clone(), repr()).prop_map(|(dst, ifindex, r)| Input::Intercom(
            Datagram {
                src: ME,
                dst,
                ifindex,
                bytes: r.to_bytes()
            }
        )),
        (
            dst,
            ifindex.clone(),
            prop::collection::vec(any::<u8>(), 0..320)
        )
            .prop_map(|(dst, ifindex, bytes)| Input::Intercom(Datagram {
                src: ME,
                dst,
                ifindex,
                bytes
            })),
        (
            ifindex.clone(),
            kernel_addr(),
            prop::option::of(mac()),
            neigh_state(),
            any::<bool>()
        )
            .prop_map(
                |(ifindex, addr, mac, state, deleted)| Input::Neighbour(Neighbour {
                    ifindex,
                    addr,
                    mac,
                    state,
                    deleted
                })
            ),
        (ifindex.clone(), mac(), any::<bool>()).prop_map(|(ifindex, mac, associated)| {
            Input::Station {
                ifindex,
                mac,
                associated,
            }
        }),
        (ifindex.clone(), addr(), mac(), addr()).prop_map(|(ifindex, src, src_mac, target)| {
            Input::Snooped(Snooped::Solicit {
                ifindex,
                src,
                src_mac,
                target,
            })
        }),
        (ifindex.clone(), addr(), mac()).prop_map(|(ifindex, target, mac)| Input::Snooped(
            Snooped::Advert {
                ifindex,
                target,
                mac
            }
        )),
        (ifindex, mac(), any::<[u8; 4]>()).prop_map(|(ifindex, sender_mac, ip)| Input::Snooped(
            Snooped::Arp {
                ifindex,
                reply: true,
                sender_mac,
                sender_ip: ip.into()
            }
        )),
        (
            mac(),
            prop_oneof![
                Just(LookupAnswer::NoRoute),
                Just(LookupAnswer::Route),
                Just(LookupAnswer::Local)
            ]
        )
            .prop_map(|(mac, answer)| Input::RouteLookup {
                token: LookupToken::ClaimDecision(mac),
                addr: mac.node_client_ip(&"fec0::".parse().unwrap()),
                answer
            }),
        (addr(), 0u32..1000).prop_map(|(dst, n)| {
            let mut p = vec![0x60, 0, 0, 0, 0, 0, 17, 64];
            p.extend_from_slice(&[0; 16]);
            p.extend_from_slice(&dst.octets());
            p.extend_from_slice(&n.to_be_bytes());
            Input::TunPacket(p)
        }),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(Input::TunPacket),
        (
            kernel_addr(),
            prop_oneof![Just(RouteKind::Unicast), Just(RouteKind::Unreachable)],
            any::<u32>(),
            any::<bool>()
        )
            .prop_map(|(dst, kind, metric, deleted)| Input::Route(RouteEvent {
                dst,
                prefix_len: if dst.is_ipv4() { 32 } else { 128 },
                table: 254,
                protocol: 42,
                kind,
                metric,
                ifindex: Some(2),
                deleted
            })),
        (kernel_addr(), any::<i32>()).prop_map(|(dst, errno)| Input::KernelResult {
            op: KernelOp::AddHostRoute(HostRoute {
                dst,
                table: 254,
                ifindex: 3
            }),
            result: Err(Errno(errno))
        }),
        babel_event().prop_map(Input::Babel),
        babel_event().prop_map(Input::Babel),
        babel_event().prop_map(Input::Babel),
        babel_event().prop_map(Input::Babel),
        babel_event().prop_map(Input::Babel),
        // Lost notifications and the re-read that follows, in any order with the rest.
        Just(Input::NetlinkOverrun),
        Just(Input::DumpStarted),
        Just(Input::DumpDone),
        addr().prop_map(|dst| Input::IntercomSendFailed {
            dst,
            errno: Errno::ENETUNREACH
        }),
        prop::sample::select(vec![
            "get_clients",
            "get_prefixes",
            "get_meshifs",
            "add_address 2001:db8:1::7 02:11:22:33:44:01",
            "del_address 2001:db8:1::7 02:11:22:33:44:01",
            "add_prefix 10.0.0.0/8",
            "del_prefix 2001:db8:1::/64",
            "add_meshif mesh7",
            "del_meshif mesh0",
            "probe 2001:db8:1::7 02:11:22:33:44:01",
            "has_route fec0::1"
        ])
        .prop_map(|line| Input::Control {
            conn: 1,
            command: parse_command(line.as_bytes()).unwrap()
        }),
    ]
}

fn engine() -> Engine {
    let prefix = IpPrefix::parse("2001:db8:1::/64").unwrap().prefix;
    let mut cfg = Config::new(ME, vec![prefix]);
    cfg.client_if = Some("local-node".into());
    cfg.mesh_ifs = vec!["mesh0".into()];
    cfg.client_prefixes
        .push(IpPrefix::parse("198.51.100.0/24").unwrap().prefix);
    let mut engine = Engine::with_seed(cfg, 7, Instant::ZERO);
    for (ifindex, name) in [(2, "mesh0"), (3, "local-node")] {
        let link = Link {
            ifindex,
            name: name.into(),
            up: true,
            mac: Some(MacAddr([2, 0, 0, 0, 0, ifindex as u8])),
            master: None,
        };
        engine.handle_input(Instant::ZERO, Input::Link(link));
    }
    engine.handle_input(Instant::ZERO, Input::DumpDone);
    // A babeld session from the start; the stream may end it and start others.
    let my_id = RouterId([2, 0, 0, 0xff, 0xfe, 0xff, 0, 0]);
    engine.handle_input(Instant::ZERO, Input::Babel(BabelEvent::Connected { my_id }));
    engine
}

/// Checks one output against the hazards of intercom.md §11.
fn check_output(engine: &Engine, output: &Output) {
    let Output::Intercom { dst, bytes } = output else {
        return;
    };
    let repr = Repr::parse(bytes).expect("only well-formed intercom packets go out");
    assert!(repr.check_sendable().is_ok(), "{repr:?}");
    assert!(bytes.len() <= intercom::MAX_DATAGRAM);
    assert!(repr.header.ttl > 0);
    assert_eq!(bytes[0], 0, "version 0");
    match (&repr.message, dst) {
        (Message::Seek { .. }, Destination::Multicast { .. }) => {}
        (Message::Seek { .. }, _) => panic!("SEEK by unicast"),
        (_, Destination::Multicast { .. }) => panic!("multicast CLAIM/INFO/ACK: {repr:?}"),
        (Message::Claim { mac }, _) => {
            assert_eq!(repr.header.ttl, 1);
            assert!(
                engine.client_macs().contains(mac),
                "CLAIM for {mac}, not a local client"
            );
        }
        (Message::Info(info), _) => {
            assert!(info.addresses.len() <= intercom::MAX_ADDRESSES_PER_TLV)
        }
        (Message::Ack { .. }, _) => assert_eq!(repr.header.ttl, 1),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn any_input_sequence_is_survived_within_bounds(steps in prop::collection::vec((0u64..20_000, input()), 1..150)) {
        let mut engine = engine();
        let mut now = 0;
        for (advance, input) in steps {
            now += advance;
            while let Some(at) = engine.poll_timeout() {
                if at > Instant::from_millis(now) {
                    break;
                }
                engine.handle_timeout(at);
                while let Some(out) = engine.poll_output() {
                    check_output(&engine, &out);
                }
            }
            engine.handle_input(Instant::from_millis(now), input);
            while let Some(out) = engine.poll_output() {
                check_output(&engine, &out);
            }
            if let Err(e) = engine.check_consistency() {
                return Err(TestCaseError::fail(e));
            }
            prop_assert!(engine.client_macs().len() <= 4096);
            prop_assert!(engine.old_client_count() <= 4096);
            for mac in engine.client_macs() {
                prop_assert!(engine.client_addresses(&mac).len() <= 64);
            }
        }
        // Whatever happened, an orderly shutdown leaves nothing installed, and no timer
        // but the holds of the demoted routes, which end within one hold.
        let stop = Instant::from_millis(now + 1);
        engine.shutdown(stop);
        while engine.poll_output().is_some() {}
        prop_assert_eq!(engine.installed_routes().count(), 0);
        while let Some(at) = engine.poll_timeout() {
            prop_assert!(at <= stop + RELEASE_HOLD, "a timer at {:?} after shutdown", at);
            engine.handle_timeout(at);
            while engine.poll_output().is_some() {}
        }
        prop_assert_eq!(engine.demoted_routes().count(), 0);
    }
}
