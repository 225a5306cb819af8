//! Every captured packet in `tests/vectors/` decoded field by field, as its comment header
//! states, and re-encoded to exactly the captured bytes.

use std::net::Ipv6Addr;
use std::path::Path;

use l3roamd::wire::icmpv6::{self, Ndp, NeighborAdvert, NeighborSolicit};
use l3roamd::wire::intercom::{self, Header, Info, Message, MessageType, Packet, Repr};
use l3roamd::wire::{Error, MacAddr, ipv6};

/// The payload bytes of a vector file: every line not starting with `#` is hex bytes.
fn vector(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .flat_map(str::split_whitespace)
        .map(|byte| {
            u8::from_str_radix(byte, 16).unwrap_or_else(|e| panic!("{name}: {byte:?}: {e}"))
        })
        .collect()
}

fn ip(text: &str) -> Ipv6Addr {
    text.parse().unwrap()
}

fn mac(text: &str) -> MacAddr {
    text.parse().unwrap()
}

fn header(ttl: u8, nonce: [u8; 4], sender: &str) -> Header {
    Header {
        ttl,
        nonce,
        sender: ip(sender),
    }
}

/// Decodes `name`, compares with `expected` (and the type and length the header states),
/// and re-encodes; returns the bytes for further checks.
fn check(name: &str, len: usize, msg_type: MessageType, expected: &Repr) -> Vec<u8> {
    let bytes = vector(name);
    assert_eq!(bytes.len(), len, "{name}: length");
    let packet = Packet::new_checked(&bytes[..]).unwrap();
    assert_eq!(packet.version(), 0, "{name}: version");
    assert_eq!(packet.msg_type(), Ok(msg_type), "{name}: type");
    let repr = Repr::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(&repr, expected, "{name}: decoded fields");
    assert_eq!(repr.msg_type(), msg_type);
    assert_eq!(repr.buffer_len(), len, "{name}: buffer_len");
    let mut out = vec![0xa5; len];
    repr.emit(&mut out);
    assert_eq!(out, bytes, "{name}: re-encoded bytes");
    assert_eq!(repr.check_sendable(), Ok(()), "{name}: sendable");
    bytes
}

fn seek(ttl: u8, nonce: [u8; 4], sender: &str, address: &str) -> Repr {
    Repr {
        header: header(ttl, nonce, sender),
        message: Message::Seek {
            addresses: vec![ip(address)],
        },
    }
}

fn claim(nonce: [u8; 4], sender: &str, client: &str) -> Repr {
    Repr {
        header: header(1, nonce, sender),
        message: Message::Claim { mac: mac(client) },
    }
}

fn ack(nonce: [u8; 4], sender: &str, client: &str) -> Repr {
    Repr {
        header: header(1, nonce, sender),
        message: Message::Ack { mac: mac(client) },
    }
}

fn info(nonce: [u8; 4], sender: &str, client: &str, plat: &str, addresses: &[&str]) -> Repr {
    Repr {
        header: header(1, nonce, sender),
        message: Message::Info(Info {
            mac: mac(client),
            lease: 0,
            plat: ip(plat),
            addresses: addresses.iter().map(|a| ip(a)).collect(),
        }),
    }
}

/// A forwarded SEEK is the original with only the ttl byte changed.
fn assert_forwarded(original: &str, forwarded: &[u8], ttl: u8) {
    let mut bytes = vector(original);
    Packet::new_checked(&mut bytes[..]).unwrap().set_ttl(ttl);
    assert_eq!(bytes, forwarded);
}

// ---- CLAIM ----

#[test]
fn claim_hex() {
    let expected = claim(
        [0x00, 0x00, 0x56, 0x3c],
        "fd00:5523::b",
        "02:11:22:33:44:55",
    );
    check("claim.hex", 32, MessageType::Claim, &expected);
    // Sent to the node-client IP derived from the claimed MAC (default -P fec0::/64).
    assert_eq!(
        mac("02:11:22:33:44:55").node_client_ip(&ip("fec0::")),
        ip("fec0::11:22ff:fe33:4455")
    );
}

#[test]
fn claim_repeated_nonce_hex() {
    let expected = claim(
        [0x00, 0x00, 0x56, 0x3c],
        "fd00:5523::b",
        "02:11:22:33:44:66",
    );
    let bytes = check(
        "claim-repeated-nonce.hex",
        32,
        MessageType::Claim,
        &expected,
    );
    // Same nonce and type as claim.hex, different client: only the payload tells them apart.
    let first = vector("claim.hex");
    assert_eq!(bytes[..26], first[..26]);
    assert_ne!(bytes[26..], first[26..]);
}

#[test]
fn claim_4addr_flow_hex() {
    let expected = claim(
        [0x00, 0x00, 0x55, 0xc9],
        "fd00:5523::b",
        "02:11:22:33:44:66",
    );
    check("claim-4addr-flow.hex", 32, MessageType::Claim, &expected);
}

#[test]
fn input_claim_handcrafted_hex() {
    let expected = claim(
        [0xde, 0xad, 0xbe, 0xef],
        "fd00:5523::b",
        "02:11:22:33:44:88",
    );
    check(
        "input-claim-handcrafted.hex",
        32,
        MessageType::Claim,
        &expected,
    );
}

// ---- ACK ----

#[test]
fn ack_hex() {
    let expected = ack(
        [0x00, 0x00, 0x56, 0x3c],
        "fd00:5523::b",
        "02:11:22:33:44:55",
    );
    let bytes = check("ack.hex", 32, MessageType::Ack, &expected);
    // The broken C nonce: B's ACK carries the same nonce as B's CLAIM.
    assert_eq!(bytes[4..8], vector("claim.hex")[4..8]);
}

#[test]
fn ack_4addr_flow_hex() {
    let expected = ack(
        [0x00, 0x00, 0x55, 0xc9],
        "fd00:5523::b",
        "02:11:22:33:44:66",
    );
    check("ack-4addr-flow.hex", 32, MessageType::Ack, &expected);
}

#[test]
fn input_ack_handcrafted_hex() {
    let expected = ack(
        [0xca, 0xfe, 0x00, 0x02],
        "fd00:5523::b",
        "02:11:22:33:44:99",
    );
    check("input-ack-handcrafted.hex", 32, MessageType::Ack, &expected);
}

// ---- INFO ----

#[test]
fn info_1addr_hex() {
    let expected = info(
        [0x00, 0x00, 0x55, 0xf7],
        "fd00:5523::a",
        "02:11:22:33:44:55",
        "::",
        &["2001:db8:1::55"],
    );
    check("info-1addr.hex", 68, MessageType::Info, &expected);
}

#[test]
fn info_4addr_v4_hex() {
    let expected = info(
        [0x00, 0x00, 0x55, 0xf2],
        "fd00:5523::a",
        "02:11:22:33:44:66",
        "::",
        &[
            "2001:db8:1::66",
            "fe80::11:22ff:fe33:4466",
            "::ffff:198.51.100.66",
            "2001:db8:1::1:66",
        ],
    );
    check("info-4addr-v4.hex", 116, MessageType::Info, &expected);
}

#[test]
fn info_5addr_hex() {
    let expected = info(
        [0x00, 0x00, 0x55, 0x7b],
        "fd00:5523::a",
        "02:11:22:33:44:77",
        "::",
        &[
            "2001:db8:1::100",
            "2001:db8:1::101",
            "2001:db8:1::102",
            "2001:db8:1::103",
            "2001:db8:1::104",
        ],
    );
    check("info-5addr.hex", 132, MessageType::Info, &expected);
}

#[test]
fn info_plat_hex() {
    let expected = info(
        [0x00, 0x00, 0x56, 0x15],
        "fd00:5523::a",
        "02:11:22:33:44:55",
        "64:ff9b::",
        &["2001:db8:1::55", "::ffff:198.51.100.55"],
    );
    check("info-plat.hex", 84, MessageType::Info, &expected);
}

#[test]
fn info_plat_propagated_hex() {
    let expected = info(
        [0x00, 0x00, 0x55, 0xac],
        "fd00:5523::b",
        "02:11:22:33:44:55",
        "64:ff9b::",
        &["2001:db8:1::55"],
    );
    check("info-plat-propagated.hex", 68, MessageType::Info, &expected);
}

#[test]
fn info_v4_arp_hex() {
    let expected = info(
        [0x00, 0x00, 0x55, 0x8a],
        "fd00:5523::a",
        "02:11:22:33:44:55",
        "::",
        &["::ffff:198.51.100.55"],
    );
    check("info-v4-arp.hex", 68, MessageType::Info, &expected);
}

#[test]
fn info_reply_to_input_claim_hex() {
    let expected = info(
        [0x00, 0x00, 0x55, 0xc1],
        "fd00:5523::a",
        "02:11:22:33:44:88",
        "::",
        &["2001:db8:1::88"],
    );
    check(
        "info-reply-to-input-claim.hex",
        68,
        MessageType::Info,
        &expected,
    );
}

// ---- SEEK ----

#[test]
fn seek_v6_hex() {
    let expected = seek(
        255,
        [0x00, 0x00, 0x55, 0xb7],
        "fd00:5523::c",
        "2001:db8:1::99",
    );
    check("seek-v6.hex", 44, MessageType::Seek, &expected);
    // Captured on its way to ff02::5523, UDP 5523 -> 5523.
    assert_eq!(intercom::GROUP, ip("ff02::5523"));
    assert_eq!(intercom::PORT, 5523);
}

#[test]
fn seek_v4_hex() {
    let expected = seek(
        255,
        [0x00, 0x00, 0x56, 0x0b],
        "fd00:5523::c",
        "::ffff:198.51.100.55",
    );
    check("seek-v4.hex", 44, MessageType::Seek, &expected);
}

#[test]
fn seek_v4_same_nonce_hex() {
    let expected = seek(
        255,
        [0x00, 0x00, 0x55, 0xb7],
        "fd00:5523::c",
        "::ffff:198.51.100.99",
    );
    let bytes = check("seek-v4-same-nonce.hex", 44, MessageType::Seek, &expected);
    assert_eq!(bytes[4..8], vector("seek-v6.hex")[4..8]);
}

#[test]
fn seek_forwarded_hex() {
    let expected = seek(
        254,
        [0x00, 0x00, 0x55, 0xb7],
        "fd00:5523::c",
        "2001:db8:1::99",
    );
    let bytes = check("seek-forwarded.hex", 44, MessageType::Seek, &expected);
    assert_forwarded("seek-v6.hex", &bytes, 254);
}

#[test]
fn seek_forwarded_2hop_hex() {
    let expected = seek(
        253,
        [0x00, 0x00, 0x55, 0xb7],
        "fd00:5523::c",
        "2001:db8:1::99",
    );
    let bytes = check("seek-forwarded-2hop.hex", 44, MessageType::Seek, &expected);
    assert_forwarded("seek-v6.hex", &bytes, 253);
}

#[test]
fn seek_forwarded_v4_hex() {
    let expected = seek(
        254,
        [0x00, 0x00, 0x56, 0x0b],
        "fd00:5523::c",
        "::ffff:198.51.100.55",
    );
    let bytes = check("seek-forwarded-v4.hex", 44, MessageType::Seek, &expected);
    assert_forwarded("seek-v4.hex", &bytes, 254);
}

// ---- NDP frames the Linux kernel sent in the same captures ----

/// Splits an NDP vector into its IPv6 header and ICMPv6 message and checks that both
/// re-encode to the captured bytes.
fn check_ndp(name: &str, src: &str, dst: &str, expected: Ndp) -> Vec<u8> {
    let bytes = vector(name);
    let header = ipv6::Repr::parse(&bytes).unwrap();
    assert_eq!(header.src, ip(src), "{name}: source");
    assert_eq!(header.dst, ip(dst), "{name}: destination");
    assert_eq!(header.hop_limit, 255, "{name}: hop limit");
    assert_eq!(header.next_header, 58, "{name}: next header");
    assert_eq!(usize::from(header.payload_len), bytes.len() - 40);
    assert_eq!(header.to_bytes(), bytes[..40], "{name}: IPv6 header");
    let message = &bytes[40..];
    assert!(icmpv6::verify_checksum(&header.src, &header.dst, message));
    assert_eq!(Ndp::parse(message), Ok(expected), "{name}: decoded fields");
    let mut out = vec![0; expected.buffer_len()];
    expected.emit_with_checksum(&header.src, &header.dst, &mut out);
    assert_eq!(out, message, "{name}: re-encoded with checksum");
    bytes
}

#[test]
fn ndp_ns_multicast_hex() {
    let expected = NeighborSolicit {
        target: ip("fe80::a"),
        source_ll: Some(mac("02:00:00:00:0b:00")),
    };
    let bytes = check_ndp(
        "ndp-ns-multicast.hex",
        "fe80::b",
        "ff02::1:ff00:a",
        expected.into(),
    );
    assert_eq!(ipv6::solicited_node(&expected.target), ip("ff02::1:ff00:a"));
    let (header, ns) = icmpv6::parse_ns_packet(&bytes).unwrap();
    assert_eq!((header.src, ns), (ip("fe80::b"), expected));
}

#[test]
fn ndp_ns_unicast_hex() {
    let expected = NeighborSolicit {
        target: ip("fe80::b"),
        source_ll: Some(mac("02:00:00:00:0a:00")),
    };
    let mut bytes = check_ndp("ndp-ns-unicast.hex", "fe80::a", "fe80::b", expected.into());
    assert_eq!(icmpv6::parse_ns_packet(&bytes).unwrap().1, expected);
    // What the snooping path insists on beyond the C daemon.
    bytes[7] = 64;
    assert_eq!(icmpv6::parse_ns_packet(&bytes), Err(Error::BadHopLimit(64)));
    bytes[7] = 255;
    bytes[6] = 17;
    assert_eq!(
        icmpv6::parse_ns_packet(&bytes),
        Err(Error::UnexpectedProtocol(17))
    );
    bytes[6] = 58;
    bytes[43] ^= 1;
    assert_eq!(icmpv6::parse_ns_packet(&bytes), Err(Error::BadChecksum));
}

#[test]
fn ndp_na_solicited_hex() {
    let expected = NeighborAdvert {
        router: true,
        solicited: true,
        override_: true,
        target: ip("fe80::a"),
        target_ll: Some(mac("02:00:00:00:0a:00")),
    };
    let bytes = check_ndp(
        "ndp-na-solicited.hex",
        "fe80::a",
        "fe80::b",
        expected.into(),
    );
    assert_eq!(
        icmpv6::parse_ns_packet(&bytes),
        Err(Error::UnknownType(136))
    );
}

#[test]
fn ndp_na_no_option_hex() {
    let expected = NeighborAdvert {
        router: true,
        solicited: true,
        override_: false,
        target: ip("fe80::b"),
        target_ll: None,
    };
    check_ndp(
        "ndp-na-no-option.hex",
        "fe80::b",
        "fe80::a",
        expected.into(),
    );
}

#[test]
fn every_vector_file_has_a_test() {
    let source = include_str!("wire_vectors.rs");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".hex"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 24);
    for name in names {
        let test = format!("fn {}()", name.replace(['-', '.'], "_"));
        assert!(source.contains(&test), "no test `{test}` for {name}");
    }
}
