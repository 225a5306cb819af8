//! The IPv4 header (RFC 791 §3.1), as read from the tun device.
//!
//! ```text
//!  0       4       8               16      19                      32
//! +-------+-------+---------------+-------------------------------+
//! |version|  IHL  | DSCP / ECN    |         total length          |
//! +-------+-------+---------------+-------+-----------------------+
//! |        identification         | flags |   fragment offset     |
//! +---------------+---------------+-------+-----------------------+
//! |      TTL      |   protocol    |        header checksum        |
//! +---------------+---------------+-------------------------------+
//! |                       source address                          |  12..16
//! |                    destination address                        |  16..20
//! |                  options (IHL * 4 - 20 bytes)                 |  20..
//! +---------------------------------------------------------------+
//! ```

use std::net::Ipv4Addr;

use super::Error;
use super::checksum::{self, Mode};
use super::field::{ipv4_at, put, put_u8, put_u16, u8_at, u16_at};

pub const MIN_HEADER_LEN: usize = 20;
pub const MAX_HEADER_LEN: usize = 60;
pub const VERSION: u8 = 4;
pub const PROTOCOL_ICMP: u8 = 1;

const FLAG_DONT_FRAGMENT: u16 = 0x4000;
const FLAG_MORE_FRAGMENTS: u16 = 0x2000;
const FRAGMENT_OFFSET_MASK: u16 = 0x1fff;

mod offset {
    pub const VERSION_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const TOTAL_LEN: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAGMENT: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

/// A view of an IPv4 packet whose buffer holds the whole header and the whole datagram the
/// total length announces (bytes after it are ignored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let len = buffer.as_ref().len();
        if len < MIN_HEADER_LEN {
            return Err(Error::Truncated);
        }
        let packet = Packet { buffer };
        let header_len = packet.header_len();
        if header_len < MIN_HEADER_LEN {
            return Err(Error::BadHeaderLength(packet.ihl()));
        }
        let total_len = usize::from(packet.total_len());
        if total_len < header_len {
            return Err(Error::BadHeaderLength(packet.ihl()));
        }
        if len < total_len {
            return Err(Error::Truncated);
        }
        Ok(packet)
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    pub fn version(&self) -> u8 {
        u8_at(self.bytes(), offset::VERSION_IHL) >> 4
    }

    /// The header length in 32-bit words.
    pub fn ihl(&self) -> u8 {
        u8_at(self.bytes(), offset::VERSION_IHL) & 0x0f
    }

    pub fn header_len(&self) -> usize {
        usize::from(self.ihl()) * 4
    }

    pub fn dscp_ecn(&self) -> u8 {
        u8_at(self.bytes(), offset::DSCP_ECN)
    }

    pub fn total_len(&self) -> u16 {
        u16_at(self.bytes(), offset::TOTAL_LEN)
    }

    pub fn ident(&self) -> u16 {
        u16_at(self.bytes(), offset::IDENT)
    }

    /// Flags and fragment offset as on the wire.
    pub fn flags_fragment(&self) -> u16 {
        u16_at(self.bytes(), offset::FLAGS_FRAGMENT)
    }

    /// In 8-byte units; non-zero for a non-initial fragment.
    pub fn fragment_offset(&self) -> u16 {
        self.flags_fragment() & FRAGMENT_OFFSET_MASK
    }

    pub fn ttl(&self) -> u8 {
        u8_at(self.bytes(), offset::TTL)
    }

    pub fn protocol(&self) -> u8 {
        u8_at(self.bytes(), offset::PROTOCOL)
    }

    pub fn checksum(&self) -> u16 {
        u16_at(self.bytes(), offset::CHECKSUM)
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        ipv4_at(self.bytes(), offset::SRC)
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        ipv4_at(self.bytes(), offset::DST)
    }

    pub fn options(&self) -> &[u8] {
        self.bytes()
            .get(MIN_HEADER_LEN..self.header_len())
            .unwrap_or(&[])
    }

    pub fn verify_checksum(&self) -> bool {
        let header = self.bytes().get(..self.header_len()).unwrap_or(&[]);
        checksum::sum(header) == 0xffff
    }

    /// The datagram after the header, up to the total length.
    pub fn payload(&self) -> &[u8] {
        self.bytes()
            .get(self.header_len()..usize::from(self.total_len()))
            .unwrap_or(&[])
    }
}

/// The IPv4 header, owned. The version (4) and IHL (from `options`) are implied, and the
/// checksum is computed by [`Repr::emit`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Repr {
    pub dscp_ecn: u8,
    /// Length of the whole datagram, header included.
    pub total_len: u16,
    pub ident: u16,
    /// Reserved bit, DF, MF and the fragment offset in 8-byte units, as on the wire.
    pub flags_fragment: u16,
    pub ttl: u8,
    pub protocol: u8,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// Raw option bytes; parsing yields a multiple of 4, at most 40. Emit pads with zeros
    /// (End of Option List) to a multiple of 4 and cuts beyond 40.
    pub options: Vec<u8>,
}

impl Repr {
    pub fn parse(bytes: &[u8], checksum: Mode) -> Result<Repr, Error> {
        let packet = Packet::new_checked(bytes)?;
        if packet.version() != VERSION {
            return Err(Error::UnsupportedVersion(packet.version()));
        }
        if checksum == Mode::Verify && !packet.verify_checksum() {
            return Err(Error::BadChecksum);
        }
        Ok(Repr {
            dscp_ecn: packet.dscp_ecn(),
            total_len: packet.total_len(),
            ident: packet.ident(),
            flags_fragment: packet.flags_fragment(),
            ttl: packet.ttl(),
            protocol: packet.protocol(),
            src: packet.src_addr(),
            dst: packet.dst_addr(),
            options: packet.options().to_vec(),
        })
    }

    pub fn dont_fragment(&self) -> bool {
        self.flags_fragment & FLAG_DONT_FRAGMENT != 0
    }

    pub fn more_fragments(&self) -> bool {
        self.flags_fragment & FLAG_MORE_FRAGMENTS != 0
    }

    /// In 8-byte units. Non-zero means a non-initial fragment, about which no ICMP error
    /// may be sent.
    pub fn fragment_offset(&self) -> u16 {
        self.flags_fragment & FRAGMENT_OFFSET_MASK
    }

    fn options_len(&self) -> usize {
        self.options
            .len()
            .next_multiple_of(4)
            .min(MAX_HEADER_LEN - MIN_HEADER_LEN)
    }

    /// The header length, options included.
    pub fn buffer_len(&self) -> usize {
        MIN_HEADER_LEN + self.options_len()
    }

    /// Writes the header, with its checksum, into the first [`Repr::buffer_len`] bytes.
    pub fn emit(&self, buf: &mut [u8]) {
        let header_len = self.buffer_len();
        debug_assert!(buf.len() >= header_len, "IPv4 buffer too short");
        let ihl = u8::try_from(header_len / 4).unwrap_or(5);
        put_u8(buf, offset::VERSION_IHL, (VERSION << 4) | ihl);
        put_u8(buf, offset::DSCP_ECN, self.dscp_ecn);
        put_u16(buf, offset::TOTAL_LEN, self.total_len);
        put_u16(buf, offset::IDENT, self.ident);
        put_u16(buf, offset::FLAGS_FRAGMENT, self.flags_fragment);
        put_u8(buf, offset::TTL, self.ttl);
        put_u8(buf, offset::PROTOCOL, self.protocol);
        put_u16(buf, offset::CHECKSUM, 0);
        put(buf, offset::SRC, &self.src.octets());
        put(buf, offset::DST, &self.dst.octets());
        let mut options = [0u8; MAX_HEADER_LEN - MIN_HEADER_LEN];
        for (slot, byte) in options.iter_mut().zip(&self.options) {
            *slot = *byte;
        }
        put(
            buf,
            MIN_HEADER_LEN,
            options.get(..self.options_len()).unwrap_or(&[]),
        );
        let sum = checksum::plain(buf.get(..header_len).unwrap_or(&[]));
        put_u16(buf, offset::CHECKSUM, sum);
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = vec![0; self.buffer_len()];
        self.emit(&mut buf);
        buf
    }
}

/// Whether `addr` is multicast (`224.0.0.0/4`); tun packets to such destinations, and to
/// the limited broadcast address, are dropped.
pub fn is_multicast(addr: &Ipv4Addr) -> bool {
    addr.is_multicast()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    fn sample_datagram() -> Vec<u8> {
        let mut bytes = SAMPLE.to_vec();
        bytes.resize(0x73, 0xee);
        bytes
    }

    #[test]
    fn parses_and_re_emits_a_known_header() {
        let bytes = sample_datagram();
        let repr = Repr::parse(&bytes, Mode::Verify).unwrap();
        assert_eq!(repr.total_len, 0x73);
        assert!(repr.dont_fragment());
        assert!(!repr.more_fragments());
        assert_eq!(repr.fragment_offset(), 0);
        assert_eq!(repr.ttl, 64);
        assert_eq!(repr.protocol, 17);
        assert_eq!(repr.src, Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(repr.dst, Ipv4Addr::new(192, 168, 0, 199));
        assert_eq!(repr.to_bytes(), SAMPLE);
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.checksum(), 0xb861);
        assert_eq!(packet.payload().len(), 0x73 - 20);
    }

    #[test]
    fn checksum_and_length_errors() {
        let mut bytes = sample_datagram();
        bytes[8] = 63;
        assert_eq!(Repr::parse(&bytes, Mode::Verify), Err(Error::BadChecksum));
        assert!(Repr::parse(&bytes, Mode::Ignore).is_ok());
        assert_eq!(
            Repr::parse(&bytes[..0x72], Mode::Ignore),
            Err(Error::Truncated)
        );
        bytes[0] = 0x44;
        assert_eq!(
            Repr::parse(&bytes, Mode::Ignore),
            Err(Error::BadHeaderLength(4))
        );
        bytes[0] = 0x4f;
        bytes[2..4].copy_from_slice(&[0, 40]);
        assert_eq!(
            Repr::parse(&bytes, Mode::Ignore),
            Err(Error::BadHeaderLength(15))
        );
        bytes[0] = 0x65;
        assert_eq!(
            Repr::parse(&bytes, Mode::Ignore),
            Err(Error::UnsupportedVersion(6))
        );
    }

    #[test]
    fn options_are_padded_and_kept() {
        let repr = Repr {
            dscp_ecn: 0,
            total_len: 24,
            ident: 1,
            flags_fragment: 0x2001,
            ttl: 1,
            protocol: PROTOCOL_ICMP,
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            options: vec![0x94, 0x04, 0x00, 0x00],
        };
        let bytes = repr.to_bytes();
        assert_eq!(bytes[0], 0x46);
        assert_eq!(Repr::parse(&bytes, Mode::Verify), Ok(repr.clone()));
        assert!(repr.more_fragments());
        assert_eq!(repr.fragment_offset(), 1);
        let short = Repr {
            options: vec![1],
            ..repr
        };
        assert_eq!(short.to_bytes()[20..], [1, 0, 0, 0]);
    }
}
