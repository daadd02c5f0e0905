//! Runs the command with aws-init as its init.
//!
//! With every signal blocked, the init forks at once. The child resolves
//! the references and execs the command; the init never holds a secret,
//! loads no SDK and starts no runtime. An environment without references
//! needs no such child: the command is started with posix_spawn(3). The
//! init only takes signals one at a time: SIGCHLD to reap, anything else
//! to forward to the command's process group. A close-on-exec status pipe
//! tells it whether a forked child started the command.

mod memory;
mod reap;
mod shutdown;
pub mod signals;
mod spawn;
mod tree;

use std::ffi::OsString;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

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
///
/// Every signal must be blocked already, and `mask` is the mask aws-init
/// was started with, which the command gets: blocked before the fork, no
/// signal, not even the SIGCHLD of a child that fails at once, can arrive
/// before the init waits for it.
pub fn run(
    options: &Options,
    command: Vec<OsString>,
    mask: SignalSet,
) -> Result<u8, SuperviseError> {
    let signals = SignalSet::all();
    let foreground = spawn::holds_terminal();
    become_reaper(options.subreaper);
    take_back_sigchld();

    // A terminal is handed to the command by the forked child, just before
    // its exec; posix_spawn(3) cannot do that on every C library.
    if !foreground {
        match spawn::spawn_direct(options, &command, mask) {
            spawn::Direct::Started(child) => {
                log::debug!("started child {child}");
                return supervise(child, Status::started(), &signals, options);
            }
            spawn::Direct::Failed(code) => return Ok(code),
            spawn::Direct::Fork => {}
        }
    }

    let (status_read, status_write) = pipe2(OFlag::O_CLOEXEC).map_err(SuperviseError::Pipe)?;
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
            let code = supervise(child, Status::new(status_read), &signals, options);
            if foreground {
                spawn::take_terminal();
            }
            code
        }
    }
}

/// Makes sure that orphans of the command come to aws-init to be reaped:
/// as PID 1 they do anyway; otherwise `--subreaper` asks for them with
/// PR_SET_CHILD_SUBREAPER (prctl(2)). Without either, orphans go to some
/// other process, and the warning says so once.
fn become_reaper(subreaper: bool) {
    // SAFETY: getpid has no requirements.
    if unsafe { libc::getpid() } == 1 {
        return;
    }
    if subreaper {
        // SAFETY: PR_SET_CHILD_SUBREAPER takes plain integers.
        if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
            log::warn!(
                "cannot become a subreaper ({}); orphans of the command will not be reaped \
                 by aws-init",
                io::Error::last_os_error()
            );
        }
        return;
    }
    // The attribute survives execve(2), so whatever started aws-init may
    // have set it already.
    let mut already: libc::c_int = 0;
    // SAFETY: PR_GET_CHILD_SUBREAPER writes one int to the pointer.
    let rc = unsafe { libc::prctl(libc::PR_GET_CHILD_SUBREAPER, &mut already, 0, 0, 0) };
    if rc != 0 || already == 0 {
        log::warn!(
            "not PID 1 and not a subreaper, so orphans of the command will not be reaped; \
             pass --subreaper or set AWS_INIT_SUBREAPER=1"
        );
    }
}

/// Puts SIGCHLD back at its default when whatever exec'd aws-init left it
/// ignored. An ignored SIGCHLD tells the kernel to reap every child itself
/// (waitpid(2), "NOTES"), so the init would never learn how the command
/// ended. The command gets the default too: its own waitpid calls would
/// fail the same way, and nothing that starts an init means to pass that
/// on.
fn take_back_sigchld() {
    if !signals::is_ignored(libc::SIGCHLD) {
        return;
    }
    match signals::set_default(libc::SIGCHLD) {
        Ok(()) => log::debug!("SIGCHLD was ignored; set it back to its default"),
        Err(error) => log::warn!(
            "SIGCHLD is ignored and cannot be set back to its default ({error}); the \
             command's exit code may be lost"
        ),
    }
}

/// How much longer than `--timeout` the init waits for the resolving child
/// before it kills it. The child enforces the timeout itself and reports
/// each variable; this is for a child that cannot, because it was stopped
/// or is stuck before its own deadline starts.
const RESOLVE_MARGIN: Duration = Duration::from_secs(2);

/// How often the init looks for processes left behind by the command. A
/// group member that is not the init's own child sends it no SIGCHLD.
const LEFTOVER_POLL: Duration = Duration::from_millis(20);

/// How often the init looks at the status pipe while it holds signals for
/// a command whose exec has not finished; an exec takes microseconds.
const HOLD_POLL: Duration = Duration::from_millis(1);

/// Why the init ended the child before the command started.
#[derive(Clone, Copy)]
enum Stopped {
    /// A stop request: aws-init exits 128+N.
    BySignal(libc::c_int),
    /// Resolution overran its deadline: aws-init exits 125.
    ByDeadline,
}

/// The init's loop: wait for a signal, act on it, until the child is gone
/// and, once the command ran, whatever it left behind too.
fn supervise(
    child: libc::pid_t,
    mut status: Status,
    signals: &SignalSet,
    options: &Options,
) -> Result<u8, SuperviseError> {
    let mut shutdown = Shutdown::new(options.grace_period);
    let resolve_deadline = Instant::now() + options.timeout + RESOLVE_MARGIN;
    let mut stopped = None;
    // The command's exit code, once it has exited and the init waits for
    // the processes it left.
    let mut exited: Option<u8> = None;
    let mut release_at = Some(Instant::now() + memory::RELEASE_AFTER);
    let mut held: Vec<libc::c_int> = Vec::new();
    loop {
        let resolving = status.state() == State::Resolving && stopped.is_none();
        let timeout = if resolving {
            Some(resolve_deadline)
        } else if exited.is_some() {
            let poll = Instant::now() + LEFTOVER_POLL;
            Some(
                shutdown
                    .deadline()
                    .map_or(poll, |deadline| deadline.min(poll)),
            )
        } else {
            shutdown.deadline()
        };
        // Signals held for a command that is still being exec'd: look at
        // the status pipe again soon, since its closing sends no signal.
        let hold_poll = (!held.is_empty()).then(|| Instant::now() + HOLD_POLL);
        let wake_at = [timeout, release_at, hold_poll].into_iter().flatten().min();
        let timeout = wake_at.map(|at| at.saturating_duration_since(Instant::now()));
        let signal = signals.wait(timeout).map_err(SuperviseError::Wait)?;
        if release_at.is_some_and(|at| Instant::now() >= at) {
            release_at = None;
            memory::release_clean_pages();
        }

        match signal {
            None => {
                // The wait may also have ended to release memory.
                if resolving
                    && Instant::now() >= resolve_deadline
                    && status.state() == State::Resolving
                {
                    log::error!(
                        "references still unresolved {} ms after the timeout; the command was \
                         not started",
                        RESOLVE_MARGIN.as_millis()
                    );
                    stopped = Some(Stopped::ByDeadline);
                    kill(child, libc::SIGKILL);
                }
                if shutdown.expired() {
                    kill_what_is_left(child);
                }
            }
            Some(libc::SIGCHLD) => {}
            // One reading of the pipe for both answers: a match guard that
            // read it again could find a failed exec's code there and fall
            // through to the arm that forwards, and the signal would end
            // the child that is exiting with 126 or 127.
            Some(signal) => match status.phase() {
                // Between the child's READY and the end of its exec, a
                // signal would hit aws-init's own code, and an exec that
                // then fails would report the signal, not 126 or 127. It
                // is held until the exec has closed the status pipe.
                (true, State::Started) => {
                    shutdown.on_signal(signal);
                    held.push(signal);
                }
                (false, State::Started) => {
                    shutdown.on_signal(signal);
                    forward(child, signal, exited.is_some(), options, &mut shutdown);
                }
                // The resolving child has nothing to clean up, so it is
                // killed outright, and aws-init reports the signal it was
                // asked to stop with.
                (_, State::Resolving) if signals::is_stop_request(signal) && stopped.is_none() => {
                    log::debug!(
                        "{} before the command started; stopping",
                        signals::name(signal)
                    );
                    stopped = Some(Stopped::BySignal(signal));
                    kill(child, libc::SIGKILL);
                }
                (_, State::Resolving | State::Failed | State::Died) => {
                    log::debug!(
                        "dropped {}: the command has not started",
                        signals::name(signal)
                    );
                }
            },
        }

        if !held.is_empty() {
            match status.phase() {
                (true, State::Started) => {}
                (false, State::Started) => {
                    for signal in std::mem::take(&mut held) {
                        forward(child, signal, exited.is_some(), options, &mut shutdown);
                    }
                }
                _ => {
                    log::debug!(
                        "dropped {} signal(s): the command did not start",
                        held.len()
                    );
                    held.clear();
                }
            }
        }

        // Reaping after every wake-up, not only on SIGCHLD, costs one
        // system call and cannot miss an exit.
        let reaped = reap::reap_all(child);
        if let Some(wait_status) = reaped.main {
            let code = match (stopped, status.state()) {
                (Some(Stopped::BySignal(signal)), _) => 128 + signal as u8,
                (Some(Stopped::ByDeadline), _) => exit_code::FAILED,
                (None, State::Died) => {
                    log::error!(
                        "the process resolving references ended ({}) before the command \
                         started",
                        exit_code::describe_wait_status(wait_status)
                    );
                    exit_code::FAILED
                }
                (None, _) => exit_code::from_wait_status(wait_status),
            };
            let left =
                status.state() == State::Started && (reaped.children_left || group_alive(child));
            if !left {
                log::debug!("child exited; exiting with {code}");
                return Ok(code);
            }
            log::debug!("command exited with {code}; waiting for the processes it left");
            exited = Some(code);
            let group_needs_term = shutdown.on_command_exit();
            if !shutdown.killing() {
                terminate_leftovers(child, group_needs_term);
            }
        } else if !reaped.children_left && exited.is_none() {
            // The child is gone, but not through this init's waitpid:
            // only an ignored SIGCHLD that could not be set back does
            // that. Waiting on would hang for ever.
            log::error!(
                "the command's exit status was lost; exiting with {}",
                exit_code::FAILED
            );
            return Ok(exit_code::FAILED);
        } else if let Some(code) = exited {
            if !reaped.children_left && !group_alive(child) {
                log::debug!("nothing left; exiting with {code}");
                return Ok(code);
            }
            if shutdown.gave_up() {
                log::warn!("processes left after SIGKILL; exiting with {code} anyway");
                return Ok(code);
            }
        }
    }
}

fn kill(pid: libc::pid_t, signal: libc::c_int) {
    let _ = signals::send(pid, signal);
}

/// Forwards a received signal, rewritten as `--rewrite` says, to the
/// command's process group or, with `--single-child`, to the command alone.
/// Once the command has exited, only its group is left to signal.
fn forward(
    child: libc::pid_t,
    received: libc::c_int,
    command_exited: bool,
    options: &Options,
    shutdown: &mut Shutdown,
) {
    let signal = options.rewrite(received);
    if signal == 0 {
        log::debug!("dropped {}, as --rewrite says", signals::name(received));
        return;
    }
    let (result, target) = if command_exited {
        shutdown.on_sent(signal);
        (signals::send_to_group(child, signal), "process group")
    } else if options.single_child {
        (signals::send(child, signal), "process")
    } else {
        shutdown.on_sent(signal);
        (signals::send_to_command(child, signal), "process group")
    };
    match result {
        Ok(()) => log::debug!(
            "forwarded {} as {} to {target} {child}",
            signals::name(received),
            signals::name(signal)
        ),
        Err(error) => log::debug!("could not forward {}: {error}", signals::name(signal)),
    }
}

/// Tells whether any process is still running in the command's process
/// group. kill(2) with signal 0 answers cheaply when the group is empty;
/// when it is not, /proc tells the running members from zombies.
fn group_alive(group: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that the group exists.
    group > 0 && unsafe { libc::kill(-group, 0) } == 0 && tree::group_has_live_members(group)
}

/// Sends SIGTERM to the processes the command left behind: its process
/// group, unless that had one already, and the orphans the init adopted
/// that left the group, which no forwarded signal reached. An orphan that
/// leads a process group of its own, as a daemon after setsid(2) does, gets
/// it through that group, so that the processes it started get one too.
/// Each gets one.
fn terminate_leftovers(group: libc::pid_t, group_too: bool) {
    if group_too {
        let _ = signals::send_to_group(group, libc::SIGTERM);
    }
    let outside = outside_group(tree::children(), group);
    log::debug!(
        "sending SIGTERM to {}{} other process(es) below aws-init",
        if group_too {
            "the process group and "
        } else {
            ""
        },
        outside.len()
    );
    for pid in outside {
        // SAFETY: getpgid takes a plain integer.
        if unsafe { libc::getpgid(pid) } == pid {
            let _ = signals::send_to_group(pid, libc::SIGTERM);
        } else {
            kill(pid, libc::SIGTERM);
        }
    }
}

/// Keeps the processes of `pids` that are not in process group `group`.
fn outside_group(pids: Vec<libc::pid_t>, group: libc::pid_t) -> Vec<libc::pid_t> {
    pids.into_iter()
        // SAFETY: getpgid takes a plain integer.
        .filter(|&pid| unsafe { libc::getpgid(pid) } != group)
        .collect()
}

/// Sends SIGKILL to the command's process group and to every descendant
/// of the init, wherever its group; never to -1.
fn kill_what_is_left(group: libc::pid_t) {
    let outside = outside_group(tree::descendants(), group);
    match outside.len() {
        0 => log::warn!("grace period over; sending SIGKILL to process group {group}"),
        n => log::warn!(
            "grace period over; sending SIGKILL to process group {group} and {n} other \
             process(es) below aws-init"
        ),
    }
    let _ = signals::send_to_group(group, libc::SIGKILL);
    for pid in outside {
        kill(pid, libc::SIGKILL);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// The child is still resolving references.
    Resolving,
    /// The child is about to exec the command, or has.
    Started,
    /// The child reported a failure and will exit without starting it.
    Failed,
    /// The child ended without a word: it was killed (the OOM killer, a
    /// stray SIGKILL) or crashed before the command started.
    Died,
}

/// The init's end of the status pipe. The child writes [`spawn::READY`]
/// just before it execs the command, and its exit code when it gives up;
/// exec closes the pipe.
struct Status {
    /// `None` for a command started with posix_spawn(3), which returns
    /// only once the exec has happened.
    pipe: Option<std::fs::File>,
    state: State,
    closed: bool,
}

impl Status {
    fn new(pipe: OwnedFd) -> Status {
        // Non-blocking, so that asking never stalls the init.
        if let Err(error) = fcntl(&pipe, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)) {
            log::debug!("status pipe stays blocking: {error}");
        }
        Status {
            pipe: Some(std::fs::File::from(pipe)),
            state: State::Resolving,
            closed: false,
        }
    }

    /// The status of a command that has been exec'd already.
    fn started() -> Status {
        Status {
            pipe: None,
            state: State::Started,
            closed: true,
        }
    }

    /// Returns whether the child said READY but has not finished its exec
    /// (exec closes the pipe, and a failed exec writes its code instead),
    /// with the state, both from one reading of the pipe.
    fn phase(&mut self) -> (bool, State) {
        let state = self.state();
        (state == State::Started && !self.closed, state)
    }

    fn state(&mut self) -> State {
        while !self.closed && matches!(self.state, State::Resolving | State::Started) {
            let Some(pipe) = self.pipe.as_mut() else {
                self.closed = true;
                break;
            };
            let mut byte = [0u8; 1];
            match pipe.read(&mut byte) {
                Ok(0) => {
                    self.closed = true;
                    if self.state == State::Resolving {
                        self.state = State::Died;
                    }
                }
                Ok(_) if byte[0] == spawn::READY => self.state = State::Started,
                Ok(_) => self.state = State::Failed,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                // An unreadable pipe says nothing more; keep what it said.
                Err(_) => self.closed = true,
            }
        }
        self.state
    }
}
