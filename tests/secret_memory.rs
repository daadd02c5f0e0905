//! The secrecy suite for memory. PID 1 never holds a canary, at any moment
//! of a run. The processes that do hold values, the resolving child and
//! `--check`, are not dumpable and keep them in locked pages, with one
//! warning when the limits forbid locking. The command gets back the
//! dumpable state and the rlimits aws-init was started with.

mod common;

use std::fs::{self, File};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Command;
use std::time::Instant;

use common::canary::*;
use common::launch::{LAUNCHES, Launch, Running, shell};
use common::*;
use nix::sys::signal::Signal;

/// Reads every readable mapping of process `pid` from /proc, as root may.
/// A mapping that cannot be read ([vvar], a region unmapped meanwhile) is
/// skipped.
fn memory_of(pid: i32) -> Vec<(String, Vec<u8>)> {
    let maps = fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mem = File::open(format!("/proc/{pid}/mem"))
        .unwrap_or_else(|error| panic!("cannot open the memory of process {pid}: {error}"));
    let mut regions = Vec::new();
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        if !perms.starts_with('r') || line.ends_with("[vsyscall]") {
            continue;
        }
        let (start, end) = range.split_once('-').unwrap();
        let start = u64::from_str_radix(start, 16).unwrap();
        let end = u64::from_str_radix(end, 16).unwrap();
        let mut bytes = vec![0u8; (end - start) as usize];
        if mem.read_exact_at(&mut bytes, start).is_ok() {
            regions.push((line.to_owned(), bytes));
        }
    }
    assert!(!regions.is_empty(), "nothing readable in process {pid}");
    regions
}

/// Fails the test if the memory of process `pid` holds a piece of a
/// canary; `when` says at which point of the run.
fn assert_memory_clean(pid: i32, when: &str) {
    let pieces = Pieces::now();
    for (region, bytes) in memory_of(pid) {
        pieces.assert_absent(&format!("the init's memory {when}, in {region}"), &bytes);
    }
}

/// The command for [`the_init_never_holds_a_canary_in_memory`], run with
/// the file of expected values as `$0`: it checks its values and says
/// `match`; reports a SIGUSR1, which ends the `wait` for its sleep; then,
/// on a line of input, leaves a worker that ignores SIGTERM and exits 3, so
/// that aws-init waits for the worker. The worker reads the command's
/// stdin through fd 3, since sh gives a background job /dev/null as its
/// stdin.
const THREE_MOMENTS: &str = r#"
trap 'echo "got USR1"' USR1
sleep 1000 >/dev/null 2>&1 &
echo match
wait
read line
trap '' TERM
exec 3<&0
(echo worker; read line) <&3 &
exit 3
"#;

#[test]
fn the_init_never_holds_a_canary_in_memory() {
    for launch in LAUNCHES {
        let planted = Planted::new();
        let scratch = expected_dir();
        let expected = planted.write_expected(&scratch);
        let mut command = launch.command(&emulator().endpoint);
        planted.apply(&mut command);
        let script = format!(
            "{} || exit 1\n{THREE_MOMENTS}",
            planted.comparison("\"$0\"")
        );
        command
            .args(["--log-level", "debug", "--grace-period", "60s"])
            .args(["sh", "-c", &script])
            .arg(&expected);
        let mut running = Running::start(launch, &mut command);

        // The command has its values and runs. The init may not have read
        // the resolving child's status yet: it wakes for a signal or a
        // timer, not for an exec.
        assert_eq!(running.line(), "match", "{launch:?}");
        let pid = running.aws_init_pid().as_raw();
        assert_memory_clean(pid, "while the command runs");
        // The same scan finds the values where they belong: in the
        // command's environment. Without this the check could not fail.
        let command_pid = children_of(pid as u32)[0] as i32;
        let pieces = Pieces::now();
        assert!(
            memory_of(command_pid)
                .iter()
                .any(|(_, bytes)| pieces.find(bytes).is_some()),
            "the scan found no canary even in the command"
        );

        // The init holds a signal until it has read that the exec is done,
        // so once the command has had this one, the init has taken in the
        // end of resolution.
        running.signal(Signal::SIGUSR1);
        assert_eq!(running.line(), "got USR1", "{launch:?}");
        assert_memory_clean(pid, "once resolution has finished");

        running.write("go on\n");
        assert_eq!(running.line(), "worker", "{launch:?}");
        // The worker holds stdout open, so the command's exit shows only
        // in aws-init's own state: it has reaped the command and still
        // runs, with the worker as its only child.
        wait_until_only_child_is_worker(pid);
        assert_memory_clean(pid, "after the command exited");

        running.write("done\n");
        let (outcome, rest) = running.finish();
        assert_eq!(outcome.code(), 3, "{launch:?}: {}", outcome.stderr);
        assert_eq!(rest, Vec::<String>::new());
        Pieces::now().assert_absent("stderr", outcome.stderr.as_bytes());
    }
}

/// Waits until the only child of `pid` is the worker `sh` left: the
/// command has exited and been reaped, and so has its sleep.
fn wait_until_only_child_is_worker(pid: i32) {
    let deadline = Instant::now() + GUARD;
    loop {
        let children = children_of(pid as u32);
        if let [only] = children[..] {
            let stat = fs::read_to_string(format!("/proc/{only}/stat")).unwrap_or_default();
            // The worker is a subshell, so `sh` too, but not the group
            // leader the command was.
            let fields: Vec<&str> = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            if fields
                .get(2)
                .is_some_and(|leader| *leader != only.to_string())
            {
                return;
            }
        }
        assert!(Instant::now() < deadline, "the command never exited");
        std::thread::yield_now();
    }
}

/// The uid that owns /proc/PID/environ, which the kernel sets to root
/// while the process is not dumpable.
fn proc_owner(pid: u32) -> u32 {
    fs::metadata(format!("/proc/{pid}/environ")).unwrap().uid()
}

/// Runs `command` as the unprivileged user 65534.
fn as_nobody(command: &mut Command) -> &mut Command {
    // SAFETY: setgroups, setgid and setuid are async-signal-safe and touch
    // only the child.
    unsafe {
        command.pre_exec(|| {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(65534) != 0
                || libc::setuid(65534) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// VmLck of process `pid`, in KiB; 0 once it is gone.
fn locked_kib(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmLck:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Waits until process `pid` has locked memory: the values Secrets
/// Manager sent it are in the arena.
fn wait_until_locked(pid: u32) {
    let deadline = Instant::now() + GUARD;
    while locked_kib(pid) == 0 {
        assert!(Instant::now() < deadline, "nothing locked");
        std::thread::yield_now();
    }
}

#[test]
fn the_resolving_child_is_locked_and_not_dumpable_but_the_command_is() {
    let planted = Planted::new();
    let silent = Silent::new();
    let mut command = Launch::Direct.command(&emulator().endpoint);
    planted.apply(&mut command);
    command
        .env("AWS_ENDPOINT_URL_SSM", &silent.endpoint)
        .arg("true");
    as_nobody(&mut command);
    let running = Running::start(Launch::Direct, &mut command);
    let _held = silent.wait_for_request();
    let init = running.aws_init_pid().as_raw() as u32;
    let children = children_of(init);
    assert_eq!(children.len(), 1, "{children:?}");
    let child = children[0];
    assert_eq!(proc_owner(init), 65534, "the init itself stays dumpable");
    assert_eq!(proc_owner(child), 0, "the resolving child is dumpable");
    // Secrets Manager has answered, or will: its values are then kept in
    // locked pages, while the init still waits.
    wait_until_locked(child);
    assert_memory_clean(init as i32, "while resolving");
    running.signal(Signal::SIGTERM);
    let (outcome, _) = running.finish();
    assert_eq!(outcome.code(), 143, "{}", outcome.stderr);

    let mut command = emulator().aws_init();
    planted.apply(&mut command);
    command.args(shell("echo $$; read line", &[]));
    as_nobody(&mut command);
    let mut running = Running::start(Launch::Direct, &mut command);
    let pid: u32 = running.line().parse().unwrap();
    assert_eq!(proc_owner(pid), 65534, "the command is not dumpable");
    running.write("done\n");
    let (outcome, _) = running.finish();
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
}

#[test]
fn check_is_locked_and_not_dumpable_while_it_holds_values() {
    let planted = Planted::new();
    let silent = Silent::new();
    let mut command = emulator().aws_init();
    planted.apply(&mut command);
    command
        .env("AWS_ENDPOINT_URL_SSM", &silent.endpoint)
        .arg("--check");
    as_nobody(&mut command);
    let running = Running::start(Launch::Direct, &mut command);
    let _held = silent.wait_for_request();
    let pid = running.started_pid();
    assert_eq!(proc_owner(pid), 0, "--check is dumpable");
    wait_until_locked(pid);
    running.signal(Signal::SIGTERM);
    let (outcome, lines) = running.finish();
    assert_eq!(outcome.status.signal(), Some(libc::SIGTERM), "{outcome:?}");
    assert_eq!(lines, Vec::<String>::new());
}

/// The capability that lets a process lock memory beyond RLIMIT_MEMLOCK
/// (linux/capability.h).
const CAP_IPC_LOCK: libc::c_ulong = 14;

/// Runs `command` without CAP_IPC_LOCK and with RLIMIT_MEMLOCK at `limit`
/// bytes. Root may lock any amount, so CAP_IPC_LOCK leaves the bounding
/// set, which keeps it out of aws-init's capabilities.
fn without_ipc_lock(command: &mut Command, limit: libc::rlim_t) {
    // SAFETY: prctl and setrlimit are async-signal-safe and touch only the
    // child.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::prctl(libc::PR_CAPBSET_DROP, CAP_IPC_LOCK, 0, 0, 0) != 0
                || libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[test]
fn one_warning_when_secrets_cannot_be_locked() {
    // Four values of 8 KiB, with their copies and their environment
    // entries, fill several 16 KiB chunks of the arena, and each chunk
    // tries to lock itself: the warning must still come once.
    let planted = Planted::new().with_large_secrets(4, 8 * 1024);
    let cases = [
        // Nothing may be locked.
        (0, "Operation not permitted (os error 1)"),
        // The first chunk fits the limit; the next ones do not.
        (16 * 1024, "Cannot allocate memory (os error 12)"),
    ];
    for (limit, error) in cases {
        let scratch = expected_dir();
        let mut command = emulator().aws_init();
        planted.apply(&mut command);
        command.args(planted.checker(&scratch));
        without_ipc_lock(&mut command, limit);
        let outcome = run(&mut command);
        assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
        assert_eq!(outcome.stdout, "match\n");
        let lines: Vec<&str> = outcome.stderr.lines().collect();
        assert_eq!(lines.len(), 2, "{}", outcome.stderr);
        assert_eq!(
            lines[0],
            format!(
                "aws-init: warning: cannot lock secrets in memory (mlock: {error}; RLIMIT_MEMLOCK \
                 is {} KiB), so they could be swapped to disk; raise the limit (ulimit -l) or \
                 grant CAP_IPC_LOCK",
                limit / 1024
            )
        );
        let resolved = format!("aws-init: resolved {} variable(s) in ", planted.resolved());
        assert!(lines[1].starts_with(&resolved), "{}", outcome.stderr);
    }
}

/// The limits [`the_command_gets_the_rlimits_aws_init_was_given`] starts
/// aws-init with: (resource, soft, hard), none of them a usual default.
const LIMITS: [(libc::__rlimit_resource_t, libc::rlim_t, libc::rlim_t); 3] = [
    (libc::RLIMIT_CORE, 1 << 20, libc::RLIM_INFINITY),
    (libc::RLIMIT_MEMLOCK, 96 << 10, 192 << 10),
    (libc::RLIMIT_NOFILE, 777, 4096),
];

/// Starts `command` with [`LIMITS`].
fn with_limits(command: &mut Command) -> &mut Command {
    // SAFETY: setrlimit is async-signal-safe and touches only the child.
    unsafe {
        command.pre_exec(|| {
            for (resource, soft, hard) in LIMITS {
                let limit = libc::rlimit {
                    rlim_cur: soft,
                    rlim_max: hard,
                };
                if libc::setrlimit(resource, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        })
    }
}

/// The soft and hard values of the limit called `name` in the text of
/// /proc/PID/limits (proc(5)).
fn limit_of(limits: &str, name: &str) -> Vec<String> {
    let line = limits
        .lines()
        .find(|line| line.starts_with(name))
        .unwrap_or_else(|| panic!("no {name} in {limits}"));
    line[name.len()..]
        .split_whitespace()
        .take(2)
        .map(str::to_owned)
        .collect()
}

/// The command is exec'd from the resolving child, which holds secrets;
/// whatever that child does to protect them, the command must start with
/// the limits aws-init itself was given.
#[test]
fn the_command_gets_the_rlimits_aws_init_was_given() {
    let control = run(with_limits(Command::new("cat").arg("/proc/self/limits")));
    assert_eq!(control.code(), 0, "{}", control.stderr);
    assert_eq!(
        limit_of(&control.stdout, "Max core file size"),
        ["1048576", "unlimited"]
    );
    assert_eq!(
        limit_of(&control.stdout, "Max locked memory"),
        ["98304", "196608"]
    );
    assert_eq!(limit_of(&control.stdout, "Max open files"), ["777", "4096"]);

    let planted = Planted::new();
    for launch in LAUNCHES {
        let mut command = launch.command(&emulator().endpoint);
        // References make aws-init fork and resolve; without them, it
        // would start the command with posix_spawn.
        planted.apply(&mut command);
        with_limits(&mut command).args(["cat", "/proc/self/limits"]);
        let outcome = run(&mut command);
        assert_eq!(outcome.code(), 0, "{launch:?}: {}", outcome.stderr);
        let resolved = format!("aws-init: resolved {} variable(s) in ", planted.resolved());
        assert!(outcome.stderr.starts_with(&resolved), "{}", outcome.stderr);
        assert_eq!(outcome.stdout, control.stdout, "{launch:?}");
    }
}
