//! The exit codes aws-init itself chooses; every other code is the
//! command's own.

/// The health check passed.
pub const HEALTHY: u8 = 0;
/// The health check failed.
pub const UNHEALTHY: u8 = 1;
/// The command line or an `AWS_INIT_*` variable is wrong.
pub const USAGE: u8 = 2;
/// aws-init itself failed and the command never started, as `docker run`
/// reports its own failures.
pub const FAILED: u8 = 125;
/// The command exists but could not be executed.
pub const NOT_EXECUTABLE: u8 = 126;
/// The command was not found.
pub const NOT_FOUND: u8 = 127;

/// Turns a wait status into the code a shell would report: the exit code,
/// or 128+N for death by signal N.
pub fn from_wait_status(status: libc::c_int) -> u8 {
    if libc::WIFSIGNALED(status) {
        // Signal numbers stop at 64, so this never wraps.
        (128 + libc::WTERMSIG(status)) as u8
    } else {
        libc::WEXITSTATUS(status) as u8
    }
}

/// Describes a wait status for a log line: `exit code 3`, `signal 9`.
pub fn describe_wait_status(status: libc::c_int) -> String {
    if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("exit code {}", libc::WEXITSTATUS(status))
    }
}
