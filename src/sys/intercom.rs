//! Intercom sockets (intercom.md §1.2): one per mesh interface bound to `[ff02::5523%if]:5523`,
//! one bound to `[node IP]:5523` that also sends everything, and one bound to `[::]:5523` that
//! receives the CLAIMs to every node-client IP held. The C daemon opens a socket per
//! node-client IP instead; at a few thousand clients that exhausts the descriptor limit (1024
//! by default) and costs a socket's kernel memory per client, while the peers cannot tell the
//! difference. The kernel prefers an exactly bound socket, so the wildcard one sees only what
//! no other socket takes; its destination (IPV6_PKTINFO) is what the engine classifies by, and
//! a datagram to an address that is not a held node-client IP is dropped there.

use super::{Context, Error, check, recv_from, send_to, set_option, sockaddr_in6, socket};
use crate::engine::{Datagram, Input};
use crate::wire::intercom::{GROUP, PORT};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrIn6, recvmsg, setsockopt, sockopt};
use std::io;
use std::net::Ipv6Addr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// Version-0 packets are at most 292 bytes; anything beyond 1500 is malformed, so a buffer
/// of 2048 sees every such datagram whole (intercom.md §1.2).
const RECV_BUFFER: usize = 2048;
/// Not in the libc crate for glibc and musl; linux/in6.h.
const IPV6_MULTICAST_ALL: libc::c_int = 29;

pub struct IntercomSocket {
    fd: OwnedFd,
    local: Ipv6Addr,
    /// The interface of a mesh socket; 0 for unicast sockets.
    ifindex: u32,
}

impl IntercomSocket {
    fn bind(addr: Ipv6Addr, scope: u32) -> io::Result<OwnedFd> {
        let fd = socket(libc::AF_INET6, libc::SOCK_DGRAM, libc::IPPROTO_UDP)?;
        set_option(
            fd.as_fd(),
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            &1 as &libc::c_int,
        )?;
        set_option(
            fd.as_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            &1 as &libc::c_int,
        )?;
        let sa = sockaddr_in6(addr, PORT, scope);
        // SAFETY: `sa` is a valid sockaddr_in6 and its size is passed.
        check(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_in6).cast(),
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        })?;
        Ok(fd)
    }

    /// `[node IP]:5523`: receives INFO and ACK, sends everything.
    pub fn node(addr: Ipv6Addr) -> Result<IntercomSocket, Error> {
        let fd = Self::bind(addr, 0).context(|| {
            format!("binding [{addr}]:{PORT} (is the node IP configured on this node?)")
        })?;
        // Our own multicasts would come straight back; the engine drops them anyway.
        set_option(
            fd.as_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_MULTICAST_LOOP,
            &0 as &libc::c_int,
        )
        .context(|| "turning multicast loop off".into())?;
        Ok(IntercomSocket {
            fd,
            local: addr,
            ifindex: 0,
        })
    }

    /// `[::]:5523`: receives the CLAIMs to every node-client IP, whatever their number.
    pub fn node_clients() -> Result<IntercomSocket, Error> {
        let context = || format!("binding [::]:{PORT} for the node-client IPs");
        let fd = Self::bind(Ipv6Addr::UNSPECIFIED, 0).context(context)?;
        setsockopt(&fd, sockopt::Ipv6RecvPacketInfo, &true)
            .map_err(|errno| Error::new(context(), errno.into()))?;
        // A socket bound to the wildcard would otherwise get a copy of every multicast a mesh
        // socket joined: the engine would see each SEEK twice.
        set_option(
            fd.as_fd(),
            libc::IPPROTO_IPV6,
            IPV6_MULTICAST_ALL,
            &0 as &libc::c_int,
        )
        .context(context)?;
        Ok(IntercomSocket {
            fd,
            local: Ipv6Addr::UNSPECIFIED,
            ifindex: 0,
        })
    }

    /// `[ff02::5523%ifindex]:5523`, joined to the group on that interface.
    pub fn mesh(ifindex: u32) -> Result<IntercomSocket, Error> {
        let fd =
            Self::bind(GROUP, ifindex).context(|| format!("binding [{GROUP}%{ifindex}]:{PORT}"))?;
        let mreq = libc::ipv6_mreq {
            ipv6mr_multiaddr: libc::in6_addr {
                s6_addr: GROUP.octets(),
            },
            ipv6mr_interface: ifindex,
        };
        match set_option(
            fd.as_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_ADD_MEMBERSHIP,
            &mreq,
        ) {
            Ok(()) => {}
            // Already a member on this interface: as good as joining (intercom.md §1.2).
            Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => {}
            Err(e) => {
                return Err(Error::new(
                    format!("joining {GROUP} on ifindex {ifindex}"),
                    e,
                ));
            }
        }
        Ok(IntercomSocket {
            fd,
            local: GROUP,
            ifindex,
        })
    }

    pub fn local(&self) -> Ipv6Addr {
        self.local
    }

    /// Drains the socket into engine inputs.
    pub fn read(&self, out: &mut Vec<Input>) -> io::Result<()> {
        let mut buf = [0u8; RECV_BUFFER];
        let mut cmsg = nix::cmsg_space!(libc::in6_pktinfo);
        loop {
            let received = if self.local.is_unspecified() {
                self.receive_with_destination(&mut buf, &mut cmsg)
            } else {
                let mut sa = sockaddr_in6(Ipv6Addr::UNSPECIFIED, 0, 0);
                recv_from(self.fd.as_fd(), &mut buf, &mut sa).map(|n| {
                    let src = Ipv6Addr::from(sa.sin6_addr.s6_addr);
                    (n, src, sa.sin6_scope_id, Some(self.local))
                })
            };
            let (n, src, scope, dst) = match received {
                Ok(datagram) => datagram,
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock => return Ok(()),
                    io::ErrorKind::Interrupted => continue,
                    // An ICMP error for an earlier send: nothing to read, nothing broken.
                    io::ErrorKind::ConnectionRefused => continue,
                    _ => return Err(e),
                },
            };
            let Some(dst) = dst else {
                continue;
            };
            let ifindex = if self.ifindex != 0 {
                self.ifindex
            } else {
                scope
            };
            out.push(Input::Intercom(Datagram {
                src,
                dst,
                ifindex,
                bytes: buf[..n].to_vec(),
            }));
        }
    }

    /// One datagram of the wildcard socket: its length, sender, sender's scope and the
    /// destination address it was sent to.
    fn receive_with_destination(
        &self,
        buf: &mut [u8],
        cmsg: &mut [u8],
    ) -> io::Result<(usize, Ipv6Addr, u32, Option<Ipv6Addr>)> {
        let mut iov = [io::IoSliceMut::new(buf)];
        let msg =
            recvmsg::<SockaddrIn6>(self.fd.as_raw_fd(), &mut iov, Some(cmsg), MsgFlags::empty())?;
        // Without its destination a datagram cannot be classified; multicast is the mesh
        // sockets' to read. Truncated control data (never expected: only PKTINFO is asked
        // for) drops this datagram, not the rest of the queue: the socket is edge-triggered.
        let dst = msg
            .cmsgs()
            .ok()
            .into_iter()
            .flatten()
            .find_map(|c| match c {
                ControlMessageOwned::Ipv6PacketInfo(info) => {
                    Some(Ipv6Addr::from(info.ipi6_addr.s6_addr))
                }
                _ => None,
            })
            .filter(|dst| !dst.is_multicast());
        let (src, scope) = msg
            .address
            .map_or((Ipv6Addr::UNSPECIFIED, 0), |sa| (sa.ip(), sa.scope_id()));
        Ok((msg.bytes, src, scope, dst))
    }

    /// Sends one datagram to port 5523 of `dst`; `scope` picks the interface for ff02::5523.
    pub fn send(&self, bytes: &[u8], dst: Ipv6Addr, scope: u32) -> io::Result<()> {
        send_to(self.fd.as_fd(), bytes, &sockaddr_in6(dst, PORT, scope))
    }
}

impl AsFd for IntercomSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
