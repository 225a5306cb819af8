//! Ethernet MAC addresses and the addresses derived from them.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

/// A 48-bit MAC address. Printed lowercase and colon-separated, always the same way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacAddr(pub [u8; 6]);

/// Why a MAC did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadMac;

impl fmt::Display for BadMac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected six two-digit hex groups separated by ':'")
    }
}

impl MacAddr {
    pub const ZERO: MacAddr = MacAddr([0; 6]);
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }

    /// Group bit set: multicast or broadcast, never a client.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    /// The 64-bit modified EUI-64 interface identifier (RFC 4291 appendix A).
    pub fn eui64(&self) -> [u8; 8] {
        let m = self.0;
        [m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]]
    }

    /// The client's node-client IP: the first 64 bits of `prefix` (the `-P` prefix, whose
    /// length the C daemon ignores) followed by the modified EUI-64 of the MAC.
    pub fn node_client_ip(&self, prefix: &Ipv6Addr) -> Ipv6Addr {
        let mut bytes = prefix.octets();
        bytes[8..].copy_from_slice(&self.eui64());
        Ipv6Addr::from(bytes)
    }

    /// The EUI-64 link-local address `fe80::/64` + modified EUI-64, which most clients use.
    pub fn eui64_link_local(&self) -> Ipv6Addr {
        self.node_client_ip(&Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl FromStr for MacAddr {
    type Err = BadMac;

    /// Exactly six groups of two hex digits, either case, separated by `:`.
    fn from_str(text: &str) -> Result<MacAddr, BadMac> {
        let mut out = [0u8; 6];
        let mut groups = text.split(':');
        for byte in out.iter_mut() {
            let group = groups.next().ok_or(BadMac)?;
            if group.len() != 2 || !group.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(BadMac);
            }
            *byte = u8::from_str_radix(group, 16).map_err(|_| BadMac)?;
        }
        if groups.next().is_some() {
            return Err(BadMac);
        }
        Ok(MacAddr(out))
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(bytes: [u8; 6]) -> Self {
        MacAddr(bytes)
    }
}

impl crate::slot_map::SlotKey for MacAddr {
    const WIDTH: usize = 6;
    fn write(&self, out: &mut [u8]) {
        self.0.write(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ncip(mac: &str, prefix: &str) -> String {
        let mac: MacAddr = mac.parse().unwrap();
        mac.node_client_ip(&prefix.parse().unwrap()).to_string()
    }

    #[test]
    fn node_client_ip_matches_the_spec_examples() {
        assert_eq!(
            ncip("00:11:22:33:44:55", "fec0::"),
            "fec0::211:22ff:fe33:4455"
        );
        assert_eq!(
            ncip("02:00:00:00:01:00", "2001:db8:fc::"),
            "2001:db8:fc::ff:fe00:100"
        );
        assert_eq!(
            ncip("a4:2b:b0:11:22:33", "fd12:3456:789a:bcde::"),
            "fd12:3456:789a:bcde:a62b:b0ff:fe11:2233"
        );
        // The vectors' client: 02:11:22:33:44:55 -> fec0::11:22ff:fe33:4455.
        assert_eq!(
            ncip("02:11:22:33:44:55", "fec0::"),
            "fec0::11:22ff:fe33:4455"
        );
    }

    #[test]
    fn only_the_first_64_bits_of_the_prefix_count() {
        assert_eq!(
            ncip("00:11:22:33:44:55", "fec0::1:2:3:4"),
            "fec0::211:22ff:fe33:4455"
        );
    }

    #[test]
    fn parses_and_prints() {
        let mac: MacAddr = "0A:bB:cc:dd:ee:FF".parse().unwrap();
        assert_eq!(mac.to_string(), "0a:bb:cc:dd:ee:ff");
        for bad in [
            "",
            "00:11:22:33:44",
            "00:11:22:33:44:55:66",
            "0:11:22:33:44:55",
            "00-11-22-33-44-55",
            "00:11:22:33:44:5g",
            "+0:11:22:33:44:55",
        ] {
            assert_eq!(bad.parse::<MacAddr>(), Err(BadMac), "{bad}");
        }
        assert_eq!(
            "02:11:22:33:44:55"
                .parse::<MacAddr>()
                .unwrap()
                .eui64_link_local()
                .to_string(),
            "fe80::11:22ff:fe33:4455"
        );
    }
}
