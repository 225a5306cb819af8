//! ARP packets as the snooping packet socket delivers them (no Ethernet header).
#![no_main]

use l3roamd::wire::arp::{Packet, Repr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = Packet::new_checked(data) {
        let _ = (
            packet.hardware_type(),
            packet.protocol_type(),
            packet.operation(),
        );
        let _ = (packet.hardware_len(), packet.protocol_len());
        let _ = (packet.sender_mac(), packet.sender_ip());
        let _ = (packet.target_mac(), packet.target_ip());
    }
    if let Ok(repr) = Repr::parse(data) {
        let bytes = repr.to_bytes();
        assert_eq!(bytes.len(), repr.buffer_len());
        assert_eq!(
            Repr::parse(&bytes),
            Ok(repr),
            "emit→parse changed the packet"
        );
    }
});
