//! Tracks the grace period that follows a SIGTERM.
//!
//! The orchestrator owns the deadline (Kubernetes' terminationGracePeriod,
//! ECS's stopTimeout), so without `--grace-period` aws-init waits for the
//! command however long it takes, and the orchestrator's SIGKILL ends both.

use std::time::{Duration, Instant};

pub struct Shutdown {
    grace: Option<Duration>,
    deadline: Option<Instant>,
}

impl Shutdown {
    pub fn new(grace: Option<Duration>) -> Shutdown {
        Shutdown {
            grace,
            deadline: None,
        }
    }

    /// Starts the grace period, unless it is already running. It keys on
    /// the signal aws-init received, not on the one it forwarded.
    pub fn on_signal(&mut self, signal: libc::c_int) {
        if signal == libc::SIGTERM && self.deadline.is_none() {
            self.deadline = self.grace.map(|grace| Instant::now() + grace);
        }
    }

    /// How long the init may wait for the next signal.
    pub fn timeout(&self) -> Option<Duration> {
        self.deadline
            .map(|deadline| deadline.saturating_duration_since(Instant::now()))
    }

    /// Tells whether the grace period ran out; it reports so only once.
    pub fn expired(&mut self) -> bool {
        match self.deadline {
            Some(deadline) if Instant::now() >= deadline => {
                self.grace = None;
                self.deadline = None;
                true
            }
            _ => false,
        }
    }
}
