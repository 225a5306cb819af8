//! IP prefixes as the daemon uses them: client prefixes (IPv6 or IPv4), the node-client
//! prefix, the PLAT prefix, and the `-4` prefix that maps IPv4 addresses into 16 bytes.
//!
//! Internally every client address is 16 bytes: IPv4 addresses are carried as the first 12
//! bytes of the `-4` prefix followed by the 4 IPv4 bytes (default `::ffff:a.b.c.d`), exactly
//! as the C daemon does and as they travel in SEEK and INFO.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a prefix did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrefixError {
    MissingLength,
    BadAddress,
    BadLength,
}

impl fmt::Display for PrefixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PrefixError::MissingLength => "a prefix length (/len) is required",
            PrefixError::BadAddress => "not an IP address",
            PrefixError::BadLength => "prefix length out of range",
        })
    }
}

/// An IPv6 prefix with its host bits cleared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix6 {
    addr: Ipv6Addr,
    len: u8,
}

impl Prefix6 {
    /// Builds a prefix, clearing host bits. Lengths above 128 are clamped.
    pub fn new(addr: Ipv6Addr, len: u8) -> Prefix6 {
        let len = len.min(128);
        Prefix6 {
            addr: Ipv6Addr::from(u128::from(addr) & mask128(len)),
            len,
        }
    }

    pub fn addr(&self) -> Ipv6Addr {
        self.addr
    }

    // A prefix length, not a container size: there is nothing for `is_empty` to mean.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u8 {
        self.len
    }

    pub fn contains(&self, addr: &Ipv6Addr) -> bool {
        u128::from(*addr) & mask128(self.len) == u128::from(self.addr)
    }
}

impl fmt::Display for Prefix6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

fn mask128(len: u8) -> u128 {
    match len {
        0 => 0,
        l if l >= 128 => u128::MAX,
        l => u128::MAX << (128 - u32::from(l)),
    }
}

fn mask32(len: u8) -> u32 {
    match len {
        0 => 0,
        l if l >= 32 => u32::MAX,
        l => u32::MAX << (32 - u32::from(l)),
    }
}

/// A prefix as written on the command line or the control socket: IPv4 if the text has no
/// `:`, IPv6 otherwise. Host bits are cleared; `had_host_bits` tells the caller to warn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IpPrefix {
    V4 { addr: Ipv4Addr, len: u8 },
    V6(Prefix6),
}

/// The outcome of parsing `addr/len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedPrefix {
    pub prefix: IpPrefix,
    /// The address had bits set beyond the prefix length (the C daemon then never matched).
    pub had_host_bits: bool,
}

impl IpPrefix {
    pub fn parse(text: &str) -> Result<ParsedPrefix, PrefixError> {
        let (addr, len) = text.split_once('/').ok_or(PrefixError::MissingLength)?;
        let len_ok = !len.is_empty() && len.len() <= 3 && len.bytes().all(|b| b.is_ascii_digit());
        if !len_ok {
            return Err(PrefixError::BadLength);
        }
        let len: u8 = len.parse().map_err(|_| PrefixError::BadLength)?;
        if addr.contains(':') {
            let addr: Ipv6Addr = addr.parse().map_err(|_| PrefixError::BadAddress)?;
            if len > 128 {
                return Err(PrefixError::BadLength);
            }
            let prefix = Prefix6::new(addr, len);
            Ok(ParsedPrefix {
                had_host_bits: prefix.addr != addr,
                prefix: IpPrefix::V6(prefix),
            })
        } else {
            let addr: Ipv4Addr = addr.parse().map_err(|_| PrefixError::BadAddress)?;
            if len > 32 {
                return Err(PrefixError::BadLength);
            }
            let masked = Ipv4Addr::from(u32::from(addr) & mask32(len));
            Ok(ParsedPrefix {
                had_host_bits: masked != addr,
                prefix: IpPrefix::V4 { addr: masked, len },
            })
        }
    }

    // A prefix length, not a container size: there is nothing for `is_empty` to mean.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u8 {
        match self {
            IpPrefix::V4 { len, .. } => *len,
            IpPrefix::V6(p) => p.len(),
        }
    }

    pub fn addr(&self) -> IpAddr {
        match self {
            IpPrefix::V4 { addr, .. } => IpAddr::V4(*addr),
            IpPrefix::V6(p) => IpAddr::V6(p.addr()),
        }
    }

    pub fn is_ipv4(&self) -> bool {
        matches!(self, IpPrefix::V4 { .. })
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpPrefix::V4 { addr, len } => write!(f, "{addr}/{len}"),
            IpPrefix::V6(p) => p.fmt(f),
        }
    }
}

/// The `-4` prefix: how IPv4 addresses are represented in 16 bytes. Always a /96.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V4Mapping {
    prefix: Prefix6,
}

impl Default for V4Mapping {
    /// `::ffff:0:0/96`, the C daemon's default and the only value seen in deployed meshes.
    fn default() -> Self {
        V4Mapping {
            prefix: Prefix6::new(Ipv4Addr::UNSPECIFIED.to_ipv6_mapped(), 96),
        }
    }
}

impl V4Mapping {
    /// `None` unless `prefix` is a /96.
    pub fn new(prefix: Prefix6) -> Option<V4Mapping> {
        (prefix.len() == 96).then_some(V4Mapping { prefix })
    }

    pub fn prefix(&self) -> Prefix6 {
        self.prefix
    }

    pub fn map(&self, v4: Ipv4Addr) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.prefix.addr()) | u128::from(u32::from(v4)))
    }

    /// The IPv4 address an internal address stands for, if it lies in the mapping prefix.
    pub fn unmap(&self, addr: &Ipv6Addr) -> Option<Ipv4Addr> {
        self.prefix
            .contains(addr)
            .then(|| Ipv4Addr::from((u128::from(*addr) & 0xffff_ffff) as u32))
    }

    /// The internal 16-byte form of any address.
    pub fn to_internal(&self, addr: IpAddr) -> Ipv6Addr {
        match addr {
            IpAddr::V4(v4) => self.map(v4),
            IpAddr::V6(v6) => v6,
        }
    }

    /// The address as the kernel knows it: IPv4 for mapped addresses, IPv6 otherwise.
    pub fn to_kernel(&self, addr: &Ipv6Addr) -> IpAddr {
        match self.unmap(addr) {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(*addr),
        }
    }

    /// A client prefix in internal form: IPv4 prefixes grow by 96 bits.
    pub fn to_internal_prefix(&self, prefix: &IpPrefix) -> Prefix6 {
        match prefix {
            IpPrefix::V4 { addr, len } => Prefix6::new(self.map(*addr), len + 96),
            IpPrefix::V6(p) => *p,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_masks() {
        let p = IpPrefix::parse("2001:db8::1/64").unwrap();
        assert!(p.had_host_bits);
        assert_eq!(p.prefix.to_string(), "2001:db8::/64");
        let p = IpPrefix::parse("10.36.0.0/18").unwrap();
        assert!(!p.had_host_bits);
        assert!(p.prefix.is_ipv4());
        assert_eq!(IpPrefix::parse("10.0.0.1/33"), Err(PrefixError::BadLength));
        assert_eq!(IpPrefix::parse("::/129"), Err(PrefixError::BadLength));
        assert_eq!(
            IpPrefix::parse("2001:db8::"),
            Err(PrefixError::MissingLength)
        );
        assert_eq!(IpPrefix::parse("x/8"), Err(PrefixError::BadAddress));
        assert_eq!(IpPrefix::parse("::/+8"), Err(PrefixError::BadLength));
        assert_eq!(IpPrefix::parse("::/"), Err(PrefixError::BadLength));
    }

    #[test]
    fn maps_ipv4_into_the_minus_4_prefix() {
        let m = V4Mapping::default();
        let a = m.map(Ipv4Addr::new(198, 51, 100, 66));
        assert_eq!(a.to_string(), "::ffff:198.51.100.66");
        assert_eq!(m.unmap(&a), Some(Ipv4Addr::new(198, 51, 100, 66)));
        assert_eq!(m.unmap(&"2001:db8::1".parse().unwrap()), None);
        let p = IpPrefix::parse("198.51.100.0/24").unwrap().prefix;
        let internal = m.to_internal_prefix(&p);
        assert_eq!(internal.len(), 120);
        assert!(internal.contains(&a));
        let nat64 = V4Mapping::new(Prefix6::new("64:ff9b::".parse().unwrap(), 96)).unwrap();
        assert_eq!(
            nat64.map(Ipv4Addr::new(10, 0, 0, 1)).to_string(),
            "64:ff9b::a00:1"
        );
        assert!(V4Mapping::new(Prefix6::new("64:ff9b::".parse().unwrap(), 64)).is_none());
    }
}
