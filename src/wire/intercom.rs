//! The intercom protocol: what l3roamd nodes say to each other over UDP port 5523.
//!
//! Every datagram is a 24-byte header followed by TLVs (`spec/intercom.md` §2-4):
//!
//! ```text
//!  0       1       2       3       4                               8
//! +-------+-------+-------+-------+-------------------------------+
//! |version|  ttl  | type  | rsvd  |             nonce             |
//! +-------+-------+-------+-------+-------------------------------+
//! |                    sender (16 bytes, IPv6)                    |   8..24
//! +-------+-------+-----------------------------------------------+
//! | tlv   | tlv   | value (length - 2 bytes)  ...                 |   24..
//! | type  | length|                                               |
//! +-------+-------+-----------------------------------------------+
//! ```
//!
//! The TLV length counts its own two header bytes. TLV types are scoped per packet type:
//!
//! ```text
//! SEEK  00 SEEK_ADDRESS  len 20: 00 00 | address (16)
//! CLAIM 00 CLAIM_MAC     len  8: mac (6)
//! INFO  00 INFO_PLAT     len 20: lease (u16) | PLAT prefix (16, all zero when none)
//! INFO  01 INFO_BASIC    len 8 + 16 n, n = 0..=15: mac (6) | n addresses (16 each)
//! ACK   00 ACK_MAC       len  8: mac (6)
//! ```
//!
//! Differences to the C daemon's parser, all deliberate (`spec/intercom.md` §6.2):
//!
//! - A TLV with length 0 or a type unknown for its packet type makes the C daemon loop
//!   forever; here the whole packet is rejected. So is every other length mistake (below 2,
//!   past the end, not the exact length for its kind), which desynchronises the C parser.
//! - The C daemon accepts any type value and floods unknown ones; here they are an error.
//! - Datagrams over 1500 bytes are rejected (C silently truncates them to 1500).
//! - Missing required TLVs (no SEEK_ADDRESS, no MAC) are errors; C acts on zeroed fields.
//!
//! Emission never produces anything deployed C peers choke on: only known TLV types, exact
//! lengths, PLAT before BASIC, at most 15 addresses per INFO_BASIC (more go into further
//! INFO_BASIC TLVs, which C peers accept and append), no trailing bytes. What a `Repr` can
//! still express wrongly (ttl 0, a SEEK without address, more than 1500 bytes) is caught by
//! [`Repr::check_sendable`].

use std::net::Ipv6Addr;

use super::field::{self, array, ipv6_at, mac_at, put, put_u8, u8_at, u16_at};
pub use super::{Error, MacAddr};

/// UDP source and destination port of every intercom datagram.
pub const PORT: u16 = 5523;
/// The link-local group SEEKs are multicast to, once per mesh interface.
pub const GROUP: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x5523);
pub const HEADER_LEN: usize = 24;
/// An INFO_BASIC TLV's one-byte length holds 8 + 16 n only up to n = 15.
pub const MAX_ADDRESSES_PER_TLV: usize = 15;
/// C peers read into a 1500-byte buffer; nothing longer is valid.
pub const MAX_DATAGRAM: usize = 1500;
/// The only version deployed C peers speak; they drop every other value unprocessed.
pub const VERSION: u8 = 0;
/// The ttl of an originated multicast packet (SEEK), decremented at each forwarding hop.
pub const TTL_MULTICAST: u8 = 255;
/// The ttl of every unicast packet (CLAIM, INFO, ACK), so that they are never forwarded.
pub const TTL_UNICAST: u8 = 1;
/// The most SEEK_ADDRESS TLVs that fit into one datagram of [`MAX_DATAGRAM`] bytes.
pub const MAX_SEEK_ADDRESSES: usize = (MAX_DATAGRAM - HEADER_LEN) / SEEK_ADDRESS_LEN;

/// TLV type numbers, scoped per packet type.
pub mod tlv {
    pub const SEEK_ADDRESS: u8 = 0;
    pub const CLAIM_MAC: u8 = 0;
    pub const INFO_PLAT: u8 = 0;
    pub const INFO_BASIC: u8 = 1;
    pub const ACK_MAC: u8 = 0;
}

const SEEK_ADDRESS_LEN: usize = 20;
const MAC_TLV_LEN: usize = 8;
const INFO_PLAT_LEN: usize = 20;
const INFO_BASIC_MIN_LEN: usize = 8;
const TLV_HEADER_LEN: usize = 2;
const MAC_LEN: usize = 6;
const ADDRESS_LEN: usize = 16;

mod offset {
    pub const VERSION: usize = 0;
    pub const TTL: usize = 1;
    pub const TYPE: usize = 2;
    pub const RESERVED: usize = 3;
    pub const NONCE: usize = 4;
    pub const SENDER: usize = 8;
}

/// The packet type (header byte 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageType {
    Seek,
    Claim,
    Info,
    Ack,
}

impl TryFrom<u8> for MessageType {
    type Error = Error;

    fn try_from(value: u8) -> Result<MessageType, Error> {
        match value {
            0 => Ok(MessageType::Seek),
            1 => Ok(MessageType::Claim),
            2 => Ok(MessageType::Info),
            3 => Ok(MessageType::Ack),
            other => Err(Error::UnknownType(other)),
        }
    }
}

impl From<MessageType> for u8 {
    fn from(value: MessageType) -> u8 {
        match value {
            MessageType::Seek => 0,
            MessageType::Claim => 1,
            MessageType::Info => 2,
            MessageType::Ack => 3,
        }
    }
}

/// A zero-copy view of an intercom datagram whose length is at least [`HEADER_LEN`].
///
/// The view checks nothing but the length: it is what the receive path uses to look at the
/// version and sender before parsing, and what the forwarder uses to rewrite the ttl of a
/// SEEK without touching any other byte.
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

    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    pub fn version(&self) -> u8 {
        u8_at(self.as_bytes(), offset::VERSION)
    }

    pub fn ttl(&self) -> u8 {
        u8_at(self.as_bytes(), offset::TTL)
    }

    /// The raw type byte, for logging packets whose type is unknown.
    pub fn raw_type(&self) -> u8 {
        u8_at(self.as_bytes(), offset::TYPE)
    }

    pub fn msg_type(&self) -> Result<MessageType, Error> {
        MessageType::try_from(self.raw_type())
    }

    pub fn nonce(&self) -> [u8; 4] {
        array(self.as_bytes(), offset::NONCE)
    }

    pub fn sender(&self) -> Ipv6Addr {
        ipv6_at(self.as_bytes(), offset::SENDER)
    }

    /// The TLV area, from offset 24 to the end of the datagram.
    pub fn payload(&self) -> &[u8] {
        field::rest(self.as_bytes(), HEADER_LEN)
    }

    pub fn tlvs(&self) -> Tlvs<'_> {
        Tlvs::new(self.payload())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_version(&mut self, value: u8) {
        put_u8(self.buffer.as_mut(), offset::VERSION, value);
    }

    pub fn set_ttl(&mut self, value: u8) {
        put_u8(self.buffer.as_mut(), offset::TTL, value);
    }

    pub fn set_msg_type(&mut self, value: MessageType) {
        put_u8(self.buffer.as_mut(), offset::TYPE, value.into());
    }

    pub fn set_nonce(&mut self, value: [u8; 4]) {
        put(self.buffer.as_mut(), offset::NONCE, &value);
    }

    pub fn set_sender(&mut self, value: Ipv6Addr) {
        put(self.buffer.as_mut(), offset::SENDER, &value.octets());
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        self.buffer
            .as_mut()
            .get_mut(HEADER_LEN..)
            .unwrap_or(&mut [])
    }
}

/// One TLV: its type byte and its value (the bytes after the two header bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub kind: u8,
    pub value: &'a [u8],
    /// Where the TLV starts, counted from the start of the datagram.
    pub offset: usize,
}

impl Tlv<'_> {
    /// The length byte as it was on the wire.
    pub fn len_byte(&self) -> u8 {
        u8::try_from(self.value.len() + TLV_HEADER_LEN).unwrap_or(u8::MAX)
    }
}

/// Walks the TLV area of a datagram. Every item either consumes at least two bytes or is an
/// error after which the walk ends, so the walk always terminates, after at most
/// `len / 2 + 1` items.
#[derive(Clone, Debug)]
pub struct Tlvs<'a> {
    rest: &'a [u8],
    offset: usize,
}

impl<'a> Tlvs<'a> {
    /// `area` is the TLV area that starts at offset 24 of a datagram; reported offsets count
    /// from the datagram's start.
    pub fn new(area: &'a [u8]) -> Tlvs<'a> {
        Tlvs {
            rest: area,
            offset: HEADER_LEN,
        }
    }

    fn fail(&mut self, error: Error) -> Option<Result<Tlv<'a>, Error>> {
        self.rest = &[];
        Some(Err(error))
    }
}

impl<'a> Iterator for Tlvs<'a> {
    type Item = Result<Tlv<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let offset = self.offset;
        let (kind, len) = match self.rest {
            [] => return None,
            [_] => return self.fail(Error::TlvTruncated { offset }),
            [kind, len, ..] => (*kind, *len),
        };
        let bad_length = Error::BadTlvLength { offset, kind, len };
        let total = usize::from(len);
        if total < TLV_HEADER_LEN {
            return self.fail(bad_length);
        }
        let (Some(tlv), Some(rest)) = (self.rest.get(..total), self.rest.get(total..)) else {
            return self.fail(bad_length);
        };
        self.rest = rest;
        self.offset = offset + total;
        Some(Ok(Tlv {
            kind,
            value: field::rest(tlv, TLV_HEADER_LEN),
            offset,
        }))
    }
}

impl std::iter::FusedIterator for Tlvs<'_> {}

/// The header fields that carry information (version and reserved byte are constant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    pub ttl: u8,
    /// Opaque; compared as raw bytes, never interpreted as a number.
    pub nonce: [u8; 4],
    /// The originator's node IP, unchanged by forwarding. Replies go here, never to the
    /// datagram's IP source.
    pub sender: Ipv6Addr,
}

/// The body of an intercom packet.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    /// Who has these addresses? One SEEK_ADDRESS TLV per address; the C daemon sends one.
    Seek { addresses: Vec<Ipv6Addr> },
    /// I now serve this client; whoever served it, hand it over.
    Claim { mac: MacAddr },
    /// Here is what I knew about the client you claimed.
    Info(Info),
    /// Your INFO arrived.
    Ack { mac: MacAddr },
}

/// The content of an INFO.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Info {
    pub mac: MacAddr,
    /// Remaining DHCP lease in seconds; the C daemon always sends 0 and ignores it.
    pub lease: u16,
    /// The PLAT (NAT64) prefix, `::` when none. Also `::` with lease 0 when an INFO had no
    /// INFO_PLAT TLV, which a parser must accept but the C daemon never sends.
    pub plat: Ipv6Addr,
    /// The addresses of every INFO_BASIC TLV, in order. Kept as sent, duplicates included,
    /// so that `parse(emit(r)) == r`; the engine treats them as a set.
    pub addresses: Vec<Ipv6Addr>,
}

/// An owned, validated intercom packet.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Repr {
    pub header: Header,
    pub message: Message,
}

impl Message {
    pub fn msg_type(&self) -> MessageType {
        match self {
            Message::Seek { .. } => MessageType::Seek,
            Message::Claim { .. } => MessageType::Claim,
            Message::Info(_) => MessageType::Info,
            Message::Ack { .. } => MessageType::Ack,
        }
    }
}

impl Repr {
    /// Parses a version-0 datagram strictly (`spec/intercom.md` §6.2 steps 1, 2, 4, 5): any
    /// error means the packet is dropped whole, not cached and not forwarded. Checking the
    /// sender against the own node IP (step 3) is the caller's business.
    pub fn parse(bytes: &[u8]) -> Result<Repr, Error> {
        let packet = Packet::new_checked(bytes)?;
        // The version comes before the length limit: a future version may be longer.
        if packet.version() != VERSION {
            return Err(Error::UnsupportedVersion(packet.version()));
        }
        Repr::parse_unversioned(bytes)
    }

    /// Parses header and TLVs as version 0 defines them, whatever the version byte says:
    /// for the body of a version-2 frame ([`super::auth`]), once its MAC has verified.
    pub fn parse_unversioned(bytes: &[u8]) -> Result<Repr, Error> {
        let packet = Packet::new_checked(bytes)?;
        if bytes.len() > MAX_DATAGRAM {
            return Err(Error::TooLong(bytes.len()));
        }
        let header = Header {
            ttl: packet.ttl(),
            nonce: packet.nonce(),
            sender: packet.sender(),
        };
        let message = match packet.msg_type()? {
            MessageType::Seek => parse_seek(packet.tlvs())?,
            MessageType::Claim => Message::Claim {
                mac: parse_mac(packet.tlvs(), tlv::CLAIM_MAC)?,
            },
            MessageType::Info => Message::Info(parse_info(packet.tlvs())?),
            MessageType::Ack => Message::Ack {
                mac: parse_mac(packet.tlvs(), tlv::ACK_MAC)?,
            },
        };
        Ok(Repr { header, message })
    }

    pub fn msg_type(&self) -> MessageType {
        self.message.msg_type()
    }

    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match &self.message {
                Message::Seek { addresses } => SEEK_ADDRESS_LEN * addresses.len(),
                Message::Claim { .. } | Message::Ack { .. } => MAC_TLV_LEN,
                Message::Info(info) => {
                    let tlvs = info.addresses.len().div_ceil(MAX_ADDRESSES_PER_TLV).max(1);
                    INFO_PLAT_LEN + INFO_BASIC_MIN_LEN * tlvs + ADDRESS_LEN * info.addresses.len()
                }
            }
    }

    /// Writes the packet into the first [`Repr::buffer_len`] bytes of `buf`, which must be at
    /// least that long.
    pub fn emit(&self, buf: &mut [u8]) {
        debug_assert!(buf.len() >= self.buffer_len(), "intercom buffer too short");
        put_u8(buf, offset::VERSION, VERSION);
        put_u8(buf, offset::TTL, self.header.ttl);
        put_u8(buf, offset::TYPE, self.msg_type().into());
        put_u8(buf, offset::RESERVED, 0);
        put(buf, offset::NONCE, &self.header.nonce);
        put(buf, offset::SENDER, &self.header.sender.octets());
        let mut at = HEADER_LEN;
        match &self.message {
            Message::Seek { addresses } => {
                for address in addresses {
                    at = put_tlv(buf, at, tlv::SEEK_ADDRESS, &[&[0, 0], &address.octets()]);
                }
            }
            Message::Claim { mac } => {
                put_tlv(buf, at, tlv::CLAIM_MAC, &[&mac.0]);
            }
            Message::Ack { mac } => {
                put_tlv(buf, at, tlv::ACK_MAC, &[&mac.0]);
            }
            Message::Info(info) => {
                // PLAT first, then BASIC: the order the C daemon sends.
                at = put_tlv(
                    buf,
                    at,
                    tlv::INFO_PLAT,
                    &[&info.lease.to_be_bytes(), &info.plat.octets()],
                );
                let mut chunks = info.addresses.chunks(MAX_ADDRESSES_PER_TLV);
                // A client without usable addresses still gets one (empty) INFO_BASIC.
                let first = chunks.next().unwrap_or(&[]);
                for chunk in std::iter::once(first).chain(chunks) {
                    at = put_basic_header(buf, at, chunk.len());
                    put(buf, at, &info.mac.0);
                    at += MAC_LEN;
                    for address in chunk {
                        put(buf, at, &address.octets());
                        at += ADDRESS_LEN;
                    }
                }
            }
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = vec![0; self.buffer_len()];
        self.emit(&mut buf);
        buf
    }

    /// Rejects what [`Repr::emit`] would faithfully write but deployed C peers must never
    /// receive (`spec/intercom.md` §11): ttl 0, a SEEK without address, a datagram longer
    /// than 1500 bytes.
    pub fn check_sendable(&self) -> Result<(), Error> {
        if self.header.ttl == 0 {
            return Err(Error::ZeroTtl);
        }
        if matches!(&self.message, Message::Seek { addresses } if addresses.is_empty()) {
            return Err(Error::MissingTlv);
        }
        if self.buffer_len() > MAX_DATAGRAM {
            return Err(Error::TooLong(self.buffer_len()));
        }
        Ok(())
    }
}

/// Writes a TLV whose value is the concatenation of `parts`; returns the offset after it.
fn put_tlv(buf: &mut [u8], at: usize, kind: u8, parts: &[&[u8]]) -> usize {
    let value_len: usize = parts.iter().map(|p| p.len()).sum();
    put_u8(buf, at, kind);
    put_u8(
        buf,
        at + 1,
        u8::try_from(TLV_HEADER_LEN + value_len).unwrap_or(u8::MAX),
    );
    let mut pos = at + TLV_HEADER_LEN;
    for part in parts {
        put(buf, pos, part);
        pos += part.len();
    }
    pos
}

/// Writes the two header bytes of an INFO_BASIC TLV for `count` (at most 15) addresses;
/// returns the offset after them.
fn put_basic_header(buf: &mut [u8], at: usize, count: usize) -> usize {
    let len = INFO_BASIC_MIN_LEN + ADDRESS_LEN * count;
    put_u8(buf, at, tlv::INFO_BASIC);
    put_u8(buf, at + 1, u8::try_from(len).unwrap_or(u8::MAX));
    at + TLV_HEADER_LEN
}

/// The TLV's value if its total length is exactly `len`.
fn exact<'a>(tlv: &Tlv<'a>, len: usize) -> Result<&'a [u8], Error> {
    if tlv.value.len() + TLV_HEADER_LEN == len {
        Ok(tlv.value)
    } else {
        Err(Error::BadTlvLength {
            offset: tlv.offset,
            kind: tlv.kind,
            len: tlv.len_byte(),
        })
    }
}

fn parse_seek(tlvs: Tlvs<'_>) -> Result<Message, Error> {
    let mut addresses = Vec::new();
    for tlv in tlvs {
        let tlv = tlv?;
        if tlv.kind != tlv::SEEK_ADDRESS {
            return Err(unknown(&tlv));
        }
        // The two reserved bytes are ignored on receipt, as the C daemon does.
        let value = exact(&tlv, SEEK_ADDRESS_LEN)?;
        addresses.push(ipv6_at(value, 2));
    }
    if addresses.is_empty() {
        return Err(Error::MissingTlv);
    }
    Ok(Message::Seek { addresses })
}

fn parse_mac(tlvs: Tlvs<'_>, kind: u8) -> Result<MacAddr, Error> {
    let mut mac = None;
    for tlv in tlvs {
        let tlv = tlv?;
        if tlv.kind != kind {
            return Err(unknown(&tlv));
        }
        let value = exact(&tlv, MAC_TLV_LEN)?;
        if mac.is_some() {
            return Err(duplicate(&tlv));
        }
        mac = Some(mac_at(value, 0));
    }
    mac.ok_or(Error::MissingTlv)
}

fn parse_info(tlvs: Tlvs<'_>) -> Result<Info, Error> {
    let mut plat = None;
    let mut mac = None;
    let mut addresses = Vec::new();
    for tlv in tlvs {
        let tlv = tlv?;
        match tlv.kind {
            tlv::INFO_PLAT => {
                let value = exact(&tlv, INFO_PLAT_LEN)?;
                if plat.is_some() {
                    return Err(duplicate(&tlv));
                }
                plat = Some((u16_at(value, 0), ipv6_at(value, 2)));
            }
            tlv::INFO_BASIC => {
                // The length byte tops out at 255, so n <= 15 holds by construction.
                let list = tlv
                    .value
                    .get(MAC_LEN..)
                    .filter(|list| list.len() % ADDRESS_LEN == 0)
                    .ok_or(Error::BadTlvLength {
                        offset: tlv.offset,
                        kind: tlv.kind,
                        len: tlv.len_byte(),
                    })?;
                let this_mac = mac_at(tlv.value, 0);
                if mac.is_some_and(|m| m != this_mac) {
                    return Err(Error::ConflictingMac);
                }
                mac = Some(this_mac);
                addresses.extend(list.chunks_exact(ADDRESS_LEN).map(|a| ipv6_at(a, 0)));
            }
            _ => return Err(unknown(&tlv)),
        }
    }
    let mac = mac.ok_or(Error::MissingTlv)?;
    let (lease, plat) = plat.unwrap_or((0, Ipv6Addr::UNSPECIFIED));
    Ok(Info {
        mac,
        lease,
        plat,
        addresses,
    })
}

fn unknown(tlv: &Tlv<'_>) -> Error {
    Error::UnknownTlv {
        offset: tlv.offset,
        kind: tlv.kind,
    }
}

fn duplicate(tlv: &Tlv<'_>) -> Error {
    Error::DuplicateTlv {
        offset: tlv.offset,
        kind: tlv.kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(ttl: u8, kind: u8) -> Vec<u8> {
        let mut bytes = vec![0, ttl, kind, 0, 1, 2, 3, 4];
        bytes.extend_from_slice(&"fd00::a".parse::<Ipv6Addr>().unwrap().octets());
        bytes
    }

    #[test]
    fn tlv_walk_reports_each_length_problem_and_stops() {
        let cases: [(&[u8], Error); 4] = [
            (&[0], Error::TlvTruncated { offset: 24 }),
            (
                &[0, 0],
                Error::BadTlvLength {
                    offset: 24,
                    kind: 0,
                    len: 0,
                },
            ),
            (
                &[7, 1, 0],
                Error::BadTlvLength {
                    offset: 24,
                    kind: 7,
                    len: 1,
                },
            ),
            (
                &[0, 2, 0, 9, 1, 2],
                Error::BadTlvLength {
                    offset: 26,
                    kind: 0,
                    len: 9,
                },
            ),
        ];
        for (area, error) in cases {
            let items: Vec<_> = Tlvs::new(area).collect();
            assert_eq!(items.last(), Some(&Err(error)), "{area:?}");
            assert!(items[..items.len() - 1].iter().all(Result::is_ok));
        }
        let empty: Vec<_> = Tlvs::new(&[5, 2]).collect();
        assert_eq!(
            empty,
            [Ok(Tlv {
                kind: 5,
                value: &[],
                offset: 24
            })]
        );
    }

    #[test]
    fn info_basic_tlvs_are_split_at_fifteen_addresses() {
        let addresses: Vec<Ipv6Addr> = (0..31u16)
            .map(|i| Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i))
            .collect();
        let repr = Repr {
            header: Header {
                ttl: 1,
                nonce: [9; 4],
                sender: "fd00::b".parse().unwrap(),
            },
            message: Message::Info(Info {
                mac: MacAddr([2, 0, 0, 0, 0, 1]),
                lease: 0,
                plat: Ipv6Addr::UNSPECIFIED,
                addresses,
            }),
        };
        let bytes = repr.to_bytes();
        let kinds: Vec<(u8, u8)> = Packet::new_checked(&bytes[..])
            .unwrap()
            .tlvs()
            .map(|t| t.map(|t| (t.kind, t.len_byte())).unwrap())
            .collect();
        assert_eq!(kinds, [(0, 20), (1, 248), (1, 248), (1, 24)]);
        assert_eq!(bytes.len(), repr.buffer_len());
        assert_eq!(Repr::parse(&bytes), Ok(repr));
    }

    #[test]
    fn info_without_addresses_has_one_empty_basic_tlv() {
        let mut bytes = header(1, 2);
        bytes.extend_from_slice(&[0, 20, 0, 0]);
        bytes.extend_from_slice(&[0; 16]);
        bytes.extend_from_slice(&[1, 8, 2, 0, 0, 0, 0, 1]);
        let repr = Repr::parse(&bytes).unwrap();
        assert_eq!(
            repr.message,
            Message::Info(Info {
                mac: MacAddr([2, 0, 0, 0, 0, 1]),
                lease: 0,
                plat: Ipv6Addr::UNSPECIFIED,
                addresses: vec![],
            })
        );
        assert_eq!(repr.to_bytes(), bytes);
    }

    #[test]
    fn strict_parsing() {
        let claim = |tlvs: &[u8]| {
            let mut b = header(1, 1);
            b.extend_from_slice(tlvs);
            Repr::parse(&b)
        };
        assert_eq!(claim(&[]), Err(Error::MissingTlv));
        assert_eq!(
            claim(&[0, 8, 1, 2, 3, 4, 5, 6, 0, 8, 1, 2, 3, 4, 5, 6]),
            Err(Error::DuplicateTlv {
                offset: 32,
                kind: 0
            })
        );
        assert_eq!(
            claim(&[0, 9, 1, 2, 3, 4, 5, 6, 7]),
            Err(Error::BadTlvLength {
                offset: 24,
                kind: 0,
                len: 9
            })
        );
        assert_eq!(
            claim(&[1, 8, 1, 2, 3, 4, 5, 6]),
            Err(Error::UnknownTlv {
                offset: 24,
                kind: 1
            })
        );
        assert_eq!(
            claim(&[0, 8, 1, 2, 3, 4, 5, 6, 0]),
            Err(Error::TlvTruncated { offset: 32 })
        );

        let mut info = header(1, 2);
        info.extend_from_slice(&[1, 8, 2, 0, 0, 0, 0, 1, 1, 8, 2, 0, 0, 0, 0, 2]);
        assert_eq!(Repr::parse(&info), Err(Error::ConflictingMac));
        let mut info = header(1, 2);
        info.extend_from_slice(&[0, 20, 0, 0]);
        info.extend_from_slice(&[0; 16]);
        assert_eq!(Repr::parse(&info), Err(Error::MissingTlv));
        let mut info = header(1, 2);
        info.extend_from_slice(&[1, 10, 2, 0, 0, 0, 0, 1, 0, 0]);
        assert!(matches!(
            Repr::parse(&info),
            Err(Error::BadTlvLength { len: 10, .. })
        ));

        assert_eq!(Repr::parse(&header(1, 4)), Err(Error::UnknownType(4)));
        let mut v2 = header(1, 0);
        v2[0] = 2;
        assert_eq!(Repr::parse(&v2), Err(Error::UnsupportedVersion(2)));
        assert_eq!(Repr::parse(&v2[..23]), Err(Error::Truncated));

        let mut long = header(255, 0);
        for _ in 0..74 {
            long.extend_from_slice(&[0, 20, 0, 0]);
            long.extend_from_slice(&[0; 16]);
        }
        assert_eq!(Repr::parse(&long), Err(Error::TooLong(1504)));
        assert!(Repr::parse(&long[..1490]).is_err());
        assert!(Repr::parse(&long[..1484]).is_ok());
    }

    #[test]
    fn check_sendable_catches_the_hazards_a_repr_can_express() {
        let seek = |ttl: u8, n: usize| Repr {
            header: Header {
                ttl,
                nonce: [0; 4],
                sender: Ipv6Addr::LOCALHOST,
            },
            message: Message::Seek {
                addresses: vec![Ipv6Addr::LOCALHOST; n],
            },
        };
        assert_eq!(seek(255, 1).check_sendable(), Ok(()));
        assert_eq!(seek(0, 1).check_sendable(), Err(Error::ZeroTtl));
        assert_eq!(seek(1, 0).check_sendable(), Err(Error::MissingTlv));
        assert_eq!(seek(1, MAX_SEEK_ADDRESSES).check_sendable(), Ok(()));
        assert_eq!(
            seek(1, MAX_SEEK_ADDRESSES + 1).check_sendable(),
            Err(Error::TooLong(1504))
        );
    }

    #[test]
    fn set_ttl_changes_only_the_ttl() {
        let mut bytes = header(255, 0);
        bytes.extend_from_slice(&[0, 20, 0, 0]);
        bytes.extend_from_slice(&[0xaa; 16]);
        let before = bytes.clone();
        let mut packet = Packet::new_checked(&mut bytes[..]).unwrap();
        packet.set_ttl(254);
        assert_eq!(packet.ttl(), 254);
        assert_eq!(bytes[1], 254);
        assert_eq!(bytes[..1], before[..1]);
        assert_eq!(bytes[2..], before[2..]);
    }
}
