//! Properties of every wire format: emit then parse gives back what was emitted, and no
//! input makes a parser panic or walk without end.

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

use l3roamd::wire::auth::{self, Frame, Key};
use l3roamd::wire::babel::Line;
use l3roamd::wire::checksum::Mode;
use l3roamd::wire::icmpv6::{self, Ndp, NeighborAdvert, NeighborSolicit};
use l3roamd::wire::intercom::{self, Header, Info, Message, Packet, Repr, Tlvs};
use l3roamd::wire::{Error, MacAddr, arp, ethernet, ipv4, ipv6};

fn ipv6_addr() -> impl Strategy<Value = Ipv6Addr> {
    any::<[u8; 16]>().prop_map(Ipv6Addr::from)
}

fn ipv4_addr() -> impl Strategy<Value = Ipv4Addr> {
    any::<[u8; 4]>().prop_map(Ipv4Addr::from)
}

fn mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(MacAddr)
}

fn header() -> impl Strategy<Value = Header> {
    (any::<u8>(), any::<[u8; 4]>(), ipv6_addr()).prop_map(|(ttl, nonce, sender)| Header {
        ttl,
        nonce,
        sender,
    })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        vec(ipv6_addr(), 1..=10).prop_map(|addresses| Message::Seek { addresses }),
        mac().prop_map(|mac| Message::Claim { mac }),
        (mac(), any::<u16>(), ipv6_addr(), vec(ipv6_addr(), 0..=40)).prop_map(
            |(mac, lease, plat, addresses)| Message::Info(Info {
                mac,
                lease,
                plat,
                addresses,
            })
        ),
        mac().prop_map(|mac| Message::Ack { mac }),
    ]
}

fn intercom_repr() -> impl Strategy<Value = Repr> {
    (header(), message()).prop_map(|(header, message)| Repr { header, message })
}

/// A TLV as raw bytes: any type (biased towards the known ones) and any length byte
/// (including 0 and 1). Half of them are self-consistent (the value is as long as the length
/// byte says) so that whole packets often parse; the rest have a value of unrelated size.
fn raw_tlv() -> impl Strategy<Value = Vec<u8>> {
    let kind = prop_oneof![0..=1u8, any::<u8>()];
    let len = prop_oneof![
        Just(8u8),
        Just(20),
        Just(24),
        Just(40),
        0..=3u8,
        any::<u8>()
    ];
    let consistent = (kind.clone(), len.clone()).prop_flat_map(|(kind, len)| {
        vec(any::<u8>(), usize::from(len.max(2)) - 2).prop_map(move |value| {
            let mut bytes = vec![kind, len];
            bytes.extend(value);
            bytes
        })
    });
    let arbitrary = (kind, len, vec(any::<u8>(), 0..40)).prop_map(|(kind, len, value)| {
        let mut bytes = vec![kind, len];
        bytes.extend(value);
        bytes
    });
    prop_oneof![consistent, arbitrary]
}

fn header_bytes(msg_type: u8, ttl: u8) -> Vec<u8> {
    let mut bytes = vec![0, ttl, msg_type, 0, 1, 2, 3, 4];
    bytes.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
    bytes
}

/// Runs every parser of the crate over `bytes`; only a panic or a non-terminating walk can
/// fail this.
fn parse_everything(bytes: &[u8]) {
    let _ = Repr::parse(bytes);
    if let Ok(frame) = Frame::new_checked(bytes) {
        let _ = (frame.timestamp_ms(), frame.mac(), frame.to_unsigned());
        let _ = (
            frame.verify(&[signing_key(1), signing_key(2)]),
            frame.repr(),
        );
    }
    if let Ok(packet) = Packet::new_checked(bytes) {
        let _ = (packet.version(), packet.ttl(), packet.msg_type());
        let _ = (packet.nonce(), packet.sender(), packet.payload());
        assert!(packet.tlvs().count() <= bytes.len() / 2 + 1);
    }
    let _ = ipv6::Repr::parse(bytes);
    if let Ok(packet) = ipv6::Packet::new_checked(bytes) {
        let _ = (
            packet.traffic_class(),
            packet.flow_label(),
            packet.payload(),
        );
    }
    let _ = ipv4::Repr::parse(bytes, Mode::Verify);
    let _ = ipv4::Repr::parse(bytes, Mode::Ignore);
    if let Ok(packet) = ipv4::Packet::new_checked(bytes) {
        let _ = (packet.options(), packet.payload(), packet.verify_checksum());
    }
    let _ = Ndp::parse(bytes);
    let _ = icmpv6::parse_ns_packet(bytes);
    let _ = icmpv6::verify_checksum(&Ipv6Addr::LOCALHOST, &Ipv6Addr::LOCALHOST, bytes);
    let _ = arp::Repr::parse(bytes);
    let _ = ethernet::Repr::parse(bytes);
    let _ = ethernet::Packet::new_checked(bytes).map(|p| p.payload().len());
    let _ = Line::parse(bytes);
}

fn signing_key(byte: u8) -> Key {
    Key::new(&[byte; 32]).unwrap()
}

/// Lines babeld 1.12.1 sent in the test mesh, to mutate.
const BABEL_LINES: &[&str] = &[
    "my-id 02:00:00:ff:fe:ff:00:01",
    "add xroute 2001:db8:1::100/128-::/0 prefix 2001:db8:1::100/128 from ::/0 metric 0",
    "add route 5641cf550c30 prefix 2001:db8:1::100/128 from ::/0 installed no id \
     02:00:00:ff:fe:ff:00:03 metric 192 refmetric 96 via fe80::49a:2dff:fe94:3b03 if m-r2",
    "add route 55dba1fce000 prefix 10.0.1.100/32 from 0.0.0.0/0 installed yes id \
     02:00:00:ff:fe:ff:00:03 metric 96 refmetric 0 via fe80::34e3:ff:fed5:7457 if m-r3",
];

/// babeld's vocabulary, so that random lines get past the first words.
fn babel_word() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "add",
            "change",
            "flush",
            "route",
            "xroute",
            "prefix",
            "from",
            "installed",
            "yes",
            "no",
            "id",
            "metric",
            "refmetric",
            "via",
            "if",
            "ok",
            "bad",
            "BABEL",
            "my-id",
            "::/0",
            "0.0.0.0/0",
            "2001:db8::1/128",
            "10.0.0.1/32",
            "65535",
            "1f",
            "02:00:00:ff:fe:ff:00:01",
        ])
        .prop_map(str::to_string),
        "[ -~]{0,12}",
    ]
}

proptest! {
    #[test]
    fn babel_lines_of_babeld_words_parse_or_fail(words in vec(babel_word(), 0..24)) {
        let line = words.join(" ");
        if let Ok(Line::Route(route)) = Line::parse(line.as_bytes()) {
            prop_assert!(route.token.len() <= 32);
            prop_assert!(route.prefix.len <= 128);
        }
    }

    #[test]
    fn mutated_babel_lines_parse_or_fail(
        which in 0..BABEL_LINES.len(),
        edits in vec((any::<usize>(), any::<u8>()), 0..6),
        cut in any::<usize>(),
    ) {
        let mut bytes = BABEL_LINES[which].as_bytes().to_vec();
        for (at, byte) in edits {
            let at = at % bytes.len();
            bytes[at] = byte;
        }
        bytes.truncate(cut % (bytes.len() + 1));
        let _ = Line::parse(&bytes);
    }

    #[test]
    fn intercom_round_trip(repr in intercom_repr()) {
        let bytes = repr.to_bytes();
        prop_assert_eq!(bytes.len(), repr.buffer_len());
        prop_assert!(bytes.len() <= intercom::MAX_DATAGRAM);
        prop_assert_eq!(Repr::parse(&bytes), Ok(repr.clone()));
        // Only what C peers understand: known TLV types with their exact lengths, at most 15
        // addresses per INFO_BASIC, PLAT first.
        let lengths: Vec<(u8, u8)> = Packet::new_checked(&bytes[..])
            .unwrap()
            .tlvs()
            .map(|t| t.map(|t| (t.kind, t.len_byte())).unwrap())
            .collect();
        match &repr.message {
            Message::Seek { addresses } => {
                prop_assert_eq!(lengths, vec![(0, 20); addresses.len()]);
            }
            Message::Claim { .. } | Message::Ack { .. } => prop_assert_eq!(lengths, vec![(0, 8)]),
            Message::Info(info) => {
                prop_assert_eq!(lengths[0], (0, 20));
                prop_assert!(lengths[1..].iter().all(|&(kind, len)| kind == 1
                    && (8..=248).contains(&len)
                    && (len - 8) % 16 == 0));
                prop_assert_eq!(lengths.len() - 1, info.addresses.len().div_ceil(15).max(1));
            }
        }
    }

    #[test]
    fn signed_round_trip(repr in intercom_repr(), timestamp in any::<u64>(), ttl in any::<u8>()) {
        let unsigned = repr.to_bytes();
        let mut signed = auth::sign(&unsigned, &signing_key(1), timestamp).unwrap();
        prop_assert_eq!(signed.len(), unsigned.len() + auth::TRAILER_LEN);
        prop_assert!(signed.len() <= intercom::MAX_DATAGRAM);
        // Forwarders change the ttl, and nothing else, without the key.
        signed[1] = ttl;
        let frame = Frame::new_checked(&signed).unwrap();
        prop_assert_eq!(frame.verify(&[signing_key(9), signing_key(1)]), Ok(1));
        prop_assert_eq!(frame.verify(&[signing_key(9)]), Err(Error::BadMac));
        prop_assert_eq!(frame.timestamp_ms(), timestamp);
        let mut expected = repr.clone();
        expected.header.ttl = ttl;
        prop_assert_eq!(frame.repr(), Ok(expected));
        let mut unsigned_ttl = unsigned.clone();
        unsigned_ttl[1] = ttl;
        prop_assert_eq!(frame.to_unsigned(), unsigned_ttl);
    }

    #[test]
    fn any_flipped_bit_outside_the_ttl_is_rejected(
        repr in intercom_repr(),
        timestamp in any::<u64>(),
        bit in any::<prop::sample::Index>(),
    ) {
        let mut signed = auth::sign(&repr.to_bytes(), &signing_key(1), timestamp).unwrap();
        let mut at = bit.index(signed.len() * 8 - 8);
        // Skip the ttl byte: the one byte the MAC leaves out.
        if at >= 8 {
            at += 8;
        }
        signed[at / 8] ^= 1 << (at % 8);
        match Frame::new_checked(&signed) {
            Ok(frame) => prop_assert_eq!(frame.verify(&[signing_key(1)]), Err(Error::BadMac)),
            // The version byte itself: no longer a signed frame at all.
            Err(error) => prop_assert_eq!(at / 8, 0, "{}", error),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..2000)) {
        parse_everything(&bytes);
    }

    #[test]
    fn arbitrary_ndp_never_panics(
        kind in prop_oneof![Just(135u8), Just(136), any::<u8>()],
        hop_limit in prop_oneof![Just(255u8), any::<u8>()],
        body in vec(any::<u8>(), 0..200),
    ) {
        // Deep enough to reach the option walk, through the snooping entry point too.
        let mut message = vec![kind, 0, 0, 0];
        message.extend(body);
        parse_everything(&message);
        let mut packet = ipv6::Repr {
            traffic_class: 0,
            flow_label: 0,
            payload_len: u16::try_from(message.len()).unwrap(),
            next_header: 58,
            hop_limit,
            src: Ipv6Addr::UNSPECIFIED,
            dst: Ipv6Addr::LOCALHOST,
        }
        .to_bytes();
        packet.extend(&message);
        parse_everything(&packet);
    }

    #[test]
    fn random_tlvs_parse_or_fail_and_the_walk_is_bounded(
        msg_type in 0..=3u8,
        ttl in any::<u8>(),
        tlvs in vec(raw_tlv(), 0..12),
        tail in vec(any::<u8>(), 0..3),
    ) {
        let mut bytes = header_bytes(msg_type, ttl);
        for tlv in &tlvs {
            bytes.extend(tlv);
        }
        bytes.extend(tail);
        let steps = Tlvs::new(&bytes[intercom::HEADER_LEN..]).count();
        prop_assert!(steps <= (bytes.len() - intercom::HEADER_LEN) / 2 + 1);
        if let Ok(repr) = Repr::parse(&bytes) {
            // Whatever was accepted re-encodes to something that parses the same.
            prop_assert_eq!(Repr::parse(&repr.to_bytes()), Ok(repr));
        }
    }

    #[test]
    fn mutated_packets_parse_or_fail(
        repr in intercom_repr(),
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        // Near-valid input reaches the deeper checks that random bytes rarely get past.
        let mut bytes = repr.to_bytes();
        for (at, value) in flips {
            let at = at.index(bytes.len());
            bytes[at] = value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        parse_everything(&bytes);
        if let Ok(parsed) = Repr::parse(&bytes) {
            prop_assert_eq!(Repr::parse(&parsed.to_bytes()), Ok(parsed));
        }
    }

    #[test]
    fn ndp_round_trip(
        solicit in any::<bool>(),
        flags in any::<[bool; 3]>(),
        target in ipv6_addr(),
        ll in option::of(mac()),
        src in ipv6_addr(),
        dst in ipv6_addr(),
    ) {
        let ndp = if solicit {
            Ndp::Solicit(NeighborSolicit { target, source_ll: ll })
        } else {
            let [router, solicited, override_] = flags;
            Ndp::Advert(NeighborAdvert { router, solicited, override_, target, target_ll: ll })
        };
        let bytes = ndp.to_bytes();
        prop_assert_eq!(bytes.len(), ndp.buffer_len());
        prop_assert_eq!(Ndp::parse(&bytes), Ok(ndp));
        let mut with_sum = vec![0; ndp.buffer_len()];
        ndp.emit_with_checksum(&src, &dst, &mut with_sum);
        prop_assert!(icmpv6::verify_checksum(&src, &dst, &with_sum));
        prop_assert_eq!(Ndp::parse(&with_sum), Ok(ndp));

        // The same NS as a snooped packet.
        if let Ndp::Solicit(ns) = ndp {
            let header = ipv6::Repr {
                traffic_class: 0,
                flow_label: 0,
                payload_len: u16::try_from(with_sum.len()).unwrap(),
                next_header: 58,
                hop_limit: 255,
                src,
                dst,
            };
            let mut packet = header.to_bytes();
            packet.extend(&with_sum);
            prop_assert_eq!(icmpv6::parse_ns_packet(&packet), Ok((header, ns)));
        }
    }

    #[test]
    fn arp_round_trip(
        op in any::<u16>(),
        sender_mac in mac(),
        sender_ip in ipv4_addr(),
        target_mac in mac(),
        target_ip in ipv4_addr(),
    ) {
        let repr = arp::Repr {
            operation: op.into(),
            sender_mac,
            sender_ip,
            target_mac,
            target_ip,
        };
        let bytes = repr.to_bytes();
        prop_assert_eq!(bytes.len(), arp::PACKET_LEN);
        prop_assert_eq!(u16::from(repr.operation), op);
        prop_assert_eq!(arp::Repr::parse(&bytes), Ok(repr));
    }

    #[test]
    fn ipv4_round_trip(
        dscp_ecn in any::<u8>(),
        ident in any::<u16>(),
        flags_fragment in any::<u16>(),
        ttl in any::<u8>(),
        protocol in any::<u8>(),
        src in ipv4_addr(),
        dst in ipv4_addr(),
        option_words in vec(any::<[u8; 4]>(), 0..=10),
        payload_len in 0..200u16,
    ) {
        let options: Vec<u8> = option_words.concat();
        let header_len = 20 + u16::try_from(options.len()).unwrap();
        let repr = ipv4::Repr {
            dscp_ecn,
            total_len: header_len + payload_len,
            ident,
            flags_fragment,
            ttl,
            protocol,
            src,
            dst,
            options,
        };
        let mut bytes = repr.to_bytes();
        prop_assert_eq!(bytes.len(), usize::from(header_len));
        bytes.resize(usize::from(repr.total_len), 0x5a);
        prop_assert_eq!(ipv4::Repr::parse(&bytes, Mode::Verify), Ok(repr));
        let packet = ipv4::Packet::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(packet.payload().len(), usize::from(payload_len));
    }

    #[test]
    fn ipv6_round_trip(
        traffic_class in any::<u8>(),
        flow_label in 0..0x10_0000u32,
        next_header in any::<u8>(),
        hop_limit in any::<u8>(),
        src in ipv6_addr(),
        dst in ipv6_addr(),
        payload in vec(any::<u8>(), 0..100),
    ) {
        let repr = ipv6::Repr {
            traffic_class,
            flow_label,
            payload_len: u16::try_from(payload.len()).unwrap(),
            next_header,
            hop_limit,
            src,
            dst,
        };
        let mut bytes = repr.to_bytes();
        bytes.extend(&payload);
        prop_assert_eq!(ipv6::Repr::parse(&bytes), Ok(repr));
        let packet = ipv6::Packet::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(packet.payload(), &payload[..]);
    }

    #[test]
    fn ethernet_round_trip(dst in mac(), src in mac(), ethertype in any::<u16>()) {
        let repr = ethernet::Repr { dst, src, ethertype: ethertype.into() };
        let mut bytes = [0u8; ethernet::HEADER_LEN];
        repr.emit(&mut bytes);
        prop_assert_eq!(ethernet::Repr::parse(&bytes), Ok(repr));
    }
}

/// The two inputs that hang every deployed C daemon on the link are plain errors here, for
/// every packet type and wherever they appear.
#[test]
fn zero_length_and_unknown_tlvs_are_rejected() {
    let valid_first: [&[u8]; 4] = [
        &[
            0, 20, 0, 0, 0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
        ],
        &[0, 8, 2, 0, 0, 0, 0, 1],
        &[1, 8, 2, 0, 0, 0, 0, 1],
        &[0, 8, 2, 0, 0, 0, 0, 1],
    ];
    for (msg_type, first) in (0u8..=3).zip(valid_first) {
        let mut valid = header_bytes(msg_type, 1);
        valid.extend_from_slice(first);
        assert!(Repr::parse(&valid).is_ok(), "type {msg_type}");

        for kind in [0u8, 1, 0xff] {
            let mut zero = valid.clone();
            zero.extend_from_slice(&[kind, 0]);
            assert_eq!(
                Repr::parse(&zero),
                Err(Error::BadTlvLength {
                    offset: valid.len(),
                    kind,
                    len: 0
                }),
                "type {msg_type}"
            );
            // A zero length in front of a valid TLV, as an attacker would place it.
            let mut zero_first = header_bytes(msg_type, 1);
            zero_first.extend_from_slice(&[kind, 0]);
            zero_first.extend_from_slice(first);
            assert!(matches!(
                Repr::parse(&zero_first),
                Err(Error::BadTlvLength {
                    offset: 24,
                    len: 0,
                    ..
                })
            ));
        }

        let unknown_kind = if msg_type == 2 { 2 } else { 1 };
        for len in [2u8, 8, 20] {
            let mut unknown = valid.clone();
            unknown.push(unknown_kind);
            unknown.push(len);
            unknown.resize(unknown.len() + usize::from(len) - 2, 0);
            assert_eq!(
                Repr::parse(&unknown),
                Err(Error::UnknownTlv {
                    offset: valid.len(),
                    kind: unknown_kind
                }),
                "type {msg_type}"
            );
        }
    }
}
