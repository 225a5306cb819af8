//! Intercom datagrams from any neighbour: the strict parser, the raw view and its TLV walk,
//! and the signed (version 2) frame. Whatever parses must survive emit→parse unchanged.
#![no_main]

use l3roamd::wire::Error;
use l3roamd::wire::auth::{self, Frame, Key};
use l3roamd::wire::intercom::{MAX_DATAGRAM, Packet, Repr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = Frame::new_checked(data) {
        let key = Key::new(&[0x5a; 32]).expect("a 32-byte key");
        let _ = (frame.timestamp_ms(), frame.mac(), frame.to_unsigned());
        // A random MAC does not verify; re-signed, the same body must, and parse the same.
        let _ = frame.verify(std::slice::from_ref(&key));
        if let Ok(repr) = frame.repr() {
            let signed = auth::sign(frame.body(), &key, frame.timestamp_ms())
                .expect("a frame's body fits once signed");
            let again = Frame::new_checked(&signed).expect("a signed frame");
            assert_eq!(again.verify(&[key]), Ok(0));
            assert_eq!(again.repr(), Ok(repr));
        }
    }
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
