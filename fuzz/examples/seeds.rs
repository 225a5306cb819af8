//! Writes the seed corpus under `fuzz/seeds/<target>/`: the captured C-daemon packets of
//! `tests/vectors/`, and a few well-formed inputs per target so that the fuzzer starts past
//! the first length and version checks. Run from `fuzz/` after changing a format:
//! `cargo run --example seeds`.

use std::net::{IpAddr, Ipv6Addr};
use std::path::Path;

use l3roamd::sys::netlink as nl;
use l3roamd::wire::{ipv4, ipv6};

fn hex_vector(path: &Path) -> Vec<u8> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .flat_map(str::split_whitespace)
        .map(|byte| u8::from_str_radix(byte, 16).unwrap())
        .collect()
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

/// A two-byte length, then the bytes: how the engine_inputs target reads byte strings.
fn chunk(bytes: &[u8]) -> Vec<u8> {
    let mut out = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

fn v6_packet(dst: &str, next_header: u8, payload: &[u8]) -> Vec<u8> {
    let mut packet = ipv6::Repr {
        traffic_class: 0,
        flow_label: 0,
        payload_len: payload.len() as u16,
        next_header,
        hop_limit: 64,
        src: "2001:db8:9::1".parse().unwrap(),
        dst: dst.parse().unwrap(),
    }
    .to_bytes();
    packet.extend_from_slice(payload);
    packet
}

fn v4_packet(dst: &str, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let mut packet = ipv4::Repr {
        dscp_ecn: 0,
        total_len: 20 + payload.len() as u16,
        ident: 1,
        flags_fragment: 0x4000,
        ttl: 64,
        protocol,
        src: "203.0.113.1".parse().unwrap(),
        dst: dst.parse().unwrap(),
        options: Vec::new(),
    }
    .to_bytes();
    packet.extend_from_slice(payload);
    packet
}

fn main() {
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors");
    let mut intercom = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&vectors)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".hex"))
        .collect();
    names.sort();
    for name in names {
        let bytes = hex_vector(&vectors.join(&name));
        let stem = name.trim_end_matches(".hex");
        if name.starts_with("ndp-") {
            write("ndp", stem, &bytes);
        } else {
            write("intercom", stem, &bytes);
            intercom.push(bytes);
        }
    }

    write(
        "arp",
        "request",
        &[
            0, 1, 8, 0, 6, 4, 0, 1, 2, 0x11, 0x22, 0x33, 0x44, 0x55, 198, 51, 100, 10, 0, 0, 0, 0,
            0, 0, 198, 51, 100, 1,
        ],
    );
    write(
        "arp",
        "reply",
        &[
            0, 1, 8, 0, 6, 4, 0, 2, 2, 0x11, 0x22, 0x33, 0x44, 0x55, 198, 51, 100, 10, 2, 0, 0, 0,
            0xaa, 0xff, 198, 51, 100, 1,
        ],
    );

    let udp = [0x13, 0x93, 0x15, 0x93, 0, 12, 0, 0, b'p', b'i', b'n', b'g'];
    let echo = [128, 0, 0, 0, 0, 1, 0, 1, b'x'];
    let tun = [
        ("v6-udp", v6_packet("2001:db8:1::10", 17, &udp)),
        ("v6-echo", v6_packet("2001:db8:1::11", 58, &echo)),
        (
            "v6-hop-by-hop",
            v6_packet("2001:db8:1::12", 0, &[17, 0, 1, 4, 0, 0, 0, 0]),
        ),
        ("v4-udp", v4_packet("198.51.100.10", 17, &udp)),
        (
            "v4-echo",
            v4_packet("198.51.100.11", 1, &[8, 0, 0, 0, 0, 1, 0, 1]),
        ),
    ];
    for (name, packet) in &tun {
        write("tun_packet", name, packet);
        write("ip_headers", name, packet);
    }
    let mut frame = vec![
        0x33, 0x33, 0, 0, 0, 1, 2, 0x11, 0x22, 0x33, 0x44, 0x55, 0x86, 0xdd,
    ];
    frame.extend_from_slice(&tun[0].1);
    write("ip_headers", "ethernet-v6", &frame);

    let route = nl::RouteSpec {
        dst: "2001:db8:1::10".parse().unwrap(),
        dst_len: 128,
        table: 254,
        protocol: 158,
        oif: 3,
        metric: Some(1024),
    };
    let v4: IpAddr = "198.51.100.10".parse().unwrap();
    let v6: Ipv6Addr = "fec0::11:22ff:fe33:4455".parse().unwrap();
    let mut error = vec![36, 0, 0, 0, 2, 0, 0, 1, 7, 0, 0, 0, 0, 0, 0, 0];
    error.extend_from_slice(&(-17i32).to_ne_bytes());
    error.extend_from_slice(&[16, 0, 0, 0, 24, 0, 5, 6, 7, 0, 0, 0, 0, 0, 0, 0]);
    let messages = [
        ("route", nl::new_route(1, &route)),
        ("del-route", nl::del_route(2, &route)),
        (
            "neighbour",
            nl::new_neighbour(3, 3, &v4, [2, 0x11, 0x22, 0x33, 0x44, 0x55], 2),
        ),
        ("address", nl::new_address(4, 1, &v6, 128)),
        ("link", nl::set_link_up(5, 3)),
        ("family", nl::get_family(6, "nl80211")),
        ("error", error),
    ];
    let mut all = Vec::new();
    for (name, bytes) in &messages {
        write("netlink", name, bytes);
        all.extend_from_slice(bytes);
    }
    write("netlink", "datagram", &all);

    for (i, line) in [
        &b"get_clients\n"[..],
        b"get_prefixes",
        b"get_meshifs\r\n",
        b"add_meshif mesh-vpn\n",
        b"del_meshif mesh-vpn\n",
        b"add_prefix 2001:db8:7::/64\n",
        b"del_prefix 198.51.100.0/24\n",
        b"add_address 2001:db8:1::10 02:11:22:33:44:55\n",
        b"add_address 198.51.100.10 02:11:22:33:44:55 3600\n",
        b"del_address 2001:db8:1::10 02:11:22:33:44:55\n",
        b"probe 2001:db8:1::10 02:11:22:33:44:55\n",
        b"verbosity debug\n",
        b"has_route 2001:db8:1::10\n",
    ]
    .iter()
    .enumerate()
    {
        // The first byte is the read size the target feeds the line reader with.
        let mut input = vec![if i % 2 == 0 { 255 } else { 3 }];
        input.extend_from_slice(line);
        write("control", &format!("line-{i:02}"), &input);
    }

    // A babeld session as `monitor` prints it; the first byte is the read size.
    let session: &[u8] = b"BABEL 1.0\nversion babeld-1.12.1\nhost r1\nmy-id 02:00:00:ff:00:01\nok\n\
add interface veth0 up true ipv6 fe80::1 ipv4 10.0.0.1\n\
add neighbour 5581cc5d9e10 address fe80::2 if veth0 reach ffff rxcost 96 txcost 96 cost 96\n\
add xroute 2001:db8:1::10/128-::/0 prefix 2001:db8:1::10/128 from ::/0 metric 0\n\
add xroute 10.0.1.100/32-0.0.0.0/0 prefix 10.0.1.100/32 from 0.0.0.0/0 metric 65534\n\
add route 5581cc5da0d0 prefix 2001:db8:1::10/128 from ::/0 installed yes id 02:00:00:ff:00:03 metric 96 refmetric 0 via fe80::2 if veth0\n\
change route 5581cc5da0d0 prefix 2001:db8:1::10/128 from ::/0 installed no id 02:00:00:ff:00:03 metric 65535 refmetric 65535 via fe80::2 if veth0\n\
flush route 5581cc5da0d0 prefix 2001:db8:1::10/128 from ::/0 installed no id 02:00:00:ff:00:03 metric 65535 refmetric 65535 via fe80::2 if veth0\n";
    for (name, size) in [
        ("session-whole", 255u8),
        ("session-bytes", 1),
        ("session-7", 7),
    ] {
        let mut input = vec![size];
        input.extend_from_slice(session);
        write("babel", name, &input);
    }

    for (i, argv) in [
        &[
            "-a",
            "fd00:5523::a",
            "-p",
            "2001:db8:1::/64",
            "-p",
            "198.51.100.0/24",
            "-i",
            "br0",
            "-b",
            "br0",
            "-m",
            "mesh0",
            "-s",
            "/var/run/l3roamd.sock",
        ][..],
        &[
            "-d",
            "-a",
            "fd00:5523::a",
            "-4",
            "fdff::/96",
            "-P",
            "fec0::/64",
            "-t",
            "11",
            "-m",
            "mesh0",
            "-m",
            "mesh1",
            "-n",
        ],
        &[
            "--clientif=br-client",
            "--prefix",
            "fd01::/64",
            "--socket=/tmp/s",
            "-a",
            "fd00::1",
        ],
        &["-h"],
        &["-V"],
    ]
    .iter()
    .enumerate()
    {
        // NUL separates arguments, as in /proc/PID/cmdline.
        write("flags", &format!("argv-{i}"), argv.join("\0").as_bytes());
    }

    // engine_inputs: a client learned, a claim and a SEEK from a peer, packets to clients,
    // a control command, kernel answers and time passing; plus every captured datagram.
    let mut story = vec![5, 3, 0x10, 0x00, 6, 0, 0x10, 8, 8, 0];
    story.extend_from_slice(&[3, 1, 2, 0, 1, 0]); // CLAIM for mac(0) from a peer
    story.extend_from_slice(&[0x01]);
    story.extend_from_slice(&[4, 0, 30]); // 300 ms
    story.extend_from_slice(&[
        1, 0x13, 17, 0x20, 1, 0xd, 0xb8, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
    ]);
    story.extend_from_slice(&chunk(&udp));
    story.extend_from_slice(&[4, 1, 0]); // 2.56 s
    story.extend_from_slice(&[3, 0, 2, 1, 2, 0, 1, 0x13, 0x01]); // SEEK from a peer
    story.push(7);
    story.extend_from_slice(&chunk(b"get_clients"));
    story.extend_from_slice(&[8, 7, 0, 4, 2, 0]);
    write("engine_inputs", "story", &story);
    for (i, bytes) in intercom.iter().enumerate() {
        let mut input = vec![2];
        input.extend_from_slice(&chunk(bytes));
        input.extend_from_slice(&[0x01, 4, 0, 100]);
        write("engine_inputs", &format!("datagram-{i:02}"), &input);
    }
    for (name, packet) in &tun {
        let mut input = vec![0];
        input.extend_from_slice(&chunk(packet));
        input.extend_from_slice(&[4, 2, 0]);
        write("engine_inputs", &format!("tun-{name}"), &input);
    }
}
