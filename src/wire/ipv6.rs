//! The fixed IPv6 header (RFC 8200 §3), as read from the tun device and from the NS
//! snooping packet socket.
//!
//! ```text
//!  0       4              12      16              24              32
//! +-------+---------------+-------------------------------------------+
//! |version| traffic class |               flow label                  |
//! +-------+---------------+---------------+---------------+-----------+
//! |        payload length (u16)           |  next header  | hop limit |
//! +---------------------------------------+---------------+-----------+
//! |                    source address (16 bytes)                      |   8..24
//! |                 destination address (16 bytes)                    |  24..40
//! +-------------------------------------------------------------------+
//! ```
//!
//! Extension headers are not walked: the daemon only needs the fixed header, and NDP that
//! is not directly behind it (next header 58) is not NDP it learns from.

use std::net::Ipv6Addr;

use super::Error;
use super::field::{self, ipv6_at, put, put_u8, put_u16, put_u32, u8_at, u16_at, u32_at};

pub const HEADER_LEN: usize = 40;
pub const VERSION: u8 = 6;
/// Next header value of ICMPv6.
pub const NEXT_HEADER_ICMPV6: u8 = 58;

mod offset {
    pub const VERSION_CLASS_FLOW: usize = 0;
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
}

/// A view of an IPv6 packet whose buffer holds the fixed header and the whole payload that
/// the payload length announces. Bytes after that (link-layer padding) are ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let len = buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let packet = Packet { buffer };
        if len < HEADER_LEN + usize::from(packet.payload_len()) {
            return Err(Error::Truncated);
        }
        Ok(packet)
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn first_word(&self) -> u32 {
        u32_at(self.buffer.as_ref(), offset::VERSION_CLASS_FLOW)
    }

    pub fn version(&self) -> u8 {
        u8_at(self.buffer.as_ref(), offset::VERSION_CLASS_FLOW) >> 4
    }

    pub fn traffic_class(&self) -> u8 {
        let [high, low]: [u8; 2] = field::array(self.buffer.as_ref(), offset::VERSION_CLASS_FLOW);
        (high << 4) | (low >> 4)
    }

    pub fn flow_label(&self) -> u32 {
        self.first_word() & 0x000f_ffff
    }

    pub fn payload_len(&self) -> u16 {
        u16_at(self.buffer.as_ref(), offset::PAYLOAD_LEN)
    }

    pub fn next_header(&self) -> u8 {
        u8_at(self.buffer.as_ref(), offset::NEXT_HEADER)
    }

    pub fn hop_limit(&self) -> u8 {
        u8_at(self.buffer.as_ref(), offset::HOP_LIMIT)
    }

    pub fn src_addr(&self) -> Ipv6Addr {
        ipv6_at(self.buffer.as_ref(), offset::SRC)
    }

    pub fn dst_addr(&self) -> Ipv6Addr {
        ipv6_at(self.buffer.as_ref(), offset::DST)
    }

    /// The payload as announced by the payload length, without link-layer padding.
    pub fn payload(&self) -> &[u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        self.buffer.as_ref().get(HEADER_LEN..end).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_hop_limit(&mut self, value: u8) {
        put_u8(self.buffer.as_mut(), offset::HOP_LIMIT, value);
    }
}

/// The fixed header, owned. The version is always 6 and not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Repr {
    pub traffic_class: u8,
    /// 20 bits; higher bits are dropped on emit.
    pub flow_label: u32,
    pub payload_len: u16,
    pub next_header: u8,
    pub hop_limit: u8,
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
}

impl Repr {
    /// Parses the fixed header of a packet that must hold its whole payload.
    pub fn parse(bytes: &[u8]) -> Result<Repr, Error> {
        let packet = Packet::new_checked(bytes)?;
        if packet.version() != VERSION {
            return Err(Error::UnsupportedVersion(packet.version()));
        }
        Ok(Repr {
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
            payload_len: packet.payload_len(),
            next_header: packet.next_header(),
            hop_limit: packet.hop_limit(),
            src: packet.src_addr(),
            dst: packet.dst_addr(),
        })
    }

    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into the first 40 bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        debug_assert!(buf.len() >= HEADER_LEN, "IPv6 buffer too short");
        let word = (u32::from(VERSION) << 28)
            | (u32::from(self.traffic_class) << 20)
            | (self.flow_label & 0x000f_ffff);
        put_u32(buf, offset::VERSION_CLASS_FLOW, word);
        put_u16(buf, offset::PAYLOAD_LEN, self.payload_len);
        put_u8(buf, offset::NEXT_HEADER, self.next_header);
        put_u8(buf, offset::HOP_LIMIT, self.hop_limit);
        put(buf, offset::SRC, &self.src.octets());
        put(buf, offset::DST, &self.dst.octets());
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = vec![0; HEADER_LEN];
        self.emit(&mut buf);
        buf
    }
}

/// The solicited-node multicast group of `addr` (RFC 4291 §2.7.1): `ff02::1:ff` followed by
/// the low 24 bits of the address. Neighbour Solicitations for `addr` go there.
pub fn solicited_node(addr: &Ipv6Addr) -> Ipv6Addr {
    let [.., x, y, z] = addr.octets();
    Ipv6Addr::from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, x, y, z])
}

/// Whether `addr` is multicast (`ff00::/8`). Packets to such destinations read from the tun
/// are dropped, never queued. (The same test as std's; here so that the IPv4 and IPv6 tun
/// paths read alike, see [`super::ipv4::is_multicast`].)
pub fn is_multicast(addr: &Ipv6Addr) -> bool {
    addr.is_multicast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solicited_node_addresses() {
        let cases = [
            ("2001:db8:1::99", "ff02::1:ff00:99"),
            ("fe80::11:22ff:fe33:4455", "ff02::1:ff33:4455"),
            ("fec0::211:22ff:fe33:4455", "ff02::1:ff33:4455"),
            ("fe80::a", "ff02::1:ff00:a"),
            ("::", "ff02::1:ff00:0"),
        ];
        for (addr, group) in cases {
            let addr: Ipv6Addr = addr.parse().unwrap();
            assert_eq!(solicited_node(&addr).to_string(), group);
            assert!(is_multicast(&solicited_node(&addr)));
        }
        assert!(!is_multicast(&"fe80::1".parse().unwrap()));
        assert!(is_multicast(&"ff02::5523".parse().unwrap()));
    }

    #[test]
    fn header_round_trip_and_length_checks() {
        let repr = Repr {
            traffic_class: 0xb8,
            flow_label: 0xabcde,
            payload_len: 2,
            next_header: 17,
            hop_limit: 64,
            src: "fd00::1".parse().unwrap(),
            dst: "2001:db8::2".parse().unwrap(),
        };
        let mut bytes = repr.to_bytes();
        assert_eq!(&bytes[..8], &[0x6b, 0x8a, 0xbc, 0xde, 0, 2, 17, 64]);
        assert_eq!(Repr::parse(&bytes), Err(Error::Truncated));
        bytes.extend_from_slice(&[1, 2, 3]);
        assert_eq!(Repr::parse(&bytes), Ok(repr));
        assert_eq!(Packet::new_checked(&bytes[..]).unwrap().payload(), &[1, 2]);
        bytes[0] = 0x4b;
        assert_eq!(Repr::parse(&bytes), Err(Error::UnsupportedVersion(4)));
    }
}
