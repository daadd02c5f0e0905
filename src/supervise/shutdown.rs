//! Decides how long the init waits once shutting down has begun: after a
//! SIGTERM, and after the command exits while processes it started remain.
//!
//! The orchestrator owns the deadline (Kubernetes' terminationGracePeriod,
//! ECS's stopTimeout), so without `--grace-period` aws-init waits for the
//! command after SIGTERM however long it takes, and the orchestrator's
//! SIGKILL ends both. Processes left behind by a command that has exited
//! get the grace period too, or [`LEFTOVER_GRACE`] without one, since then
//! nothing else may ever end them.

use std::time::{Duration, Instant};

/// How long processes left behind get without `--grace-period`.
pub const LEFTOVER_GRACE: Duration = Duration::from_secs(10);

/// How long the init waits for what it sent SIGKILL to before it exits
/// anyway: a process in uninterruptible sleep may take longer to go.
const KILL_WAIT: Duration = Duration::from_secs(1);

pub struct Shutdown {
    grace: Option<Duration>,
    deadline: Option<Instant>,
    /// Whether a SIGTERM went to the command's process group.
    term_sent: bool,
    /// When the init sent SIGKILL to whatever was left.
    killed: Option<Instant>,
}

impl Shutdown {
    pub fn new(grace: Option<Duration>) -> Shutdown {
        Shutdown {
            grace,
            deadline: None,
            term_sent: false,
            killed: None,
        }
    }

    /// Starts the grace period on SIGTERM, unless it is already running.
    /// It keys on the signal aws-init received, not on the one it forwarded
    /// (`--rewrite`).
    pub fn on_signal(&mut self, received: libc::c_int) {
        if received == libc::SIGTERM && self.deadline.is_none() && self.killed.is_none() {
            self.deadline = self.grace.map(|grace| Instant::now() + grace);
        }
    }

    /// Notes a signal the init sent to the process group.
    pub fn on_sent(&mut self, sent: libc::c_int) {
        self.term_sent |= sent == libc::SIGTERM;
    }

    /// Tells whether the init has sent SIGKILL to whatever was left.
    pub fn killing(&self) -> bool {
        self.killed.is_some()
    }

    /// Starts the wait for processes the command left behind, unless a
    /// grace period already runs. Returns whether the command's process
    /// group still needs a SIGTERM: not when it had one, and not after
    /// SIGKILL.
    pub fn on_command_exit(&mut self) -> bool {
        if self.killed.is_some() {
            return false;
        }
        if self.deadline.is_none() {
            self.deadline = Some(Instant::now() + self.grace.unwrap_or(LEFTOVER_GRACE));
        }
        !self.term_sent
    }

    /// When the init must next act: the end of the grace period, or of
    /// the wait for what it sent SIGKILL to.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
            .or(self.killed.map(|killed| killed + KILL_WAIT))
    }

    /// Tells whether the grace period ran out, so that what is left must
    /// get SIGKILL; it says so once.
    pub fn expired(&mut self) -> bool {
        match self.deadline {
            Some(deadline) if Instant::now() >= deadline => {
                self.deadline = None;
                self.killed = Some(Instant::now());
                true
            }
            _ => false,
        }
    }

    /// Tells whether the init has waited long enough for what it killed.
    pub fn gave_up(&self) -> bool {
        self.killed
            .is_some_and(|killed| killed.elapsed() >= KILL_WAIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Option<Duration> = Some(Duration::from_secs(60));

    #[test]
    fn only_a_received_sigterm_starts_the_grace_period() {
        let mut shutdown = Shutdown::new(GRACE);
        shutdown.on_signal(libc::SIGUSR1);
        // A SIGUSR1 rewritten to SIGTERM is sent, not received.
        shutdown.on_sent(libc::SIGTERM);
        assert_eq!(shutdown.deadline(), None);
        shutdown.on_signal(libc::SIGTERM);
        assert!(shutdown.deadline().is_some());
    }

    #[test]
    fn without_a_grace_period_sigterm_waits_but_leftovers_get_ten_seconds() {
        let mut shutdown = Shutdown::new(None);
        shutdown.on_signal(libc::SIGTERM);
        assert_eq!(shutdown.deadline(), None);
        let before = Instant::now();
        assert!(shutdown.on_command_exit());
        let deadline = shutdown.deadline().unwrap_or(before);
        assert!(deadline >= before + LEFTOVER_GRACE, "{deadline:?}");
    }

    #[test]
    fn leftovers_get_no_second_sigterm_and_keep_the_running_deadline() {
        let mut shutdown = Shutdown::new(GRACE);
        shutdown.on_signal(libc::SIGTERM);
        shutdown.on_sent(libc::SIGTERM);
        let deadline = shutdown.deadline();
        assert!(!shutdown.on_command_exit());
        assert_eq!(shutdown.deadline(), deadline);
    }

    #[test]
    fn an_expired_grace_period_says_so_once_then_waits_briefly_for_the_killed() {
        let mut shutdown = Shutdown::new(Some(Duration::ZERO));
        shutdown.on_signal(libc::SIGTERM);
        assert!(shutdown.expired());
        assert!(!shutdown.expired());
        assert!(!shutdown.gave_up());
        assert!(!shutdown.on_command_exit());
        assert!(shutdown.deadline().is_some());
    }
}
