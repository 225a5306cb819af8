//! A small netlink codec: the few rtnetlink and generic-netlink messages this daemon sends
//! and reads, encoded and decoded by hand. No `unsafe`, no allocation beyond the owned
//! results, and no decoder panics or loops on any input.
//!
//! Every netlink datagram is a sequence of messages, each padded to 4 bytes:
//!
//! ```text
//!  0               4       6       8               12              16
//! +---------------+-------+-------+---------------+---------------+----------------+
//! | nlmsg_len     | type  | flags | seq           | port id       | payload ...    |
//! +---------------+-------+-------+---------------+---------------+----------------+
//! ```
//!
//! `nlmsg_len` counts the 16-byte header. The payload of an rtnetlink message is a fixed
//! family header (`ifinfomsg` 16 bytes, `ifaddrmsg` 8, `rtmsg` 12, `ndmsg` 12; generic
//! netlink: `genlmsghdr` 4) followed by attributes, each `len u16 | type u16 | value`, the
//! length counting its 4-byte header and the next attribute starting at the length rounded
//! up to 4. All integers are in host byte order, as the kernel writes them.
//!
//! Difference to the C daemon: it read only the first message of each datagram, which lost
//! most of every dump (`spec/behaviour.md` §15 #12); [`messages`] walks all of them.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

// Numbers from linux/netlink.h, rtnetlink.h, neighbour.h, if_link.h, if_addr.h and
// genetlink.h, which are stable kernel ABI.

/// Netlink message header length.
pub const HEADER_LEN: usize = 16;

/// Message type: nothing, skip it.
pub const NLMSG_NOOP: u16 = 1;
/// Message type: an error code, or 0 for an ACK, with the request echoed.
pub const NLMSG_ERROR: u16 = 2;
/// Message type: the end of a multipart (dump) answer.
pub const NLMSG_DONE: u16 = 3;
/// Message type: data lost (never sent by current kernels).
pub const NLMSG_OVERRUN: u16 = 4;

/// A link appeared or changed.
pub const RTM_NEWLINK: u16 = 16;
/// A link went away.
pub const RTM_DELLINK: u16 = 17;
/// Dump the links.
pub const RTM_GETLINK: u16 = 18;
/// An address appeared, or add one.
pub const RTM_NEWADDR: u16 = 20;
/// An address went away, or delete one.
pub const RTM_DELADDR: u16 = 21;
/// Dump the addresses.
pub const RTM_GETADDR: u16 = 22;
/// A route appeared, or add one.
pub const RTM_NEWROUTE: u16 = 24;
/// A route went away, or delete one.
pub const RTM_DELROUTE: u16 = 25;
/// Look a route up, or dump the routes.
pub const RTM_GETROUTE: u16 = 26;
/// A neighbour (or FDB) entry appeared or changed, or set one.
pub const RTM_NEWNEIGH: u16 = 28;
/// A neighbour (or FDB) entry went away, or delete one.
pub const RTM_DELNEIGH: u16 = 29;
/// Dump the neighbours (or, with AF_BRIDGE, the FDB).
pub const RTM_GETNEIGH: u16 = 30;

/// Flag: a request (every message to the kernel).
pub const NLM_F_REQUEST: u16 = 0x01;
/// Flag: part of a multipart answer.
pub const NLM_F_MULTI: u16 = 0x02;
/// Flag: answer with an ACK (NLMSG_ERROR 0) on success too.
pub const NLM_F_ACK: u16 = 0x04;
/// Flag on a GET: dump everything (NLM_F_ROOT | NLM_F_MATCH).
pub const NLM_F_DUMP: u16 = 0x300;
/// Flag on a NEW: replace an existing object.
pub const NLM_F_REPLACE: u16 = 0x100;
/// Flag on a NEW: fail with EEXIST if the object exists.
pub const NLM_F_EXCL: u16 = 0x200;
/// Flag on a NEW: create the object if it does not exist.
pub const NLM_F_CREATE: u16 = 0x400;
/// Flag on an NLMSG_ERROR: the echoed request is only its header.
pub const NLM_F_CAPPED: u16 = 0x100;
/// Flag on an NLMSG_ERROR or NLMSG_DONE: extended-ack attributes follow.
pub const NLM_F_ACK_TLVS: u16 = 0x200;
/// Extended-ack attribute: a human-readable error message.
pub const NLMSGERR_ATTR_MSG: u16 = 1;

/// Address family: any (dump requests).
pub const AF_UNSPEC: u8 = 0;
/// Address family: IPv4.
pub const AF_INET: u8 = 2;
/// Address family: bridge (FDB entries, bridge-port link messages).
pub const AF_BRIDGE: u8 = 7;
/// Address family: IPv6.
pub const AF_INET6: u8 = 10;

/// Link flag: administratively up.
pub const IFF_UP: u32 = 0x1;
/// Link flag: the loopback device.
pub const IFF_LOOPBACK: u32 = 0x8;
/// Link attribute: hardware address.
pub const IFLA_ADDRESS: u16 = 1;
/// Link attribute: name (C string).
pub const IFLA_IFNAME: u16 = 3;
/// Link attribute: index of the bridge (or bond) this link is a port of.
pub const IFLA_MASTER: u16 = 10;

/// Address attribute: the address (on point-to-point links, the peer's).
pub const IFA_ADDRESS: u16 = 1;
/// Address attribute: the local address.
pub const IFA_LOCAL: u16 = 2;

/// rtm_table when the table is given only as RTA_TABLE.
pub const RT_TABLE_UNSPEC: u8 = 0;
/// The main routing table.
pub const RT_TABLE_MAIN: u8 = 254;
/// Route type: a normal route.
pub const RTN_UNICAST: u8 = 1;
/// Route type: a local address of this host.
pub const RTN_LOCAL: u8 = 2;
/// Route type: drop silently.
pub const RTN_BLACKHOLE: u8 = 6;
/// Route type: drop with "host unreachable".
pub const RTN_UNREACHABLE: u8 = 7;
/// Route type: drop with "administratively prohibited".
pub const RTN_PROHIBIT: u8 = 8;
/// Route type: continue the lookup in the next rule's table.
pub const RTN_THROW: u8 = 9;
/// Route scope: anywhere (the scope of this daemon's routes).
pub const RT_SCOPE_UNIVERSE: u8 = 0;
/// In a deletion: match a route of any scope (`ip route del` sends this too).
pub const RT_SCOPE_NOWHERE: u8 = 255;
/// Route flag: an IPv6 cache clone (exception), not an installed route.
pub const RTM_F_CLONED: u32 = 0x200;
/// Route flag on a lookup: report the table the route was found in.
pub const RTM_F_LOOKUP_TABLE: u32 = 0x1000;
/// Route flag on a lookup: answer with the matching FIB entry (Linux 4.13).
pub const RTM_F_FIB_MATCH: u32 = 0x2000;
/// Route attribute: destination.
pub const RTA_DST: u16 = 1;
/// Route attribute: output interface index.
pub const RTA_OIF: u16 = 4;
/// Route attribute: metric.
pub const RTA_PRIORITY: u16 = 6;
/// Route attribute: table (u32; also for tables from 256 on).
pub const RTA_TABLE: u16 = 15;

/// Neighbour state: resolution in progress. (States are bits; one is set at a time.)
pub const NUD_INCOMPLETE: u16 = 0x01;
/// Neighbour state: confirmed recently.
pub const NUD_REACHABLE: u16 = 0x02;
/// Neighbour state: unconfirmed for a while, usable.
pub const NUD_STALE: u16 = 0x04;
/// Neighbour state: waiting before probing.
pub const NUD_DELAY: u16 = 0x08;
/// Neighbour state: being verified with unicast solicitations.
pub const NUD_PROBE: u16 = 0x10;
/// Neighbour state: verification failed.
pub const NUD_FAILED: u16 = 0x20;
/// Neighbour state: no resolution needed (static entry; in the FDB: static).
pub const NUD_NOARP: u16 = 0x40;
/// Neighbour state: permanent (in the FDB: the bridge's and ports' own MACs).
pub const NUD_PERMANENT: u16 = 0x80;
/// Neighbour flag: an entry of the device's own address lists, not learned.
pub const NTF_SELF: u8 = 0x02;
/// Neighbour flag: an entry of the master (bridge) device.
pub const NTF_MASTER: u8 = 0x04;
/// Neighbour flag: a proxy entry (answered for others).
pub const NTF_PROXY: u8 = 0x08;
/// Neighbour attribute: the IP address.
pub const NDA_DST: u16 = 1;
/// Neighbour attribute: the link-layer address.
pub const NDA_LLADDR: u16 = 2;
/// Neighbour attribute: index of the master (bridge) device.
pub const NDA_MASTER: u16 = 9;

/// The generic netlink controller's fixed family id.
pub const GENL_ID_CTRL: u16 = 0x10;
/// Controller command: a family's description (the answer to GETFAMILY).
pub const CTRL_CMD_NEWFAMILY: u8 = 1;
/// Controller command: describe a family.
pub const CTRL_CMD_GETFAMILY: u8 = 3;
/// Controller attribute: family id (u16).
pub const CTRL_ATTR_FAMILY_ID: u16 = 1;
/// Controller attribute: family name (C string).
pub const CTRL_ATTR_FAMILY_NAME: u16 = 2;
/// Controller attribute: the family's multicast groups (nested array).
pub const CTRL_ATTR_MCAST_GROUPS: u16 = 7;
/// Multicast group attribute: name (C string).
pub const CTRL_ATTR_MCAST_GRP_NAME: u16 = 1;
/// Multicast group attribute: id (u32), for NETLINK_ADD_MEMBERSHIP.
pub const CTRL_ATTR_MCAST_GRP_ID: u16 = 2;

/// Attribute type bits that are flags, not part of the type.
const NLA_TYPE_MASK: u16 = 0x3fff;
const ATTR_HEADER_LEN: usize = 4;

/// Bytes that are not a well-formed netlink message; says what was wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed netlink message: {}", self.0)
    }
}

impl std::error::Error for Malformed {}

/// Rounds a length up to the 4-byte netlink alignment.
pub const fn align(len: usize) -> usize {
    len.saturating_add(3) & !3
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    let b: [u8; 2] = bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(u16::from_ne_bytes(b))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_ne_bytes(b))
}

fn u8_at(bytes: &[u8], at: usize) -> Option<u8> {
    bytes.get(at).copied()
}

/// The fixed header of every netlink message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub len: u32,
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub port: u32,
}

impl Header {
    /// Reads a header from the first 16 bytes; `None` when there are fewer.
    pub fn parse(bytes: &[u8]) -> Option<Header> {
        Some(Header {
            len: u32_at(bytes, 0)?,
            kind: u16_at(bytes, 4)?,
            flags: u16_at(bytes, 6)?,
            seq: u32_at(bytes, 8)?,
            port: u32_at(bytes, 12)?,
        })
    }

    fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.len.to_ne_bytes());
        out.extend_from_slice(&self.kind.to_ne_bytes());
        out.extend_from_slice(&self.flags.to_ne_bytes());
        out.extend_from_slice(&self.seq.to_ne_bytes());
        out.extend_from_slice(&self.port.to_ne_bytes());
    }
}

/// One message of a datagram: its header and the bytes after it, up to `nlmsg_len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    pub header: Header,
    pub payload: &'a [u8],
}

/// Every message of a datagram, in order. Stops after the first malformed one (its length
/// is then unknown, so nothing after it can be found).
pub fn messages(datagram: &[u8]) -> Messages<'_> {
    Messages { rest: datagram }
}

/// Iterator returned by [`messages`].
#[derive(Clone, Debug)]
pub struct Messages<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let bytes = std::mem::take(&mut self.rest);
        let Some(header) = Header::parse(bytes) else {
            return Some(Err(Malformed("truncated message header")));
        };
        let len = header.len as usize;
        if len < HEADER_LEN {
            return Some(Err(Malformed("message length below its header")));
        }
        let (Some(payload), Some(_)) = (bytes.get(HEADER_LEN..len), bytes.get(..len)) else {
            return Some(Err(Malformed(
                "message length past the end of the datagram",
            )));
        };
        // Every step consumes at least the 16-byte header, so the walk always ends.
        self.rest = bytes.get(align(len)..).unwrap_or(&[]);
        Some(Ok(Message { header, payload }))
    }
}

/// One attribute: its type (without the nested / byte-order flag bits) and value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr<'a> {
    pub kind: u16,
    pub value: &'a [u8],
}

impl<'a> Attr<'a> {
    /// A value of exactly one byte.
    pub fn u8(&self) -> Result<u8, Malformed> {
        match self.value {
            [b] => Ok(*b),
            _ => Err(Malformed("u8 attribute of wrong length")),
        }
    }

    /// A value of exactly two bytes, host order.
    pub fn u16(&self) -> Result<u16, Malformed> {
        let b: [u8; 2] = self
            .value
            .try_into()
            .map_err(|_| Malformed("u16 attribute of wrong length"))?;
        Ok(u16::from_ne_bytes(b))
    }

    /// A value of exactly four bytes, host order.
    pub fn u32(&self) -> Result<u32, Malformed> {
        let b: [u8; 4] = self
            .value
            .try_into()
            .map_err(|_| Malformed("u32 attribute of wrong length"))?;
        Ok(u32::from_ne_bytes(b))
    }

    /// A C string: up to the first NUL (or the end), invalid UTF-8 replaced.
    pub fn string(&self) -> String {
        let end = self
            .value
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.value.len());
        String::from_utf8_lossy(self.value.get(..end).unwrap_or(&[])).into_owned()
    }

    /// An IPv4 (4 bytes) or IPv6 (16 bytes) address.
    pub fn ip(&self) -> Result<IpAddr, Malformed> {
        if let Ok(b) = <[u8; 4]>::try_from(self.value) {
            Ok(IpAddr::V4(Ipv4Addr::from(b)))
        } else if let Ok(b) = <[u8; 16]>::try_from(self.value) {
            Ok(IpAddr::V6(Ipv6Addr::from(b)))
        } else {
            Err(Malformed("address attribute of neither 4 nor 16 bytes"))
        }
    }

    /// A 6-byte hardware address; `None` for any other length (tun, tunnels, loopback's
    /// all-zero one is still six bytes).
    pub fn mac(&self) -> Option<[u8; 6]> {
        self.value.try_into().ok()
    }

    /// The attributes nested inside this one.
    pub fn nested(&self) -> Attrs<'a> {
        attrs(self.value)
    }
}

/// Every attribute in `bytes`, in order. Each length is checked against what remains;
/// the walk stops after the first error.
pub fn attrs(bytes: &[u8]) -> Attrs<'_> {
    Attrs { rest: bytes }
}

/// Iterator returned by [`attrs`].
#[derive(Clone, Debug)]
pub struct Attrs<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let bytes = std::mem::take(&mut self.rest);
        let (Some(len), Some(kind)) = (u16_at(bytes, 0), u16_at(bytes, 2)) else {
            return Some(Err(Malformed("truncated attribute header")));
        };
        let len = usize::from(len);
        if len < ATTR_HEADER_LEN {
            return Some(Err(Malformed("attribute length below its header")));
        }
        let Some(value) = bytes.get(ATTR_HEADER_LEN..len) else {
            return Some(Err(Malformed("attribute length past the end")));
        };
        // At least the 4-byte header is consumed each step.
        self.rest = bytes.get(align(len)..).unwrap_or(&[]);
        Some(Ok(Attr {
            kind: kind & NLA_TYPE_MASK,
            value,
        }))
    }
}

/// `struct ifinfomsg`: the fixed part of a link message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IfInfoMsg {
    pub family: u8,
    pub kind: u16,
    pub index: i32,
    pub flags: u32,
    pub change: u32,
}

impl IfInfoMsg {
    /// Length on the wire.
    pub const LEN: usize = 16;

    /// The header and the attribute bytes after it.
    pub fn parse(payload: &[u8]) -> Result<(IfInfoMsg, &[u8]), Malformed> {
        let short = Malformed("ifinfomsg truncated");
        let msg = IfInfoMsg {
            family: u8_at(payload, 0).ok_or(short)?,
            kind: u16_at(payload, 2).ok_or(short)?,
            index: u32_at(payload, 4).ok_or(short)? as i32,
            flags: u32_at(payload, 8).ok_or(short)?,
            change: u32_at(payload, 12).ok_or(short)?,
        };
        Ok((msg, payload.get(Self::LEN..).unwrap_or(&[])))
    }

    /// Appends the wire form, host byte order.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(self.family);
        out.push(0);
        out.extend_from_slice(&self.kind.to_ne_bytes());
        out.extend_from_slice(&self.index.to_ne_bytes());
        out.extend_from_slice(&self.flags.to_ne_bytes());
        out.extend_from_slice(&self.change.to_ne_bytes());
    }
}

/// `struct ifaddrmsg`: the fixed part of an address message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IfAddrMsg {
    pub family: u8,
    pub prefix_len: u8,
    pub flags: u8,
    pub scope: u8,
    pub index: u32,
}

impl IfAddrMsg {
    /// Length on the wire.
    pub const LEN: usize = 8;

    /// The header and the attribute bytes after it.
    pub fn parse(payload: &[u8]) -> Result<(IfAddrMsg, &[u8]), Malformed> {
        let short = Malformed("ifaddrmsg truncated");
        let msg = IfAddrMsg {
            family: u8_at(payload, 0).ok_or(short)?,
            prefix_len: u8_at(payload, 1).ok_or(short)?,
            flags: u8_at(payload, 2).ok_or(short)?,
            scope: u8_at(payload, 3).ok_or(short)?,
            index: u32_at(payload, 4).ok_or(short)?,
        };
        Ok((msg, payload.get(Self::LEN..).unwrap_or(&[])))
    }

    /// Appends the wire form, host byte order.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.family, self.prefix_len, self.flags, self.scope]);
        out.extend_from_slice(&self.index.to_ne_bytes());
    }
}

/// `struct rtmsg`: the fixed part of a route message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RtMsg {
    pub family: u8,
    pub dst_len: u8,
    pub src_len: u8,
    pub tos: u8,
    pub table: u8,
    pub protocol: u8,
    pub scope: u8,
    pub kind: u8,
    pub flags: u32,
}

impl RtMsg {
    /// Length on the wire.
    pub const LEN: usize = 12;

    /// The header and the attribute bytes after it.
    pub fn parse(payload: &[u8]) -> Result<(RtMsg, &[u8]), Malformed> {
        let b: [u8; 8] = payload
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .ok_or(Malformed("rtmsg truncated"))?;
        let flags = u32_at(payload, 8).ok_or(Malformed("rtmsg truncated"))?;
        let [family, dst_len, src_len, tos, table, protocol, scope, kind] = b;
        let msg = RtMsg {
            family,
            dst_len,
            src_len,
            tos,
            table,
            protocol,
            scope,
            kind,
            flags,
        };
        Ok((msg, payload.get(Self::LEN..).unwrap_or(&[])))
    }

    /// Appends the wire form, host byte order.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[
            self.family,
            self.dst_len,
            self.src_len,
            self.tos,
            self.table,
            self.protocol,
            self.scope,
            self.kind,
        ]);
        out.extend_from_slice(&self.flags.to_ne_bytes());
    }
}

/// `struct ndmsg`: the fixed part of a neighbour (or bridge FDB) message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NdMsg {
    pub family: u8,
    pub index: i32,
    pub state: u16,
    pub flags: u8,
    pub kind: u8,
}

impl NdMsg {
    /// Length on the wire.
    pub const LEN: usize = 12;

    /// The header and the attribute bytes after it.
    pub fn parse(payload: &[u8]) -> Result<(NdMsg, &[u8]), Malformed> {
        let short = Malformed("ndmsg truncated");
        let msg = NdMsg {
            family: u8_at(payload, 0).ok_or(short)?,
            index: u32_at(payload, 4).ok_or(short)? as i32,
            state: u16_at(payload, 8).ok_or(short)?,
            flags: u8_at(payload, 10).ok_or(short)?,
            kind: u8_at(payload, 11).ok_or(short)?,
        };
        Ok((msg, payload.get(Self::LEN..).unwrap_or(&[])))
    }

    /// Appends the wire form, host byte order.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.family, 0, 0, 0]);
        out.extend_from_slice(&self.index.to_ne_bytes());
        out.extend_from_slice(&self.state.to_ne_bytes());
        out.extend_from_slice(&[self.flags, self.kind]);
    }
}

/// `struct genlmsghdr`: the fixed part of a generic netlink message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GenlMsgHdr {
    pub cmd: u8,
    pub version: u8,
}

impl GenlMsgHdr {
    /// Length on the wire.
    pub const LEN: usize = 4;

    /// The header and the attribute bytes after it.
    pub fn parse(payload: &[u8]) -> Result<(GenlMsgHdr, &[u8]), Malformed> {
        let short = Malformed("genlmsghdr truncated");
        let msg = GenlMsgHdr {
            cmd: u8_at(payload, 0).ok_or(short)?,
            version: u8_at(payload, 1).ok_or(short)?,
        };
        u16_at(payload, 2).ok_or(short)?;
        Ok((msg, payload.get(Self::LEN..).unwrap_or(&[])))
    }

    /// Appends the wire form, host byte order.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.cmd, self.version, 0, 0]);
    }
}

/// The outcome carried by an NLMSG_ERROR (an ACK when `errno` is 0) or an NLMSG_DONE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// Positive errno; 0 means success.
    pub errno: i32,
    /// The extended-ack message, if the kernel sent one.
    pub message: Option<String>,
}

/// Decodes an NLMSG_ERROR or NLMSG_DONE payload. A DONE without payload (some generic
/// netlink families) is success. The sequence number to match is the message's own
/// `header.seq`, which the kernel copies from the request.
pub fn parse_status(msg: &Message<'_>) -> Result<Status, Malformed> {
    let code = match u32_at(msg.payload, 0) {
        Some(code) => code as i32,
        None if msg.header.kind == NLMSG_DONE && msg.payload.is_empty() => 0,
        None => return Err(Malformed("status message without error code")),
    };
    if code > 0 {
        return Err(Malformed("positive error code"));
    }
    let errno = code
        .checked_neg()
        .ok_or(Malformed("error code out of range"))?;
    let mut message = None;
    if msg.header.flags & NLM_F_ACK_TLVS != 0 {
        let tlv_start = if msg.header.kind == NLMSG_ERROR {
            // The echoed request follows the code: its header only when capped.
            let echoed = Header::parse(msg.payload.get(4..).unwrap_or(&[]))
                .ok_or(Malformed("error without echoed header"))?;
            if msg.header.flags & NLM_F_CAPPED != 0 {
                4 + HEADER_LEN
            } else {
                4usize.saturating_add(align(echoed.len as usize))
            }
        } else {
            4
        };
        let tlvs = msg
            .payload
            .get(tlv_start..)
            .ok_or(Malformed("extended ack past the end"))?;
        for attr in attrs(tlvs) {
            let attr = attr?;
            if attr.kind == NLMSGERR_ATTR_MSG {
                message = Some(attr.string());
            }
        }
    }
    Ok(Status { errno, message })
}

/// A link message (RTM_NEWLINK / RTM_DELLINK), the attributes this daemon uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkMessage {
    pub deleted: bool,
    pub header: IfInfoMsg,
    pub name: Option<String>,
    /// IFLA_ADDRESS when it is six bytes long.
    pub mac: Option<[u8; 6]>,
    pub master: Option<u32>,
}

/// Decodes RTM_NEWLINK / RTM_DELLINK.
pub fn parse_link(msg: &Message<'_>) -> Result<LinkMessage, Malformed> {
    let (header, rest) = IfInfoMsg::parse(msg.payload)?;
    let mut link = LinkMessage {
        deleted: msg.header.kind == RTM_DELLINK,
        header,
        name: None,
        mac: None,
        master: None,
    };
    for attr in attrs(rest) {
        let attr = attr?;
        match attr.kind {
            IFLA_IFNAME => link.name = Some(attr.string()),
            IFLA_ADDRESS => link.mac = attr.mac(),
            IFLA_MASTER => link.master = Some(attr.u32()?),
            _ => {}
        }
    }
    Ok(link)
}

/// An address message (RTM_NEWADDR / RTM_DELADDR).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressMessage {
    pub deleted: bool,
    pub header: IfAddrMsg,
    /// IFA_LOCAL if present (on point-to-point links IFA_ADDRESS is the peer), else
    /// IFA_ADDRESS.
    pub addr: Option<IpAddr>,
}

/// Decodes RTM_NEWADDR / RTM_DELADDR.
pub fn parse_address(msg: &Message<'_>) -> Result<AddressMessage, Malformed> {
    let (header, rest) = IfAddrMsg::parse(msg.payload)?;
    let (mut local, mut address) = (None, None);
    for attr in attrs(rest) {
        let attr = attr?;
        match attr.kind {
            IFA_LOCAL => local = Some(attr.ip()?),
            IFA_ADDRESS => address = Some(attr.ip()?),
            _ => {}
        }
    }
    Ok(AddressMessage {
        deleted: msg.header.kind == RTM_DELADDR,
        header,
        addr: local.or(address),
    })
}

/// A route message (RTM_NEWROUTE / RTM_DELROUTE).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteMessage {
    pub deleted: bool,
    pub header: RtMsg,
    /// Absent for a default route.
    pub dst: Option<IpAddr>,
    /// RTA_TABLE, else `rtm_table`.
    pub table: u32,
    pub priority: Option<u32>,
    /// Absent for multipath and reject routes.
    pub oif: Option<u32>,
}

/// Decodes RTM_NEWROUTE / RTM_DELROUTE.
pub fn parse_route(msg: &Message<'_>) -> Result<RouteMessage, Malformed> {
    let (header, rest) = RtMsg::parse(msg.payload)?;
    let mut route = RouteMessage {
        deleted: msg.header.kind == RTM_DELROUTE,
        header,
        dst: None,
        table: u32::from(header.table),
        priority: None,
        oif: None,
    };
    for attr in attrs(rest) {
        let attr = attr?;
        match attr.kind {
            RTA_DST => route.dst = Some(attr.ip()?),
            RTA_TABLE => route.table = attr.u32()?,
            RTA_PRIORITY => route.priority = Some(attr.u32()?),
            RTA_OIF => route.oif = Some(attr.u32()?),
            _ => {}
        }
    }
    Ok(route)
}

/// A neighbour or bridge FDB message (RTM_NEWNEIGH / RTM_DELNEIGH).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeighbourMessage {
    pub deleted: bool,
    pub header: NdMsg,
    pub dst: Option<IpAddr>,
    /// NDA_LLADDR when it is six bytes long.
    pub lladdr: Option<[u8; 6]>,
    pub master: Option<u32>,
}

/// Decodes RTM_NEWNEIGH / RTM_DELNEIGH.
pub fn parse_neighbour(msg: &Message<'_>) -> Result<NeighbourMessage, Malformed> {
    let (header, rest) = NdMsg::parse(msg.payload)?;
    let mut neighbour = NeighbourMessage {
        deleted: msg.header.kind == RTM_DELNEIGH,
        header,
        dst: None,
        lladdr: None,
        master: None,
    };
    for attr in attrs(rest) {
        let attr = attr?;
        match attr.kind {
            NDA_DST => neighbour.dst = Some(attr.ip()?),
            NDA_LLADDR => neighbour.lladdr = attr.mac(),
            NDA_MASTER => neighbour.master = Some(attr.u32()?),
            _ => {}
        }
    }
    Ok(neighbour)
}

/// What CTRL_CMD_GETFAMILY tells about a generic netlink family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Family {
    pub id: u16,
    pub name: String,
    /// Multicast groups: (name, id).
    pub groups: Vec<(String, u32)>,
}

impl Family {
    /// The id of the multicast group called `name`.
    pub fn group(&self, name: &str) -> Option<u32> {
        self.groups
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| *id)
    }
}

/// Decodes the controller's CTRL_CMD_NEWFAMILY reply.
pub fn parse_family(msg: &Message<'_>) -> Result<Family, Malformed> {
    let (header, rest) = GenlMsgHdr::parse(msg.payload)?;
    if msg.header.kind != GENL_ID_CTRL || header.cmd != CTRL_CMD_NEWFAMILY {
        return Err(Malformed("not a CTRL_CMD_NEWFAMILY message"));
    }
    let (mut id, mut name, mut groups) = (None, String::new(), Vec::new());
    for attr in attrs(rest) {
        let attr = attr?;
        match attr.kind {
            CTRL_ATTR_FAMILY_ID => id = Some(attr.u16()?),
            CTRL_ATTR_FAMILY_NAME => name = attr.string(),
            CTRL_ATTR_MCAST_GROUPS => {
                // An array: one nested attribute per group, each with a name and an id.
                for entry in attr.nested() {
                    let (mut group_name, mut group_id) = (None, None);
                    for field in entry?.nested() {
                        let field = field?;
                        match field.kind {
                            CTRL_ATTR_MCAST_GRP_NAME => group_name = Some(field.string()),
                            CTRL_ATTR_MCAST_GRP_ID => group_id = Some(field.u32()?),
                            _ => {}
                        }
                    }
                    if let (Some(n), Some(i)) = (group_name, group_id) {
                        groups.push((n, i));
                    }
                }
            }
            _ => {}
        }
    }
    let id = id.ok_or(Malformed("family without id"))?;
    Ok(Family { id, name, groups })
}

/// Builds one request message: header, fixed family header, attributes; the length is
/// filled in by [`Builder::finish`].
struct Builder {
    buf: Vec<u8>,
}

impl Builder {
    fn new(kind: u16, flags: u16, seq: u32) -> Builder {
        let mut buf = Vec::with_capacity(64);
        Header {
            len: 0,
            kind,
            flags,
            seq,
            port: 0,
        }
        .emit(&mut buf);
        Builder { buf }
    }

    /// Only called with this module's small fixed values, so the u16 length never
    /// overflows.
    fn attr(mut self, kind: u16, value: &[u8]) -> Builder {
        let len = ATTR_HEADER_LEN + value.len();
        debug_assert!(len <= usize::from(u16::MAX));
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(value);
        self.buf.resize(align(self.buf.len()), 0);
        self
    }

    fn attr_u32(self, kind: u16, value: u32) -> Builder {
        self.attr(kind, &value.to_ne_bytes())
    }

    fn attr_ip(self, kind: u16, addr: &IpAddr) -> Builder {
        match addr {
            IpAddr::V4(a) => self.attr(kind, &a.octets()),
            IpAddr::V6(a) => self.attr(kind, &a.octets()),
        }
    }

    fn finish(mut self) -> Vec<u8> {
        let len = (self.buf.len() as u32).to_ne_bytes();
        self.buf[..4].copy_from_slice(&len);
        self.buf
    }
}

fn family_of(addr: &IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    }
}

/// A unicast route `dst/dst_len dev oif proto protocol table table`, as this daemon
/// installs and removes it (`spec/behaviour.md` §9.1, §9.3, §9.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteSpec {
    pub dst: IpAddr,
    pub dst_len: u8,
    pub table: u32,
    pub protocol: u8,
    pub oif: u32,
    /// RTA_PRIORITY; `None` leaves the kernel's default (IPv6 1024, IPv4 0).
    pub metric: Option<u32>,
}

impl RouteSpec {
    fn encode(&self, kind: u16, flags: u16, scope: u8, seq: u32) -> Vec<u8> {
        let mut b = Builder::new(kind, flags, seq);
        RtMsg {
            family: family_of(&self.dst),
            dst_len: self.dst_len,
            // Tables from 256 on exist only as RTA_TABLE; the kernel prefers RTA_TABLE anyway.
            table: u8::try_from(self.table).unwrap_or(RT_TABLE_UNSPEC),
            protocol: self.protocol,
            scope,
            kind: RTN_UNICAST,
            ..RtMsg::default()
        }
        .emit(&mut b.buf);
        let b = b
            .attr_u32(RTA_TABLE, self.table)
            .attr_ip(RTA_DST, &self.dst)
            .attr_u32(RTA_OIF, self.oif);
        match self.metric {
            Some(metric) => b.attr_u32(RTA_PRIORITY, metric).finish(),
            None => b.finish(),
        }
    }
}

/// RTM_NEWROUTE, create + replace, with ACK.
pub fn new_route(seq: u32, route: &RouteSpec) -> Vec<u8> {
    let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
    route.encode(RTM_NEWROUTE, flags, RT_SCOPE_UNIVERSE, seq)
}

/// RTM_DELROUTE with ACK. Family, table, destination, length, protocol, type and output
/// interface are all given, so the kernel deletes only that exact route: never a route of
/// another protocol or device with the same destination, never a throw route. The scope is
/// left open: `ip route add ... dev X proto 158` (an earlier run of another daemon, or an
/// operator) makes an IPv4 route of scope link, which is still ours to remove.
pub fn del_route(seq: u32, route: &RouteSpec) -> Vec<u8> {
    route.encode(
        RTM_DELROUTE,
        NLM_F_REQUEST | NLM_F_ACK,
        RT_SCOPE_NOWHERE,
        seq,
    )
}

/// RTM_NEWNEIGH, create + replace, with ACK: set the entry for `addr` on `ifindex` to
/// `state` with link-layer address `lladdr`.
pub fn new_neighbour(
    seq: u32,
    ifindex: u32,
    addr: &IpAddr,
    lladdr: [u8; 6],
    state: u16,
) -> Vec<u8> {
    let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
    let mut b = Builder::new(RTM_NEWNEIGH, flags, seq);
    NdMsg {
        family: family_of(addr),
        index: ifindex as i32,
        state,
        ..NdMsg::default()
    }
    .emit(&mut b.buf);
    b.attr_ip(NDA_DST, addr).attr(NDA_LLADDR, &lladdr).finish()
}

/// RTM_DELNEIGH with ACK for (family, ifindex, address), without the proxy flag (the C
/// daemon set it for IPv6 and so deleted nothing, §15 #10).
pub fn del_neighbour(seq: u32, ifindex: u32, addr: &IpAddr) -> Vec<u8> {
    let mut b = Builder::new(RTM_DELNEIGH, NLM_F_REQUEST | NLM_F_ACK, seq);
    NdMsg {
        family: family_of(addr),
        index: ifindex as i32,
        ..NdMsg::default()
    }
    .emit(&mut b.buf);
    b.attr_ip(NDA_DST, addr).finish()
}

fn address(
    kind: u16,
    flags: u16,
    seq: u32,
    ifindex: u32,
    addr: &Ipv6Addr,
    prefix_len: u8,
) -> Vec<u8> {
    let mut b = Builder::new(kind, flags, seq);
    IfAddrMsg {
        family: AF_INET6,
        prefix_len,
        flags: 0,
        scope: 0,
        index: ifindex,
    }
    .emit(&mut b.buf);
    b.attr(IFA_LOCAL, &addr.octets()).finish()
}

/// RTM_NEWADDR, create + exclusive, with ACK: `addr/prefix_len` on `ifindex`, scope 0, only
/// IFA_LOCAL (`spec/behaviour.md` §2.3).
pub fn new_address(seq: u32, ifindex: u32, addr: &Ipv6Addr, prefix_len: u8) -> Vec<u8> {
    let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    address(RTM_NEWADDR, flags, seq, ifindex, addr, prefix_len)
}

/// RTM_DELADDR with ACK for `addr/prefix_len` on `ifindex`.
pub fn del_address(seq: u32, ifindex: u32, addr: &Ipv6Addr, prefix_len: u8) -> Vec<u8> {
    address(
        RTM_DELADDR,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        ifindex,
        addr,
        prefix_len,
    )
}

/// RTM_GETROUTE for `addr/128` with RTM_F_FIB_MATCH | RTM_F_LOOKUP_TABLE: the answer is
/// the FIB entry a packet to `addr` would use (or an error), not a synthesised host route.
/// No ACK is asked for: the reply itself (RTM_NEWROUTE or NLMSG_ERROR) ends the exchange.
pub fn get_route(seq: u32, addr: &Ipv6Addr) -> Vec<u8> {
    let mut b = Builder::new(RTM_GETROUTE, NLM_F_REQUEST, seq);
    RtMsg {
        family: AF_INET6,
        dst_len: 128,
        flags: RTM_F_FIB_MATCH | RTM_F_LOOKUP_TABLE,
        ..RtMsg::default()
    }
    .emit(&mut b.buf);
    b.attr(RTA_DST, &addr.octets()).finish()
}

/// A dump request (`kind` is one of the RTM_GET* types) for one family, with the full
/// family header so that strict-checking kernels accept it too.
pub fn dump(seq: u32, kind: u16, family: u8) -> Vec<u8> {
    let mut b = Builder::new(kind, NLM_F_REQUEST | NLM_F_DUMP, seq);
    match kind {
        RTM_GETLINK => IfInfoMsg {
            family,
            ..IfInfoMsg::default()
        }
        .emit(&mut b.buf),
        RTM_GETADDR => IfAddrMsg {
            family,
            ..IfAddrMsg::default()
        }
        .emit(&mut b.buf),
        RTM_GETROUTE => RtMsg {
            family,
            ..RtMsg::default()
        }
        .emit(&mut b.buf),
        _ => NdMsg {
            family,
            ..NdMsg::default()
        }
        .emit(&mut b.buf),
    }
    b.finish()
}

/// RTM_NEWLINK with ACK that sets IFF_UP on `ifindex` and changes nothing else.
pub fn set_link_up(seq: u32, ifindex: u32) -> Vec<u8> {
    let mut b = Builder::new(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq);
    IfInfoMsg {
        family: AF_UNSPEC,
        kind: 0,
        index: ifindex as i32,
        flags: IFF_UP,
        change: IFF_UP,
    }
    .emit(&mut b.buf);
    b.finish()
}

/// CTRL_CMD_GETFAMILY for the generic netlink family called `name`. No ACK: the reply is
/// CTRL_CMD_NEWFAMILY or an error (ENOENT when the family does not exist).
pub fn get_family(seq: u32, name: &str) -> Vec<u8> {
    let mut b = Builder::new(GENL_ID_CTRL, NLM_F_REQUEST, seq);
    GenlMsgHdr {
        cmd: CTRL_CMD_GETFAMILY,
        version: 1,
    }
    .emit(&mut b.buf);
    let mut value = name.as_bytes().to_vec();
    value.push(0);
    b.attr(CTRL_ATTR_FAMILY_NAME, &value).finish()
}

/// A message of `kind` with a fixed header and attributes, in host byte order, as the kernel
/// would send it: for the tests of the modules that decode netlink.
#[cfg(test)]
pub(crate) fn test_message(kind: u16, seq: u32, fixed: &[u8], attrs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut body = fixed.to_vec();
    for (t, v) in attrs {
        body.extend(((4 + v.len()) as u16).to_ne_bytes());
        body.extend(t.to_ne_bytes());
        body.extend(*v);
        body.resize(align(body.len()), 0);
    }
    let mut bytes = ((16 + body.len()) as u32).to_ne_bytes().to_vec();
    bytes.extend(kind.to_ne_bytes());
    bytes.extend(0u16.to_ne_bytes());
    bytes.extend(seq.to_ne_bytes());
    bytes.extend(0u32.to_ne_bytes());
    bytes.extend(body);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(bytes: &[u8]) -> Message<'_> {
        let mut all = messages(bytes);
        let msg = all.next().expect("a message").expect("well-formed");
        assert!(all.next().is_none());
        msg
    }

    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn host_route_v6_golden_bytes() {
        let route = RouteSpec {
            dst: "2001:db8::100".parse().unwrap(),
            dst_len: 128,
            table: 254,
            protocol: 158,
            oif: 5,
            metric: None,
        };
        let expected = hex("40000000 1800 0505 07000000 00000000
             0a 80 00 00 fe 9e 00 01 00000000
             0800 0f00 fe000000
             1400 0100 20010db8000000000000000000000100
             0800 0400 05000000");
        assert_eq!(new_route(7, &route), expected);
        let del = del_route(8, &route);
        assert_eq!(&del[4..8], &hex("1900 0500"));
        // The same route, any scope (byte 6 of the rtmsg).
        assert_eq!(del[16 + 6], RT_SCOPE_NOWHERE);
        assert_eq!(&del[16..22], &expected[16..22]);
        assert_eq!(&del[23..], &expected[23..]);
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn host_route_v4_in_a_large_table_golden_bytes() {
        let route = RouteSpec {
            dst: "10.0.0.100".parse().unwrap(),
            dst_len: 32,
            table: 1000,
            protocol: 158,
            oif: 3,
            metric: None,
        };
        let expected = hex("34000000 1800 0505 01000000 00000000
             02 20 00 00 00 9e 00 01 00000000
             0800 0f00 e8030000
             0800 0100 0a000064
             0800 0400 03000000");
        assert_eq!(new_route(1, &route), expected);
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn neighbour_and_address_golden_bytes() {
        let addr: IpAddr = "fe80::1".parse().unwrap();
        let mac = [0x02, 0, 0, 0, 0, 0x01];
        assert_eq!(
            new_neighbour(2, 4, &addr, mac, NUD_REACHABLE),
            hex("3c000000 1c00 0505 02000000 00000000
                 0a 00 0000 04000000 0200 00 00
                 1400 0100 fe800000000000000000000000000001
                 0a00 0200 020000000001 0000")
        );
        assert_eq!(
            del_neighbour(3, 4, &addr),
            hex("30000000 1d00 0500 03000000 00000000
                 0a 00 0000 04000000 0000 00 00
                 1400 0100 fe800000000000000000000000000001")
        );
        let ncip: Ipv6Addr = "fec0::211:22ff:fe33:4455".parse().unwrap();
        assert_eq!(
            new_address(9, 1, &ncip, 128),
            hex("2c000000 1400 0506 09000000 00000000
                 0a 80 00 00 01000000
                 1400 0200 fec00000000000000211 22fffe334455")
        );
        assert_eq!(
            get_route(4, &ncip),
            hex("30000000 1a00 0100 04000000 00000000
                 0a 80 00 00 00 00 00 00 00300000
                 1400 0100 fec00000000000000211 22fffe334455")
        );
        assert_eq!(
            dump(5, RTM_GETNEIGH, AF_BRIDGE),
            hex("1c000000 1e00 0103 05000000 00000000 07 00 0000 00000000 0000 00 00")
        );
        assert_eq!(
            get_family(6, "nl80211"),
            hex("20000000 1000 0100 06000000 00000000 03 01 0000 0c00 0200 6e6c383032313100")
        );
    }

    #[test]
    fn every_message_of_a_datagram_is_read() {
        let mut datagram = new_route(
            1,
            &RouteSpec {
                dst: "10.0.0.1".parse().unwrap(),
                dst_len: 32,
                table: 254,
                protocol: 158,
                oif: 2,
                metric: None,
            },
        );
        datagram.extend(del_neighbour(2, 4, &"fe80::1".parse().unwrap()));
        datagram.extend(set_link_up(3, 1));
        let seqs: Vec<u32> = messages(&datagram)
            .map(|m| m.expect("well-formed").header.seq)
            .collect();
        assert_eq!(seqs, [1, 2, 3]);
    }

    #[test]
    fn a_bad_length_stops_the_walk_after_the_good_messages() {
        let mut datagram = set_link_up(1, 1);
        let mut bad = set_link_up(2, 1);
        bad[0] = 200;
        datagram.extend(bad);
        datagram.extend(set_link_up(3, 1));
        let items: Vec<_> = messages(&datagram).collect();
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        assert!(items[1].is_err());
        let mut short = set_link_up(1, 1);
        short[0] = 15;
        assert_eq!(messages(&short).count(), 1);
        assert!(messages(&[1, 2, 3]).next().unwrap().is_err());
    }

    #[test]
    fn attribute_lengths_are_checked() {
        // Lengths 0 and 3 are below the header; 9 runs past the end.
        for bad in [[0u8, 0, 1, 0], [3, 0, 1, 0]] {
            let items: Vec<_> = attrs(&bad).collect();
            assert_eq!(items.len(), 1);
            assert!(items[0].is_err());
        }
        let past = [8u8, 0, 1, 0, 0xaa, 0xbb, 0xcc, 0xdd, 9, 0, 2, 0, 1, 2, 3, 4];
        let items: Vec<_> = attrs(&past).collect();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].unwrap().value, [0xaa, 0xbb, 0xcc, 0xdd]);
        assert!(items[1].is_err());
        // Padding: a 5-byte attribute is followed by the next one at offset 8.
        let padded = [5u8, 0, 1, 0, 7, 0, 0, 0, 4, 0, 0x02, 0x80];
        let items: Vec<Attr> = attrs(&padded).map(Result::unwrap).collect();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].value, [7]);
        // The nested flag is not part of the type.
        assert_eq!(items[1].kind, 2);
    }

    #[test]
    fn route_request_decodes_to_what_was_encoded() {
        let spec = RouteSpec {
            dst: "2001:db8::".parse().unwrap(),
            dst_len: 64,
            table: 1000,
            protocol: 158,
            oif: 9,
            metric: None,
        };
        let bytes = new_route(1, &spec);
        let route = parse_route(&one(&bytes)).unwrap();
        assert!(!route.deleted);
        assert_eq!(route.dst, Some(spec.dst));
        assert_eq!(route.header.dst_len, 64);
        assert_eq!(route.table, 1000);
        assert_eq!(route.header.table, RT_TABLE_UNSPEC);
        assert_eq!(route.header.protocol, 158);
        assert_eq!(route.oif, Some(9));
        assert_eq!(route.priority, None);
        let bytes = del_route(1, &spec);
        assert!(parse_route(&one(&bytes)).unwrap().deleted);
    }

    #[test]
    fn ack_error_and_extended_ack() {
        // An ACK: code 0 and the capped request header.
        let mut ack = Vec::new();
        Header {
            len: 36,
            kind: NLMSG_ERROR,
            flags: NLM_F_CAPPED,
            seq: 42,
            port: 0,
        }
        .emit(&mut ack);
        ack.extend(0i32.to_ne_bytes());
        ack.extend(&set_link_up(42, 1)[..16]);
        let msg = one(&ack);
        assert_eq!(msg.header.seq, 42);
        assert_eq!(
            parse_status(&msg).unwrap(),
            Status {
                errno: 0,
                message: None
            }
        );

        // An error with the whole request echoed and an extended-ack message.
        let request = del_neighbour(43, 4, &"fe80::1".parse().unwrap());
        let text = b"no such entry\0";
        let mut err = Vec::new();
        let len = HEADER_LEN + 4 + request.len() + align(4 + text.len());
        Header {
            len: len as u32,
            kind: NLMSG_ERROR,
            flags: NLM_F_ACK_TLVS,
            seq: 43,
            port: 0,
        }
        .emit(&mut err);
        err.extend((-2i32).to_ne_bytes());
        err.extend(&request);
        err.extend(((4 + text.len()) as u16).to_ne_bytes());
        err.extend(NLMSGERR_ATTR_MSG.to_ne_bytes());
        err.extend(text);
        err.resize(len, 0);
        let status = parse_status(&one(&err)).unwrap();
        assert_eq!(status.errno, 2);
        assert_eq!(status.message.as_deref(), Some("no such entry"));
    }

    #[test]
    fn done_with_and_without_code() {
        let mut done = Vec::new();
        Header {
            len: 20,
            kind: NLMSG_DONE,
            flags: NLM_F_MULTI,
            seq: 5,
            port: 0,
        }
        .emit(&mut done);
        done.extend(0i32.to_ne_bytes());
        assert_eq!(parse_status(&one(&done)).unwrap().errno, 0);
        let mut empty = done[..16].to_vec();
        empty[0] = 16;
        assert_eq!(parse_status(&one(&empty)).unwrap().errno, 0);
        done[16..20].copy_from_slice(&(-22i32).to_ne_bytes());
        assert_eq!(parse_status(&one(&done)).unwrap().errno, 22);
        done[16..20].copy_from_slice(&i32::MIN.to_ne_bytes());
        assert!(parse_status(&one(&done)).is_err());
    }

    #[test]
    fn link_message() {
        let mut b = Builder::new(RTM_NEWLINK, 0, 0);
        IfInfoMsg {
            family: AF_UNSPEC,
            kind: 1,
            index: 3,
            flags: IFF_UP | 0x1000,
            change: 0,
        }
        .emit(&mut b.buf);
        let bytes = b
            .attr(IFLA_IFNAME, b"br-client\0")
            .attr(IFLA_ADDRESS, &[2, 0, 0, 0, 0, 9])
            .attr_u32(IFLA_MASTER, 7)
            .attr(999, &[1, 2, 3])
            .finish();
        let link = parse_link(&one(&bytes)).unwrap();
        assert_eq!(link.header.index, 3);
        assert_eq!(link.name.as_deref(), Some("br-client"));
        assert_eq!(link.mac, Some([2, 0, 0, 0, 0, 9]));
        assert_eq!(link.master, Some(7));
    }

    #[test]
    fn family_reply() {
        let mut b = Builder::new(GENL_ID_CTRL, 0, 1);
        GenlMsgHdr {
            cmd: CTRL_CMD_NEWFAMILY,
            version: 2,
        }
        .emit(&mut b.buf);
        let group = |name: &[u8], id: u32| {
            Builder { buf: Vec::new() }
                .attr_u32(CTRL_ATTR_MCAST_GRP_ID, id)
                .attr(CTRL_ATTR_MCAST_GRP_NAME, name)
                .buf
        };
        let mut groups = Builder { buf: Vec::new() }
            .attr(1 | 0x8000, &group(b"config\0", 5))
            .buf;
        groups.extend(
            Builder { buf: Vec::new() }
                .attr(2 | 0x8000, &group(b"mlme\0", 7))
                .buf,
        );
        let bytes = b
            .attr(CTRL_ATTR_FAMILY_NAME, b"nl80211\0")
            .attr(CTRL_ATTR_FAMILY_ID, &[0x21, 0, 0, 0][..2])
            .attr(CTRL_ATTR_MCAST_GROUPS | 0x8000, &groups)
            .finish();
        let family = parse_family(&one(&bytes)).unwrap();
        assert_eq!(family.id, u16::from_ne_bytes([0x21, 0]));
        assert_eq!(family.name, "nl80211");
        assert_eq!(family.group("mlme"), Some(7));
        assert_eq!(family.group("scan"), None);
    }

    /// Linux 6.18's answer to an RTM_NEWADDR for an address already present, on a socket
    /// with NETLINK_CAP_ACK and NETLINK_EXT_ACK.
    #[test]
    #[cfg(target_endian = "little")]
    fn kernel_error_with_extended_ack() {
        let bytes = hex("48000000 0200 0003 09000000 436fe2b9 efffffff
             2c000000 1400 0506 09000000 00000000
             2300 0100 697076363a206164647265737320616c72656164792061737369676e6564 0000");
        let msg = one(&bytes);
        assert_eq!(msg.header.seq, 9);
        assert_eq!(msg.header.flags, NLM_F_CAPPED | NLM_F_ACK_TLVS);
        assert_eq!(
            parse_status(&msg).unwrap(),
            Status {
                errno: 17,
                message: Some("ipv6: address already assigned".into())
            }
        );
    }
}
