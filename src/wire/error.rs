//! The one error type of the wire layer.

use std::fmt;

/// Why bytes did not parse. One type for every format in [`crate::wire`], so the engine can
/// count and log malformed input uniformly; offsets are counted from the start of the buffer
/// that was handed to the parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Shorter than the fixed part of the format, or shorter than a length field claims.
    Truncated,
    /// An intercom datagram longer than [`crate::wire::intercom::MAX_DATAGRAM`]. C peers
    /// read at most 1500 bytes, so anything longer was never sent by a correct peer.
    TooLong(usize),
    /// The version field holds a value this parser does not speak (intercom, IPv4, IPv6).
    UnsupportedVersion(u8),
    /// A message type that is unknown, or not the one this parser is for (ICMPv6).
    UnknownType(u8),
    /// An ICMPv6 code other than 0 in a Neighbour Discovery message (RFC 4861 §7.1).
    UnknownCode(u8),
    /// Fewer than the two header bytes of a TLV left at `offset`.
    TlvTruncated { offset: usize },
    /// The TLV at `offset` has a length byte below 2, past the end of the datagram, or not
    /// the exact length its kind requires.
    BadTlvLength { offset: usize, kind: u8, len: u8 },
    /// A TLV type that does not exist for this packet type. The C daemon spins forever on
    /// these; here they reject the whole packet.
    UnknownTlv { offset: usize, kind: u8 },
    /// A TLV that may appear only once appears again.
    DuplicateTlv { offset: usize, kind: u8 },
    /// A TLV the packet type requires is absent (SEEK_ADDRESS, the MAC of CLAIM and ACK,
    /// INFO_BASIC).
    MissingTlv,
    /// INFO_BASIC TLVs of one INFO name different MACs.
    ConflictingMac,
    /// A signed (version 2) intercom packet whose MAC verifies under none of the keys.
    BadMac,
    /// An originated intercom packet with ttl 0, which C peers wrap to 255 and flood.
    ZeroTtl,
    /// An NDP option at `offset` with length 0, a cut header, or running past the end.
    BadOption { offset: usize },
    /// A header length field below its minimum (IPv4 IHL < 5).
    BadHeaderLength(u8),
    /// The checksum does not verify.
    BadChecksum,
    /// An IPv6 packet whose next header is not the one expected (58 for NDP snooping).
    UnexpectedProtocol(u8),
    /// An NDP message not sent with hop limit 255, so possibly from off-link (RFC 4861 §7.1).
    BadHopLimit(u8),
    /// A line of babeld's local interface longer than [`crate::wire::babel::MAX_LINE`].
    LineTooLong(usize),
    /// A line of babeld's local interface whose named field is missing or malformed.
    BadField(&'static str),
    /// An ARP packet for other than Ethernet (htype 1, hlen 6) and IPv4 (ptype 0x0800, plen 4).
    UnsupportedArp {
        htype: u16,
        ptype: u16,
        hlen: u8,
        plen: u8,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated => f.write_str("truncated"),
            Error::TooLong(len) => write!(f, "datagram of {len} bytes is longer than 1500"),
            Error::UnsupportedVersion(v) => write!(f, "unsupported version {v}"),
            Error::UnknownType(t) => write!(f, "unknown or unexpected message type {t}"),
            Error::UnknownCode(c) => write!(f, "unexpected code {c}"),
            Error::TlvTruncated { offset } => write!(f, "truncated TLV header at offset {offset}"),
            Error::BadTlvLength { offset, kind, len } => {
                write!(f, "TLV type {kind} at offset {offset} has bad length {len}")
            }
            Error::UnknownTlv { offset, kind } => {
                write!(f, "unknown TLV type {kind} at offset {offset}")
            }
            Error::DuplicateTlv { offset, kind } => {
                write!(f, "repeated TLV type {kind} at offset {offset}")
            }
            Error::MissingTlv => f.write_str("a required TLV is missing"),
            Error::ConflictingMac => f.write_str("INFO_BASIC TLVs name different MACs"),
            Error::BadMac => f.write_str("MAC verifies under no key"),
            Error::ZeroTtl => f.write_str("ttl 0"),
            Error::BadOption { offset } => write!(f, "bad option at offset {offset}"),
            Error::BadHeaderLength(len) => write!(f, "bad header length {len}"),
            Error::BadChecksum => f.write_str("bad checksum"),
            Error::UnexpectedProtocol(p) => write!(f, "unexpected next header {p}"),
            Error::BadHopLimit(h) => write!(f, "hop limit {h}, expected 255"),
            Error::LineTooLong(len) => write!(f, "line of {len} bytes is longer than 512"),
            Error::BadField(field) => write!(f, "missing or malformed field: {field}"),
            Error::UnsupportedArp {
                htype,
                ptype,
                hlen,
                plen,
            } => write!(
                f,
                "unsupported ARP htype {htype} ptype {ptype:#06x} hlen {hlen} plen {plen}"
            ),
        }
    }
}

impl std::error::Error for Error {}
