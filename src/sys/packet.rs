//! Packet sockets on the client interface (behaviour.md §4.1 rows 5 and 7): NS snooping with a
//! BPF filter, and ARP, both `SOCK_DGRAM` so the kernel strips and adds the Ethernet header.
//! A socket bound to one protocol sees only incoming frames, never the node's own.

use super::{Context, Error, check, recv_from, send_to, set_option, socket};
use crate::engine::{Input, Snooped};
use crate::wire::{MacAddr, arp, icmpv6};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_ARP: u16 = 0x0806;

/// Accepts IPv6 packets whose next header is ICMPv6 (58) and whose ICMPv6 type at the fixed
/// offset 40 is NS (135); everything else stays in the kernel.
const NS_FILTER: [libc::sock_filter; 6] = [
    bpf(0x30, 0, 0, 6),      // ldb [6]        next header
    bpf(0x15, 0, 3, 58),     // jeq #58 ? next : drop
    bpf(0x30, 0, 0, 40),     // ldb [40]       ICMPv6 type
    bpf(0x15, 0, 1, 135),    // jeq #135 ? accept : drop
    bpf(0x06, 0, 0, 0xffff), // accept
    bpf(0x06, 0, 0, 0),      // drop
];

const fn bpf(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

fn sockaddr_ll(ifindex: u32, ethertype: u16, dst: Option<MacAddr>) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain data for which all-zero bytes are a valid value.
    let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sa.sll_family = libc::AF_PACKET as u16;
    sa.sll_protocol = ethertype.to_be();
    sa.sll_ifindex = ifindex as i32;
    if let Some(mac) = dst {
        sa.sll_halen = 6;
        sa.sll_addr[..6].copy_from_slice(&mac.0);
    }
    sa
}

/// One packet socket bound to one ethertype on one interface.
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: u32,
    ethertype: u16,
}

/// A packet socket of type `ty` bound to `ethertype` on `ifindex`, `filter` attached first.
fn open_bound(
    ty: libc::c_int,
    ifindex: u32,
    ethertype: u16,
    filter: Option<&[libc::sock_filter]>,
) -> io::Result<OwnedFd> {
    // Protocol 0 until bind: the socket sees nothing before its filter is in place.
    let fd = socket(libc::AF_PACKET, ty, 0)?;
    if let Some(filter) = filter {
        let program = libc::sock_fprog {
            len: filter.len() as u16,
            filter: filter.as_ptr().cast_mut(),
        };
        set_option(
            fd.as_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            &program,
        )?;
    }
    let sa = sockaddr_ll(ifindex, ethertype, None);
    // SAFETY: `sa` is a valid sockaddr_ll and the length passed is its size.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })?;
    Ok(fd)
}

impl PacketSocket {
    fn open(
        ifindex: u32,
        ethertype: u16,
        filter: Option<&[libc::sock_filter]>,
    ) -> io::Result<Self> {
        let fd = open_bound(libc::SOCK_DGRAM, ifindex, ethertype, filter)?;
        Ok(PacketSocket {
            fd,
            ifindex,
            ethertype,
        })
    }

    /// NS snooping on `ifindex`.
    pub fn open_ns(ifindex: u32) -> Result<Self, Error> {
        Self::open(ifindex, ETH_P_IPV6, Some(&NS_FILTER))
            .context(|| format!("opening the NS snooping socket on ifindex {ifindex}"))
    }

    /// ARP on `ifindex`: learning from requests and replies, and sending requests.
    pub fn open_arp(ifindex: u32) -> Result<Self, Error> {
        Self::open(ifindex, ETH_P_ARP, None)
            .context(|| format!("opening the ARP socket on ifindex {ifindex}"))
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// One frame's payload and the link-layer source, or WouldBlock.
    fn recv<'b>(&self, buf: &'b mut [u8]) -> io::Result<(&'b [u8], MacAddr, u32)> {
        let mut sa = sockaddr_ll(0, 0, None);
        let n = recv_from(self.fd.as_fd(), buf, &mut sa)?;
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&sa.sll_addr[..6]);
        Ok((&buf[..n], MacAddr(mac), sa.sll_ifindex as u32))
    }

    /// Drains the socket into engine inputs; malformed frames are counted in `dropped`.
    pub fn read(&self, out: &mut Vec<Input>, dropped: &mut u64) -> io::Result<()> {
        let mut buf = [0u8; 1600];
        loop {
            let (bytes, src_mac, ifindex) = match self.recv(&mut buf) {
                Ok(frame) => frame,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if ifindex != self.ifindex {
                continue;
            }
            let frame = if self.ethertype == ETH_P_ARP {
                arp::Repr::parse(bytes).ok().map(|a| Snooped::Arp {
                    ifindex,
                    reply: a.operation == arp::Operation::Reply,
                    sender_mac: a.sender_mac,
                    sender_ip: a.sender_ip,
                })
            } else {
                icmpv6::parse_ns_packet(bytes)
                    .ok()
                    .map(|(ip, ns)| Snooped::Solicit {
                        ifindex,
                        src: ip.src,
                        src_mac,
                        target: ns.target,
                    })
            };
            match frame {
                Some(frame) => out.push(Input::Snooped(frame)),
                None => *dropped += 1,
            }
        }
    }

    /// Sends an ARP request (probe style) to `dst` or the broadcast address.
    pub fn send_arp(&self, request: &arp::Repr, dst: Option<MacAddr>) -> io::Result<()> {
        let bytes = request.to_bytes();
        let sa = sockaddr_ll(
            self.ifindex,
            ETH_P_ARP,
            Some(dst.unwrap_or(MacAddr::BROADCAST)),
        );
        send_to(self.fd.as_fd(), &bytes, &sa)
    }
}

impl AsFd for PacketSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Sends whole Ethernet frames, headers included, on one interface, and receives nothing
/// (bound to protocol 0). The daemon has no use for it: it lets tests and benchmarks play
/// clients, each with a MAC of its own, on a link the daemon listens to.
pub struct FrameSender {
    fd: OwnedFd,
    ifindex: u32,
}

impl FrameSender {
    pub fn open(ifindex: u32) -> Result<FrameSender, Error> {
        open_bound(libc::SOCK_RAW, ifindex, 0, None)
            .map(|fd| FrameSender { fd, ifindex })
            .context(|| format!("opening a raw packet socket on ifindex {ifindex}"))
    }

    /// Sends `frame` as it is: destination, source and ethertype are its first 14 bytes.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        let ethertype = match frame {
            [_, _, _, _, _, _, _, _, _, _, _, _, hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
            _ => return Err(io::Error::from(io::ErrorKind::InvalidInput)),
        };
        send_to(
            self.fd.as_fd(),
            frame,
            &sockaddr_ll(self.ifindex, ethertype, None),
        )
    }
}
