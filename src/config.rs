//! The command line: words in, a validated [`Config`] (or a request for help or the version)
//! out.
//!
//! Pure: no I/O, no environment, no clock. The syntax is GNU `getopt_long`'s, reproduced to
//! the corner cases because Gluon's init script depends on them: its `-P` word starts with a
//! space, so getopt treats it as a non-option and the C daemon keeps `fec0::/64`; we must keep
//! it too, or our node-client IPs would differ from those of C nodes in the same mesh.
//!
//! The meaning is order-independent (the C daemon acted while parsing): every word is scanned
//! first, then every value is validated, and only a complete [`Config`] reaches the daemon.
//!
//! The `getopts` crate cannot tokenise this command line: it stops at the first unknown
//! option, while getopt (and therefore Gluon's deployed nodes) warns and carries on. The
//! scanner below does the tokenising from one flag table, and [`usage`] renders that same
//! table as the `-h` text in getopt's layout, so the two cannot drift apart.

use std::fmt;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::prefix::{IpPrefix, Prefix6, V4Mapping};
use crate::wire::auth::{self, Key};

/// The routing table of client host routes when `-t` is absent (the kernel's `main`).
pub const DEFAULT_TABLE: u32 = 254;
/// The tun device's name when `-D` is absent.
pub const DEFAULT_TUN_NAME: &str = "l3roam0";
/// How long a client may stay silent before it is probed, when `--liveness` is absent.
pub const DEFAULT_LIVENESS: Duration = Duration::from_secs(900);
/// `--liveness` below this would probe clients that are merely idle for a moment.
pub const MIN_LIVENESS: Duration = Duration::from_secs(10);
/// `--liveness` above a day is almost certainly a unit mistake.
pub const MAX_LIVENESS: Duration = Duration::from_secs(86_400);
/// The protocol number host routes are demoted to when a client is released, when
/// `--release-protocol` is absent. Unassigned in iproute2's `rt_protos`, next to ours (158).
pub const DEFAULT_RELEASE_PROTOCOL: u8 = 159;
/// The receive buffer of the rtnetlink event socket when `--netlink-rcvbuf` is absent. A
/// bridge with a few thousand clients changes that many neighbour entries at once (a
/// reboot of the switch behind it, a flush), and each change costs the buffer about 1 KiB
/// of kernel bookkeeping; what does not fit is lost and costs a full re-read of the kernel.
pub const DEFAULT_NETLINK_RCVBUF: usize = 4 << 20;
/// Below a page the kernel's own minimum applies anyway: every notification overruns.
pub const MIN_NETLINK_RCVBUF: usize = 4096;
/// More than any router needs (the kernel doubles the value, and caps it at 2 GiB).
pub const MAX_NETLINK_RCVBUF: usize = 256 << 20;
/// Longest interface name the kernel accepts (`IFNAMSIZ` minus the terminating NUL).
pub const MAX_IFNAME_LEN: usize = 15;
/// Longest control socket path that fits `sockaddr_un.sun_path` with its terminating NUL.
pub const MAX_SOCKET_PATH_LEN: usize = 107;

/// Bounds on the tables that what others send can grow (README "Limits"). Each one hit is
/// counted in `get_stats`' `limits` group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limits {
    /// `--max-clients`: clients served at once; a new one beyond is not learned.
    pub clients: usize,
    /// `--max-addresses`: addresses of one client; a new one beyond is not learned.
    pub addresses_per_client: usize,
    /// `--max-queued-packets`: packets waiting for unknown destinations, in all.
    pub queued_packets: usize,
    /// `--max-control-connections`: control connections open at once; more are refused.
    pub control_connections: usize,
}

impl Limits {
    /// Far more than any Gluon node serves (a few hundred clients at the busiest), and still
    /// about 30 MB at 64 addresses each, which a router can afford.
    pub const DEFAULT_CLIENTS: usize = 4096;
    /// A client has a link-local, an IPv4 and a few global and temporary IPv6 addresses;
    /// privacy extensions add one a day, each removed 120 s after it goes silent.
    pub const DEFAULT_ADDRESSES_PER_CLIENT: usize = 64;
    /// A destination is found or given up within 5 s; a few hundred packets at once are a
    /// scan, not traffic. With at most 64 per destination and 1 MiB in all besides.
    pub const DEFAULT_QUEUED_PACKETS: usize = 4096;
    /// More connections at once than any Gluon script opens.
    pub const DEFAULT_CONTROL_CONNECTIONS: usize = 16;

    /// What each flag accepts: beyond the upper ends the tables would outgrow a router's
    /// memory (clients, packets) or its descriptors (connections).
    pub const CLIENTS_RANGE: std::ops::RangeInclusive<usize> = 1..=16_384;
    pub const ADDRESSES_PER_CLIENT_RANGE: std::ops::RangeInclusive<usize> = 1..=1024;
    pub const QUEUED_PACKETS_RANGE: std::ops::RangeInclusive<usize> = 1..=65_536;
    pub const CONTROL_CONNECTIONS_RANGE: std::ops::RangeInclusive<usize> = 1..=1024;
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            clients: Limits::DEFAULT_CLIENTS,
            addresses_per_client: Limits::DEFAULT_ADDRESSES_PER_CLIENT,
            queued_packets: Limits::DEFAULT_QUEUED_PACKETS,
            control_connections: Limits::DEFAULT_CONTROL_CONNECTIONS,
        }
    }
}

/// The endpoint of babeld's local interface (`--babeld`): what babeld's `-g`/`-G` take.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BabelEndpoint {
    /// A number: a TCP port on `::1`, where babeld binds it.
    Port(u16),
    /// An argument starting with `/`: a Unix stream socket.
    Path(PathBuf),
}

impl fmt::Display for BabelEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BabelEndpoint::Port(port) => write!(f, "[::1]:{port}"),
            BabelEndpoint::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

/// The node-client prefix when `-P` is absent: `fec0::/64`, the C daemon's default, which
/// every deployed Gluon node uses (its `-P` never reaches getopt, see the module docs).
pub fn default_node_client_prefix() -> Prefix6 {
    Prefix6::new(Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 64)
}

/// How much the daemon logs; `-v`, `-d` and the control command `verbosity` choose.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Errors, warnings and informational events (client appeared or left, hand-over).
    #[default]
    Normal,
    /// `-v`: additionally the verbose events.
    Verbose,
    /// `-d`: everything.
    Debug,
}

impl LogLevel {
    /// The `log` filter for this level. Kept here so the flags and the control command
    /// `verbosity` cannot disagree about what a level means.
    pub fn level_filter(self) -> log::LevelFilter {
        match self {
            LogLevel::Normal => log::LevelFilter::Info,
            LogLevel::Verbose => log::LevelFilter::Debug,
            LogLevel::Debug => log::LevelFilter::Trace,
        }
    }
}

/// Everything the command line decides, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `-a`: source address and `sender` of every intercom packet.
    pub node_ip: Ipv6Addr,
    /// `-p`, in command-line order, duplicates dropped. The implicit `fe80::/64` is not here:
    /// the engine adds it first, as the C daemon does, so `-p fe80::/64` is a duplicate too.
    /// IPv4 prefixes stay IPv4; they are mapped with the final `-4` by whoever needs them.
    pub client_prefixes: Vec<IpPrefix>,
    /// `-P`, always a /64: the C daemon ignores the given length and uses the first 64 bits
    /// of the address, and so must we for node-client IPs to agree across the mesh.
    pub node_client_prefix: Prefix6,
    /// `-e`, a /96.
    pub plat_prefix: Option<Prefix6>,
    /// `-4`.
    pub v4_mapping: V4Mapping,
    /// `-i`, the first one given.
    pub client_if: Option<String>,
    /// `-b`.
    pub client_bridge: Option<String>,
    /// `-m`, in command-line order, duplicates dropped.
    pub mesh_ifs: Vec<String>,
    /// `-t`.
    pub export_table: u32,
    /// `-s`.
    pub control_socket: Option<PathBuf>,
    /// `-D`.
    pub tun_name: String,
    /// `-v` / `-d`.
    pub log_level: LogLevel,
    /// Cleared by `--no-netlink`: kernel neighbour and bridge FDB events.
    pub learn_from_netlink: bool,
    /// Cleared by `--no-nl80211`: station events.
    pub learn_from_nl80211: bool,
    /// Cleared by `--no-ndp`: NS snooping and NA reception.
    pub learn_from_ndp: bool,
    /// `--liveness`: probe a client not heard from for this long; `None` never probes.
    pub liveness_interval: Option<Duration>,
    /// `--release-protocol`: a released client's host routes are first moved to this
    /// protocol (babeld announces them at metric 65534, see the README), deleted a moment
    /// later; `None` deletes them at once.
    pub release_protocol: Option<u8>,
    /// `--babeld`: where to read babeld's routes for duplicate detection; `None`: off.
    pub babeld: Option<BabelEndpoint>,
    /// `--max-clients`, `--max-addresses`, `--max-queued-packets`,
    /// `--max-control-connections`.
    pub limits: Limits,
    /// `--key-file`: where the intercom keys are. Parsing the command line does not read
    /// it; [`apply_key_file`] does, with what the binary read from it.
    pub key_file: Option<PathBuf>,
    /// The keys of the key file, the signing key first. Empty: the intercom is not
    /// authenticated (version 0 only, as the C daemon).
    pub keys: Vec<Key>,
    /// `--accept-unauthenticated`, in command-line order, duplicates dropped: with keys,
    /// version-0 packets whose `sender` is one of these are still accepted, and every packet
    /// is also sent in version 0. A rollout aid: the sender field is forgeable.
    pub accept_unauthenticated: Vec<Ipv6Addr>,
    /// `--netlink-rcvbuf`: receive buffer of the rtnetlink event socket, in bytes.
    pub netlink_rcvbuf: usize,
    /// Things the operator should hear about, one line each. Logging is not up while the
    /// command line is parsed, so `main` logs these once it is.
    pub warnings: Vec<String>,
}

impl Config {
    /// The configuration of `l3roamd -a node_ip -p ...` with every other flag at its default.
    pub fn new(node_ip: Ipv6Addr, client_prefixes: Vec<IpPrefix>) -> Config {
        Config {
            node_ip,
            client_prefixes,
            node_client_prefix: default_node_client_prefix(),
            plat_prefix: None,
            v4_mapping: V4Mapping::default(),
            client_if: None,
            client_bridge: None,
            mesh_ifs: Vec::new(),
            export_table: DEFAULT_TABLE,
            control_socket: None,
            tun_name: DEFAULT_TUN_NAME.into(),
            log_level: LogLevel::Normal,
            learn_from_netlink: true,
            learn_from_nl80211: true,
            learn_from_ndp: true,
            liveness_interval: Some(DEFAULT_LIVENESS),
            release_protocol: Some(DEFAULT_RELEASE_PROTOCOL),
            babeld: None,
            limits: Limits::default(),
            key_file: None,
            keys: Vec::new(),
            accept_unauthenticated: Vec::new(),
            netlink_rcvbuf: DEFAULT_NETLINK_RCVBUF,
            warnings: Vec::new(),
        }
    }
}

/// What the command line asks for.
// Built once at startup and moved straight into the daemon: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Run(Config),
    /// `-h` / `--help`: print [`usage`] and exit successfully.
    Help,
    /// `-V` / `--version`: print [`version_text`] and exit successfully.
    Version,
}

/// A command line the daemon cannot run with. `Display` is one complete line naming the
/// flag and the offending value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageError {
    message: String,
}

impl UsageError {
    fn new(message: String) -> UsageError {
        UsageError { message }
    }

    fn invalid(flag: &str, what: &str, value: &str, why: impl fmt::Display) -> UsageError {
        UsageError::new(format!("{flag}: invalid {what} {} ({why})", shown(value)))
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UsageError {}

/// Every option the daemon knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Opt {
    NodeIp,
    ClientPrefix,
    NodeClientPrefix,
    PlatPrefix,
    V4Prefix,
    ClientIf,
    ClientBridge,
    MeshIf,
    Table,
    ControlSocket,
    TunName,
    ClatIf,
    ConfigFile,
    Debug,
    Verbose,
    Liveness,
    ReleaseProtocol,
    Babeld,
    MaxClients,
    MaxAddresses,
    MaxQueuedPackets,
    MaxControlConnections,
    KeyFile,
    AcceptUnauthenticated,
    NetlinkRcvbuf,
    NoNetlink,
    NoNl80211,
    NoNdp,
    Help,
    Version,
}

struct Flag {
    opt: Opt,
    short: Option<char>,
    long: Option<&'static str>,
    /// The argument's placeholder in `-h`; `None` for switches.
    arg: Option<&'static str>,
    help: &'static str,
}

impl Flag {
    /// How messages refer to the flag: the short form where there is one, as users type it.
    fn name(&self) -> String {
        match (self.short, self.long) {
            (Some(c), _) => format!("-{c}"),
            (None, Some(long)) => format!("--{long}"),
            (None, None) => String::new(),
        }
    }
}

/// The flag table: the scanner, `-h` and (through a test) the README all come from it. The
/// short letters and long names are the C daemon's, plus the long-only ones of this daemon. Its
/// option string lists `d` twice, once without and once with an argument; getopt takes the
/// first, so `-d` is a switch.
const FLAGS: &[Flag] = &[
    Flag {
        opt: Opt::NodeIp,
        short: Some('a'),
        long: None,
        arg: Some("ADDR"),
        help: "node IP: the IPv6 address every intercom packet comes from, \
               bound as [ADDR]:5523 (mandatory, exactly once)",
    },
    Flag {
        opt: Opt::ClientPrefix,
        short: Some('p'),
        long: None,
        arg: Some("PREFIX"),
        help: "client prefix, IPv4 or IPv6 addr/len; repeatable, at least one \
               (fe80::/64 is always a client prefix)",
    },
    Flag {
        opt: Opt::NodeClientPrefix,
        short: Some('P'),
        long: None,
        arg: Some("PREFIX"),
        help: "node-client prefix, IPv6; its first 64 bits build the node-client IPs \
               (default fec0::/64)",
    },
    Flag {
        opt: Opt::PlatPrefix,
        short: Some('e'),
        long: None,
        arg: Some("PREFIX"),
        help: "PLAT prefix of a local NAT64 exit, an IPv6 /96 (default none)",
    },
    Flag {
        opt: Opt::V4Prefix,
        short: Some('4'),
        long: None,
        arg: Some("PREFIX"),
        help: "IPv6 /96 prefix that represents IPv4 addresses (default ::ffff:0:0/96)",
    },
    Flag {
        opt: Opt::ClientIf,
        short: Some('i'),
        long: None,
        arg: Some("IF"),
        help: "client interface; without one, no client detection (default none; \
               only the first -i counts)",
    },
    Flag {
        opt: Opt::ClientBridge,
        short: Some('b'),
        long: None,
        arg: Some("IF"),
        help: "client bridge (default none)",
    },
    Flag {
        opt: Opt::MeshIf,
        short: Some('m'),
        long: None,
        arg: Some("IF"),
        help: "mesh interface for intercom multicast; repeatable (default none)",
    },
    Flag {
        opt: Opt::Table,
        short: Some('t'),
        long: None,
        arg: Some("TABLE"),
        help: "routing table for client host routes, 1..4294967295 (default 254)",
    },
    Flag {
        opt: Opt::ControlSocket,
        short: Some('s'),
        long: None,
        arg: Some("PATH"),
        help: "control socket path, at most 107 bytes (default none)",
    },
    Flag {
        opt: Opt::TunName,
        short: Some('D'),
        long: None,
        arg: Some("NAME"),
        help: "tun device name (default l3roam0)",
    },
    Flag {
        opt: Opt::ClatIf,
        short: Some('n'),
        long: None,
        arg: Some("IF"),
        help: "CLAT interface: accepted for compatibility and ignored",
    },
    Flag {
        opt: Opt::ConfigFile,
        short: Some('c'),
        long: None,
        arg: Some("FILE"),
        help: "configuration file: accepted for compatibility and ignored",
    },
    Flag {
        opt: Opt::Debug,
        short: Some('d'),
        long: None,
        arg: None,
        help: "debug logging, implies -v (default off)",
    },
    Flag {
        opt: Opt::Verbose,
        short: Some('v'),
        long: None,
        arg: None,
        help: "verbose logging (default off)",
    },
    Flag {
        opt: Opt::Liveness,
        short: None,
        long: Some("liveness"),
        arg: Some("SECONDS"),
        help: "probe clients not heard from for this long, 10..86400, \
               0 disables (default 900)",
    },
    Flag {
        opt: Opt::ReleaseProtocol,
        short: None,
        long: Some("release-protocol"),
        arg: Some("NUMBER"),
        help: "demote a released client's host routes to this route protocol for 1 s \
               before deleting them, 1..255 except 158, 0 deletes at once (default 159)",
    },
    Flag {
        opt: Opt::Babeld,
        short: None,
        long: Some("babeld"),
        arg: Some("ENDPOINT"),
        help: "babeld's local interface, read for duplicate host routes: a TCP port \
               on ::1 or a Unix socket path starting with /, as babeld's -g/-G \
               (default none: no duplicate detection)",
    },
    Flag {
        opt: Opt::MaxClients,
        short: None,
        long: Some("max-clients"),
        arg: Some("N"),
        help: "clients at once at most, 1..16384 (default 4096)",
    },
    Flag {
        opt: Opt::MaxAddresses,
        short: None,
        long: Some("max-addresses"),
        arg: Some("N"),
        help: "addresses per client at most, 1..1024 (default 64)",
    },
    Flag {
        opt: Opt::MaxQueuedPackets,
        short: None,
        long: Some("max-queued-packets"),
        arg: Some("N"),
        help: "hold at most N packets for unknown destinations in all, 1..65536 \
               (default 4096)",
    },
    Flag {
        opt: Opt::MaxControlConnections,
        short: None,
        long: Some("max-control-connections"),
        arg: Some("N"),
        help: "keep at most N control connections open at once, 1..1024 (default 16)",
    },
    Flag {
        opt: Opt::KeyFile,
        short: None,
        long: Some("key-file"),
        arg: Some("FILE"),
        help: "authenticate the intercom: sign every packet (version 2) with the first key \
               of FILE and accept only packets signed with one of its keys; hexadecimal, \
               one key of 16..64 bytes a line, at most 4, # comments (default none: \
               unsigned version 0, as the C daemon)",
    },
    Flag {
        opt: Opt::AcceptUnauthenticated,
        short: None,
        long: Some("accept-unauthenticated"),
        arg: Some("ADDR"),
        help: "with --key-file, still accept unsigned packets whose sender is this node \
               IP, and send every packet unsigned besides signed; repeatable, for the \
               rollout of keys only (default none)",
    },
    Flag {
        opt: Opt::NetlinkRcvbuf,
        short: None,
        long: Some("netlink-rcvbuf"),
        arg: Some("BYTES"),
        help: "receive buffer for kernel route, address and neighbour events, \
               4096..268435456; notifications that do not fit are lost and the kernel \
               is read again (default 4194304)",
    },
    Flag {
        opt: Opt::NoNetlink,
        short: None,
        long: Some("no-netlink"),
        arg: None,
        help: "do not learn clients from kernel neighbour and bridge FDB events",
    },
    Flag {
        opt: Opt::NoNl80211,
        short: None,
        long: Some("no-nl80211"),
        arg: None,
        help: "do not learn clients from nl80211 station events",
    },
    Flag {
        opt: Opt::NoNdp,
        short: None,
        long: Some("no-ndp"),
        arg: None,
        help: "do not learn clients from NDP (NS snooping, NA reception)",
    },
    Flag {
        opt: Opt::Help,
        short: Some('h'),
        long: Some("help"),
        arg: None,
        help: "print this help and exit",
    },
    Flag {
        opt: Opt::Version,
        short: Some('V'),
        long: Some("version"),
        arg: None,
        help: "print the version and exit",
    },
];

/// The control socket's commands for `-h`, with their arguments.
const COMMANDS: &[(&str, &str)] = &[
    ("get_clients", "local clients and their addresses (JSON)"),
    ("get_stats", "every counter, in groups (JSON)"),
    (
        "get_prefixes",
        "the -4 prefix and the client prefixes (JSON)",
    ),
    ("get_meshifs", "the mesh interfaces (JSON)"),
    ("add_meshif <if>", "add a mesh interface, like -m"),
    ("del_meshif <if>", "remove a mesh interface"),
    ("add_prefix <prefix>", "add a client prefix, like -p"),
    ("del_prefix <prefix>", "remove a client prefix"),
    (
        "add_address <addr> <mac>",
        "treat <mac> as a client using <addr>",
    ),
    (
        "del_address <addr> <mac>",
        "remove <addr> from client <mac>",
    ),
    ("probe <addr> <mac>", "ask the kernel to verify a neighbour"),
    (
        "verbosity none|verbose|debug",
        "logging as without -v, with -v, with -d",
    ),
    ("has_route <addr>", "whether a /128 route to <addr> exists"),
];

/// The `-h` text: every flag with its default, then the control socket's commands.
pub fn usage() -> String {
    let mut text = String::from(
        "Usage: l3roamd -a ADDR -p PREFIX [-p PREFIX]... [OPTION]...\n\
         Layer-3 roaming for Babel meshes. Options may be given in any order.\n\n\
         Options:\n",
    );
    for flag in FLAGS {
        // getopt's layout: short flags at column 4, long-only ones at column 8.
        let mut names = match (flag.short, flag.long) {
            (Some(short), Some(long)) => format!("    -{short}, --{long}"),
            (Some(short), None) => format!("    -{short}"),
            (None, Some(long)) => format!("        --{long}"),
            (None, None) => continue,
        };
        if let Some(hint) = flag.arg {
            names.push(' ');
            names.push_str(hint);
        }
        push_described(&mut text, &names, flag.help);
    }
    text.push_str("\nControl socket commands (one per connection, on the -s socket):\n");
    for (command, meaning) in COMMANDS {
        text.push_str(&format!("    {command:<30}{meaning}\n"));
    }
    text
}

/// `names`, then `help` word-wrapped in a column of its own, in 78 columns. Written here
/// rather than taken from a getopt crate: its layout code and Unicode width tables were
/// 8 KB of a router binary, for this one screen.
fn push_described(text: &mut String, names: &str, help: &str) {
    const COLUMN: usize = 24;
    const WIDTH: usize = 78;
    text.push_str(names);
    let mut used = names.chars().count();
    if used >= COLUMN {
        text.push('\n');
        used = 0;
    }
    text.extend(std::iter::repeat_n(' ', COLUMN - used));
    used = COLUMN;
    for (i, word) in help.split_whitespace().enumerate() {
        let len = word.chars().count();
        if i > 0 && used + 1 + len > WIDTH {
            text.push('\n');
            text.extend(std::iter::repeat_n(' ', COLUMN));
            used = COLUMN;
        } else if i > 0 {
            text.push(' ');
            used += 1;
        }
        text.push_str(word);
        used += len;
    }
    text.push('\n');
}

/// The `-V` text. Its first line, `l3roamd <version>`, is what scripts look at.
pub fn version_text() -> String {
    format!("l3roamd {}\n", crate::VERSION)
}

/// Parses the command line, without `argv[0]`.
///
/// `-h` and `-V` win over any error elsewhere on the line, as they did in the C daemon
/// whenever they came first; of the two, the one given first counts.
pub fn parse(args: &[String]) -> Result<Action, UsageError> {
    let scan = scan(args);
    for (flag, _) in &scan.found {
        match flag.opt {
            Opt::Help => return Ok(Action::Help),
            Opt::Version => return Ok(Action::Version),
            _ => {}
        }
    }
    if let Some(flag) = scan.missing_argument {
        return Err(UsageError::new(format!(
            "{} requires an argument",
            flag.name()
        )));
    }
    let mut builder = Builder {
        warnings: scan.warnings,
        ..Builder::default()
    };
    for (flag, value) in scan.found {
        builder.apply(flag, value.as_deref().unwrap_or(""))?;
    }
    builder.finish().map(Action::Run)
}

/// The command line cut into options, as getopt_long would.
struct Scan {
    found: Vec<(&'static Flag, Option<String>)>,
    warnings: Vec<String>,
    /// The last word was an option that needs an argument.
    missing_argument: Option<&'static Flag>,
}

fn scan(args: &[String]) -> Scan {
    let mut scan = Scan {
        found: Vec::new(),
        warnings: Vec::new(),
        missing_argument: None,
    };
    let mut words = args.iter();
    while let Some(word) = words.next() {
        if word == "--" {
            for rest in words.by_ref() {
                scan.ignore_non_option(rest);
            }
        } else if let Some(body) = word.strip_prefix("--") {
            scan.long_option(word, body, &mut words);
        } else if word.len() > 1 && word.starts_with('-') {
            scan.short_options(&word[1..], &mut words);
        } else {
            // Includes Gluon's " -P ..." word: getopt only looks at the first character.
            scan.ignore_non_option(word);
        }
    }
    scan
}

impl Scan {
    fn ignore_non_option(&mut self, word: &str) {
        self.warnings
            .push(format!("ignoring non-option argument {}", shown(word)));
    }

    fn long_option(&mut self, word: &str, body: &str, rest: &mut std::slice::Iter<'_, String>) {
        let (name, inline) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (body, None),
        };
        let flag = match find_long(name) {
            Ok(flag) => flag,
            Err(LongMatch::Unknown) => {
                self.warnings
                    .push(format!("ignoring unknown option {}", shown(word)));
                return;
            }
            Err(LongMatch::Ambiguous(names)) => {
                self.warnings.push(format!(
                    "ignoring ambiguous option {} (could be {})",
                    shown(word),
                    names.join(", ")
                ));
                return;
            }
        };
        match (flag.arg, inline) {
            (None, Some(_)) => self.warnings.push(format!(
                "ignoring {}: --{} takes no argument",
                shown(word),
                flag.long.unwrap_or(name)
            )),
            (None, None) => self.found.push((flag, None)),
            (Some(_), Some(value)) => self.found.push((flag, Some(value.to_string()))),
            (Some(_), None) => self.take_next(flag, rest),
        }
    }

    fn short_options(&mut self, cluster: &str, rest: &mut std::slice::Iter<'_, String>) {
        for (at, letter) in cluster.char_indices() {
            let Some(flag) = FLAGS.iter().find(|f| f.short == Some(letter)) else {
                self.warnings.push(format!(
                    "ignoring unknown option {}",
                    shown(&format!("-{letter}"))
                ));
                continue;
            };
            if flag.arg.is_none() {
                self.found.push((flag, None));
                continue;
            }
            // The rest of the word is the argument (-p2001:db8::/64); only if nothing is
            // left does the next word become it, whatever it looks like.
            let attached = &cluster[at + letter.len_utf8()..];
            if attached.is_empty() {
                self.take_next(flag, rest);
            } else {
                self.found.push((flag, Some(attached.to_string())));
            }
            return;
        }
    }

    fn take_next(&mut self, flag: &'static Flag, rest: &mut std::slice::Iter<'_, String>) {
        match rest.next() {
            Some(value) => self.found.push((flag, Some(value.clone()))),
            None => self.missing_argument = Some(flag),
        }
    }
}

enum LongMatch {
    Unknown,
    Ambiguous(Vec<String>),
}

/// An exact long name, or like getopt_long an abbreviation that fits only one.
fn find_long(name: &str) -> Result<&'static Flag, LongMatch> {
    let with_long = || FLAGS.iter().filter_map(|f| f.long.map(|long| (f, long)));
    if let Some((flag, _)) = with_long().find(|(_, long)| *long == name) {
        return Ok(flag);
    }
    if name.is_empty() {
        return Err(LongMatch::Unknown);
    }
    let candidates: Vec<_> = with_long().filter(|(_, l)| l.starts_with(name)).collect();
    match candidates.as_slice() {
        [] => Err(LongMatch::Unknown),
        [(flag, _)] => Ok(flag),
        many => Err(LongMatch::Ambiguous(
            many.iter().map(|(_, long)| format!("--{long}")).collect(),
        )),
    }
}

/// Values collected while the options are applied one by one.
#[derive(Default)]
struct Builder {
    node_ip: Option<Ipv6Addr>,
    saw_client_prefix: bool,
    client_prefixes: Vec<IpPrefix>,
    node_client_prefix: Option<Prefix6>,
    plat_prefix: Option<Prefix6>,
    v4_mapping: Option<V4Mapping>,
    client_if: Option<String>,
    client_bridge: Option<String>,
    mesh_ifs: Vec<String>,
    export_table: Option<u32>,
    control_socket: Option<PathBuf>,
    tun_name: Option<String>,
    debug: bool,
    verbose: bool,
    no_netlink: bool,
    no_nl80211: bool,
    no_ndp: bool,
    liveness: Option<Option<Duration>>,
    release_protocol: Option<Option<u8>>,
    babeld: Option<BabelEndpoint>,
    limits: Limits,
    key_file: Option<PathBuf>,
    accept_unauthenticated: Vec<Ipv6Addr>,
    netlink_rcvbuf: Option<usize>,
    warnings: Vec<String>,
}

impl Builder {
    /// Every occurrence is validated, even one a later occurrence overrides: a malformed
    /// value is a mistake wherever it stands, and position must not change the verdict.
    fn apply(&mut self, flag: &Flag, value: &str) -> Result<(), UsageError> {
        let name = flag.name();
        let name = name.as_str();
        match flag.opt {
            Opt::NodeIp => {
                let addr = parse_node_ip(value)?;
                if self.node_ip.is_some() {
                    return Err(UsageError::new(
                        "-a must not be specified more than once".into(),
                    ));
                }
                self.node_ip = Some(addr);
            }
            Opt::ClientPrefix => {
                self.saw_client_prefix = true;
                let prefix = self.prefix(name, "client prefix", value)?;
                let link_local =
                    IpPrefix::V6(Prefix6::new(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 64));
                if prefix != link_local && !self.client_prefixes.contains(&prefix) {
                    self.client_prefixes.push(prefix);
                }
            }
            Opt::NodeClientPrefix => {
                self.node_client_prefix = Some(self.node_client_prefix(value)?);
            }
            Opt::PlatPrefix => {
                let prefix = self.prefix6(name, "PLAT prefix", value)?;
                if prefix.len() != 96 {
                    return Err(UsageError::invalid(
                        name,
                        "PLAT prefix",
                        value,
                        "PLAT-prefix must be /96",
                    ));
                }
                self.plat_prefix = Some(prefix);
            }
            Opt::V4Prefix => {
                let what = "IPv4 mapping prefix";
                let prefix = self.prefix6(name, what, value)?;
                let mapping = V4Mapping::new(prefix)
                    .ok_or_else(|| UsageError::invalid(name, what, value, "must be a /96"))?;
                self.v4_mapping = Some(mapping);
            }
            Opt::ClientIf => {
                check_ifname(name, "interface name", value)?;
                match &self.client_if {
                    None => self.client_if = Some(value.to_string()),
                    Some(first) => self.warnings.push(format!(
                        "-i: ignoring {}; only the first client interface ({}) counts",
                        shown(value),
                        shown(first)
                    )),
                }
            }
            Opt::ClientBridge => {
                check_ifname(name, "interface name", value)?;
                self.client_bridge = Some(value.to_string());
            }
            Opt::MeshIf => {
                check_ifname(name, "interface name", value)?;
                if !self.mesh_ifs.iter().any(|known| known == value) {
                    self.mesh_ifs.push(value.to_string());
                }
            }
            Opt::Table => self.export_table = Some(parse_table(value)?),
            Opt::ControlSocket => {
                let why = if value.is_empty() {
                    Some("empty".to_string())
                } else if value.len() > MAX_SOCKET_PATH_LEN {
                    Some(format!(
                        "{} bytes, at most {MAX_SOCKET_PATH_LEN}",
                        value.len()
                    ))
                } else {
                    None
                };
                if let Some(why) = why {
                    return Err(UsageError::invalid(name, "control socket path", value, why));
                }
                self.control_socket = Some(PathBuf::from(value));
            }
            Opt::TunName => {
                check_ifname(name, "tun device name", value)?;
                self.tun_name = Some(value.to_string());
            }
            Opt::ClatIf | Opt::ConfigFile => self.warnings.push(format!(
                "{name} {} is accepted for compatibility and ignored",
                shown(value)
            )),
            Opt::Debug => self.debug = true,
            Opt::Verbose => self.verbose = true,
            Opt::Liveness => self.liveness = Some(parse_liveness(value)?),
            Opt::ReleaseProtocol => self.release_protocol = Some(parse_release_protocol(value)?),
            Opt::Babeld => self.babeld = Some(parse_babeld(value)?),
            Opt::MaxClients => {
                self.limits.clients =
                    parse_count(name, "client count", value, Limits::CLIENTS_RANGE)?
            }
            Opt::MaxAddresses => {
                self.limits.addresses_per_client = parse_count(
                    name,
                    "address count",
                    value,
                    Limits::ADDRESSES_PER_CLIENT_RANGE,
                )?
            }
            Opt::MaxQueuedPackets => {
                self.limits.queued_packets =
                    parse_count(name, "packet count", value, Limits::QUEUED_PACKETS_RANGE)?
            }
            Opt::MaxControlConnections => {
                self.limits.control_connections = parse_count(
                    name,
                    "connection count",
                    value,
                    Limits::CONTROL_CONNECTIONS_RANGE,
                )?
            }
            Opt::KeyFile => {
                if value.is_empty() {
                    return Err(UsageError::invalid(name, "key file", value, "empty"));
                }
                if self.key_file.is_some() {
                    return Err(UsageError::new(
                        "--key-file must not be specified more than once".into(),
                    ));
                }
                self.key_file = Some(PathBuf::from(value));
            }
            Opt::AcceptUnauthenticated => {
                let addr = parse_node_address(name, value)?;
                if !self.accept_unauthenticated.contains(&addr) {
                    self.accept_unauthenticated.push(addr);
                }
            }
            Opt::NetlinkRcvbuf => self.netlink_rcvbuf = Some(parse_netlink_rcvbuf(value)?),
            Opt::NoNetlink => self.no_netlink = true,
            Opt::NoNl80211 => self.no_nl80211 = true,
            Opt::NoNdp => self.no_ndp = true,
            // Handled before any option is applied.
            Opt::Help | Opt::Version => {}
        }
        Ok(())
    }

    /// A prefix as `-p` takes it; host bits are cleared with a warning, because the C daemon
    /// kept them and then never matched an address.
    fn prefix(&mut self, flag: &str, what: &str, value: &str) -> Result<IpPrefix, UsageError> {
        let parsed =
            IpPrefix::parse(value).map_err(|e| UsageError::invalid(flag, what, value, e))?;
        if parsed.had_host_bits {
            self.warnings.push(format!(
                "{flag}: {} has host bits set; using {}",
                shown(value),
                parsed.prefix
            ));
        }
        Ok(parsed.prefix)
    }

    fn prefix6(&mut self, flag: &str, what: &str, value: &str) -> Result<Prefix6, UsageError> {
        match self.prefix(flag, what, value)? {
            IpPrefix::V6(prefix) => Ok(prefix),
            IpPrefix::V4 { .. } => Err(UsageError::invalid(
                flag,
                what,
                value,
                "expected an IPv6 prefix",
            )),
        }
    }

    /// `-P`: the length is required and checked, then ignored as the C daemon ignores it;
    /// the first 64 bits of the address as written are the node-client prefix.
    fn node_client_prefix(&mut self, value: &str) -> Result<Prefix6, UsageError> {
        let what = "node-client prefix";
        let bad = |why: &dyn fmt::Display| UsageError::invalid("-P", what, value, why);
        let parsed = IpPrefix::parse(value).map_err(|e| bad(&e))?;
        if parsed.prefix.is_ipv4() {
            return Err(bad(&"expected an IPv6 prefix"));
        }
        // IpPrefix masked with the given length, which may be shorter than 64: take the
        // address as written instead.
        let written: Ipv6Addr = value
            .split_once('/')
            .and_then(|(addr, _)| addr.parse().ok())
            .ok_or_else(|| bad(&"not an IP address"))?;
        let prefix = Prefix6::new(written, 64);
        if parsed.prefix.len() != 64 {
            self.warnings.push(format!(
                "-P: length /{} ignored; node-client IPs use the first 64 bits, {prefix}",
                parsed.prefix.len()
            ));
        } else if prefix.addr() != written {
            self.warnings.push(format!(
                "-P: {} has host bits set; using {prefix}",
                shown(value)
            ));
        }
        Ok(prefix)
    }

    fn finish(self) -> Result<Config, UsageError> {
        let node_ip = self
            .node_ip
            .ok_or_else(|| UsageError::new("specifying -a is mandatory".into()))?;
        if !self.saw_client_prefix {
            return Err(UsageError::new("specifying -p is mandatory".into()));
        }
        let log_level = if self.debug {
            LogLevel::Debug
        } else if self.verbose {
            LogLevel::Verbose
        } else {
            LogLevel::Normal
        };
        let mut warnings = self.warnings;
        if self.key_file.is_none() && !self.accept_unauthenticated.is_empty() {
            warnings.push(
                "--accept-unauthenticated has no effect without --key-file: \
                 every packet is accepted unauthenticated"
                    .into(),
            );
        }
        let defaults = Config::new(node_ip, Vec::new());
        Ok(Config {
            client_prefixes: self.client_prefixes,
            node_client_prefix: self
                .node_client_prefix
                .unwrap_or(defaults.node_client_prefix),
            plat_prefix: self.plat_prefix,
            v4_mapping: self.v4_mapping.unwrap_or(defaults.v4_mapping),
            client_if: self.client_if,
            client_bridge: self.client_bridge,
            mesh_ifs: self.mesh_ifs,
            export_table: self.export_table.unwrap_or(defaults.export_table),
            control_socket: self.control_socket,
            tun_name: self.tun_name.unwrap_or(defaults.tun_name),
            log_level,
            learn_from_netlink: !self.no_netlink,
            learn_from_nl80211: !self.no_nl80211,
            learn_from_ndp: !self.no_ndp,
            liveness_interval: self.liveness.unwrap_or(defaults.liveness_interval),
            release_protocol: self.release_protocol.unwrap_or(defaults.release_protocol),
            babeld: self.babeld,
            limits: self.limits,
            key_file: self.key_file,
            accept_unauthenticated: self.accept_unauthenticated,
            netlink_rcvbuf: self.netlink_rcvbuf.unwrap_or(defaults.netlink_rcvbuf),
            warnings,
            ..defaults
        })
    }
}

fn parse_node_ip(value: &str) -> Result<Ipv6Addr, UsageError> {
    parse_node_address("-a", value)
}

/// A node IP, as `-a` and `--accept-unauthenticated` take it.
fn parse_node_address(flag: &str, value: &str) -> Result<Ipv6Addr, UsageError> {
    let bad = |why: &str| UsageError::invalid(flag, "node IP", value, why);
    let addr: Ipv6Addr = value
        .parse()
        .map_err(|_| bad("expected an IPv6 address without /len"))?;
    // Both would go out as the `sender` of every intercom packet, where no reply can reach.
    if addr.is_unspecified() {
        return Err(bad("the unspecified address cannot be a node IP"));
    }
    if addr.is_multicast() {
        return Err(bad("a multicast address cannot be a node IP"));
    }
    Ok(addr)
}

/// Decimal only: the C daemon's `atoi` turned `-t main` into table 0 without a word.
fn parse_table(value: &str) -> Result<u32, UsageError> {
    let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    match value.parse::<u32>() {
        Ok(table) if digits && table != 0 => Ok(table),
        _ => Err(UsageError::invalid(
            "-t",
            "table",
            value,
            "expected 1..4294967295",
        )),
    }
}

fn parse_liveness(value: &str) -> Result<Option<Duration>, UsageError> {
    let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    let secs = value.parse::<u64>().ok().filter(|_| digits);
    match secs.map(Duration::from_secs) {
        Some(Duration::ZERO) => Ok(None),
        Some(interval) if (MIN_LIVENESS..=MAX_LIVENESS).contains(&interval) => Ok(Some(interval)),
        _ => Err(UsageError::invalid(
            "--liveness",
            "interval",
            value,
            format!(
                "expected 0 to disable, or {}..{} seconds",
                MIN_LIVENESS.as_secs(),
                MAX_LIVENESS.as_secs()
            ),
        )),
    }
}

fn parse_release_protocol(value: &str) -> Result<Option<u8>, UsageError> {
    let digits = !value.is_empty() && value.len() <= 3 && value.bytes().all(|b| b.is_ascii_digit());
    match value.parse::<u8>().ok().filter(|_| digits) {
        Some(0) => Ok(None),
        Some(protocol) if protocol != crate::engine::ROUTE_PROTOCOL => Ok(Some(protocol)),
        _ => Err(UsageError::invalid(
            "--release-protocol",
            "route protocol",
            value,
            format!(
                "expected 0 to delete at once, or 1..255 other than {}",
                crate::engine::ROUTE_PROTOCOL
            ),
        )),
    }
}

/// A decimal count within `range`, as the `--max-*` flags take it.
fn parse_count(
    flag: &str,
    what: &str,
    value: &str,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, UsageError> {
    let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    match value.parse::<usize>().ok().filter(|_| digits) {
        Some(count) if range.contains(&count) => Ok(count),
        _ => Err(UsageError::invalid(
            flag,
            what,
            value,
            format!("expected {}..{}", range.start(), range.end()),
        )),
    }
}

/// Decimal bytes, no unit suffix: `4M` would read as 4 to a C-minded operator.
fn parse_netlink_rcvbuf(value: &str) -> Result<usize, UsageError> {
    let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    match value.parse::<usize>().ok().filter(|_| digits) {
        Some(bytes) if (MIN_NETLINK_RCVBUF..=MAX_NETLINK_RCVBUF).contains(&bytes) => Ok(bytes),
        _ => Err(UsageError::invalid(
            "--netlink-rcvbuf",
            "buffer size",
            value,
            format!("expected {MIN_NETLINK_RCVBUF}..{MAX_NETLINK_RCVBUF} bytes"),
        )),
    }
}

/// babeld's own rule for `-g`/`-G`: a leading `/` makes a Unix socket path, anything else
/// must be a port number. Port 0 would make babeld pick one we could not know.
fn parse_babeld(value: &str) -> Result<BabelEndpoint, UsageError> {
    let bad = |why: String| UsageError::invalid("--babeld", "endpoint", value, why);
    if value.starts_with('/') {
        if value.len() > MAX_SOCKET_PATH_LEN {
            return Err(bad(format!(
                "{} bytes, at most {MAX_SOCKET_PATH_LEN}",
                value.len()
            )));
        }
        return Ok(BabelEndpoint::Path(PathBuf::from(value)));
    }
    let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    match value.parse::<u16>() {
        Ok(port) if digits && port != 0 => Ok(BabelEndpoint::Port(port)),
        _ => Err(bad(
            "expected a TCP port 1..65535 or a Unix socket path starting with /".into(),
        )),
    }
}

/// Fills [`Config::keys`] from what was read from `--key-file` (its bytes and its mode
/// bits), or says in one line why the daemon cannot run with it. Pure: the binary reads the
/// file. A file readable by group or others is a warning, not an error: the operator may
/// have reasons (a read-only image), and refusing to start would take the node off the mesh.
pub fn apply_key_file(
    config: &mut Config,
    read: std::io::Result<(Vec<u8>, u32)>,
) -> Result<(), UsageError> {
    let Some(path) = config.key_file.clone() else {
        return Ok(());
    };
    let file = shown(&path.display().to_string());
    let (text, mode) =
        read.map_err(|error| UsageError::new(format!("--key-file: cannot read {file}: {error}")))?;
    config.keys = parse_key_file(&path, &text)?;
    if mode & 0o044 != 0 {
        config.warnings.push(format!(
            "--key-file: {file} is readable by group or others (mode {:04o}); \
             only root should read it (chmod 600)",
            mode & 0o7777
        ));
    }
    Ok(())
}

/// The keys of a key file: hexadecimal, one key a line, 16..64 bytes each, at most
/// [`auth::MAX_KEYS`]; blank lines and everything from `#` to the end of a line ignored.
/// Errors name the file and the line, never what the line holds (it may be a key).
pub fn parse_key_file(path: &Path, text: &[u8]) -> Result<Vec<Key>, UsageError> {
    let file = shown(&path.display().to_string());
    let mut keys = Vec::new();
    for (index, line) in text.split(|b| *b == b'\n').enumerate() {
        let bad =
            |why: String| UsageError::new(format!("--key-file: {file} line {}: {why}", index + 1));
        let content = line
            .split(|b| *b == b'#')
            .next()
            .unwrap_or(&[])
            .trim_ascii();
        if content.is_empty() {
            continue;
        }
        let bytes = decode_hex(content).map_err(bad)?;
        let key = Key::new(&bytes).ok_or_else(|| {
            bad(format!(
                "a key of {} bytes; keys are {}..{} bytes ({}..{} hex digits)",
                bytes.len(),
                auth::MIN_KEY_LEN,
                auth::MAX_KEY_LEN,
                2 * auth::MIN_KEY_LEN,
                2 * auth::MAX_KEY_LEN
            ))
        })?;
        if keys.len() == auth::MAX_KEYS {
            return Err(bad(format!("more than {} keys", auth::MAX_KEYS)));
        }
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(UsageError::new(format!("--key-file: {file} holds no key")));
    }
    Ok(keys)
}

fn decode_hex(digits: &[u8]) -> Result<Vec<u8>, String> {
    let nibble = |d: u8| {
        char::from(d)
            .to_digit(16)
            .and_then(|n| u8::try_from(n).ok())
    };
    if digits.iter().any(|d| nibble(*d).is_none()) {
        return Err("not hexadecimal".into());
    }
    if digits.len() % 2 != 0 {
        return Err(format!("an odd number of hex digits ({})", digits.len()));
    }
    Ok(digits
        .chunks_exact(2)
        .filter_map(|pair| match pair {
            [high, low] => Some(nibble(*high)? << 4 | nibble(*low)?),
            _ => None,
        })
        .collect())
}

/// Why `name` cannot be a Linux interface name, if it cannot. (The control command
/// `add_meshif` checks only the length, as the C daemon: a name that cannot exist is simply
/// never found.)
pub fn ifname_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("empty".into())
    } else if name.len() > MAX_IFNAME_LEN {
        Some(format!("{} bytes, at most {MAX_IFNAME_LEN}", name.len()))
    } else if name == "." || name == ".." {
        Some("not a name".into())
    } else if name.contains(['/', ':']) || name.chars().any(char::is_whitespace) {
        // The kernel's dev_valid_name() refuses these.
        Some("contains '/', ':' or whitespace".into())
    } else {
        None
    }
}

fn check_ifname(flag: &str, what: &str, value: &str) -> Result<(), UsageError> {
    match ifname_problem(value) {
        Some(why) => Err(UsageError::invalid(flag, what, value, why)),
        None => Ok(()),
    }
}

/// A word from the command line as messages show it: quoted, on one line.
fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &[&str]) -> Vec<String> {
        line.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn flag_table_is_consistent() {
        for (i, a) in FLAGS.iter().enumerate() {
            assert!(a.short.is_some() || a.long.is_some());
            for b in &FLAGS[i + 1..] {
                assert!(a.short.is_none() || a.short != b.short, "{}", a.name());
                assert!(a.long.is_none() || a.long != b.long, "{}", a.name());
            }
        }
    }

    #[test]
    fn help_is_every_flag_in_getopt_layout_within_78_columns() {
        let text = usage();
        assert!(
            text.lines().all(|line| line.chars().count() <= 78),
            "{text}"
        );
        let mut rest = text.as_str();
        for flag in FLAGS {
            // Each flag's words appear whole and in order, after the previous flag's.
            let first = flag.help.split_whitespace().next().unwrap_or_default();
            let names = match (flag.short, flag.long) {
                (Some(short), Some(long)) => format!("\n    -{short}, --{long}"),
                (Some(short), None) => format!("\n    -{short}"),
                (None, Some(long)) => format!("\n        --{long}"),
                (None, None) => unreachable!("a flag has a name"),
            };
            let at = rest
                .find(&names)
                .unwrap_or_else(|| panic!("{names} missing"));
            rest = &rest[at + names.len()..];
            for word in flag.help.split_whitespace() {
                let at = rest
                    .find(word)
                    .unwrap_or_else(|| panic!("{first}…: {word}"));
                rest = &rest[at + word.len()..];
            }
        }
        // A short name with its argument fits before the help column; a long one breaks the
        // line, and the help starts at column 24 on the next.
        assert!(text.contains("\n    -a ADDR             node IP: "));
        assert!(text.contains("\n        --liveness SECONDS\n                        probe "));
    }

    #[test]
    fn defaults_in_the_help_match_the_code() {
        let text = usage();
        assert!(text.contains(&format!("default {}", default_node_client_prefix())));
        assert!(text.contains(&format!("default {DEFAULT_TABLE}")));
        assert!(text.contains(&format!("default {DEFAULT_TUN_NAME}")));
        assert!(text.contains(&format!("default {}", DEFAULT_LIVENESS.as_secs())));
        let v4 = IpPrefix::parse("::ffff:0:0/96").unwrap().prefix;
        assert_eq!(IpPrefix::V6(V4Mapping::default().prefix()), v4);
        assert!(text.contains("default ::ffff:0:0/96"));
        let limits = Limits::default();
        for (flag, default, range) in [
            ("clients", limits.clients, Limits::CLIENTS_RANGE),
            (
                "addresses",
                limits.addresses_per_client,
                Limits::ADDRESSES_PER_CLIENT_RANGE,
            ),
            (
                "queued-packets",
                limits.queued_packets,
                Limits::QUEUED_PACKETS_RANGE,
            ),
            (
                "control-connections",
                limits.control_connections,
                Limits::CONTROL_CONNECTIONS_RANGE,
            ),
        ] {
            let help = FLAGS
                .iter()
                .find(|f| f.long.map(String::from) == Some(format!("max-{flag}")))
                .map(|f| f.help.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_else(|| panic!("no --max-{flag}"));
            assert!(help.contains(&format!("(default {default})")), "{help}");
            assert!(
                help.contains(&format!("{}..{}", range.start(), range.end())),
                "{help}"
            );
            assert!(range.contains(&default));
        }
    }

    #[test]
    fn long_abbreviations_resolve_like_getopt_long() {
        assert!(matches!(find_long("vers"), Ok(f) if f.opt == Opt::Version));
        assert!(matches!(find_long("no-ne"), Ok(f) if f.opt == Opt::NoNetlink));
        assert!(matches!(find_long("no-n"), Err(LongMatch::Ambiguous(v)) if v.len() == 3));
        assert!(matches!(find_long("nope"), Err(LongMatch::Unknown)));
        assert!(matches!(find_long(""), Err(LongMatch::Unknown)));
    }

    #[test]
    fn messages_stay_on_one_line() {
        assert_eq!(shown("a\nb"), "'a\\nb'");
        let err = parse(&words(&["-t", "1\n2"])).unwrap_err();
        assert!(!err.to_string().contains('\n'));
    }
}
