//! The send-only raw sockets that carry ICMP errors about packets that waited in the tun in
//! vain (behaviour.md §10.4). The kernel routes each error to its destination and picks the
//! source address; for ICMPv6 it also computes the checksum. Both sockets filter out every
//! incoming type, so nothing ever queues on them and they need no place in the poll (the C
//! daemon read and discarded everything arriving on its, with an inverted IPv4 filter).

use super::{Context, Error, send_to, set_option, sockaddr_in6, socket};
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, OwnedFd};

const ICMP6_FILTER: libc::c_int = 1;
/// `ICMP_FILTER` of `SOL_RAW` (linux/icmp.h): a set bit drops that type (types 0–31).
const ICMP_FILTER: libc::c_int = 1;

pub struct IcmpErrorSockets {
    v6: OwnedFd,
    v4: OwnedFd,
}

impl IcmpErrorSockets {
    pub fn open() -> Result<IcmpErrorSockets, Error> {
        Self::try_open().context(|| "opening the raw sockets for ICMP errors".into())
    }

    fn try_open() -> io::Result<IcmpErrorSockets> {
        let v6 = socket(libc::AF_INET6, libc::SOCK_RAW, libc::IPPROTO_ICMPV6)?;
        set_option(
            v6.as_fd(),
            libc::IPPROTO_ICMPV6,
            ICMP6_FILTER,
            &[u32::MAX; 8],
        )?;
        let v4 = socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP)?;
        set_option(v4.as_fd(), libc::SOL_RAW, ICMP_FILTER, &u32::MAX)?;
        Ok(IcmpErrorSockets { v6, v4 })
    }

    /// Sends one ICMP message (header and quote, no IP header) to `dst`.
    pub fn send(&self, dst: IpAddr, message: &[u8]) -> io::Result<()> {
        match dst {
            IpAddr::V6(addr) => send_to(self.v6.as_fd(), message, &sockaddr_in6(addr, 0, 0)),
            IpAddr::V4(addr) => {
                // SAFETY: sockaddr_in is plain data for which all-zero bytes are a valid value.
                let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
                sa.sin_family = libc::AF_INET as libc::sa_family_t;
                sa.sin_addr.s_addr = u32::from_ne_bytes(addr.octets());
                send_to(self.v4.as_fd(), message, &sa)
            }
        }
    }
}
