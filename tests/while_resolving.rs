//! Pins what happens to signals and to the resolving process before the
//! command starts: stop requests end aws-init (case 14), others are dropped,
//! and a resolving process that is stopped or killed fails closed.

mod common;

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use common::launch::*;
use common::temp::TempDir;
use common::*;

// Signals while resolving (case 14).

/// Starts aws-init with `options`, a reference the Silent listener never
/// answers and a command that would leave `marker` behind, in `dir` and
/// allowed to dump core, and returns once the resolving child has
/// connected.
fn start_resolving(
    launch: Launch,
    options: &[&str],
    silent: &Silent,
    dir: &TempDir,
    marker: &Path,
) -> (Running, std::net::TcpStream) {
    let mut command = launch.command(&silent.endpoint);
    command
        .env("X", "aws-secret:slow")
        .args(options)
        .arg("touch")
        .arg(marker)
        .current_dir(dir.path());
    allow_core_dumps(&mut command);
    let running = Running::start(launch, &mut command);
    let connection = silent.wait_for_request();
    (running, connection)
}

/// Lifts the core size limit for the run, so that a process that may dump
/// core does so, and a test can see whether it did.
fn allow_core_dumps(command: &mut Command) {
    // SAFETY: setrlimit is async-signal-safe and touches only the child.
    unsafe {
        command.pre_exec(|| {
            let unlimited = libc::rlimit {
                rlim_cur: libc::RLIM_INFINITY,
                rlim_max: libc::RLIM_INFINITY,
            };
            if libc::setrlimit(libc::RLIMIT_CORE, &unlimited) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Tells whether the kernel writes core files into the dumping process's
/// working directory, which is what lets a test look for them. A piped or
/// absolute core_pattern sends them elsewhere.
fn cores_land_in_the_working_directory() -> bool {
    let pattern = fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
    let pattern = pattern.trim();
    !pattern.is_empty() && !pattern.starts_with('|') && !pattern.contains('/')
}

fn death_code(signal: Signal) -> i32 {
    128 + signal as i32
}

#[test]
fn a_stop_signal_while_resolving_ends_aws_init_before_the_command_starts() {
    let stops = [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGHUP,
    ];
    for launch in LAUNCHES {
        for signal in stops {
            let silent = Silent::new();
            let dir = TempDir::new("resolving");
            let marker = dir.path().join("marker");
            let (running, _connection) = start_resolving(launch, &[], &silent, &dir, &marker);
            running.signal(signal);
            let (outcome, lines) = running.finish();
            assert_eq!(
                outcome.code(),
                death_code(signal),
                "{launch:?} {signal}: {outcome:?}"
            );
            assert_eq!(lines, Vec::<String>::new(), "{launch:?} {signal}");
            assert_eq!(outcome.stderr, "", "{launch:?} {signal}");
            assert!(!marker.exists(), "{launch:?} {signal}: the command ran");
            // SIGQUIT's default action dumps core; the resolving child
            // holds secrets and has made itself undumpable.
            assert_eq!(
                dir.entries(),
                Vec::<String>::new(),
                "{launch:?} {signal}: left files behind, such as a core"
            );
        }
    }
}

#[test]
fn other_signals_while_resolving_are_dropped() {
    for launch in LAUNCHES {
        let silent = Silent::new();
        let dir = TempDir::new("resolving");
        let marker = dir.path().join("marker");
        let options = ["--log-level", "debug"];
        let (running, _connection) = start_resolving(launch, &options, &silent, &dir, &marker);
        // Pending standard signals are taken lowest number first, so
        // aws-init deals with SIGUSR1 (10) before SIGTERM (15) however the
        // two arrive: SIGUSR1 must not end the run, and SIGTERM still must.
        running.signal(Signal::SIGUSR1);
        running.signal(Signal::SIGTERM);
        let (outcome, lines) = running.finish();
        assert_eq!(
            outcome.code(),
            death_code(Signal::SIGTERM),
            "{launch:?}: {outcome:?}"
        );
        assert_eq!(lines, Vec::<String>::new(), "{launch:?}");
        let stderr: Vec<&str> = outcome.stderr.lines().collect();
        let [started, rest @ ..] = &stderr[..] else {
            panic!("{launch:?}: {outcome:?}");
        };
        assert!(
            started.starts_with("aws-init: debug: started child "),
            "{launch:?}: {outcome:?}"
        );
        assert_eq!(
            rest,
            [
                "aws-init: debug: dropped SIGUSR1: the command has not started",
                "aws-init: debug: SIGTERM before the command started; stopping",
                "aws-init: debug: child exited; exiting with 143",
            ],
            "{launch:?}"
        );
        assert!(!marker.exists(), "{launch:?}: the command ran");
    }
}

/// The control for the core check above: the command, exec'd from the
/// undumpable resolving child, can dump core again, so an empty directory
/// there means no core was written rather than that none could be seen.
/// The command has a reference to resolve: without one, aws-init starts it
/// with posix_spawn and no undumpable process comes between.
#[test]
fn the_command_itself_may_dump_core() {
    if !cores_land_in_the_working_directory() {
        eprintln!("skipped: core_pattern does not write into the working directory");
        return;
    }
    let name = unique("core");
    emulator().put_secret(&name, "core-value");
    for launch in LAUNCHES {
        let dir = TempDir::new("core");
        let mut command = launch.command(&emulator().endpoint);
        command
            .env("X", format!("aws-secret:{name}"))
            .args(shell("kill -QUIT $$", &[]))
            .current_dir(dir.path());
        allow_core_dumps(&mut command);
        let outcome = run(&mut command);
        assert_eq!(outcome.code(), 131, "{launch:?}: {outcome:?}");
        assert!(
            outcome
                .stderr
                .starts_with("aws-init: resolved 1 variable(s) in "),
            "{launch:?}: {}",
            outcome.stderr
        );
        assert_eq!(dir.entries().len(), 1, "{launch:?}: no core file");
    }
}

/// Waits until process `pid` is in `state`, as field 3 of /proc/PID/stat
/// gives it (proc(5)); the command name before it may hold any byte, so
/// the state is read after its closing parenthesis.
fn wait_for_state(pid: u32, state: char) {
    let started = Instant::now();
    loop {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let (_, rest) = stat.rsplit_once(") ").unwrap();
        if rest.starts_with(state) {
            return;
        }
        assert!(
            started.elapsed() < GUARD,
            "{pid} never reached {state}: {stat}"
        );
        std::thread::yield_now();
    }
}

/// The resolving child: aws-init's only child until the command starts.
fn resolving_child(running: &Running) -> u32 {
    let children = children_of(running.aws_init_pid().as_raw() as u32);
    assert_eq!(children.len(), 1, "aws-init's children: {children:?}");
    children[0]
}

#[test]
fn a_stopped_resolving_child_fails_closed_at_the_init_deadline() {
    for launch in LAUNCHES {
        let silent = Silent::new();
        let dir = TempDir::new("resolving");
        let marker = dir.path().join("marker");
        let (running, _connection) =
            start_resolving(launch, &["--timeout", "500ms"], &silent, &dir, &marker);
        // Stopped, it cannot enforce its own timeout; only the init can.
        let child = resolving_child(&running);
        kill(Pid::from_raw(child as i32), Signal::SIGSTOP).unwrap();
        wait_for_state(child, 'T');
        let (outcome, lines) = running.finish();
        assert_eq!(outcome.code(), 125, "{launch:?}: {outcome:?}");
        assert_eq!(lines, Vec::<String>::new(), "{launch:?}");
        assert_eq!(
            outcome.stderr,
            "aws-init: error: references still unresolved 2000 ms after the timeout; \
             the command was not started\n",
            "{launch:?}"
        );
        assert!(!marker.exists(), "{launch:?}: the command ran");
    }
}

#[test]
fn a_killed_resolving_child_fails_closed() {
    for launch in LAUNCHES {
        let silent = Silent::new();
        let dir = TempDir::new("resolving");
        let marker = dir.path().join("marker");
        let (running, _connection) = start_resolving(launch, &[], &silent, &dir, &marker);
        let child = resolving_child(&running);
        kill(Pid::from_raw(child as i32), Signal::SIGKILL).unwrap();
        let (outcome, lines) = running.finish();
        assert_eq!(outcome.code(), 125, "{launch:?}: {outcome:?}");
        assert_eq!(lines, Vec::<String>::new(), "{launch:?}");
        assert_eq!(
            outcome.stderr,
            "aws-init: error: the process resolving references ended (killed by signal 9) \
             before the command started\n",
            "{launch:?}"
        );
        assert!(!marker.exists(), "{launch:?}: the command ran");
    }
}

/// Whether `signal` is pending for process `pid`, by /proc/PID/status: a
/// signal sent with kill(2) to a process waits in its shared set.
fn pending(pid: u32, signal: Signal) -> bool {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let bits = status
        .lines()
        .find_map(|line| line.strip_prefix("ShdPnd:"))
        .map(|bits| u64::from_str_radix(bits.trim(), 16).unwrap())
        .unwrap();
    bits & (1 << (signal as i32 - 1)) != 0
}

/// Answers the one GetSecretValue request on `connection` with `value`.
fn answer_secret(connection: &mut std::net::TcpStream, value: &str) {
    let mut request = Vec::new();
    let mut byte = [0u8; 1];
    while !request.ends_with(b"\r\n\r\n") {
        connection.read_exact(&mut byte).unwrap();
        request.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&request).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map_or(0, |length| length.trim().parse().unwrap());
    connection.read_exact(&mut vec![0; length]).unwrap();
    let body = format!(r#"{{"Name":"slow","SecretString":"{value}"}}"#);
    write!(
        connection,
        "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
}

#[test]
fn a_dropped_signal_while_resolving_never_reaches_the_command() {
    for launch in LAUNCHES {
        let silent = Silent::new();
        let dir = TempDir::new("resolving");
        let marker = dir.path().join("marker");
        let (running, mut connection) = start_resolving(launch, &[], &silent, &dir, &marker);
        let init = running.aws_init_pid().as_raw() as u32;
        let child = resolving_child(&running);

        running.signal(Signal::SIGUSR1);
        // Once the init has taken it, a forwarded copy would wait, blocked,
        // in the resolving child, and kill it when it unblocks its signals
        // just before exec: the run would end with 138 instead of starting
        // the command.
        while pending(init, Signal::SIGUSR1) {
            std::thread::yield_now();
        }
        assert!(
            !pending(child, Signal::SIGUSR1),
            "{launch:?}: SIGUSR1 was forwarded to the resolving child"
        );
        answer_secret(&mut connection, "gated-value");

        let (outcome, lines) = running.finish();
        assert_eq!(outcome.code(), 0, "{launch:?}: {outcome:?}");
        assert_eq!(lines, Vec::<String>::new(), "{launch:?}");
        assert!(marker.exists(), "{launch:?}: the command did not run");
    }
}
