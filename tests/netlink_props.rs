//! Properties of the netlink codec: no bytes make a decoder panic or walk without end, and
//! every request decodes back to what was encoded.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::collection::vec;
use proptest::prelude::*;

use l3roamd::sys::netlink::{self as nl, Message, RouteSpec};

/// Runs every decoder over one message; only panics matter here.
fn decode_all(msg: &Message<'_>) {
    let _ = nl::parse_status(msg);
    let _ = nl::parse_link(msg);
    let _ = nl::parse_address(msg);
    let _ = nl::parse_route(msg);
    let _ = nl::parse_neighbour(msg);
    let _ = nl::parse_family(msg);
    for attr in nl::attrs(msg.payload).flatten() {
        let _ = (attr.u8(), attr.u16(), attr.u32(), attr.ip(), attr.mac());
        let _ = attr.string();
        assert!(attr.nested().count() <= attr.value.len() / 4 + 1);
    }
}

/// An attribute as raw bytes: a length that is right, too short or too long.
fn raw_attr() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u16>(),
        vec(any::<u8>(), 0..24),
        prop_oneof![Just(None), any::<u16>().prop_map(Some)],
    )
        .prop_map(|(kind, value, bad_len)| {
            let len = bad_len.unwrap_or((4 + value.len()) as u16);
            let mut bytes = len.to_ne_bytes().to_vec();
            bytes.extend(kind.to_ne_bytes());
            bytes.extend(value);
            bytes.resize(nl::align(bytes.len()), 0);
            bytes
        })
}

/// A message of a type the decoders know, with a header claiming any length, a plausible
/// family header and attributes of any shape.
fn raw_message() -> impl Strategy<Value = Vec<u8>> {
    let kind = prop_oneof![
        Just(nl::NLMSG_ERROR),
        Just(nl::NLMSG_DONE),
        Just(nl::RTM_NEWLINK),
        Just(nl::RTM_DELADDR),
        Just(nl::RTM_NEWROUTE),
        Just(nl::RTM_DELNEIGH),
        Just(nl::GENL_ID_CTRL),
        any::<u16>(),
    ];
    (
        kind,
        any::<u16>(),
        vec(any::<u8>(), 0..20),
        vec(raw_attr(), 0..6),
        prop_oneof![Just(None), any::<u32>().prop_map(Some)],
    )
        .prop_map(|(kind, flags, fixed, attrs, bad_len)| {
            let mut body = fixed;
            for a in attrs {
                body.extend(a);
            }
            let len = bad_len.unwrap_or((16 + body.len()) as u32);
            let mut bytes = len.to_ne_bytes().to_vec();
            bytes.extend(kind.to_ne_bytes());
            bytes.extend(flags.to_ne_bytes());
            bytes.extend([0u8; 8]);
            bytes.extend(body);
            bytes
        })
}

fn ip_addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        any::<[u8; 16]>().prop_map(|b| IpAddr::V6(Ipv6Addr::from(b))),
    ]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_the_walk_ends(bytes in vec(any::<u8>(), 0..512)) {
        let mut count = 0;
        for msg in nl::messages(&bytes) {
            count += 1;
            if let Ok(msg) = msg {
                decode_all(&msg);
            }
        }
        prop_assert!(count <= bytes.len() / nl::HEADER_LEN + 1);
        prop_assert!(nl::attrs(&bytes).count() <= bytes.len() / 4 + 1);
    }

    #[test]
    fn shaped_messages_never_panic(messages in vec(raw_message(), 1..5)) {
        let datagram: Vec<u8> = messages.concat();
        let mut count = 0;
        for msg in nl::messages(&datagram) {
            count += 1;
            if let Ok(msg) = msg {
                decode_all(&msg);
            }
        }
        prop_assert!(count <= messages.len());
    }

    #[test]
    fn route_requests_decode_to_what_was_encoded(
        dst in ip_addr(), dst_len in any::<u8>(), table in any::<u32>(),
        protocol in any::<u8>(), oif in any::<u32>(), seq in any::<u32>(), delete in any::<bool>(),
        metric in proptest::option::of(any::<u32>()),
    ) {
        let spec = RouteSpec { dst, dst_len, table, protocol, oif, metric };
        let bytes = if delete { nl::del_route(seq, &spec) } else { nl::new_route(seq, &spec) };
        let msgs: Vec<_> = nl::messages(&bytes).collect();
        prop_assert_eq!(msgs.len(), 1);
        let msg = msgs[0].unwrap();
        prop_assert_eq!(msg.header.seq, seq);
        prop_assert_eq!(msg.header.len as usize, bytes.len());
        let route = nl::parse_route(&msg).unwrap();
        prop_assert_eq!(route.deleted, delete);
        prop_assert_eq!(route.dst, Some(dst));
        prop_assert_eq!(route.header.dst_len, dst_len);
        prop_assert_eq!(route.table, table);
        prop_assert_eq!(route.header.protocol, protocol);
        prop_assert_eq!(route.header.kind, nl::RTN_UNICAST);
        prop_assert_eq!(route.oif, Some(oif));
        prop_assert_eq!(route.priority, metric);
    }

    #[test]
    fn neighbour_and_address_requests_decode_to_what_was_encoded(
        addr in ip_addr(), ifindex in 0..i32::MAX as u32, mac in any::<[u8; 6]>(),
        state in any::<u16>(), v6 in any::<[u8; 16]>(), prefix_len in any::<u8>(),
    ) {
        let bytes = nl::new_neighbour(1, ifindex, &addr, mac, state);
        let n = nl::parse_neighbour(&nl::messages(&bytes).next().unwrap().unwrap()).unwrap();
        prop_assert_eq!((n.header.index as u32, n.header.state, n.dst, n.lladdr), (ifindex, state, Some(addr), Some(mac)));
        let bytes = nl::del_neighbour(2, ifindex, &addr);
        let n = nl::parse_neighbour(&nl::messages(&bytes).next().unwrap().unwrap()).unwrap();
        prop_assert!(n.deleted);
        prop_assert_eq!((n.header.flags, n.dst, n.lladdr), (0, Some(addr), None));

        let v6 = Ipv6Addr::from(v6);
        let bytes = nl::new_address(3, ifindex, &v6, prefix_len);
        let a = nl::parse_address(&nl::messages(&bytes).next().unwrap().unwrap()).unwrap();
        prop_assert_eq!((a.header.index, a.header.prefix_len, a.addr), (ifindex, prefix_len, Some(IpAddr::V6(v6))));
    }
}
