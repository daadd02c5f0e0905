//! Runs another build of aws-init than the crate's own, through a runner
//! such as qemu-user for an aarch64 build: what the tests start, and what
//! they leave out or skip where the runner, not aws-init, decides the
//! outcome.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::{NOWHERE, clean_env};

/// The aws-init this crate built for the machine that runs the tests.
const NATIVE_BIN: &str = env!("CARGO_BIN_EXE_aws-init");

/// Names another build of aws-init for the tests to run instead of
/// [`NATIVE_BIN`], such as the static aarch64 one.
pub const BIN_VAR: &str = "AWS_INIT_TEST_BIN";

/// Names the program that runs [`BIN_VAR`]'s build, such as
/// `qemu-aarch64-static` for an aarch64 build on an x86_64 machine: the
/// program, found on PATH, followed by the binary and its arguments.
pub const RUNNER_VAR: &str = "AWS_INIT_TEST_RUNNER";

/// The aws-init the tests run: [`BIN_VAR`] when it is set, else the
/// crate's own build.
pub fn bin() -> &'static str {
    static BIN: OnceLock<String> = OnceLock::new();
    BIN.get_or_init(|| match std::env::var(BIN_VAR) {
        Ok(path) => std::fs::canonicalize(&path)
            .unwrap_or_else(|error| panic!("{BIN_VAR}={path}: {error}"))
            .to_str()
            .unwrap()
            .to_owned(),
        Err(_) => NATIVE_BIN.to_owned(),
    })
}

/// The absolute path of [`RUNNER_VAR`]'s program, when one is set.
pub fn runner() -> Option<&'static str> {
    static RUNNER: OnceLock<Option<String>> = OnceLock::new();
    RUNNER
        .get_or_init(|| {
            let name = std::env::var(RUNNER_VAR)
                .ok()
                .filter(|name| !name.is_empty())?;
            if name.contains('/') {
                return Some(name);
            }
            let path = std::env::var("PATH").unwrap_or_default();
            let found = path
                .split(':')
                .map(|dir| std::path::Path::new(dir).join(&name))
                .find(|candidate| candidate.is_file())
                .unwrap_or_else(|| panic!("{RUNNER_VAR}={name}: not found on PATH"));
            Some(found.to_str().unwrap().to_owned())
        })
        .as_deref()
}

/// Whether aws-init runs under an emulator ([`RUNNER_VAR`]), where the
/// process the tests see is the emulator's: its memory, mappings, signal
/// masks and threads are the emulator's, not aws-init's own.
pub fn emulated() -> bool {
    runner().is_some()
}

/// Returns true, after saying why on stderr, when aws-init runs under an
/// emulator and the calling test checks what only a native run can show.
/// The test returns early then.
pub fn skip_when_emulated(why: &str) -> bool {
    if emulated() {
        eprintln!("skipped under {}: {why}", runner().unwrap_or_default());
    }
    emulated()
}

/// Why a test that starts a command which cannot be exec'd without a
/// reference, so through posix_spawn(3), cannot hold under qemu-user:
/// qemu runs glibc's clone(CLONE_VM | CLONE_VFORK) as a plain fork, so the
/// exec error the spawned child writes to the memory it would share never
/// reaches aws-init, which sees only an exit with code 127 and no error.
pub const SPAWN_ERROR_UNDER_QEMU: &str = "qemu-user runs posix_spawn's vfork-style clone as a \
    fork, so an exec error of a spawned command does not reach aws-init";

/// Why a test that counts on what aws-init gets done within a `--timeout`
/// of a second or two cannot hold under an emulator on a loaded machine:
/// an emulated debug build can take that long just to start resolving, or
/// to make a few attempts, and the init gives the resolving child only 2 s
/// past the timeout, so the outcome would say how busy the machine was,
/// not what aws-init does.
pub const TIMING_UNDER_EMULATION: &str = "an emulated debug build may not get through the \
    test's short --timeout on a loaded machine";

/// Why a test that reads the environment's order cannot hold under
/// qemu-user 7.2: it hands the guest its environment in reverse order.
pub const ENVIRONMENT_ORDER_UNDER_QEMU: &str =
    "qemu-user hands aws-init its environment in reverse order";

/// `runs` natively, and a fiftieth of it under an emulator, which takes tens
/// of milliseconds to start aws-init where a native run takes one or two:
/// for tests that repeat a run many times to catch a rare race.
pub fn repeats(runs: usize) -> usize {
    if emulated() { runs.div_ceil(50) } else { runs }
}

/// What starts aws-init: the runner, if any, then the binary. Arguments
/// for aws-init follow these.
pub fn aws_init_argv() -> Vec<&'static str> {
    runner().into_iter().chain([bin()]).collect()
}

/// What aws-init warns when prctl(2) refuses PR_SET_CHILD_SUBREAPER with
/// EINVAL, as qemu-user 7.2 (Debian 12's) does for every guest: it does
/// not pass that option, or PR_GET_CHILD_SUBREAPER, on to the kernel.
const SUBREAPER_REFUSED: &str = "cannot become a subreaper (Invalid argument (os error 22))";

/// Whether the runner refuses PR_SET_CHILD_SUBREAPER, found once by asking
/// aws-init for it.
fn runner_refuses_subreaper() -> bool {
    static REFUSES: OnceLock<bool> = OnceLock::new();
    *REFUSES.get_or_init(|| {
        if !emulated() {
            return false;
        }
        let mut command = aws_init_command();
        clean_env(&mut command, NOWHERE);
        let output = command
            .args(["--subreaper", "true"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stderr).contains(SUBREAPER_REFUSED)
    })
}

/// [`aws_init_argv`] as words for a shell script. The paths hold no
/// character a shell would treat specially.
pub fn aws_init_shell_words() -> String {
    aws_init_argv().join(" ")
}

/// A Command that starts aws-init, through the runner if there is one.
pub fn aws_init_command() -> Command {
    let argv = aws_init_argv();
    let mut command = Command::new(argv[0]);
    command.args(&argv[1..]);
    command
}
/// For a `command` that asks aws-init to be a subreaper, under a runner
/// that refuses it: makes the runner's process one before it execs, as
/// [`aws_init_at`] says. Does nothing otherwise.
pub fn subreaper_for_a_refusing_runner(command: &mut Command) {
    if !runner_refuses_subreaper() {
        return;
    }
    // SAFETY: prctl is async-signal-safe and touches only the child.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// `text` without the warning a runner's refusal of
/// PR_SET_CHILD_SUBREAPER causes, which is not aws-init's doing (see
/// [`aws_init_at`]); `text` as it is otherwise.
pub fn without_runner_warning(text: &str) -> String {
    if !runner_refuses_subreaper() {
        return text.to_owned();
    }
    text.split_inclusive('\n')
        .filter(|line| !line.contains(SUBREAPER_REFUSED))
        .collect()
}
