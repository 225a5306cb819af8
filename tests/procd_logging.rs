//! procd sends every stdout line to syslog at LOG_INFO and every stderr line at LOG_ERR
//! (../shared/spec/openwrt.md §4). The real binary in a namespace of its own, with the two
//! streams apart: routine messages must land on stdout, warnings and errors on stderr, one
//! message a line, no colour codes. Needs root, as the other kernel tests.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

mod netns;

/// A network namespace with loopback up and a bridge for clients, deleted on drop.
struct Namespace {
    name: String,
}

impl Namespace {
    fn new(tag: &str, node_ip: Option<&str>) -> Namespace {
        let name = format!("l3r-log-{tag}-{}", std::process::id());
        let ns = Namespace { name };
        ns.ip(&["netns", "add", &ns.name]);
        ns.ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        if let Some(addr) = node_ip {
            ns.ip(&["-n", &ns.name, "addr", "add", addr, "dev", "lo"]);
        }
        ns.ip(&["-n", &ns.name, "link", "add", "br0", "type", "bridge"]);
        ns.ip(&["-n", &ns.name, "link", "set", "br0", "up"]);
        ns
    }

    fn ip(&self, args: &[&str]) {
        netns::run(Command::new("ip").args(args));
    }

    fn spawn(&self, args: &[&str]) -> Child {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .arg(netns::daemon_binary())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start l3roamd")
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn socket_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("l3r-log-{tag}-{}.sock", std::process::id()))
}

fn wait_for_socket(child: &mut Child, socket: &Path) {
    let start = Instant::now();
    while !socket.exists() {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "l3roamd exited before making its control socket"
        );
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no control socket"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

fn control(socket: &Path, command: &str) -> String {
    let mut stream = UnixStream::connect(socket).expect("connect to the control socket");
    stream.write_all(command.as_bytes()).expect("send");
    stream.write_all(b"\n").expect("send");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("reply");
    reply
}

/// SIGTERM, then the two streams apart.
fn stop(child: Child) -> Output {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    child.wait_with_output().expect("wait")
}

fn lines(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8(bytes.to_vec()).expect("log output is UTF-8");
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "every line ends with a newline: {text:?}"
    );
    assert!(!text.contains('\u{1b}'), "no colour codes: {text:?}");
    text.lines().map(str::to_string).collect()
}

/// The daemon's stdout as it comes, so that a test can wait for a line instead of sleeping.
struct Collector {
    bytes: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    reader: thread::JoinHandle<()>,
}

impl Collector {
    fn start(child: &mut Child) -> Collector {
        let mut pipe = child.stdout.take().expect("stdout is piped");
        let bytes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = bytes.clone();
        let reader = thread::spawn(move || {
            let mut buf = [0; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                sink.lock()
                    .expect("collector lock")
                    .extend_from_slice(&buf[..n]);
            }
        });
        Collector { bytes, reader }
    }

    fn lines(&self) -> Vec<String> {
        let bytes = self.bytes.lock().expect("collector lock");
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn wait_for(&self, what: &str, wanted: impl Fn(&str) -> bool) {
        let start = Instant::now();
        while !self.lines().iter().any(|l| wanted(l)) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no line with {what} on stdout in 10 s: {:?}",
                self.lines()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything, once the daemon has closed its stdout.
    fn finish(self) -> Vec<u8> {
        self.reader.join().expect("stdout reader");
        std::sync::Arc::try_unwrap(self.bytes)
            .expect("the reader is gone")
            .into_inner()
            .expect("collector lock")
    }
}

fn is_problem(line: &str) -> bool {
    line.starts_with("warning: ") || line.starts_with("error: ")
}

#[test]
fn routine_messages_go_to_stdout_warnings_to_stderr() {
    let ns = Namespace::new("run", Some("fd00::1/128"));
    let socket = socket_path("run");
    let socket_arg = socket.to_str().expect("UTF-8 temp dir");
    // `-n` is accepted for compatibility and ignored with a warning: a warning on demand.
    let mut child = ns.spawn(&[
        "-a",
        "fd00::1",
        "-p",
        "2001:db8::/64",
        "-i",
        "br0",
        "-b",
        "br0",
        "-s",
        socket_arg,
        "-n",
        "clat0",
    ]);
    wait_for_socket(&mut child, &socket);
    let stdout = Collector::start(&mut child);
    // Without -v or -d debug is off: the start-up's kernel dump reports every link at debug
    // level, and none of that shows. The `verbosity` command turns debug on at run time, and
    // a new link is then reported.
    stdout.wait_for("the end of the start-up", |l| {
        l == "kernel state read: serving"
    });
    let before = stdout.lines();
    assert!(
        !before.iter().any(|l| l.starts_with("debug: ")),
        "no debug line without -v: {before:?}"
    );
    assert_eq!(control(&socket, "verbosity debug"), "");
    ns.ip(&["-n", &ns.name, "link", "add", "loud0", "type", "bridge"]);
    stdout.wait_for("the new link at debug level", |l| {
        l.starts_with("debug: ") && l.contains("loud0")
    });
    let output = stop(child);
    let stdout = lines(&stdout.finish());
    let stderr = lines(&output.stderr);

    assert!(
        stdout
            .iter()
            .any(|l| l.starts_with("l3roamd ") && l.contains("starting")),
        "the start is news, at info: {stdout:?}"
    );
    assert!(
        stdout.iter().any(|l| l == "stopped"),
        "the stop is news, at info: {stdout:?}"
    );
    assert!(
        !stdout.iter().any(|l| is_problem(l)),
        "no warning or error on stdout, where procd would log it as info: {stdout:?}"
    );
    assert_eq!(
        stderr,
        ["warning: -n 'clat0' is accepted for compatibility and ignored"],
        "stderr holds the warning and nothing routine"
    );
}

#[test]
fn a_fatal_error_is_one_error_line_on_stderr_and_exit_status_1() {
    // No node IP on this node: binding the intercom socket fails.
    let ns = Namespace::new("fatal", None);
    let output = ns
        .spawn(&["-a", "fd00::1", "-p", "2001:db8::/64", "-i", "br0"])
        .wait_with_output()
        .expect("wait");
    assert_eq!(output.status.code(), Some(1), "a run-time failure exits 1");
    let stderr = lines(&output.stderr);
    assert_eq!(stderr.len(), 1, "one line: {stderr:?}");
    assert!(
        stderr[0].starts_with("error: binding [fd00::1]:5523"),
        "{stderr:?}"
    );
    assert!(!lines(&output.stdout).iter().any(|l| is_problem(l)));
}

#[test]
fn a_bad_command_line_is_reported_on_stderr_and_exits_2() {
    let output = Command::new(netns::daemon_binary())
        .args(["-a", "fd00::1", "-p", "2001:db8::/64", "-t", "zero"])
        .output()
        .expect("run l3roamd");
    assert_eq!(output.status.code(), Some(2));
    assert!(lines(&output.stdout).is_empty());
    let stderr = lines(&output.stderr);
    assert!(
        stderr[0].starts_with("l3roamd: ") && stderr[0].contains("-t"),
        "{stderr:?}"
    );
}
