//! The command line as Gluon, the C daemon's captures and operators use it, through the
//! library and through the binary.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use l3roamd::config::{self, Action, BabelEndpoint, Config, Limits, LogLevel};
use l3roamd::engine::control::COMMAND_NAMES;
use l3roamd::prefix::{IpPrefix, Prefix6, V4Mapping};
use l3roamd::wire::auth::Key;
use proptest::prelude::*;

const NODE_IP: &str = "fd12:3456:789a:0:a62b:b0ff:fe11:2233";

fn argv<S: AsRef<str>>(words: &[S]) -> Vec<String> {
    words.iter().map(|w| w.as_ref().to_string()).collect()
}

fn run<S: AsRef<str>>(words: &[S]) -> Config {
    let words = argv(words);
    match config::parse(&words) {
        Ok(Action::Run(config)) => config,
        other => panic!("{words:?}: expected a runnable config, got {other:?}"),
    }
}

fn error<S: AsRef<str>>(words: &[S]) -> String {
    let words = argv(words);
    match config::parse(&words) {
        Err(err) => err.to_string(),
        other => panic!("{words:?}: expected a usage error, got {other:?}"),
    }
}

/// A minimal valid command line followed by `extra`.
fn with(extra: &[&str]) -> Vec<String> {
    let mut words = argv(&["-a", "fd00::1", "-p", "2001:db8::/64"]);
    words.extend(argv(extra));
    words
}

fn p6(text: &str) -> Prefix6 {
    match IpPrefix::parse(text).unwrap().prefix {
        IpPrefix::V6(prefix) => prefix,
        IpPrefix::V4 { .. } => panic!("{text} is IPv4"),
    }
}

fn prefix(text: &str) -> IpPrefix {
    IpPrefix::parse(text).unwrap().prefix
}

fn ip(text: &str) -> Ipv6Addr {
    text.parse().unwrap()
}

fn strings(items: &[&str]) -> Vec<String> {
    argv(items)
}

/// What every run without further flags looks like.
fn defaults(node_ip: &str, prefixes: &[&str]) -> Config {
    Config {
        node_ip: ip(node_ip),
        client_prefixes: prefixes.iter().map(|p| prefix(p)).collect(),
        node_client_prefix: p6("fec0::/64"),
        plat_prefix: None,
        v4_mapping: V4Mapping::default(),
        client_if: None,
        client_bridge: None,
        mesh_ifs: Vec::new(),
        export_table: 254,
        control_socket: None,
        tun_name: "l3roam0".into(),
        log_level: LogLevel::Normal,
        learn_from_netlink: true,
        learn_from_nl80211: true,
        learn_from_ndp: true,
        liveness_interval: Some(Duration::from_secs(900)),
        release_protocol: Some(159),
        babeld: None,
        limits: Limits {
            clients: 4096,
            addresses_per_client: 64,
            queued_packets: 4096,
            control_connections: 16,
        },
        key_file: None,
        keys: Vec::new(),
        accept_unauthenticated: Vec::new(),
        netlink_rcvbuf: 4 << 20,
        warnings: Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Gluon's command lines (cli-and-control.md §3)

/// §3.1, today's init script, the argv of the spec's example node.
const GLUON_CURRENT: &[&str] = &[
    "-s",
    "/var/run/l3roamd.sock",
    "-p",
    "10.36.0.0/18",
    "-p",
    "2001:db8:1234::/64",
    "-m",
    "mesh0",
    "-m",
    "mesh-vpn",
    "-i",
    "local-node",
    "-t",
    "254",
    "-a",
    NODE_IP,
    "-b",
    "br-client",
    " -P fd12:3456:789a:bcde::/64",
];

fn gluon_node() -> Config {
    Config {
        client_prefixes: vec![prefix("10.36.0.0/18"), prefix("2001:db8:1234::/64")],
        client_if: Some("local-node".into()),
        client_bridge: Some("br-client".into()),
        mesh_ifs: strings(&["mesh0", "mesh-vpn"]),
        control_socket: Some(PathBuf::from("/var/run/l3roamd.sock")),
        ..defaults(NODE_IP, &[])
    }
}

#[test]
fn gluon_current_ignores_the_space_prefixed_node_client_prefix() {
    let config = run(GLUON_CURRENT);
    let expected = Config {
        warnings: vec!["ignoring non-option argument ' -P fd12:3456:789a:bcde::/64'".to_string()],
        ..gluon_node()
    };
    assert_eq!(config, expected);
    // The whole point: the same node-client prefix as the C daemon on the same firmware.
    assert_eq!(config.node_client_prefix.to_string(), "fec0::/64");
}

#[test]
fn gluon_current_on_a_site_without_prefix4_and_local_node_down() {
    let config = run(&[
        "-s",
        "/var/run/l3roamd.sock",
        "-p",
        "2001:db8:1234::/64",
        "-m",
        "mesh-vpn",
        "-t",
        "254",
        "-a",
        NODE_IP,
        "-b",
        "br-client",
        " -P fd12:3456:789a:bcde::/64",
    ]);
    assert_eq!(config.client_prefixes, vec![prefix("2001:db8:1234::/64")]);
    assert_eq!(config.client_if, None);
    assert_eq!(config.client_bridge.as_deref(), Some("br-client"));
    assert_eq!(config.mesh_ifs, strings(&["mesh-vpn"]));
    assert_eq!(config.node_client_prefix, p6("fec0::/64"));
    assert_eq!(config.warnings.len(), 1);
}

#[test]
fn gluon_2017_with_table_11_explicit_v4_mapping_and_no_socket() {
    let config = run(&[
        "-p",
        "2001:db8:1234::/64",
        "-m",
        "mesh0",
        "-i",
        "local-node",
        "-t",
        "11",
        "-a",
        NODE_IP,
        "-4",
        "0:0:0:0:0:ffff::/96",
        "-b",
        "br-client",
    ]);
    let expected = Config {
        client_prefixes: vec![prefix("2001:db8:1234::/64")],
        client_if: Some("local-node".into()),
        client_bridge: Some("br-client".into()),
        mesh_ifs: strings(&["mesh0"]),
        export_table: 11,
        ..defaults(NODE_IP, &[])
    };
    assert_eq!(config, expected);
    // 0:0:0:0:0:ffff::/96 is the default written out.
    assert_eq!(config.v4_mapping, V4Mapping::default());
}

#[test]
fn gluon_2017_to_2019_with_socket_and_v4_mapping() {
    let config = run(&[
        "-s",
        "/var/run/l3roamd.sock",
        "-p",
        "2001:db8:1234::/64",
        "-m",
        "mesh0",
        "-m",
        "mesh-vpn",
        "-i",
        "local-node",
        "-t",
        "254",
        "-a",
        NODE_IP,
        "-4",
        "0:0:0:0:0:ffff::/96",
        "-b",
        "br-client",
    ]);
    let expected = Config {
        client_prefixes: vec![prefix("2001:db8:1234::/64")],
        ..gluon_node()
    };
    assert_eq!(config, expected);
}

#[test]
fn gluon_2019_to_2022_without_node_client_prefix() {
    let mut words = GLUON_CURRENT.to_vec();
    words.pop();
    assert_eq!(run(&words), gluon_node());
}

#[test]
fn gluon_2019_to_2025_honours_a_two_word_node_client_prefix() {
    let mut words = GLUON_CURRENT.to_vec();
    words.pop();
    words.extend(["-P", "fd12:3456:789a:bcde::/64"]);
    let expected = Config {
        node_client_prefix: p6("fd12:3456:789a:bcde::/64"),
        ..gluon_node()
    };
    assert_eq!(run(&words), expected);
}

#[test]
fn gluon_april_to_june_2025_space_prefixed_client_prefixes_are_fatal() {
    // The prefix variables were quoted with their leading space, so getopt saw no -p at all
    // and the C daemon exited; procd kept respawning it.
    let words = [
        "-s",
        "/var/run/l3roamd.sock",
        " -p 10.36.0.0/18",
        " -p 2001:db8:1234::/64",
        "-m",
        "mesh0",
        "-i",
        "local-node",
        "-t",
        "254",
        "-a",
        NODE_IP,
        "-b",
        "br-client",
        " -P fd12:3456:789a:bcde::/64",
    ];
    assert_eq!(error(&words), "specifying -p is mandatory");
}

// ---------------------------------------------------------------------------------------------
// The C daemon's flags in the captured vectors (vectors/README.md "Node flags")

fn vector_node(name: &str, meshes: &[&str]) -> Config {
    Config {
        client_prefixes: vec![prefix("2001:db8:1::/64"), prefix("198.51.100.0/24")],
        client_if: Some("br0".into()),
        client_bridge: Some("br0".into()),
        mesh_ifs: strings(meshes),
        control_socket: Some(PathBuf::from(format!("/var/run/l3roamd-{name}.sock"))),
        log_level: LogLevel::Debug,
        ..defaults(&format!("fd00:5523::{name}"), &[])
    }
}

#[test]
fn vector_nodes_a_b_c() {
    let a = "-d -a fd00:5523::a -p 2001:db8:1::/64 -p 198.51.100.0/24 -i br0 -b br0 -m mesh0 \
             -s /var/run/l3roamd-a.sock";
    let b = "-d -a fd00:5523::b -p 2001:db8:1::/64 -p 198.51.100.0/24 -i br0 -b br0 -m mesh0 \
             -m mesh1 -s /var/run/l3roamd-b.sock";
    let c = "-d -a fd00:5523::c -p 2001:db8:1::/64 -p 198.51.100.0/24 -i br0 -b br0 -m mesh0 \
             -s /var/run/l3roamd-c.sock";
    let split = |line: &'static str| line.split_whitespace().collect::<Vec<_>>();
    assert_eq!(run(&split(a)), vector_node("a", &["mesh0"]));
    assert_eq!(run(&split(b)), vector_node("b", &["mesh0", "mesh1"]));
    assert_eq!(run(&split(c)), vector_node("c", &["mesh0"]));

    // exp3: -e after the -p options.
    let a_exp3 = "-d -a fd00:5523::a -p 2001:db8:1::/64 -p 198.51.100.0/24 -e 64:ff9b::/96 \
                  -i br0 -b br0 -m mesh0 -s /var/run/l3roamd-a.sock";
    let expected = Config {
        plat_prefix: Some(p6("64:ff9b::/96")),
        ..vector_node("a", &["mesh0"])
    };
    assert_eq!(run(&split(a_exp3)), expected);

    // exp6b, exp7, exp8: the same without -d.
    let quiet = split(b)[1..].to_vec();
    let expected = Config {
        log_level: LogLevel::Normal,
        ..vector_node("b", &["mesh0", "mesh1"])
    };
    assert_eq!(run(&quiet), expected);
}

// ---------------------------------------------------------------------------------------------
// Defaults, levels, switches

#[test]
fn minimal_command_line_takes_every_default() {
    assert_eq!(run(&with(&[])), defaults("fd00::1", &["2001:db8::/64"]));
}

#[test]
fn log_levels() {
    assert_eq!(run(&with(&[])).log_level, LogLevel::Normal);
    assert_eq!(run(&with(&["-v"])).log_level, LogLevel::Verbose);
    assert_eq!(run(&with(&["-d"])).log_level, LogLevel::Debug);
    assert_eq!(run(&with(&["-d", "-v"])).log_level, LogLevel::Debug);
    assert_eq!(
        run(&with(&["-v", "-d", "-d", "-v"])).log_level,
        LogLevel::Debug
    );
    assert_eq!(LogLevel::Normal.level_filter(), log::LevelFilter::Info);
    assert_eq!(LogLevel::Verbose.level_filter(), log::LevelFilter::Debug);
    assert_eq!(LogLevel::Debug.level_filter(), log::LevelFilter::Trace);
}

#[test]
fn each_no_switch_flips_exactly_its_own_field() {
    let base = run(&with(&[]));
    let learning = |c: &Config| (c.learn_from_netlink, c.learn_from_nl80211, c.learn_from_ndp);
    let cases = [
        ("--no-netlink", (false, true, true)),
        ("--no-nl80211", (true, false, true)),
        ("--no-ndp", (true, true, false)),
    ];
    for (switch, expected) in cases {
        let config = run(&with(&[switch]));
        assert_eq!(learning(&config), expected, "{switch}");
        let restored = Config {
            learn_from_netlink: true,
            learn_from_nl80211: true,
            learn_from_ndp: true,
            ..config
        };
        assert_eq!(restored, base, "{switch} changed something else");
    }
    let all = run(&with(&["--no-ndp", "--no-netlink", "--no-nl80211"]));
    assert!(!all.learn_from_netlink && !all.learn_from_nl80211 && !all.learn_from_ndp);
    // Unambiguous abbreviations work as with getopt_long.
    assert!(!run(&with(&["--no-nd"])).learn_from_ndp);
    assert!(!run(&with(&["--no-nl"])).learn_from_nl80211);
}

#[test]
fn babeld_endpoint_is_a_port_on_loopback_or_a_unix_path_as_babelds_own_flags() {
    assert_eq!(run(&with(&[])).babeld, None, "off by default");
    assert_eq!(
        run(&with(&["--babeld", "33123"])).babeld,
        Some(BabelEndpoint::Port(33123))
    );
    assert_eq!(
        run(&with(&["--babeld=1"])).babeld,
        Some(BabelEndpoint::Port(1))
    );
    assert_eq!(
        run(&with(&["--babeld", "65535"])).babeld,
        Some(BabelEndpoint::Port(65535))
    );
    assert_eq!(
        run(&with(&["--babeld", "/var/run/babeld.sock"])).babeld,
        Some(BabelEndpoint::Path(PathBuf::from("/var/run/babeld.sock")))
    );
    // getopt_long abbreviations, and the last one given counts.
    assert_eq!(
        run(&with(&["--bab", "/run/b.sock", "--babeld", "33123"])).babeld,
        Some(BabelEndpoint::Port(33123))
    );
    assert_eq!(BabelEndpoint::Port(33123).to_string(), "[::1]:33123");
    assert_eq!(
        BabelEndpoint::Path(PathBuf::from("/run/b.sock")).to_string(),
        "/run/b.sock"
    );
    // Everything else about the configuration stays as it was.
    let config = run(&with(&["--babeld", "33123"]));
    assert_eq!(
        Config {
            babeld: None,
            ..config
        },
        run(&with(&[]))
    );
}

// ---------------------------------------------------------------------------------------------
// Authenticated intercom: --key-file and --accept-unauthenticated

const KEY_A: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const KEY_B: &str = "ffeeddccbbaa99887766554433221100";

fn key(hex: &str) -> Key {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    Key::new(&bytes).unwrap()
}

fn keys_of(text: &str) -> Result<Vec<Key>, String> {
    config::parse_key_file(Path::new("/etc/l3roamd.key"), text.as_bytes())
        .map_err(|e| e.to_string())
}

#[test]
fn key_file_and_allow_list_flags() {
    let config = run(&with(&[
        "--key-file",
        "/etc/l3roamd.key",
        "--accept-unauthenticated",
        "fd00::2",
        "--accept-un=fd00::3",
        "--accept-unauthenticated",
        "fd00::2",
    ]));
    assert_eq!(config.key_file, Some(PathBuf::from("/etc/l3roamd.key")));
    assert!(config.keys.is_empty(), "parsing reads no file");
    assert_eq!(
        config.accept_unauthenticated,
        [ip("fd00::2"), ip("fd00::3")]
    );
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);

    let config = run(&with(&["--accept-unauthenticated", "fd00::2"]));
    assert_eq!(
        config.warnings,
        [
            "--accept-unauthenticated has no effect without --key-file: every packet is accepted unauthenticated"
        ]
    );
    assert_eq!(
        error(&with(&["--accept-unauthenticated", "fd00::/64"])),
        "--accept-unauthenticated: invalid node IP 'fd00::/64' (expected an IPv6 address without /len)"
    );
    assert_eq!(
        error(&with(&["--accept-unauthenticated", "ff02::1"])),
        "--accept-unauthenticated: invalid node IP 'ff02::1' (a multicast address cannot be a node IP)"
    );
    assert_eq!(
        error(&with(&["--key-file", "a", "--key-file", "b"])),
        "--key-file must not be specified more than once"
    );
    assert_eq!(
        error(&with(&["--key-file="])),
        "--key-file: invalid key file '' (empty)"
    );
    assert_eq!(
        error(&with(&["--key-file"])),
        "--key-file requires an argument"
    );
}

#[test]
fn key_files_are_hex_lines_with_comments() {
    let text = format!(
        "# signing key first\n\n  {KEY_A}  \r\n{}  # the old key, still accepted\n#{KEY_A}\n",
        KEY_B.to_uppercase()
    );
    assert_eq!(keys_of(&text), Ok(vec![key(KEY_A), key(KEY_B)]));
    // 16 and 64 bytes are the bounds; four keys at most.
    let four = format!("{}\n{}\n{KEY_A}\n{KEY_B}", "ab".repeat(16), "cd".repeat(64));
    assert_eq!(keys_of(&four).map(|k| k.len()), Ok(4));
}

#[test]
fn key_file_errors_name_the_file_and_the_line_but_never_the_key() {
    let cases: &[(String, &str)] = &[
        (
            format!("{KEY_A}\n# ok\n{}zz\n", &KEY_B[..30]),
            "--key-file: '/etc/l3roamd.key' line 3: not hexadecimal",
        ),
        (
            format!("\n{}\n", &KEY_A[..33]),
            "--key-file: '/etc/l3roamd.key' line 2: an odd number of hex digits (33)",
        ),
        (
            "ab".repeat(15),
            "--key-file: '/etc/l3roamd.key' line 1: a key of 15 bytes; keys are 16..64 bytes (32..128 hex digits)",
        ),
        (
            "ab".repeat(65),
            "--key-file: '/etc/l3roamd.key' line 1: a key of 65 bytes; keys are 16..64 bytes (32..128 hex digits)",
        ),
        (
            format!("{KEY_A}\n{KEY_B}\n{KEY_A}\n{KEY_B}\n\n{KEY_A}\n"),
            "--key-file: '/etc/l3roamd.key' line 6: more than 4 keys",
        ),
        (
            format!("{KEY_A} {KEY_B}"),
            "--key-file: '/etc/l3roamd.key' line 1: not hexadecimal",
        ),
        (String::new(), "--key-file: '/etc/l3roamd.key' holds no key"),
        (
            "# nothing but comments\n\n".into(),
            "--key-file: '/etc/l3roamd.key' holds no key",
        ),
        (
            "0x00112233445566778899aabbccddeeff".into(),
            "--key-file: '/etc/l3roamd.key' line 1: not hexadecimal",
        ),
    ];
    for (text, message) in cases {
        let got = keys_of(text).unwrap_err();
        assert_eq!(&got, message, "{text:?}");
        assert!(!got.contains(&KEY_A[..8]) && !got.contains(&KEY_B[..8]) && !got.contains("abab"));
    }
}

#[test]
fn apply_key_file_reads_keys_and_warns_about_loose_permissions() {
    let mut config = run(&with(&["--key-file", "/etc/l3roamd.key"]));
    let read = Ok((format!("{KEY_B}\n").into_bytes(), 0o100600));
    assert_eq!(config::apply_key_file(&mut config, read), Ok(()));
    assert_eq!(config.keys, [key(KEY_B)]);
    assert!(config.warnings.is_empty());

    let read = Ok((format!("{KEY_B}\n").into_bytes(), 0o100640));
    assert_eq!(config::apply_key_file(&mut config, read), Ok(()));
    assert_eq!(
        config.warnings,
        [
            "--key-file: '/etc/l3roamd.key' is readable by group or others (mode 0640); only root should read it (chmod 600)"
        ]
    );

    let gone = std::io::Error::from(std::io::ErrorKind::NotFound);
    let err = config::apply_key_file(&mut config, Err(gone)).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("--key-file: cannot read '/etc/l3roamd.key': "),
        "{err}"
    );
    // Without --key-file nothing is read and nothing changes.
    let mut plain = run(&with(&[]));
    let before = plain.clone();
    assert_eq!(
        config::apply_key_file(&mut plain, Ok((vec![], 0o777))),
        Ok(())
    );
    assert_eq!(plain, before);
}

#[test]
fn keys_never_show_in_debug_output() {
    let mut config = run(&with(&["--key-file", "/k"]));
    config::apply_key_file(&mut config, Ok((KEY_A.as_bytes().to_vec(), 0o600))).unwrap();
    let shown = format!("{config:?}");
    assert!(shown.contains("Key(32 bytes)"), "{shown}");
    assert!(
        !shown.contains("0, 17, 34") && !shown.contains("00112233"),
        "{shown}"
    );
}

#[test]
fn liveness() {
    let secs = |s: u64| Some(Duration::from_secs(s));
    assert_eq!(run(&with(&[])).liveness_interval, secs(900));
    assert_eq!(run(&with(&["--liveness", "0"])).liveness_interval, None);
    assert_eq!(
        run(&with(&["--liveness", "10"])).liveness_interval,
        secs(10)
    );
    assert_eq!(
        run(&with(&["--liveness=86400"])).liveness_interval,
        secs(86400)
    );
    assert_eq!(
        run(&with(&["--liveness", "300"])).liveness_interval,
        secs(300)
    );
    assert_eq!(run(&with(&["--live", "60"])).liveness_interval, secs(60));
    assert_eq!(
        run(&with(&["--liveness", "60", "--liveness", "0"])).liveness_interval,
        None
    );
}

#[test]
fn limits() {
    let limits = |extra: &[&str]| run(&with(extra)).limits;
    let default = limits(&[]);
    assert_eq!(default, Limits::default());
    assert_eq!(
        limits(&[
            "--max-clients",
            "1",
            "--max-addresses=1024",
            "--max-queued-packets",
            "65536",
            "--max-control-connections",
            "2",
        ]),
        Limits {
            clients: 1,
            addresses_per_client: 1024,
            queued_packets: 65536,
            control_connections: 2,
        }
    );
    assert_eq!(
        limits(&["--max-clients", "16384", "--max-clients", "500"]).clients,
        500,
        "the last one counts"
    );
    // Long options may be abbreviated as long as they stay unambiguous.
    assert_eq!(limits(&["--max-a", "8"]).addresses_per_client, 8);
    assert_eq!(limits(&["--max-q", "8"]).queued_packets, 8);
    assert_eq!(limits(&["--max-co", "8"]).control_connections, 8);
    assert_eq!(limits(&["--max-cl", "8"]).clients, 8);
    assert_eq!(
        run(&with(&["--max-c", "8"])).warnings,
        vec![
            "ignoring ambiguous option '--max-c' (could be --max-clients, \
             --max-control-connections)",
            "ignoring non-option argument '8'",
        ]
    );
}

#[test]
fn release_protocol() {
    assert_eq!(run(&with(&[])).release_protocol, Some(159));
    assert_eq!(
        run(&with(&["--release-protocol", "0"])).release_protocol,
        None
    );
    assert_eq!(
        run(&with(&["--release-protocol", "1"])).release_protocol,
        Some(1)
    );
    assert_eq!(
        run(&with(&["--release-protocol=255"])).release_protocol,
        Some(255)
    );
    assert_eq!(
        run(&with(&["--release", "200"])).release_protocol,
        Some(200)
    );
}

#[test]
fn netlink_rcvbuf() {
    assert_eq!(run(&with(&[])).netlink_rcvbuf, 4 << 20);
    assert_eq!(
        run(&with(&["--netlink-rcvbuf", "4096"])).netlink_rcvbuf,
        4096
    );
    assert_eq!(
        run(&with(&["--netlink-rcvbuf=268435456"])).netlink_rcvbuf,
        256 << 20
    );
    // The unique abbreviation, as getopt_long takes it: `--n` alone is ambiguous.
    assert_eq!(run(&with(&["--ne", "65536"])).netlink_rcvbuf, 65536);
    let why = "(expected 4096..268435456 bytes)";
    for bad in [
        "4095",
        "268435457",
        "4M",
        "-1",
        "",
        "0x1000",
        "99999999999999999999999",
    ] {
        assert_eq!(
            error(&with(&["--netlink-rcvbuf", bad])),
            format!("--netlink-rcvbuf: invalid buffer size '{bad}' {why}"),
            "{bad}"
        );
    }
    assert_eq!(
        error(&with(&["--netlink-rcvbuf"])),
        "--netlink-rcvbuf requires an argument"
    );
}

// ---------------------------------------------------------------------------------------------
// getopt syntax

#[test]
fn short_options_cluster() {
    assert_eq!(run(&with(&["-dv"])).log_level, LogLevel::Debug);
    assert_eq!(run(&with(&["-vd"])).log_level, LogLevel::Debug);
    let config = run(&["-dva", "fd00::1", "-vp2001:db8::/64", "-dt11"]);
    assert_eq!(config.log_level, LogLevel::Debug);
    assert_eq!(config.node_ip, ip("fd00::1"));
    assert_eq!(config.client_prefixes, vec![prefix("2001:db8::/64")]);
    assert_eq!(config.export_table, 11);
}

#[test]
fn arguments_may_be_attached() {
    let config = run(&[
        "-afd00::1",
        "-p2001:db8::/64",
        "-p10.0.0.0/8",
        "-t300",
        "-mmesh0",
        "-ibr0",
        "-bbr0",
        "-s/run/l3.sock",
        "-Dtun9",
        "-P2001:db8:ff::/64",
        "-e64:ff9b::/96",
        "-464:ff9b:1::/96",
    ]);
    let expected = Config {
        client_prefixes: vec![prefix("2001:db8::/64"), prefix("10.0.0.0/8")],
        node_client_prefix: p6("2001:db8:ff::/64"),
        plat_prefix: Some(p6("64:ff9b::/96")),
        v4_mapping: V4Mapping::new(p6("64:ff9b:1::/96")).unwrap(),
        client_if: Some("br0".into()),
        client_bridge: Some("br0".into()),
        mesh_ifs: strings(&["mesh0"]),
        export_table: 300,
        control_socket: Some(PathBuf::from("/run/l3.sock")),
        tun_name: "tun9".into(),
        ..defaults("fd00::1", &[])
    };
    assert_eq!(config, expected);
}

#[test]
fn an_argument_may_start_with_a_dash() {
    // getopt hands the next word to an option that needs one, whatever it looks like.
    let config = run(&with(&[
        "-m", "-d", "-i", "--no-ndp", "-n", "-v", "-b", "--",
    ]));
    assert_eq!(config.mesh_ifs, strings(&["-d"]));
    assert_eq!(config.client_if.as_deref(), Some("--no-ndp"));
    assert_eq!(config.client_bridge.as_deref(), Some("--"));
    assert_eq!(config.log_level, LogLevel::Normal);
    assert!(config.learn_from_ndp);
    // ... which is how `-p -h` becomes a bad prefix rather than a request for help.
    assert_eq!(
        error(&["-a", "fd00::1", "-p", "-h"]),
        "-p: invalid client prefix '-h' (a prefix length (/len) is required)"
    );
}

#[test]
fn double_dash_ends_the_options() {
    let config = run(&with(&["--", "-d", "-t", "main"]));
    assert_eq!(config.log_level, LogLevel::Normal);
    assert_eq!(config.export_table, 254);
    assert_eq!(
        config.warnings,
        strings(&[
            "ignoring non-option argument '-d'",
            "ignoring non-option argument '-t'",
            "ignoring non-option argument 'main'",
        ])
    );
}

#[test]
fn options_after_non_options_still_count() {
    let config = run(&[
        "start",
        "-a",
        "fd00::1",
        "-",
        "-p",
        "2001:db8::/64",
        "x",
        "-d",
    ]);
    assert_eq!(config.log_level, LogLevel::Debug);
    assert_eq!(
        config.warnings,
        strings(&[
            "ignoring non-option argument 'start'",
            "ignoring non-option argument '-'",
            "ignoring non-option argument 'x'",
        ])
    );
}

#[test]
fn unknown_options_are_tolerated_with_a_warning() {
    let config = run(&with(&[
        "-x",
        "-dqv",
        "--frobnicate",
        "--frob=1",
        "--no-n",
        "--help=yes",
    ]));
    assert_eq!(config.log_level, LogLevel::Debug);
    assert_eq!(
        config.warnings,
        strings(&[
            "ignoring unknown option '-x'",
            "ignoring unknown option '-q'",
            "ignoring unknown option '--frobnicate'",
            "ignoring unknown option '--frob=1'",
            "ignoring ambiguous option '--no-n' (could be --no-netlink, --no-nl80211, --no-ndp)",
            "ignoring '--help=yes': --help takes no argument",
        ])
    );
    let base = Config {
        log_level: LogLevel::Debug,
        warnings: Vec::new(),
        ..config
    };
    assert_eq!(
        base,
        Config {
            log_level: LogLevel::Debug,
            ..run(&with(&[]))
        }
    );
}

#[test]
fn words_in_warnings_stay_on_one_line() {
    let config = run(&with(&["two\nlines", "-\u{1b}"]));
    for warning in &config.warnings {
        assert!(!warning.chars().any(char::is_control), "{warning:?}");
    }
    assert_eq!(
        config.warnings[0],
        "ignoring non-option argument 'two\\nlines'"
    );
}

#[test]
fn compatibility_flags_n_and_c_are_ignored_with_a_warning() {
    let config = run(&with(&["-n", "clat", "-c", "/etc/l3roamd.conf"]));
    assert_eq!(
        config.warnings,
        strings(&[
            "-n 'clat' is accepted for compatibility and ignored",
            "-c '/etc/l3roamd.conf' is accepted for compatibility and ignored",
        ])
    );
    assert_eq!(
        Config {
            warnings: Vec::new(),
            ..config
        },
        run(&with(&[]))
    );
}

// ---------------------------------------------------------------------------------------------
// Order independence and repeated options

/// `pairs` rearranged, except that repeated options keep their relative order: that order
/// is meaningful (`-p` and `-m` lists, the first `-i`), the order between different options
/// is not.
fn reorder<'a>(original: &[[&'a str; 2]], arrangement: &[[&'a str; 2]]) -> Vec<&'a str> {
    let mut words = Vec::new();
    for (index, [flag, _]) in arrangement.iter().enumerate() {
        let nth = arrangement[..index]
            .iter()
            .filter(|[f, _]| f == flag)
            .count();
        let value = original.iter().filter(|[f, _]| f == flag).nth(nth).unwrap()[1];
        words.extend([*flag, value]);
    }
    words
}

fn gluon_pairs() -> Vec<[&'static str; 2]> {
    GLUON_CURRENT[..18]
        .chunks(2)
        .map(|pair| [pair[0], pair[1]])
        .collect()
}

#[test]
fn permuted_command_lines_give_the_same_config() {
    let pairs = gluon_pairs();
    let reference = run(&GLUON_CURRENT[..18]);
    for rotation in 0..pairs.len() {
        let mut rotated = pairs.clone();
        rotated.rotate_left(rotation);
        let words = reorder(&pairs, &rotated);
        assert_eq!(run(&words), reference, "{words:?}");
        rotated.reverse();
        let words = reorder(&pairs, &rotated);
        assert_eq!(run(&words), reference, "{words:?}");
    }
}

#[test]
fn ipv4_prefixes_are_mapped_with_the_final_v4_mapping_wherever_it_stands() {
    let before = run(&["-4", "64:ff9b::/96", "-a", "fd00::1", "-p", "10.0.0.0/8"]);
    let after = run(&["-a", "fd00::1", "-p", "10.0.0.0/8", "-4", "64:ff9b::/96"]);
    assert_eq!(before, after);
    let internal = after
        .v4_mapping
        .to_internal_prefix(&after.client_prefixes[0]);
    assert_eq!(internal, p6("64:ff9b::a00:0/104"));
    assert_eq!(
        after.v4_mapping.map(Ipv4Addr::new(10, 1, 2, 3)),
        ip("64:ff9b::a01:203")
    );
}

#[test]
fn client_prefixes_accumulate_in_order_without_duplicates() {
    let config = run(&[
        "-a",
        "fd00::1",
        "-p",
        "2001:db8:2::/64",
        "-p",
        "10.0.0.0/8",
        "-p",
        "2001:db8:1::/64",
        "-p",
        "2001:db8:2::/64",
        "-p",
        "2001:db8:2:0::/64",
        "-p",
        "10.0.0.0/8",
        "-p",
        "fe80::/64",
    ]);
    assert_eq!(
        config.client_prefixes,
        vec![
            prefix("2001:db8:2::/64"),
            prefix("10.0.0.0/8"),
            prefix("2001:db8:1::/64")
        ]
    );
    assert!(config.warnings.is_empty());
    // fe80::/64 is implicit; given alone it still satisfies "-p is mandatory".
    assert!(
        run(&["-a", "fd00::1", "-p", "fe80::/64"])
            .client_prefixes
            .is_empty()
    );
}

#[test]
fn host_bits_are_cleared_with_a_warning() {
    let config = run(&["-a", "fd00::1", "-p", "2001:db8::1/64", "-p", "10.0.0.1/8"]);
    assert_eq!(
        config.client_prefixes,
        vec![prefix("2001:db8::/64"), prefix("10.0.0.0/8")]
    );
    assert_eq!(
        config.warnings,
        strings(&[
            "-p: '2001:db8::1/64' has host bits set; using 2001:db8::/64",
            "-p: '10.0.0.1/8' has host bits set; using 10.0.0.0/8",
        ])
    );
    let config = run(&with(&["-4", "64:ff9b::1/96", "-e", "64:ff9b::2/96"]));
    assert_eq!(config.v4_mapping.prefix(), p6("64:ff9b::/96"));
    assert_eq!(config.plat_prefix, Some(p6("64:ff9b::/96")));
    assert_eq!(config.warnings.len(), 2);
    // ... and a prefix equal to an earlier one once cleared is a duplicate.
    let config = run(&[
        "-a",
        "fd00::1",
        "-p",
        "2001:db8::/64",
        "-p",
        "2001:db8::9/64",
    ]);
    assert_eq!(config.client_prefixes, vec![prefix("2001:db8::/64")]);
}

#[test]
fn node_client_prefix_uses_the_first_64_bits_whatever_the_length() {
    let config = run(&with(&["-P", "fd12:3456:789a:bcde::/64"]));
    assert_eq!(config.node_client_prefix, p6("fd12:3456:789a:bcde::/64"));
    assert!(config.warnings.is_empty());

    // The C daemon parses the length and ignores it: bits 48..64 still count.
    let config = run(&with(&["-P", "fd12:3456:789a:bcde::/48"]));
    assert_eq!(config.node_client_prefix, p6("fd12:3456:789a:bcde::/64"));
    assert_eq!(
        config.warnings,
        strings(&[
            "-P: length /48 ignored; node-client IPs use the first 64 bits, fd12:3456:789a:bcde::/64"
        ])
    );

    let config = run(&with(&["-P", "fd12:3456:789a:bcde::1/64"]));
    assert_eq!(config.node_client_prefix, p6("fd12:3456:789a:bcde::/64"));
    assert_eq!(
        config.warnings,
        strings(&[
            "-P: 'fd12:3456:789a:bcde::1/64' has host bits set; using fd12:3456:789a:bcde::/64"
        ])
    );
}

#[test]
fn only_the_first_client_interface_counts() {
    let config = run(&with(&["-i", "local-node", "-i", "br-client"]));
    assert_eq!(config.client_if.as_deref(), Some("local-node"));
    assert_eq!(
        config.warnings,
        strings(&[
            "-i: ignoring 'br-client'; only the first client interface ('local-node') counts"
        ])
    );
}

#[test]
fn the_last_one_wins_for_single_valued_options() {
    let config = run(&with(&[
        "-P",
        "fd00:1::/64",
        "-P",
        "fd00:2::/64",
        "-e",
        "64:ff9b:1::/96",
        "-e",
        "64:ff9b:2::/96",
        "-4",
        "64:ff9b:3::/96",
        "-4",
        "64:ff9b:4::/96",
        "-t",
        "11",
        "-t",
        "12",
        "-s",
        "/run/a.sock",
        "-s",
        "/run/b.sock",
        "-D",
        "tun1",
        "-D",
        "tun2",
        "-b",
        "br0",
        "-b",
        "br1",
    ]));
    assert_eq!(config.node_client_prefix, p6("fd00:2::/64"));
    assert_eq!(config.plat_prefix, Some(p6("64:ff9b:2::/96")));
    assert_eq!(config.v4_mapping.prefix(), p6("64:ff9b:4::/96"));
    assert_eq!(config.export_table, 12);
    assert_eq!(config.control_socket, Some(PathBuf::from("/run/b.sock")));
    assert_eq!(config.tun_name, "tun2");
    assert_eq!(config.client_bridge.as_deref(), Some("br1"));
    assert!(config.warnings.is_empty());
}

#[test]
fn mesh_interfaces_accumulate_without_duplicates() {
    let config = run(&with(&[
        "-m", "mesh0", "-m", "mesh-vpn", "-m", "mesh0", "-m", "mesh1",
    ]));
    assert_eq!(config.mesh_ifs, strings(&["mesh0", "mesh-vpn", "mesh1"]));
}

#[test]
fn boundaries_that_are_accepted() {
    assert_eq!(run(&with(&["-t", "1"])).export_table, 1);
    assert_eq!(run(&with(&["-t", "4294967295"])).export_table, u32::MAX);
    assert_eq!(run(&with(&["-t", "0254"])).export_table, 254);
    let path = format!("/{}", "s".repeat(106));
    assert_eq!(
        run(&with(&["-s", &path])).control_socket,
        Some(PathBuf::from(&path))
    );
    assert_eq!(run(&with(&["-m", "a"])).mesh_ifs, strings(&["a"]));
    let name = "abcdefghijklmno";
    assert_eq!(run(&with(&["-i", name])).client_if.as_deref(), Some(name));
    assert_eq!(run(&with(&["-D", name])).tun_name, name);
    assert_eq!(
        run(&["-a", "::1", "-p", "2001:db8::/64"]).node_ip,
        Ipv6Addr::LOCALHOST
    );
    assert_eq!(
        run(&with(&["-p", "::/0", "-p", "0.0.0.0/0"]))
            .client_prefixes
            .len(),
        3
    );
}

// ---------------------------------------------------------------------------------------------
// Errors

#[test]
fn mandatory_and_unique_node_ip() {
    assert_eq!(
        error(&["-p", "2001:db8::/64"]),
        "specifying -a is mandatory"
    );
    assert_eq!(error::<&str>(&[]), "specifying -a is mandatory");
    assert_eq!(error(&["-a", "fd00::1"]), "specifying -p is mandatory");
    assert_eq!(
        error(&with(&["-a", "fd00::1"])),
        "-a must not be specified more than once"
    );
    assert_eq!(
        error(&with(&["-a", "fd00::2"])),
        "-a must not be specified more than once"
    );
}

#[test]
fn every_bad_value_is_one_line_naming_flag_and_value() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["-a", "fd00::1/128"],
            "-a: invalid node IP 'fd00::1/128' (expected an IPv6 address without /len)",
        ),
        (
            &["-a", "10.0.0.1"],
            "-a: invalid node IP '10.0.0.1' (expected an IPv6 address without /len)",
        ),
        (
            &["-a", ""],
            "-a: invalid node IP '' (expected an IPv6 address without /len)",
        ),
        (
            &["-a", "::"],
            "-a: invalid node IP '::' (the unspecified address cannot be a node IP)",
        ),
        (
            &["-a", "ff02::1"],
            "-a: invalid node IP 'ff02::1' (a multicast address cannot be a node IP)",
        ),
        (
            &["-p", "2001:db8::"],
            "-p: invalid client prefix '2001:db8::' (a prefix length (/len) is required)",
        ),
        (
            &["-p", "2001:db8::/"],
            "-p: invalid client prefix '2001:db8::/' (prefix length out of range)",
        ),
        (
            &["-p", "::/129"],
            "-p: invalid client prefix '::/129' (prefix length out of range)",
        ),
        (
            &["-p", "10.0.0.0/33"],
            "-p: invalid client prefix '10.0.0.0/33' (prefix length out of range)",
        ),
        (
            &["-p", "x/8"],
            "-p: invalid client prefix 'x/8' (not an IP address)",
        ),
        (
            &["-p", "10.0.0/8"],
            "-p: invalid client prefix '10.0.0/8' (not an IP address)",
        ),
        (
            &["-P", "10.0.0.0/8"],
            "-P: invalid node-client prefix '10.0.0.0/8' (expected an IPv6 prefix)",
        ),
        (
            &["-P", "fd00::"],
            "-P: invalid node-client prefix 'fd00::' (a prefix length (/len) is required)",
        ),
        (
            &["-P", "fd00::/200"],
            "-P: invalid node-client prefix 'fd00::/200' (prefix length out of range)",
        ),
        (
            &["-e", "64:ff9b::/64"],
            "-e: invalid PLAT prefix '64:ff9b::/64' (PLAT-prefix must be /96)",
        ),
        (
            &["-e", "192.0.2.0/24"],
            "-e: invalid PLAT prefix '192.0.2.0/24' (expected an IPv6 prefix)",
        ),
        (
            &["-e", "64:ff9b::"],
            "-e: invalid PLAT prefix '64:ff9b::' (a prefix length (/len) is required)",
        ),
        (
            &["-4", "::ffff:0:0/64"],
            "-4: invalid IPv4 mapping prefix '::ffff:0:0/64' (must be a /96)",
        ),
        (
            &["-4", "192.0.2.0/24"],
            "-4: invalid IPv4 mapping prefix '192.0.2.0/24' (expected an IPv6 prefix)",
        ),
        (
            &["-4", "nonsense/96"],
            "-4: invalid IPv4 mapping prefix 'nonsense/96' (not an IP address)",
        ),
        (
            &["-t", "0"],
            "-t: invalid table '0' (expected 1..4294967295)",
        ),
        (
            &["-t", "main"],
            "-t: invalid table 'main' (expected 1..4294967295)",
        ),
        (
            &["-t", "4294967296"],
            "-t: invalid table '4294967296' (expected 1..4294967295)",
        ),
        (
            &["-t", "-1"],
            "-t: invalid table '-1' (expected 1..4294967295)",
        ),
        (
            &["-t", "+5"],
            "-t: invalid table '+5' (expected 1..4294967295)",
        ),
        (
            &["-t", " 5"],
            "-t: invalid table ' 5' (expected 1..4294967295)",
        ),
        (&["-t", ""], "-t: invalid table '' (expected 1..4294967295)"),
        (&["-s", ""], "-s: invalid control socket path '' (empty)"),
        (&["-i", ""], "-i: invalid interface name '' (empty)"),
        (
            &["-i", "abcdefghijklmnop"],
            "-i: invalid interface name 'abcdefghijklmnop' (16 bytes, at most 15)",
        ),
        (
            &["-i", "a/b"],
            "-i: invalid interface name 'a/b' (contains '/', ':' or whitespace)",
        ),
        (&["-b", ""], "-b: invalid interface name '' (empty)"),
        (
            &["-b", "br client"],
            "-b: invalid interface name 'br client' (contains '/', ':' or whitespace)",
        ),
        (
            &["-b", "abcdefghijklmnop"],
            "-b: invalid interface name 'abcdefghijklmnop' (16 bytes, at most 15)",
        ),
        (&["-m", ""], "-m: invalid interface name '' (empty)"),
        (
            &["-m", "mesh0:1"],
            "-m: invalid interface name 'mesh0:1' (contains '/', ':' or whitespace)",
        ),
        (
            &["-m", ".."],
            "-m: invalid interface name '..' (not a name)",
        ),
        (
            &["-m", "abcdefghijklmnop"],
            "-m: invalid interface name 'abcdefghijklmnop' (16 bytes, at most 15)",
        ),
        (&["-D", ""], "-D: invalid tun device name '' (empty)"),
        (
            &["-D", "abcdefghijklmnop"],
            "-D: invalid tun device name 'abcdefghijklmnop' (16 bytes, at most 15)",
        ),
        (
            &["--liveness", "abc"],
            "--liveness: invalid interval 'abc' (expected 0 to disable, or 10..86400 seconds)",
        ),
        (
            &["--liveness", "9"],
            "--liveness: invalid interval '9' (expected 0 to disable, or 10..86400 seconds)",
        ),
        (
            &["--liveness", "86401"],
            "--liveness: invalid interval '86401' (expected 0 to disable, or 10..86400 seconds)",
        ),
        (
            &["--liveness", "-1"],
            "--liveness: invalid interval '-1' (expected 0 to disable, or 10..86400 seconds)",
        ),
        (
            &["--liveness", "1e3"],
            "--liveness: invalid interval '1e3' (expected 0 to disable, or 10..86400 seconds)",
        ),
        (
            &["--release-protocol", "158"],
            "--release-protocol: invalid route protocol '158' (expected 0 to delete at once, or 1..255 other than 158)",
        ),
        (
            &["--release-protocol", "256"],
            "--release-protocol: invalid route protocol '256' (expected 0 to delete at once, or 1..255 other than 158)",
        ),
        (
            &["--release-protocol", "-1"],
            "--release-protocol: invalid route protocol '-1' (expected 0 to delete at once, or 1..255 other than 158)",
        ),
        (
            &["--release-protocol", "abc"],
            "--release-protocol: invalid route protocol 'abc' (expected 0 to delete at once, or 1..255 other than 158)",
        ),
        (
            &["--release-protocol", "0159"],
            "--release-protocol: invalid route protocol '0159' (expected 0 to delete at once, or 1..255 other than 158)",
        ),
        (
            &["--release-protocol", ""],
            "--release-protocol: invalid route protocol '' (expected 0 to delete at once, or 1..255 other than 158)",
        ),
        (
            &["--liveness="],
            "--liveness: invalid interval '' (expected 0 to disable, or 10..86400 seconds)",
        ),
        (
            &["--babeld", "0"],
            "--babeld: invalid endpoint '0' (expected a TCP port 1..65535 or a Unix socket path starting with /)",
        ),
        (
            &["--babeld", "65536"],
            "--babeld: invalid endpoint '65536' (expected a TCP port 1..65535 or a Unix socket path starting with /)",
        ),
        (
            &["--babeld", "+80"],
            "--babeld: invalid endpoint '+80' (expected a TCP port 1..65535 or a Unix socket path starting with /)",
        ),
        (
            &["--babeld", "run/babeld.sock"],
            "--babeld: invalid endpoint 'run/babeld.sock' (expected a TCP port 1..65535 or a Unix socket path starting with /)",
        ),
        (
            &["--babeld", "::1:33123"],
            "--babeld: invalid endpoint '::1:33123' (expected a TCP port 1..65535 or a Unix socket path starting with /)",
        ),
        (
            &["--babeld="],
            "--babeld: invalid endpoint '' (expected a TCP port 1..65535 or a Unix socket path starting with /)",
        ),
        (
            &["--max-clients", "0"],
            "--max-clients: invalid client count '0' (expected 1..16384)",
        ),
        (
            &["--max-clients", "16385"],
            "--max-clients: invalid client count '16385' (expected 1..16384)",
        ),
        (
            &["--max-clients", "many"],
            "--max-clients: invalid client count 'many' (expected 1..16384)",
        ),
        (
            &["--max-addresses", "1025"],
            "--max-addresses: invalid address count '1025' (expected 1..1024)",
        ),
        (
            &["--max-addresses", "+5"],
            "--max-addresses: invalid address count '+5' (expected 1..1024)",
        ),
        (
            &["--max-queued-packets", "65537"],
            "--max-queued-packets: invalid packet count '65537' (expected 1..65536)",
        ),
        (
            &["--max-queued-packets="],
            "--max-queued-packets: invalid packet count '' (expected 1..65536)",
        ),
        (
            &["--max-control-connections", "0"],
            "--max-control-connections: invalid connection count '0' (expected 1..1024)",
        ),
        (
            &["--max-control-connections", "99999999999999999999999"],
            "--max-control-connections: invalid connection count '99999999999999999999999' (expected 1..1024)",
        ),
    ];
    for (extra, expected) in cases {
        // The bad value is never masked by where it stands: first, last, or overridden.
        let mut words: Vec<&str> = vec!["-a", "fd00::9", "-p", "2001:db8::/64"];
        if extra[0] == "-a" {
            words = vec!["-p", "2001:db8::/64"];
        }
        let mut first = extra.to_vec();
        first.extend(&words);
        let mut last = words.clone();
        last.extend(extra.iter());
        for line in [first, last] {
            let message = error(&line);
            assert_eq!(&message, expected, "{line:?}");
            assert!(!message.contains('\n'));
        }
    }
    // The socket path must fit sockaddr_un.
    let long = format!("/{}", "s".repeat(107));
    assert_eq!(
        error(&with(&["-s", &long])),
        format!("-s: invalid control socket path '{long}' (108 bytes, at most 107)")
    );
    assert_eq!(
        error(&with(&["--babeld", &long])),
        format!("--babeld: invalid endpoint '{long}' (108 bytes, at most 107)")
    );
}

#[test]
fn an_option_without_its_argument_at_the_end_is_an_error() {
    for flag in [
        "-a", "-p", "-P", "-e", "-4", "-i", "-b", "-m", "-t", "-s", "-D", "-n", "-c",
    ] {
        assert_eq!(
            error(&with(&[flag])),
            format!("{flag} requires an argument"),
            "{flag}"
        );
    }
    assert_eq!(
        error(&with(&["--liveness"])),
        "--liveness requires an argument"
    );
    assert_eq!(error(&with(&["--liv"])), "--liveness requires an argument");
    assert_eq!(error(&with(&["--babeld"])), "--babeld requires an argument");
    for flag in [
        "--max-clients",
        "--max-addresses",
        "--max-queued-packets",
        "--max-control-connections",
    ] {
        assert_eq!(
            error(&with(&[flag])),
            format!("{flag} requires an argument")
        );
    }
    assert_eq!(error(&with(&["-dvt"])), "-t requires an argument");
}

#[test]
fn overridden_values_are_still_validated() {
    assert_eq!(
        error(&with(&["-t", "main", "-t", "254"])),
        "-t: invalid table 'main' (expected 1..4294967295)"
    );
    // The second -i is ignored, but a malformed one is still a mistake.
    assert_eq!(
        error(&with(&["-i", "br0", "-i", ""])),
        "-i: invalid interface name '' (empty)"
    );
}

// ---------------------------------------------------------------------------------------------
// Help and version

const EVERY_FLAG: &[&str] = &[
    "--release-protocol",
    "-a",
    "-p",
    "-P",
    "-e",
    "-4",
    "-i",
    "-b",
    "-m",
    "-t",
    "-s",
    "-D",
    "-n",
    "-c",
    "-d",
    "-v",
    "-h",
    "--help",
    "-V",
    "--version",
    "--liveness",
    "--babeld",
    "--key-file",
    "--accept-unauthenticated",
    "--netlink-rcvbuf",
    "--no-netlink",
    "--no-nl80211",
    "--no-ndp",
    "--max-clients",
    "--max-addresses",
    "--max-queued-packets",
    "--max-control-connections",
];

const EVERY_COMMAND: &[&str] = &[
    "get_clients",
    "get_stats",
    "get_prefixes",
    "get_meshifs",
    "add_meshif <if>",
    "del_meshif <if>",
    "add_prefix <prefix>",
    "del_prefix <prefix>",
    "add_address <addr> <mac>",
    "del_address <addr> <mac>",
    "probe <addr> <mac>",
    "verbosity none|verbose|debug",
    "has_route <addr>",
];

/// The flags the `-h` text lists in its option rows.
fn flags_in_usage() -> Vec<String> {
    let text = config::usage();
    let options = text
        .split("Options:\n")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .expect("an Options section");
    let mut flags = Vec::new();
    for line in options.lines() {
        let indent = line.len() - line.trim_start().len();
        // Option rows start at column 4 (8 for long-only ones); wrapped help text at 24.
        if indent > 8 || !line.trim_start().starts_with('-') {
            continue;
        }
        for token in line.split_whitespace() {
            let token = token.trim_end_matches(',');
            if !token.starts_with('-') {
                break;
            }
            flags.push(token.to_string());
        }
    }
    flags.sort();
    flags
}

/// The flags in the first column of the README's flag table.
fn flags_in_readme() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let section = readme
        .split("<!-- flags:begin -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- flags:end -->").next())
        .expect("flags markers in README.md");
    let mut flags = Vec::new();
    for row in section.lines().filter(|l| l.starts_with('|')) {
        let first_cell = row.split('|').nth(1).unwrap_or("");
        for quoted in first_cell.split('`').skip(1).step_by(2) {
            if quoted.starts_with('-') {
                flags.push(quoted.to_string());
            }
        }
    }
    flags.sort();
    flags
}

#[test]
fn help_lists_every_flag_and_every_control_command() {
    let mut expected = strings(EVERY_FLAG);
    expected.sort();
    assert_eq!(flags_in_usage(), expected);
    let text = config::usage();
    for command in EVERY_COMMAND {
        assert!(text.contains(command), "{command} missing from -h");
    }
    for default in [
        "fec0::/64",
        "::ffff:0:0/96",
        "254",
        "l3roam0",
        "900",
        "159",
        "4096",
        "64",
        "16",
    ] {
        assert!(text.contains(&format!("(default {default})")), "{default}");
    }
}

/// The command names of the `-h` text's command rows, in their order.
fn commands_in_usage() -> Vec<String> {
    let text = config::usage();
    let rows = text
        .split("Control socket commands")
        .nth(1)
        .expect("a commands section");
    rows.lines()
        .skip(1)
        .filter_map(|row| row.split_whitespace().next())
        .map(String::from)
        .collect()
}

#[test]
fn help_lists_exactly_the_commands_the_parser_knows() {
    assert_eq!(commands_in_usage(), strings(COMMAND_NAMES));
}

#[test]
fn readme_flag_table_matches_the_help_text() {
    assert_eq!(flags_in_readme(), flags_in_usage());
}

#[test]
fn help_and_version_win_over_everything_else() {
    assert_eq!(config::parse(&argv(&["-h"])), Ok(Action::Help));
    assert_eq!(config::parse(&argv(&["--help"])), Ok(Action::Help));
    assert_eq!(config::parse(&argv(&["--he"])), Ok(Action::Help));
    assert_eq!(config::parse(&argv(&["-V"])), Ok(Action::Version));
    assert_eq!(config::parse(&argv(&["--version"])), Ok(Action::Version));
    assert_eq!(config::parse(&argv(&["--vers"])), Ok(Action::Version));
    assert_eq!(config::parse(&argv(&["-dh"])), Ok(Action::Help));
    assert_eq!(
        config::parse(&argv(&["-t", "main", "-h"])),
        Ok(Action::Help)
    );
    assert_eq!(config::parse(&argv(&["-h", "-p"])), Ok(Action::Help));
    assert_eq!(config::parse(&argv(&["-V", "-h"])), Ok(Action::Version));
    assert_eq!(config::parse(&argv(&["-h", "-V"])), Ok(Action::Help));
}

#[test]
fn version_text_starts_with_the_name() {
    let text = config::version_text();
    let first = text.lines().next().unwrap();
    assert_eq!(first, format!("l3roamd {}", l3roamd::VERSION));
}

// ---------------------------------------------------------------------------------------------
// Properties

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("-a".to_string()),
        Just("-p".to_string()),
        Just("-4".to_string()),
        Just("--".to_string()),
        Just("-".to_string()),
        Just("--liveness".to_string()),
        Just("--babeld".to_string()),
        Just("--key-file".to_string()),
        Just("--accept-unauthenticated".to_string()),
        Just("fd00::1".to_string()),
        Just("10.0.0.0/8".to_string()),
        "-[a-zA-Z0-9]{1,4}",
        "--[a-z-]{0,12}(=[a-z0-9]{0,3})?",
        "[ -~]{0,20}",
        any::<String>(),
    ]
}

proptest! {
    #[test]
    fn parse_never_panics(words in prop::collection::vec(word(), 0..12)) {
        if let Err(err) = config::parse(&words) {
            prop_assert!(!err.to_string().contains('\n'));
        }
    }

    #[test]
    fn option_order_does_not_matter(shuffled in Just(gluon_pairs()).prop_shuffle()) {
        let words = reorder(&gluon_pairs(), &shuffled);
        prop_assert_eq!(run(&words), run(&GLUON_CURRENT[..18]));
    }
}

// ---------------------------------------------------------------------------------------------
// The binary

fn daemon(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_l3roamd"))
        .args(args)
        .env("RUST_LOG", "off")
        .output()
        .expect("run l3roamd")
}

#[test]
fn binary_exits_2_with_one_line_naming_flag_and_value() {
    let out = daemon(&["-a", "fd00::1", "-p", "2001:db8::/64", "-t", "main"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "l3roamd: -t: invalid table 'main' (expected 1..4294967295)",
            "Try 'l3roamd -h'."
        ]
    );

    let out = daemon(&["-p", "2001:db8::/64"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr.lines().next(),
        Some("l3roamd: specifying -a is mandatory")
    );

    let out = daemon(&["-a", "fd00::1", "-p"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr.lines().next(),
        Some("l3roamd: -p requires an argument")
    );
}

#[test]
fn binary_help_and_version_exit_0() {
    let out = daemon(&["-h"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), config::usage());
    assert!(out.stderr.is_empty());

    for flag in ["-V", "--version"] {
        let out = daemon(&[flag]);
        assert_eq!(out.status.code(), Some(0));
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(stdout.starts_with("l3roamd "), "{stdout:?}");
        assert!(out.stderr.is_empty());
    }
}

#[test]
fn binary_logs_warnings_once_logging_is_up_whatever_rust_log_says() {
    let out = daemon(&["-a", "fd00::1", "-p", "2001:db8::/64", " -P fd12::/64"]);
    // fd00::1 is no address of this machine: binding the node socket fails before anything
    // is touched, a runtime failure (1, procd respawns), not a usage error (2).
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("ignoring non-option argument ' -P fd12::/64'"),
        "{stderr}"
    );
    assert!(
        stderr.contains("binding [fd00::1]:5523 (is the node IP configured on this node?)"),
        "{stderr}"
    );
}

#[test]
fn binary_rejects_arguments_that_are_not_utf8() {
    use std::os::unix::ffi::OsStrExt;
    let out = Command::new(env!("CARGO_BIN_EXE_l3roamd"))
        .args(["-a", "fd00::1", "-p", "2001:db8::/64", "-m"])
        .arg(std::ffi::OsStr::from_bytes(b"mesh\xff"))
        .output()
        .expect("run l3roamd");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.starts_with("l3roamd: argument "), "{stderr}");
    assert!(stderr.contains("not valid UTF-8"), "{stderr}");
}

/// A directory of its own for one test's files, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("l3roamd-cli-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn file(&self, name: &str, text: &str, mode: u32) -> String {
        use std::os::unix::fs::PermissionsExt;
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn binary_exits_2_on_a_bad_key_file_naming_file_and_line() {
    let dir = TempDir::new("bad-key");
    let bad = dir.file(
        "keys",
        &format!("# keys\n{KEY_A}\n{}\n", &KEY_B[..20]),
        0o600,
    );
    let out = daemon(&["-a", "fd00::1", "-p", "2001:db8::/64", "--key-file", &bad]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            format!("l3roamd: --key-file: '{bad}' line 3: a key of 10 bytes; keys are 16..64 bytes (32..128 hex digits)").as_str(),
            "Try 'l3roamd -h'."
        ]
    );
    assert!(!stderr.contains(&KEY_B[..20]));

    let missing = format!("{}/none", dir.0.display());
    let out = daemon(&[
        "-a",
        "fd00::1",
        "-p",
        "2001:db8::/64",
        "--key-file",
        &missing,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr.lines().next(),
        Some(format!("l3roamd: --key-file: cannot read '{missing}': No such file or directory (os error 2)").as_str())
    );

    let out = daemon(&[
        "-a",
        "fd00::1",
        "-p",
        "2001:db8::/64",
        "--key-file",
        &dir.0.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(2), "a directory is no key file");
}

#[test]
fn binary_warns_about_a_key_file_others_can_read_and_carries_on() {
    let dir = TempDir::new("loose-key");
    let loose = dir.file("keys", &format!("{KEY_A}\n"), 0o644);
    let out = daemon(&["-a", "fd00::1", "-p", "2001:db8::/64", "--key-file", &loose]);
    // It got as far as binding the node IP, which this machine does not have.
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "--key-file: '{loose}' is readable by group or others (mode 0644)"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains(&KEY_A[..8]), "{stderr}");

    let tight = dir.file("tight", &format!("{KEY_A}\n"), 0o600);
    let out = daemon(&["-a", "fd00::1", "-p", "2001:db8::/64", "--key-file", &tight]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stderr.contains("readable by"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// The man page (doc/l3roamd.8), checked against the parser so that it cannot fall behind it.
// Its conventions: every flag is the tag of a `.TP` under `.SH OPTIONS`, every control command
// the tag of a `.TP` under `.SS Commands`, every get_stats group the tag of a `.TP` under
// `.SS Statistics`, and a default is written `Default: VALUE.`

const MAN_PAGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/doc/l3roamd.8");

fn man_page() -> String {
    std::fs::read_to_string(MAN_PAGE).expect("doc/l3roamd.8")
}

/// A man(7) source line as it reads: the macro name dropped, quotes, font changes and the
/// escapes the page uses resolved.
fn man_text(line: &str) -> String {
    let body = match line.strip_prefix('.') {
        Some(request) => request.split_once(' ').map_or("", |(_, args)| args),
        None => line,
    };
    let mut text = body.replace("\\-", "-").replace("\\ ", " ");
    for escape in ["\\&", "\\fB", "\\fI", "\\fR", "\\fP", "\""] {
        text = text.replace(escape, "");
    }
    text
}

/// The `.TP` entries under `heading` (an exact `.SH` or `.SS` line), as (tag, body) text. An
/// entry ends at the next `.TP`, heading, or `.PP` outside an indented block.
fn man_entries(page: &str, heading: &str) -> Vec<(String, String)> {
    let mut lines = page.lines().skip_while(|l| *l != heading).skip(1);
    let mut entries = Vec::new();
    let mut current: Option<(String, String)> = None;
    let mut depth = 0;
    while let Some(line) = lines.next() {
        match line {
            _ if line.starts_with(".SH") || line.starts_with(".SS") => break,
            ".TP" => {
                entries.extend(current.take());
                current = Some((
                    lines.next().map(man_text).unwrap_or_default(),
                    String::new(),
                ));
            }
            ".RS" => depth += 1,
            ".RE" => depth -= 1,
            ".PP" if depth == 0 => entries.extend(current.take()),
            _ if line.starts_with(".\\\"") => {}
            _ => {
                if let Some((_, body)) = &mut current {
                    body.push_str(&man_text(line));
                    body.push(' ');
                }
            }
        }
    }
    entries.extend(current);
    assert!(!entries.is_empty(), "no .TP entries under {heading:?}");
    entries
}

/// The flags a tag names (`-h, --help` names two).
fn flags_in_tag(tag: &str) -> Vec<String> {
    tag.split_whitespace()
        .map(|word| word.trim_end_matches(','))
        .filter(|word| word.starts_with('-'))
        .map(String::from)
        .collect()
}

fn first_words(entries: &[(String, String)]) -> Vec<String> {
    let mut words: Vec<String> = entries
        .iter()
        .filter_map(|(tag, _)| tag.split_whitespace().next())
        .map(String::from)
        .collect();
    words.sort();
    words
}

#[test]
fn man_page_documents_every_flag_and_no_other() {
    let mut documented: Vec<String> = man_entries(&man_page(), ".SH OPTIONS")
        .iter()
        .flat_map(|(tag, _)| flags_in_tag(tag))
        .collect();
    documented.sort();
    let mut expected = strings(EVERY_FLAG);
    expected.sort();
    assert_eq!(documented, expected);
}

#[test]
fn man_page_documents_every_control_command_and_no_other() {
    let mut expected = strings(COMMAND_NAMES);
    expected.sort();
    assert_eq!(
        first_words(&man_entries(&man_page(), ".SS Commands")),
        expected
    );
}

/// The top-level member names of a JSON object, in order.
fn json_top_level_keys(json: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let (mut depth, mut string, mut in_string) = (0, String::new(), false);
    let mut chars = json.chars();
    while let Some(c) = chars.next() {
        match (in_string, c) {
            (true, '\\') => string.extend(chars.next()),
            (true, '"') => in_string = false,
            (true, c) => string.push(c),
            (false, '"') => (in_string, string) = (true, String::new()),
            (false, '{') => depth += 1,
            (false, '}') => depth -= 1,
            (false, ':') if depth == 1 => keys.push(std::mem::take(&mut string)),
            _ => {}
        }
    }
    keys
}

#[test]
fn man_page_describes_every_get_stats_group() {
    let json = l3roamd::engine::stats::Stats::default().to_json();
    let mut groups = json_top_level_keys(&json);
    assert!(groups.len() > 10, "{json}");
    groups.sort();
    let mut described: Vec<String> = man_entries(&man_page(), ".SS Statistics")
        .iter()
        .flat_map(|(tag, _)| {
            tag.split_whitespace()
                .map(|word| word.trim_end_matches(',').to_string())
                .filter(|word| !word.is_empty())
                .collect::<Vec<_>>()
        })
        .collect();
    described.sort();
    assert_eq!(described, groups);
}

#[test]
fn man_page_states_the_parsers_defaults() {
    let config = run(&["-a", NODE_IP, "-p", "2001:db8::/64"]);
    let stated: std::collections::BTreeMap<String, String> =
        man_entries(&man_page(), ".SH OPTIONS")
            .into_iter()
            .filter_map(|(tag, body)| {
                let flag = flags_in_tag(&tag).into_iter().next()?;
                let value = body.split("Default: ").nth(1)?.split_whitespace().next()?;
                Some((flag, value.trim_end_matches(['.', ',', ';']).to_string()))
            })
            .collect();
    let limits = config.limits;
    let numeric = [
        ("-t", config.export_table.to_string()),
        (
            "--liveness",
            config
                .liveness_interval
                .map_or(0, |interval| interval.as_secs())
                .to_string(),
        ),
        (
            "--release-protocol",
            config.release_protocol.unwrap_or(0).to_string(),
        ),
        ("--max-clients", limits.clients.to_string()),
        ("--max-addresses", limits.addresses_per_client.to_string()),
        ("--max-queued-packets", limits.queued_packets.to_string()),
        (
            "--max-control-connections",
            limits.control_connections.to_string(),
        ),
        ("--netlink-rcvbuf", config.netlink_rcvbuf.to_string()),
    ];
    for (flag, default) in &numeric {
        assert_eq!(stated.get(*flag), Some(default), "{flag}");
    }
    // A numeric default stated for another flag would go unchecked: it belongs above.
    for (flag, value) in &stated {
        if value.starts_with(|c: char| c.is_ascii_digit()) {
            assert!(numeric.iter().any(|(f, _)| f == flag), "{flag}: {value}");
        }
    }
    assert_eq!(stated.get("-D"), Some(&config.tun_name));
    assert_eq!(
        stated.get("-P").map(|v| p6(v)),
        Some(config.node_client_prefix)
    );
    assert_eq!(
        stated.get("-4").map(|v| p6(v)),
        Some(config.v4_mapping.prefix())
    );
}

#[test]
fn man_page_names_the_package_version() {
    let page = man_page();
    let title = page
        .lines()
        .find(|line| line.starts_with(".TH "))
        .expect("a .TH line");
    let version = format!("\"l3roamd {}\"", env!("CARGO_PKG_VERSION"));
    assert!(title.contains(&version), "{title} lacks {version}");
}

/// Runs a linter on the page: `None` when it is not installed, else (success, its output).
fn lint(program: &str, args: &[&str]) -> Option<(bool, String)> {
    let out = match Command::new(program).args(args).arg(MAN_PAGE).output() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("{program} is not installed: the man page is not checked with it");
            return None;
        }
        other => other.expect(program),
    };
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    Some((out.status.success(), text.into_owned()))
}

/// scripts/prerequisites.sh installs both tools, so CI runs this in full.
#[test]
fn man_page_lints_clean_and_fits_80_columns() {
    if let Some((ok, messages)) = lint("mandoc", &["-Tlint"]) {
        assert!(ok && messages.is_empty(), "mandoc -Tlint:\n{messages}");
    }
    if let Some((ok, messages)) = lint("groff", &["-man", "-ww", "-z"]) {
        assert!(ok && messages.is_empty(), "groff -ww:\n{messages}");
    }
    // Examples are not filled: one too wide would run past an 80-column terminal.
    if let Some((ok, rendered)) = lint("mandoc", &["-Tascii", "-Owidth=78"]) {
        assert!(ok);
        // -Tascii draws bold and underline by overstriking: drop each character a
        // backspace takes back.
        let mut plain = String::new();
        for c in rendered.chars() {
            match c {
                '\u{8}' => {
                    plain.pop();
                }
                c => plain.push(c),
            }
        }
        for line in plain.lines() {
            assert!(line.chars().count() <= 80, "too wide: {line:?}");
        }
    }
}
