//! Benchmark 1 of BENCHMARKS.md, "Handover": the traffic cut of a roam in the namespace mesh of
//! the end-to-end tests (tests/netns: three babeld routers, l3roamd on each, a server behind r2,
//! clients whose ports move between r1 and r3), for four series of `--roams` roams each:
//! an active client (it pings the server throughout) and a passive one (it sends nothing of its
//! own accord), each in IPv6 and in IPv4. `scripts/bench/handover.sh` runs it and draws the
//! plots; by hand, as root:
//!
//! ```text
//! cargo bench --bench handover -- [--roams N] [--timeout S] [--clients K] [--period S] [--quick]
//! ```
//!
//! Why several clients: babeld keeps a route, a retracted one too, for its hold time (15 s
//! at the mesh's 0.5 s hello), and a client that comes back within it to the router it left
//! is announced faster than one that has not been there for a while (passive medians of
//! 164–173 ms with one client moving every 2 s, 249–369 ms with 8 clients 16 s apart). Real
//! clients roam minutes apart, so each client here waits `--period` (16 s) between its moves,
//! and `--clients` (8) of them take turns, one move every 2 s.
//!
//! stdout: what was run and the table, in Markdown; stderr: one line per roam. Raw data in
//! `$BENCH_OUT` (default `<target>/bench`): `handover.tsv` (every roam),
//! `handover-timeline.tsv` and `handover-timeline-longest.tsv` (the server's replies during
//! each series' median roam, and during its successful roam with the longest cut),
//! `handover-cdf.tsv`.
//! `L3ROAMD_BIN` and `BABELD_BIN` run other builds (tests/netns). Without `--bench` (as
//! `cargo test --benches` runs it) it checks its own helpers and exits.
//!
//! One roam, of series (kind, family):
//! 1. the server pings the client's address of the family (`ping -i 0.01`: 64-byte echo
//!    requests every 10 ms asked, which iputils' ping stretches to about 16 ms on a 250 Hz
//!    kernel, see `Mesh::start_pinger`; the output gives the interval measured); an active
//!    client also pings the server's address of the family in the same way;
//! 2. once each ping has had a reply, the server's has run for 300 ms, the previous move (of
//!    any client) started at least [`ROAM_PERIOD`] (2 s) ago and this client's own at least
//!    `--period` ago, the move starts: the client's port leaves its router's bridge for the other's
//!    (`mesh.sh roam`), so its carrier drops and returns;
//! 3. traffic is back at the first echo reply the server gets after the port has moved;
//! 4. the observation ends once the new router serves the client (host routes and node-client
//!    IP), the old one holds nothing of it (no route, no demoted route, no node-client IP) and
//!    r2's babeld routes both of its addresses toward the new router, but not before 500 ms
//!    after the first reply (a second gap counts too) nor before the release hold (1 s) after
//!    the move (when the old router deletes its demoted routes);
//! 5. the cut is the longest gap between consecutive echo replies arriving at the server from
//!    1 s before the move started until the observation ended.
//!
//! A roam fails if no reply reaches the server within `--timeout` of the move's start, or the
//! routers are not right (step 4) within `--timeout` plus the release hold, or the pings got
//! no reply before the move; its cut is left out of the statistics and the run goes on.

#[path = "../tests/netns/mod.rs"]
mod netns;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use l3roamd::engine::RELEASE_HOLD;
use netns::{
    Client, EchoReply, Mesh, NEW_CLIENT_BOUND, ROAM_PERIOD, Spread, Topology, eventually, must,
    r2_routes_client_toward, serves_client, serves_not_client,
};

const USAGE: &str = "usage: cargo bench --bench handover -- [--roams N] [--timeout S] \
[--clients K] [--period S] [--quick]
  --roams N     roams per series (default 50); four series: active and passive, IPv6 and IPv4
  --timeout S   a roam whose traffic is not back after S seconds has failed (default 10)
  --clients K   clients taking turns, 1 to 9 (default 8)
  --period S    a client moves at least S seconds after its previous move (default 16: babeld
                forgets its routes after 15 s; at least 2)
  --quick       3 roams per series: a try in about a minute";

/// Between two moves of one client: babeld's route hold time at the mesh's 0.5 s hello (its
/// update interval is 4 hellos, 2 s, and a route is held for max(6 intervals, 15 s)), plus a
/// second.
const CLIENT_PERIOD: Duration = Duration::from_secs(16);

/// What a second gap right after the first reply needs to be seen.
const AFTER_FIRST_REPLY: Duration = Duration::from_millis(500);

/// How much of the traffic before the move the cut looks at (as `Pinger::cut_around`).
const BEFORE_MOVE: Duration = Duration::from_secs(1);

/// How long the server's pings run at least before the move: the timeline plots show the
/// traffic before it. Only the first roam waits for it: the others wait longer anyway, for
/// [`ROAM_PERIOD`] since the move before.
const PINGS_BEFORE_MOVE: Duration = Duration::from_millis(300);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Active,
    Passive,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    V6,
    V4,
}

/// The four series. The roams take turns, one of each series per round, so that whatever
/// else the machine does weighs on all four alike.
const SERIES: [(Kind, Family); 4] = [
    (Kind::Active, Family::V6),
    (Kind::Active, Family::V4),
    (Kind::Passive, Family::V6),
    (Kind::Passive, Family::V4),
];

/// The order of the series in `round` (from 1). With one client every roam goes the other
/// way (r1 -> r3, r3 -> r1, ...), and with a fixed order each series would always roam the
/// same way; every other round swaps neighbours, so that each series goes both ways.
fn round_order(round: usize) -> [usize; 4] {
    if round % 2 == 1 {
        [0, 1, 2, 3]
    } else {
        [1, 0, 3, 2]
    }
}

fn series_name(series: usize) -> String {
    let (kind, family) = SERIES[series];
    format!(
        "{} {}",
        match kind {
            Kind::Active => "active",
            Kind::Passive => "passive",
        },
        match family {
            Family::V6 => "IPv6",
            Family::V4 => "IPv4",
        }
    )
}

/// Issue 8's targets, with Debian's babeld 1.12.1 and the release rule: the median cut under
/// 400 ms (active) or 1 s (passive), and no failed roam.
fn target_median(kind: Kind) -> Duration {
    match kind {
        Kind::Active => Duration::from_millis(400),
        Kind::Passive => Duration::from_secs(1),
    }
}

struct Args {
    roams: usize,
    timeout: Duration,
    clients: usize,
    period: Duration,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut parsed = Args {
        roams: 50,
        timeout: Duration::from_secs(10),
        clients: 8,
        period: CLIENT_PERIOD,
    };
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let mut value = |name: &str| {
            words
                .next()
                .ok_or_else(|| format!("{name} needs a value"))
                .cloned()
        };
        match word.as_str() {
            "--roams" => {
                let text = value("--roams")?;
                parsed.roams = match text.parse() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(format!("--roams {text}: not a count above 0")),
                };
            }
            "--timeout" => {
                let text = value("--timeout")?;
                parsed.timeout = match text.parse::<f64>() {
                    Ok(s) if s > 0.0 && s <= 600.0 => Duration::from_secs_f64(s),
                    _ => return Err(format!("--timeout {text}: not seconds in (0, 600]")),
                };
            }
            "--period" => {
                let text = value("--period")?;
                parsed.period = match text.parse::<f64>() {
                    Ok(s) if s >= ROAM_PERIOD.as_secs_f64() && s <= 3600.0 => {
                        Duration::from_secs_f64(s)
                    }
                    _ => {
                        return Err(format!(
                            "--period {text}: not seconds in [{}, 3600]",
                            ROAM_PERIOD.as_secs_f64()
                        ));
                    }
                };
            }
            "--clients" => {
                let text = value("--clients")?;
                parsed.clients = match text.parse() {
                    Ok(k) if (1..=9).contains(&k) => k,
                    _ => return Err(format!("--clients {text}: not a count from 1 to 9")),
                };
            }
            "--quick" => parsed.roams = 3,
            // cargo bench's own word.
            "--bench" => {}
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(parsed)
}

/// One roam, as measured.
struct Roam {
    series: usize,
    /// Within its series, from 1.
    number: usize,
    client: String,
    from: String,
    to: String,
    /// From the start of the move until the port was in the new router's bridge.
    moved: Duration,
    /// From the start of the move until the server's first echo reply after the port moved.
    back: Option<Duration>,
    cut: Duration,
    failure: Option<String>,
    /// The server's echo replies: ms from the start of the move, and sequence number.
    replies: Vec<(f64, Option<u16>)>,
    /// How often the kernel's neighbour tables were full during the roam (see
    /// [`neighbour_table_fulls`]).
    table_fulls: u64,
}

/// The `table_fulls` column of /proc/net/stat/arp_cache or ndisc_cache (hexadecimal, one
/// line per CPU after the header), summed.
fn parse_table_fulls(text: &str) -> Option<u64> {
    let mut lines = text.lines();
    let column = lines
        .next()?
        .split_whitespace()
        .position(|name| name == "table_fulls")?;
    lines
        .map(|line| u64::from_str_radix(line.split_whitespace().nth(column)?, 16).ok())
        .sum()
}

/// How often a new neighbour entry found the kernel's ARP or NDP table full so far. The
/// tables, and their limit (`gc_thresh3`), are shared by every network namespace: something
/// else on the machine that fills them (thousands of clients in another mesh) makes babeld's
/// and the routers' sends fail ("send: Invalid argument" in babeld's log), and the roams of
/// this run with them.
fn neighbour_table_fulls() -> u64 {
    ["/proc/net/stat/arp_cache", "/proc/net/stat/ndisc_cache"]
        .iter()
        .filter_map(|path| parse_table_fulls(&fs::read_to_string(path).ok()?))
        .sum()
}

/// Signed milliseconds from `origin` to `at`.
fn ms_from(origin: Instant, at: Instant) -> f64 {
    if at >= origin {
        (at - origin).as_secs_f64() * 1000.0
    } else {
        -((origin - at).as_secs_f64() * 1000.0)
    }
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// When moves started: the last one of any client, and each client's own last one.
#[derive(Default)]
struct Moves {
    last: Option<Instant>,
    of_client: BTreeMap<String, Instant>,
}

/// One roam of `series` by `client` (see the top of this file).
fn roam(
    mesh: &mut Mesh,
    client: &Client,
    series: usize,
    number: usize,
    args: &Args,
    moves: &mut Moves,
) -> Roam {
    let timeout = args.timeout;
    let (kind, family) = SERIES[series];
    let from = mesh.client_at_of(&client.name);
    let to = if from == "r1" { "r3" } else { "r1" }.to_string();
    let (client_addr, server_addr) = match family {
        Family::V6 => (client.ip6.clone(), mesh.var("SERVER_IP6").to_string()),
        Family::V4 => (client.ip4.clone(), mesh.var("SERVER_IP4").to_string()),
    };
    let server = mesh.start_pinger("srv", &client_addr);
    let mut pingers = vec![server];
    if kind == Kind::Active {
        pingers.push(mesh.start_pinger(&client.name, &server_addr));
    }
    let mut failure = None;
    let fulls_before = neighbour_table_fulls();
    let started = Instant::now();
    let flowing = eventually(timeout, || {
        for &p in &pingers {
            let pinger = mesh.pinger(p);
            if pinger.first_reply_after(started).is_none() {
                return Err(format!(
                    "no echo reply {} -> {} before the move",
                    pinger.node, pinger.addr
                ));
            }
        }
        Ok(())
    });
    if let Err(err) = flowing {
        failure = Some(err);
    }
    let due = [
        Some(started + PINGS_BEFORE_MOVE),
        moves.last.map(|last| last + ROAM_PERIOD),
        moves
            .of_client
            .get(&client.name)
            .map(|last| *last + args.period),
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(started);
    thread::sleep(due.saturating_duration_since(Instant::now()));

    let start = Instant::now();
    moves.last = Some(start);
    moves.of_client.insert(client.name.clone(), start);
    mesh.roam_client(&client.name, &to);
    let moved_at = Instant::now();
    // Only a reply after the port has moved proves the path through the new router.
    let deadline = start + timeout;
    let back = loop {
        if let Some(at) = mesh.pinger(server).first_reply_after(moved_at) {
            break Some(at - start);
        }
        if Instant::now() >= deadline {
            break None;
        }
        thread::sleep(Duration::from_millis(5));
    };
    match back {
        None => {
            failure.get_or_insert(format!(
                "no echo reply at the server within {} s",
                timeout.as_secs_f64()
            ));
        }
        Some(back) => {
            // The routers are looked at only from here on: polling them runs `ip` a few
            // times, which would take CPU from babeld and the daemons during the cut.
            let not_before = (start + back + AFTER_FIRST_REPLY).max(start + RELEASE_HOLD);
            thread::sleep(not_before.saturating_duration_since(Instant::now()));
            let bound = (deadline + RELEASE_HOLD).saturating_duration_since(Instant::now());
            let right = eventually(bound, || {
                serves_client(mesh, client, &to)?;
                serves_not_client(mesh, client, &from)?;
                r2_routes_client_toward(mesh, client, &to)
            });
            if let Err(err) = right {
                failure.get_or_insert(format!("routers not right: {err}"));
            }
        }
    }
    let end = Instant::now();
    if let Some(failure) = failure.as_mut() {
        let path = mesh.dir.join(format!(
            "failed-{}-{number}-{}.txt",
            series_key(series),
            client.name
        ));
        mesh.save_state(&path);
        failure.push_str(&format!(" (routes and babeld's view: {})", path.display()));
    }
    let echoes: Vec<EchoReply> = mesh.pinger(server).echo_replies();
    let times: Vec<Instant> = echoes.iter().map(|reply| reply.at).collect();
    let cut = netns::largest_gap(&times, start.checked_sub(BEFORE_MOVE).unwrap_or(start), end);
    mesh.stop_pingers();
    // A daemon that died ends the run (with its log): every later roam would measure nothing.
    mesh.assert_all_running();
    Roam {
        series,
        number,
        client: client.name.clone(),
        from,
        to,
        moved: moved_at - start,
        back,
        cut,
        failure,
        replies: echoes
            .iter()
            .map(|reply| (ms_from(start, reply.at), reply.seq))
            .collect(),
        table_fulls: neighbour_table_fulls().saturating_sub(fulls_before),
    }
}

/// The median of the roams' send intervals, in ms.
fn measured_interval(roams: &[Roam]) -> Option<f64> {
    let mut intervals: Vec<f64> = roams
        .iter()
        .filter_map(|r| send_interval(&r.replies))
        .collect();
    intervals.sort_by(f64::total_cmp);
    intervals.get(intervals.len() / 2).copied()
}

/// One series' figures.
struct Summary {
    roams: usize,
    failed: usize,
    spread: Option<Spread>,
    verdict: String,
}

fn summarize(series: usize, roams: &[Roam]) -> Summary {
    let own: Vec<&Roam> = roams.iter().filter(|r| r.series == series).collect();
    let failed = own.iter().filter(|r| r.failure.is_some()).count();
    let spread = Spread::of(
        own.iter()
            .filter(|r| r.failure.is_none())
            .map(|r| r.cut)
            .collect(),
    );
    Summary {
        roams: own.len(),
        failed,
        spread,
        verdict: verdict(target_median(SERIES[series].0), spread, failed),
    }
}

/// "met", or what was missed and by how much.
fn verdict(target: Duration, spread: Option<Spread>, failed: usize) -> String {
    let mut missed = Vec::new();
    match spread {
        Some(s) if s.median >= target => missed.push(format!(
            "median {} ms, {} ms over",
            ms(s.median),
            ms(s.median - target)
        )),
        Some(_) => {}
        None => missed.push("no roam succeeded".to_string()),
    }
    if failed > 0 {
        missed.push(format!("{failed} failed"));
    }
    if missed.is_empty() {
        "met".to_string()
    } else {
        format!("**missed**: {}", missed.join("; "))
    }
}

/// The roam of `series` whose cut is the median (the lower middle one of an even count),
/// among those that succeeded.
fn median_roam(roams: &[Roam], series: usize) -> Option<&Roam> {
    let mut own: Vec<&Roam> = roams
        .iter()
        .filter(|r| r.series == series && r.failure.is_none())
        .collect();
    own.sort_by_key(|r| r.cut);
    own.get(own.len().checked_sub(1)? / 2).copied()
}

/// The roam of `series` with the longest cut among those that succeeded: what a slow roam
/// looked like. (A failed one shows no reply after the move at all.)
fn longest_roam(roams: &[Roam], series: usize) -> Option<&Roam> {
    roams
        .iter()
        .filter(|r| r.series == series && r.failure.is_none())
        .max_by_key(|r| r.cut)
}

/// The empirical distribution of `cuts`: (cut in ms, share of roams with that cut or less).
fn cdf(cuts: &[Duration]) -> Vec<(u128, f64)> {
    let mut sorted = cuts.to_vec();
    sorted.sort();
    let n = sorted.len() as f64;
    sorted
        .iter()
        .enumerate()
        .map(|(i, cut)| (ms(*cut), (i + 1) as f64 / n))
        .collect()
}

/// The interval at which the replies' echo requests were sent, in ms: the time between the
/// first and the last reply over the requests sent in between (lost ones count: ping numbers
/// every request).
fn send_interval(replies: &[(f64, Option<u16>)]) -> Option<f64> {
    let mut numbered = replies.iter().filter_map(|&(t, seq)| Some((t, seq?)));
    let (t0, s0) = numbered.next()?;
    let (t1, s1) = numbered.next_back()?;
    let sent = i64::from(s1) - i64::from(s0);
    (sent > 0).then(|| (t1 - t0) / sent as f64)
}

/// Sequence numbers relative to the last reply before the move (0 at the move): the number
/// of echo requests the server sent since, as far as the replies tell.
fn relative_seqs(replies: &[(f64, Option<u16>)]) -> Vec<(f64, Option<i64>)> {
    let base = replies
        .iter()
        .rfind(|(t, seq)| *t < 0.0 && seq.is_some())
        .or_else(|| replies.iter().find(|(_, seq)| seq.is_some()))
        .and_then(|(_, seq)| *seq);
    replies
        .iter()
        .map(|&(t, seq)| (t, seq.zip(base).map(|(s, b)| i64::from(s) - i64::from(b))))
        .collect()
}

fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

/// `BIN -V`'s first line, from stdout or stderr.
fn version_of(bin: &Path) -> String {
    match Command::new(bin).arg("-V").output() {
        Ok(out) => {
            let line = first_line(&out.stdout);
            if line.is_empty() {
                first_line(&out.stderr)
            } else {
                line
            }
        }
        Err(err) => format!("(cannot run: {err})"),
    }
}

fn read_trimmed(path: &str) -> String {
    fs::read_to_string(path)
        .map(|text| text.trim().to_string())
        .unwrap_or_else(|err| format!("({path}: {err})"))
}

/// What was run, on what: the start of the Markdown.
fn header(mesh: &Mesh, args: &Args) -> String {
    let bin = netns::daemon_binary();
    let origin = if std::env::var_os("L3ROAMD_BIN").is_some() {
        "L3ROAMD_BIN"
    } else {
        "cargo bench's build"
    };
    let babeld_origin = if std::env::var_os("BABELD_BIN").is_some() {
        "BABELD_BIN"
    } else {
        "PATH"
    };
    let conf = fs::read_to_string(mesh.dir.join("babeld-r1.conf")).unwrap_or_default();
    let hello = conf
        .split_whitespace()
        .skip_while(|word| *word != "hello-interval")
        .nth(1)
        .unwrap_or("?");
    let release: Vec<&str> = conf
        .lines()
        .filter(|line| line.starts_with("redistribute proto 159"))
        .collect();
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|out| first_line(&out.stdout))
        .unwrap_or_default();
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    let mut out = String::new();
    let _ = writeln!(out, "## Handover: {} roams per series\n", args.roams);
    let _ = writeln!(
        out,
        "- run: {date}, kernel {}, {cores} cores, load average {}",
        read_trimmed("/proc/sys/kernel/osrelease"),
        read_trimmed("/proc/loadavg")
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let _ = writeln!(
        out,
        "- l3roamd: `{}` ({}, {origin})",
        bin.display(),
        version_of(&bin)
    );
    let _ = writeln!(
        out,
        "- babeld: `{}` ({}, {babeld_origin}), hello interval {hello} s, release rule: {}",
        mesh.var("BABELD_BIN"),
        mesh.var("BABELD_VERSION"),
        if release.is_empty() {
            "none (MESH_NO_RELEASE_RULE)".to_string()
        } else {
            release
                .iter()
                .map(|line| format!("`{line}`"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    let _ = writeln!(
        out,
        "- per series {} roams, one of each series in turn, by {} client(s) in turn: moves \
         at least {} s apart, and {} s for one client; failure: no reply within {} s, or the \
         wrong router serving (by then plus the 1 s release hold)",
        args.roams,
        args.clients,
        ROAM_PERIOD.as_secs_f64(),
        args.period.as_secs_f64(),
        args.timeout.as_secs_f64()
    );
    out
}

fn table(summaries: &[Summary]) -> String {
    let mut out = String::new();
    out.push_str(
        "| series | roams | failed | cut min | median | p95 | max | target | result |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n",
    );
    for (series, s) in summaries.iter().enumerate() {
        let figures = match s.spread {
            Some(sp) => [sp.min, sp.median, sp.p95, sp.max].map(|d| format!("{} ms", ms(d))),
            None => ["-", "-", "-", "-"].map(str::to_string),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | median < {} ms, 0 failed | {} |",
            series_name(series),
            s.roams,
            s.failed,
            figures[0],
            figures[1],
            figures[2],
            figures[3],
            ms(target_median(SERIES[series].0)),
            s.verdict
        );
    }
    out
}

fn series_key(series: usize) -> String {
    series_name(series).replace(' ', "-")
}

/// One series' block of a timeline file: the server's replies during `roam`, as time from
/// the start of the move and sequence number from the last reply before it.
fn timeline_block(series: usize, roam: Option<&Roam>) -> String {
    let mut block = String::new();
    match roam {
        Some(r) => {
            let _ = writeln!(
                block,
                "# {}, roam {} ({}, {} -> {}): cut {} ms{}",
                series_name(series),
                r.number,
                r.client,
                r.from,
                r.to,
                ms(r.cut),
                if r.failure.is_some() { ", FAILED" } else { "" }
            );
            block.push_str("# t_ms\tseq_rel\n");
            for (t, seq) in relative_seqs(&r.replies) {
                if let Some(seq) = seq {
                    let _ = writeln!(block, "{t:.1}\t{seq}");
                }
            }
        }
        None => {
            let _ = writeln!(block, "# {}: no roam", series_name(series));
            block.push_str("# t_ms\tseq_rel\n");
        }
    }
    block.push_str("\n\n");
    block
}

/// handover.tsv, handover-timeline.tsv, handover-timeline-longest.tsv and handover-cdf.tsv
/// into `dir`.
fn write_data(dir: &Path, roams: &[Roam]) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let mut all = String::from(
        "series\troam\tclient\tfrom\tto\tmoved_ms\tback_ms\tcut_ms\tneighbour_table_full\t\
         failure\n",
    );
    for r in roams {
        let _ = writeln!(
            all,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            series_key(r.series),
            r.number,
            r.client,
            r.from,
            r.to,
            ms(r.moved),
            r.back.map_or("-".to_string(), |d| ms(d).to_string()),
            ms(r.cut),
            r.table_fulls,
            r.failure
                .as_deref()
                .unwrap_or("-")
                .replace(['\t', '\n'], " ")
        );
    }
    fs::write(dir.join("handover.tsv"), all)?;

    // gnuplot's `index` counts blocks separated by two blank lines: one per series, in
    // SERIES order, each led by a comment line that names it (the plot titles); a
    // timeline's first line gives the ping interval.
    let interval = format!(
        "# interval_ms\t{:.2}\n",
        measured_interval(roams).unwrap_or(10.0)
    );
    let (mut timeline, mut longest) = (interval.clone(), interval);
    let mut cdfs = String::new();
    for series in 0..SERIES.len() {
        timeline.push_str(&timeline_block(series, median_roam(roams, series)));
        longest.push_str(&timeline_block(series, longest_roam(roams, series)));
        let cuts: Vec<Duration> = roams
            .iter()
            .filter(|r| r.series == series && r.failure.is_none())
            .map(|r| r.cut)
            .collect();
        let _ = writeln!(cdfs, "# {}", series_name(series));
        cdfs.push_str("# cut_ms\tshare\n");
        let steps = cdf(&cuts);
        // From 0 at the smallest cut, so that a step plot rises from the axis.
        if let Some(&(first, _)) = steps.first() {
            let _ = writeln!(cdfs, "{first}\t0");
        }
        for (cut, share) in steps {
            let _ = writeln!(cdfs, "{cut}\t{share:.4}");
        }
        cdfs.push_str("\n\n");
    }
    fs::write(dir.join("handover-timeline.tsv"), timeline)?;
    fs::write(dir.join("handover-timeline-longest.tsv"), longest)?;
    fs::write(dir.join("handover-cdf.tsv"), cdfs)
}

fn bench_out() -> PathBuf {
    match std::env::var_os("BENCH_OUT") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .unwrap_or(Path::new("."))
            .join("bench"),
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if !argv.iter().any(|a| a == "--bench") {
        checks::run();
        return;
    }
    if argv.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return;
    }
    let args = match parse_args(&argv) {
        Ok(args) => args,
        Err(err) => {
            eprintln!("handover: {err}\n{USAGE}");
            std::process::exit(2);
        }
    };

    let mut mesh = Mesh::up(
        "bench-handover",
        Topology {
            clients: args.clients,
            ..Topology::default()
        },
    );
    mesh.start_daemons();
    let clients: Vec<Client> = mesh.clients().iter().map(|c| mesh.client(c)).collect();
    let (srv6, srv4) = (
        mesh.var("SERVER_IP6").to_string(),
        mesh.var("SERVER_IP4").to_string(),
    );
    // Each client makes itself known as a new client does: it talks to the server.
    for client in &clients {
        for server in [&srv6, &srv4] {
            let what = format!("{} -> {server}", client.name);
            must(&what, mesh.reach(&client.name, server, NEW_CLIENT_BOUND));
        }
        let what = format!("r1 serves {}", client.name);
        must(
            &what,
            eventually(NEW_CLIENT_BOUND, || serves_client(&mesh, client, "r1")),
        );
    }
    print!("{}", header(&mesh, &args));

    let total = args.roams * SERIES.len();
    let mut roams: Vec<Roam> = Vec::with_capacity(total);
    let mut moves = Moves::default();
    let began = Instant::now();
    for round in 1..=args.roams {
        for series in round_order(round) {
            let client = &clients[roams.len() % clients.len()];
            let r = roam(&mut mesh, client, series, round, &args, &mut moves);
            eprintln!(
                "[{:>3}/{total}] {:<12} {:<4} {} -> {}  cut {:>5} ms  first reply after {:>5}  \
                 {}{}",
                roams.len() + 1,
                series_name(series),
                r.client,
                r.from,
                r.to,
                ms(r.cut),
                r.back.map_or("-".to_string(), |d| format!("{} ms", ms(d))),
                r.failure
                    .as_ref()
                    .map_or("ok".to_string(), |f| format!("FAILED: {f}")),
                if r.table_fulls > 0 {
                    format!(
                        "  (DISTURBED: the kernel's neighbour tables were full {} times)",
                        r.table_fulls
                    )
                } else {
                    String::new()
                }
            );
            roams.push(r);
        }
    }
    let flaps: Vec<String> = ["r1", "r3"]
        .iter()
        .map(|r| (r, mesh.counter(r, "flapping.detected")))
        .filter(|(_, n)| *n > 0)
        .map(|(r, n)| format!("{r} {n}"))
        .collect();
    mesh.assert_all_running();

    let summaries: Vec<Summary> = (0..SERIES.len()).map(|s| summarize(s, &roams)).collect();
    println!();
    print!("{}", table(&summaries));
    println!(
        "\ncut: the longest gap between consecutive echo replies at the server (it pings the \
         client with `ping -i 0.01`: an echo request every {}, median over the roams) from \
         1 s before the move until the new router serves the client, the old one holds \
         nothing of it and r2 routes it to the new one (at least 500 ms after the first reply \
         and 1 s after the move); failed roams are left out. {} roams in {} s; load average \
         after: {}.",
        measured_interval(&roams).map_or("? ms".to_string(), |i| format!("{i:.1} ms")),
        roams.len(),
        began.elapsed().as_secs(),
        read_trimmed("/proc/loadavg")
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let disturbed: Vec<String> = roams
        .iter()
        .filter(|r| r.table_fulls > 0)
        .map(|r| format!("{} {}", series_name(r.series), r.number))
        .collect();
    if !disturbed.is_empty() {
        println!(
            "\n**Disturbed from outside**: during {} roam(s) ({}) a new neighbour entry found the \
             kernel's ARP or NDP table full. Those tables and their limit are shared by every \
             network namespace, so something else on the machine filled them, and babeld's \
             and the routers' packets were dropped: run again on a quiet machine.",
            disturbed.len(),
            disturbed.join(", ")
        );
    }
    if !flaps.is_empty() {
        println!(
            "\n**The routers detected flapping** (flapping.detected: {}): some hand-overs were \
             held back, and the cuts measure the damping, not a roam.",
            flaps.join(", ")
        );
    }
    let out = bench_out();
    if let Err(err) = write_data(&out, &roams) {
        eprintln!("handover: writing {}: {err}", out.display());
        std::process::exit(1);
    }
    eprintln!(
        "data: {}/handover*.tsv; logs of this run: {}",
        out.display(),
        mesh.dir.display()
    );
}

/// The helpers that turn replies into figures; a mistake there would corrupt every figure
/// silently. `cargo test --benches` runs the bench binary without `--bench`: it runs these.
mod checks {
    use super::*;

    pub fn run() {
        spread_of_a_sample();
        largest_gap_counts_an_open_gap();
        echo_seq_from_pings_lines();
        relative_seqs_count_from_the_last_reply_before_the_move();
        send_interval_counts_lost_requests();
        table_fulls_summed_over_cpus();
        median_roam_and_verdict();
        cdf_steps_to_one();
        arguments();
        println!("handover: helper checks passed (the benchmark runs under `cargo bench`)");
    }

    fn msv(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|&v| Duration::from_millis(v)).collect()
    }

    fn spread_of_a_sample() {
        assert_eq!(Spread::of(Vec::new()), None);
        let one = Duration::from_millis(7);
        assert_eq!(
            Spread::of(vec![one]),
            Some(Spread {
                min: one,
                median: one,
                p95: one,
                max: one
            })
        );
        // 50 values, shuffled: median between the 25th and 26th, p95 the 48th.
        let mut fifty: Vec<u64> = (1..=50).map(|v| v * 10).collect();
        fifty.reverse();
        fifty.swap(3, 40);
        let s = Spread::of(msv(&fifty)).unwrap();
        assert_eq!(s.min, Duration::from_millis(10));
        assert_eq!(s.median, Duration::from_millis(255));
        assert_eq!(s.p95, Duration::from_millis(480));
        assert_eq!(s.max, Duration::from_millis(500));
        let twenty: Vec<u64> = (1..=20).collect();
        assert_eq!(
            Spread::of(msv(&twenty)).unwrap().p95,
            Duration::from_millis(19)
        );
        let three = Spread::of(msv(&[300, 100, 200])).unwrap();
        assert_eq!(three.median, Duration::from_millis(200));
        assert_eq!(three.p95, Duration::from_millis(300));
    }

    fn largest_gap_counts_an_open_gap() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let replies = [at(10), at(20), at(30), at(260), at(270)];
        // Replies at or before `from` do not count; the gap up to `until` does.
        assert_eq!(
            netns::largest_gap(&replies, at(0), at(280)),
            Duration::from_millis(230)
        );
        assert_eq!(
            netns::largest_gap(&replies, at(0), at(600)),
            Duration::from_millis(330)
        );
        assert_eq!(
            netns::largest_gap(&replies, at(30), at(280)),
            Duration::from_millis(10)
        );
        // Replies after `until` are not seen yet.
        assert_eq!(
            netns::largest_gap(&replies, at(0), at(100)),
            Duration::from_millis(70)
        );
        assert_eq!(
            netns::largest_gap(&[], at(0), at(500)),
            Duration::from_millis(500)
        );
    }

    fn echo_seq_from_pings_lines() {
        assert_eq!(
            netns::echo_seq(
                "[1763728451.318722] 64 bytes from 2001:db8:1::100: icmp_seq=17 ttl=62 time=0.094 ms"
            ),
            Some(17)
        );
        assert_eq!(
            netns::echo_seq("[1.2] 64 bytes from 10.0.1.100: icmp_seq=65535 ttl=62 time=1 ms"),
            Some(65535)
        );
        assert_eq!(
            netns::echo_seq("64 bytes from 10.0.1.100: icmp_seq=4"),
            Some(4)
        );
        assert_eq!(netns::echo_seq("64 bytes from 10.0.1.100: ttl=62"), None);
        assert_eq!(netns::echo_seq("icmp_seq=1 at the start"), None);
        assert_eq!(netns::echo_seq("x icmp_seq=70000 too big"), None);
    }

    fn relative_seqs_count_from_the_last_reply_before_the_move() {
        let replies = [
            (-30.0, Some(5)),
            (-20.0, Some(6)),
            (-10.0, None),
            (250.0, Some(31)),
            (260.0, Some(32)),
        ];
        assert_eq!(
            relative_seqs(&replies),
            vec![
                (-30.0, Some(-1)),
                (-20.0, Some(0)),
                (-10.0, None),
                (250.0, Some(25)),
                (260.0, Some(26)),
            ]
        );
        // No reply before the move: counted from the first.
        assert_eq!(
            relative_seqs(&[(5.0, Some(9)), (15.0, Some(10))]),
            vec![(5.0, Some(0)), (15.0, Some(1))]
        );
        assert_eq!(relative_seqs(&[(5.0, None)]), vec![(5.0, None)]);
    }

    fn send_interval_counts_lost_requests() {
        // Requests 3 to 9 lost: still 5 ms apart.
        let replies = [
            (-10.0, Some(1)),
            (-5.0, Some(2)),
            (30.0, Some(9)),
            (35.0, None),
            (40.0, Some(11)),
        ];
        assert_eq!(send_interval(&replies), Some(5.0));
        assert_eq!(send_interval(&[(1.0, Some(4))]), None);
        assert_eq!(send_interval(&[(1.0, None), (2.0, None)]), None);
        assert_eq!(send_interval(&[]), None);
    }

    fn table_fulls_summed_over_cpus() {
        let stat = "entries  allocs   destroys hash_grows lookups  hits     res_failed \
                    rcv_probes_mcast rcv_probes_ucast periodic_gc_runs forced_gc_runs \
                    unresolved_discards table_fulls\n\
                    00002710 0006b1a9 0006651d 00000007   00011184 0000b56d 00003bc6   \
                    00001fee         00001069         00000000         00000597       \
                    000009a1            00000048\n\
                    00002710 0005c6b4 0005ec30 00000004   000188f8 0000f527 00002bf1   \
                    00002f9d         00000f54         000006f7         0000030a       \
                    00000ae3            0000000f\n";
        assert_eq!(parse_table_fulls(stat), Some(0x48 + 0x0f));
        assert_eq!(parse_table_fulls("entries table_fulls\n"), Some(0));
        assert_eq!(parse_table_fulls("entries allocs\n1 2\n"), None);
        assert_eq!(parse_table_fulls("entries table_fulls\n1 zz\n"), None);
        assert_eq!(parse_table_fulls(""), None);
    }

    fn roam_with(series: usize, number: usize, cut: u64, failed: bool) -> Roam {
        Roam {
            series,
            number,
            client: "cli".to_string(),
            from: "r1".to_string(),
            to: "r3".to_string(),
            moved: Duration::ZERO,
            back: Some(Duration::from_millis(cut)),
            cut: Duration::from_millis(cut),
            failure: failed.then(|| "no echo reply".to_string()),
            replies: Vec::new(),
            table_fulls: 0,
        }
    }

    fn median_roam_and_verdict() {
        let roams = vec![
            roam_with(0, 1, 300, false),
            roam_with(0, 2, 100, false),
            roam_with(0, 3, 9000, true),
            roam_with(0, 4, 200, false),
            roam_with(0, 5, 250, false),
            roam_with(1, 1, 500, false),
        ];
        // Successful cuts 100, 200, 250, 300: the lower middle one.
        assert_eq!(median_roam(&roams, 0).map(|r| r.number), Some(4));
        assert_eq!(median_roam(&roams, 1).map(|r| r.number), Some(1));
        assert!(median_roam(&roams, 2).is_none());
        assert_eq!(longest_roam(&roams, 0).map(|r| r.number), Some(1));
        assert!(longest_roam(&roams, 2).is_none());
        let s = summarize(0, &roams);
        assert_eq!((s.roams, s.failed), (5, 1));
        assert_eq!(s.spread.unwrap().median, Duration::from_millis(225));
        assert_eq!(s.verdict, "**missed**: 1 failed");
        let met = Spread::of(msv(&[399])).unwrap();
        assert_eq!(verdict(Duration::from_millis(400), Some(met), 0), "met");
        let over = Spread::of(msv(&[400, 420])).unwrap();
        assert_eq!(
            verdict(Duration::from_millis(400), Some(over), 2),
            "**missed**: median 410 ms, 10 ms over; 2 failed"
        );
        assert_eq!(
            verdict(Duration::from_millis(400), None, 3),
            "**missed**: no roam succeeded; 3 failed"
        );
    }

    fn cdf_steps_to_one() {
        assert_eq!(
            cdf(&msv(&[300, 100, 200, 100])),
            vec![(100, 0.25), (100, 0.5), (200, 0.75), (300, 1.0)]
        );
        assert!(cdf(&[]).is_empty());
    }

    fn arguments() {
        let words = |s: &str| -> Vec<String> { s.split_whitespace().map(str::to_string).collect() };
        let a = parse_args(&words("--bench")).unwrap();
        assert_eq!(
            (a.roams, a.timeout, a.clients, a.period),
            (50, Duration::from_secs(10), 8, CLIENT_PERIOD)
        );
        let a = parse_args(&words(
            "--roams 7 --timeout 2.5 --clients 1 --period 30 --bench",
        ))
        .unwrap();
        assert_eq!(
            (a.roams, a.timeout, a.clients, a.period),
            (7, Duration::from_millis(2500), 1, Duration::from_secs(30))
        );
        assert!(parse_args(&words("--period 1")).is_err());
        assert!(parse_args(&words("--clients 0")).is_err());
        assert!(parse_args(&words("--clients 10")).is_err());
        assert_eq!(parse_args(&words("--quick")).unwrap().roams, 3);
        assert!(parse_args(&words("--roams 0")).is_err());
        assert!(parse_args(&words("--roams")).is_err());
        assert!(parse_args(&words("--timeout -1")).is_err());
        assert!(parse_args(&words("--fast")).is_err());
    }
}
