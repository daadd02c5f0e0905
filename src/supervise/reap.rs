//! Reaps exited processes, the init's own child and adopted orphans alike.

use crate::log;

/// What one round of reaping found.
pub struct Reaped {
    /// The wait status of the main child, if it was among the exits.
    pub main: Option<libc::c_int>,
    /// Whether this process still has children, exited or not: adopted
    /// orphans, or the main child itself.
    pub children_left: bool,
}

/// Collects every exited child without blocking.
///
/// SIGCHLDs merge while blocked, so one signal may stand for many exits:
/// loop waitpid(-1, WNOHANG) until nothing is left (waitpid(2)). Only this
/// process's own children can be waited for, so a zombie whose parent is
/// alive stays that parent's to reap.
///
/// TODO: a command stopped from its terminal (^Z) goes unnoticed, since
/// waitpid is not asked for WUNTRACED. Under an interactive shell, aws-init
/// would have to take the terminal back and stop itself, and hand both on
/// again on SIGCONT, for the shell's job control to see the stop; no
/// container runtime needs this, so it waits for a user who does.
pub fn reap_all(main: libc::pid_t) -> Reaped {
    let mut main_status = None;
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid place for waitpid to write.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        match pid {
            0 => {
                return Reaped {
                    main: main_status,
                    children_left: true,
                };
            }
            -1 => {
                if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                // ECHILD: no children left at all.
                return Reaped {
                    main: main_status,
                    children_left: false,
                };
            }
            pid if pid == main => main_status = Some(status),
            pid => log::debug!("reaped orphan {pid}"),
        }
    }
}
