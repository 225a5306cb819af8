//! Intercom sockets (intercom.md §1.2), the C daemon's layout: one per mesh interface bound to
//! `[ff02::5523%if]:5523`, one bound to `[node IP]:5523` that also sends everything, and one
//! per node-client IP held, bound with IP_FREEBIND so it works before the address is fully
//! configured. Each socket knows its own address, which is the datagram's destination the
//! engine classifies by.

use super::{Context, Error, check, recv_from, send_to, set_option, sockaddr_in6, socket};
use crate::engine::{Datagram, Input};
use crate::wire::intercom::{GROUP, PORT};
use std::io;
use std::net::Ipv6Addr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// Version-0 packets are at most 292 bytes; anything beyond 1500 is malformed, so a buffer
/// of 2048 sees every such datagram whole (intercom.md §1.2).
const RECV_BUFFER: usize = 2048;
const IPV6_FREEBIND: libc::c_int = 78;

pub struct IntercomSocket {
    fd: OwnedFd,
    local: Ipv6Addr,
    /// The interface of a mesh socket; 0 for unicast sockets.
    ifindex: u32,
}

impl IntercomSocket {
    fn bind(addr: Ipv6Addr, scope: u32, freebind: bool) -> io::Result<OwnedFd> {
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
        if freebind {
            set_option(
                fd.as_fd(),
                libc::IPPROTO_IPV6,
                IPV6_FREEBIND,
                &1 as &libc::c_int,
            )
            .or_else(|_| {
                set_option(
                    fd.as_fd(),
                    libc::SOL_IP,
                    libc::IP_FREEBIND,
                    &1 as &libc::c_int,
                )
            })?;
        }
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
        let fd = Self::bind(addr, 0, false).context(|| {
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

    /// `[node-client IP]:5523`: receives CLAIMs for one client.
    pub fn node_client(addr: Ipv6Addr) -> Result<IntercomSocket, Error> {
        let fd = Self::bind(addr, 0, true).context(|| format!("binding [{addr}]:{PORT}"))?;
        Ok(IntercomSocket {
            fd,
            local: addr,
            ifindex: 0,
        })
    }

    /// `[ff02::5523%ifindex]:5523`, joined to the group on that interface.
    pub fn mesh(ifindex: u32) -> Result<IntercomSocket, Error> {
        let fd = Self::bind(GROUP, ifindex, false)
            .context(|| format!("binding [{GROUP}%{ifindex}]:{PORT}"))?;
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
        loop {
            let mut sa = sockaddr_in6(Ipv6Addr::UNSPECIFIED, 0, 0);
            let n = match recv_from(self.fd.as_fd(), &mut buf, &mut sa) {
                Ok(n) => n,
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock => return Ok(()),
                    io::ErrorKind::Interrupted => continue,
                    // An ICMP error for an earlier send: nothing to read, nothing broken.
                    io::ErrorKind::ConnectionRefused => continue,
                    _ => return Err(e),
                },
            };
            let ifindex = if self.ifindex != 0 {
                self.ifindex
            } else {
                sa.sin6_scope_id
            };
            out.push(Input::Intercom(Datagram {
                src: Ipv6Addr::from(sa.sin6_addr.s6_addr),
                dst: self.local,
                ifindex,
                bytes: buf[..n].to_vec(),
            }));
        }
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
