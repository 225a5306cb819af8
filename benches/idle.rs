//! Benchmark 3 of BENCHMARKS.md, "Idle cost": what the daemon costs when nothing happens,
//! with no client and with `--clients` quiet clients (default 1,000), each for `--minutes`
//! (default 3). The harness is the scale benchmark's (benches/router/mod.rs): the clients
//! arrive as there (neighbour entries flagged extern_learn, then their frames) and then send
//! nothing; their entries stay as the kernel keeps them (REACHABLE, STALE after 15–45 s, never
//! collected: extern_learn). `scripts/bench/idle.sh` runs it and draws the plot; by hand, as
//! root:
//!
//! ```text
//! cargo bench --bench idle -- [--minutes M] [--clients N] [--quick]
//! ```
//!
//! A **wake-up** is one return of the daemon's poll after it slept: one voluntary context
//! switch of the process (/proc/PID/status `voluntary_ctxt_switches`; the daemon is one thread
//! whose only blocking call is its `epoll_wait`). It is read from /proc once a second, which
//! does not wake the daemon; `get_stats` is asked only before and after each period. CPU is
//! utime + stime of /proc/PID/stat. Kernel-caused wake-ups are told apart by the kernel's
//! notifications the bench's own monitor sees in the router namespace during the period:
//! neighbour entries on the client bridge changing state (each reaches the daemon too).
//!
//! stdout: what was run and the table, in Markdown. Raw data in `$BENCH_OUT` (default
//! `<target>/bench`): `idle.tsv`, per 10 s of each period: wake-ups, involuntary switches, CPU
//! and neighbour notifications. Without `--bench` it checks its own helpers and exits.

#[path = "../tests/netns/mod.rs"]
mod netns;
mod router;

use std::fmt::Write as _;
use std::fs;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::thread;
use std::time::{Duration, Instant};

use l3roamd::engine::REMOVAL_DELAY;
use l3roamd::engine::reconcile::RECONCILE_INTERVAL;
use router::{Client, Monitor, ProcSample, Router, Seen, counter_changes, thousands};

const USAGE: &str = "usage: cargo bench --bench idle -- [--minutes M] [--clients N] [--quick]
  --minutes M   length of each measured period, in minutes (default 3)
  --clients N   quiet clients of the second period (default 1000)
  --quick       15 s periods and 100 clients: a try in about a minute";

/// The plot's and the table's bins.
const BIN: Duration = Duration::from_secs(10);

struct Options {
    period: Duration,
    clients: usize,
}

fn parse_args() -> Option<Options> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        return None;
    }
    let mut options = Options {
        period: Duration::from_secs(180),
        clients: 1000,
    };
    let mut words = args.iter().filter(|a| *a != "--bench");
    while let Some(word) = words.next() {
        match word.as_str() {
            "--minutes" => {
                let minutes: f64 = words
                    .next()
                    .and_then(|w| w.parse().ok())
                    .filter(|m: &f64| *m > 0.0)
                    .unwrap_or_else(|| usage_exit("--minutes needs a positive number"));
                options.period = Duration::from_secs_f64(minutes * 60.0);
            }
            "--clients" => {
                options.clients = words
                    .next()
                    .and_then(|w| w.parse().ok())
                    .filter(|n| (1..=4096).contains(n))
                    .unwrap_or_else(|| usage_exit("--clients needs a number, 1-4096"));
            }
            "--quick" => {
                options.period = Duration::from_secs(15);
                options.clients = 100;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => usage_exit(&format!("unknown argument {other}")),
        }
    }
    Some(options)
}

fn usage_exit(why: &str) -> ! {
    eprintln!("{why}\n{USAGE}");
    std::process::exit(2)
}

/// One measured period: /proc once a second, binned.
struct Period {
    name: String,
    start: ProcSample,
    end: ProcSample,
    bins: Vec<Bin>,
    neighbour_events: usize,
    other_events: usize,
    counters: Vec<(String, u64, u64)>,
}

#[derive(Clone, Copy, Default)]
struct Bin {
    wakeups: u64,
    involuntary: u64,
    cpu_ticks: u64,
    neighbour_events: usize,
}

/// Splits per-second samples into bins of `per_bin` samples: the differences within each.
fn binned(samples: &[ProcSample], per_bin: usize) -> Vec<Bin> {
    samples
        .windows(2)
        .collect::<Vec<_>>()
        .chunks(per_bin)
        .map(|chunk| {
            let (first, last) = (chunk[0][0], chunk[chunk.len() - 1][1]);
            Bin {
                wakeups: last.voluntary - first.voluntary,
                involuntary: last.nonvoluntary - first.nonvoluntary,
                cpu_ticks: last.cpu_ticks - first.cpu_ticks,
                neighbour_events: 0,
            }
        })
        .collect()
}

fn measure(router: &mut Router, monitor: &Monitor, name: &str, length: Duration) -> Period {
    eprintln!("idle: {name}, {} s", length.as_secs());
    let stats_before = router.counters();
    // The control connection's own wake-ups settle first.
    thread::sleep(Duration::from_millis(500));
    let seen_before = monitor.events().len();
    let t0 = Instant::now();
    let mut samples = vec![router.sample()];
    let mut at = Vec::with_capacity(length.as_secs() as usize + 1);
    at.push(t0);
    let seconds = length.as_secs().max(1);
    for s in 1..=seconds {
        let due = t0 + Duration::from_secs(s);
        let now = Instant::now();
        if due > now {
            thread::sleep(due - now);
        }
        samples.push(router.sample());
        at.push(Instant::now());
    }
    router.assert_running();
    let end_at = Instant::now();
    let stats_after = router.counters();
    let per_bin = BIN.as_secs() as usize;
    let mut bins = binned(&samples, per_bin);
    let events = monitor.events();
    let window = &events[seen_before.min(events.len())..];
    let mut neighbour_events = 0;
    let mut other_events = 0;
    for (when, seen) in window.iter().filter(|(w, _)| *w >= t0 && *w <= end_at) {
        if *seen == Seen::Neighbour {
            neighbour_events += 1;
            let bin = ((*when - t0).as_secs() as usize / per_bin).min(bins.len().saturating_sub(1));
            if let Some(b) = bins.get_mut(bin) {
                b.neighbour_events += 1;
            }
        } else {
            other_events += 1;
        }
    }
    Period {
        name: name.to_string(),
        start: samples[0],
        end: *samples.last().expect("samples"),
        bins,
        neighbour_events,
        other_events,
        counters: counter_changes(&stats_before, &stats_after),
    }
}

fn self_test() {
    router::self_test();
    let sample = |voluntary, nonvoluntary, cpu_ticks| ProcSample {
        voluntary,
        nonvoluntary,
        cpu_ticks,
        ..ProcSample::default()
    };
    // Five samples a second apart, bins of two seconds: [0, 2], [2, 4].
    let samples = [
        sample(10, 1, 5),
        sample(10, 1, 5),
        sample(13, 1, 6),
        sample(13, 2, 6),
        sample(20, 2, 9),
    ];
    let bins = binned(&samples, 2);
    assert_eq!(bins.len(), 2);
    assert_eq!(
        (bins[0].wakeups, bins[0].involuntary, bins[0].cpu_ticks),
        (3, 0, 1)
    );
    assert_eq!(
        (bins[1].wakeups, bins[1].involuntary, bins[1].cpu_ticks),
        (7, 1, 3)
    );
}

fn main() {
    let Some(options) = parse_args() else {
        self_test();
        println!("idle: helpers checked (run with --bench to measure)");
        return;
    };
    let hz = router::ticks_per_second();
    let out = router::bench_out();
    let mut router = Router::up("idle");
    let args = router.daemon_args(&[]);
    router.start_daemon(args.clone());
    let mut monitor = Monitor::start(&router, true);
    router.settle(Duration::from_secs(2), Duration::from_secs(20));

    let empty = measure(&mut router, &monitor, "no client", options.period);

    let n = options.clients;
    let clients: Vec<Client> = (0..n as u32).map(Client::new).collect();
    eprintln!("idle: {n} clients arrive, then stay quiet");
    let plain = Arc::new(AtomicUsize::new(0));
    router::arrive(&router, &clients, Duration::from_secs(1), true, &plain);
    let deadline = Instant::now() + Duration::from_secs(60);
    while router.count_routes(router::PROTO_DAEMON) < 3 * n && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(200));
    }
    let routes = router.count_routes(router::PROTO_DAEMON);
    router.settle(Duration::from_secs(2), Duration::from_secs(30));
    let quiet = measure(
        &mut router,
        &monitor,
        &format!("{} quiet clients", thousands(n as u64)),
        options.period,
    );
    let (neighbours, plain_entries) = router.neighbours();
    monitor.stop();
    let status = router.stop_daemon(Duration::from_secs(10));
    drop(router);

    let mut table = String::new();
    let _ = writeln!(
        table,
        "# idle: {:.1} min with no client, then {:.1} min with {} quiet clients ({} routes \
         installed; {} neighbour entries, {} without extern_learn)",
        options.period.as_secs_f64() / 60.0,
        options.period.as_secs_f64() / 60.0,
        thousands(n as u64),
        thousands(routes as u64),
        thousands(neighbours as u64),
        plain_entries
    );
    let _ = writeln!(
        table,
        "# {}; l3roamd {}",
        router::what_ran(),
        args.join(" ")
    );
    let _ = writeln!(table);
    let _ = writeln!(
        table,
        "| period | wake-ups per minute | max per 10 s | CPU per minute | involuntary switches | kernel neighbour notifications | target: ≤ 1 periodic wake-up per minute |"
    );
    let _ = writeln!(table, "| --- | ---: | ---: | ---: | ---: | ---: | --- |");
    let mut tsv = String::from("# period\tt_s\twakeups\tinvoluntary\tcpu_ms\tneighbour_events\n");
    for (index, period) in [&empty, &quiet].into_iter().enumerate() {
        let minutes = options.period.as_secs_f64() / 60.0;
        let wakeups = period.end.voluntary - period.start.voluntary;
        let cpu = (period.end.cpu_ticks - period.start.cpu_ticks) as f64 / hz as f64;
        let max_bin = period.bins.iter().map(|b| b.wakeups).max().unwrap_or(0);
        // Wake-ups in bins without any kernel notification: the daemon's own timers (or
        // anything else the bench does not see).
        let unexplained: u64 = period
            .bins
            .iter()
            .filter(|b| b.neighbour_events == 0)
            .map(|b| b.wakeups)
            .sum();
        let _ = writeln!(
            table,
            "| {} | {:.1} | {} | {:.3} s | {} | {} | {} |",
            period.name,
            wakeups as f64 / minutes,
            max_bin,
            cpu / minutes,
            period.end.nonvoluntary - period.start.nonvoluntary,
            period.neighbour_events,
            if unexplained as f64 / minutes <= 1.0 {
                format!("met ({unexplained} wake-ups in 10-s bins without kernel notifications)")
            } else {
                format!("missed: {unexplained} wake-ups in 10-s bins without kernel notifications")
            }
        );
        if index > 0 {
            tsv.push_str("\n\n");
        }
        let _ = writeln!(tsv, "# {}", period.name);
        for (i, bin) in period.bins.iter().enumerate() {
            let _ = writeln!(
                tsv,
                "{}\t{}\t{}\t{}\t{}",
                i as u64 * BIN.as_secs(),
                bin.wakeups,
                bin.involuntary,
                bin.cpu_ticks * 1000 / hz,
                bin.neighbour_events
            );
        }
    }
    let _ = writeln!(table);
    for period in [&empty, &quiet] {
        let changed: Vec<String> = period
            .counters
            .iter()
            .map(|(k, a, b)| format!("`{k}` {a} → {b}"))
            .collect();
        let _ = writeln!(
            table,
            "- {}: counters changed during the period: {}; other kernel notifications seen \
             (routes, addresses): {}",
            period.name,
            if changed.is_empty() {
                "none".to_string()
            } else {
                changed.join(", ")
            },
            period.other_events
        );
    }
    let _ = writeln!(
        table,
        "- The daemon's own periodic timer: the kernel re-read every {} s ±25 %; per client \
         only deadlines that a quiet client reaches later: liveness probe after `--liveness` \
         (900 s), removal {} s after its entry fails; daemon exit on TERM: {status}.",
        RECONCILE_INTERVAL.as_secs(),
        REMOVAL_DELAY.as_secs()
    );
    print!("{table}");
    fs::write(out.join("idle.tsv"), tsv).expect("idle.tsv");
}
