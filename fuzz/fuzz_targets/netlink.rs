//! Netlink datagrams as the kernel sends them on the rtnetlink and nl80211 sockets: the message
//! walk, every decoder, the attribute accessors, and the per-socket translation into engine
//! inputs.
#![no_main]

use l3roamd::sys::netlink::{self as nl, HEADER_LEN, Message};
use l3roamd::sys::{nl80211, rtnl};
use libfuzzer_sys::fuzz_target;

fn decode(msg: &Message<'_>, loopback: &mut u32) {
    let _ = nl::parse_status(msg);
    let _ = nl::parse_link(msg);
    let _ = nl::parse_address(msg);
    if let Ok(route) = nl::parse_route(msg) {
        let _ = rtnl::lookup_answer(&route);
    }
    let _ = nl::parse_neighbour(msg);
    if let Ok(family) = nl::parse_family(msg) {
        let _ = family.group("mlme");
    }
    let _ = rtnl::to_input(msg, loopback);
    // As if the message's own type were the nl80211 family id the kernel gave us.
    let _ = nl80211::parse_station(msg, msg.header.kind);
    walk(msg.payload, 0);
}

/// Every attribute, nested ones too (to a depth real messages never reach).
fn walk(bytes: &[u8], depth: u32) {
    // An attribute is at least 4 bytes, so no walk yields more than that many.
    assert!(nl::attrs(bytes).count() <= bytes.len() / 4 + 1);
    for attr in nl::attrs(bytes).flatten() {
        let _ = (attr.u8(), attr.u16(), attr.u32(), attr.ip(), attr.mac());
        let _ = attr.string();
        if depth < 4 {
            walk(attr.value, depth + 1);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut loopback = 0;
    let mut count = 0;
    for msg in nl::messages(data) {
        count += 1;
        assert!(
            count <= data.len() / HEADER_LEN + 1,
            "message walk does not end"
        );
        if let Ok(msg) = msg {
            decode(&msg, &mut loopback);
        }
    }
    // The fixed family headers alone, at any offset the walk could not reach.
    let _ = nl::IfInfoMsg::parse(data);
    let _ = nl::IfAddrMsg::parse(data);
    let _ = nl::RtMsg::parse(data);
    let _ = nl::NdMsg::parse(data);
    let _ = nl::GenlMsgHdr::parse(data);
});
