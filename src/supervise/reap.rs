//! Reaps exited processes, the init's own child and adopted orphans alike.

use crate::log;

/// Collects every exited child without blocking, and returns the wait
/// status of `main` if it was among them.
///
/// SIGCHLDs merge while blocked, so one signal may stand for many exits:
/// loop waitpid(-1, WNOHANG) until nothing is left (waitpid(2)).
pub fn reap_all(main: libc::pid_t) -> Option<libc::c_int> {
    let mut main_status = None;
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid place for waitpid to write.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        match pid {
            0 => break,
            -1 => {
                if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                // ECHILD: no children left at all.
                break;
            }
            pid if pid == main => main_status = Some(status),
            pid => log::debug!("reaped orphan {pid}"),
        }
    }
    main_status
}
