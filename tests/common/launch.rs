//! Starts aws-init the two ways an init runs, as a plain child and as PID 1
//! of a PID namespace, and drives a run that is still going.

use std::io::{self, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::{
    Lines, Outcome, aws_init_as_pid1_at, aws_init_at, aws_init_unregistered_at, children_of,
    kill_groups_of_children,
};

/// How aws-init is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Launch {
    /// A plain child of the test, registered as a subreaper.
    Direct,
    /// A plain child of the test that is not a subreaper either, so that
    /// orphans of the command go elsewhere and aws-init warns once.
    Unregistered,
    /// PID 1 of a new PID namespace, where orphans are its to reap and the
    /// kernel drops signals that it neither blocks nor handles.
    Pid1,
}

pub const LAUNCHES: [Launch; 2] = [Launch::Direct, Launch::Pid1];

/// What aws-init prints once when it is neither PID 1 nor a subreaper.
pub const UNREGISTERED_WARNING: &str = "aws-init: warning: not PID 1 and not a subreaper, so \
    orphans of the command will not be reaped; pass --subreaper or set AWS_INIT_SUBREAPER=1\n";

/// What aws-init prints when a grace period ends and nothing outside the
/// command's process group `group` is left.
pub fn grace_over(group: &str) -> String {
    format!("aws-init: warning: grace period over; sending SIGKILL to process group {group}\n")
}

/// The pid in a command's `ready PID` line, which scripts print with `$$`
/// to name their process group.
pub fn ready_pid(line: &str) -> String {
    line.strip_prefix("ready ")
        .unwrap_or_else(|| panic!("not a `ready PID` line: {line:?}"))
        .to_owned()
}

impl Launch {
    /// What aws-init prints on every run before anything else: the
    /// warning, for a launch that needs it.
    pub fn preamble(self) -> &'static str {
        match self {
            Launch::Unregistered => UNREGISTERED_WARNING,
            Launch::Direct | Launch::Pid1 => "",
        }
    }
}

impl Launch {
    pub fn command(self, endpoint: &str) -> Command {
        let mut command = match self {
            Launch::Direct => aws_init_at(endpoint),
            Launch::Unregistered => aws_init_unregistered_at(endpoint),
            Launch::Pid1 => aws_init_as_pid1_at(endpoint),
        };
        with_default_dispositions(&mut command);
        command
    }
}

/// Starts `command` with SIGINT and SIGQUIT at their defaults, as a
/// container runtime starts aws-init. A test run in the background by a
/// script (`cargo test &`) inherits them ignored, and a shell cannot trap
/// a signal that was ignored when it started.
pub fn with_default_dispositions(command: &mut Command) {
    // SAFETY: signal is async-signal-safe and touches only the child.
    unsafe {
        command.pre_exec(|| {
            for signal in [libc::SIGINT, libc::SIGQUIT] {
                if libc::signal(signal, libc::SIG_DFL) == libc::SIG_ERR {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// A started aws-init. If the test fails before it ends, dropping it kills
/// aws-init and, for a direct run, the command's process group, so that no
/// `sleep 1000` outlives the test.
pub struct Running {
    launch: Launch,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    stdout: Option<Lines>,
}

impl Running {
    /// Spawns `command` with stdin, stdout and stderr piped.
    pub fn start(launch: Launch, command: &mut Command) -> Running {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Running::spawn(launch, command)
    }

    /// Spawns `command` with the stdio it was given.
    pub fn spawn(launch: Launch, command: &mut Command) -> Running {
        let mut child = command.spawn().unwrap();
        Running {
            launch,
            stdin: child.stdin.take(),
            stdout: child.stdout.take().map(Lines::new),
            child: Some(child),
        }
    }

    fn child(&self) -> &Child {
        self.child.as_ref().expect("the run is still going")
    }

    /// The pid of the process the test started: aws-init itself for a
    /// direct run, unshare for a PID 1 run.
    pub fn started_pid(&self) -> u32 {
        self.child().id()
    }

    /// aws-init's pid as the test sees it.
    pub fn aws_init_pid(&self) -> Pid {
        let pid = match self.launch {
            Launch::Direct | Launch::Unregistered => self.child().id(),
            Launch::Pid1 => {
                // unshare --fork has one child, which exec'd aws-init.
                let children = children_of(self.child().id());
                assert_eq!(children.len(), 1, "unshare's children: {children:?}");
                children[0]
            }
        };
        Pid::from_raw(pid as i32)
    }

    /// Sends `signal` to aws-init itself, as an orchestrator would.
    pub fn signal(&self, signal: Signal) {
        kill(self.aws_init_pid(), signal).unwrap();
    }

    /// The command's next line of output.
    pub fn line(&self) -> String {
        self.stdout.as_ref().expect("stdout is piped").next()
    }

    /// The command's next line of output, or `None` if it hung or closed
    /// its output first.
    pub fn try_line(&self) -> Option<String> {
        self.stdout.as_ref().expect("stdout is piped").try_next()
    }

    /// The next `count` lines, sorted, for lines that two processes write
    /// in no fixed order.
    pub fn lines_in_any_order(&self, count: usize) -> Vec<String> {
        let mut lines: Vec<String> = (0..count).map(|_| self.line()).collect();
        lines.sort();
        lines
    }

    pub fn write(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is piped");
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Closes stdin, so that whatever reads it sees its end.
    pub fn close_stdin(&mut self) {
        drop(self.stdin.take().expect("stdin is piped and still open"));
    }

    /// Closes stdin and waits for the end: the outcome, and the stdout
    /// lines not read yet.
    pub fn finish(mut self) -> (Outcome, Vec<String>) {
        drop(self.stdin.take());
        let outcome = super::finish(self.child.take().unwrap());
        let rest = self.stdout.take().map(|lines| lines.rest());
        (outcome, rest.unwrap_or_default())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if self.launch != Launch::Pid1 {
            kill_groups_of_children(child.id());
        }
        // For a PID 1 run, unshare's --kill-child takes the namespace down.
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A `sh -c` command line whose positional parameters are `params`.
pub fn shell<'a>(script: &'a str, params: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["sh", "-c", script, "sh"];
    args.extend_from_slice(params);
    args
}
