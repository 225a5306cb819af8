//! babeld's local interface (babeld.md §6): one line of text at a time, parsed into what the
//! duplicate detection needs. Only the lines this daemon reads are modelled:
//!
//! ```text
//! BABEL 1.0                                      header: the protocol, must come first
//! version babeld-1.12.1                          header
//! host r1                                        header
//! my-id 02:00:00:ff:00:01                        header: this node's router-id
//! ok | no[ <message>] | bad                      end of the header or of a request's answer
//! <kind> xroute <P>-<S> prefix <P> from <S> metric <n>
//! <kind> route <token> prefix <P> from <S> installed yes|no id <router-id> metric <n>
//!        refmetric <n> via <link-local> if <name>
//! ```
//!
//! `<kind>` is `add`, `change` or `flush`. Interface and neighbour lines, unknown kinds and
//! unknown words become [`Line::Ignored`]; after the fixed words, fields are `key value`
//! pairs and unknown pairs are skipped, so a newer babeld that appends fields still parses.
//! IPv4 prefixes are written dotted (`10.0.1.100/32`), as babeld prints them.
//!
//! The contract of [`crate::wire`] holds: any bytes give a [`Line`] or an [`Error`], never a
//! panic, and nothing allocates more than the line's own length.

use super::Error;
use std::fmt;
use std::net::IpAddr;

/// Longest line accepted, without its newline (babeld formats its lines into 512 bytes).
pub const MAX_LINE: usize = 512;
/// The first line of every session.
pub const PROTOCOL: &str = "1.0";
/// Longest route token accepted: babeld prints a pointer-sized number in hexadecimal.
const MAX_TOKEN: usize = 32;

/// A Babel router-id: 8 bytes, printed as colon-separated lowercase hexadecimal. The derived
/// order compares the bytes as one big-endian number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouterId(pub [u8; 8]);

impl RouterId {
    /// `02:00:00:ff:00:01`, in either case (babeld prints lowercase; a human may not).
    pub fn parse(text: &str) -> Result<RouterId, Error> {
        let bad = Error::BadField("router-id");
        let mut id = [0u8; 8];
        let mut groups = text.split(':');
        for byte in id.iter_mut() {
            let group = groups.next().ok_or(bad)?;
            if group.len() != 2 || !group.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad);
            }
            *byte = u8::from_str_radix(group, 16).map_err(|_| bad)?;
        }
        if groups.next().is_some() {
            return Err(bad);
        }
        Ok(RouterId(id))
    }
}

impl fmt::Display for RouterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]
        )
    }
}

/// A prefix as babeld prints it, host bits and all (they never matter for a /128 or /32).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl Prefix {
    /// `2001:db8::1/128` or `10.0.1.100/32`; the length is required and checked.
    pub fn parse(text: &str) -> Result<Prefix, Error> {
        let bad = Error::BadField("prefix");
        let (addr, len) = text.split_once('/').ok_or(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad)?;
        let digits = !len.is_empty() && len.len() <= 3 && len.bytes().all(|b| b.is_ascii_digit());
        let len: u8 = len.parse().ok().filter(|_| digits).ok_or(bad)?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(bad);
        }
        Ok(Prefix { addr, len })
    }

    /// The source babeld prints for a route that is not source-specific: `::/0` or
    /// `0.0.0.0/0`, by the family of `of`.
    pub fn unspecified_like(of: &IpAddr) -> Prefix {
        let addr = match of {
            IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        };
        Prefix { addr, len: 0 }
    }

    /// A /128, or a /32 for IPv4: one address.
    pub fn is_host(&self) -> bool {
        self.len == if self.addr.is_ipv4() { 32 } else { 128 }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// The first word of an update line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Add,
    Change,
    Flush,
}

/// A route this node redistributes (a kernel route or a local address).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XRoute {
    pub change: Change,
    pub prefix: Prefix,
    pub source: Prefix,
    pub metric: u16,
}

/// A route learned from a neighbour, installed or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub change: Change,
    /// babeld's identifier of the route, stable while it exists (hexadecimal text).
    pub token: String,
    pub prefix: Prefix,
    pub source: Prefix,
    pub installed: bool,
    /// The router-id of the route's originator.
    pub id: RouterId,
    /// 65535 is infinity: retracted or unreachable.
    pub metric: u16,
    pub refmetric: Option<u16>,
    pub via: Option<IpAddr>,
    pub ifname: Option<String>,
}

/// One line from babeld.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// `BABEL <version>`: the first line of a session.
    Protocol(String),
    Version(String),
    Host(String),
    MyId(RouterId),
    Ok,
    /// `no`, with babeld's message if it gave one.
    No(String),
    Bad,
    XRoute(XRoute),
    Route(Route),
    /// Interfaces, neighbours, unknown kinds and empty lines.
    Ignored,
}

impl Line {
    /// Parses one line, without its `\n` (a trailing `\r` is tolerated).
    pub fn parse(line: &[u8]) -> Result<Line, Error> {
        if line.len() > MAX_LINE {
            return Err(Error::LineTooLong(line.len()));
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let text = std::str::from_utf8(line).map_err(|_| Error::BadField("UTF-8 text"))?;
        let words: Vec<&str> = text.split_ascii_whitespace().collect();
        let rest = |from: usize| words.get(from..).unwrap_or(&[]).join(" ");
        let Some(&first) = words.first() else {
            return Ok(Line::Ignored);
        };
        Ok(match first {
            "BABEL" => match words.get(1) {
                Some(version) => Line::Protocol((*version).to_string()),
                None => return Err(Error::BadField("protocol version")),
            },
            "version" => Line::Version(rest(1)),
            "host" => Line::Host(rest(1)),
            "my-id" => Line::MyId(RouterId::parse(words.get(1).copied().unwrap_or(""))?),
            "ok" => Line::Ok,
            "no" => Line::No(rest(1)),
            "bad" => Line::Bad,
            "add" | "change" | "flush" => {
                let change = match first {
                    "add" => Change::Add,
                    "change" => Change::Change,
                    _ => Change::Flush,
                };
                match words.get(1).copied() {
                    Some("xroute") => Line::XRoute(parse_xroute(change, &words)?),
                    Some("route") => Line::Route(parse_route(change, &words)?),
                    _ => Line::Ignored,
                }
            }
            _ => Line::Ignored,
        })
    }
}

/// The `key value` pairs after the fixed words, known keys picked out, unknown ones skipped.
struct Fields<'a> {
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> Fields<'a> {
    fn new(words: &[&'a str]) -> Fields<'a> {
        Fields {
            pairs: words
                .chunks_exact(2)
                .map(|pair| (pair[0], pair[1]))
                .collect(),
        }
    }

    fn get(&self, key: &str) -> Option<&'a str> {
        self.pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    fn required(&self, key: &'static str) -> Result<&'a str, Error> {
        self.get(key).ok_or(Error::BadField(key))
    }

    fn metric(&self, key: &'static str) -> Result<Option<u16>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(text) => {
                let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
                match text.parse::<u16>() {
                    Ok(value) if digits => Ok(Some(value)),
                    _ => Err(Error::BadField(key)),
                }
            }
        }
    }

    /// `from`, or the unspecified source of the prefix's family when an older babeld
    /// leaves it out.
    fn source(&self, prefix: &Prefix) -> Result<Prefix, Error> {
        match self.get("from") {
            Some(text) => Prefix::parse(text).map_err(|_| Error::BadField("from")),
            None => Ok(Prefix::unspecified_like(&prefix.addr)),
        }
    }
}

fn parse_xroute(change: Change, words: &[&str]) -> Result<XRoute, Error> {
    // words: <kind> xroute <P>-<S> key value ...
    let fields = Fields::new(words.get(3..).unwrap_or(&[]));
    let prefix = Prefix::parse(fields.required("prefix")?)?;
    Ok(XRoute {
        change,
        prefix,
        source: fields.source(&prefix)?,
        metric: fields.metric("metric")?.ok_or(Error::BadField("metric"))?,
    })
}

fn parse_route(change: Change, words: &[&str]) -> Result<Route, Error> {
    // words: <kind> route <token> key value ...
    let token = words.get(2).copied().unwrap_or("");
    if token.is_empty() || token.len() > MAX_TOKEN || !token.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(Error::BadField("route token"));
    }
    let fields = Fields::new(words.get(3..).unwrap_or(&[]));
    let prefix = Prefix::parse(fields.required("prefix")?)?;
    let installed = match fields.required("installed")? {
        "yes" => true,
        "no" => false,
        _ => return Err(Error::BadField("installed")),
    };
    let via = match fields.get("via") {
        Some(text) => Some(text.parse().map_err(|_| Error::BadField("via"))?),
        None => None,
    };
    Ok(Route {
        change,
        token: token.to_string(),
        prefix,
        source: fields.source(&prefix)?,
        installed,
        id: RouterId::parse(fields.required("id")?)?,
        metric: fields.metric("metric")?.ok_or(Error::BadField("metric"))?,
        refmetric: fields.metric("refmetric")?,
        via,
        ifname: fields.get("if").map(str::to_string),
    })
}

/// In the derived order: the address, then the length.
impl crate::slot_map::SlotKey for Prefix {
    const WIDTH: usize = 18;
    fn write(&self, out: &mut [u8]) {
        (self.addr, self.len).write(out);
    }
}

impl crate::slot_map::SlotKey for RouterId {
    const WIDTH: usize = 8;
    fn write(&self, out: &mut [u8]) {
        self.0.write(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Line, Error> {
        Line::parse(text.as_bytes())
    }

    fn prefix(text: &str) -> Prefix {
        Prefix::parse(text).unwrap()
    }

    fn id(text: &str) -> RouterId {
        RouterId::parse(text).unwrap()
    }

    #[test]
    fn the_header_babeld_sends_on_connect() {
        assert_eq!(parse("BABEL 1.0"), Ok(Line::Protocol("1.0".into())));
        assert_eq!(
            parse("version babeld-1.12.1"),
            Ok(Line::Version("babeld-1.12.1".into()))
        );
        assert_eq!(parse("host node-a"), Ok(Line::Host("node-a".into())));
        // What babeld 1.12.1 prints for `router-id 02:00:00:ff:00:01` in its configuration:
        // a six-byte id is widened to an EUI-64 (babeld.md §6.2 shows it unwidened).
        assert_eq!(
            parse("my-id 02:00:00:ff:fe:ff:00:01"),
            Ok(Line::MyId(RouterId([2, 0, 0, 0xff, 0xfe, 0xff, 0, 1])))
        );
        assert_eq!(parse("ok"), Ok(Line::Ok));
        assert_eq!(parse("bad"), Ok(Line::Bad));
        assert_eq!(parse("no"), Ok(Line::No(String::new())));
        assert_eq!(
            parse("no unknown command"),
            Ok(Line::No("unknown command".into()))
        );
        assert_eq!(parse("ok\r"), Ok(Line::Ok));
    }

    #[test]
    fn router_ids_are_eight_bytes_in_either_case_compared_big_endian() {
        let a = id("02:00:00:ff:00:00:00:01");
        assert_eq!(a, id("02:00:00:FF:00:00:00:01"));
        assert_eq!(a.to_string(), "02:00:00:ff:00:00:00:01");
        assert!(id("02:00:00:ff:00:00:00:02") > a);
        assert!(id("03:00:00:00:00:00:00:00") > id("02:ff:ff:ff:ff:ff:ff:ff"));
        for bad in [
            "",
            "02:00:00:ff:00:01",
            "02:00:00:ff:00:00:00:01:00",
            "02:00:00:ff:00:00:00:1",
            "02:00:00:ff:00:00:00:0g",
            "02-00-00-ff-00-00-00-01",
            "+2:00:00:ff:00:00:00:01",
        ] {
            assert_eq!(
                RouterId::parse(bad),
                Err(Error::BadField("router-id")),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_examples_of_babeld_md_6_2() {
        assert_eq!(
            parse("add xroute 2001:db8::100/128-::/0 prefix 2001:db8::100/128 from ::/0 metric 0"),
            Ok(Line::XRoute(XRoute {
                change: Change::Add,
                prefix: prefix("2001:db8::100/128"),
                source: prefix("::/0"),
                metric: 0,
            }))
        );
        assert_eq!(
            parse(
                "add route 5581f2a0 prefix 2001:db8::100/128 from ::/0 installed no \
                 id 02:00:00:ff:00:03 metric 192 refmetric 0 via fe80::3c5e:1ff:fe22:3344 if m-r3"
            ),
            Err(Error::BadField("router-id")),
            "the spec's example shows a six-byte router-id; babeld prints eight"
        );
        assert_eq!(
            parse(
                "add route 5581f2a0 prefix 2001:db8::100/128 from ::/0 installed no \
                 id 02:00:00:ff:00:00:00:03 metric 192 refmetric 0 \
                 via fe80::3c5e:1ff:fe22:3344 if m-r3"
            ),
            Ok(Line::Route(Route {
                change: Change::Add,
                token: "5581f2a0".into(),
                prefix: prefix("2001:db8::100/128"),
                source: prefix("::/0"),
                installed: false,
                id: id("02:00:00:ff:00:00:00:03"),
                metric: 192,
                refmetric: Some(0),
                via: Some("fe80::3c5e:1ff:fe22:3344".parse().unwrap()),
                ifname: Some("m-r3".into()),
            }))
        );
    }

    #[test]
    fn ipv4_routes_are_dotted_and_flush_lines_carry_every_field() {
        let line = "flush route 55d0c1a2b3c0 prefix 10.0.1.100/32 from 0.0.0.0/0 installed yes \
                    id 02:00:00:ff:00:00:00:01 metric 65535 refmetric 65535 \
                    via fe80::1 if m-r1";
        let Ok(Line::Route(route)) = parse(line) else {
            panic!("{line}");
        };
        assert_eq!(route.change, Change::Flush);
        assert_eq!(route.prefix, prefix("10.0.1.100/32"));
        assert!(route.prefix.is_host());
        assert_eq!(route.source, prefix("0.0.0.0/0"));
        assert!(route.installed);
        assert_eq!(route.metric, 65535);
        let xroute = parse(
            "change xroute 10.0.1.100/32-0.0.0.0/0 prefix 10.0.1.100/32 from 0.0.0.0/0 metric 0",
        );
        assert!(
            matches!(xroute, Ok(Line::XRoute(XRoute { change: Change::Change, prefix: p, .. })) if p.is_host())
        );
        assert!(!prefix("2001:db8:1::/64").is_host());
    }

    /// A monitor dump of babeld 1.12.1 on r1 of the test mesh, the client's /128 and /32
    /// redistributed there and on r3.
    #[test]
    fn a_dump_captured_from_babeld_1_12_1() {
        let dump = "\
BABEL 1.0
version babeld-1.12.1
host vm
my-id 02:00:00:ff:fe:ff:00:01
ok
add interface m-r2 up true ipv6 fe80::5058:c8ff:fec8:6199
add neighbour 5641cf550180 address fe80::49a:2dff:fe94:3b03 if m-r2 reach f800 ureach 0000 rxcost 96 txcost 96 cost 96
add xroute 2001:db8:ff::1/128-::/0 prefix 2001:db8:ff::1/128 from ::/0 metric 0
add xroute 10.0.1.100/32-0.0.0.0/0 prefix 10.0.1.100/32 from 0.0.0.0/0 metric 0
add xroute 2001:db8:1::100/128-::/0 prefix 2001:db8:1::100/128 from ::/0 metric 0
add route 5641cf5514d0 prefix 10.0.2.0/24 from 0.0.0.0/0 installed yes id 02:00:00:ff:fe:ff:00:02 metric 96 refmetric 0 via fe80::49a:2dff:fe94:3b03 if m-r2
add route 5641cf550350 prefix 2001:db8:ff::3/128 from ::/0 installed yes id 02:00:00:ff:fe:ff:00:03 metric 192 refmetric 96 via fe80::49a:2dff:fe94:3b03 if m-r2
add route 5641cf550c30 prefix 2001:db8:1::100/128 from ::/0 installed no id 02:00:00:ff:fe:ff:00:03 metric 192 refmetric 96 via fe80::49a:2dff:fe94:3b03 if m-r2
ok
change neighbour 5641cf550180 address fe80::49a:2dff:fe94:3b03 if m-r2 reach fc00 ureach 0000 rxcost 96 txcost 96 cost 96
";
        let lines: Vec<Line> = dump
            .lines()
            .map(|l| Line::parse(l.as_bytes()).unwrap())
            .collect();
        assert_eq!(lines[0], Line::Protocol(PROTOCOL.into()));
        assert_eq!(lines[3], Line::MyId(id("02:00:00:ff:fe:ff:00:01")));
        let xroutes: Vec<Prefix> = lines
            .iter()
            .filter_map(|l| match l {
                Line::XRoute(x) => Some(x.prefix),
                _ => None,
            })
            .collect();
        assert_eq!(
            xroutes,
            [
                prefix("2001:db8:ff::1/128"),
                prefix("10.0.1.100/32"),
                prefix("2001:db8:1::100/128")
            ]
        );
        let duplicate = lines.iter().find_map(|l| match l {
            Line::Route(r) if r.prefix == prefix("2001:db8:1::100/128") => Some(r),
            _ => None,
        });
        assert!(
            matches!(duplicate, Some(r) if !r.installed && r.id == id("02:00:00:ff:fe:ff:00:03") && r.metric == 192)
        );
        assert_eq!(lines.iter().filter(|l| **l == Line::Ok).count(), 2);
        assert_eq!(lines.iter().filter(|l| **l == Line::Ignored).count(), 3);
    }

    #[test]
    fn interfaces_neighbours_and_unknown_kinds_are_ignored() {
        for line in [
            "add interface m-r2 up true ipv6 fe80::1 ipv4 10.0.0.1",
            "add interface m-r2 up false",
            "change neighbour 55e4 address fe80::2 if m-r2 reach ffff ureach 0000 rxcost 96 \
             txcost 96 rtt 0.100 rttcost 0 cost 96",
            "flush neighbour 55e4 address fe80::2 if m-r2 reach 0000 ureach 0000 rxcost 65535 \
             txcost 65535 cost 65535",
            "add something-new 1 2 3",
            "teleport route 1 prefix ::/0",
            "",
            "   ",
        ] {
            assert_eq!(parse(line), Ok(Line::Ignored), "{line}");
        }
    }

    #[test]
    fn unknown_trailing_fields_and_a_missing_source_are_tolerated() {
        let line = "add route 1f prefix 2001:db8:1::5/128 from ::/0 installed no \
                    id 02:00:00:ff:00:00:00:02 metric 96 refmetric 0 via fe80::2 if m-r2 \
                    future-field 7 another x";
        assert!(matches!(parse(line), Ok(Line::Route(r)) if r.metric == 96));
        // Fields in another order, the optional ones gone, no `from`.
        let line = "change route 1f metric 96 id 02:00:00:ff:00:00:00:02 installed yes \
                    prefix 2001:db8:1::5/128";
        let Ok(Line::Route(route)) = parse(line) else {
            panic!("{line}");
        };
        assert_eq!(route.source, prefix("::/0"));
        assert_eq!(
            (route.refmetric, route.via, route.ifname),
            (None, None, None)
        );
        let line = "add xroute 10.0.1.5/32 prefix 10.0.1.5/32 metric 0 extra 1";
        assert!(matches!(parse(line), Ok(Line::XRoute(x)) if x.source == prefix("0.0.0.0/0")));
    }

    #[test]
    fn malformed_lines_are_errors_naming_the_field() {
        let route = |fields: &str| format!("add route 1f {fields}");
        let good =
            "prefix 2001:db8::1/128 from ::/0 installed no id 02:00:00:ff:00:00:00:02 metric 96";
        assert!(parse(&route(good)).is_ok());
        let cases: &[(String, Error)] = &[
            ("BABEL".into(), Error::BadField("protocol version")),
            ("my-id".into(), Error::BadField("router-id")),
            ("my-id 02:00".into(), Error::BadField("router-id")),
            ("add route".into(), Error::BadField("route token")),
            (
                format!("add route xyz {good}"),
                Error::BadField("route token"),
            ),
            (
                format!("add route {} {good}", "f".repeat(33)),
                Error::BadField("route token"),
            ),
            (
                route("from ::/0 installed no id 02:00:00:ff:00:00:00:02 metric 96"),
                Error::BadField("prefix"),
            ),
            (
                route(&good.replace("::1/128", "::1/129")),
                Error::BadField("prefix"),
            ),
            (
                route(&good.replace("2001:db8::1/128", "10.0.0.1/33")),
                Error::BadField("prefix"),
            ),
            (
                route(&good.replace("2001:db8::1/128", "2001:db8::1")),
                Error::BadField("prefix"),
            ),
            (
                route(&good.replace("2001:db8::1/128", "2001:db8::1/+8")),
                Error::BadField("prefix"),
            ),
            (
                route(&good.replace("2001:db8::1/128", "2001:db8::1/0128")),
                Error::BadField("prefix"),
            ),
            (route(&good.replace("::/0", "::")), Error::BadField("from")),
            (
                route(&good.replace("installed no", "installed maybe")),
                Error::BadField("installed"),
            ),
            (
                route(&good.replace("installed no ", "")),
                Error::BadField("installed"),
            ),
            (
                route(&good.replace("metric 96", "metric 65536")),
                Error::BadField("metric"),
            ),
            (
                route(&good.replace("metric 96", "metric -1")),
                Error::BadField("metric"),
            ),
            (
                route(&good.replace(" metric 96", "")),
                Error::BadField("metric"),
            ),
            (
                route(&format!("{good} refmetric x")),
                Error::BadField("refmetric"),
            ),
            (
                route(&format!("{good} via not-an-address")),
                Error::BadField("via"),
            ),
            (
                route(&good.replace("id 02:00:00:ff:00:00:00:02 ", "")),
                Error::BadField("id"),
            ),
            (
                "add xroute x prefix 2001:db8::1/128 from ::/0".into(),
                Error::BadField("metric"),
            ),
            ("add xroute x metric 0".into(), Error::BadField("prefix")),
        ];
        for (line, expected) in cases {
            assert_eq!(parse(line), Err(*expected), "{line}");
        }
        assert_eq!(
            Line::parse(b"add route \xff\xfe"),
            Err(Error::BadField("UTF-8 text"))
        );
    }

    #[test]
    fn lines_up_to_512_bytes_are_accepted_longer_ones_are_not() {
        let line = format!("host {}", "h".repeat(MAX_LINE - 5));
        assert_eq!(line.len(), MAX_LINE);
        assert!(matches!(parse(&line), Ok(Line::Host(_))));
        let line = format!("{line}h");
        assert_eq!(parse(&line), Err(Error::LineTooLong(MAX_LINE + 1)));
    }
}
