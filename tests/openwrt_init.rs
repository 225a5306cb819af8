//! The OpenWrt package (openwrt/): its init script run by POSIX sh (dash) and, when
//! installed, busybox sh (OpenWrt's shell) against stand-ins for rc.common, functions.sh
//! and procd.sh (tests/openwrt/). The command line it builds from sample UCI files goes
//! through the daemon's own parser, so that the script and the daemon cannot drift apart;
//! then the procd parameters, triggers and firewall rule, and the interface update that
//! pushes add_meshif / del_meshif over the control socket.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::Ipv6Addr;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use l3roamd::config::{self, Action, BabelEndpoint, Config, Limits, LogLevel};
use l3roamd::prefix::{IpPrefix, Prefix6, V4Mapping};

const PROG: &str = "/usr/sbin/l3roamd";
const DEFAULT_SOCKET: &str = "/var/run/l3roamd.sock";
const GC_SYSCTLS: [&str; 2] = [
    "-w net.ipv6.neigh.default.gc_thresh1=2",
    "-w net.ipv4.neigh.default.gc_thresh1=2",
];
/// Longer than any run of the script takes (a few hundred ms); a run that needs it hangs.
const RUN_LIMIT: Duration = Duration::from_secs(60);

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn harness() -> PathBuf {
    repo().join("tests/openwrt")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn sample(name: &str) -> String {
    read(&harness().join("configs").join(name))
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A shell the init script runs under.
struct Shell {
    name: &'static str,
    argv: Vec<PathBuf>,
}

/// dash always (it is the POSIX sh the tests rely on); busybox sh, the shell of OpenWrt,
/// when installed (scripts/prerequisites.sh installs it).
fn shells() -> Vec<Shell> {
    let dash = find_program("dash")
        .unwrap_or_else(|| panic!("dash is missing: install it (Debian's /bin/sh)"));
    let mut shells = vec![Shell {
        name: "dash",
        argv: vec![dash],
    }];
    match find_program("busybox") {
        Some(busybox) => shells.push(Shell {
            name: "busybox sh",
            argv: vec![busybox, PathBuf::from("sh")],
        }),
        None => eprintln!("busybox is not installed: the init script ran under dash only"),
    }
    shells
}

/// A directory of the test's own, removed afterwards.
struct Scratch(PathBuf);

impl Scratch {
    fn new(base: &Path, name: &str) -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("l3roamd-owrt-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Which control socket client the node has.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Client {
    None,
    /// The stand-in for Gluon's uc (tests/openwrt/client/uc).
    Uc,
    /// The real socat.
    Socat,
}

/// An OpenWrt node as the init script sees it.
struct Node {
    /// /etc/config/l3roamd, if there is one.
    config: Option<String>,
    /// The kernel's interfaces and their flags (IFF_UP is bit 0).
    links: Vec<(&'static str, u32)>,
    client: Client,
    /// Files steering the uc stand-in, in its output directory.
    uc_files: Vec<(&'static str, String)>,
}

impl Node {
    fn new(config: impl Into<String>) -> Node {
        Node {
            config: Some(config.into()),
            links: Vec::new(),
            client: Client::Uc,
            uc_files: Vec::new(),
        }
    }

    fn without_config() -> Node {
        Node {
            config: None,
            ..Node::new("")
        }
    }

    fn link(mut self, name: &'static str, flags: u32) -> Node {
        self.links.push((name, flags));
        self
    }

    fn client(mut self, client: Client) -> Node {
        self.client = client;
        self
    }

    fn uc_file(mut self, name: &'static str, content: impl Into<String>) -> Node {
        self.uc_files.push((name, content.into()));
        self
    }

    /// Runs `/etc/init.d/l3roamd ACTION` under `shell`.
    fn run(&self, shell: &Shell, action: &str) -> Outcome {
        let scratch = Scratch::new(Path::new(env!("CARGO_TARGET_TMPDIR")), "node");
        let dir = scratch.path();
        for sub in ["config", "out", "init.d", "sys", "tools"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        if let Some(config) = &self.config {
            std::fs::write(dir.join("config/l3roamd"), config).unwrap();
        }
        // A copy, not a link: rc.common names the service after the script's file, as
        // /etc/init.d/l3roamd is on a router.
        let script = dir.join("init.d/l3roamd");
        std::fs::copy(repo().join("openwrt/files/l3roamd.init"), &script).unwrap();
        for (name, flags) in &self.links {
            std::fs::create_dir_all(dir.join("sys").join(name)).unwrap();
            std::fs::write(
                dir.join("sys").join(name).join("flags"),
                format!("{flags:#06x}\n"),
            )
            .unwrap();
        }
        for (name, content) in &self.uc_files {
            std::fs::write(dir.join("out").join(name), content).unwrap();
        }
        // Only the tools the script and the stand-ins use, so that neither uc nor socat is
        // found unless the node has it.
        let mut tools = vec![
            "awk", "basename", "cat", "grep", "readlink", "rm", "sed", "sh",
        ];
        if self.client == Client::Socat {
            tools.push("socat");
        }
        for tool in tools {
            let target = find_program(tool).unwrap_or_else(|| panic!("{tool} is missing"));
            std::os::unix::fs::symlink(target, dir.join("tools").join(tool)).unwrap();
        }
        let mut path = vec![harness().join("bin")];
        if self.client == Client::Uc {
            path.push(harness().join("client"));
        }
        path.push(dir.join("tools"));

        let mut command = Command::new(&shell.argv[0]);
        command
            .args(&shell.argv[1..])
            .arg(harness().join("rc.common"))
            .arg(&script)
            .arg(action)
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::join_paths(&path).unwrap())
            .env("L3ROAMD_TEST_HARNESS", harness())
            .env("L3ROAMD_TEST_OUT", dir.join("out"))
            .env("UCI_CONFIG_DIR", dir.join("config"))
            .env("L3ROAMD_SYSFS_NET", dir.join("sys"))
            .stdin(Stdio::null())
            // Files, not pipes: a pipe nobody reads while waiting could fill and stall it.
            .stdout(std::fs::File::create(dir.join("stdout")).unwrap())
            .stderr(std::fs::File::create(dir.join("stderr")).unwrap());
        let mut child = command.spawn().unwrap();
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > RUN_LIMIT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{} {action}: still running after {RUN_LIMIT:?}", shell.name);
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let out = dir.join("out");
        let lines = |name: &str| -> Vec<String> {
            std::fs::read_to_string(out.join(name))
                .map(|text| text.lines().map(str::to_string).collect())
                .unwrap_or_default()
        };
        let mut outcome = Outcome {
            shell: shell.name,
            status,
            stdout: read(&dir.join("stdout")),
            stderr: read(&dir.join("stderr")),
            services: Vec::new(),
            config_changed: Vec::new(),
            kills: 0,
            log: lines("logger"),
            sysctl: lines("sysctl"),
            sleeps: lines("sleep"),
            uc_calls: lines("uc.calls"),
            uc_sent: lines("uc.sent"),
            stray_files: std::fs::read_dir(dir)
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|name| {
                    ![
                        "config", "out", "init.d", "sys", "tools", "stdout", "stderr",
                    ]
                    .contains(&name.as_str())
                })
                .collect(),
        };
        outcome.fold(&std::fs::read(out.join("procd")).unwrap_or_default());
        outcome
    }
}

/// What procd would hold for one `ubus call service set`.
#[derive(Debug, Default)]
struct Service {
    name: String,
    method: String,
    instances: Vec<Instance>,
    /// Event, condition, delay, then the command run.
    triggers: Vec<Vec<String>>,
    /// The service data's firewall rules.
    firewall: Vec<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Clone, PartialEq)]
struct Instance {
    params: BTreeMap<String, Vec<String>>,
}

impl Instance {
    fn param(&self, name: &str) -> Vec<&str> {
        self.params
            .get(name)
            .map(|words| words.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// The daemon's arguments: the command without the program.
    fn args(&self) -> Vec<String> {
        let command = &self.params["command"];
        assert_eq!(command[0], PROG, "the program");
        command[1..].to_vec()
    }
}

struct Outcome {
    shell: &'static str,
    status: ExitStatus,
    stdout: String,
    stderr: String,
    services: Vec<Service>,
    config_changed: Vec<String>,
    kills: usize,
    log: Vec<String>,
    sysctl: Vec<String>,
    sleeps: Vec<String>,
    uc_calls: Vec<String>,
    uc_sent: Vec<String>,
    stray_files: Vec<String>,
}

impl Outcome {
    /// Folds the stand-in's records (kind, count, words, each ending in NUL) as procd folds
    /// the messages: set_param replaces a parameter, append_param extends it.
    fn fold(&mut self, bytes: &[u8]) {
        let text = String::from_utf8(bytes.to_vec()).expect("procd records are UTF-8");
        let mut words = text.split('\0');
        let mut service: Option<Service> = None;
        let mut instance: Option<Instance> = None;
        let mut rule: Option<BTreeMap<String, String>> = None;
        while let Some(kind) = words.next() {
            if kind.is_empty() {
                break;
            }
            let count: usize = words.next().and_then(|n| n.parse().ok()).expect("a count");
            let args: Vec<String> = (0..count)
                .map(|_| words.next().expect("a word").to_string())
                .collect();
            match kind {
                "open_service" => {
                    service = Some(Service {
                        name: args[0].clone(),
                        ..Service::default()
                    })
                }
                "close_service" => {
                    let mut done = service.take().unwrap_or_else(|| outside(kind));
                    done.method = args[0].clone();
                    self.services.push(done);
                }
                "open_instance" => instance = Some(Instance::default()),
                "close_instance" => {
                    let done = instance.take().expect("close_instance without open");
                    service
                        .as_mut()
                        .unwrap_or_else(|| outside(kind))
                        .instances
                        .push(done);
                }
                "set_param" | "append_param" => {
                    let params = &mut instance.as_mut().expect("param outside an instance").params;
                    let entry = params.entry(args[0].clone()).or_default();
                    if kind == "set_param" {
                        entry.clear();
                    }
                    entry.extend(args[1..].iter().cloned());
                }
                "trigger" => service
                    .as_mut()
                    .unwrap_or_else(|| outside(kind))
                    .triggers
                    .push(args),
                "open_data" | "close_data" => {}
                "json_add_array" => assert_eq!(args, ["firewall"], "service data"),
                "json_close_array" => {}
                "json_add_object" => rule = Some(BTreeMap::new()),
                "json_add_string" => {
                    rule.as_mut()
                        .expect("a string outside an object")
                        .insert(args[0].clone(), args[1].clone());
                }
                "json_close_object" => {
                    let done = rule.take().expect("close_object without open");
                    service
                        .as_mut()
                        .unwrap_or_else(|| outside(kind))
                        .firewall
                        .push(done);
                }
                "config_changed" => self.config_changed.extend(args),
                "kill" => self.kills += 1,
                "error" => panic!("{}: the script misused procd: {args:?}", self.shell),
                other => panic!("unknown record {other}"),
            }
        }
        assert!(service.is_none(), "a service left open");
    }

    /// The one service sent to procd.
    fn service(&self) -> &Service {
        assert_eq!(self.services.len(), 1, "{}: services sent", self.shell);
        &self.services[0]
    }

    /// The one instance of the one service.
    fn instance(&self) -> &Instance {
        let service = self.service();
        assert_eq!(
            service.instances.len(),
            1,
            "{}: instances (log: {:?})",
            self.shell,
            self.log
        );
        &service.instances[0]
    }

    fn ok(&self) -> &Outcome {
        assert!(
            self.status.success(),
            "{}: exit {:?}, stderr {}",
            self.shell,
            self.status,
            self.stderr
        );
        assert_eq!(self.stderr, "", "{}: stderr", self.shell);
        assert_eq!(self.stdout, "", "{}: stdout", self.shell);
        self
    }
}

fn outside(kind: &str) -> ! {
    panic!("{kind} outside a service")
}

fn ip(text: &str) -> Ipv6Addr {
    text.parse().unwrap()
}

fn prefix(text: &str) -> IpPrefix {
    IpPrefix::parse(text).unwrap().prefix
}

fn p6(text: &str) -> Prefix6 {
    match prefix(text) {
        IpPrefix::V6(prefix) => prefix,
        IpPrefix::V4 { .. } => panic!("{text} is IPv4"),
    }
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// The daemon's verdict on a command line: the Config it would run with.
fn parsed(args: &[String]) -> Config {
    match config::parse(args) {
        Ok(Action::Run(config)) => config,
        other => panic!("{args:?}: the daemon does not run with this: {other:?}"),
    }
}

/// `text` as one single-quoted UCI word.
fn uci_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

const CONFIG_TRIGGER: [&str; 5] = [
    "config.change",
    "package=l3roamd",
    "1000",
    "/etc/init.d/l3roamd",
    "reload",
];
const INTERFACE_TRIGGER: [&str; 5] = [
    "interface.*",
    "",
    "1000",
    "/etc/init.d/l3roamd",
    "update_mesh_ifs",
];

fn mesh_rule(zone: &str) -> BTreeMap<String, String> {
    [
        ("type", "rule"),
        ("name", &format!("l3roamd intercom from {zone}")),
        ("family", "ipv6"),
        ("src", zone),
        ("proto", "udp"),
        ("dest_port", "5523"),
        ("target", "ACCEPT"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Everything the script starts the daemon with, and nothing it does when it does not.
fn assert_started(outcome: &Outcome) {
    let service = outcome.service();
    assert_eq!(service.name, "l3roamd");
    assert_eq!(service.method, "set");
    let instance = outcome.instance();
    assert_eq!(
        instance.param("respawn"),
        ["3660", "5", "0"],
        "{}",
        outcome.shell
    );
    assert_eq!(instance.param("stdout"), ["1"]);
    assert_eq!(instance.param("stderr"), ["1"]);
    assert_eq!(outcome.sysctl, GC_SYSCTLS, "{}", outcome.shell);
    assert_eq!(
        service.triggers,
        [strings(&CONFIG_TRIGGER), strings(&INTERFACE_TRIGGER)],
        "{}",
        outcome.shell
    );
}

fn assert_not_started(outcome: &Outcome) {
    let service = outcome.service();
    assert!(
        service.instances.is_empty(),
        "{}: an instance",
        outcome.shell
    );
    assert!(outcome.sysctl.is_empty(), "{}: sysctls set", outcome.shell);
    assert!(
        service.firewall.is_empty(),
        "{}: a firewall rule",
        outcome.shell
    );
    // Still listening for configuration changes (someone enabling it), but for nothing else.
    assert_eq!(
        service.triggers,
        [strings(&CONFIG_TRIGGER)],
        "{}",
        outcome.shell
    );
}

#[test]
fn full_config_maps_every_option_to_its_flag() {
    for shell in shells() {
        let outcome = Node::new(sample("full")).run(&shell, "start");
        outcome.ok();
        assert_started(&outcome);
        let instance = outcome.instance();
        let args = instance.args();
        assert_eq!(
            args,
            strings(&[
                "-s",
                "/tmp/run/l3roamd.sock",
                "-a",
                "fd12:3456:789a:0:a62b:b0ff:fe11:2233",
                "-p",
                "2001:db8:1234::/64",
                "-p",
                "10.36.0.0/18",
                "-P",
                "fd12:3456:789a:bcde::/64",
                "-i",
                "local-node",
                "-b",
                "br-client",
                "-m",
                "mesh0",
                "-m",
                "mesh-vpn",
                "-t",
                "11",
                "-D",
                "l3roam1",
                "-e",
                "64:ff9b::/96",
                "-4",
                "64:ff9b:1::/96",
                "-v",
                "-d",
                "--no-netlink",
                "--no-nl80211",
                "--no-ndp",
                "--key-file",
                "/etc/l3roamd/keys",
                "--accept-unauthenticated",
                "fd12:3456:789a::2",
                "--accept-unauthenticated",
                "fd12:3456:789a::3",
                "--babeld",
                "33123",
                "--liveness",
                "0",
                "--release-protocol",
                "0",
                "--max-clients",
                "512",
                "--max-addresses",
                "16",
                "--max-queued-packets",
                "1024",
                "--max-control-connections",
                "4",
                "--netlink-rcvbuf",
                "1048576",
            ]),
            "{}",
            shell.name
        );
        // The key file is watched: a new one restarts the daemon on reload.
        assert_eq!(instance.param("file"), ["/etc/l3roamd/keys"]);
        assert_eq!(outcome.service().firewall, [mesh_rule("mesh")]);
        assert_eq!(outcome.config_changed, ["firewall"]);
        assert!(outcome.log.is_empty(), "{}: {:?}", shell.name, outcome.log);

        let mut want = Config::new(
            ip("fd12:3456:789a:0:a62b:b0ff:fe11:2233"),
            vec![prefix("2001:db8:1234::/64"), prefix("10.36.0.0/18")],
        );
        want.node_client_prefix = p6("fd12:3456:789a:bcde::/64");
        want.client_if = Some("local-node".into());
        want.client_bridge = Some("br-client".into());
        want.mesh_ifs = strings(&["mesh0", "mesh-vpn"]);
        want.export_table = 11;
        want.control_socket = Some(PathBuf::from("/tmp/run/l3roamd.sock"));
        want.tun_name = "l3roam1".into();
        want.plat_prefix = Some(p6("64:ff9b::/96"));
        want.v4_mapping = V4Mapping::new(p6("64:ff9b:1::/96")).unwrap();
        want.log_level = LogLevel::Debug;
        want.learn_from_netlink = false;
        want.learn_from_nl80211 = false;
        want.learn_from_ndp = false;
        want.key_file = Some(PathBuf::from("/etc/l3roamd/keys"));
        want.accept_unauthenticated = vec![ip("fd12:3456:789a::2"), ip("fd12:3456:789a::3")];
        want.babeld = Some(BabelEndpoint::Port(33123));
        want.liveness_interval = None;
        want.release_protocol = None;
        want.limits = Limits {
            clients: 512,
            addresses_per_client: 16,
            queued_packets: 1024,
            control_connections: 4,
        };
        want.netlink_rcvbuf = 1_048_576;
        assert_eq!(parsed(&args), want, "{}", shell.name);
    }
}

#[test]
fn minimal_config_leaves_every_other_flag_at_the_daemons_default() {
    for shell in shells() {
        // An anonymous section, unquoted values.
        let outcome = Node::new(sample("minimal")).run(&shell, "start");
        outcome.ok();
        assert_started(&outcome);
        let args = outcome.instance().args();
        assert_eq!(
            args,
            strings(&["-s", DEFAULT_SOCKET, "-a", "fd00::1", "-p", "2001:db8::/64"])
        );
        assert!(outcome.instance().param("file").is_empty());
        let mut want = Config::new(ip("fd00::1"), vec![prefix("2001:db8::/64")]);
        want.control_socket = Some(PathBuf::from(DEFAULT_SOCKET));
        assert_eq!(parsed(&args), want, "{}", shell.name);
    }
}

#[test]
fn disabled_config_starts_nothing_and_opens_nothing() {
    for shell in shells() {
        // Complete but without `enabled`: disabled is the default.
        for action in ["start", "boot"] {
            let outcome = Node::new(sample("disabled")).run(&shell, action);
            outcome.ok();
            assert_not_started(&outcome);
            assert!(outcome.log.is_empty(), "{}: {:?}", shell.name, outcome.log);
            if action == "boot" {
                // Gluon boots with it: its firewall is not reloaded for us.
                assert!(outcome.config_changed.is_empty(), "{}", shell.name);
            }
        }
        let explicit = sample("disabled").replace(
            "config l3roamd 'main'\n",
            "config l3roamd 'main'\n\toption enabled 'no'\n",
        );
        let outcome = Node::new(explicit).run(&shell, "start");
        outcome.ok();
        assert_not_started(&outcome);
    }
}

#[test]
fn shipped_config_is_disabled_and_its_examples_are_what_the_daemon_takes() {
    let shipped = read(&repo().join("openwrt/files/l3roamd.config"));
    // Every example uncommented, and enabled.
    let examples: String = shipped
        .lines()
        .map(|line| {
            let body = line.trim_start();
            let example = body
                .strip_prefix('#')
                .filter(|rest| rest.starts_with("option ") || rest.starts_with("list "));
            match example {
                Some(rest) => format!("\t{rest}\n"),
                None => format!(
                    "{}\n",
                    line.replace("option enabled '0'", "option enabled '1'")
                ),
            }
        })
        .collect();
    assert_ne!(examples, shipped);
    for shell in shells() {
        for action in ["boot", "start"] {
            let outcome = Node::new(shipped.clone()).run(&shell, action);
            outcome.ok();
            assert_not_started(&outcome);
            assert!(outcome.log.is_empty(), "{}: {:?}", shell.name, outcome.log);
        }

        let outcome = Node::new(examples.clone()).run(&shell, "start");
        outcome.ok();
        assert_started(&outcome);
        let args = outcome.instance().args();
        let config = parsed(&args);
        assert_eq!(config.node_ip, ip("fd12:3456:789a::1"));
        assert_eq!(
            config.client_prefixes,
            [prefix("2001:db8:1234::/64"), prefix("10.36.0.0/18")]
        );
        assert_eq!(config.mesh_ifs, strings(&["mesh0", "mesh-vpn"]));
        assert_eq!(config.key_file, Some(PathBuf::from("/etc/l3roamd/keys")));
        assert_eq!(config.log_level, LogLevel::Debug);
        assert_eq!(
            config.babeld,
            Some(BabelEndpoint::Path("/var/run/babeld.sock".into()))
        );
        assert_eq!(outcome.service().firewall, [mesh_rule("mesh")]);
    }

    // The options the examples show, those the script reads and those openwrt/README.md
    // lists are one set.
    let shown: BTreeSet<String> = examples
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("option" | "list") => words.next().map(str::to_string),
                _ => None,
            }
        })
        .collect();
    let script = read(&repo().join("openwrt/files/l3roamd.init"));
    let words: Vec<&str> = script.split_whitespace().collect();
    let read_by_script: BTreeSet<String> = words
        .windows(2)
        .filter(|pair| pair[0] == "\"$s\"" || pair[0] == "\"$l3roamd_section\"")
        .map(|pair| pair[1].to_string())
        .filter(|name| {
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
        .collect();
    let readme = read(&repo().join("openwrt/README.md"));
    let documented: BTreeSet<String> = readme
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .map(str::to_string)
        .collect();
    assert_eq!(shown, read_by_script, "examples vs script");
    assert_eq!(documented, read_by_script, "README vs script");
}

#[test]
fn missing_mandatory_values_are_one_log_line_and_no_start() {
    let no_prefix = "config l3roamd 'main'\n\toption enabled '1'\n\toption node_ip 'fd00::1'\n";
    let neither = "config l3roamd 'main'\n\toption enabled '1'\n\tlist mesh_if 'mesh0'\n";
    let cases = [
        (sample("no-node-ip"), "sets no node_ip (-a)"),
        (no_prefix.to_string(), "sets no client_prefix (-p)"),
        (
            neither.to_string(),
            "sets no node_ip (-a) and client_prefix (-p)",
        ),
    ];
    for shell in shells() {
        for (config, why) in &cases {
            let outcome = Node::new(config.clone()).run(&shell, "start");
            assert_not_started(&outcome);
            assert_eq!(outcome.log.len(), 1, "{}: {:?}", shell.name, outcome.log);
            assert_eq!(
                outcome.log[0],
                format!("-t l3roamd -p daemon.err not starting: /etc/config/l3roamd {why}"),
                "{}",
                shell.name
            );
        }
    }
}

#[test]
fn values_stay_one_word_whatever_they_contain() {
    for shell in shells() {
        let outcome = Node::new(sample("quoting")).run(&shell, "start");
        outcome.ok();
        assert_started(&outcome);
        let socket = r#"/tmp/l3 roamd's "control" $(touch pwned) `id`.sock"#;
        let key_file = r#"/etc/l3roamd/key "file" $HOME \ *"#;
        let babeld = "/var/run/babeld sock 'x'";
        let args = outcome.instance().args();
        assert_eq!(
            args,
            strings(&[
                "-s",
                socket,
                "-a",
                "fd00::1",
                "-p",
                "2001:db8::/64",
                "-D",
                "-l3roam",
                "--key-file",
                key_file,
                "--babeld",
                babeld,
            ]),
            "{}",
            shell.name
        );
        assert!(
            outcome.stray_files.is_empty(),
            "{}: {:?}",
            shell.name,
            outcome.stray_files
        );
        let config = parsed(&args);
        assert_eq!(config.control_socket, Some(PathBuf::from(socket)));
        assert_eq!(config.key_file, Some(PathBuf::from(key_file)));
        assert_eq!(config.babeld, Some(BabelEndpoint::Path(babeld.into())));
        // A value starting with a dash is still the argument of -D.
        assert_eq!(config.tun_name, "-l3roam");
        assert_eq!(outcome.instance().param("file"), [key_file]);

        // A value the daemon refuses reaches it as one word, and it says which.
        let bad = "config l3roamd\n\toption enabled 1\n\toption node_ip fd00::1\n\
                   \tlist client_prefix 2001:db8::/64\n\tlist mesh_if 'mesh 0'\n";
        let outcome = Node::new(bad).run(&shell, "start");
        let args = outcome.instance().args();
        assert!(
            args.windows(2).any(|pair| pair == ["-m", "mesh 0"]),
            "{}: {args:?}",
            shell.name
        );
        let error = config::parse(&args).expect_err("an interface name with a space");
        assert!(
            error
                .to_string()
                .starts_with("-m: invalid interface name 'mesh 0'"),
            "{error}"
        );
    }
}

#[test]
fn a_list_written_as_an_option_is_one_value_and_extra_sections_are_named() {
    let config = "config l3roamd 'one'\n\toption enabled 1\n\toption node_ip fd00::1\n\
                  \toption client_prefix 2001:db8::/64\n\toption mesh_if mesh0\n\
                  \toption firewall_zone '-'\n\
                  config l3roamd 'two'\n\toption enabled 1\n\toption node_ip fd00::2\n";
    for shell in shells() {
        let outcome = Node::new(config).run(&shell, "start");
        outcome.ok();
        assert_started(&outcome);
        let args = outcome.instance().args();
        assert_eq!(
            args,
            strings(&[
                "-s",
                DEFAULT_SOCKET,
                "-a",
                "fd00::1",
                "-p",
                "2001:db8::/64",
                "-m",
                "mesh0"
            ])
        );
        assert_eq!(
            outcome.log,
            [
                "-t l3roamd -p daemon.err /etc/config/l3roamd has 2 l3roamd sections; only the first (one) is used"
            ],
            "{}",
            shell.name
        );
        // `-`: no firewall rule.
        assert!(outcome.service().firewall.is_empty());
    }
}

#[test]
fn firewall_rules_follow_the_configured_zones() {
    let config = format!(
        "{}\tlist firewall_zone 'mesh'\n\tlist firewall_zone 'wired'\n",
        sample("minimal")
    );
    for shell in shells() {
        let outcome = Node::new(config.clone()).run(&shell, "start");
        outcome.ok();
        assert_eq!(
            outcome.service().firewall,
            [mesh_rule("mesh"), mesh_rule("wired")]
        );
        // The zone is service data, not the instance's: changing it restarts nothing.
        assert!(!outcome.instance().params.contains_key("data"));
        let stopped = Node::new(config.clone()).run(&shell, "stop");
        stopped.ok();
        assert_eq!(stopped.kills, 1);
        assert_eq!(stopped.config_changed, ["firewall"]);
    }
}

#[test]
fn uci_syntax_is_read_as_uci_reads_it() {
    // uci_load skips what does not parse and keeps the rest; `;`, `#` and line
    // continuations as libuci has them.
    let config = "package l3roamd\nconfig l3roamd 'main' # a comment\n\toption enabled 1; o node_ip \\\n\
                  fd00::1\n\tnonsense here\n\toption bad-name x\n\
                  \tlist client_prefix \"2001:db8::/64\"#comment\n\
                  \toption mesh_if 'mesh0'\n\tlist mesh_if mesh1\n\
                  \toption tun_name 'never\nclosed\n";
    for shell in shells() {
        let outcome = Node::new(config).run(&shell, "start");
        outcome.ok();
        assert_eq!(
            outcome.instance().args(),
            strings(&[
                "-s",
                DEFAULT_SOCKET,
                "-a",
                "fd00::1",
                "-p",
                "2001:db8::/64",
                // A list added to an option keeps the option's value first.
                "-m",
                "mesh0",
                "-m",
                "mesh1",
            ]),
            "{}",
            shell.name
        );
        assert!(outcome.log.is_empty(), "{}: {:?}", shell.name, outcome.log);
    }
}

#[test]
fn no_config_file_is_nothing_configured() {
    for shell in shells() {
        let outcome = Node::without_config().run(&shell, "boot");
        outcome.ok();
        assert_not_started(&outcome);
        assert!(outcome.log.is_empty(), "{}: {:?}", shell.name, outcome.log);
        assert!(outcome.config_changed.is_empty());
    }
}

const UP: u32 = 0x1003;
const DOWN: u32 = 0x1002;

/// mesh0 up, mesh1 down, vpn0 absent.
fn mesh_node() -> Node {
    Node::new(sample("reload"))
        .link("mesh0", UP)
        .link("mesh1", DOWN)
        .link("lo", 0x49)
}

#[test]
fn interface_update_adds_the_up_ones_and_deletes_the_others() {
    for shell in shells() {
        let outcome = mesh_node().run(&shell, "update_mesh_ifs");
        outcome.ok();
        assert_eq!(
            outcome.uc_sent,
            ["add_meshif mesh0", "del_meshif mesh1", "del_meshif vpn0"],
            "{}",
            shell.name
        );
        assert!(
            outcome
                .uc_calls
                .iter()
                .all(|socket| socket == DEFAULT_SOCKET)
        );
        // Nothing sent to procd: the daemon keeps running.
        assert!(outcome.services.is_empty(), "{}", shell.name);
        assert_eq!(outcome.kills, 0);
        assert!(outcome.config_changed.is_empty());
        assert!(outcome.log.is_empty(), "{}: {:?}", shell.name, outcome.log);
        assert!(outcome.sleeps.is_empty());
    }
}

#[test]
fn configuration_reload_resubmits_the_same_instance_and_pushes_nothing() {
    for shell in shells() {
        let started = mesh_node().run(&shell, "start");
        let reloaded = mesh_node().run(&shell, "reload");
        reloaded.ok();
        // procd compares the two and restarts nothing.
        assert_eq!(reloaded.instance(), started.instance(), "{}", shell.name);
        assert!(reloaded.uc_calls.is_empty(), "{}", shell.name);
    }
}

#[test]
fn interface_update_gives_up_on_a_daemon_that_does_not_answer() {
    for shell in shells() {
        let outcome = mesh_node()
            .uc_file("uc.down", "")
            .run(&shell, "update_mesh_ifs");
        assert!(!outcome.status.success(), "{}", shell.name);
        assert_eq!(
            outcome.uc_calls.len(),
            3,
            "{}: {:?}",
            shell.name,
            outcome.uc_calls
        );
        assert_eq!(outcome.sleeps, ["1", "1"], "{}", shell.name);
        assert!(outcome.uc_sent.is_empty());
        assert_eq!(
            outcome.log,
            [format!(
                "-t l3roamd -p daemon.err control socket {DEFAULT_SOCKET} not answering after 3 tries; mesh interfaces not updated"
            )],
            "{}",
            shell.name
        );
    }
}

#[test]
fn interface_update_catches_a_change_made_while_it_pushed() {
    for shell in shells() {
        // mesh1 comes up after the last command of the first round: procd would have
        // dropped the event for it.
        let outcome = mesh_node()
            .uc_file("uc.hook.on", "del_meshif vpn0")
            .uc_file(
                "uc.hook",
                "printf '0x1003\\n' >\"$L3ROAMD_SYSFS_NET/mesh1/flags\"\n",
            )
            .run(&shell, "update_mesh_ifs");
        outcome.ok();
        assert_eq!(
            outcome.uc_sent,
            [
                "add_meshif mesh0",
                "del_meshif mesh1",
                "del_meshif vpn0",
                "add_meshif mesh0",
                "add_meshif mesh1",
                "del_meshif vpn0",
            ],
            "{}",
            shell.name
        );

        // An interface that flaps for ever costs three rounds, not an endless loop.
        let toggle = "f=\"$L3ROAMD_SYSFS_NET/mesh1/flags\"\n\
                      if grep -q 0x1003 \"$f\"; then printf '0x1002\\n' >\"$f\"; \
                      else printf '0x1003\\n' >\"$f\"; fi\n";
        let outcome = mesh_node()
            .uc_file("uc.hook.on", "del_meshif vpn0")
            .uc_file("uc.hook", toggle)
            .uc_file("uc.hook.keep", "")
            .run(&shell, "update_mesh_ifs");
        outcome.ok();
        assert_eq!(
            outcome.uc_sent.len(),
            9,
            "{}: {:?}",
            shell.name,
            outcome.uc_sent
        );
    }
}

#[test]
fn interface_update_logs_what_the_daemon_objects_to() {
    for shell in shells() {
        let outcome = mesh_node()
            .uc_file("uc.reply", "ERROR: invalid interface name\n")
            .run(&shell, "update_mesh_ifs");
        outcome.ok();
        assert_eq!(outcome.uc_sent.len(), 3);
        assert_eq!(
            outcome.log,
            [
                "-t l3roamd -p daemon.err add_meshif mesh0: ERROR: invalid interface name",
                "-t l3roamd -p daemon.err del_meshif mesh1: ERROR: invalid interface name",
                "-t l3roamd -p daemon.err del_meshif vpn0: ERROR: invalid interface name",
            ],
            "{}",
            shell.name
        );
    }
}

#[test]
fn interface_update_does_nothing_for_a_daemon_that_is_not_to_run() {
    for shell in shells() {
        for config in [
            sample("disabled"),
            sample("no-node-ip"),
            read(&repo().join("openwrt/files/l3roamd.config")),
        ] {
            let outcome = Node::new(config)
                .link("mesh0", UP)
                .run(&shell, "update_mesh_ifs");
            outcome.ok();
            assert!(outcome.uc_calls.is_empty(), "{}", shell.name);
            assert!(outcome.log.is_empty(), "{}: {:?}", shell.name, outcome.log);
        }
    }
}

#[test]
fn interface_update_without_a_client_says_so_once() {
    for shell in shells() {
        let outcome = mesh_node()
            .client(Client::None)
            .run(&shell, "update_mesh_ifs");
        outcome.ok();
        assert_eq!(
            outcome.log,
            [
                "-t l3roamd -p daemon.err no control socket client (uc or socat) installed; mesh interfaces not updated at runtime"
            ],
            "{}",
            shell.name
        );
    }
}

/// A stand-in daemon on a real Unix socket: records each connection's line, answers
/// nothing and closes, as l3roamd does for add_meshif / del_meshif.
struct FakeDaemon {
    lines: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeDaemon {
    fn listen(path: &Path) -> FakeDaemon {
        let listener = UnixListener::bind(path).unwrap();
        listener.set_nonblocking(true).unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopped) = (lines.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        stream
                            .set_read_timeout(Some(Duration::from_secs(5)))
                            .unwrap();
                        let mut line = Vec::new();
                        let mut byte = [0u8; 1];
                        while let Ok(1) = stream.read(&mut byte) {
                            if byte[0] == b'\n' {
                                break;
                            }
                            line.push(byte[0]);
                        }
                        seen.lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(&line).into_owned());
                        let _ = stream.flush();
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FakeDaemon {
            lines,
            stop,
            thread: Some(thread),
        }
    }

    fn lines(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        self.lines.lock().unwrap().clone()
    }
}

#[test]
fn interface_update_reaches_the_daemon_through_socat() {
    if find_program("socat").is_none() {
        eprintln!("socat is not installed: the socat client was not exercised");
        return;
    }
    for shell in shells() {
        // Short (sun_path), and everything socat's address syntax would misread.
        let scratch = Scratch::new(&std::env::temp_dir(), "socat");
        let dir = scratch.path().join("a b,'c' [d]:e!");
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("l3roamd.sock");
        let daemon = FakeDaemon::listen(&socket);
        let config = format!(
            "config l3roamd 'main'\n\toption enabled 1\n\toption node_ip fd00::1\n\
             \tlist client_prefix 2001:db8::/64\n\tlist mesh_if mesh0\n\tlist mesh_if mesh1\n\
             \toption socket {}\n",
            uci_quote(&socket.display().to_string())
        );
        let outcome = Node::new(config)
            .link("mesh0", UP)
            .client(Client::Socat)
            .run(&shell, "update_mesh_ifs");
        outcome.ok();
        assert!(outcome.log.is_empty(), "{}: {:?}", shell.name, outcome.log);
        assert_eq!(
            daemon.lines(),
            ["add_meshif mesh0", "del_meshif mesh1"],
            "{}",
            shell.name
        );
    }
}

#[test]
fn the_package_makefile_matches_the_crate_and_installs_every_file() {
    let makefile = read(&repo().join("openwrt/Makefile"));
    assert!(
        makefile.contains(&format!("PKG_VERSION:={}\n", env!("CARGO_PKG_VERSION"))),
        "PKG_VERSION is not Cargo.toml's version"
    );
    for needed in [
        "PKG_NAME:=l3roamd\n",
        "PKG_BUILD_DEPENDS:=rust/host\n",
        "DEPENDS:=$(RUST_ARCH_DEPENDS) +kmod-tun\n",
        "--config 'profile.release.panic=\"abort\"'",
        "$(PKG_INSTALL_DIR)/bin/l3roamd $(1)/usr/sbin/l3roamd",
        "./files/l3roamd.init $(1)/etc/init.d/l3roamd",
        "./files/l3roamd.config $(1)/etc/config/l3roamd",
    ] {
        assert!(makefile.contains(needed), "the Makefile lacks {needed}");
    }
    let conffiles = makefile
        .split("define Package/l3roamd/conffiles\n")
        .nth(1)
        .and_then(|rest| rest.split("endef").next())
        .expect("a conffiles section");
    assert_eq!(conffiles.trim(), "/etc/config/l3roamd");
    for entry in std::fs::read_dir(repo().join("openwrt/files")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            makefile.contains(&format!("./files/{name} ")),
            "openwrt/files/{name} is not installed"
        );
    }
}

/// Runs the package Makefile in `dir` against the SDK stand-in (tests/openwrt/sdk), with
/// make's shell recording every command instead of running it. Returns the commands of
/// `prepare`, `compile` and `install` and what `info` printed.
fn make_package(dir: &Path) -> (Vec<String>, String) {
    let sdk = harness().join("sdk");
    let scratch = Scratch::new(&std::env::temp_dir(), "make");
    let record = scratch.path().join("record");
    let out = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(dir)
        .arg(format!("TOPDIR={}", sdk.display()))
        .arg(format!("SHELL={}", sdk.join("record").display()))
        .args(["prepare", "compile", "install", "info"])
        .env("RECORD", &record)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "make: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "make complained");
    let commands = read(&record)
        .split("\n----\n")
        .filter(|command| !command.is_empty() && *command != ":" && *command != ": ")
        .map(str::to_string)
        .collect();
    (commands, String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn the_package_makefile_expands_to_the_right_build() {
    if find_program("make").is_none() {
        eprintln!("make is not installed: the package Makefile was not expanded");
        return;
    }
    let sdk = harness().join("sdk");
    let build = sdk.join("build_dir/target-mipsel_24kc_musl");
    let pkg = build.join(format!("l3roamd-{}", env!("CARGO_PKG_VERSION")));
    let root = build.join("root-l3roamd");
    let (b, p, r, checkout) = (
        build.display().to_string(),
        pkg.display().to_string(),
        root.display().to_string(),
        repo().display().to_string(),
    );
    let compile = format!(
        "CARGO_BUILD_TARGET=mipsel-unknown-linux-musl CARGO_PROFILE_RELEASE_OPT_LEVEL=z \
         CARGO_PROFILE_RELEASE_LTO=true CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
         CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=false \
         CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true CARGO_PROFILE_RELEASE_PANIC=unwind \
         CARGO_PROFILE_RELEASE_RPATH=false CC=cc MAKEFLAGS=\"-j1\" \
         GIT_CEILING_DIRECTORIES=\"{b}\" cargo install -v --profile release \
         --root {p}/ipkg-install --path \"{p}/.\" -j1 --locked \
         --config 'profile.release.panic=\"abort\"'"
    );
    let install = [
        format!("install -d -m0755 {r}/usr/sbin {r}/etc/init.d {r}/etc/config"),
        format!("install -m0755 {p}/ipkg-install/bin/l3roamd {r}/usr/sbin/l3roamd"),
        format!("install -m0755 ./files/l3roamd.init {r}/etc/init.d/l3roamd"),
        format!("install -m0600 ./files/l3roamd.config {r}/etc/config/l3roamd"),
    ];
    let info = format!(
        "name=l3roamd version={} depends=@(aarch64||arm||i386||loongarch64||mips||mips64||\
         mips64el||mipsel||powerpc||powerpc64||riscv64||x86_64) +kmod-tun \
         build_depends=rust/host conffiles=/etc/config/l3roamd\n",
        env!("CARGO_PKG_VERSION")
    );

    // In the daemon's checkout, reached as README.md says, through a link in a local feed:
    // the working tree is copied, nothing downloaded.
    let local_feed = Scratch::new(&std::env::temp_dir(), "local-feed");
    let link = local_feed.path().join("l3roamd");
    std::os::unix::fs::symlink(repo().join("openwrt"), &link).unwrap();
    let (commands, printed) = make_package(&link);
    let mut want = vec![
        format!("install -d -m0755 {p}"),
        format!(
            "cp -fpR {checkout}/Cargo.toml {checkout}/Cargo.lock {checkout}/build.rs \
             {checkout}/src {p}/"
        ),
        compile.clone(),
    ];
    want.extend(install.iter().cloned());
    assert_eq!(commands, want);
    assert_eq!(printed, info);

    // A copy in the packages feed: the pinned git commit, and the Rust infrastructure found
    // beside it.
    let feed = Scratch::new(&std::env::temp_dir(), "feed");
    let package = feed.path().join("net/l3roamd");
    std::fs::create_dir_all(package.join("files")).unwrap();
    std::fs::create_dir_all(feed.path().join("lang/rust")).unwrap();
    std::fs::copy(repo().join("openwrt/Makefile"), package.join("Makefile")).unwrap();
    for entry in std::fs::read_dir(repo().join("openwrt/files")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), package.join("files").join(entry.file_name())).unwrap();
    }
    std::fs::copy(
        sdk.join("feeds/packages/lang/rust/rust-package.mk"),
        feed.path().join("lang/rust/rust-package.mk"),
    )
    .unwrap();
    let (commands, printed) = make_package(&package);
    let mut want = vec![format!(
        "unpack git https://example.org/l3roamd.git 0000000000000000000000000000000000000000 \
         skip {p}"
    )];
    want.push(compile);
    want.extend(install);
    assert_eq!(commands, want);
    assert_eq!(printed, info);
}

#[test]
fn shellcheck_finds_nothing() {
    let Some(shellcheck) = find_program("shellcheck") else {
        eprintln!("shellcheck is not installed: the scripts were not linted");
        return;
    };
    let h = harness();
    let mut files = vec![
        repo().join("openwrt/files/l3roamd.init"),
        h.join("rc.common"),
        h.join("functions.sh"),
        h.join("procd.sh"),
        h.join("client/uc"),
        h.join("sdk/record"),
    ];
    for entry in std::fs::read_dir(h.join("bin")).unwrap() {
        files.push(entry.unwrap().path());
    }
    let out = Command::new(shellcheck)
        .current_dir(repo())
        .args(["--shell=sh", "--severity=style"])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "shellcheck:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
