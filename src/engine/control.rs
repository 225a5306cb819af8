//! The control socket's language: line framing, command parsing and reply bytes.
//!
//! Everything here is pure: the driver owns the socket and feeds the bytes it reads into a
//! [`LineReader`], hands the finished line to [`parse_command`], lets the engine act on the
//! [`Command`] and writes whatever reply the engine built with the `render_*` functions.
//!
//! The replies are a frozen compatibility surface (`cli-and-control.md` §4–§6): Gluon scripts
//! and respondd parse them, so they reproduce the C l3roamd's bytes exactly, including json-c's
//! "spaced" formatting and the missing trailing newline on everything except `has_route`.
//! Where the C daemon stayed silent or crashed, the new daemon answers `ERROR: <reason>\n`.

use std::fmt;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv6Addr};

use crate::prefix::IpPrefix;
use crate::wire::MacAddr;

/// A command line that reaches this many bytes without a terminator is refused. The C daemon
/// read at most this much, so no legitimate client sends more.
pub const MAX_LINE: usize = 1024;

/// What a [`LineReader`] has after the latest bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineStatus {
    /// No complete line yet (or, from [`LineReader::finish`], nothing to execute at all).
    Incomplete,
    /// The command line, without its terminator.
    Line(Vec<u8>),
    /// [`MAX_LINE`] bytes arrived without a terminator.
    TooLong,
}

/// Collects one command line from one connection.
///
/// The protocol is one command per connection, so the reader is spent once it has produced a
/// [`LineStatus::Line`] or [`LineStatus::TooLong`]: later bytes are dropped unread (the C daemon
/// never read past the terminator either) and every further call returns `Incomplete`. The
/// buffer never holds more than `MAX_LINE - 1` bytes whatever the peer sends.
#[derive(Clone, Debug, Default)]
pub struct LineReader {
    buf: Vec<u8>,
    spent: bool,
}

impl LineReader {
    pub fn new() -> LineReader {
        LineReader::default()
    }

    /// Takes the next bytes read from the connection.
    ///
    /// The line ends at the first `\n` or `\r`, so CRLF and bare CR work like LF; the rest of the
    /// chunk is ignored. The line is returned as soon as its terminator arrives, because respondd
    /// waits for the reply without ever half-closing its side.
    pub fn feed(&mut self, bytes: &[u8]) -> LineStatus {
        if self.spent {
            return LineStatus::Incomplete;
        }
        let end = bytes.iter().position(|&b| b == b'\n' || b == b'\r');
        let (content, terminated) = match end {
            Some(at) => (bytes.split_at(at).0, true),
            None => (bytes, false),
        };
        // A terminator at byte 1024 still means 1024 bytes arrived without one before it.
        if self.buf.len().saturating_add(content.len()) >= MAX_LINE {
            self.spend();
            return LineStatus::TooLong;
        }
        self.buf.extend_from_slice(content);
        if terminated {
            self.spend_into_line()
        } else {
            LineStatus::Incomplete
        }
    }

    /// The peer closed its side (end of file).
    ///
    /// A final line without terminator is still a command (`uc` and `echo -n` send those). An
    /// empty stream is no command at all: the connection is closed without reply, which is what
    /// the `Incomplete` result means here.
    pub fn finish(&mut self) -> LineStatus {
        if self.spent || self.buf.is_empty() {
            self.spend();
            return LineStatus::Incomplete;
        }
        self.spend_into_line()
    }

    /// True once the reader has produced its result or seen end of file; the driver can stop
    /// reading from the connection.
    pub fn is_spent(&self) -> bool {
        self.spent
    }

    fn spend(&mut self) {
        self.spent = true;
        self.buf = Vec::new();
    }

    fn spend_into_line(&mut self) -> LineStatus {
        self.spent = true;
        LineStatus::Line(std::mem::take(&mut self.buf))
    }
}

/// The logging levels the `verbosity` command switches between.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verbosity {
    /// `none`: the level the daemon starts with when neither `-v` nor `-d` is given.
    Normal,
    /// `verbose`: as with `-v`.
    Verbose,
    /// `debug`: as with `-d`.
    Debug,
}

impl Verbosity {
    /// The word the `verbosity` command takes. Exact and case-sensitive (the C daemon compared
    /// prefixes, so `debugging` counted as `debug`; the spec drops that).
    pub fn from_word(word: &str) -> Option<Verbosity> {
        match word {
            "none" => Some(Verbosity::Normal),
            "verbose" => Some(Verbosity::Verbose),
            "debug" => Some(Verbosity::Debug),
            _ => None,
        }
    }

    /// The flag level this verbosity stands for, so both switch the same filter.
    pub fn log_level(self) -> crate::config::LogLevel {
        match self {
            Verbosity::Normal => crate::config::LogLevel::Normal,
            Verbosity::Verbose => crate::config::LogLevel::Verbose,
            Verbosity::Debug => crate::config::LogLevel::Debug,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Verbosity::Normal => "none",
            Verbosity::Verbose => "verbose",
            Verbosity::Debug => "debug",
        }
    }
}

/// A parsed control command. Arguments are validated here; whether they make sense for the
/// node (prefix membership, known MACs, existing routes) is the engine's decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    GetClients,
    /// New: every counter as JSON.
    GetStats,
    GetPrefixes,
    GetMeshifs,
    AddMeshif(String),
    DelMeshif(String),
    /// `text` is the argument as given, because the reply echoes it verbatim.
    AddPrefix {
        text: String,
        prefix: IpPrefix,
        /// The address had bits beyond the length; they were cleared and the engine should warn.
        had_host_bits: bool,
    },
    DelPrefix {
        text: String,
        prefix: IpPrefix,
        had_host_bits: bool,
    },
    /// IPv4 addresses stay `IpAddr::V4` here; the engine maps them with its `-4` prefix.
    AddAddress {
        addr: IpAddr,
        mac: MacAddr,
        /// Optional third token: remaining IPv4 lease in seconds (`behaviour.md` §16.2).
        lease: Option<u32>,
    },
    DelAddress {
        addr: IpAddr,
        mac: MacAddr,
    },
    Probe {
        addr: IpAddr,
        mac: MacAddr,
    },
    Verbosity(Verbosity),
    /// `text` is echoed in the reply exactly as the client wrote it.
    HasRoute {
        text: String,
        addr: Ipv6Addr,
    },
}

impl Command {
    /// The command word, for logging.
    pub fn name(&self) -> &'static str {
        match self {
            Command::GetClients => "get_clients",
            Command::GetStats => "get_stats",
            Command::GetPrefixes => "get_prefixes",
            Command::GetMeshifs => "get_meshifs",
            Command::AddMeshif(_) => "add_meshif",
            Command::DelMeshif(_) => "del_meshif",
            Command::AddPrefix { .. } => "add_prefix",
            Command::DelPrefix { .. } => "del_prefix",
            Command::AddAddress { .. } => "add_address",
            Command::DelAddress { .. } => "del_address",
            Command::Probe { .. } => "probe",
            Command::Verbosity(_) => "verbosity",
            Command::HasRoute { .. } => "has_route",
        }
    }
}

/// Why a command was refused; `Display` gives the exact reason text of `ERROR: <reason>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorReason {
    UnknownCommand,
    MissingArgument,
    InvalidAddress,
    InvalidMac,
    InvalidPrefix,
    InvalidInterfaceName,
    InvalidLevel,
    LineTooLong,
    /// Produced by the engine (`probe` without `-i`), listed here so all reasons live together.
    NoClientInterface,
    /// `add_prefix` / `add_meshif` beyond the engine's table limit.
    LimitReached,
    /// A malformed lease token on `add_address`. That command answers `NOT OK`, so this text
    /// only ever reaches the log.
    InvalidLease,
}

impl ErrorReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorReason::UnknownCommand => "unknown command",
            ErrorReason::MissingArgument => "missing argument",
            ErrorReason::InvalidAddress => "invalid address",
            ErrorReason::InvalidMac => "invalid MAC",
            ErrorReason::InvalidPrefix => "invalid prefix",
            ErrorReason::InvalidInterfaceName => "invalid interface name",
            ErrorReason::InvalidLevel => "invalid level",
            ErrorReason::LineTooLong => "line too long",
            ErrorReason::NoClientInterface => "no client interface",
            ErrorReason::InvalidLease => "invalid lease",
            ErrorReason::LimitReached => "limit reached",
        }
    }
}

impl fmt::Display for ErrorReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A line that did not yield a [`Command`], together with how to answer it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommandError {
    /// Answered `ERROR: <reason>\n`.
    Error(ErrorReason),
    /// `add_address` / `del_address` with arguments that do not parse. The C daemon answered
    /// those with `NOT OK` and scripts may test for it, so that stays the reply; the reason is
    /// for the log only.
    NotOk(ErrorReason),
}

impl CommandError {
    pub fn reason(&self) -> ErrorReason {
        match self {
            CommandError::Error(reason) | CommandError::NotOk(reason) => *reason,
        }
    }

    /// The exact bytes to send before closing the connection.
    pub fn reply(&self) -> String {
        match self {
            CommandError::Error(reason) => render_error(*reason),
            CommandError::NotOk(_) => NOT_OK.to_owned(),
        }
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason().as_str())
    }
}

impl std::error::Error for CommandError {}

/// Interface names as the kernel bounds them: 1 to 15 bytes. Nothing else is checked, so a
/// name that cannot exist yet is simply never found (the spec asks only for the length check).
pub fn is_valid_interface_name(name: &str) -> bool {
    (1..=crate::config::MAX_IFNAME_LEN).contains(&name.len())
}

/// Every command name, in the order `-h` and the man page list them. [`parse_command`] looks
/// a line's first word up here before it parses anything else, so a command missing from this
/// list cannot be used, and the documentation can be checked against it (tests/cli.rs).
pub const COMMAND_NAMES: &[&str] = &[
    "get_clients",
    "get_stats",
    "get_prefixes",
    "get_meshifs",
    "add_meshif",
    "del_meshif",
    "add_prefix",
    "del_prefix",
    "add_address",
    "del_address",
    "probe",
    "verbosity",
    "has_route",
];

/// Parses one command line (without terminator).
///
/// Tokens are separated by spaces and tabs; the first must be a command name exactly. The C
/// daemon matched command names by prefix (`get_meshifsXYZ` ran `get_meshifs`); the spec
/// (`cli-and-control.md` §4.2) replaces that with exact matching, so such lines are unknown
/// commands now. Surplus tokens after the required arguments are ignored, as in the C daemon.
///
/// Bytes that are not UTF-8 never match a command name or parse as an argument, so they end up
/// as the same errors as any other garbage in that position.
pub fn parse_command(line: &[u8]) -> Result<Command, CommandError> {
    use CommandError::{Error, NotOk};

    let mut tokens = line
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|token| !token.is_empty());
    let word = tokens.next().unwrap_or_default();
    let Some(name) = COMMAND_NAMES.iter().find(|name| name.as_bytes() == word) else {
        return Err(Error(ErrorReason::UnknownCommand));
    };
    let mut arg = || tokens.next().map(std::str::from_utf8);

    match *name {
        "get_clients" => Ok(Command::GetClients),
        "get_stats" => Ok(Command::GetStats),
        "get_prefixes" => Ok(Command::GetPrefixes),
        "get_meshifs" => Ok(Command::GetMeshifs),
        "add_meshif" => interface_arg(arg()).map(Command::AddMeshif).map_err(Error),
        "del_meshif" => interface_arg(arg()).map(Command::DelMeshif).map_err(Error),
        "add_prefix" => {
            let (text, prefix, had_host_bits) = prefix_arg(arg()).map_err(Error)?;
            Ok(Command::AddPrefix {
                text,
                prefix,
                had_host_bits,
            })
        }
        "del_prefix" => {
            let (text, prefix, had_host_bits) = prefix_arg(arg()).map_err(Error)?;
            Ok(Command::DelPrefix {
                text,
                prefix,
                had_host_bits,
            })
        }
        "add_address" => {
            let addr = address_arg(arg()).map_err(NotOk)?;
            let mac = mac_arg(arg()).map_err(NotOk)?;
            let lease = match arg() {
                None => None,
                Some(text) => Some(lease_arg(text).map_err(NotOk)?),
            };
            Ok(Command::AddAddress { addr, mac, lease })
        }
        "del_address" => {
            let addr = address_arg(arg()).map_err(NotOk)?;
            let mac = mac_arg(arg()).map_err(NotOk)?;
            Ok(Command::DelAddress { addr, mac })
        }
        "probe" => {
            let addr = address_arg(arg()).map_err(Error)?;
            let mac = mac_arg(arg()).map_err(Error)?;
            Ok(Command::Probe { addr, mac })
        }
        "verbosity" => {
            let word = arg().ok_or(Error(ErrorReason::MissingArgument))?;
            word.ok()
                .and_then(Verbosity::from_word)
                .map(Command::Verbosity)
                .ok_or(Error(ErrorReason::InvalidLevel))
        }
        "has_route" => {
            let text = arg().ok_or(Error(ErrorReason::MissingArgument))?;
            let text = text.map_err(|_| Error(ErrorReason::InvalidAddress))?;
            // IPv6 only, as in the C daemon: the check asks the IPv6 routing table.
            let addr = text
                .parse::<Ipv6Addr>()
                .map_err(|_| Error(ErrorReason::InvalidAddress))?;
            Ok(Command::HasRoute {
                text: text.to_owned(),
                addr,
            })
        }
        // A listed name without a branch: the unit test below catches it.
        _ => Err(Error(ErrorReason::UnknownCommand)),
    }
}

type Arg<'a> = Option<Result<&'a str, std::str::Utf8Error>>;

fn interface_arg(arg: Arg<'_>) -> Result<String, ErrorReason> {
    match arg {
        None => Err(ErrorReason::MissingArgument),
        Some(Ok(name)) if is_valid_interface_name(name) => Ok(name.to_owned()),
        Some(_) => Err(ErrorReason::InvalidInterfaceName),
    }
}

fn prefix_arg(arg: Arg<'_>) -> Result<(String, IpPrefix, bool), ErrorReason> {
    let text = arg
        .ok_or(ErrorReason::MissingArgument)?
        .map_err(|_| ErrorReason::InvalidPrefix)?;
    let parsed = IpPrefix::parse(text).map_err(|_| ErrorReason::InvalidPrefix)?;
    Ok((text.to_owned(), parsed.prefix, parsed.had_host_bits))
}

/// IPv6 text or dotted IPv4.
fn address_arg(arg: Arg<'_>) -> Result<IpAddr, ErrorReason> {
    arg.ok_or(ErrorReason::MissingArgument)?
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or(ErrorReason::InvalidAddress)
}

fn mac_arg(arg: Arg<'_>) -> Result<MacAddr, ErrorReason> {
    arg.ok_or(ErrorReason::MissingArgument)?
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or(ErrorReason::InvalidMac)
}

/// Plain decimal seconds. A malformed lease is refused rather than ignored: the third token
/// has a meaning now, and silently dropping a mistyped one would hide the mistake.
fn lease_arg(text: Result<&str, std::str::Utf8Error>) -> Result<u32, ErrorReason> {
    text.ok()
        .filter(|t| t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse().ok())
        .ok_or(ErrorReason::InvalidLease)
}

/// Reply of a successful `add_address` / `del_address`.
pub const OK: &str = "OK";
/// Reply of a failed `add_address` / `del_address`.
pub const NOT_OK: &str = "NOT OK";

/// `ERROR: <reason>\n`: the only error form, newline-terminated so that `uc` output ends
/// cleanly in a shell.
pub fn render_error(reason: ErrorReason) -> String {
    format!("ERROR: {reason}\n")
}

/// `add_prefix` reply; `text` is the argument as the client wrote it.
pub fn render_added_prefix(text: &str) -> String {
    format!("Added prefix: {text}")
}

/// `del_prefix` reply, also sent when the prefix was not configured.
pub fn render_deleted_prefix(text: &str) -> String {
    format!("Deleted prefix: {text}")
}

/// `has_route` reply: the only one the C daemon ended with a newline.
pub fn render_has_route(text: &str, found: bool) -> String {
    let answer = if found { "YES" } else { "NO" };
    format!("found route {text}/128: {answer}\n")
}

/// One local client as `get_clients` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientView<'a> {
    pub mac: MacAddr,
    /// Where the client was last seen; `""` if nowhere.
    pub interface: &'a str,
    /// Internal (16-byte) addresses with their state: 0 inactive, 1 active, 2 tentative.
    pub addresses: Vec<(Ipv6Addr, u8)>,
}

/// The `get_clients` reply. The caller passes every client of the local table (including those
/// without addresses) in a stable order, each MAC once and each address once per client.
///
/// `clients` comes first because respondd takes the first member whose name starts with
/// `clients`; `clientlist` and `addresses` are left out when empty, as json-c did for the C
/// daemon.
pub fn render_clients(clients: &[ClientView<'_>]) -> String {
    let mut out = String::with_capacity(32 + clients.len() * 96);
    out.push_str("{ \"clients\": ");
    push_display(&mut out, clients.len());
    if !clients.is_empty() {
        out.push_str(", \"clientlist\": { ");
        for (i, client) in clients.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            push_json_string(&mut out, &client.mac.to_string());
            out.push_str(": { \"interface\": ");
            push_json_string(&mut out, client.interface);
            if !client.addresses.is_empty() {
                out.push_str(", \"addresses\": { ");
                for (j, (addr, state)) in client.addresses.iter().enumerate() {
                    if j > 0 {
                        out.push_str(", ");
                    }
                    push_json_string(&mut out, &addr.to_string());
                    out.push_str(": { \"state\": ");
                    push_display(&mut out, state);
                    out.push_str(" }");
                }
                out.push_str(" }");
            }
            out.push_str(" }");
        }
        out.push_str(" }");
    }
    out.push_str(" }");
    out
}

/// The `get_prefixes` reply: the `-4` prefix's address, then every client prefix's address in
/// internal form (IPv4 mapped), without lengths, as the C daemon printed them.
pub fn render_prefixes(v4_prefix: Ipv6Addr, prefixes: &[Ipv6Addr]) -> String {
    let items = std::iter::once(&v4_prefix)
        .chain(prefixes)
        .map(|addr| addr.to_string());
    render_string_array("prefixes", items)
}

/// The `get_meshifs` reply: configured mesh interface names in the order they were added.
pub fn render_meshifs(names: &[&str]) -> String {
    render_string_array("mesh_interfaces", names.iter())
}

/// `{ "key": [ "a", "b" ] }`, and `{ "key": [ ] }` when empty, in json-c's spaced style.
fn render_string_array<S: AsRef<str>>(key: &str, items: impl Iterator<Item = S>) -> String {
    let mut out = String::from("{ ");
    push_json_string(&mut out, key);
    out.push_str(": [ ");
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        push_json_string(&mut out, item.as_ref());
    }
    if !out.ends_with("[ ") {
        out.push(' ');
    }
    out.push_str("] }");
    out
}

fn push_display(out: &mut String, value: impl fmt::Display) {
    // Formatting into a String cannot fail; the Result only exists for other writers.
    let _ = write!(out, "{value}");
}

/// A JSON string literal escaped the way json-c does it, so that replies stay byte-identical
/// even for odd interface names: short escapes for `\b \f \n \r \t`, `\"`, `\\`, `\/` for `/`,
/// `\u00xx` (lowercase hex) for the other control characters, everything else (DEL and
/// non-ASCII included) passed through.
fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => push_display(out, format_args!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    fn line(bytes: &[u8]) -> LineStatus {
        LineStatus::Line(bytes.to_vec())
    }

    #[test]
    fn every_listed_command_name_parses_to_that_command() {
        for name in COMMAND_NAMES {
            // Without arguments a command either runs or wants them: never unknown.
            match parse_command(name.as_bytes()) {
                Ok(command) => assert_eq!(command.name(), *name),
                Err(error) => assert_ne!(error.reason(), ErrorReason::UnknownCommand, "{name}"),
            }
        }
        let mut sorted = COMMAND_NAMES.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), COMMAND_NAMES.len(), "a name listed twice");
    }

    #[test]
    fn line_ends_at_lf_cr_or_crlf() {
        for input in [&b"get_clients\n"[..], b"get_clients\r", b"get_clients\r\n"] {
            let mut reader = LineReader::new();
            assert_eq!(reader.feed(input), line(b"get_clients"), "{input:?}");
            assert!(reader.is_spent());
        }
    }

    #[test]
    fn bytes_after_the_terminator_are_ignored() {
        let mut reader = LineReader::new();
        assert_eq!(
            reader.feed(b"get_meshifs\nget_clients\n"),
            line(b"get_meshifs")
        );
        // The connection serves one command; whatever follows is dropped, not buffered.
        assert_eq!(reader.feed(b"get_prefixes\n"), LineStatus::Incomplete);
        assert_eq!(reader.feed(&[b'x'; 4096]), LineStatus::Incomplete);
        assert_eq!(reader.finish(), LineStatus::Incomplete);
    }

    #[test]
    fn end_of_file_executes_an_unterminated_line() {
        let mut reader = LineReader::new();
        assert_eq!(reader.feed(b"get_"), LineStatus::Incomplete);
        assert_eq!(reader.feed(b"meshifs"), LineStatus::Incomplete);
        assert!(!reader.is_spent());
        assert_eq!(reader.finish(), line(b"get_meshifs"));
        assert!(reader.is_spent());
        assert_eq!(reader.finish(), LineStatus::Incomplete);
    }

    #[test]
    fn empty_end_of_file_is_no_command() {
        let mut reader = LineReader::new();
        assert_eq!(reader.feed(b""), LineStatus::Incomplete);
        assert_eq!(reader.finish(), LineStatus::Incomplete);
        assert!(reader.is_spent());
    }

    #[test]
    fn a_bare_terminator_is_an_empty_line() {
        // An empty line is a command (an unknown one), unlike an empty stream.
        assert_eq!(LineReader::new().feed(b"\n"), line(b""));
        assert_eq!(
            parse_command(b""),
            Err(CommandError::Error(ErrorReason::UnknownCommand))
        );
    }

    #[test]
    fn split_across_many_feeds() {
        let input = b"add_address 2001:db8:1::55 02:11:22:33:44:55\r\ntrailing";
        let mut reader = LineReader::new();
        let mut result = LineStatus::Incomplete;
        for byte in input {
            let status = reader.feed(std::slice::from_ref(byte));
            if status != LineStatus::Incomplete {
                assert_eq!(result, LineStatus::Incomplete, "only one result");
                result = status;
            }
        }
        assert_eq!(
            result,
            line(b"add_address 2001:db8:1::55 02:11:22:33:44:55")
        );
    }

    #[test]
    fn line_limit_is_1024_bytes() {
        // 1023 bytes and a terminator: the longest acceptable line.
        let mut longest = vec![b'a'; MAX_LINE - 1];
        longest.push(b'\n');
        assert_eq!(
            LineReader::new().feed(&longest),
            line(&longest[..MAX_LINE - 1])
        );
        // Also at end of file.
        let mut reader = LineReader::new();
        assert_eq!(
            reader.feed(&longest[..MAX_LINE - 1]),
            LineStatus::Incomplete
        );
        assert_eq!(reader.finish(), line(&longest[..MAX_LINE - 1]));

        // 1024 bytes, even with the terminator right after them, is too long.
        let mut too_long = vec![b'a'; MAX_LINE];
        too_long.push(b'\n');
        assert_eq!(LineReader::new().feed(&too_long), LineStatus::TooLong);

        // Reached across feeds, without any terminator in sight.
        let mut reader = LineReader::new();
        for _ in 0..(MAX_LINE / 8) - 1 {
            assert_eq!(reader.feed(b"aaaaaaaa"), LineStatus::Incomplete);
        }
        assert_eq!(reader.feed(b"aaaaaaa"), LineStatus::Incomplete);
        assert_eq!(reader.feed(b"a"), LineStatus::TooLong);
        assert!(reader.is_spent());
        assert_eq!(reader.feed(b"\n"), LineStatus::Incomplete);
        assert_eq!(reader.finish(), LineStatus::Incomplete);
        assert_eq!(
            CommandError::Error(ErrorReason::LineTooLong).reply(),
            "ERROR: line too long\n"
        );
    }

    fn err(reason: ErrorReason) -> Result<Command, CommandError> {
        Err(CommandError::Error(reason))
    }

    fn not_ok(reason: ErrorReason) -> Result<Command, CommandError> {
        Err(CommandError::NotOk(reason))
    }

    fn mac(text: &str) -> MacAddr {
        text.parse().unwrap()
    }

    #[test]
    fn parses_commands_without_arguments() {
        assert_eq!(parse_command(b"get_clients"), Ok(Command::GetClients));
        assert_eq!(parse_command(b"get_stats"), Ok(Command::GetStats));
        assert_eq!(parse_command(b"get_prefixes"), Ok(Command::GetPrefixes));
        assert_eq!(parse_command(b"get_meshifs"), Ok(Command::GetMeshifs));
        // Surrounding blanks and surplus tokens are ignored.
        assert_eq!(
            parse_command(b" \t get_clients\t extra tokens "),
            Ok(Command::GetClients)
        );
    }

    #[test]
    fn command_names_match_exactly() {
        // The C daemon matched by prefix (vector line-endings-3); the spec (§4.2) does not.
        for line in [
            &b"get_meshifsXYZ"[..],
            b"GET_CLIENTS",
            b"get_client",
            b"verbositydebug",
            b"get_clients\x00",
            b"\xffget_clients",
            b"\xc3\x28",
            b"",
            b"   \t ",
        ] {
            assert_eq!(
                parse_command(line),
                err(ErrorReason::UnknownCommand),
                "{line:?}"
            );
        }
    }

    #[test]
    fn parses_meshif_commands() {
        assert_eq!(
            parse_command(b"add_meshif mesh-vpn"),
            Ok(Command::AddMeshif("mesh-vpn".into()))
        );
        assert_eq!(
            parse_command(b"del_meshif\tmesh0 x"),
            Ok(Command::DelMeshif("mesh0".into()))
        );
        assert_eq!(
            parse_command(b"add_meshif 123456789012345"),
            Ok(Command::AddMeshif("123456789012345".into()))
        );
        assert_eq!(
            parse_command(b"add_meshif 1234567890123456"),
            err(ErrorReason::InvalidInterfaceName)
        );
        assert_eq!(
            parse_command(b"del_meshif \xff\xfe"),
            err(ErrorReason::InvalidInterfaceName)
        );
        assert_eq!(
            parse_command(b"add_meshif"),
            err(ErrorReason::MissingArgument)
        );
        assert_eq!(
            parse_command(b"del_meshif  "),
            err(ErrorReason::MissingArgument)
        );
    }

    #[test]
    fn parses_prefix_commands() {
        let Ok(Command::AddPrefix {
            text,
            prefix,
            had_host_bits,
        }) = parse_command(b"add_prefix 2001:db8:5::/64")
        else {
            panic!("add_prefix did not parse");
        };
        assert_eq!(text, "2001:db8:5::/64");
        assert_eq!(prefix.to_string(), "2001:db8:5::/64");
        assert!(!had_host_bits);

        let Ok(Command::DelPrefix {
            text,
            prefix,
            had_host_bits,
        }) = parse_command(b"del_prefix 10.0.0.1/8")
        else {
            panic!("del_prefix did not parse");
        };
        assert_eq!(text, "10.0.0.1/8");
        assert_eq!(
            prefix,
            IpPrefix::V4 {
                addr: Ipv4Addr::new(10, 0, 0, 0),
                len: 8
            }
        );
        assert!(had_host_bits);

        for bad in [
            &b"add_prefix 2001:db8::"[..],
            b"add_prefix 2001:db8::/129",
            b"del_prefix bogus/8",
            b"del_prefix 10.0.0.0/\xff",
        ] {
            assert_eq!(
                parse_command(bad),
                err(ErrorReason::InvalidPrefix),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_command(b"add_prefix"),
            err(ErrorReason::MissingArgument)
        );
    }

    #[test]
    fn parses_address_commands() {
        let m = mac("02:11:22:33:44:55");
        assert_eq!(
            parse_command(b"add_address 2001:db8:1::55 02:11:22:33:44:55"),
            Ok(Command::AddAddress {
                addr: "2001:db8:1::55".parse().unwrap(),
                mac: m,
                lease: None
            })
        );
        assert_eq!(
            parse_command(b"add_address 198.51.100.66 02:11:22:33:44:55 3600"),
            Ok(Command::AddAddress {
                addr: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 66)),
                mac: m,
                lease: Some(3600)
            })
        );
        assert_eq!(
            parse_command(b"del_address 198.51.100.66 02:11:22:33:44:55 surplus"),
            Ok(Command::DelAddress {
                addr: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 66)),
                mac: m,
            })
        );
        assert_eq!(
            parse_command(b"probe fe80::1 02:11:22:33:44:55"),
            Ok(Command::Probe {
                addr: "fe80::1".parse().unwrap(),
                mac: m,
            })
        );
    }

    #[test]
    fn address_commands_fail_with_not_ok_except_probe() {
        use ErrorReason::*;
        let cases: [(&[u8], ErrorReason); 8] = [
            (b"", MissingArgument),
            (b" bogus 02:11:22:33:44:55", InvalidAddress),
            (b" 2001:db8::1", MissingArgument),
            (b" 2001:db8::1 02:11:22:33:44", InvalidMac),
            (b" 2001:db8::1 02:11:22:33:44:5g", InvalidMac),
            (b" 2001:db8::1%eth0 02:11:22:33:44:55", InvalidAddress),
            (b" 2001:db8::/64 02:11:22:33:44:55", InvalidAddress),
            (b" \xff 02:11:22:33:44:55", InvalidAddress),
        ];
        for (args, reason) in cases {
            for (name, expected) in [
                ("add_address", not_ok(reason)),
                ("del_address", not_ok(reason)),
                ("probe", err(reason)),
            ] {
                let line = [name.as_bytes(), args].concat();
                assert_eq!(parse_command(&line), expected, "{line:?}");
            }
        }
        for lease in ["-1", "+5", "4294967296", "1h", "0x10"] {
            let line = format!("add_address 10.0.0.1 02:11:22:33:44:55 {lease}");
            assert_eq!(
                parse_command(line.as_bytes()),
                not_ok(InvalidLease),
                "{line}"
            );
        }
        assert_eq!(CommandError::NotOk(InvalidMac).reply(), "NOT OK");
    }

    #[test]
    fn parses_verbosity() {
        for (word, level) in [
            ("none", Verbosity::Normal),
            ("verbose", Verbosity::Verbose),
            ("debug", Verbosity::Debug),
        ] {
            let line = format!("verbosity {word}");
            assert_eq!(
                parse_command(line.as_bytes()),
                Ok(Command::Verbosity(level))
            );
            assert_eq!(level.word(), word);
        }
        // The C daemon's prefix match accepted "debugging"; the spec wants exact words.
        for bad in ["debugging", "DEBUG", "quiet"] {
            let line = format!("verbosity {bad}");
            assert_eq!(
                parse_command(line.as_bytes()),
                err(ErrorReason::InvalidLevel)
            );
        }
        assert_eq!(
            parse_command(b"verbosity"),
            err(ErrorReason::MissingArgument)
        );
    }

    #[test]
    fn parses_has_route_ipv6_only() {
        assert_eq!(
            parse_command(b"has_route ::FFFF:198.51.100.66"),
            Ok(Command::HasRoute {
                text: "::FFFF:198.51.100.66".into(),
                addr: Ipv4Addr::new(198, 51, 100, 66).to_ipv6_mapped(),
            })
        );
        for bad in [
            &b"has_route 198.51.100.66"[..],
            b"has_route x",
            b"has_route \xff",
        ] {
            assert_eq!(parse_command(bad), err(ErrorReason::InvalidAddress));
        }
        assert_eq!(
            parse_command(b"has_route"),
            err(ErrorReason::MissingArgument)
        );
    }

    #[test]
    fn command_names_round_trip() {
        for line in [
            "get_clients",
            "get_prefixes",
            "get_meshifs",
            "add_meshif a",
            "del_meshif a",
            "add_prefix ::/0",
            "del_prefix ::/0",
            "add_address :: 00:00:00:00:00:00",
            "del_address :: 00:00:00:00:00:00",
            "probe :: 00:00:00:00:00:00",
            "verbosity none",
            "has_route ::",
        ] {
            let command = parse_command(line.as_bytes()).unwrap();
            assert!(line.starts_with(command.name()), "{line}");
        }
    }

    #[test]
    fn renders_the_simple_replies() {
        assert_eq!(
            render_added_prefix("2001:db8:5::/64"),
            "Added prefix: 2001:db8:5::/64"
        );
        assert_eq!(
            render_deleted_prefix("10.0.0.0/8"),
            "Deleted prefix: 10.0.0.0/8"
        );
        assert_eq!(
            render_has_route("2001:db8::1", true),
            "found route 2001:db8::1/128: YES\n"
        );
        assert_eq!(
            render_has_route("2001:db8::1", false),
            "found route 2001:db8::1/128: NO\n"
        );
        assert_eq!(
            render_error(ErrorReason::NoClientInterface),
            "ERROR: no client interface\n"
        );
        assert_eq!(
            CommandError::Error(ErrorReason::InvalidMac).to_string(),
            "invalid MAC"
        );
        assert_eq!((OK, NOT_OK), ("OK", "NOT OK"));
    }

    #[test]
    fn renders_the_spec_examples() {
        // cli-and-control.md §6.1 to §6.3.
        assert_eq!(render_clients(&[]), r#"{ "clients": 0 }"#);
        let one = ClientView {
            mac: mac("00:11:22:33:44:55"),
            interface: "br-client",
            addresses: vec![
                ("2001:db8::100".parse().unwrap(), 1),
                ("fe80::211:22ff:fe33:4455".parse().unwrap(), 1),
            ],
        };
        assert_eq!(
            render_clients(&[one]),
            r#"{ "clients": 1, "clientlist": { "00:11:22:33:44:55": { "interface": "br-client", "addresses": { "2001:db8::100": { "state": 1 }, "fe80::211:22ff:fe33:4455": { "state": 1 } } } } }"#
        );
        let two = [
            ClientView {
                mac: mac("02:00:00:00:01:00"),
                interface: "local-node",
                addresses: vec![],
            },
            ClientView {
                mac: mac("00:11:22:33:44:55"),
                interface: "local-node",
                addresses: vec![(Ipv4Addr::new(10, 0, 0, 100).to_ipv6_mapped(), 1)],
            },
        ];
        assert_eq!(
            render_clients(&two),
            r#"{ "clients": 2, "clientlist": { "02:00:00:00:01:00": { "interface": "local-node" }, "00:11:22:33:44:55": { "interface": "local-node", "addresses": { "::ffff:10.0.0.100": { "state": 1 } } } } }"#
        );
        assert_eq!(
            render_prefixes(
                Ipv4Addr::UNSPECIFIED.to_ipv6_mapped(),
                &["fe80::".parse().unwrap(), "2001:db8::".parse().unwrap()]
            ),
            r#"{ "prefixes": [ "::ffff:0.0.0.0", "fe80::", "2001:db8::" ] }"#
        );
        assert_eq!(
            render_prefixes("64:ff9b::".parse().unwrap(), &[]),
            r#"{ "prefixes": [ "64:ff9b::" ] }"#
        );
        assert_eq!(
            render_meshifs(&["mesh0", "mesh-vpn"]),
            r#"{ "mesh_interfaces": [ "mesh0", "mesh-vpn" ] }"#
        );
        assert_eq!(render_meshifs(&[]), r#"{ "mesh_interfaces": [ ] }"#);
    }

    #[test]
    fn escapes_strings_like_json_c() {
        assert_eq!(
            render_meshifs(&["a/b", "q\"\\", "\u{8}\u{c}\n\r\t", "\u{0}\u{1f}\u{7f}", "é"]),
            "{ \"mesh_interfaces\": [ \"a\\/b\", \"q\\\"\\\\\", \"\\b\\f\\n\\r\\t\", \
             \"\\u0000\\u001f\u{7f}\", \"é\" ] }"
        );
        let view = ClientView {
            mac: MacAddr::ZERO,
            interface: "br/\u{1b}",
            addresses: vec![],
        };
        assert_eq!(
            render_clients(&[view]),
            r#"{ "clients": 1, "clientlist": { "00:00:00:00:00:00": { "interface": "br\/\u001b" } } }"#
        );
    }

    #[test]
    fn interface_name_bounds() {
        assert!(!is_valid_interface_name(""));
        assert!(is_valid_interface_name("a"));
        assert!(is_valid_interface_name("123456789012345"));
        assert!(!is_valid_interface_name("1234567890123456"));
        // Bytes, not characters, as in the kernel: 8 two-byte characters are 16 bytes.
        assert!(!is_valid_interface_name("éééééééé"));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1500)) {
            let mut reader = LineReader::new();
            let status = reader.feed(&bytes);
            if let LineStatus::Line(line) = &status {
                prop_assert!(line.len() < MAX_LINE);
                prop_assert!(!line.contains(&b'\n') && !line.contains(&b'\r'));
            }
            if let Err(e) = parse_command(&bytes) {
                let reply = e.reply();
                prop_assert!(reply == NOT_OK || (reply.starts_with("ERROR: ") && reply.ends_with('\n')));
            }
        }

        #[test]
        fn command_like_lines_never_panic(
            name in prop::sample::select(vec![
                "get_clients", "add_meshif", "del_meshif", "add_prefix", "del_prefix",
                "add_address", "del_address", "probe", "verbosity", "has_route",
            ]),
            args in proptest::collection::vec(any::<Vec<u8>>(), 0..4),
        ) {
            let mut line = name.as_bytes().to_vec();
            for arg in args {
                line.push(b' ');
                line.extend(arg);
            }
            let _ = parse_command(&line);
        }

        #[test]
        fn chunking_does_not_change_the_line(
            bytes in proptest::collection::vec(any::<u8>(), 0..2100),
            cuts in proptest::collection::vec(any::<usize>(), 0..20),
        ) {
            let mut whole = LineReader::new();
            let mut expected = whole.feed(&bytes);
            if expected == LineStatus::Incomplete {
                expected = whole.finish();
            }

            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let mut reader = LineReader::new();
            let mut got = LineStatus::Incomplete;
            let mut start = 0;
            for end in cuts.into_iter().chain([bytes.len()]) {
                let status = reader.feed(&bytes[start..end]);
                if got == LineStatus::Incomplete {
                    got = status;
                } else {
                    prop_assert_eq!(status, LineStatus::Incomplete);
                }
                start = end;
            }
            if got == LineStatus::Incomplete {
                got = reader.finish();
            }
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn reader_memory_is_bounded(chunks in proptest::collection::vec(
            proptest::collection::vec(any::<u8>().prop_filter("no terminator", |b| *b != b'\n' && *b != b'\r'), 0..300),
            0..12,
        )) {
            let mut reader = LineReader::new();
            for chunk in &chunks {
                let _ = reader.feed(chunk);
                prop_assert!(reader.buf.capacity() <= 2 * MAX_LINE);
                prop_assert!(reader.buf.len() < MAX_LINE);
            }
        }
    }
}
