//! The authenticated intercom format, version 2 (`spec/intercom.md` §13).
//!
//! A version-2 datagram is a version-0 datagram with the version byte set to 2 and a 40-byte
//! trailer:
//!
//! ```text
//!  0       1       2       3       4               8                      24
//! +-------+-------+-------+-------+---------------+----------------------+--- ... ---+
//! |   2   |  ttl  | type  | rsvd  |     nonce     |    sender (16)       | TLVs as v0 |
//! +-------+-------+-------+-------+---------------+----------------------+--- ... ---+
//! | timestamp (8): ms since the Unix epoch, big-endian | HMAC-SHA-256 (32)            |
//! +----------------------------------------------------+------------------------------+
//! ```
//!
//! The MAC covers every byte before it with the ttl byte taken as 0, so that a forwarder
//! decrements the ttl of a SEEK without the key and without breaking the MAC. Everything
//! else, the timestamp included, is covered. Deployed C peers drop every datagram whose first
//! byte is not 0 before they look at anything else (§6.1), so they never act on these.
//!
//! The timestamp is what makes replay protection possible without per-peer state: a
//! receiver accepts a datagram only within a window around its own wall clock, and remembers
//! the MACs it accepted for as long as they could come back inside that window (the engine's
//! `auth` module). The MAC is compared in constant time (`hmac`'s `verify_slice`).

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::Error;
use super::field::{array, put_u8};
use super::intercom::{HEADER_LEN, MAX_DATAGRAM, Repr};

/// The version byte of a signed datagram. Not 1: the C README calls the current format
/// "version 1", and the pre-2018 format put the ttl (1 in unicast) at offset 0.
pub const VERSION: u8 = 2;
pub const TIMESTAMP_LEN: usize = 8;
pub const MAC_LEN: usize = 32;
pub const TRAILER_LEN: usize = TIMESTAMP_LEN + MAC_LEN;
/// The longest version-0 datagram that still fits into [`MAX_DATAGRAM`] once signed. The
/// daemon's own datagrams are far below it (an INFO with 15 addresses is 292 bytes).
pub const MAX_BODY: usize = MAX_DATAGRAM - TRAILER_LEN;
/// Keys shorter than 128 bits are too easy to guess; longer than SHA-256's block (64 bytes)
/// HMAC would hash them down first, which buys nothing.
pub const MIN_KEY_LEN: usize = 16;
pub const MAX_KEY_LEN: usize = 64;
/// The first key signs and every key verifies: two suffice for a rollover, four leave room
/// for a slow one.
pub const MAX_KEYS: usize = 4;

const TTL_OFFSET: usize = 1;

type HmacSha256 = Hmac<Sha256>;

/// A shared secret of 16 to 64 bytes. Its bytes never leave this module: `Debug` shows the
/// length only, so that no log line or panic message can carry them.
#[derive(Clone, PartialEq, Eq)]
pub struct Key(Vec<u8>);

impl Key {
    /// `None` unless `bytes` is 16 to 64 bytes long.
    pub fn new(bytes: &[u8]) -> Option<Key> {
        (MIN_KEY_LEN..=MAX_KEY_LEN)
            .contains(&bytes.len())
            .then(|| Key(bytes.to_vec()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The MAC of `signed` (header, TLVs and timestamp) with the ttl byte taken as 0.
    /// `None` cannot happen (HMAC takes keys of any length) but is no reason to panic.
    fn mac(&self, signed: &[u8]) -> Option<HmacSha256> {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.0).ok()?;
        mac.update(signed.get(..TTL_OFFSET).unwrap_or(&[]));
        mac.update(&[0]);
        mac.update(signed.get(TTL_OFFSET + 1..).unwrap_or(&[]));
        Some(mac)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({} bytes)", self.0.len())
    }
}

/// Signs a datagram: `datagram` is a version-0 datagram (its version byte is replaced), the
/// result the version-2 datagram that carries the same header and TLVs.
pub fn sign(datagram: &[u8], key: &Key, timestamp_ms: u64) -> Result<Vec<u8>, Error> {
    if datagram.len() < HEADER_LEN {
        return Err(Error::Truncated);
    }
    if datagram.len() > MAX_BODY {
        return Err(Error::TooLong(datagram.len() + TRAILER_LEN));
    }
    let mut out = Vec::with_capacity(datagram.len() + TRAILER_LEN);
    out.extend_from_slice(datagram);
    put_u8(&mut out, 0, VERSION);
    out.extend_from_slice(&timestamp_ms.to_be_bytes());
    let tag = key.mac(&out).ok_or(Error::BadMac)?.finalize().into_bytes();
    out.extend_from_slice(&tag);
    Ok(out)
}

/// A checked view of a version-2 datagram: long enough for header and trailer, at most
/// [`MAX_DATAGRAM`] bytes. Nothing in it is trusted before [`Frame::verify`] succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    bytes: &'a [u8],
}

impl<'a> Frame<'a> {
    pub fn new_checked(bytes: &'a [u8]) -> Result<Frame<'a>, Error> {
        match bytes.first() {
            None => return Err(Error::Truncated),
            Some(&VERSION) => {}
            Some(&other) => return Err(Error::UnsupportedVersion(other)),
        }
        if bytes.len() < HEADER_LEN + TRAILER_LEN {
            return Err(Error::Truncated);
        }
        if bytes.len() > MAX_DATAGRAM {
            return Err(Error::TooLong(bytes.len()));
        }
        Ok(Frame { bytes })
    }

    /// Header and TLVs: everything before the trailer (the version byte still says 2).
    pub fn body(&self) -> &'a [u8] {
        self.bytes
            .get(..self.bytes.len() - TRAILER_LEN)
            .unwrap_or(&[])
    }

    pub fn timestamp_ms(&self) -> u64 {
        u64::from_be_bytes(array(self.bytes, self.body().len()))
    }

    pub fn mac(&self) -> [u8; MAC_LEN] {
        array(self.bytes, self.bytes.len() - MAC_LEN)
    }

    /// Which of `keys` the MAC verifies under (the first that does), in constant time per
    /// key.
    pub fn verify(&self, keys: &[Key]) -> Result<usize, Error> {
        let split = self.bytes.len() - MAC_LEN;
        let (signed, tag) = (
            self.bytes.get(..split).unwrap_or(&[]),
            self.bytes.get(split..).unwrap_or(&[]),
        );
        keys.iter()
            .position(|key| key.mac(signed).is_some_and(|m| m.verify_slice(tag).is_ok()))
            .ok_or(Error::BadMac)
    }

    /// The message, parsed as strictly as a version-0 datagram (`spec/intercom.md` §6.2).
    pub fn repr(&self) -> Result<Repr, Error> {
        Repr::parse_unversioned(self.body())
    }

    /// The version-0 datagram that carries the same message: what a node that still sends
    /// both formats forwards to C peers beside the signed copy.
    pub fn to_unsigned(&self) -> Vec<u8> {
        let mut out = self.body().to_vec();
        put_u8(&mut out, 0, super::intercom::VERSION);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::MacAddr;
    use crate::wire::intercom::{Header, Message};

    fn key(byte: u8) -> Key {
        Key::new(&[byte; 32]).unwrap()
    }

    fn claim() -> Vec<u8> {
        Repr {
            header: Header {
                ttl: 1,
                nonce: [1, 2, 3, 4],
                sender: "fd00::b".parse().unwrap(),
            },
            message: Message::Claim {
                mac: MacAddr([0, 0x11, 0x22, 0x33, 0x44, 0x55]),
            },
        }
        .to_bytes()
    }

    #[test]
    fn a_signed_claim_byte_by_byte() {
        let unsigned = claim();
        let signed = sign(&unsigned, &key(7), 0x0102_0304_0506_0708).unwrap();
        assert_eq!(signed.len(), 32 + 40);
        assert_eq!(signed[0], 2);
        assert_eq!(signed[1..32], unsigned[1..32]);
        assert_eq!(signed[32..40], [1, 2, 3, 4, 5, 6, 7, 8]);
        // The MAC is HMAC-SHA-256 over bytes 0..40 with the ttl byte zeroed.
        let mut zeroed = signed[..40].to_vec();
        zeroed[1] = 0;
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&[7; 32]).unwrap();
        mac.update(&zeroed);
        assert_eq!(signed[40..], mac.finalize().into_bytes()[..]);
    }

    #[test]
    fn hmac_sha256_matches_rfc_4231_test_case_2() {
        // Key "Jefe" is too short for a Key; the primitive underneath is what is checked.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, expected);
    }

    #[test]
    fn round_trip_and_ttl_changes() {
        let unsigned = claim();
        let mut signed = sign(&unsigned, &key(7), 1_700_000_000_000).unwrap();
        let frame = Frame::new_checked(&signed).unwrap();
        assert_eq!(frame.verify(&[key(7)]), Ok(0));
        assert_eq!(frame.timestamp_ms(), 1_700_000_000_000);
        assert_eq!(frame.repr(), Repr::parse(&unsigned));
        assert_eq!(frame.to_unsigned(), unsigned);
        signed[1] = 200;
        let frame = Frame::new_checked(&signed).unwrap();
        assert_eq!(frame.verify(&[key(7)]), Ok(0), "the ttl is not covered");
        assert_eq!(frame.repr().unwrap().header.ttl, 200);
    }

    #[test]
    fn wrong_key_fails_and_any_listed_key_verifies() {
        let signed = sign(&claim(), &key(2), 5).unwrap();
        let frame = Frame::new_checked(&signed).unwrap();
        assert_eq!(frame.verify(&[key(1)]), Err(Error::BadMac));
        assert_eq!(frame.verify(&[]), Err(Error::BadMac));
        assert_eq!(frame.verify(&[key(1), key(2)]), Ok(1));
        // A key that is a prefix of the right one is another key.
        let short = Key::new(&[2; 16]).unwrap();
        assert_eq!(frame.verify(&[short]), Err(Error::BadMac));
    }

    #[test]
    fn frame_checks() {
        let signed = sign(&claim(), &key(1), 0).unwrap();
        assert_eq!(Frame::new_checked(&[]), Err(Error::Truncated));
        assert_eq!(
            Frame::new_checked(&claim()),
            Err(Error::UnsupportedVersion(0))
        );
        assert_eq!(Frame::new_checked(&signed[..63]), Err(Error::Truncated));
        assert!(Frame::new_checked(&signed[..64]).is_ok());
        let mut long = signed.clone();
        long.resize(1501, 0);
        assert_eq!(Frame::new_checked(&long), Err(Error::TooLong(1501)));
        // A frame of header and trailer only has a body without TLVs: malformed.
        let bare = sign(&claim()[..24], &key(1), 0).unwrap();
        let frame = Frame::new_checked(&bare).unwrap();
        assert_eq!(frame.verify(&[key(1)]), Ok(0));
        assert_eq!(frame.repr(), Err(Error::MissingTlv));
    }

    #[test]
    fn signing_keeps_within_1500_bytes() {
        let body = {
            let mut b = claim();
            b.resize(MAX_BODY, 0);
            b
        };
        assert_eq!(sign(&body, &key(1), 0).map(|s| s.len()), Ok(1500));
        let mut over = body.clone();
        over.push(0);
        assert_eq!(sign(&over, &key(1), 0), Err(Error::TooLong(1501)));
        assert_eq!(sign(&[0; 23], &key(1), 0), Err(Error::Truncated));
    }

    #[test]
    fn keys_are_16_to_64_bytes_and_never_shown() {
        assert!(Key::new(&[0; 15]).is_none());
        assert!(Key::new(&[0; 65]).is_none());
        assert_eq!(Key::new(&[0; 16]).map(|k| k.len()), Some(16));
        assert_eq!(Key::new(&[0xab; 64]).map(|k| k.len()), Some(64));
        let shown = format!("{:?}", Key::new(&[0xab; 20]).unwrap());
        assert_eq!(shown, "Key(20 bytes)");
    }
}
