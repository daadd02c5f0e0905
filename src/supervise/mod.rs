//! Runs the command with aws-init as its init.
//!
//! With every signal blocked, the init forks at once. The child resolves
//! the references and execs the command; the init never holds a secret,
//! loads no SDK and starts no runtime. It only takes signals one at a time:
//! SIGCHLD to reap, anything else to forward to the command's process
//! group. A close-on-exec status pipe tells it whether the command started.

mod reap;
mod shutdown;
mod signals;
mod spawn;

use std::ffi::OsString;
use std::io::{self, Read};
use std::os::fd::OwnedFd;

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::unistd::{ForkResult, fork, pipe2};
use thiserror::Error;

use crate::cli::Options;
use crate::exit_code;
use crate::log;
use shutdown::Shutdown;
use signals::SignalSet;

#[derive(Debug, Error)]
pub enum SuperviseError {
    #[error("failed to block signals: {0}")]
    Block(#[source] io::Error),
    #[error("failed to create the status pipe: {0}")]
    Pipe(#[source] nix::Error),
    #[error("failed to fork: {0}")]
    Fork(#[source] nix::Error),
    #[error("failed to wait for signals: {0}")]
    Wait(#[source] io::Error),
}

/// Starts the command and supervises it. Returns the exit code for
/// aws-init: the command's own, or the child's when the command did not
/// start. The forked child returns from here too, when it fails.
pub fn run(options: &Options, command: Vec<OsString>) -> Result<u8, SuperviseError> {
    let signals = SignalSet::init();
    // Blocked before the fork, so that no signal, not even the SIGCHLD of
    // a child that fails at once, can arrive before the init waits for it.
    let mask = signals.block().map_err(SuperviseError::Block)?;
    let (status_read, status_write) = pipe2(OFlag::O_CLOEXEC).map_err(SuperviseError::Pipe)?;
    let foreground = spawn::holds_terminal();

    // SAFETY: aws-init has one thread here, so the child may do anything.
    match unsafe { fork() }.map_err(SuperviseError::Fork)? {
        ForkResult::Child => {
            drop(status_read);
            Ok(spawn::run(options, command, mask, status_write, foreground))
        }
        ForkResult::Parent { child } => {
            drop(status_write);
            let child = child.as_raw();
            // Both sides call setpgid(2), so the group exists before either
            // one relies on it. This fails harmlessly once the child has
            // exec'd.
            // SAFETY: setpgid takes plain integers.
            unsafe { libc::setpgid(child, child) };
            log::debug!("started child {child}");
            supervise(child, Status::new(status_read), &signals, options)
        }
    }
}

/// The init's loop: wait for a signal, act on it, until the child is gone.
fn supervise(
    child: libc::pid_t,
    mut status: Status,
    signals: &SignalSet,
    options: &Options,
) -> Result<u8, SuperviseError> {
    let mut shutdown = Shutdown::new(options.grace_period);
    // The stop request that ended the child before the command started.
    let mut stopped_by = None;
    loop {
        let Some(signal) = signals
            .wait(shutdown.timeout())
            .map_err(SuperviseError::Wait)?
        else {
            if shutdown.expired() {
                log::warn!("grace period over; sending SIGKILL to process group {child}");
                forward(child, libc::SIGKILL);
            }
            continue;
        };

        if signal == libc::SIGCHLD {
            let Some(wait_status) = reap::reap_all(child) else {
                continue;
            };
            let code = match stopped_by {
                Some(signal) => {
                    log::debug!("stopped before the command started");
                    128 + signal as u8
                }
                None => exit_code::from_wait_status(wait_status),
            };
            log::debug!("child exited; exiting with {code}");
            return Ok(code);
        }

        match status.state() {
            State::Started => {
                shutdown.on_signal(signal);
                forward(child, signal);
            }
            // The resolving child has nothing to clean up, and it may have
            // inherited an ignored disposition for the signal (a shell's
            // background job ignores SIGINT and SIGQUIT), so it is killed
            // outright and aws-init reports the signal it was asked to
            // stop with.
            State::Resolving if signals::is_stop_request(signal) && stopped_by.is_none() => {
                log::debug!(
                    "{} before the command started; stopping",
                    signals::name(signal)
                );
                stopped_by = Some(signal);
                // SAFETY: kill has no memory-safety requirements.
                unsafe { libc::kill(child, libc::SIGKILL) };
            }
            State::Resolving | State::Failed => {
                log::debug!(
                    "dropped {}: the command has not started",
                    signals::name(signal)
                );
            }
        }
    }
}

fn forward(group: libc::pid_t, signal: libc::c_int) {
    match signals::send_to_group(group, signal) {
        Ok(()) => log::debug!(
            "forwarded {} to process group {group}",
            signals::name(signal)
        ),
        Err(error) => log::debug!("could not forward {}: {error}", signals::name(signal)),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// The child is still resolving references.
    Resolving,
    /// The command is running: exec closed the pipe.
    Started,
    /// The child reported a failure and will exit without starting it.
    Failed,
}

/// The init's end of the status pipe. The child writes one byte when it
/// gives up; a successful exec closes the pipe with nothing written.
struct Status {
    pipe: std::fs::File,
    state: State,
}

impl Status {
    fn new(pipe: OwnedFd) -> Status {
        // Non-blocking, so that asking never stalls the init.
        if let Err(error) = fcntl(&pipe, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)) {
            log::debug!("status pipe stays blocking: {error}");
        }
        Status {
            pipe: std::fs::File::from(pipe),
            state: State::Resolving,
        }
    }

    fn state(&mut self) -> State {
        if self.state != State::Resolving {
            return self.state;
        }
        let mut byte = [0u8; 1];
        self.state = match self.pipe.read(&mut byte) {
            Ok(0) => State::Started,
            Ok(_) => State::Failed,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => State::Resolving,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => State::Resolving,
            // An unreadable pipe says nothing; forwarding is the safe
            // default for a command that may be running.
            Err(_) => State::Started,
        };
        self.state
    }
}
