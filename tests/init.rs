//! Pins aws-init's behaviour as an init: exit codes, signal forwarding,
//! reaping, shutdown, signals while resolving, terminals and the health
//! check, run both as a plain process and as PID 1 of a PID namespace.

mod common;

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::thread;

use nix::pty::openpty;
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, getpgrp};

use common::*;

/// How aws-init is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Launch {
    /// A plain child of the test.
    Direct,
    /// PID 1 of a new PID namespace, where orphans are its to reap and the
    /// kernel drops signals that it neither blocks nor handles.
    Pid1,
}

const LAUNCHES: [Launch; 2] = [Launch::Direct, Launch::Pid1];

impl Launch {
    fn command(self, endpoint: &str) -> Command {
        let mut command = match self {
            Launch::Direct => aws_init_at(endpoint),
            Launch::Pid1 => aws_init_as_pid1_at(endpoint),
        };
        with_default_dispositions(&mut command);
        command
    }
}

/// Starts `command` with SIGINT and SIGQUIT at their defaults, as a
/// container runtime starts aws-init. A test run in the background by a
/// script (`cargo test &`) inherits them ignored, and a shell cannot trap
/// a signal that was ignored when it started.
fn with_default_dispositions(command: &mut Command) {
    // SAFETY: signal is async-signal-safe and touches only the child.
    unsafe {
        command.pre_exec(|| {
            for signal in [libc::SIGINT, libc::SIGQUIT] {
                if libc::signal(signal, libc::SIG_DFL) == libc::SIG_ERR {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// A started aws-init. If the test fails before it ends, dropping it kills
/// aws-init and, for a direct run, the command's process group, so that no
/// `sleep 1000` outlives the test.
struct Running {
    launch: Launch,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    stdout: Option<Lines>,
}

impl Running {
    /// Spawns `command` with stdin, stdout and stderr piped.
    fn start(launch: Launch, command: &mut Command) -> Running {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Running::spawn(launch, command)
    }

    /// Spawns `command` with the stdio it was given.
    fn spawn(launch: Launch, command: &mut Command) -> Running {
        let mut child = command.spawn().unwrap();
        Running {
            launch,
            stdin: child.stdin.take(),
            stdout: child.stdout.take().map(Lines::new),
            child: Some(child),
        }
    }

    fn child(&self) -> &Child {
        self.child.as_ref().expect("the run is still going")
    }

    /// aws-init's pid as the test sees it.
    fn aws_init_pid(&self) -> Pid {
        let pid = match self.launch {
            Launch::Direct => self.child().id(),
            Launch::Pid1 => {
                // unshare --fork has one child, which exec'd aws-init.
                let children = children_of(self.child().id());
                assert_eq!(children.len(), 1, "unshare's children: {children:?}");
                children[0]
            }
        };
        Pid::from_raw(pid as i32)
    }

    /// Sends `signal` to aws-init itself, as an orchestrator would.
    fn signal(&self, signal: Signal) {
        kill(self.aws_init_pid(), signal).unwrap();
    }

    /// The command's next line of output.
    fn line(&self) -> String {
        self.stdout.as_ref().expect("stdout is piped").next()
    }

    /// The next `count` lines, sorted, for lines that two processes write
    /// in no fixed order.
    fn lines_in_any_order(&self, count: usize) -> Vec<String> {
        let mut lines: Vec<String> = (0..count).map(|_| self.line()).collect();
        lines.sort();
        lines
    }

    fn write(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is piped");
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Closes stdin and waits for the end: the outcome, and the stdout
    /// lines not read yet.
    fn finish(mut self) -> (Outcome, Vec<String>) {
        drop(self.stdin.take());
        let outcome = common::finish(self.child.take().unwrap());
        let rest = self.stdout.take().map(|lines| lines.rest());
        (outcome, rest.unwrap_or_default())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if self.launch == Launch::Direct {
            for command in children_of(child.id()) {
                let _ = kill(Pid::from_raw(-(command as i32)), Signal::SIGKILL);
            }
        }
        // For a PID 1 run, unshare's --kill-child takes the namespace down.
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A directory of its own under the system's temporary directory, removed
/// on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> TempDir {
        let path = std::env::temp_dir().join(unique(&format!("aws-init-{prefix}")));
        fs::create_dir(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// The names of the files in the directory, sorted.
    fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.0)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A `sh -c` command line whose positional parameters are `params`.
fn shell<'a>(script: &'a str, params: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["sh", "-c", script, "sh"];
    args.extend_from_slice(params);
    args
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

// Exit codes.

#[test]
fn passes_the_command_exit_code_through() {
    for launch in LAUNCHES {
        for code in ["0", "1", "3", "255"] {
            let outcome = run(launch.command(NOWHERE).args(shell("exit \"$1\"", &[code])));
            assert_eq!(outcome.code().to_string(), code, "{launch:?}: {outcome:?}");
            assert_eq!(outcome.stdout, "", "{launch:?}");
            assert_eq!(outcome.stderr, "", "{launch:?}");
        }
    }
}

#[test]
fn exits_128_plus_n_when_the_command_dies_by_a_signal() {
    for launch in LAUNCHES {
        for (signal, code) in [("TERM", 143), ("KILL", 137)] {
            let outcome = run(launch
                .command(NOWHERE)
                .args(shell("kill -\"$1\" $$", &[signal])));
            assert_eq!(outcome.code(), code, "{launch:?} SIG{signal}: {outcome:?}");
            assert_eq!(outcome.stderr, "", "{launch:?} SIG{signal}");
        }
    }
}

#[test]
fn exits_127_when_the_command_is_not_found() {
    for launch in LAUNCHES {
        let outcome = run(launch.command(NOWHERE).arg("/does/not/exist"));
        assert_eq!(outcome.code(), 127, "{launch:?}: {outcome:?}");
        assert_eq!(outcome.stdout, "", "{launch:?}");
        assert_eq!(
            outcome.stderr, "aws-init: error: /does/not/exist: command not found\n",
            "{launch:?}"
        );
    }
}

#[test]
fn exits_126_when_the_command_is_not_executable() {
    let dir = TempDir::new("not-executable");
    let script = dir.path().join("script");
    // A valid script, so that only the missing execute bit stops it; root
    // may execute a file only if some execute bit is set (execve(2)).
    fs::write(&script, "#!/bin/sh\necho ran\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o644)).unwrap();

    for launch in LAUNCHES {
        let outcome = run(launch.command(NOWHERE).arg(&script));
        assert_eq!(outcome.code(), 126, "{launch:?}: {outcome:?}");
        assert_eq!(outcome.stdout, "", "{launch:?}");
        assert_eq!(
            outcome.stderr,
            format!(
                "aws-init: error: {}: cannot execute: Permission denied (os error 13)\n",
                script.display()
            ),
            "{launch:?}"
        );
    }
}

#[test]
fn exits_2_when_no_command_is_given() {
    let outcome = run(&mut aws_init_at(NOWHERE));
    assert_eq!(outcome.code(), 2, "{outcome:?}");
    assert_eq!(outcome.stdout, "");
    assert_eq!(
        outcome.stderr,
        "aws-init: error: no command given; usage: aws-init [OPTIONS] [--] COMMAND [ARGS...]\n"
    );
}

#[test]
fn exits_2_on_an_unknown_option() {
    let outcome = run(aws_init_at(NOWHERE).args(["--bogus", "true"]));
    assert_eq!(outcome.code(), 2, "{outcome:?}");
    assert_eq!(outcome.stdout, "");
    assert_eq!(
        outcome.stderr,
        "aws-init: error: unknown option `--bogus`; see aws-init --help\n"
    );
}

#[test]
fn help_prints_to_stdout_and_exits_0() {
    let outcome = run(aws_init_at(NOWHERE).arg("--help"));
    assert_eq!(outcome.code(), 0, "{outcome:?}");
    assert!(
        outcome.stdout.starts_with(
            "aws-init: resolve AWS secret references in the environment, then run a command\n"
        ),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome
            .stdout
            .contains("\nUsage: aws-init [OPTIONS] [--] COMMAND [ARGS...]\n"),
        "{}",
        outcome.stdout
    );
    assert_eq!(outcome.stderr, "");
}

#[test]
fn version_prints_to_stdout_and_exits_0() {
    for flag in ["--version", "-V", "-v"] {
        let outcome = run(aws_init_at(NOWHERE).arg(flag));
        assert_eq!(outcome.code(), 0, "{flag}: {outcome:?}");
        assert_eq!(
            outcome.stdout,
            format!("aws-init {}\n", env!("CARGO_PKG_VERSION")),
            "{flag}"
        );
        assert_eq!(outcome.stderr, "", "{flag}");
    }
}

// Reaping.

/// Case 11, with the final `sleep 1` replaced by a check made by events.
/// Once every orphan has died, the command sends SIGWINCH to PID 1 and
/// waits for it to come back forwarded. The kernel hands out pending
/// standard signals lowest number first, so aws-init takes any SIGCHLD (17)
/// still pending before that SIGWINCH (28): by the time the command sees
/// it, an init that reaps has reaped every orphan, and one that does not
/// has left them all as zombies.
const ORPHANS: &str = r#"
scan() {
    live=0 zombies=0
    for stat in /proc/[0-9]*/stat; do
        { read -r _ comm state _ < "$stat"; } 2>/dev/null || continue
        if [ "$state" = Z ]; then
            zombies=$((zombies + 1))
        elif [ "$comm" = "(sleep)" ]; then
            live=$((live + 1))
        fi
    done
}
for i in $(seq 100); do (sleep 0.1 &); done
scan
while [ "$live" -gt 0 ]; do scan; done
trap 'synced=yes' WINCH
kill -WINCH 1
until [ "$synced" ]; do :; done
scan
echo "parent: $PPID"
echo "zombies: $zombies"
"#;

#[test]
fn reaps_every_orphan_when_it_is_pid_1() {
    let outcome = run(aws_init_as_pid1_at(NOWHERE).args(shell(ORPHANS, &[])));
    assert_eq!(outcome.stdout, "parent: 1\nzombies: 0\n", "{outcome:?}");
    assert_eq!(outcome.code(), 0, "{outcome:?}");
    assert_eq!(outcome.stderr, "");
}

// Signal forwarding.

/// Traps signal $1, says `ready`, waits; on the signal says so and exits
/// $2. The background sleep is what `wait` waits on: a trapped signal cuts
/// `wait` short at once, where it would wait for a foreground command.
/// Every trap here ends its sleep with SIGKILL: a background child that has
/// not exec'd `sleep` yet still has the shell's handlers, and would swallow
/// a signal that the shell traps.
const TRAP: &str = r#"
sig=$1 code=$2
trap 'kill -KILL $! 2>/dev/null; echo "got $sig"; exit "$code"' "$sig"
sleep 1000 >/dev/null 2>&1 &
echo ready
wait
"#;

const FORWARDED: [(Signal, &str, &str); 7] = [
    (Signal::SIGTERM, "TERM", "41"),
    (Signal::SIGINT, "INT", "42"),
    (Signal::SIGQUIT, "QUIT", "43"),
    (Signal::SIGHUP, "HUP", "44"),
    (Signal::SIGUSR1, "USR1", "45"),
    (Signal::SIGUSR2, "USR2", "46"),
    (Signal::SIGWINCH, "WINCH", "47"),
];

#[test]
fn forwards_each_signal_to_the_command() {
    for launch in LAUNCHES {
        for (signal, name, code) in FORWARDED {
            let running = Running::start(
                launch,
                launch.command(NOWHERE).args(shell(TRAP, &[name, code])),
            );
            assert_eq!(running.line(), "ready", "{launch:?} {name}");
            running.signal(signal);
            let (outcome, lines) = running.finish();
            assert_eq!(lines, [format!("got {name}")], "{launch:?} {name}");
            assert_eq!(
                outcome.code().to_string(),
                code,
                "{launch:?} {name}: {outcome:?}"
            );
            assert_eq!(outcome.stderr, "", "{launch:?} {name}");
        }
    }
}

/// TRAP with a second member of the command's process group, a background
/// subshell that traps the same signal. The command waits for the member
/// before it exits, so the lines come in a fixed order.
const GROUP: &str = r#"
sig=$1 code=$2
(
    trap 'kill -KILL $! 2>/dev/null; echo "member got $sig"; exit 0' "$sig"
    sleep 1000 >/dev/null 2>&1 &
    echo "member ready"
    wait
) &
member=$!
trap 'wait "$member"; echo "got $sig"; exit "$code"' "$sig"
echo ready
wait
"#;

#[test]
fn forwards_signals_to_the_whole_process_group() {
    // Not SIGINT or SIGQUIT: a non-interactive shell starts background
    // commands with those ignored, and a subshell cannot trap them then.
    let signals = FORWARDED
        .iter()
        .filter(|(signal, ..)| ![Signal::SIGINT, Signal::SIGQUIT].contains(signal));
    for launch in LAUNCHES {
        for &(signal, name, code) in signals.clone() {
            let running = Running::start(
                launch,
                launch.command(NOWHERE).args(shell(GROUP, &[name, code])),
            );
            assert_eq!(
                running.lines_in_any_order(2),
                ["member ready", "ready"],
                "{launch:?} {name}"
            );
            running.signal(signal);
            let (outcome, lines) = running.finish();
            assert_eq!(
                lines,
                [format!("member got {name}"), format!("got {name}")],
                "{launch:?} {name}"
            );
            assert_eq!(
                outcome.code().to_string(),
                code,
                "{launch:?} {name}: {outcome:?}"
            );
            assert_eq!(outcome.stderr, "", "{launch:?} {name}");
        }
    }
}

/// Prints the shell's pid, its process group and its parent's (aws-init's)
/// process group; the group is field 5 of /proc/PID/stat (proc(5)).
const GROUPS: &str = r#"
read -r _ _ _ _ pgrp _ < /proc/$$/stat
read -r _ _ _ _ parent_pgrp _ < /proc/$PPID/stat
echo "$$ $pgrp $parent_pgrp"
"#;

#[test]
fn runs_the_command_in_a_process_group_of_its_own() {
    for launch in LAUNCHES {
        let outcome = run(launch.command(NOWHERE).args(shell(GROUPS, &[])));
        assert_eq!(outcome.code(), 0, "{launch:?}: {outcome:?}");
        let fields: Vec<i32> = outcome
            .stdout
            .split_whitespace()
            .map(|field| field.parse().unwrap())
            .collect();
        let [pid, pgrp, parent_pgrp] = fields[..] else {
            panic!("{launch:?}: {outcome:?}");
        };
        assert_eq!(pgrp, pid, "{launch:?}: the command leads its own group");
        assert_ne!(parent_pgrp, pgrp, "{launch:?}: aws-init is not in it");
        if launch == Launch::Direct {
            assert_eq!(
                parent_pgrp,
                getpgrp().as_raw(),
                "aws-init stays in the group it was started in"
            );
        }
    }
}

// What the command inherits.

/// The signal mask and the ignored signals of a process, from
/// /proc/PID/status (proc(5)). Only the standard signals count: glibc keeps
/// the first real-time signals for itself.
#[derive(Debug, PartialEq, Eq)]
struct SignalState {
    blocked: u64,
    ignored: u64,
}

/// Signals 1 to 31, as bits 0 to 30 of a /proc/PID/status mask.
const STANDARD_SIGNALS: u64 = (1 << 31) - 1;

/// Prints the state of the process that runs it.
const SIGNAL_STATE: [&str; 4] = ["grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"];

impl SignalState {
    fn parse(status: &str) -> SignalState {
        let mask = |field: &str| {
            let hex = status
                .lines()
                .find_map(|line| line.strip_prefix(field))
                .unwrap_or_else(|| panic!("no {field} in {status:?}"));
            u64::from_str_radix(hex.trim(), 16).unwrap() & STANDARD_SIGNALS
        };
        SignalState {
            blocked: mask("SigBlk:"),
            ignored: mask("SigIgn:"),
        }
    }

    /// The state of a process the test starts itself: what aws-init is
    /// given, and should hand on.
    fn without_aws_init() -> SignalState {
        let mut command = Command::new(SIGNAL_STATE[0]);
        command.args(&SIGNAL_STATE[1..]).env_clear();
        with_default_dispositions(&mut command);
        let outcome = run(&mut command);
        assert_eq!(outcome.code(), 0, "{outcome:?}");
        SignalState::parse(&outcome.stdout)
    }

    fn of_the_command(launch: Launch) -> SignalState {
        let outcome = run(launch.command(NOWHERE).args(SIGNAL_STATE));
        assert_eq!(outcome.code(), 0, "{launch:?}: {outcome:?}");
        SignalState::parse(&outcome.stdout)
    }
}

#[test]
fn the_command_starts_with_the_signal_mask_aws_init_was_given() {
    let given = SignalState::without_aws_init();
    for launch in LAUNCHES {
        let blocked = SignalState::of_the_command(launch).blocked;
        assert_eq!(blocked, given.blocked, "{launch:?}: {blocked:#x}");
    }
}

#[test]
fn the_command_starts_with_the_ignored_signals_aws_init_was_given() {
    let given = SignalState::without_aws_init();
    for launch in LAUNCHES {
        let ignored = SignalState::of_the_command(launch).ignored;
        assert_eq!(ignored, given.ignored, "{launch:?}: {ignored:#x}");

        // What users see: with SIGPIPE ignored, `yes` gets EPIPE and
        // complains instead of dying quietly when `head` stops reading.
        let outcome = run(launch.command(NOWHERE).args(shell("yes | head -n 1", &[])));
        assert_eq!(outcome.stdout, "y\n", "{launch:?}");
        assert_eq!(outcome.stderr, "", "{launch:?}");
        assert_eq!(outcome.code(), 0, "{launch:?}");
    }
}

// Shutdown.

/// Traps SIGTERM and, once it comes, holds on until the test writes a line,
/// so that aws-init can exit 0 only by waiting for the command.
const SLOW_STOP: &str = r#"
trap 'kill -KILL $! 2>/dev/null; echo stopping; read -r _; echo stopped; exit 0' TERM
sleep 1000 >/dev/null 2>&1 &
echo ready
wait
"#;

#[test]
fn waits_for_the_command_after_forwarding_sigterm() {
    for launch in LAUNCHES {
        let mut running =
            Running::start(launch, launch.command(NOWHERE).args(shell(SLOW_STOP, &[])));
        assert_eq!(running.line(), "ready", "{launch:?}");
        running.signal(Signal::SIGTERM);
        assert_eq!(running.line(), "stopping", "{launch:?}");
        running.write("go\n");
        let (outcome, lines) = running.finish();
        assert_eq!(lines, ["stopped"], "{launch:?}");
        assert_eq!(outcome.code(), 0, "{launch:?}: {outcome:?}");
        assert_eq!(outcome.stderr, "", "{launch:?}");
    }
}

/// Ignores SIGTERM, says so with its pid, and becomes a process that
/// inherits the ignoring (signal(7): ignored signals survive execve).
const IGNORE_TERM: &str = r#"
trap '' TERM
echo "ready $$"
exec sleep 1000
"#;

#[test]
fn kills_the_command_when_the_grace_period_ends() {
    for launch in LAUNCHES {
        for way in ["--grace-period", "AWS_INIT_GRACE_PERIOD"] {
            let mut command = launch.command(NOWHERE);
            if way.starts_with("--") {
                command.args([way, "300ms"]);
            } else {
                command.env(way, "300ms");
            }
            command.args(shell(IGNORE_TERM, &[]));
            let running = Running::start(launch, &mut command);
            let ready = running.line();
            let group = ready
                .strip_prefix("ready ")
                .unwrap_or_else(|| panic!("{launch:?} {way}: {ready:?}"));
            running.signal(Signal::SIGTERM);
            let (outcome, lines) = running.finish();
            assert_eq!(outcome.code(), 137, "{launch:?} {way}: {outcome:?}");
            assert_eq!(lines, Vec::<String>::new(), "{launch:?} {way}");
            assert_eq!(
                outcome.stderr,
                format!(
                    "aws-init: warning: grace period over; sending SIGKILL to process group {group}\n"
                ),
                "{launch:?} {way}"
            );
        }
    }
}

/// Ignores SIGTERM and exits 7 on SIGUSR1. A background member of its
/// group, started before the ignoring, reports the SIGTERM, which shows
/// the test when aws-init has forwarded it. The last `wait` names no job:
/// dash reports on stderr the death by signal of a job it was told to
/// wait for, and SIGUSR1 also kills the sleep.
const IGNORE_TERM_UNTIL_USR1: &str = r#"
(
    trap 'kill -KILL $! 2>/dev/null; echo "member got TERM"; exit 0' TERM
    sleep 1000 >/dev/null 2>&1 &
    echo "member ready"
    wait
) &
trap '' TERM
trap 'kill -KILL $! 2>/dev/null; echo "got USR1"; exit 7' USR1
sleep 1000 >/dev/null 2>&1 &
echo ready
wait
"#;

#[test]
fn keeps_waiting_after_sigterm_without_a_grace_period() {
    for launch in LAUNCHES {
        let running = Running::start(
            launch,
            launch
                .command(NOWHERE)
                .args(shell(IGNORE_TERM_UNTIL_USR1, &[])),
        );
        assert_eq!(
            running.lines_in_any_order(2),
            ["member ready", "ready"],
            "{launch:?}"
        );
        running.signal(Signal::SIGTERM);
        assert_eq!(running.line(), "member got TERM", "{launch:?}");
        running.signal(Signal::SIGUSR1);
        let (outcome, lines) = running.finish();
        assert_eq!(lines, ["got USR1"], "{launch:?}");
        assert_eq!(outcome.code(), 7, "{launch:?}: {outcome:?}");
        assert_eq!(outcome.stderr, "", "{launch:?}");
    }
}

// Failing to exec, fast and often (case 13).

/// Runs `aws-init /does/not/exist` `runs` times over a few threads, so
/// that an early SIGCHLD that the init misses shows up as a hang.
fn fail_to_exec_many_times(launch: Launch, runs: usize) {
    const THREADS: usize = 4;
    thread::scope(|scope| {
        for thread in 0..THREADS {
            scope.spawn(move || {
                for run_number in (thread..runs).step_by(THREADS) {
                    let outcome = run(launch.command(NOWHERE).arg("/does/not/exist"));
                    assert_eq!(
                        outcome.code(),
                        127,
                        "{launch:?} run {run_number}: {outcome:?}"
                    );
                    assert_eq!(
                        outcome.stderr, "aws-init: error: /does/not/exist: command not found\n",
                        "{launch:?} run {run_number}"
                    );
                }
            });
        }
    });
}

#[test]
fn every_one_of_many_failed_execs_exits_127() {
    fail_to_exec_many_times(Launch::Direct, 5_000);
}

#[test]
fn every_one_of_many_failed_execs_exits_127_as_pid_1() {
    fail_to_exec_many_times(Launch::Pid1, 300);
}

// Signals while resolving (case 14).

/// Starts aws-init with a reference the Silent listener never answers and
/// a command that would leave `marker` behind, in `dir` and allowed to dump
/// core, and returns once the resolving child has connected.
fn start_resolving(
    launch: Launch,
    silent: &Silent,
    dir: &TempDir,
    marker: &Path,
) -> (Running, std::net::TcpStream) {
    let mut command = launch.command(&silent.endpoint);
    command
        .env("X", "aws-secret:slow")
        .arg("touch")
        .arg(marker)
        .current_dir(dir.path());
    allow_core_dumps(&mut command);
    let running = Running::start(launch, &mut command);
    let connection = silent.wait_for_request();
    (running, connection)
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
            let (running, _connection) = start_resolving(launch, &silent, &dir, &marker);
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
        let (running, _connection) = start_resolving(launch, &silent, &dir, &marker);
        // Pending standard signals are taken lowest number first, so
        // aws-init deals with SIGUSR1 (10) before SIGTERM (15) however the
        // two arrive. Had it forwarded SIGUSR1, the child would have died
        // of that first, giving 138.
        running.signal(Signal::SIGUSR1);
        running.signal(Signal::SIGTERM);
        let (outcome, lines) = running.finish();
        assert_eq!(
            outcome.code(),
            death_code(Signal::SIGTERM),
            "{launch:?}: {outcome:?}"
        );
        assert_eq!(lines, Vec::<String>::new(), "{launch:?}");
        assert_eq!(outcome.stderr, "", "{launch:?}");
        assert!(!marker.exists(), "{launch:?}: the command ran");
    }
}

/// The control for the core check above: the command itself, exec'd from
/// the undumpable child, can dump core again, so an empty directory there
/// means no core was written rather than that none could be seen.
#[test]
fn the_command_itself_may_dump_core() {
    if !cores_land_in_the_working_directory() {
        eprintln!("skipped: core_pattern does not write into the working directory");
        return;
    }
    for launch in LAUNCHES {
        let dir = TempDir::new("core");
        let mut command = launch.command(NOWHERE);
        command
            .args(shell("kill -QUIT $$", &[]))
            .current_dir(dir.path());
        allow_core_dumps(&mut command);
        let outcome = run(&mut command);
        assert_eq!(outcome.code(), 131, "{launch:?}: {outcome:?}");
        assert_eq!(dir.entries().len(), 1, "{launch:?}: no core file");
    }
}

// An interactive shell (case 12).

/// Puts `command` on a new terminal, as its controlling terminal in a new
/// session, the way a container runtime does for `docker run -t`. Returns
/// the master side.
fn on_a_new_terminal(command: &mut Command) -> fs::File {
    let pty = openpty(None, None).unwrap();
    command
        .stdin(Stdio::from(pty.slave.try_clone().unwrap()))
        .stdout(Stdio::from(pty.slave.try_clone().unwrap()))
        .stderr(Stdio::from(pty.slave));
    // SAFETY: setsid and ioctl are async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            if libc::ioctl(libc::STDIN_FILENO, libc::TIOCSCTTY, 0) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    fs::File::from(pty.master)
}

/// Reads the terminal's output on a thread, so that waiting for it can be
/// bounded; it ends when the last holder of the slave side closes it.
fn read_terminal(mut master: fs::File) -> mpsc::Receiver<Vec<u8>> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(read @ 1..) = master.read(&mut buffer) {
            if sender.send(buffer[..read].to_vec()).is_err() {
                break;
            }
        }
    });
    receiver
}

#[test]
fn an_interactive_shell_on_a_terminal_runs_what_it_is_typed() {
    for launch in LAUNCHES {
        let (running, mut input, output) = {
            let mut command = launch.command(NOWHERE);
            command.args(["sh", "-i"]);
            let master = on_a_new_terminal(&mut command);
            let running = Running::spawn(launch, &mut command);
            // The command is dropped here, and with it the test's copies of
            // the slave side.
            (running, master.try_clone().unwrap(), read_terminal(master))
        };

        // The terminal echoes the typed line, which holds `$((6*7))`; only
        // a shell that reads and runs it prints `hello-42`.
        input.write_all(b"echo hello-$((6*7))\n").unwrap();
        let mut seen = String::new();
        while !seen.contains("hello-42") {
            let chunk = output.recv_timeout(GUARD).unwrap_or_else(|_| {
                panic!("{launch:?}: no hello-42 from the shell, which printed {seen:?}")
            });
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        input.write_all(b"exit 5\n").unwrap();

        let (outcome, _) = running.finish();
        assert_eq!(
            outcome.code(),
            5,
            "{launch:?}: {outcome:?}; terminal: {seen:?}"
        );
    }
}

// The health check.

#[test]
fn health_check_passes_against_a_working_sts() {
    let outcome = run(aws_init_at(&emulator().endpoint).arg("-h"));
    assert_eq!(outcome.code(), 0, "{outcome:?}");
    assert_eq!(outcome.stdout, "");
    assert_eq!(
        outcome.stderr,
        format!("aws-init: health check passed: arn:aws:sts::{ACCOUNT}:user/moto\n")
    );
}

#[test]
fn health_check_fails_when_sts_is_unreachable() {
    let outcome = run(aws_init_at(NOWHERE).arg("--health-check"));
    assert_eq!(outcome.code(), 1, "{outcome:?}");
    assert_eq!(outcome.stdout, "");
    assert_eq!(outcome.stderr.lines().count(), 1, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .starts_with("aws-init: error: health check failed: dispatch failure: "),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("Connection refused"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn health_check_fails_when_sts_does_not_answer() {
    let silent = Silent::new();
    let outcome = run(aws_init_at(&silent.endpoint).arg("-h"));
    assert_eq!(outcome.code(), 1, "{outcome:?}");
    assert_eq!(outcome.stdout, "");
    assert_eq!(
        outcome.stderr,
        "aws-init: error: health check failed: no answer from STS within 5 s\n"
    );
}
