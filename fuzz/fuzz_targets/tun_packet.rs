//! One packet read from the tun device: the ICMP-error builder, then the engine, which holds
//! the packet, seeks its destination and, five seconds later, gives up on it.
#![no_main]

use std::net::IpAddr;

use l3roamd::engine::Input;
use l3roamd::wire::icmp_error::{self, HEADER_LEN, QUOTE_MAX_V4, QUOTE_MAX_V6};
use l3roamd_fuzz::Node;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((dst, message)) = icmp_error::unreachable(data) {
        let quote = match dst {
            IpAddr::V6(_) => QUOTE_MAX_V6,
            IpAddr::V4(_) => QUOTE_MAX_V4,
        };
        assert!(
            message.len() <= HEADER_LEN + quote,
            "{} bytes",
            message.len()
        );
        assert!(message.len() > HEADER_LEN);
        assert!(!dst.is_unspecified() && !dst.is_multicast());
    }
    let mut node = Node::new();
    node.input(Input::TunPacket(data.to_vec()));
    node.advance(6_000);
});
