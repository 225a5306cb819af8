//! The intercom sockets against the real kernel, in a private network namespace per test:
//! which socket a datagram reaches and what destination it carries. Needs root, as
//! tests/sys_rtnl.rs.

use std::net::{Ipv6Addr, SocketAddrV6, UdpSocket};
use std::os::fd::AsFd;
use std::process::Command;
use std::time::Duration;

use l3roamd::engine::{Datagram, Input};
use l3roamd::sys::intercom::IntercomSocket;
use l3roamd::sys::netns::enter_new_network_namespace;
use l3roamd::wire::intercom::{GROUP, PORT};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

const NODE_IP: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);

fn netns() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "tests/sys_intercom.rs needs root (it creates network namespaces); run the test \
         suite as root, as CI does"
    );
    if let Err(e) = enter_new_network_namespace() {
        panic!("{e}: tests/sys_intercom.rs needs root with CAP_SYS_ADMIN and CAP_NET_ADMIN");
    }
}

fn run(program: &str, args: &str) {
    let out = Command::new(program)
        .args(args.split_whitespace())
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every datagram the socket holds once it has become readable (within 5 s).
fn received(socket: &IntercomSocket, what: &str) -> Vec<Datagram> {
    let mut fds = [PollFd::new(socket.as_fd(), PollFlags::POLLIN)];
    let ready = poll(&mut fds, PollTimeout::from(5000u16)).expect("poll");
    assert_eq!(ready, 1, "{what}: nothing arrived within 5 s");
    drained(socket)
}

/// Whatever the socket holds now, without waiting.
fn drained(socket: &IntercomSocket) -> Vec<Datagram> {
    let mut inputs = Vec::new();
    socket.read(&mut inputs).expect("reading the socket");
    inputs
        .into_iter()
        .map(|input| match input {
            Input::Intercom(datagram) => datagram,
            other => panic!("not a datagram: {other:?}"),
        })
        .collect()
}

fn send(bytes: &[u8], to: Ipv6Addr, scope: u32) {
    let sender = UdpSocket::bind("[::1]:0").expect("bind the sender");
    sender
        .send_to(bytes, SocketAddrV6::new(to, PORT, 0, scope))
        .expect("send");
}

#[test]
fn one_socket_receives_every_node_client_ip_with_its_destination() {
    netns();
    run("ip", &format!("addr add {NODE_IP}/128 dev lo nodad"));
    // The kernel makes a new address bindable a moment after `ip` returns, under load.
    let node = (0..50)
        .find_map(|_| {
            IntercomSocket::node(NODE_IP)
                .inspect_err(|_| std::thread::sleep(Duration::from_millis(100)))
                .ok()
        })
        .expect("the node socket could not be bound within 5 s");
    let node_clients = IntercomSocket::node_clients().expect("node-client socket");
    // Thousands of node-client IPs cost addresses, not descriptors.
    let held: Vec<Ipv6Addr> = (1..=3000u16)
        .map(|i| Ipv6Addr::new(0xfd00, 0xc, 0, 0, 0, 0, 0, i))
        .collect();
    let batch: String = held
        .iter()
        .map(|addr| format!("address add {addr}/128 dev lo nodad\n"))
        .collect();
    let batch_file = std::env::temp_dir().join(format!("sys_intercom-{}", std::process::id()));
    std::fs::write(&batch_file, batch).expect("write the ip batch");
    run("ip", &format!("-batch {}", batch_file.display()));
    let _ = std::fs::remove_file(&batch_file);
    // The kernel delivers to an address once its local route is in, which comes a moment
    // after `ip` returns; the batch's last address is the last one in.
    let last_in = (0..50).any(|_| {
        let out = Command::new("ip")
            .args([
                "-6",
                "route",
                "show",
                "table",
                "local",
                &held[2999].to_string(),
            ])
            .output()
            .expect("running ip");
        !out.stdout.is_empty() || {
            std::thread::sleep(Duration::from_millis(100));
            false
        }
    });
    assert!(last_in, "the local route of {} never appeared", held[2999]);

    // The node IP's datagram goes to the exactly bound socket only; sent first, it would
    // be in the wildcard socket before the node-client datagram that follows it on lo.
    send(b"to the node", NODE_IP, 0);
    let at_node = received(&node, "to the node IP");
    assert_eq!(at_node.len(), 1);
    assert_eq!(at_node[0].dst, NODE_IP);
    assert_eq!(at_node[0].bytes, b"to the node");

    for (i, addr) in [held[0], held[2999], held[1234]].into_iter().enumerate() {
        send(&[i as u8], addr, 0);
        let got = received(&node_clients, &format!("to {addr}"));
        assert_eq!(got.len(), 1, "to {addr}: {got:?}");
        assert_eq!(got[0].dst, addr);
        assert_eq!(got[0].src, Ipv6Addr::LOCALHOST);
        assert_eq!(got[0].bytes, [i as u8]);
    }
    assert!(drained(&node).is_empty());
}

#[test]
fn the_node_client_socket_takes_no_copy_of_the_mesh_multicast() {
    netns();
    // Link-local addresses usable at once, so the multicast has a source.
    run("sysctl", "-qw net.ipv6.conf.default.accept_dad=0");
    run("ip", "link add mesh0 type veth peer name mesh1");
    run("ip", "link set mesh0 up");
    run("ip", "link set mesh1 up");
    let mesh0 = nix::net::if_::if_nametoindex("mesh0").expect("mesh0") as u32;
    let mesh1 = nix::net::if_::if_nametoindex("mesh1").expect("mesh1") as u32;
    let mesh = IntercomSocket::mesh(mesh0).expect("mesh socket");
    let node_clients = IntercomSocket::node_clients().expect("node-client socket");

    let sender = UdpSocket::bind("[::]:0").expect("bind the sender");
    let mut sent = false;
    // The link-local address appears a moment after the link comes up.
    for _ in 0..50 {
        if sender
            .send_to(b"seek", SocketAddrV6::new(GROUP, PORT, 0, mesh1))
            .is_ok()
        {
            sent = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(sent, "no multicast could be sent on mesh1");
    let at_mesh = received(&mesh, "to the group");
    assert_eq!(at_mesh.len(), 1);
    assert_eq!(at_mesh[0].dst, GROUP);
    assert_eq!(at_mesh[0].ifindex, mesh0);
    // Multicast is delivered to every matching socket in one pass: had the wildcard socket
    // matched, its copy would be there now. Its reader would drop the copy, so what is
    // checked is that the kernel queued none (each would cost a wake-up and a read).
    let mut fds = [PollFd::new(node_clients.as_fd(), PollFlags::POLLIN)];
    assert_eq!(poll(&mut fds, PollTimeout::ZERO).expect("poll"), 0);
}
