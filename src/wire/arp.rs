//! ARP for IPv4 over Ethernet (RFC 826): the 28-byte packet the daemon sends to find IPv4
//! clients and reads to learn them.
//!
//! ```text
//!  0               2               4       5       6               8
//! +---------------+---------------+-------+-------+---------------+
//! | htype (1)     | ptype (0800)  | hlen 6| plen 4| operation     |
//! +---------------+---------------+-------+-------+---------------+
//! | sender MAC (6)                | sender IPv4 (4)               |   8..18
//! +-------------------------------+-------------------------------+
//! | target MAC (6)                | target IPv4 (4)               |  18..28
//! +-------------------------------+-------------------------------+
//! ```
//!
//! A packet socket delivers Ethernet's minimum-frame padding after the 28 bytes; it is
//! ignored.

use std::net::Ipv4Addr;

use super::field::{ipv4_at, mac_at, put, put_u8, put_u16, u8_at, u16_at};
use super::{Error, MacAddr};

pub const PACKET_LEN: usize = 28;
pub const HTYPE_ETHERNET: u16 = 1;
pub const PTYPE_IPV4: u16 = 0x0800;

mod offset {
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPERATION: usize = 6;
    pub const SENDER_MAC: usize = 8;
    pub const SENDER_IP: usize = 14;
    pub const TARGET_MAC: usize = 18;
    pub const TARGET_IP: usize = 24;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    Request,
    Reply,
    /// Kept so that a packet is never misread; the daemon ignores these (RARP, InARP, ...).
    Unknown(u16),
}

impl From<u16> for Operation {
    fn from(value: u16) -> Operation {
        match value {
            1 => Operation::Request,
            2 => Operation::Reply,
            other => Operation::Unknown(other),
        }
    }
}

impl From<Operation> for u16 {
    fn from(value: Operation) -> u16 {
        match value {
            Operation::Request => 1,
            Operation::Reply => 2,
            Operation::Unknown(other) => other,
        }
    }
}

/// A view of an ARP packet of at least [`PACKET_LEN`] bytes, of any hardware and protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        if buffer.as_ref().len() < PACKET_LEN {
            return Err(Error::Truncated);
        }
        Ok(Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn hardware_type(&self) -> u16 {
        u16_at(self.buffer.as_ref(), offset::HTYPE)
    }

    pub fn protocol_type(&self) -> u16 {
        u16_at(self.buffer.as_ref(), offset::PTYPE)
    }

    pub fn hardware_len(&self) -> u8 {
        u8_at(self.buffer.as_ref(), offset::HLEN)
    }

    pub fn protocol_len(&self) -> u8 {
        u8_at(self.buffer.as_ref(), offset::PLEN)
    }

    pub fn operation(&self) -> Operation {
        u16_at(self.buffer.as_ref(), offset::OPERATION).into()
    }

    pub fn sender_mac(&self) -> MacAddr {
        mac_at(self.buffer.as_ref(), offset::SENDER_MAC)
    }

    pub fn sender_ip(&self) -> Ipv4Addr {
        ipv4_at(self.buffer.as_ref(), offset::SENDER_IP)
    }

    pub fn target_mac(&self) -> MacAddr {
        mac_at(self.buffer.as_ref(), offset::TARGET_MAC)
    }

    pub fn target_ip(&self) -> Ipv4Addr {
        ipv4_at(self.buffer.as_ref(), offset::TARGET_IP)
    }
}

/// An Ethernet/IPv4 ARP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Repr {
    pub operation: Operation,
    pub sender_mac: MacAddr,
    pub sender_ip: Ipv4Addr,
    pub target_mac: MacAddr,
    pub target_ip: Ipv4Addr,
}

impl Repr {
    pub fn parse(bytes: &[u8]) -> Result<Repr, Error> {
        let packet = Packet::new_checked(bytes)?;
        let (htype, ptype, hlen, plen) = (
            packet.hardware_type(),
            packet.protocol_type(),
            packet.hardware_len(),
            packet.protocol_len(),
        );
        if (htype, ptype, hlen, plen) != (HTYPE_ETHERNET, PTYPE_IPV4, 6, 4) {
            return Err(Error::UnsupportedArp {
                htype,
                ptype,
                hlen,
                plen,
            });
        }
        Ok(Repr {
            operation: packet.operation(),
            sender_mac: packet.sender_mac(),
            sender_ip: packet.sender_ip(),
            target_mac: packet.target_mac(),
            target_ip: packet.target_ip(),
        })
    }

    /// The request the daemon broadcasts on its client interface to find `target_ip`
    /// (`spec/behaviour.md` §12.2): probe style, with sender IP 0.0.0.0, so that clients
    /// answer without caching the node as the owner of any address. The target MAC is
    /// 00:00:00:00:00:00 as is conventional; the C daemon sent ff:ff:ff:ff:ff:ff there.
    pub fn probe_request(sender_mac: MacAddr, target_ip: Ipv4Addr) -> Repr {
        Repr {
            operation: Operation::Request,
            sender_mac,
            sender_ip: Ipv4Addr::UNSPECIFIED,
            target_mac: MacAddr::ZERO,
            target_ip,
        }
    }

    pub fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    pub fn emit(&self, buf: &mut [u8]) {
        debug_assert!(buf.len() >= PACKET_LEN, "ARP buffer too short");
        put_u16(buf, offset::HTYPE, HTYPE_ETHERNET);
        put_u16(buf, offset::PTYPE, PTYPE_IPV4);
        put_u8(buf, offset::HLEN, 6);
        put_u8(buf, offset::PLEN, 4);
        put_u16(buf, offset::OPERATION, self.operation.into());
        put(buf, offset::SENDER_MAC, &self.sender_mac.0);
        put(buf, offset::SENDER_IP, &self.sender_ip.octets());
        put(buf, offset::TARGET_MAC, &self.target_mac.0);
        put(buf, offset::TARGET_IP, &self.target_ip.octets());
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = vec![0; PACKET_LEN];
        self.emit(&mut buf);
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_request_bytes() {
        let repr = Repr::probe_request(
            "02:00:00:00:aa:ff".parse().unwrap(),
            Ipv4Addr::new(198, 51, 100, 55),
        );
        let bytes = repr.to_bytes();
        assert_eq!(
            bytes,
            [
                0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01, // Ethernet, IPv4, request
                0x02, 0x00, 0x00, 0x00, 0xaa, 0xff, 0, 0, 0, 0, // sender MAC, 0.0.0.0
                0, 0, 0, 0, 0, 0, 198, 51, 100, 55, // target MAC zero, target IP
            ]
        );
        assert_eq!(Repr::parse(&bytes), Ok(repr));
    }

    #[test]
    fn parse_accepts_padding_and_rejects_other_hardware() {
        let reply = Repr {
            operation: Operation::Reply,
            sender_mac: "02:11:22:33:44:55".parse().unwrap(),
            sender_ip: Ipv4Addr::new(198, 51, 100, 55),
            target_mac: "02:00:00:00:aa:ff".parse().unwrap(),
            target_ip: Ipv4Addr::UNSPECIFIED,
        };
        let mut bytes = reply.to_bytes();
        bytes.extend_from_slice(&[0; 18]);
        assert_eq!(Repr::parse(&bytes), Ok(reply));
        assert_eq!(Repr::parse(&bytes[..27]), Err(Error::Truncated));
        bytes[1] = 6; // IEEE 802 hardware type
        assert_eq!(
            Repr::parse(&bytes),
            Err(Error::UnsupportedArp {
                htype: 6,
                ptype: 0x0800,
                hlen: 6,
                plen: 4
            })
        );
        bytes[1] = 1;
        bytes[7] = 9;
        assert_eq!(
            Repr::parse(&bytes).unwrap().operation,
            Operation::Unknown(9)
        );
    }
}
