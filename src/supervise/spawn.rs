//! Starting the command: the child side of the fork, which resolves the
//! references and then execs the command in place of itself, and the
//! posix_spawn(3) start for an environment with nothing to resolve.
//!
//! Only the forked child ever holds a secret. Its memory, with every copy the
//! SDK, hyper and serde made along the way, is replaced when it execs the
//! command, or freed when it exits after a failure.

use std::ffi::{CString, OsString};
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Instant;

use super::signals::{self, SignalSet};
use crate::cli::Options;
use crate::exit_code;
use crate::log;
use crate::resolve::{self, Failure, Value, Variable};
use crate::secret::Locked;

/// The byte the child writes when it is about to exec the command. Any
/// other byte is the exit code of a child that gave up.
pub const READY: u8 = 0xff;

/// Runs the child: returns an exit code only when the command could not be
/// started, after writing that code to the status pipe.
pub fn run(
    options: &Options,
    command: Vec<OsString>,
    mask: SignalSet,
    status: OwnedFd,
    foreground: bool,
) -> u8 {
    let mut status = std::fs::File::from(status);
    // SAFETY: setpgid takes plain integers. The init makes the same call,
    // so whichever runs first creates the group.
    unsafe { libc::setpgid(0, 0) };
    // No core file may hold a secret. execve(2) restores the flag for the
    // command.
    // SAFETY: PR_SET_DUMPABLE takes plain integers.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };

    // Every signal stays blocked while resolving: the init kills this
    // process outright when asked to stop, and nothing typed at a terminal
    // (^Z) can stop it halfway and leave the init waiting.
    let code = match resolve_environment(options) {
        Ok(environment) => {
            if foreground {
                take_terminal();
            }
            let _ = status.write_all(&[READY]);
            match mask.set_mask() {
                Ok(()) => exec(&command, &environment),
                Err(error) => {
                    log::error!("cannot restore the signal mask: {error}");
                    exit_code::FAILED
                }
            }
        }
        Err(code) => code,
    };
    let _ = status.write_all(&[code]);
    code
}

/// Tells whether aws-init's process group holds the terminal's foreground.
/// Asked before the fork: once the init has moved the child into a group
/// of its own, the answer is gone.
pub fn holds_terminal() -> bool {
    // SAFETY: these calls take plain integers.
    unsafe {
        libc::isatty(libc::STDIN_FILENO) == 1
            && libc::tcgetpgrp(libc::STDIN_FILENO) == libc::getpgrp()
    }
}

/// Makes this process's group the terminal's foreground. The child calls
/// it just before exec, so that a shell reading the terminal is not stopped
/// by SIGTTIN; the init calls it once the command is gone, so that a shell
/// that started aws-init can read the terminal again. Both still block
/// SIGTTOU, so tcsetpgrp(3) cannot stop them.
pub fn take_terminal() {
    // SAFETY: these calls take plain integers. Failure (the terminal is
    // gone) leaves things as they were, which is fine.
    unsafe { libc::tcsetpgrp(libc::STDIN_FILENO, libc::getpgrp()) };
}

/// The command's environment as `NAME=VALUE\0` strings, locked in memory
/// and wiped on drop.
type Environment = Vec<Locked>;

/// Classifies aws-init's own environment as `options` say.
fn plan_environment(options: &Options) -> resolve::Plan {
    resolve::plan(std::env::vars_os().collect(), &options.resolve_options())
}

fn resolve_environment(options: &Options) -> Result<Environment, u8> {
    let started = Instant::now();
    let plan = plan_environment(options);
    // Without references there is nothing to wait for, and no runtime to
    // start: a plain `aws-init true` costs little more than the fork.
    let fetched = if plan.needs_aws() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| {
                log::error!("cannot start the async runtime: {error}");
                exit_code::FAILED
            })?;
        let fetched = runtime.block_on(plan.fetch(options.timeout, options.concurrency));
        // Worker threads left behind by DNS lookups must not delay the
        // exec, which ends them anyway.
        runtime.shutdown_background();
        fetched
    } else {
        resolve::Fetched::new()
    };
    let result = plan.finish(fetched);

    let variables = result.map_err(|failures| {
        for failure in &failures {
            log_failure(failure);
        }
        log::error!(
            "{} reference(s) failed to resolve; the command was not started",
            failures.len()
        );
        exit_code::FAILED
    })?;

    let resolved = variables
        .iter()
        .filter(|variable| matches!(variable.value, Value::Resolved(_)))
        .count();
    let environment = build_environment(variables);
    if resolved > 0 {
        log::info!(
            "resolved {resolved} variable(s) in {} ms",
            started.elapsed().as_millis()
        );
    }
    Ok(environment)
}

fn log_failure(failure: &Failure) {
    log::error!(
        "{}: cannot resolve {}: {}{}",
        failure.variable,
        failure.reference,
        failure.error,
        failure.error.hint()
    );
}

/// Lays out the environment for execve(2). Resolution has already refused
/// values with a NUL byte, and the others come from an environment, which
/// cannot hold one.
fn build_environment(variables: Vec<Variable>) -> Environment {
    variables
        .iter()
        .map(|variable| {
            let name = variable.name.as_bytes();
            match &variable.value {
                Value::Plain(value) => Locked::concat_plain(&[name, b"=", value.as_bytes(), b"\0"]),
                Value::Resolved(secret) => Locked::concat(&[name, b"=", secret.expose(), b"\0"]),
            }
        })
        .collect()
}

/// How many variables an E2BIG error names.
const LARGEST_SHOWN: usize = 3;

/// Names the largest variables of `environment`, biggest first, with their
/// sizes rounded up to KiB: enough to find the culprit, not a value's
/// exact length.
fn largest_variables(environment: &Environment) -> String {
    let mut sizes: Vec<(&[u8], usize)> = environment
        .iter()
        .map(|entry| {
            let entry = entry.as_slice();
            let end = entry.iter().position(|&byte| byte == b'=');
            (end.map_or(entry, |end| &entry[..end]), entry.len())
        })
        .collect();
    sizes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    sizes
        .iter()
        .take(LARGEST_SHOWN)
        .map(|(name, size)| {
            format!(
                "{} ({} KiB)",
                String::from_utf8_lossy(name),
                size.div_ceil(1024)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The command's argv and envp, as execve(2) and posix_spawn(3) take them.
/// The pointer arrays refer into `argv` and the environment, which must
/// outlive them.
struct Arguments {
    argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
}

impl Arguments {
    /// Lays out `command` and `environment`, or gives the exit code for a
    /// command that cannot be laid out.
    fn new(command: &[OsString], environment: &Environment) -> Result<Arguments, u8> {
        // Arguments come from argv, which cannot hold a NUL.
        let Ok(argv) = command
            .iter()
            .map(|arg| CString::new(arg.as_bytes()))
            .collect::<Result<Vec<_>, _>>()
        else {
            log::error!("an argument contains a NUL byte");
            return Err(exit_code::FAILED);
        };
        if argv.is_empty() {
            return Err(exit_code::FAILED);
        }
        let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|arg| arg.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        let mut envp: Vec<*const libc::c_char> = environment
            .iter()
            .map(|entry| entry.as_ptr().cast())
            .collect();
        envp.push(std::ptr::null());
        Ok(Arguments {
            argv,
            argv_ptrs,
            envp,
        })
    }

    fn program(&self) -> *const libc::c_char {
        self.argv[0].as_ptr()
    }
}

/// Replaces this process with the command; returns only on failure, with
/// the exit code that failure calls for.
fn exec(command: &[OsString], environment: &Environment) -> u8 {
    let arguments = match Arguments::new(command, environment) {
        Ok(arguments) => arguments,
        Err(code) => return code,
    };

    // Rust's runtime ignores SIGPIPE at start-up, and an ignored signal
    // survives execve(2): without this, `yes | head -n 1` in the command
    // would see EPIPE instead of dying quietly.
    // SAFETY: SIG_DFL is a valid disposition for SIGPIPE.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };

    // execvpe(3) searches this process's own PATH, which aws-init never
    // changes, and falls back to the shell for scripts without a #! line.
    // SAFETY: every pointer refers to a NUL-terminated string that outlives
    // the call, and both arrays end with a null pointer.
    unsafe {
        libc::execvpe(
            arguments.program(),
            arguments.argv_ptrs.as_ptr(),
            arguments.envp.as_ptr(),
        )
    };
    exec_failed(command, environment, io::Error::last_os_error())
}

/// What the init does when no reference needs resolving and no terminal
/// needs handing over: the command's environment is aws-init's own, so
/// there is nothing to keep apart from PID 1, and no process of its own.
pub enum Direct {
    /// The command runs as process `pid`.
    Started(libc::pid_t),
    /// The command could not be started; exit with this code.
    Failed(u8),
    /// Fork as usual: there are references or invalid ones to report, or
    /// the command may be a script only execvpe(3) runs.
    Fork,
}

/// Starts the command with posix_spawn(3) when the environment holds no
/// reference. Its vfork-style start copies no page of the init, which
/// makes a plain `aws-init CMD` cost about what another init costs. The
/// child gets what the forked path gives it: a process group of its own,
/// the signal mask aws-init started with, and SIGPIPE at its default.
pub fn spawn_direct(options: &Options, command: &[OsString], mask: SignalSet) -> Direct {
    let plan = plan_environment(options);
    if plan.needs_aws() {
        return Direct::Fork;
    }
    let Ok(variables) = plan.finish(resolve::Fetched::new()) else {
        return Direct::Fork;
    };
    let environment = build_environment(variables);
    let arguments = match Arguments::new(command, &environment) {
        Ok(arguments) => arguments,
        Err(code) => return Direct::Failed(code),
    };
    match posix_spawn(&arguments, mask) {
        Ok(pid) => Direct::Started(pid),
        // posix_spawn(3) runs no shell for a script without a #! line, as
        // execvpe(3) does; the forked path tries again with that.
        Err(error) if error.raw_os_error() == Some(libc::ENOEXEC) => Direct::Fork,
        Err(error) => Direct::Failed(exec_failed(command, &environment, error)),
    }
}

/// The signals a command started with posix_spawn(3) must get at their
/// default, to match an exec from the forked child: SIGPIPE, which Rust's
/// runtime ignores, and 32 and 33, which glibc's posix_spawn(3) would
/// otherwise ignore in the child, unless aws-init was started with them
/// ignored, as an exec would keep them.
fn command_defaults() -> SignalSet {
    let reserved = [32, 33]
        .into_iter()
        .filter(|&signal| !signals::is_ignored(signal));
    let mut defaults = vec![libc::SIGPIPE];
    defaults.extend(reserved);
    SignalSet::of(&defaults)
}

fn posix_spawn(arguments: &Arguments, mask: SignalSet) -> io::Result<libc::pid_t> {
    // SAFETY: the attribute object is initialised before use and destroyed
    // after; the signal sets are plain data filled by the calls that take
    // them; every string pointer refers to a NUL-terminated string that
    // outlives the call, and both arrays end with a null pointer.
    unsafe {
        let mut attributes: libc::posix_spawnattr_t = std::mem::zeroed();
        let rc = libc::posix_spawnattr_init(&mut attributes);
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        let default = command_defaults().to_sigset();
        let blocked = mask.to_sigset();
        let flags = libc::POSIX_SPAWN_SETPGROUP
            | libc::POSIX_SPAWN_SETSIGMASK
            | libc::POSIX_SPAWN_SETSIGDEF;
        let mut pid = 0;
        let mut rc = libc::posix_spawnattr_setflags(&mut attributes, flags as libc::c_short);
        if rc == 0 {
            rc = libc::posix_spawnattr_setpgroup(&mut attributes, 0);
        }
        if rc == 0 {
            rc = libc::posix_spawnattr_setsigmask(&mut attributes, &blocked);
        }
        if rc == 0 {
            rc = libc::posix_spawnattr_setsigdefault(&mut attributes, &default);
        }
        if rc == 0 {
            // Like execvpe(3), this searches aws-init's own PATH.
            rc = libc::posix_spawnp(
                &mut pid,
                arguments.program(),
                std::ptr::null(),
                &attributes,
                arguments.argv_ptrs.as_ptr().cast(),
                arguments.envp.as_ptr().cast(),
            );
        }
        libc::posix_spawnattr_destroy(&mut attributes);
        match rc {
            0 => Ok(pid),
            rc => Err(io::Error::from_raw_os_error(rc)),
        }
    }
}

/// Reports why the command could not be executed, and gives the exit code
/// for it.
fn exec_failed(command: &[OsString], environment: &Environment, error: io::Error) -> u8 {
    let shown = command[0].to_string_lossy();
    match error.raw_os_error() {
        // A path that exists but gives ENOENT names a script whose #!
        // interpreter, or a program whose loader, is missing.
        Some(libc::ENOENT) if shown.contains('/') && Path::new(&command[0]).exists() => {
            log::error!("{shown}: cannot execute: its interpreter or loader was not found");
            exit_code::NOT_EXECUTABLE
        }
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => {
            log::error!("{shown}: command not found");
            exit_code::NOT_FOUND
        }
        Some(libc::E2BIG) => {
            let arguments: usize = command.iter().map(|arg| arg.len() + 1).sum();
            log::error!(
                "{shown}: the arguments and environment are too large to execute the command \
                 (arguments: {} KiB; largest variables: {})",
                arguments.div_ceil(1024),
                largest_variables(environment)
            );
            exit_code::FAILED
        }
        _ => {
            log::error!("{shown}: cannot execute: {error}");
            exit_code::NOT_EXECUTABLE
        }
    }
}
