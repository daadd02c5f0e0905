//! The secrecy suite. Every secret and parameter it plants holds a random
//! canary. aws-init is driven down every path: success at each log level,
//! each kind of failure, the health check, a signal while resolving, and a
//! command that crashes. No canary, nor any 8-byte piece of one, may show
//! up in what aws-init prints, in a file it leaves behind, or in the memory
//! of the init process.

mod common;

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Mutex;

use common::launch::{LAUNCHES, Launch, Running, shell};
use common::mock::Mock;
use common::temp::TempDir;
use common::*;
use nix::sys::signal::Signal;

/// The shortest piece of a canary that must not show up anywhere.
const PIECE: usize = 8;

/// Every canary planted by this test process. Each check looks for all of
/// them, whichever test planted them.
static CANARIES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A fresh random canary of 24 letters and digits, registered in
/// [`CANARIES`]. Letters and digits make a chance match in memory or in a
/// log line all but impossible, and survive JSON and shell quoting.
fn canary() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 24];
    File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut bytes)
        .unwrap();
    let canary: String = bytes
        .iter()
        .map(|byte| ALPHABET[*byte as usize % ALPHABET.len()] as char)
        .collect();
    CANARIES.lock().unwrap().push(canary.clone());
    canary
}

/// Every piece of [`PIECE`] bytes of every canary, as the integers their
/// bytes make, with a bitmap of their first three bytes to skip most
/// positions of a large haystack cheaply.
struct Pieces {
    all: HashSet<u64>,
    starts: Vec<u64>,
}

impl Pieces {
    fn now() -> Pieces {
        let mut all = HashSet::new();
        let mut starts = vec![0u64; (1 << 24) / 64];
        for canary in CANARIES.lock().unwrap().iter() {
            for piece in canary.as_bytes().windows(PIECE) {
                all.insert(u64::from_le_bytes(piece.try_into().unwrap()));
                let start = prefix(piece);
                starts[start / 64] |= 1 << (start % 64);
            }
        }
        Pieces { all, starts }
    }

    /// Where in `haystack` a piece of a canary starts, if anywhere.
    fn find(&self, haystack: &[u8]) -> Option<usize> {
        if haystack.len() < PIECE {
            return None;
        }
        (0..=haystack.len() - PIECE).find(|&at| {
            let start = prefix(&haystack[at..]);
            self.starts[start / 64] & (1 << (start % 64)) != 0
                && self.all.contains(&u64::from_le_bytes(
                    haystack[at..at + PIECE].try_into().unwrap(),
                ))
        })
    }

    /// Fails the test if `haystack`, described by `what`, holds a piece of
    /// a canary.
    fn assert_absent(&self, what: &str, haystack: &[u8]) {
        if let Some(at) = self.find(haystack) {
            let shown = String::from_utf8_lossy(&haystack[at..(at + 40).min(haystack.len())]);
            panic!("{what} holds a piece of a canary at byte {at}: {shown:?}");
        }
    }
}

fn prefix(bytes: &[u8]) -> usize {
    usize::from(bytes[0]) | usize::from(bytes[1]) << 8 | usize::from(bytes[2]) << 16
}

/// The secrets and parameters of one test, each holding canaries, and the
/// variables that refer to them.
struct Planted {
    vars: Vec<(String, String)>,
    /// What the command must see, in the order of `vars`.
    values: Vec<String>,
}

impl Planted {
    fn new() -> Planted {
        let emulator = emulator();
        let (plain, password, nested, secure, string) =
            (canary(), canary(), canary(), canary(), canary());

        let plain_name = unique("secrecy-plain");
        emulator.put_secret(&plain_name, &plain);
        let json_name = unique("secrecy-json");
        emulator.put_secret(
            &json_name,
            &format!(r#"{{"password":"{password}","port":5432,"nested":{{"key":"{nested}"}}}}"#),
        );
        let secure_name = format!("/{}", unique("secrecy-secure"));
        emulator.put_parameter(&secure_name, &secure, "SecureString");
        let string_name = format!("/{}", unique("secrecy-string"));
        emulator.put_parameter(&string_name, &string, "String");

        let vars = vec![
            ("PLAIN".into(), format!("aws-secret:{plain_name}")),
            (
                "PASSWORD".into(),
                format!("aws-secret:{json_name}#password"),
            ),
            ("NESTED".into(), format!("aws-secret:{json_name}#nested")),
            (
                "POINTED".into(),
                format!("aws-secret:{json_name}#/nested/key"),
            ),
            ("SECURE".into(), format!("aws-ssm:{secure_name}")),
            ("STRING".into(), format!("aws-ssm:{string_name}")),
            (
                "THROUGH_SSM".into(),
                format!("aws-secret:/aws/reference/secretsmanager/{plain_name}"),
            ),
        ];
        let values = vec![
            plain.clone(),
            password,
            format!(r#"{{"key":"{nested}"}}"#),
            nested.clone(),
            secure,
            string,
            plain,
        ];
        Planted { vars, values }
    }

    /// Adds the planted variables to `command`.
    fn apply<'a>(&self, command: &'a mut Command) -> &'a mut Command {
        for (name, value) in &self.vars {
            command.env(name, value);
        }
        command
    }

    /// A command line that prints `match` when it sees every planted value,
    /// comparing them with a file that `scratch` holds, so that no value is
    /// ever printed or passed as an argument.
    fn checker(&self, scratch: &TempDir) -> Vec<String> {
        let expected = scratch.path().join("expected");
        let mut text = String::new();
        for value in &self.values {
            text.push_str(value);
            text.push('\n');
        }
        fs::write(&expected, text).unwrap();
        let names: Vec<String> = self
            .vars
            .iter()
            .map(|(name, _)| format!("\"${name}\""))
            .collect();
        let script = format!(
            "printf '%s\\n' {} | cmp -s - \"$1\" && echo match",
            names.join(" ")
        );
        vec![
            "sh".into(),
            "-c".into(),
            script,
            "sh".into(),
            expected.display().to_string(),
        ]
    }
}

/// A place for aws-init to run in: its working directory, HOME and TMPDIR,
/// which must be as empty afterwards as before.
struct Workspace {
    dir: TempDir,
}

impl Workspace {
    fn new() -> Workspace {
        Workspace {
            dir: TempDir::new("secrecy-workspace"),
        }
    }

    fn apply<'a>(&self, command: &'a mut Command) -> &'a mut Command {
        command
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env("TMPDIR", self.dir.path())
    }

    fn assert_untouched(&self) {
        assert_eq!(
            self.dir.entries(),
            Vec::<String>::new(),
            "aws-init wrote files"
        );
    }
}

/// Checks a finished run: nothing of a canary in its output, and no file
/// left in its workspace.
fn assert_clean(outcome: &Outcome, workspace: &Workspace) {
    let pieces = Pieces::now();
    pieces.assert_absent("stdout", outcome.stdout.as_bytes());
    pieces.assert_absent("stderr", outcome.stderr.as_bytes());
    workspace.assert_untouched();
}

/// Runs aws-init with the planted variables and `extra`, in a fresh
/// workspace, with `args` before the command `checker` builds.
fn run_planted(planted: &Planted, extra: &[(&str, &str)], args: &[&str]) -> Outcome {
    let workspace = Workspace::new();
    let scratch = TempDir::new("secrecy-expected");
    let mut command = emulator().aws_init();
    planted.apply(&mut command);
    envs(&mut command, extra);
    workspace.apply(&mut command);
    let outcome = run(command.args(args).args(planted.checker(&scratch)));
    assert_clean(&outcome, &workspace);
    outcome
}

#[test]
fn success_at_every_log_level_shows_no_canary() {
    let planted = Planted::new();
    for level in ["error", "warn", "info", "debug"] {
        let outcome = run_planted(&planted, &[], &["--log-level", level]);
        assert_eq!(outcome.code(), 0, "{level}: {}", outcome.stderr);
        assert_eq!(outcome.stdout, "match\n", "{level}: {}", outcome.stderr);
    }
}

#[test]
fn the_sdk_prints_nothing_even_when_the_environment_asks() {
    let planted = Planted::new();
    let asks = [
        ("LOG_SENSITIVE_BODIES", "true"),
        ("RUST_LOG", "trace"),
        ("AWS_LOG_LEVEL", "trace"),
        ("RUST_BACKTRACE", "full"),
    ];
    let outcome = run_planted(&planted, &asks, &["--log-level", "debug"]);
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    assert_eq!(outcome.stdout, "match\n");
    for line in outcome.stderr.lines() {
        assert!(line.starts_with("aws-init: "), "not aws-init's: {line:?}");
    }
}

#[test]
fn every_kind_of_failure_shows_no_canary() {
    let emulator = emulator();
    let planted = Planted::new();

    let deleted = unique("secrecy-deleted");
    emulator.put_secret(&deleted, &canary());
    emulator.delete_secret(&deleted);
    let object = unique("secrecy-object");
    emulator.put_secret(
        &object,
        &format!(r#"{{"present":"{}","null":null}}"#, canary()),
    );
    let text = unique("secrecy-text");
    emulator.put_secret(&text, &canary());
    let array = unique("secrecy-array");
    emulator.put_secret(&array, &format!(r#"["{}"]"#, canary()));
    let nul = unique("secrecy-nul");
    emulator.put_secret(&nul, &format!("{}\0{}", canary(), canary()));

    let failing = [
        (
            "MISSING_SECRET",
            format!("aws-secret:{}", unique("secrecy-absent")),
        ),
        (
            "MISSING_PARAMETER",
            format!("aws-ssm:/{}", unique("secrecy-absent")),
        ),
        ("DELETED", format!("aws-secret:{deleted}")),
        ("MISSING_KEY", format!("aws-secret:{object}#absent")),
        ("NULL_KEY", format!("aws-secret:{object}#null")),
        ("NOT_JSON", format!("aws-secret:{text}#key")),
        ("NOT_AN_OBJECT", format!("aws-secret:{array}#key")),
        ("NUL_BYTE", format!("aws-secret:{nul}")),
        (
            "MALFORMED",
            "aws-secret:arn:aws:secretsmanager:x".to_owned(),
        ),
        ("MISSPELT", format!("aws-secrets:{text}")),
    ];
    let failing: Vec<(&str, &str)> = failing
        .iter()
        .map(|(name, reference)| (*name, reference.as_str()))
        .collect();
    for level in ["error", "debug"] {
        let outcome = run_planted(&planted, &failing, &["--log-level", level]);
        assert_eq!(outcome.code(), 125, "{}", outcome.stderr);
        assert_eq!(outcome.stdout, "", "the command started");
        let summary = format!(
            "aws-init: error: {} reference(s) failed to resolve; the command was not started",
            failing.len()
        );
        let errors: Vec<&str> = outcome
            .stderr
            .lines()
            .filter(|line| line.starts_with("aws-init: error: "))
            .collect();
        assert_eq!(errors.len(), failing.len() + 1, "{}", outcome.stderr);
        assert_eq!(errors.last(), Some(&summary.as_str()), "{}", outcome.stderr);
        for (name, _) in &failing {
            let named = format!("aws-init: error: {name}: cannot resolve ");
            assert!(
                errors.iter().any(|line| line.starts_with(&named)),
                "no error for {name}:\n{}",
                outcome.stderr
            );
        }
    }
}

/// Runs the planted variables with one service's endpoint at `mock`, so
/// that the other service's canaries resolve while this one fails.
fn fails_through(service_endpoint: &str, mock: &Mock, variable: (&str, &str)) -> Outcome {
    let planted = Planted::new();
    run_planted(
        &planted,
        &[(service_endpoint, &mock.endpoint), variable],
        &["--log-level", "debug"],
    )
}

#[test]
fn aws_errors_show_no_canary() {
    let denied = Mock::new(
        400,
        r#"{"__type":"AccessDeniedException","message":"not authorized to perform: ssm:GetParameters"}"#,
    );
    let decryption = Mock::new(
        400,
        r#"{"__type":"DecryptionFailure","message":"the secret cannot be decrypted"}"#,
    );
    let kms = Mock::new(
        400,
        r#"{"__type":"AccessDeniedException","message":"Access to KMS is not allowed"}"#,
    );
    let cases = [
        (
            "AWS_ENDPOINT_URL_SSM",
            &denied,
            ("EXTRA", "aws-ssm:/denied"),
        ),
        (
            "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            &decryption,
            ("EXTRA", "aws-secret:undecryptable"),
        ),
        (
            "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            &kms,
            ("EXTRA", "aws-secret:kms-denied"),
        ),
    ];
    for (service_endpoint, mock, variable) in cases {
        let outcome = fails_through(service_endpoint, mock, variable);
        assert_eq!(outcome.code(), 125, "{}", outcome.stderr);
        assert_eq!(outcome.stdout, "", "the command started");
    }
}

#[test]
fn the_health_check_shows_no_canary() {
    let planted = Planted::new();
    let workspace = Workspace::new();
    let mut command = emulator().aws_init();
    planted.apply(&mut command);
    workspace.apply(&mut command);
    let outcome = run(command.args(["--log-level", "debug", "--health-check"]));
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    assert_clean(&outcome, &workspace);
}

#[test]
fn a_signal_while_resolving_shows_no_canary() {
    let planted = Planted::new();
    let silent = Silent::new();
    let workspace = Workspace::new();
    let mut command = Launch::Direct.command(&emulator().endpoint);
    planted.apply(&mut command);
    workspace.apply(&mut command);
    // Secrets Manager answers, so its canaries are in the resolving child
    // when the signal comes; Parameter Store never does.
    command
        .env("AWS_ENDPOINT_URL_SSM", &silent.endpoint)
        .args(["--log-level", "debug", "true"]);
    let running = Running::start(Launch::Direct, &mut command);
    let _held = silent.wait_for_request();
    running.signal(Signal::SIGTERM);
    let (outcome, _) = running.finish();
    assert_eq!(outcome.code(), 143, "{}", outcome.stderr);
    assert_clean(&outcome, &workspace);
}

#[test]
fn a_command_that_crashes_shows_no_canary() {
    let planted = Planted::new();
    let workspace = Workspace::new();
    let mut command = emulator().aws_init();
    planted.apply(&mut command);
    workspace.apply(&mut command);
    let outcome = run(command
        .args(["--log-level", "debug"])
        .args(shell("kill -SEGV $$", &[])));
    assert_eq!(outcome.code(), 128 + libc::SIGSEGV, "{}", outcome.stderr);
    assert_clean(&outcome, &workspace);
}

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

#[test]
fn the_init_never_holds_a_canary_in_memory() {
    for launch in LAUNCHES {
        let planted = Planted::new();
        let scratch = TempDir::new("secrecy-expected");
        let mut command = launch.command(&emulator().endpoint);
        planted.apply(&mut command);
        // The command checks its values, then leaves a worker that ignores
        // SIGTERM, and exits; aws-init waits for the worker. The worker
        // reads the command's stdin through fd 3, since sh gives a
        // background job /dev/null as its stdin.
        let checker = planted.checker(&scratch);
        let script = format!(
            "{} || exit 1; read line; trap '' TERM; exec 3<&0; (echo worker; read line) <&3 & exit 3",
            checker[2].replace("\"$1\"", "\"$0\""),
        );
        command
            .args(["--log-level", "debug", "--grace-period", "60s"])
            .args(["sh", "-c", &script, &checker[4]]);
        let mut running = Running::start(launch, &mut command);
        assert_eq!(running.line(), "match");
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

        running.write("go on\n");
        assert_eq!(running.line(), "worker");
        // The worker holds stdout open, so the command's exit shows only
        // in aws-init's own state: it has reaped the command and still
        // runs, with the worker as its only child.
        wait_until_only_child_is_worker(pid);
        assert_memory_clean(pid, "after the command exited");

        running.write("done\n");
        let (outcome, rest) = running.finish();
        assert_eq!(outcome.code(), 3, "{launch:?}: {}", outcome.stderr);
        assert_eq!(rest, Vec::<String>::new());
        let pieces = Pieces::now();
        pieces.assert_absent("stderr", outcome.stderr.as_bytes());
    }
}

/// Waits until the only child of `pid` is the worker `sh` left: the
/// command has exited and been reaped.
fn wait_until_only_child_is_worker(pid: i32) {
    let deadline = std::time::Instant::now() + GUARD;
    loop {
        let children = children_of(pid as u32);
        if let [only] = children[..] {
            let group = fs::read_to_string(format!("/proc/{only}/stat")).unwrap_or_default();
            // The worker is a subshell, so `sh` too, but not the group
            // leader the command was.
            let fields: Vec<&str> = group
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
        assert!(
            std::time::Instant::now() < deadline,
            "the command never exited"
        );
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
    // locked pages.
    let deadline = std::time::Instant::now() + GUARD;
    while locked_kib(child) == 0 {
        assert!(std::time::Instant::now() < deadline, "nothing locked");
        std::thread::yield_now();
    }
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

/// VmLck of process `pid`, in KiB; 0 once it is gone.
fn locked_kib(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmLck:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The capability that lets a process lock memory beyond RLIMIT_MEMLOCK
/// (linux/capability.h).
const CAP_IPC_LOCK: libc::c_ulong = 14;

#[test]
fn one_warning_when_secrets_cannot_be_locked() {
    let planted = Planted::new();
    let scratch = TempDir::new("secrecy-expected");
    let mut command = emulator().aws_init();
    planted.apply(&mut command);
    command.args(planted.checker(&scratch));
    // Root may lock any amount, so the run drops CAP_IPC_LOCK from its
    // bounding set, which keeps it out of aws-init's capabilities, and
    // allows no locked memory at all.
    // SAFETY: prctl and setrlimit are async-signal-safe and touch only the
    // child.
    unsafe {
        command.pre_exec(|| {
            let none = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::prctl(libc::PR_CAPBSET_DROP, CAP_IPC_LOCK, 0, 0, 0) != 0
                || libc::setrlimit(libc::RLIMIT_MEMLOCK, &none) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let outcome = run(&mut command);
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    assert_eq!(outcome.stdout, "match\n");
    let lines: Vec<&str> = outcome.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", outcome.stderr);
    assert_eq!(
        lines[0],
        "aws-init: warning: cannot lock secrets in memory (mlock: Operation not permitted \
         (os error 1); RLIMIT_MEMLOCK is 0 KiB), so they could be swapped to disk; raise the \
         limit (ulimit -l) or grant CAP_IPC_LOCK"
    );
    assert!(lines[1].starts_with("aws-init: resolved 7 variable(s) in "));
}

#[test]
fn a_default_is_never_shown() {
    let value = canary();
    let absent = unique("secrecy-absent");
    let workspace = Workspace::new();
    let mut command = emulator().aws_init();
    workspace.apply(&mut command);
    command
        .env("TOKEN", format!("aws-ssm:/{absent}?default={value}"))
        .args(["--log-level", "debug"])
        .args(shell("[ \"$TOKEN\" = \"$1\" ] && echo match", &[]));
    // The expected value goes in as an argument of the command, which
    // aws-init never prints.
    command.arg(&value);
    let outcome = run(&mut command);
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    assert_eq!(outcome.stdout, "match\n");
    assert_clean(&outcome, &workspace);

    // A failing run shows the reference with the default hidden.
    let mut command = emulator().aws_init();
    workspace.apply(&mut command);
    command
        .env(
            "TOKEN",
            format!("aws-ssm:/{absent}?default={value}&defualt={value}"),
        )
        .args(["--log-level", "debug", "true"]);
    let outcome = run(&mut command);
    assert_eq!(outcome.code(), 125, "{}", outcome.stderr);
    assert_clean(&outcome, &workspace);
}
