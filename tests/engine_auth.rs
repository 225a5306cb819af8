//! The authenticated intercom (`--key-file`) in virtual time: what a forged CLAIM does with
//! and without keys, replays inside and after the window, the allow-list of the rollout,
//! the unsigned copies it brings, key rollover, and SEEK forwarding. Monotonic and wall
//! clock are both arguments; nothing sleeps.

use l3roamd::config::Config;
use l3roamd::engine::*;
use l3roamd::prefix::IpPrefix;
use l3roamd::time::Instant;
use l3roamd::wire::MacAddr;
use l3roamd::wire::auth::{self, Frame, Key};
use l3roamd::wire::intercom::{self, Header, Info, Message, Repr};
use std::net::{IpAddr, Ipv6Addr};

const MESH_A: u32 = 2;
const MESH_B: u32 = 4;
const CLIENT_IF: u32 = 3;
const LOOPBACK: u32 = 1;
const NODE_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0xaa, 0xff]);
const CLIENT: MacAddr = MacAddr([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
/// The wall clock at t = 0 of every test (2023-11-14T22:13:20Z).
const WALL0: u64 = 1_700_000_000_000;

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

/// A node that is not on the allow-list.
fn stranger() -> Ipv6Addr {
    ip("fd00:5523::c")
}

fn ncip() -> Ipv6Addr {
    ip("fec0::11:22ff:fe33:4455")
}

fn key(byte: u8) -> Key {
    Key::new(&[byte; 32]).unwrap()
}

/// The mesh's key.
fn mesh_key() -> Key {
    key(0x5a)
}

struct Harness {
    engine: Engine,
}

impl Harness {
    /// A node with these keys (none: as today) and allow-list, its kernel read, the wall
    /// clock at [`WALL0`] when `now` is 0.
    fn new(keys: &[Key], allow: &[Ipv6Addr]) -> Harness {
        let prefix = IpPrefix::parse("2001:db8:1::/64").unwrap().prefix;
        let mut cfg = Config::new(me(), vec![prefix]);
        cfg.client_if = Some("local-node".into());
        cfg.mesh_ifs = vec!["mesh0".into(), "mesh1".into()];
        cfg.keys = keys.to_vec();
        cfg.accept_unauthenticated = allow.to_vec();
        let mut engine = Engine::with_seed(cfg, 42, ms(0));
        engine.set_wall_clock(ms(0), WALL0);
        for (ifindex, name, mac) in [
            (LOOPBACK, "lo", None),
            (MESH_A, "mesh0", None),
            (MESH_B, "mesh1", None),
            (CLIENT_IF, "local-node", Some(NODE_MAC)),
        ] {
            let link = Link {
                ifindex,
                name: name.into(),
                up: true,
                mac,
                master: None,
            };
            engine.handle_input(ms(0), Input::Link(link));
        }
        let mut h = Harness { engine };
        h.input(0, Input::DumpDone);
        h
    }

    /// As [`Harness::new`], serving CLIENT with one address and its node-client IP.
    fn serving(keys: &[Key], allow: &[Ipv6Addr]) -> Harness {
        let mut h = Harness::new(keys, allow);
        h.reachable(0, "2001:db8:1::55");
        h.answer_lookup(1, LookupAnswer::NoRoute);
        assert!(h.serves_client());
        h
    }

    fn drain(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.engine.poll_output()).collect()
    }

    fn input(&mut self, t: u64, input: Input) -> Vec<Output> {
        self.engine.handle_input(ms(t), input);
        self.drain()
    }

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
        self.input(
            t,
            Input::Neighbour(Neighbour {
                ifindex: CLIENT_IF,
                addr: addr.parse().unwrap(),
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

    fn datagram(&mut self, t: u64, dst: Ipv6Addr, ifindex: u32, bytes: &[u8]) -> Vec<Output> {
        self.input(
            t,
            Input::Intercom(Datagram {
                src: peer(),
                dst,
                ifindex,
                bytes: bytes.to_vec(),
            }),
        )
    }

    /// Routes, node-client IP and client entry all still here.
    fn serves_client(&self) -> bool {
        self.engine.client_macs() == [CLIENT]
            && self.engine.holds_node_client_ip(&CLIENT)
            && self.engine.installed_routes().count() == 1
    }

    fn stats(&self) -> l3roamd::engine::stats::Stats {
        self.engine.stats().clone()
    }
}

fn claim(sender: Ipv6Addr, nonce: [u8; 4]) -> Vec<u8> {
    Repr {
        header: Header {
            ttl: 1,
            nonce,
            sender,
        },
        message: Message::Claim { mac: CLIENT },
    }
    .to_bytes()
}

fn info_from_peer(nonce: [u8; 4]) -> Vec<u8> {
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
            addresses: vec![ip("2001:db8:1::55")],
        }),
    }
    .to_bytes()
}

fn seek(sender: Ipv6Addr, ttl: u8, nonce: [u8; 4]) -> Vec<u8> {
    Repr {
        header: Header { ttl, nonce, sender },
        message: Message::Seek {
            addresses: vec![ip("2001:db8:1::99")],
        },
    }
    .to_bytes()
}

fn signed(bytes: &[u8], key: &Key, wall: u64) -> Vec<u8> {
    auth::sign(bytes, key, wall).unwrap()
}

/// Every intercom datagram that went out: destination and bytes.
fn intercoms(outputs: &[Output]) -> Vec<(Destination, Vec<u8>)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Intercom { dst, bytes } => Some((*dst, bytes.clone())),
            _ => None,
        })
        .collect()
}

fn timed_intercoms(outputs: &[(u64, Output)]) -> Vec<(u64, Destination, Vec<u8>)> {
    outputs
        .iter()
        .filter_map(|(t, o)| match o {
            Output::Intercom { dst, bytes } => Some((*t, *dst, bytes.clone())),
            _ => None,
        })
        .collect()
}

/// A datagram's message, checking its signature with the mesh key if it is signed.
fn decode(bytes: &[u8]) -> (u8, Repr) {
    match bytes[0] {
        intercom::VERSION => (0, Repr::parse(bytes).unwrap()),
        auth::VERSION => {
            let frame = Frame::new_checked(bytes).unwrap();
            assert_eq!(
                frame.verify(&[mesh_key()]),
                Ok(0),
                "signed with the first key"
            );
            (2, frame.repr().unwrap())
        }
        other => panic!("version {other}"),
    }
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

fn host_route(addr: &str) -> HostRoute {
    HostRoute {
        dst: addr.parse::<IpAddr>().unwrap(),
        table: 254,
        ifindex: CLIENT_IF,
    }
}

/// What a hand-over does here: INFO to the claimer, the client's routes released and its
/// node-client IP gone.
fn handed_over(outputs: &[Output]) -> bool {
    let ops = kernel_ops(outputs);
    ops.contains(&KernelOp::DelNodeClientIp(ncip()))
        && ops.iter().any(|op| {
            matches!(op, KernelOp::DemoteHostRoute { route, .. } if *route == host_route("2001:db8:1::55"))
        })
        && intercoms(outputs)
            .iter()
            .any(|(_, bytes)| matches!(decode(bytes).1.message, Message::Info(_)))
}

// ---------------------------------------------------------------------------------------------
// The threat, and the lock

#[test]
fn without_keys_a_forged_claim_hands_the_client_over_the_threat() {
    let mut h = Harness::serving(&[], &[]);
    // Anyone on a mesh link can send this: nothing in it is secret.
    let out = h.datagram(1000, ncip(), MESH_A, &claim(stranger(), [6, 6, 6, 6]));
    assert!(handed_over(&out), "{out:?}");
    assert!(h.engine.client_macs().is_empty());
    let sent = intercoms(&out);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].0,
        Destination::Unicast(stranger()),
        "the INFO goes to the forger"
    );
    assert_eq!(sent[0].1[0], 0, "unsigned, as the C daemon");
}

#[test]
fn with_keys_a_forged_claim_changes_nothing() {
    let mut h = Harness::serving(&[mesh_key()], &[]);
    // Unsigned.
    let out = h.datagram(1000, ncip(), MESH_A, &claim(stranger(), [6, 6, 6, 6]));
    assert!(out.is_empty(), "{out:?}");
    // Signed, but with a key of the forger's own.
    let wrong = signed(&claim(stranger(), [6, 6, 6, 7]), &key(1), WALL0 + 1000);
    let out = h.datagram(1100, ncip(), MESH_A, &wrong);
    assert!(out.is_empty(), "{out:?}");
    // Signed with the mesh key, then tampered with: the MAC no longer fits.
    let mut tampered = signed(&claim(peer(), [6, 6, 6, 8]), &mesh_key(), WALL0 + 1200);
    tampered[20] ^= 1;
    let out = h.datagram(1200, ncip(), MESH_A, &tampered);
    assert!(out.is_empty(), "{out:?}");
    // A signed frame too short to hold its trailer is malformed.
    let out = h.datagram(1300, ncip(), MESH_A, &wrong[..60]);
    assert!(out.is_empty());

    assert!(h.serves_client());
    assert!(
        h.run_until(60_000)
            .iter()
            .all(|(_, o)| !matches!(o, Output::Kernel(KernelOp::DelNodeClientIp(_))))
    );
    assert!(h.serves_client());
    let stats = h.stats();
    assert_eq!(
        (
            stats.auth_unauthenticated,
            stats.auth_bad_mac,
            stats.intercom_malformed.truncated,
            stats.intercom_malformed.total()
        ),
        (1, 2, 1, 1)
    );
    assert_eq!(stats.claim_in, 0, "never reached the CLAIM handler");
}

#[test]
fn with_keys_a_signed_claim_hands_over_and_the_info_is_signed_only() {
    let mut h = Harness::serving(&[mesh_key()], &[]);
    let genuine = signed(&claim(peer(), [1, 2, 3, 4]), &mesh_key(), WALL0 + 990);
    let out = h.datagram(1000, ncip(), MESH_A, &genuine);
    assert!(handed_over(&out), "{out:?}");
    let sent = intercoms(&out);
    assert_eq!(sent.len(), 1, "no unsigned copy without an allow-list");
    let (version, info) = decode(&sent[0].1);
    assert_eq!((version, sent[0].0), (2, Destination::Unicast(peer())));
    assert_eq!(info.header.ttl, 1);
    let frame = Frame::new_checked(&sent[0].1).unwrap();
    assert_eq!(
        frame.timestamp_ms(),
        WALL0 + 1000,
        "the wall clock at the send"
    );
    let stats = h.stats();
    assert_eq!((stats.auth_signed_in, stats.auth_signed_out), (1, 1));
}

#[test]
fn unsigned_packets_from_c_peers_are_dropped_with_keys_and_signed_ones_without() {
    // With keys and no list, version 0 from anyone is dropped, the peer included.
    let mut h = Harness::serving(&[mesh_key()], &[]);
    assert!(
        h.datagram(10, ncip(), MESH_A, &claim(peer(), [1; 4]))
            .is_empty()
    );
    assert_eq!(h.stats().auth_unauthenticated, 1);
    assert!(h.serves_client());
    // Without keys, version 2 is dropped as every unknown version is today.
    let mut h = Harness::serving(&[], &[]);
    let genuine = signed(&claim(peer(), [1; 4]), &mesh_key(), WALL0);
    assert!(h.datagram(10, ncip(), MESH_A, &genuine).is_empty());
    assert_eq!(h.stats().intercom_malformed.bad_version, 1);
    assert_eq!(h.stats().intercom_malformed.total(), 1);
    assert_eq!(h.stats().auth_unauthenticated, 0);
    assert!(h.serves_client());
}

// ---------------------------------------------------------------------------------------------
// Clocks and replays

#[test]
fn timestamps_are_accepted_within_30_s_either_way_and_not_beyond() {
    let cases = [
        (-30_000i64, true),
        (30_000, true),
        (-30_001, false),
        (30_001, false),
        (-3_600_000, false),
    ];
    for (offset, accepted) in cases {
        let mut h = Harness::serving(&[mesh_key()], &[]);
        let t = 100_000u64;
        let stamp = (WALL0 + t).checked_add_signed(offset).unwrap();
        let bytes = signed(&claim(peer(), [1; 4]), &mesh_key(), stamp);
        let out = h.datagram(t, ncip(), MESH_A, &bytes);
        assert_eq!(handed_over(&out), accepted, "offset {offset} ms");
        assert_eq!(
            h.stats().auth_stale,
            u64::from(!accepted),
            "offset {offset} ms"
        );
    }
}

#[test]
fn a_replayed_signed_claim_is_dropped_inside_the_window_and_after_it() {
    let mut h = Harness::serving(&[mesh_key()], &[]);
    // t = 1 s: the client really roams to the peer, whose CLAIM an attacker records.
    let recorded = signed(&claim(peer(), [1, 2, 3, 4]), &mesh_key(), WALL0 + 1000);
    assert!(handed_over(&h.datagram(1000, ncip(), MESH_A, &recorded)));
    let ack = signed(
        &Repr {
            header: Header {
                ttl: 1,
                nonce: [9; 4],
                sender: peer(),
            },
            message: Message::Ack { mac: CLIENT },
        }
        .to_bytes(),
        &mesh_key(),
        WALL0 + 1100,
    );
    h.datagram(1100, me(), MESH_A, &ack);
    assert!(
        !h.engine.info_in_progress(&CLIENT),
        "the signed ACK counted"
    );

    // t = 3 s: it comes back; we claim it from the peer (to the peer's node IP, as it was
    // handed there moments ago), and the peer's signed INFO brings it home.
    h.reachable(3000, "2001:db8:1::55");
    let out = h.answer_lookup(3001, LookupAnswer::NoRoute);
    let sent = intercoms(&out);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, Destination::Unicast(peer()));
    assert!(matches!(
        decode(&sent[0].1),
        (
            2,
            Repr {
                message: Message::Claim { .. },
                ..
            }
        )
    ));
    let info = signed(&info_from_peer([7; 4]), &mesh_key(), WALL0 + 3100);
    let out = h.datagram(3100, me(), MESH_A, &info);
    let acks = intercoms(&out);
    assert_eq!(acks.len(), 1);
    assert!(matches!(
        decode(&acks[0].1),
        (
            2,
            Repr {
                message: Message::Ack { .. },
                ..
            }
        )
    ));
    assert!(h.serves_client());

    // t = 15 s: the duplicate cache (10 s) has forgotten the CLAIM, the replay cache has
    // not: the replay is dropped and the client stays.
    let out = h.datagram(15_000, ncip(), MESH_A, &recorded);
    assert!(out.is_empty(), "{out:?}");
    assert!(h.serves_client());
    assert_eq!(h.stats().auth_replayed, 1);

    // t = 31.001 s: the recorded timestamp is out of the window: stale.
    let out = h.datagram(31_001, ncip(), MESH_A, &recorded);
    assert!(out.is_empty(), "{out:?}");
    assert!(h.serves_client());
    assert_eq!((h.stats().auth_replayed, h.stats().auth_stale), (1, 1));
}

#[test]
fn flood_copies_and_retransmissions_are_duplicates_not_replays() {
    let mut h = Harness::new(&[mesh_key()], &[]);
    let bytes = signed(&seek(peer(), 200, [3; 4]), &mesh_key(), WALL0);
    h.datagram(0, intercom::GROUP, MESH_A, &bytes);
    // The same flood through another neighbour, one hop further (the ttl is not signed).
    let mut further = bytes.clone();
    further[1] = 199;
    assert!(intercoms(&h.datagram(5, intercom::GROUP, MESH_B, &further)).is_empty());
    // The peer's retransmission of one INFO is re-signed, and still the same message.
    let first = signed(&info_from_peer([8; 4]), &mesh_key(), WALL0 + 100);
    let again = signed(&info_from_peer([8; 4]), &mesh_key(), WALL0 + 600);
    let a = intercoms(&h.datagram(100, me(), MESH_A, &first));
    let b = intercoms(&h.datagram(600, me(), MESH_A, &again));
    assert_eq!((a.len(), b.len()), (1, 1), "ACKed, and ACKed again");
    let (ack_a, ack_b) = (decode(&a[0].1).1, decode(&b[0].1).1);
    assert_eq!(ack_a, ack_b, "the same ACK, re-signed");
    let stats = h.stats();
    assert_eq!((stats.intercom_duplicates, stats.auth_replayed), (2, 0));
    assert_eq!((stats.seek_in, stats.info_in), (1, 1));
}

#[test]
fn the_replay_cache_is_bounded_and_counts_what_it_cannot_take() {
    let mut h = Harness::new(&[mesh_key()], &[]);
    let capacity = l3roamd::engine::auth::REPLAY_CAPACITY as u32;
    for i in 0..=capacity {
        let bytes = signed(&seek(peer(), 1, i.to_be_bytes()), &mesh_key(), WALL0);
        h.datagram(0, me(), MESH_A, &bytes);
    }
    let stats = h.stats();
    assert_eq!(
        (stats.auth_signed_in, stats.auth_replay_cache_full),
        (u64::from(capacity), 1)
    );
    assert_eq!(stats.seek_in, u64::from(capacity));
    // 30 s later the first are out of the window, and room is made.
    let bytes = signed(&seek(peer(), 1, [0xff; 4]), &mesh_key(), WALL0 + 30_001);
    h.datagram(30_001, me(), MESH_A, &bytes);
    assert_eq!(h.stats().seek_in, u64::from(capacity) + 1);
}

#[test]
fn signatures_follow_the_wall_clock_the_driver_passes() {
    let mut h = Harness::new(&[mesh_key()], &[]);
    h.reachable(0, "2001:db8:1::55");
    let out = h.answer_lookup(0, LookupAnswer::Route);
    let first = intercoms(&out);
    assert_eq!(
        Frame::new_checked(&first[0].1).unwrap().timestamp_ms(),
        WALL0
    );
    let mut sent = timed_intercoms(&h.run_until(300));
    // NTP steps the clock by an hour at t = 400 ms; the retransmission at 600 ms carries it.
    h.engine.set_wall_clock(ms(400), WALL0 + 3_600_000 + 400);
    sent.extend(timed_intercoms(&h.run_until(600)));
    let stamps: Vec<(u64, u64)> = sent
        .iter()
        .map(|(t, _, b)| (*t, Frame::new_checked(b).unwrap().timestamp_ms()))
        .collect();
    assert_eq!(stamps, [(300, WALL0 + 300), (600, WALL0 + 3_600_600)]);
    // Every copy of the cycle is the same message under a fresh signature.
    let bodies: Vec<Repr> = sent.iter().map(|(_, _, b)| decode(b).1).collect();
    assert_eq!(bodies[0], decode(&first[0].1).1);
    assert_eq!(bodies[1], bodies[0]);
}

// ---------------------------------------------------------------------------------------------
// Key rollover and the allow-list of the rollout

#[test]
fn every_key_verifies_and_the_first_signs() {
    let old = key(0x01);
    let mut h = Harness::serving(&[mesh_key(), old.clone()], &[]);
    let by_old_key = signed(&claim(peer(), [4; 4]), &old, WALL0 + 500);
    let out = h.datagram(500, ncip(), MESH_A, &by_old_key);
    assert!(handed_over(&out));
    let sent = intercoms(&out);
    let frame = Frame::new_checked(&sent[0].1).unwrap();
    assert_eq!(frame.verify(&[mesh_key()]), Ok(0));
    assert!(frame.verify(&[old]).is_err(), "not signed with the old key");
}

#[test]
fn the_allow_list_admits_unsigned_packets_from_listed_senders_only() {
    let mut h = Harness::serving(&[mesh_key()], &[peer()]);
    // A stranger's unsigned CLAIM: dropped.
    assert!(
        h.datagram(100, ncip(), MESH_A, &claim(stranger(), [1; 4]))
            .is_empty()
    );
    assert!(h.serves_client());
    assert_eq!(h.stats().auth_unauthenticated, 1);
    // The listed peer's unsigned CLAIM (a C peer, or one without the key yet): accepted.
    let out = h.datagram(200, ncip(), MESH_A, &claim(peer(), [2; 4]));
    assert!(handed_over(&out));
    assert_eq!(h.stats().auth_unsigned_accepted, 1);
    // Its INFO goes out twice: unsigned for a peer that cannot verify, signed for one that
    // can; one nonce, one payload, so a receiver that gets both processes one.
    let sent = intercoms(&out);
    assert_eq!(sent.len(), 2);
    assert!(
        sent.iter()
            .all(|(dst, _)| *dst == Destination::Unicast(peer()))
    );
    let (signed_copy, unsigned) = (decode(&sent[0].1), decode(&sent[1].1));
    assert_eq!((signed_copy.0, unsigned.0), (2, 0), "signed first");
    assert_eq!(unsigned.1, signed_copy.1);
    assert_eq!(
        sent[0].1[..sent[1].1.len()][1..],
        sent[1].1[1..],
        "byte for byte"
    );
}

#[test]
fn the_unsigned_twin_of_a_signed_datagram_is_a_duplicate_not_an_attack() {
    // This node lists only the stranger; the peer is keyed and, having a list of its own,
    // sends every datagram signed and then unsigned.
    let mut h = Harness::new(&[mesh_key()], &[stranger()]);
    let unsigned = seek(peer(), 1, [4; 4]);
    h.datagram(0, me(), MESH_A, &signed(&unsigned, &mesh_key(), WALL0));
    assert!(h.datagram(1, me(), MESH_A, &unsigned).is_empty());
    let stats = h.stats();
    assert_eq!((stats.seek_in, stats.intercom_duplicates), (1, 1));
    assert_eq!(stats.auth_unauthenticated, 0);
    // An unsigned datagram in the peer's name that is no twin is refused as ever.
    assert!(
        h.datagram(2, me(), MESH_A, &seek(peer(), 1, [5; 4]))
            .is_empty()
    );
    assert_eq!(h.stats().auth_unauthenticated, 1);
}

#[test]
fn with_an_allow_list_everything_goes_out_unsigned_and_signed() {
    let mut h = Harness::new(&[mesh_key()], &[peer()]);
    // A CLAIM cycle: each of its sends in both versions.
    h.reachable(0, "2001:db8:1::55");
    let mut out: Vec<(u64, Output)> = h
        .answer_lookup(0, LookupAnswer::Route)
        .into_iter()
        .map(|o| (0, o))
        .collect();
    out.extend(h.run_until(700));
    let sent = timed_intercoms(&out);
    let versions: Vec<(u64, u8)> = sent.iter().map(|(t, _, b)| (*t, b[0])).collect();
    assert_eq!(
        versions,
        [(0, 2), (0, 0), (300, 2), (300, 0), (600, 2), (600, 0)]
    );
    assert!(
        sent.iter()
            .all(|(_, dst, _)| *dst == Destination::Unicast(ncip()))
    );
    let first = decode(&sent[0].2).1;
    assert!(
        sent.iter().all(|(_, _, b)| decode(b).1 == first),
        "one message"
    );

    // A SEEK: both versions on both mesh interfaces.
    let mut h = Harness::new(&[mesh_key()], &[peer()]);
    let packet = udp6("2001:db8:2::2", "2001:db8:1::77");
    h.input(0, Input::TunPacket(packet));
    let seeks = timed_intercoms(&h.run_until(300));
    let shape: Vec<(Destination, u8)> = seeks.iter().map(|(_, d, b)| (*d, b[0])).collect();
    assert_eq!(
        shape,
        [
            (Destination::Multicast { ifindex: MESH_A }, 2),
            (Destination::Multicast { ifindex: MESH_A }, 0),
            (Destination::Multicast { ifindex: MESH_B }, 2),
            (Destination::Multicast { ifindex: MESH_B }, 0),
        ]
    );
    assert_eq!(seeks[0].2, seeks[2].2);
    assert_eq!(seeks[1].2, seeks[3].2);
    assert_eq!(h.stats().auth_signed_out, 2);
}

#[test]
fn a_signed_seek_is_forwarded_with_its_signature_and_unsigned_too_while_a_list_exists() {
    let flood = signed(&seek(stranger(), 255, [5; 4]), &mesh_key(), WALL0);
    // Keys, no list: the signed datagram as it came, ttl − 1, on both interfaces.
    let mut h = Harness::new(&[mesh_key()], &[]);
    let out = intercoms(&h.datagram(0, intercom::GROUP, MESH_A, &flood));
    assert_eq!(out.len(), 2);
    let mut expected = flood.clone();
    expected[1] = 254;
    assert!(out.iter().all(|(_, b)| *b == expected), "{out:?}");
    assert_eq!(
        Frame::new_checked(&out[0].1).unwrap().verify(&[mesh_key()]),
        Ok(0)
    );

    // With a list: the unsigned copy too, so C peers beyond this node hear it.
    let mut h = Harness::new(&[mesh_key()], &[peer()]);
    let out = intercoms(&h.datagram(0, intercom::GROUP, MESH_A, &flood));
    let versions: Vec<u8> = out.iter().map(|(_, b)| b[0]).collect();
    assert_eq!(versions, [2, 0, 2, 0]);
    assert_eq!(
        out[1].1,
        Frame::new_checked(&expected).unwrap().to_unsigned()
    );
    assert_eq!(h.stats().seek_forwarded, 1);

    // An unsigned SEEK from a listed sender goes on unsigned only: nobody signs for others.
    let mut h = Harness::new(&[mesh_key()], &[peer()]);
    let out = intercoms(&h.datagram(0, intercom::GROUP, MESH_A, &seek(peer(), 255, [6; 4])));
    let versions: Vec<u8> = out.iter().map(|(_, b)| b[0]).collect();
    assert_eq!(versions, [0, 0]);
    // ... and a signed copy of the same SEEK after it is a duplicate, not a second flood.
    let copy = signed(&seek(peer(), 255, [6; 4]), &mesh_key(), WALL0);
    assert!(intercoms(&h.datagram(1, intercom::GROUP, MESH_B, &copy)).is_empty());
    assert_eq!(h.stats().intercom_duplicates, 1);
}

#[test]
fn get_stats_reports_the_auth_group() {
    let mut h = Harness::serving(&[mesh_key()], &[]);
    h.datagram(10, ncip(), MESH_A, &claim(stranger(), [1; 4]));
    h.datagram(
        20,
        ncip(),
        MESH_A,
        &signed(&claim(peer(), [2; 4]), &key(3), WALL0 + 20),
    );
    let command = l3roamd::engine::control::parse_command(b"get_stats").unwrap();
    let out = h.input(30, Input::Control { conn: 1, command });
    let Some(Output::ControlReply { bytes, .. }) = out.into_iter().next() else {
        panic!("no reply")
    };
    let reply = String::from_utf8(bytes).unwrap();
    assert!(
        reply.contains(
            r#""auth": { "signed_in": 0, "signed_out": 0, "unsigned_accepted": 0, "unauthenticated": 1, "bad_mac": 1, "stale": 0, "replayed": 0, "replay_cache_full": 0 }"#
        ),
        "{reply}"
    );
}

/// A UDP datagram from `src` to `dst`, as the tun device delivers it.
fn udp6(src: &str, dst: &str) -> Vec<u8> {
    let mut packet = l3roamd::wire::ipv6::Repr {
        traffic_class: 0,
        flow_label: 0,
        payload_len: 8,
        next_header: 17,
        hop_limit: 64,
        src: ip(src),
        dst: ip(dst),
    }
    .to_bytes();
    packet.extend_from_slice(&[0x30, 0x39, 0x30, 0x39, 0, 8, 0, 0]);
    packet
}
