//! Intercom datagrams from any neighbour: the strict parser, the raw view and its TLV walk.
//! Whatever parses must survive emit→parse unchanged.
#![no_main]

use l3roamd::wire::Error;
use l3roamd::wire::intercom::{MAX_DATAGRAM, Packet, Repr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = Packet::new_checked(data) {
        let _ = (
            packet.version(),
            packet.ttl(),
            packet.msg_type(),
            packet.nonce(),
        );
        let _ = (packet.sender(), packet.payload().len());
        // Every TLV takes at least one byte, so the walk ends within that many steps.
        assert!(packet.tlvs().count() <= packet.payload().len());
    }
    let Ok(repr) = Repr::parse(data) else {
        return;
    };
    let bytes = repr.to_bytes();
    assert_eq!(bytes.len(), repr.buffer_len());
    match Repr::parse(&bytes) {
        Ok(again) => assert_eq!(again, repr, "emit→parse changed the packet"),
        // Emit adds what a parser tolerates missing (an INFO's PLAT TLV), so a datagram at
        // the limit can come back longer than the limit; nothing else may fail.
        Err(Error::TooLong(len)) => assert!(len > MAX_DATAGRAM),
        Err(e) => panic!("{repr:?} emitted as {bytes:02x?} does not parse: {e}"),
    }
    let _ = repr.check_sendable();
});
