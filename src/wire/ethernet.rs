//! The Ethernet II header, for sockets that see whole frames (`SOCK_RAW` packet sockets)
//! and for building test frames.
//!
//! ```text
//!  0                6               12      14
//! +----------------+----------------+-------+--------
//! | destination (6)| source (6)     | type  | payload
//! +----------------+----------------+-------+--------
//! ```

use super::field::{self, mac_at, put, put_u16, u16_at};
use super::{Error, MacAddr};

pub const HEADER_LEN: usize = 14;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EtherType {
    Ipv4,
    Arp,
    Ipv6,
    Unknown(u16),
}

impl From<u16> for EtherType {
    fn from(value: u16) -> EtherType {
        match value {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            0x86dd => EtherType::Ipv6,
            other => EtherType::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    fn from(value: EtherType) -> u16 {
        match value {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Ipv6 => 0x86dd,
            EtherType::Unknown(other) => other,
        }
    }
}

/// A view of a frame of at least [`HEADER_LEN`] bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn dst(&self) -> MacAddr {
        mac_at(self.buffer.as_ref(), 0)
    }

    pub fn src(&self) -> MacAddr {
        mac_at(self.buffer.as_ref(), 6)
    }

    pub fn ethertype(&self) -> EtherType {
        u16_at(self.buffer.as_ref(), 12).into()
    }

    pub fn payload(&self) -> &[u8] {
        field::rest(self.buffer.as_ref(), HEADER_LEN)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Repr {
    pub dst: MacAddr,
    pub src: MacAddr,
    pub ethertype: EtherType,
}

impl Repr {
    pub fn parse(bytes: &[u8]) -> Result<Repr, Error> {
        let frame = Packet::new_checked(bytes)?;
        Ok(Repr {
            dst: frame.dst(),
            src: frame.src(),
            ethertype: frame.ethertype(),
        })
    }

    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    pub fn emit(&self, buf: &mut [u8]) {
        debug_assert!(buf.len() >= HEADER_LEN, "Ethernet buffer too short");
        put(buf, 0, &self.dst.0);
        put(buf, 6, &self.src.0);
        put_u16(buf, 12, self.ethertype.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        // The first bytes of a captured SEEK frame: B's mesh0 to the ff02::5523 group MAC.
        let bytes = [
            0x33, 0x33, 0x00, 0x00, 0x55, 0x23, 0x02, 0x00, 0x00, 0x00, 0x0b, 0x00, 0x86, 0xdd,
            0x60,
        ];
        let repr = Repr::parse(&bytes).unwrap();
        assert_eq!(repr.dst.to_string(), "33:33:00:00:55:23");
        assert_eq!(repr.src.to_string(), "02:00:00:00:0b:00");
        assert_eq!(repr.ethertype, EtherType::Ipv6);
        let mut out = [0u8; HEADER_LEN];
        repr.emit(&mut out);
        assert_eq!(out, bytes[..HEADER_LEN]);
        assert_eq!(Packet::new_checked(&bytes[..]).unwrap().payload(), &[0x60]);
        assert_eq!(Repr::parse(&bytes[..13]), Err(Error::Truncated));
        assert_eq!(EtherType::from(0x88cc), EtherType::Unknown(0x88cc));
        assert_eq!(u16::from(EtherType::Unknown(0x88cc)), 0x88cc);
    }
}
