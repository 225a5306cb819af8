//! IPv4, IPv6 and Ethernet headers: every view accessor and every owned parse, and
//! emit→parse for what parses.
#![no_main]

use l3roamd::wire::checksum::Mode;
use l3roamd::wire::{ethernet, ipv4, ipv6};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = ipv4::Packet::new_checked(data) {
        let _ = (
            packet.version(),
            packet.ihl(),
            packet.dscp_ecn(),
            packet.ident(),
        );
        let _ = (
            packet.flags_fragment(),
            packet.fragment_offset(),
            packet.ttl(),
        );
        let _ = (
            packet.protocol(),
            packet.checksum(),
            packet.src_addr(),
            packet.dst_addr(),
        );
        let _ = packet.verify_checksum();
        assert!(packet.header_len() + packet.payload().len() <= data.len());
        assert!(packet.options().len() <= 40);
    }
    for mode in [Mode::Verify, Mode::Ignore] {
        if let Ok(repr) = ipv4::Repr::parse(data, mode) {
            let _ = (
                repr.dont_fragment(),
                repr.more_fragments(),
                repr.fragment_offset(),
            );
            // The header alone does not parse when the total length claims more: pad it.
            let mut bytes = repr.to_bytes();
            let total = usize::from(repr.total_len).max(bytes.len());
            bytes.resize(total, 0);
            assert_eq!(
                ipv4::Repr::parse(&bytes, Mode::Verify),
                Ok(repr),
                "emit→parse changed the header"
            );
        }
    }
    if let Ok(packet) = ipv6::Packet::new_checked(data) {
        let _ = (
            packet.version(),
            packet.traffic_class(),
            packet.flow_label(),
        );
        let _ = (
            packet.next_header(),
            packet.hop_limit(),
            packet.src_addr(),
            packet.dst_addr(),
        );
        assert_eq!(packet.payload().len(), usize::from(packet.payload_len()));
    }
    if let Ok(repr) = ipv6::Repr::parse(data) {
        let mut bytes = repr.to_bytes();
        bytes.resize(ipv6::HEADER_LEN + usize::from(repr.payload_len), 0);
        assert_eq!(
            ipv6::Repr::parse(&bytes),
            Ok(repr),
            "emit→parse changed the header"
        );
        let _ = ipv6::solicited_node(&repr.dst);
    }
    if let Ok(frame) = ethernet::Packet::new_checked(data) {
        let _ = (
            frame.dst(),
            frame.src(),
            frame.ethertype(),
            frame.payload().len(),
        );
    }
    if let Ok(repr) = ethernet::Repr::parse(data) {
        let mut bytes = vec![0; repr.buffer_len()];
        repr.emit(&mut bytes);
        assert_eq!(
            ethernet::Repr::parse(&bytes),
            Ok(repr),
            "emit→parse changed the header"
        );
    }
});
