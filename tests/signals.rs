//! Pins how aws-init handles signals once the command runs: forwarding to
//! the command's process group and the signal state the command inherits,
//! run directly and as PID 1.

mod common;

use std::process::Command;

use nix::sys::signal::Signal;
use nix::unistd::getpgrp;

use common::launch::*;
use common::temp::TempDir;
use common::*;

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

/// aws-init blocks even the fault signals, so that one sent with kill(2)
/// is forwarded like any other: unblocked, it would kill a direct run and,
/// at its default disposition, be dropped by the kernel for PID 1.
#[test]
fn forwards_fault_signals_sent_with_kill() {
    for launch in LAUNCHES {
        for (signal, name) in [(Signal::SIGSEGV, "SEGV"), (Signal::SIGBUS, "BUS")] {
            // The background sleep dies of the signal too, and may dump
            // core, which must not land in the source tree.
            let dir = TempDir::new("fault");
            let mut command = launch.command(NOWHERE);
            command
                .args(shell(TRAP, &[name, "9"]))
                .current_dir(dir.path());
            let running = Running::start(launch, &mut command);
            assert_eq!(running.line(), "ready", "{launch:?} {name}");
            running.signal(signal);
            let (outcome, lines) = running.finish();
            assert_eq!(lines, [format!("got {name}")], "{launch:?} {name}");
            assert_eq!(outcome.code(), 9, "{launch:?} {name}: {outcome:?}");
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
