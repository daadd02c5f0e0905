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
/// made by events.
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
for i in $(seq "$1"); do (sleep 0.1 &); done
scan
while [ "$live" -gt 0 ]; do scan; done
trap 'synced=yes' WINCH
kill -WINCH 1
until [ "$synced" ]; do :; done
scan
echo "parent: $PPID"
echo "zombies: $zombies"
"#;

/// Runs ORPHANS with `count` orphans under aws-init as PID 1.
fn assert_reaps_orphans_as_pid_1(count: usize) {
    let outcome = run(aws_init_as_pid1_at(NOWHERE).args(shell(ORPHANS, &[&count.to_string()])));
    assert_eq!(
        outcome.stdout, "parent: 1\nzombies: 0\n",
        "{count}: {outcome:?}"
    );
    assert_eq!(outcome.code(), 0, "{count}: {outcome:?}");
    assert_eq!(outcome.stderr, "", "{count}");
}

#[test]
fn reaps_every_orphan_when_it_is_pid_1() {
    assert_reaps_orphans_as_pid_1(100);
}

#[test]
fn reaps_every_one_of_hundreds_of_orphans_when_it_is_pid_1() {
    assert_reaps_orphans_as_pid_1(500);
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
    let script = format!(
        "set -m\n\
         {BIN} sh -c '{FOREGROUND}'\n\
         {BIN} sh -c '{FOREGROUND}' &\n\
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
    let script = format!("{BIN} true; read -r x; echo \"got[$x]\"");
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
