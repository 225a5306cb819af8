//! The engine under a sequence of inputs: raw tun packets and intercom datagrams from
//! hostile neighbours, mixed with well-formed traffic, kernel events, control commands,
//! kernel answers and the passing of time. The engine must never panic or spin, and every
//! intercom datagram it sends must be one a C peer accepts (checked in `Node::drain`).
//!
//! Each step is one operation byte and its arguments; byte strings carry a two-byte length.
//! An input of odd length runs the node with the authenticated intercom (`--key-file`), and
//! its well-formed datagrams come signed, with a timestamp up to 32 s either side of the
//! node's clock.
#![no_main]

use std::net::{IpAddr, Ipv6Addr};

use l3roamd::engine::control::parse_command;
use l3roamd::engine::{
    Datagram, Errno, Input, KernelOp, LookupAnswer, NeighState, Neighbour, RouteEvent, RouteKind,
    Snooped,
};
use l3roamd::wire::auth;
use l3roamd::wire::intercom::{Header, Info, Message, Repr};
use l3roamd::wire::{ipv4, ipv6};
use l3roamd_fuzz::*;
use libfuzzer_sys::fuzz_target;

/// No input gets more steps: enough to build up any state, and every run stays short.
const MAX_STEPS: usize = 64;

fn datagram(r: &mut Reader<'_>, bytes: Vec<u8>) -> Input {
    let sel = r.u8();
    Input::Intercom(Datagram {
        src: node(sel),
        dst: if sel & 0x10 != 0 {
            "ff02::5523".parse().unwrap()
        } else {
            me()
        },
        ifindex: ifindex(sel >> 2),
        bytes,
    })
}

/// A well-formed intercom packet about the small sets of clients and nodes.
fn intercom(r: &mut Reader<'_>) -> Vec<u8> {
    let kind = r.u8();
    let header = Header {
        ttl: r.u8() % 4,
        nonce: [0, 0, 0, r.u8() % 4],
        sender: node(r.u8()),
    };
    let addresses = |r: &mut Reader<'_>| -> Vec<Ipv6Addr> {
        let n = r.u8() % 4;
        (0..n)
            .map(|_| match client_addr(r.u8()) {
                IpAddr::V6(v6) => v6,
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            })
            .collect()
    };
    let message = match kind % 4 {
        0 => Message::Seek {
            addresses: addresses(r),
        },
        1 => Message::Claim { mac: mac(r.u8()) },
        2 => Message::Info(Info {
            mac: mac(r.u8()),
            lease: r.u16(),
            plat: Ipv6Addr::UNSPECIFIED,
            addresses: addresses(r),
        }),
        _ => Message::Ack { mac: mac(r.u8()) },
    };
    Repr { header, message }.to_bytes()
}

/// A packet to a client address, with the rest of the header and the payload from the input.
fn tun_packet_to_client(r: &mut Reader<'_>) -> Vec<u8> {
    let sel = r.u8();
    let next_header = r.u8();
    let src = r.array::<16>();
    let payload = r.chunk();
    let mut packet = match client_addr(sel) {
        IpAddr::V6(dst) => ipv6::Repr {
            traffic_class: 0,
            flow_label: 0,
            payload_len: u16::try_from(payload.len()).unwrap_or(u16::MAX),
            next_header,
            hop_limit: 64,
            src: Ipv6Addr::from(src),
            dst,
        }
        .to_bytes(),
        IpAddr::V4(dst) => ipv4::Repr {
            dscp_ecn: 0,
            total_len: u16::try_from(20 + payload.len()).unwrap_or(u16::MAX),
            ident: 0,
            flags_fragment: 0,
            ttl: 64,
            protocol: next_header,
            src: [src[0], src[1], src[2], src[3]].into(),
            dst,
            options: Vec::new(),
        }
        .to_bytes(),
    };
    packet.extend_from_slice(payload);
    packet
}

fn step(node: &mut Node, r: &mut Reader<'_>, conn: &mut u64) {
    match r.u8() % 14 {
        0 => {
            let packet = r.chunk().to_vec();
            node.input(Input::TunPacket(packet));
        }
        1 => {
            let packet = tun_packet_to_client(r);
            node.input(Input::TunPacket(packet));
        }
        2 => {
            let bytes = r.chunk().to_vec();
            let input = datagram(r, bytes);
            node.input(input);
        }
        3 => {
            let mut bytes = intercom(r);
            if node.keyed {
                let offset = i64::from(r.u8()) * 250 - 32_000;
                let stamp = node.now.saturating_add_signed(offset);
                bytes = auth::sign(&bytes, &fuzz_key(), stamp).expect("a small datagram");
            }
            let input = datagram(r, bytes);
            node.input(input);
        }
        4 => node.advance(u64::from(r.u16()) * 10),
        5 => {
            let (sel, addr, flags) = (r.u8(), r.u8(), r.u8());
            let state = [
                NeighState::Reachable,
                NeighState::Stale,
                NeighState::Failed,
                NeighState::Probe,
                NeighState::Incomplete,
                NeighState::Permanent,
            ][usize::from(flags % 6)];
            node.input(Input::Neighbour(Neighbour {
                ifindex: ifindex(sel),
                addr: client_addr(addr),
                mac: (flags & 0x40 == 0).then(|| mac(sel >> 3)),
                state,
                deleted: flags & 0x80 != 0,
            }));
        }
        6 => {
            let (sel, addr) = (r.u8(), r.u8());
            let frame = match sel % 3 {
                0 => Snooped::Solicit {
                    ifindex: CLIENT_IF,
                    src: if sel & 0x80 != 0 {
                        Ipv6Addr::UNSPECIFIED
                    } else {
                        client_v6(addr)
                    },
                    src_mac: mac(sel >> 2),
                    target: client_v6(addr >> 3),
                },
                1 => Snooped::Advert {
                    ifindex: CLIENT_IF,
                    target: client_v6(addr),
                    mac: mac(sel >> 2),
                },
                _ => Snooped::Arp {
                    ifindex: CLIENT_IF,
                    reply: sel & 0x80 != 0,
                    sender_mac: mac(sel >> 2),
                    sender_ip: client_v4(addr),
                },
            };
            node.input(Input::Snooped(frame));
        }
        7 => {
            let line = r.chunk();
            *conn += 1;
            let input = match parse_command(line) {
                Ok(command) => Input::Control {
                    conn: *conn,
                    command,
                },
                Err(error) => Input::ControlRejected { conn: *conn, error },
            };
            node.input(input);
        }
        8 => {
            // Answers the oldest outstanding kernel operations, in order, as the kernel does.
            let (n, errno) = (r.u8() % 8, r.u8());
            if errno == 0xff {
                // Notifications lost before these answers: the system layer re-reads.
                node.input(Input::NetlinkOverrun);
            }
            for op in node
                .pending
                .drain(..usize::from(n).min(node.pending.len()))
                .collect::<Vec<_>>()
            {
                let input = match op {
                    KernelOp::LookupRoute { token, addr } => Input::RouteLookup {
                        token,
                        addr,
                        answer: [
                            LookupAnswer::NoRoute,
                            LookupAnswer::Route,
                            LookupAnswer::Local,
                        ][usize::from(errno % 3)],
                    },
                    KernelOp::Dump => {
                        node.input(Input::DumpStarted);
                        Input::DumpDone
                    }
                    op => Input::KernelResult {
                        op,
                        result: match errno % 4 {
                            0 | 1 => Ok(()),
                            2 => Err(Errno::EEXIST),
                            _ => Err(Errno(i32::from(errno))),
                        },
                    },
                };
                node.input(input);
            }
        }
        9 => {
            let (sel, up) = (r.u8(), r.u8());
            let ifindex = ifindex(sel);
            if up & 1 == 0 {
                node.input(Input::LinkGone { ifindex });
            } else {
                let name = ["lo", "mesh0", "local-node", "mesh1", "other"][usize::from(sel % 5)];
                node.input(Input::Link(l3roamd::engine::Link {
                    ifindex,
                    name: name.into(),
                    up: up & 2 != 0,
                    mac: (up & 4 != 0).then_some(NODE_MAC),
                    master: (up & 8 != 0).then_some(CLIENT_IF),
                }));
            }
        }
        10 => {
            let (addr, sel, flags) = (r.u8(), r.u8(), r.u8());
            let dst = client_addr(addr);
            node.input(Input::Route(RouteEvent {
                dst,
                prefix_len: if dst.is_ipv4() { 32 } else { 128 },
                table: if flags & 1 != 0 { 254 } else { 10 },
                protocol: if flags & 2 != 0 { 158 } else { 42 },
                kind: if flags & 4 != 0 {
                    RouteKind::Unicast
                } else {
                    RouteKind::Unreachable
                },
                metric: u32::from(r.u16()),
                ifindex: Some(ifindex(sel)),
                deleted: flags & 8 != 0,
            }));
        }
        11 => {
            let (sel, flags) = (r.u8(), r.u8());
            node.input(Input::Fdb {
                port: ifindex(sel),
                mac: mac(flags),
                deleted: flags & 0x80 != 0,
            });
        }
        12 => {
            let (sel, flags) = (r.u8(), r.u8());
            node.input(Input::Station {
                ifindex: ifindex(sel),
                mac: mac(flags),
                associated: flags & 0x80 == 0,
            });
        }
        _ => {
            let (sel, errno) = (r.u8(), r.u8());
            node.input(Input::IntercomSendFailed {
                dst: node_client_or_node(sel),
                errno: Errno(i32::from(errno)),
            });
        }
    }
}

/// Where intercom unicasts go: node IPs, and node-client IPs of the small client set.
fn node_client_or_node(sel: u8) -> Ipv6Addr {
    if sel & 1 == 0 {
        node(sel >> 1)
    } else {
        mac(sel >> 1).node_client_ip(&"fec0::".parse().unwrap())
    }
}

fuzz_target!(|data: &[u8]| {
    // Half the inputs, whatever they hold, exercise the keyed receive path.
    let mut node = if data.len() % 2 == 1 {
        Node::keyed()
    } else {
        Node::new()
    };
    let mut r = Reader::new(data);
    let mut conn = 0;
    for _ in 0..MAX_STEPS {
        if r.is_empty() {
            break;
        }
        step(&mut node, &mut r, &mut conn);
    }
    // Whatever was held, solicited or claimed runs to its end.
    node.advance(60_000);
});
