//! ICMPv6 NS/NA as the raw ICMPv6 socket delivers them (no IPv6 header) and NS packets as the
//! snooping packet socket delivers them (IPv6 header first, checksum verified here).
#![no_main]

use std::net::Ipv6Addr;

use l3roamd::wire::icmpv6::{self, Ndp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ndp) = Ndp::parse(data) {
        // Options other than the link-layer one are dropped, so compare the meaning only.
        let bytes = ndp.to_bytes();
        assert_eq!(bytes.len(), ndp.buffer_len());
        assert_eq!(
            Ndp::parse(&bytes),
            Ok(ndp),
            "emit→parse changed the message"
        );
    }
    if let Ok((header, ns)) = icmpv6::parse_ns_packet(data) {
        // What parsed verified; the same message re-emitted with its checksum must too.
        let ndp = Ndp::Solicit(ns);
        let mut bytes = vec![0; ndp.buffer_len()];
        ndp.emit_with_checksum(&header.src, &header.dst, &mut bytes);
        assert!(icmpv6::verify_checksum(&header.src, &header.dst, &bytes));
    }
    if data.len() >= 32 {
        let src = Ipv6Addr::from(<[u8; 16]>::try_from(&data[..16]).unwrap());
        let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&data[16..32]).unwrap());
        let _ = icmpv6::verify_checksum(&src, &dst, &data[32..]);
    }
});
