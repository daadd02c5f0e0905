//! Pins how aws-init ends: the processes a command leaves behind get
//! SIGTERM and a grace period, SIGKILL reaches whatever is left under
//! aws-init and nothing else, and `--single-child` and `--rewrite` change
//! what is forwarded but not when the grace period starts.

mod common;

use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use common::launch::*;
use common::*;

/// Every way aws-init runs, including the one where the command's orphans
/// are not its own.
const EVERY_LAUNCH: [Launch; 3] = [Launch::Direct, Launch::Unregistered, Launch::Pid1];

// Processes left behind.

/// Starts a worker in the command's process group
/// which traps SIGTERM and then holds on until the test writes a line, and
/// exits 5 itself once the test writes the first line. fd 3 keeps the
/// test's pipe for the worker: a background job's stdin is /dev/null.
const SLOW_WORKER: &str = r#"
exec 3<&0
(
    trap 'kill -KILL $! 2>/dev/null; echo "worker got TERM"; read -r _ <&3; echo "worker done"; exit 0' TERM
    sleep 1000 >/dev/null 2>&1 &
    echo "worker ready"
    wait
) &
echo ready
read -r _
exit 5
"#;

#[test]
fn processes_the_command_leaves_get_sigterm_and_time_to_finish() {
    for launch in EVERY_LAUNCH {
        let mut running = Running::start(
            launch,
            launch.command(NOWHERE).args(shell(SLOW_WORKER, &[])),
        );
        assert_eq!(
            running.lines_in_any_order(2),
            ["ready", "worker ready"],
            "{launch:?}"
        );
        running.write("exit\n");
        assert_eq!(running.line(), "worker got TERM", "{launch:?}");
        running.write("go\n");
        let (outcome, lines) = running.finish();
        assert_eq!(lines, ["worker done"], "{launch:?}");
        assert_eq!(outcome.code(), 5, "{launch:?}: {outcome:?}");
        assert_eq!(outcome.stderr, launch.preamble(), "{launch:?}");
    }
}

/// A worker in the command's group that ignores SIGTERM, and a command
/// that names its group and exits 5 when the test writes a line.
const STUBBORN_WORKER: &str = r#"
sh -c 'trap "" TERM; echo "worker ready"; exec sleep 1000' &
echo "ready $$"
read -r _
exit 5
"#;

/// Starts STUBBORN_WORKER, lets the command exit and returns the outcome,
/// the command's process group, and how long aws-init took to end after
/// the command was told to exit.
fn leave_a_stubborn_worker(launch: Launch, command: &mut Command) -> (Outcome, String, Duration) {
    let mut running = Running::start(launch, command.args(shell(STUBBORN_WORKER, &[])));
    let lines = running.lines_in_any_order(2);
    assert_eq!(lines[1], "worker ready", "{launch:?}");
    let group = ready_pid(&lines[0]);
    let exit_asked = Instant::now();
    running.write("exit\n");
    let (outcome, rest) = running.finish();
    assert_eq!(rest, Vec::<String>::new(), "{launch:?}");
    (outcome, group, exit_asked.elapsed())
}

// Only a lower bound on the wait is pinned: the worker must get all of its
// time. How soon after it aws-init ends is the hang guard's business.

#[test]
fn processes_left_behind_get_sigkill_when_the_grace_period_ends() {
    for launch in EVERY_LAUNCH {
        let mut command = launch.command(NOWHERE);
        command.args(["--grace-period", "300ms"]);
        let (outcome, group, waited) = leave_a_stubborn_worker(launch, &mut command);
        assert_eq!(outcome.code(), 5, "{launch:?}: {outcome:?}");
        assert_eq!(
            outcome.stderr,
            format!("{}{}", launch.preamble(), grace_over(&group)),
            "{launch:?}"
        );
        assert!(
            waited >= Duration::from_millis(300),
            "{launch:?}: {waited:?}"
        );
    }
}

/// Without `--grace-period`, what the command leaves gets 10 s: nothing
/// else would ever end it. Each run takes those 10 s, so the two run side
/// by side.
#[test]
fn processes_left_behind_get_ten_seconds_without_a_grace_period() {
    thread::scope(|scope| {
        for launch in LAUNCHES {
            scope.spawn(move || {
                let (outcome, group, waited) =
                    leave_a_stubborn_worker(launch, &mut launch.command(NOWHERE));
                assert_eq!(outcome.code(), 5, "{launch:?}: {outcome:?}");
                assert_eq!(outcome.stderr, grace_over(&group), "{launch:?}");
                assert!(waited >= Duration::from_secs(10), "{launch:?}: {waited:?}");
            });
        }
    });
}

/// A command that ignores SIGTERM, with a daemon that left its process
/// group and session and ignores SIGTERM too. Both say their pids.
const DAEMON_OUTSIDE_THE_GROUP: &str = r#"
setsid sh -c 'trap "" TERM; echo "daemon $$"; exec sleep 1000' &
trap '' TERM
echo "ready $$"
exec sleep 1000
"#;

#[test]
fn sigkill_after_the_grace_period_reaches_adopted_processes_outside_the_group() {
    for launch in LAUNCHES {
        // A process that is not aws-init's: it must outlive the run.
        let mut bystander = Command::new("sleep")
            .arg("1000")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let mut command = launch.command(NOWHERE);
        command
            .args(["--grace-period", "300ms"])
            .args(shell(DAEMON_OUTSIDE_THE_GROUP, &[]));
        let running = Running::start(launch, &mut command);
        let lines = running.lines_in_any_order(2);
        let (Some(daemon), Some(group)) = (
            lines[0].strip_prefix("daemon "),
            lines[1].strip_prefix("ready "),
        ) else {
            panic!("{launch:?}: {lines:?}");
        };
        let (daemon, group) = (daemon.to_owned(), group.to_owned());
        running.signal(Signal::SIGTERM);
        let (outcome, rest) = running.finish();

        let bystander_alive = kill(Pid::from_raw(bystander.id() as i32), None).is_ok();
        let _ = bystander.kill();
        let _ = bystander.wait();
        assert!(bystander_alive, "{launch:?}");
        assert_eq!(outcome.code(), 137, "{launch:?}: {outcome:?}");
        assert_eq!(rest, Vec::<String>::new(), "{launch:?}");
        assert_eq!(
            outcome.stderr,
            format!(
                "aws-init: warning: grace period over; sending SIGKILL to process group {group} \
                 and 1 other process(es) below aws-init\n"
            ),
            "{launch:?}"
        );
        // A direct run's daemon has the test's pid namespace: it is gone,
        // reaped by aws-init before it exited.
        if launch == Launch::Direct {
            assert!(
                !std::path::Path::new(&format!("/proc/{daemon}")).exists(),
                "daemon {daemon} outlived aws-init"
            );
        }
    }
}

// What is forwarded.

/// A member of the command's group that reports SIGUSR1 and SIGUSR2, and a
/// command that, on SIGUSR1, sends the member SIGUSR2 and exits 3 once the
/// member has. A member that got the SIGUSR1 too would say so first.
const MEMBER_REPORTS: &str = r#"
(
    trap 'kill -KILL $! 2>/dev/null; echo "member got USR1"; exit 0' USR1
    trap 'kill -KILL $! 2>/dev/null; echo "member got USR2"; exit 0' USR2
    sleep 1000 >/dev/null 2>&1 &
    echo "member ready"
    wait
) &
member=$!
trap 'kill -USR2 "$member"; wait "$member"; echo "got USR1"; exit 3' USR1
echo ready
wait
"#;

#[test]
fn single_child_forwards_to_the_command_alone() {
    for launch in LAUNCHES {
        for way in ["--single-child", "AWS_INIT_SINGLE_CHILD"] {
            let mut command = launch.command(NOWHERE);
            if way.starts_with("--") {
                command.arg(way);
            } else {
                command.env(way, "1");
            }
            let running = Running::start(launch, command.args(shell(MEMBER_REPORTS, &[])));
            assert_eq!(
                running.lines_in_any_order(2),
                ["member ready", "ready"],
                "{launch:?} {way}"
            );
            running.signal(Signal::SIGUSR1);
            let (outcome, lines) = running.finish();
            assert_eq!(lines, ["member got USR2", "got USR1"], "{launch:?} {way}");
            assert_eq!(outcome.code(), 3, "{launch:?} {way}: {outcome:?}");
            assert_eq!(outcome.stderr, "", "{launch:?} {way}");
        }
    }
}

/// Reports SIGHUP and goes on; exits 9 on SIGUSR1.
const HUP_THEN_USR1: &str = r#"
trap 'echo "got HUP"' HUP
trap 'kill -KILL $! 2>/dev/null; echo "got USR1"; exit 9' USR1
sleep 1000 >/dev/null 2>&1 &
echo ready
while :; do wait; done
"#;

#[test]
fn rewrite_forwards_one_signal_as_another() {
    for launch in LAUNCHES {
        for (flag, variable) in [
            (Some("TERM:USR1"), None),
            (Some("sigterm:10"), None),
            (None, Some("15:SIGUSR1")),
        ] {
            let mut command = launch.command(NOWHERE);
            if let Some(flag) = flag {
                command.args(["--rewrite", flag]);
            }
            if let Some(variable) = variable {
                command.env("AWS_INIT_REWRITE", variable);
            }
            let running = Running::start(launch, command.args(shell(HUP_THEN_USR1, &[])));
            assert_eq!(running.line(), "ready", "{launch:?} {flag:?} {variable:?}");
            running.signal(Signal::SIGTERM);
            let (outcome, lines) = running.finish();
            assert_eq!(lines, ["got USR1"], "{launch:?} {flag:?} {variable:?}");
            assert_eq!(outcome.code(), 9, "{launch:?}: {outcome:?}");
            assert_eq!(outcome.stderr, "", "{launch:?}");
        }
    }
}

/// SIGHUP (1) goes first whenever both are pending, so a forwarded SIGHUP
/// would always be reported before the command exits.
#[test]
fn rewrite_to_zero_drops_the_signal() {
    for launch in LAUNCHES {
        let mut command = launch.command(NOWHERE);
        command
            .args(["--rewrite", "HUP:0"])
            .args(shell(HUP_THEN_USR1, &[]));
        let running = Running::start(launch, &mut command);
        assert_eq!(running.line(), "ready", "{launch:?}");
        running.signal(Signal::SIGHUP);
        running.signal(Signal::SIGUSR1);
        let (outcome, lines) = running.finish();
        assert_eq!(lines, ["got USR1"], "{launch:?}");
        assert_eq!(outcome.code(), 9, "{launch:?}: {outcome:?}");
        assert_eq!(outcome.stderr, "", "{launch:?}");
    }
}

/// Reports each SIGUSR1 and goes on; its sleep inherits SIGUSR1 ignored.
const KEEPS_RUNNING_ON_USR1: &str = r#"
trap 'echo "got USR1"' USR1
(trap '' USR1; exec sleep 1000 >/dev/null 2>&1) &
echo "ready $$"
while :; do wait; done
"#;

/// The grace period starts on the SIGTERM that aws-init received, even
/// though the command was sent SIGUSR1 instead.
#[test]
fn the_grace_period_keys_on_the_signal_received_not_the_one_sent() {
    for launch in LAUNCHES {
        let mut command = launch.command(NOWHERE);
        command
            .args(["--rewrite", "TERM:USR1", "--grace-period", "300ms"])
            .args(shell(KEEPS_RUNNING_ON_USR1, &[]));
        let running = Running::start(launch, &mut command);
        let group = ready_pid(&running.line());
        running.signal(Signal::SIGTERM);
        assert_eq!(running.line(), "got USR1", "{launch:?}");
        let (outcome, lines) = running.finish();
        assert_eq!(lines, Vec::<String>::new(), "{launch:?}");
        assert_eq!(outcome.code(), 137, "{launch:?}: {outcome:?}");
        assert_eq!(outcome.stderr, grace_over(&group), "{launch:?}");
    }
}

#[test]
fn a_rewrite_of_a_signal_that_cannot_be_forwarded_is_a_usage_error() {
    for rewrite in ["KILL:TERM", "CHLD:0", "TERM", "TERM:BOGUS"] {
        let outcome = run(aws_init_at(NOWHERE).args(["--rewrite", rewrite, "true"]));
        assert_eq!(outcome.code(), 2, "{rewrite}: {outcome:?}");
        assert!(
            outcome
                .stderr
                .starts_with(&format!("aws-init: error: invalid --rewrite `{rewrite}`: ")),
            "{rewrite}: {outcome:?}"
        );
    }
}

/// A daemon that left the command's group and session and reports
/// SIGTERM, and a command that exits 9 on SIGTERM.
const DAEMON_REPORTS_TERM: &str = r#"
setsid sh -c 'trap "echo daemon got TERM; exit 0" TERM; echo "daemon ready"; while :; do sleep 0.1; done' &
trap 'kill -KILL $! 2>/dev/null; exit 9' TERM
sleep 1000 >/dev/null 2>&1 &
echo ready
wait
"#;

/// A SIGTERM forwarded to the command's group never reached the daemon
/// outside it, so the daemon gets one of its own once the command exits.
#[test]
fn an_adopted_daemon_outside_the_group_gets_sigterm_when_the_command_exits() {
    for launch in LAUNCHES {
        let running = Running::start(
            launch,
            launch
                .command(NOWHERE)
                .args(["--log-level", "debug"])
                .args(shell(DAEMON_REPORTS_TERM, &[])),
        );
        assert_eq!(
            running.lines_in_any_order(2),
            ["daemon ready", "ready"],
            "{launch:?}"
        );
        running.signal(Signal::SIGTERM);
        let (outcome, lines) = running.finish();
        assert_eq!(lines, ["daemon got TERM"], "{launch:?}");
        assert_eq!(outcome.code(), 9, "{launch:?}: {outcome:?}");
        // One SIGTERM each: the group had its own, so only the daemon is
        // sent one when the command exits.
        let sent = sigterm_lines(&outcome.stderr);
        assert_eq!(
            sent,
            ["aws-init: debug: sending SIGTERM to 1 other process(es) below aws-init"],
            "{launch:?}: {}",
            outcome.stderr
        );
    }
}

/// A daemon that left the command's group and session, and a child of the
/// daemon, in the daemon's group, that reports SIGTERM.
const DAEMON_CHILD_REPORTS_TERM: &str = r#"
setsid sh -c 'sh -c "trap \"echo daemon child got TERM; exit 0\" TERM; echo daemon child ready; while :; do sleep 0.1; done"' &
trap 'exit 9' TERM
echo ready
while :; do sleep 0.1; done
"#;

/// The daemon's own SIGTERM goes to the group it leads, so the processes
/// it started get one too rather than waiting for the SIGKILL.
#[test]
fn an_adopted_daemon_and_its_children_get_sigterm_when_the_command_exits() {
    for launch in LAUNCHES {
        let running = Running::start(
            launch,
            launch
                .command(NOWHERE)
                .args(["--log-level", "debug"])
                .args(shell(DAEMON_CHILD_REPORTS_TERM, &[])),
        );
        assert_eq!(
            running.lines_in_any_order(2),
            ["daemon child ready", "ready"],
            "{launch:?}"
        );
        running.signal(Signal::SIGTERM);
        let (outcome, lines) = running.finish();
        assert_eq!(lines, ["daemon child got TERM"], "{launch:?}");
        assert_eq!(outcome.code(), 9, "{launch:?}: {outcome:?}");
        assert_eq!(
            sigterm_lines(&outcome.stderr),
            ["aws-init: debug: sending SIGTERM to 1 other process(es) below aws-init"],
            "{launch:?}: {}",
            outcome.stderr
        );
        assert!(
            !outcome.stderr.contains("SIGKILL"),
            "{launch:?}: {}",
            outcome.stderr
        );
    }
}

/// The lines in which aws-init says whom it sends SIGTERM once the command
/// has exited.
fn sigterm_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| line.contains("sending SIGTERM"))
        .collect()
}

/// An adopted orphan still in the command's group gets the group's SIGTERM
/// and no second one of its own: many programs take a second SIGTERM as
/// "stop now".
#[test]
fn an_adopted_orphan_in_the_group_gets_one_sigterm() {
    for launch in LAUNCHES {
        let mut running = Running::start(
            launch,
            launch
                .command(NOWHERE)
                .args(["--log-level", "debug"])
                .args(shell(SLOW_WORKER, &[])),
        );
        assert_eq!(
            running.lines_in_any_order(2),
            ["ready", "worker ready"],
            "{launch:?}"
        );
        running.write("exit\n");
        assert_eq!(running.line(), "worker got TERM", "{launch:?}");
        running.write("go\n");
        let (outcome, lines) = running.finish();
        assert_eq!(lines, ["worker done"], "{launch:?}");
        assert_eq!(outcome.code(), 5, "{launch:?}: {outcome:?}");
        let sent = sigterm_lines(&outcome.stderr);
        assert_eq!(
            sent,
            [
                "aws-init: debug: sending SIGTERM to the process group and 0 other process(es) \
                 below aws-init"
            ],
            "{launch:?}: {}",
            outcome.stderr
        );
    }
}
