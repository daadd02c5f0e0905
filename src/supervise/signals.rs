//! Blocks, waits for and forwards signals for the init.
//!
//! The init blocks every signal it can and takes them one at a time with
//! sigtimedwait(2), so it never runs a handler. Blocking also matters for
//! PID 1: the kernel discards a signal sent to an init whose disposition is
//! the default, unless the signal is blocked (signal(7), "the init
//! process").

use std::io;
use std::time::Duration;

/// A set of signals, as the kernel lays it out: bit N-1 for signal N.
///
/// The raw system calls are used rather than libc's wrappers, which quietly
/// leave out signals 32 and 33 (the C library keeps them for its threads):
/// unblocked, either would kill a direct run, and the init has no threads
/// that need them.
#[derive(Clone, Copy)]
pub struct SignalSet(u64);

/// The size of the kernel's signal set, which the system calls take.
const KERNEL_SET_SIZE: libc::size_t = std::mem::size_of::<u64>();

impl SignalSet {
    /// Every signal there is. The kernel never blocks SIGKILL or SIGSTOP,
    /// and a real fault (SIGSEGV, SIGBUS, ...) in aws-init's own code still
    /// kills it, since the kernel unblocks a synchronous fault to deliver
    /// it. Blocking the faults too means one sent with kill(2) is
    /// forwarded like any other signal instead of killing the init.
    pub fn all() -> SignalSet {
        SignalSet(u64::MAX)
    }

    /// The set of `signals`, each from 1 to 64.
    pub fn of(signals: &[libc::c_int]) -> SignalSet {
        SignalSet(
            signals
                .iter()
                .filter(|&&signal| (1..=64).contains(&signal))
                .fold(0, |set, &signal| set | 1 << (signal - 1)),
        )
    }

    /// Blocks this set and returns the mask that was in force before.
    pub fn block(&self) -> io::Result<SignalSet> {
        let mut old = 0u64;
        // SAFETY: both pointers refer to a u64, the kernel's set size.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                libc::SIG_BLOCK,
                &self.0 as *const u64,
                &mut old as *mut u64,
                KERNEL_SET_SIZE,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(SignalSet(old))
    }

    /// This set as the C library's `sigset_t`, whose first 64 bits are the
    /// kernel's set.
    pub fn to_sigset(self) -> libc::sigset_t {
        // SAFETY: sigset_t is plain data, at least 64 bits long, and its
        // first word holds signals 1 to 64, as in the kernel's set.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            std::ptr::write_unaligned((&mut set as *mut libc::sigset_t).cast::<u64>(), self.0);
            set
        }
    }

    /// Makes this set the whole signal mask.
    pub fn set_mask(&self) -> io::Result<()> {
        // SAFETY: the pointer refers to a u64; the old mask is not wanted.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                libc::SIG_SETMASK,
                &self.0 as *const u64,
                std::ptr::null_mut::<u64>(),
                KERNEL_SET_SIZE,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Takes the next pending signal of this set, waiting at most
    /// `timeout`, or forever when it is `None`. Returns `None` on timeout.
    pub fn wait(&self, timeout: Option<Duration>) -> io::Result<Option<libc::c_int>> {
        loop {
            let timespec = timeout.map(|timeout| libc::timespec {
                tv_sec: timeout.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
                tv_nsec: timeout.subsec_nanos() as libc::c_long,
            });
            let timespec_ptr = timespec
                .as_ref()
                .map_or(std::ptr::null(), |timespec| timespec as *const _);
            // SAFETY: the set is a u64 of the kernel's set size, and the
            // timespec, when given, lives until the call returns; siginfo
            // is not wanted.
            let signal = unsafe {
                libc::syscall(
                    libc::SYS_rt_sigtimedwait,
                    &self.0 as *const u64,
                    std::ptr::null_mut::<libc::siginfo_t>(),
                    timespec_ptr,
                    KERNEL_SET_SIZE,
                )
            };
            if signal >= 0 {
                return Ok(Some(signal as libc::c_int));
            }
            let error = io::Error::last_os_error();
            match error.raw_os_error() {
                Some(libc::EAGAIN) => return Ok(None),
                Some(libc::EINTR) => continue,
                _ => return Err(error),
            }
        }
    }
}

/// Tells whether `signal` is ignored in aws-init. It asks the kernel
/// directly: the C library refuses to answer for the signals it keeps for
/// itself (32 and 33).
pub fn is_ignored(signal: libc::c_int) -> bool {
    // The kernel's struct sigaction on x86-64: handler, flags, restorer
    // and mask.
    let mut old = [0u64; 4];
    // SAFETY: a null new action only reads; the old one is written to an
    // array the size of the kernel's struct.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            signal,
            std::ptr::null::<u64>(),
            old.as_mut_ptr(),
            KERNEL_SET_SIZE,
        )
    };
    rc == 0 && old[0] == libc::SIG_IGN as u64
}

/// Puts `signal` back at its default disposition in aws-init, and so in
/// every process it starts.
pub fn set_default(signal: libc::c_int) -> io::Result<()> {
    // SAFETY: SIG_DFL is a valid disposition for any catchable signal.
    if unsafe { libc::signal(signal, libc::SIG_DFL) } == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sends `signal` to process `pid`, and never to a group: a pid of 0 or
/// less would signal a whole group or, for -1, every process the init may
/// signal, which on a host, in subreaper mode, is far more than the
/// command's.
pub fn send(pid: libc::pid_t, signal: libc::c_int) -> io::Result<()> {
    if pid <= 0 {
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    // SAFETY: kill has no memory-safety requirements.
    match unsafe { libc::kill(pid, signal) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Sends `signal` to every process in group `group`.
pub fn send_to_group(group: libc::pid_t, signal: libc::c_int) -> io::Result<()> {
    if group <= 0 {
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    // SAFETY: kill has no memory-safety requirements.
    match unsafe { libc::kill(-group, signal) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Sends `signal` to the command's process group, or to the command itself
/// when the group is gone: a command may leave its group, and the signal
/// should still reach it. Only for a command not yet reaped, whose pid
/// cannot have been reused.
pub fn send_to_command(command: libc::pid_t, signal: libc::c_int) -> io::Result<()> {
    match send_to_group(command, signal) {
        Err(error) if error.raw_os_error() == Some(libc::ESRCH) => send(command, signal),
        result => result,
    }
}

/// Names a signal for log lines: `SIGTERM`, `SIGRTMIN+3`, or its number.
pub fn name(signal: libc::c_int) -> String {
    let rtmin = libc::SIGRTMIN();
    if (rtmin..=libc::SIGRTMAX()).contains(&signal) {
        return format!("SIGRTMIN+{}", signal - rtmin);
    }
    nix::sys::signal::Signal::try_from(signal)
        .map(|signal| signal.as_str().to_owned())
        .unwrap_or_else(|_| format!("signal {signal}"))
}

/// Parses a signal by number or by name, with or without `SIG` and in any
/// case: `15`, `TERM`, `sigterm`, `RTMIN+2`, `RTMAX-1`. Returns `None` for
/// anything that is not a signal of this system, 0 included.
pub fn parse(text: &str) -> Option<libc::c_int> {
    let text = text.trim();
    let (rtmin, rtmax) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    let valid = |signal: libc::c_int| (1..=rtmax).contains(&signal).then_some(signal);
    if let Ok(number) = text.parse::<libc::c_int>() {
        return valid(number);
    }
    let upper = text.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    // `RTMIN+N` counts up and `RTMAX-N` down; nothing else follows them.
    let offset = |rest: &str, sign: char| -> Option<libc::c_int> {
        if rest.is_empty() {
            return Some(0);
        }
        let digits = rest.strip_prefix(sign)?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse::<u16>().ok().map(libc::c_int::from)
    };
    if let Some(rest) = bare.strip_prefix("RTMIN") {
        let signal = rtmin.checked_add(offset(rest, '+')?)?;
        return (signal <= rtmax).then_some(signal);
    }
    if let Some(rest) = bare.strip_prefix("RTMAX") {
        let signal = rtmax.checked_sub(offset(rest, '-')?)?;
        return (signal >= rtmin).then_some(signal);
    }
    format!("SIG{bare}")
        .parse::<nix::sys::signal::Signal>()
        .ok()
        .map(|signal| signal as libc::c_int)
}

/// Tells whether `signal` asks the process to stop. Before the command has
/// started, these end aws-init; every other signal is dropped then.
pub fn is_stop_request(signal: libc::c_int) -> bool {
    matches!(
        signal,
        libc::SIGTERM | libc::SIGINT | libc::SIGQUIT | libc::SIGHUP
    )
}
