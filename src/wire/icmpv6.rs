//! Neighbour Solicitation and Advertisement (RFC 4861 §4.3, §4.4) with link-layer address
//! options: what the daemon sends to find clients and what it snoops to learn them.
//!
//! ```text
//!  0       1       2               4
//! +-------+-------+---------------+
//! | type  | code  |   checksum    |      type 135 NS, 136 NA; code 0
//! +-------+-------+---------------+
//! |R|S|O| reserved (29 bits)      |      flags only in NA; all zero in NS
//! +-------------------------------+
//! |     target address (16)       |      8..24
//! +-------+-------+---------------+
//! | opt   | opt   | value ...     |      24..: options, length in units of 8 bytes
//! | type  | length|               |
//! +-------+-------+---------------+
//! ```
//!
//! The only options the daemon cares about are the Source (1, in NS) and Target (2, in NA)
//! Link-Layer Address options, which on Ethernet are exactly 8 bytes: `type, 1, MAC`.
//!
//! Differences to the C daemon: it reads "the option" after an NA without checking its type
//! or length, and walks nothing; here every option is walked by its length (0 is an error,
//! as RFC 4861 §4.6 demands, so the walk terminates), unknown options are skipped, and only
//! a length-1 option of the right type yields a MAC (`spec/behaviour.md` §4.1 row 6).

use std::net::Ipv6Addr;

use super::field::{self, ipv6_at, mac_at, put, put_u8, put_u16, u8_at};
use super::{Error, MacAddr, checksum, ipv6};

pub const TYPE_NEIGHBOR_SOLICIT: u8 = 135;
pub const TYPE_NEIGHBOR_ADVERT: u8 = 136;
pub const OPTION_SOURCE_LL: u8 = 1;
pub const OPTION_TARGET_LL: u8 = 2;
/// NDP must be sent, and is only accepted, with this hop limit (RFC 4861 §7.1), which proves
/// that it was not forwarded by a router.
pub const HOP_LIMIT: u8 = 255;
/// Type, code, checksum, reserved/flags and target.
pub const MESSAGE_LEN: usize = 24;

const LL_OPTION_LEN: usize = 8;
const FLAG_ROUTER: u8 = 0x80;
const FLAG_SOLICITED: u8 = 0x40;
const FLAG_OVERRIDE: u8 = 0x20;

mod offset {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const FLAGS: usize = 4;
    pub const TARGET: usize = 8;
}

/// Neighbour Solicitation (type 135).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NeighborSolicit {
    pub target: Ipv6Addr,
    /// The solicitor's MAC from the Source Link-Layer Address option. Absent in DAD probes.
    pub source_ll: Option<MacAddr>,
}

/// Neighbour Advertisement (type 136).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NeighborAdvert {
    pub router: bool,
    pub solicited: bool,
    pub override_: bool,
    pub target: Ipv6Addr,
    /// The advertiser's MAC from the Target Link-Layer Address option. The daemon learns
    /// nothing from an NA without it.
    pub target_ll: Option<MacAddr>,
}

/// A Neighbour Discovery message the daemon handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ndp {
    Solicit(NeighborSolicit),
    Advert(NeighborAdvert),
}

impl From<NeighborSolicit> for Ndp {
    fn from(ns: NeighborSolicit) -> Ndp {
        Ndp::Solicit(ns)
    }
}

impl From<NeighborAdvert> for Ndp {
    fn from(na: NeighborAdvert) -> Ndp {
        Ndp::Advert(na)
    }
}

impl Ndp {
    /// Parses an ICMPv6 message (no IPv6 header) that must be an NS or NA. The checksum is
    /// not looked at: raw ICMPv6 sockets have verified it already (see [`verify_checksum`]
    /// for packet sockets).
    pub fn parse(bytes: &[u8]) -> Result<Ndp, Error> {
        if bytes.len() < MESSAGE_LEN {
            return Err(Error::Truncated);
        }
        let kind = u8_at(bytes, offset::TYPE);
        let code = u8_at(bytes, offset::CODE);
        let ll_option = match kind {
            TYPE_NEIGHBOR_SOLICIT => OPTION_SOURCE_LL,
            TYPE_NEIGHBOR_ADVERT => OPTION_TARGET_LL,
            other => return Err(Error::UnknownType(other)),
        };
        if code != 0 {
            return Err(Error::UnknownCode(code));
        }
        let target = ipv6_at(bytes, offset::TARGET);
        let mac = link_layer_option(bytes, ll_option)?;
        Ok(if kind == TYPE_NEIGHBOR_SOLICIT {
            Ndp::Solicit(NeighborSolicit {
                target,
                source_ll: mac,
            })
        } else {
            let flags = u8_at(bytes, offset::FLAGS);
            Ndp::Advert(NeighborAdvert {
                router: flags & FLAG_ROUTER != 0,
                solicited: flags & FLAG_SOLICITED != 0,
                override_: flags & FLAG_OVERRIDE != 0,
                target,
                target_ll: mac,
            })
        })
    }

    fn link_layer(&self) -> Option<(u8, MacAddr)> {
        match self {
            Ndp::Solicit(ns) => ns.source_ll.map(|mac| (OPTION_SOURCE_LL, mac)),
            Ndp::Advert(na) => na.target_ll.map(|mac| (OPTION_TARGET_LL, mac)),
        }
    }

    pub fn buffer_len(&self) -> usize {
        MESSAGE_LEN + self.link_layer().map_or(0, |_| LL_OPTION_LEN)
    }

    /// Writes the message with a zero checksum, for a raw ICMPv6 socket: the kernel fills the
    /// checksum in (it knows the source address it picks).
    pub fn emit(&self, buf: &mut [u8]) {
        debug_assert!(buf.len() >= self.buffer_len(), "NDP buffer too short");
        let (kind, flags, target) = match self {
            Ndp::Solicit(ns) => (TYPE_NEIGHBOR_SOLICIT, 0, ns.target),
            Ndp::Advert(na) => (
                TYPE_NEIGHBOR_ADVERT,
                (if na.router { FLAG_ROUTER } else { 0 })
                    | (if na.solicited { FLAG_SOLICITED } else { 0 })
                    | (if na.override_ { FLAG_OVERRIDE } else { 0 }),
                na.target,
            ),
        };
        put_u8(buf, offset::TYPE, kind);
        put_u8(buf, offset::CODE, 0);
        put_u16(buf, offset::CHECKSUM, 0);
        put(buf, offset::FLAGS, &[flags, 0, 0, 0]);
        put(buf, offset::TARGET, &target.octets());
        if let Some((option, mac)) = self.link_layer() {
            put(buf, MESSAGE_LEN, &[option, 1]);
            put(buf, MESSAGE_LEN + 2, &mac.0);
        }
    }

    /// Writes the message with its checksum for the given IPv6 source and destination, for
    /// sockets that do not compute it (packet sockets, tests).
    pub fn emit_with_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr, buf: &mut [u8]) {
        self.emit(buf);
        let len = self.buffer_len().min(buf.len());
        let message = buf.get(..len).unwrap_or(&[]);
        if let Some(sum) = checksum::upper_layer_v6(src, dst, ipv6::NEXT_HEADER_ICMPV6, message) {
            put_u16(buf, offset::CHECKSUM, sum);
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = vec![0; self.buffer_len()];
        self.emit(&mut buf);
        buf
    }
}

/// Whether an ICMPv6 message (checksum field included) verifies for `src` and `dst`.
pub fn verify_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, bytes: &[u8]) -> bool {
    checksum::verify_upper_layer_v6(src, dst, ipv6::NEXT_HEADER_ICMPV6, bytes)
}

/// The MAC of the first link-layer option of type `wanted` with Ethernet length (1), after
/// checking that every option is well formed. Options of other types or lengths are skipped.
fn link_layer_option(message: &[u8], wanted: u8) -> Result<Option<MacAddr>, Error> {
    let mut found = None;
    let mut at = MESSAGE_LEN;
    while at < message.len() {
        let bad = Error::BadOption { offset: at };
        let (Some(&kind), Some(&units)) = (message.get(at), message.get(at + 1)) else {
            return Err(bad);
        };
        let len = usize::from(units) * 8;
        let Some(option) = message.get(at..at + len).filter(|_| len > 0) else {
            return Err(bad);
        };
        if kind == wanted && len == LL_OPTION_LEN && found.is_none() {
            found = Some(mac_at(option, 2));
        }
        at += len;
    }
    Ok(found)
}

/// Parses an IPv6 packet as the NS snooping socket delivers it (an `AF_PACKET`,
/// `SOCK_DGRAM` socket for IPv6 on the client interface: IPv6 header, then ICMPv6).
///
/// Beyond the C daemon, which only looks at byte 40, this requires next header 58 and hop
/// limit 255 (`spec/behaviour.md` §4.1 row 5) and a valid checksum: a packet socket, unlike a
/// raw ICMPv6 socket, gets frames the kernel has not checked.
pub fn parse_ns_packet(bytes: &[u8]) -> Result<(ipv6::Repr, NeighborSolicit), Error> {
    let header = ipv6::Repr::parse(bytes)?;
    if header.next_header != ipv6::NEXT_HEADER_ICMPV6 {
        return Err(Error::UnexpectedProtocol(header.next_header));
    }
    if header.hop_limit != HOP_LIMIT {
        return Err(Error::BadHopLimit(header.hop_limit));
    }
    let message = field::rest(bytes, ipv6::HEADER_LEN)
        .get(..usize::from(header.payload_len))
        .ok_or(Error::Truncated)?;
    match Ndp::parse(message)? {
        Ndp::Solicit(ns) => {
            if !verify_checksum(&header.src, &header.dst, message) {
                return Err(Error::BadChecksum);
            }
            Ok((header, ns))
        }
        Ndp::Advert(_) => Err(Error::UnknownType(TYPE_NEIGHBOR_ADVERT)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(last: u8) -> MacAddr {
        MacAddr([2, 0, 0, 0, 0x0b, last])
    }

    #[test]
    fn ns_with_checksum_matches_what_the_kernel_sent() {
        // exp1-a-mesh0.pcap frame 4 of the vectors: fe80::b asks for fe80::a.
        let ns = Ndp::Solicit(NeighborSolicit {
            target: "fe80::a".parse().unwrap(),
            source_ll: Some(mac(0)),
        });
        let src: Ipv6Addr = "fe80::b".parse().unwrap();
        let dst = ipv6::solicited_node(&"fe80::a".parse().unwrap());
        let mut buf = [0u8; 32];
        ns.emit_with_checksum(&src, &dst, &mut buf);
        assert_eq!(&buf[..4], &[0x87, 0x00, 0x6f, 0x7e]);
        assert!(verify_checksum(&src, &dst, &buf));
        assert_eq!(Ndp::parse(&buf), Ok(ns));
        assert_eq!(&ns.to_bytes()[2..4], &[0, 0]);
    }

    #[test]
    fn options_are_walked_by_length() {
        let mut ns = Ndp::Solicit(NeighborSolicit {
            target: "2001:db8::1".parse().unwrap(),
            source_ll: None,
        })
        .to_bytes();
        // An unknown option (nonce, type 14) of 8 bytes, a wrong-length source option, then the
        // real one: only the last yields a MAC.
        ns.extend_from_slice(&[14, 1, 1, 2, 3, 4, 5, 6]);
        ns.extend_from_slice(&[1, 2, 9, 9, 9, 9, 9, 9, 0, 0, 0, 0, 0, 0, 0, 0]);
        ns.extend_from_slice(&[1, 1, 2, 0, 0, 0, 0x0b, 7]);
        assert_eq!(
            Ndp::parse(&ns),
            Ok(Ndp::Solicit(NeighborSolicit {
                target: "2001:db8::1".parse().unwrap(),
                source_ll: Some(mac(7)),
            }))
        );
        let mut zero = ns.clone();
        zero.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Ndp::parse(&zero), Err(Error::BadOption { offset: 56 }));
        let mut overrun = ns.clone();
        overrun.extend_from_slice(&[1, 2, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Ndp::parse(&overrun), Err(Error::BadOption { offset: 56 }));
        let mut odd = ns;
        odd.push(1);
        assert_eq!(Ndp::parse(&odd), Err(Error::BadOption { offset: 56 }));
    }

    #[test]
    fn na_flags_and_type_checks() {
        let na = Ndp::Advert(NeighborAdvert {
            router: false,
            solicited: true,
            override_: true,
            target: "fe80::a".parse().unwrap(),
            target_ll: Some(mac(1)),
        });
        let bytes = na.to_bytes();
        assert_eq!(bytes[4], 0x60);
        assert_eq!(Ndp::parse(&bytes), Ok(na));
        let mut wrong_code = bytes.clone();
        wrong_code[1] = 1;
        assert_eq!(Ndp::parse(&wrong_code), Err(Error::UnknownCode(1)));
        let mut echo = bytes.clone();
        echo[0] = 128;
        assert_eq!(Ndp::parse(&echo), Err(Error::UnknownType(128)));
        assert_eq!(Ndp::parse(&bytes[..23]), Err(Error::Truncated));
    }
}
