//! The raw ICMPv6 socket on the client interface (behaviour.md §4.1 row 6, §12.1): it sends
//! the daemon's Neighbour Solicitations (the kernel fills in source address and checksum) and
//! receives Neighbour Advertisements, and nothing else, through an ICMPv6 type filter.

use super::{Context, Error, check, recv_from, send_to, set_option, sockaddr_in6, socket};
use crate::engine::{Input, Snooped};
use crate::wire::MacAddr;
use crate::wire::icmpv6::{Ndp, NeighborSolicit};
use std::io;
use std::net::Ipv6Addr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

const ICMP6_FILTER: libc::c_int = 1;
const TYPE_NEIGHBOR_ADVERT: u32 = 136;
/// RFC 4861: ND messages must carry hop limit 255, which proves they were not routed.
const ND_HOP_LIMIT: libc::c_int = 255;

pub struct NdpSocket {
    fd: OwnedFd,
    ifindex: u32,
}

impl NdpSocket {
    pub fn open(ifname: &str, ifindex: u32) -> Result<NdpSocket, Error> {
        Self::try_open(ifname, ifindex).context(|| format!("opening the ICMPv6 socket on {ifname}"))
    }

    fn try_open(ifname: &str, ifindex: u32) -> io::Result<NdpSocket> {
        let fd = socket(libc::AF_INET6, libc::SOCK_RAW, libc::IPPROTO_ICMPV6)?;
        // Block every type but NA (the filter's set bits block).
        let mut filter = [u32::MAX; 8];
        filter[(TYPE_NEIGHBOR_ADVERT >> 5) as usize] &= !(1 << (TYPE_NEIGHBOR_ADVERT & 31));
        set_option(fd.as_fd(), libc::IPPROTO_ICMPV6, ICMP6_FILTER, &filter)?;
        let name = ifname.as_bytes();
        // SAFETY: `name` is live for the call and its exact length is passed.
        check(unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_BINDTODEVICE,
                name.as_ptr().cast(),
                name.len() as libc::socklen_t,
            )
        })?;
        let v6 = libc::IPPROTO_IPV6;
        set_option(fd.as_fd(), v6, libc::IPV6_UNICAST_HOPS, &ND_HOP_LIMIT)?;
        set_option(fd.as_fd(), v6, libc::IPV6_MULTICAST_HOPS, &ND_HOP_LIMIT)?;
        set_option(
            fd.as_fd(),
            v6,
            libc::IPV6_MULTICAST_LOOP,
            &1 as &libc::c_int,
        )?;
        set_option(
            fd.as_fd(),
            v6,
            libc::IPV6_MULTICAST_IF,
            &(ifindex as libc::c_int),
        )?;
        Ok(NdpSocket { fd, ifindex })
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Sends an NS for `target` to `dst`, with our MAC in a Source Link-Layer Address option.
    pub fn send_solicit(
        &self,
        target: Ipv6Addr,
        dst: Ipv6Addr,
        source: Option<MacAddr>,
    ) -> io::Result<()> {
        let bytes = Ndp::from(NeighborSolicit {
            target,
            source_ll: source,
        })
        .to_bytes();
        send_to(self.fd.as_fd(), &bytes, &sockaddr_in6(dst, 0, self.ifindex))
    }

    /// Drains received NAs into engine inputs; NAs without a Target Link-Layer Address option
    /// teach nothing (the C daemon learned them with a previous packet's MAC).
    pub fn read(&self, out: &mut Vec<Input>, dropped: &mut u64) -> io::Result<()> {
        let mut buf = [0u8; 1500];
        loop {
            let mut from = sockaddr_in6(Ipv6Addr::UNSPECIFIED, 0, 0);
            let n = match recv_from(self.fd.as_fd(), &mut buf, &mut from) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            };
            match Ndp::parse(&buf[..n]) {
                Ok(Ndp::Advert(na)) if na.target_ll.is_some() => {
                    if let Some(mac) = na.target_ll {
                        out.push(Input::Snooped(Snooped::Advert {
                            ifindex: self.ifindex,
                            target: na.target,
                            mac,
                        }));
                    }
                }
                _ => *dropped += 1,
            }
        }
    }
}

impl AsFd for NdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
