//! Pins aws-init's life as an init: reaping orphans (case 11), shutting
//! down within the grace period, and an interactive shell on a terminal
//! (case 12), run directly and as PID 1.

mod common;

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;

use nix::pty::openpty;
use nix::sys::signal::Signal;

use common::launch::*;
use common::*;

// Reaping.

/// Case 11 with $1 orphans, and the final `sleep 1` replaced by a check
/// made by events. It counts only the command's process group, which the
/// orphans stay in, since a direct run shares /proc with the whole host.
/// Once every orphan has died, the command sends SIGWINCH to aws-init and
/// waits for it to come back forwarded. The kernel hands out pending
/// standard signals lowest number first, so aws-init takes any SIGCHLD (17)
/// still pending before that SIGWINCH (28): by the time the command sees
/// it, an init that reaps has reaped every orphan, and one that does not
/// has left them all as zombies. An orphan seen with aws-init as its
/// parent shows that aws-init adopted it.
const ORPHANS: &str = r#"
adopted=no
scan() {
    live=0 zombies=0
    for stat in /proc/[0-9]*/stat; do
        { read -r _ comm state parent group _ < "$stat"; } 2>/dev/null || continue
        [ "$group" = "$$" ] || continue
        if [ "$state" = Z ]; then
            zombies=$((zombies + 1))
        elif [ "$comm" = "(sleep)" ]; then
            live=$((live + 1))
            [ "$parent" = "$PPID" ] && adopted=yes
        fi
    done
}
for i in $(seq "$1"); do (sleep 0.1 &); done
scan
while [ "$live" -gt 0 ]; do scan; done
trap 'synced=yes' WINCH
kill -WINCH "$PPID"
until [ "$synced" ]; do :; done
scan
echo "parent: $PPID"
echo "adopted: $adopted"
echo "zombies: $zombies"
"#;

/// Runs ORPHANS with `count` orphans under `command`, a launch of aws-init
/// that reaps them.
fn assert_reaps_orphans(launch: Launch, command: &mut Command, count: usize) {
    let running = Running::start(launch, command.args(shell(ORPHANS, &[&count.to_string()])));
    let parent = match launch {
        Launch::Pid1 => 1,
        _ => running.aws_init_pid().as_raw(),
    };
    let (outcome, lines) = running.finish();
    assert_eq!(
        lines,
        [
            format!("parent: {parent}"),
            "adopted: yes".to_owned(),
            "zombies: 0".to_owned()
        ],
        "{launch:?} {count}: {outcome:?}"
    );
    assert_eq!(outcome.code(), 0, "{launch:?} {count}: {outcome:?}");
    assert_eq!(outcome.stderr, "", "{launch:?} {count}");
}

#[test]
fn reaps_every_orphan_when_it_is_pid_1() {
    assert_reaps_orphans(Launch::Pid1, &mut Launch::Pid1.command(NOWHERE), 100);
}

#[test]
fn reaps_every_one_of_hundreds_of_orphans_when_it_is_pid_1() {
    assert_reaps_orphans(Launch::Pid1, &mut Launch::Pid1.command(NOWHERE), 500);
}

#[test]
fn reaps_every_one_of_hundreds_of_orphans_as_a_subreaper() {
    // aws_init_at passes --subreaper.
    assert_reaps_orphans(Launch::Direct, &mut Launch::Direct.command(NOWHERE), 500);
    let mut command = Launch::Unregistered.command(NOWHERE);
    command.env("AWS_INIT_SUBREAPER", "1");
    subreaper_for_a_refusing_runner(&mut command);
    assert_reaps_orphans(Launch::Unregistered, &mut command, 100);
}

/// Neither PID 1 nor a subreaper, aws-init says once that orphans are not
/// its to reap, however many there are, and still runs the command.
#[test]
fn warns_once_when_it_is_neither_pid_1_nor_a_subreaper() {
    let launch = Launch::Unregistered;
    let running = Running::start(
        launch,
        launch.command(NOWHERE).args(shell(
            "for i in 1 2 3; do (sleep 0.1 &); done; echo done",
            &[],
        )),
    );
    let (outcome, lines) = running.finish();
    assert_eq!(lines, ["done"]);
    assert_eq!(outcome.code(), 0, "{outcome:?}");
    assert_eq!(outcome.stderr, UNREGISTERED_WARNING);
}

// Shutdown.

/// Traps SIGTERM and, once it comes, holds on until the test writes a line,
/// so that aws-init can exit 9 only by waiting for the command.
const SLOW_STOP: &str = r#"
trap 'kill -KILL $! 2>/dev/null; echo stopping; read -r _; echo stopped; exit 9' TERM
sleep 1000 >/dev/null 2>&1 &
echo ready
wait
"#;

/// With or without a grace period, a command that finishes in time exits
/// with its own code.
#[test]
fn waits_for_the_command_after_forwarding_sigterm() {
    for launch in LAUNCHES {
        for grace in [None, Some("30s")] {
            let mut command = launch.command(NOWHERE);
            if let Some(grace) = grace {
                command.args(["--grace-period", grace]);
            }
            let mut running = Running::start(launch, command.args(shell(SLOW_STOP, &[])));
            assert_eq!(running.line(), "ready", "{launch:?} {grace:?}");
            running.signal(Signal::SIGTERM);
            assert_eq!(running.line(), "stopping", "{launch:?} {grace:?}");
            running.write("go\n");
            let (outcome, lines) = running.finish();
            assert_eq!(lines, ["stopped"], "{launch:?} {grace:?}");
            assert_eq!(outcome.code(), 9, "{launch:?} {grace:?}: {outcome:?}");
            assert_eq!(outcome.stderr, "", "{launch:?} {grace:?}");
        }
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
            let group = ready_pid(&running.line());
            running.signal(Signal::SIGTERM);
            let (outcome, lines) = running.finish();
            assert_eq!(outcome.code(), 137, "{launch:?} {way}: {outcome:?}");
            assert_eq!(lines, Vec::<String>::new(), "{launch:?} {way}");
            assert_eq!(outcome.stderr, grace_over(&group), "{launch:?} {way}");
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

/// The interactive shells the test types into: dash, and bash with no
/// start-up files of this machine's.
const INTERACTIVE_SHELLS: [&[&str]; 2] = [&["sh", "-i"], &["bash", "--norc", "--noprofile", "-i"]];

/// Lines typed into an interactive shell, each with what only a shell
/// that ran it prints: the terminal echoes what is typed, so no expected
/// text appears in the line itself.
const TYPED: [(&str, &str); 5] = [
    // A builtin.
    ("echo hello-$((6*7))\n", "hello-42"),
    // A foreground job reading the terminal, in a process group the shell
    // made for it: a shell without job control, or one whose group does
    // not hold the foreground, gets it stopped by SIGTTIN.
    ("head -n 1 | tr a-z A-Z\n", ""),
    ("job-input\n", "JOB-INPUT"),
    // A background job, named by its job number once it runs: until its
    // exec, a job forked by an interactive shell still ignores SIGTERM.
    ("sh -c 'echo job-$((1+1)); exec sleep 1000' &\n", "job-2"),
    ("kill %1; wait %1; echo job-$?\n", "job-143"),
];

#[test]
fn an_interactive_shell_on_a_terminal_runs_what_it_is_typed() {
    for launch in LAUNCHES {
        for shell in INTERACTIVE_SHELLS {
            let (running, mut input, output) = {
                let mut command = launch.command(NOWHERE);
                command.args(shell);
                let master = on_a_new_terminal(&mut command);
                let running = Running::spawn(launch, &mut command);
                // The command is dropped here, and with it the test's
                // copies of the slave side.
                (running, master.try_clone().unwrap(), read_terminal(master))
            };

            let mut seen = String::new();
            for (line, wanted) in TYPED {
                input.write_all(line.as_bytes()).unwrap();
                while !seen.contains(wanted) {
                    let chunk = output.recv_timeout(GUARD).unwrap_or_else(|_| {
                        panic!("{launch:?} {shell:?}: no {wanted:?}; terminal: {seen:?}")
                    });
                    seen.push_str(&String::from_utf8_lossy(&chunk));
                }
            }
            input.write_all(b"exit 5\n").unwrap();

            let (outcome, _) = running.finish();
            assert_eq!(
                outcome.code(),
                5,
                "{launch:?} {shell:?}: {outcome:?}; terminal: {seen:?}"
            );
            // What bash and dash say when they cannot take the terminal.
            assert!(
                !seen.contains("job control") && !seen.contains("terminal process group"),
                "{launch:?} {shell:?}: {seen:?}"
            );
        }
    }
}

/// Reads the terminal until `wanted` shows up, failing the test on a hang.
fn read_until(output: &mpsc::Receiver<Vec<u8>>, wanted: &str) -> String {
    let mut seen = String::new();
    while !seen.contains(wanted) {
        let chunk = output
            .recv_timeout(GUARD)
            .unwrap_or_else(|_| panic!("no {wanted:?} on the terminal, which showed {seen:?}"));
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen
}

/// Prints whether the command's group holds the terminal's foreground:
/// fields 5 and 8 of /proc/self/stat are its group and the terminal's
/// foreground group.
const FOREGROUND: &str = r#"
read -r _ _ _ _ group _ _ foreground _ < /proc/self/stat
if [ "$group" = "$foreground" ]; then echo "holds: yes"; else echo "holds: no"; fi
"#;

#[test]
fn takes_the_terminal_only_when_it_holds_the_foreground() {
    // A job-control shell runs aws-init once in the foreground and once in
    // the background, in a process group of its own each time.
    let aws_init = aws_init_shell_words();
    let script = format!(
        "set -m\n\
         {aws_init} sh -c '{FOREGROUND}'\n\
         {aws_init} sh -c '{FOREGROUND}' &\n\
         wait $!\n\
         echo finished"
    );
    let mut command = Command::new("sh");
    clean_env(&mut command, NOWHERE);
    command.args(["-c", &script]);
    let master = on_a_new_terminal(&mut command);
    let running = Running::spawn(Launch::Direct, &mut command);
    drop(command);

    let seen = read_until(&read_terminal(master), "finished");
    let answers: Vec<&str> = seen
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("holds: "))
        .collect();
    assert_eq!(answers, ["holds: yes", "holds: no"], "{seen:?}");
    let (outcome, _) = running.finish();
    assert_eq!(outcome.code(), 0, "{outcome:?}");
}

#[test]
fn gives_the_terminal_back_to_the_shell_that_started_it() {
    // A shell without job control runs aws-init in its own process group,
    // which holds the terminal. The command took it over; unless aws-init
    // hands it back, the shell's `read` fails or stops it.
    let aws_init = aws_init_shell_words();
    let script = format!("{aws_init} true; read -r x; echo \"got[$x]\"");
    let mut command = Command::new("sh");
    clean_env(&mut command, NOWHERE);
    command.args(["-c", &script]);
    let master = on_a_new_terminal(&mut command);
    let mut input = master.try_clone().unwrap();
    let running = Running::spawn(Launch::Direct, &mut command);
    drop(command);

    // The terminal keeps typed input until someone reads it.
    input.write_all(b"line\n").unwrap();
    let seen = read_until(&read_terminal(master), "]");
    assert!(seen.contains("got[line]"), "{seen:?}");
    let (outcome, _) = running.finish();
    assert_eq!(outcome.code(), 0, "{outcome:?}; terminal: {seen:?}");
}

#[test]
fn a_suspend_key_while_resolving_cannot_wedge_aws_init() {
    // Direct only: as PID 1, unshare shares aws-init's process group, and
    // ^Z would stop unshare itself.
    let silent = Silent::new();
    let mut command = Launch::Direct.command(&silent.endpoint);
    command
        .env("TOKEN", "aws-secret:x")
        .args(["--timeout", "1s", "true"]);
    let master = on_a_new_terminal(&mut command);
    let mut input = master.try_clone().unwrap();
    let running = Running::spawn(Launch::Direct, &mut command);
    drop(command);
    let output = read_terminal(master);

    // ^Z sends SIGTSTP to the terminal's foreground group, which is still
    // aws-init's own: the resolving child gets the foreground only just
    // before exec, and blocks every signal until then.
    let _connection = silent.wait_for_request();
    input.write_all(b"\x1a").unwrap();

    let seen = read_until(&output, "the command was not started\r\n").replace("\r\n", "\n");
    let expected = "aws-init: error: TOKEN: cannot resolve aws-secret:x: no answer within \
                    1000 ms (--timeout)\n\
                    aws-init: error: 1 reference(s) failed to resolve; the command was not \
                    started\n";
    assert!(seen.ends_with(expected), "{seen:?}");
    let (outcome, _) = running.finish();
    assert_eq!(outcome.code(), 125, "{outcome:?}; terminal: {seen:?}");
}

/// Reports which of SIGHUP and SIGCONT were already pending when it
/// started, then each one it gets, and exits 4 on SIGUSR1. It starts with
/// them blocked, as aws-init was started, so none can slip by unseen.
const TERMINAL_SIGNALS: &str = r#"
import signal, sys
pending = sorted(signal.Signals(s).name for s in signal.sigpending())
print("pending at start:", " ".join(pending) or "none", flush=True)
while True:
    got = signal.sigwait({signal.SIGHUP, signal.SIGCONT, signal.SIGUSR1})
    if got == signal.SIGUSR1:
        sys.exit(4)
    print("got", signal.Signals(got).name, flush=True)
"#;

/// Starts `command` with SIGHUP, SIGCONT and SIGUSR1 blocked; the command
/// aws-init runs inherits that mask.
fn with_terminal_signals_blocked(command: &mut Command) {
    // SAFETY: sigemptyset, sigaddset and sigprocmask are async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            let mut set = std::mem::zeroed::<libc::sigset_t>();
            libc::sigemptyset(&mut set);
            for signal in [libc::SIGHUP, libc::SIGCONT, libc::SIGUSR1] {
                libc::sigaddset(&mut set, signal);
            }
            if libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[test]
fn terminal_handling_raises_no_sighup_or_sigcont_and_later_ones_are_forwarded() {
    for launch in LAUNCHES {
        let (running, output) = {
            let mut command = launch.command(NOWHERE);
            command.args(["python3", "-c", TERMINAL_SIGNALS]);
            with_terminal_signals_blocked(&mut command);
            let master = on_a_new_terminal(&mut command);
            let running = Running::spawn(launch, &mut command);
            (running, read_terminal(master))
        };
        // The command's first line, after any warning of a runner's.
        let mut seen = read_until(&output, "pending at start: ");
        running.signal(Signal::SIGHUP);
        seen.push_str(&read_until(&output, "got SIGHUP\r\n"));
        running.signal(Signal::SIGCONT);
        seen.push_str(&read_until(&output, "got SIGCONT\r\n"));
        running.signal(Signal::SIGUSR1);
        let (outcome, _) = running.finish();
        assert_eq!(
            without_runner_warning(&seen.replace("\r\n", "\n")),
            "pending at start: none\ngot SIGHUP\ngot SIGCONT\n",
            "{launch:?}"
        );
        assert_eq!(outcome.code(), 4, "{launch:?}: {outcome:?}");
    }
}

// Memory.

/// One mapping of the aws-init executable in the init's /proc/PID/smaps.
#[derive(Debug)]
struct Mapping {
    permissions: String,
    rss_kb: u64,
    anonymous_kb: u64,
    random: bool,
}

fn executable_mappings(pid: u32) -> Vec<Mapping> {
    let executable = fs::canonicalize(bin()).unwrap();
    let smaps = fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap();
    let mut mappings = Vec::new();
    let mut ours = false;
    for line in smaps.lines() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        if fields.first().is_some_and(|range| range.contains('-')) && fields.len() >= 5 {
            ours = fields.get(5).map(std::path::Path::new) == Some(executable.as_path());
            if ours {
                mappings.push(Mapping {
                    permissions: fields[1].to_owned(),
                    rss_kb: 0,
                    anonymous_kb: 0,
                    random: false,
                });
            }
            continue;
        }
        let Some(mapping) = mappings.last_mut().filter(|_| ours) else {
            continue;
        };
        let kb = || fields.get(1).and_then(|kb| kb.parse().ok()).unwrap_or(0);
        match fields.first() {
            Some(&"Rss:") => mapping.rss_kb = kb(),
            Some(&"Anonymous:") => mapping.anonymous_kb = kb(),
            Some(&"VmFlags:") => mapping.random = fields.contains(&"rr"),
            _ => {}
        }
    }
    mappings
}

impl Mapping {
    /// Whether the init may drop this mapping's pages: read-only, and
    /// without private copies.
    fn droppable(&self) -> bool {
        !self.permissions.contains('w') && self.anonymous_kb == 0
    }
}

/// The resident size of the mappings the init may drop.
fn droppable_kb(mappings: &[Mapping]) -> u64 {
    mappings
        .iter()
        .filter(|mapping| mapping.droppable())
        .map(|mapping| mapping.rss_kb)
        .sum()
}

/// Once the command has run for a moment, the init advises its clean
/// read-only mappings MADV_RANDOM (smaps shows `rr`) and drops their pages;
/// it goes on forwarding and reaping as before.
#[test]
fn the_init_drops_its_clean_pages_and_keeps_working() {
    if skip_when_emulated(
        "the init's smaps are qemu-user's mappings of the guest, and qemu does not pass \
         madvise(2) advice on to the kernel",
    ) {
        return;
    }
    for launch in LAUNCHES {
        let running = Running::start(
            launch,
            launch
                .command(NOWHERE)
                .args(shell("echo ready; exec sleep 1000", &[])),
        );
        assert_eq!(running.line(), "ready", "{launch:?}");
        let pid = running.aws_init_pid().as_raw() as u32;
        let before = executable_mappings(pid);

        let deadline = std::time::Instant::now() + GUARD;
        let after = loop {
            let mappings = executable_mappings(pid);
            // The init advises one mapping after another.
            let droppable =
                |mapping: &Mapping| !mapping.permissions.contains('w') && mapping.anonymous_kb == 0;
            if mappings
                .iter()
                .all(|mapping| mapping.random || !droppable(mapping))
            {
                break mappings;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{launch:?}: {mappings:?}"
            );
            thread::yield_now();
        };
        for mapping in &after {
            assert_eq!(mapping.random, mapping.droppable(), "{launch:?}: {after:?}");
        }
        // Read before the drop unless this machine was slower than the
        // init's wait; then there is nothing to compare.
        if !before.iter().any(|mapping| mapping.random) {
            assert!(
                droppable_kb(&after) < droppable_kb(&before),
                "{launch:?}: before {before:?}, after {after:?}"
            );
        }

        running.signal(Signal::SIGTERM);
        let (outcome, lines) = running.finish();
        assert_eq!(lines, Vec::<String>::new(), "{launch:?}");
        assert_eq!(outcome.code(), 143, "{launch:?}: {outcome:?}");
        assert_eq!(outcome.stderr, "", "{launch:?}");
    }
}
