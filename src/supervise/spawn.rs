//! The child side of the fork: resolve the references, then exec the
//! command in place of this process.
//!
//! Only this process ever holds a secret. Its memory, with every copy the
//! SDK, hyper and serde made along the way, is replaced when it execs the
//! command, or freed when it exits after a failure.

use std::ffi::{CString, OsString};
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Instant;

use zeroize::Zeroizing;

use super::signals::SignalSet;
use crate::cli::Options;
use crate::exit_code;
use crate::log;
use crate::resolve::{self, Failure, FetchError, ResolveError, Value, Variable};

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

/// The command's environment as `NAME=VALUE\0` strings, wiped on drop.
type Environment = Vec<Zeroizing<Vec<u8>>>;

fn resolve_environment(options: &Options) -> Result<Environment, u8> {
    let started = Instant::now();
    let resolve_options = resolve::Options {
        bare_arns: options.bare_arns,
        literal: options.literal.clone(),
    };
    let plan = resolve::plan(std::env::vars_os().collect(), &resolve_options);
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
        let fetched = runtime.block_on(plan.fetch(options.timeout));
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
    let hint = match &failure.error {
        ResolveError::Fetch(FetchError::Service { code, .. }) => match code.as_str() {
            "ResourceNotFoundException" | "ParameterNotFound" => " (check the name and the region)",
            "AccessDeniedException" | "AccessDenied" => {
                " (check that the IAM policy allows this call on this resource)"
            }
            _ => "",
        },
        _ => "",
    };
    log::error!(
        "{}: cannot resolve {}: {}{hint}",
        failure.variable,
        failure.reference,
        failure.error
    );
}

/// Lays out the environment for execve(2). Resolution has already refused
/// values with a NUL byte, and the others come from an environment, which
/// cannot hold one.
fn build_environment(variables: Vec<Variable>) -> Environment {
    variables
        .iter()
        .map(|variable| {
            let value = match &variable.value {
                Value::Plain(value) => value.as_bytes(),
                Value::Resolved(secret) => secret.expose(),
            };
            let name = variable.name.as_bytes();
            let mut entry = Zeroizing::new(Vec::with_capacity(name.len() + value.len() + 2));
            entry.extend_from_slice(name);
            entry.push(b'=');
            entry.extend_from_slice(value);
            entry.push(0);
            entry
        })
        .collect()
}

/// Replaces this process with the command; returns only on failure, with
/// the exit code that failure calls for.
fn exec(command: &[OsString], environment: &Environment) -> u8 {
    // Arguments come from argv, which cannot hold a NUL.
    let Ok(argv) = command
        .iter()
        .map(|arg| CString::new(arg.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
    else {
        log::error!("an argument contains a NUL byte");
        return exit_code::FAILED;
    };
    let Some(program) = argv.first() else {
        return exit_code::FAILED;
    };
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|arg| arg.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = environment
        .iter()
        .map(|entry| entry.as_ptr().cast())
        .collect();
    envp.push(std::ptr::null());

    // Rust's runtime ignores SIGPIPE at start-up, and an ignored signal
    // survives execve(2): without this, `yes | head -n 1` in the command
    // would see EPIPE instead of dying quietly.
    // SAFETY: SIG_DFL is a valid disposition for SIGPIPE.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };

    // execvpe(3) searches this process's own PATH, which aws-init never
    // changes, and falls back to the shell for scripts without a #! line.
    // SAFETY: every pointer refers to a NUL-terminated string that outlives
    // the call, and both arrays end with a null pointer.
    unsafe { libc::execvpe(program.as_ptr(), argv_ptrs.as_ptr(), envp.as_ptr()) };

    let error = io::Error::last_os_error();
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
            log::error!(
                "{shown}: the arguments and environment are too large to execute the command"
            );
            exit_code::FAILED
        }
        _ => {
            log::error!("{shown}: cannot execute: {error}");
            exit_code::NOT_EXECUTABLE
        }
    }
}
