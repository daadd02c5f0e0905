//! aws-init: resolves AWS secret references in the environment, then runs a
//! command under an init that forwards signals and reaps zombies.

// aws-init runs as PID 1, whose panic would take the container down with
// it: outside the tests, no code may unwrap, expect or panic.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod aws_error;
mod check;
mod cli;
mod exit_code;
mod health;
mod log;
mod proxy;
mod reference;
mod resolve;
mod secret;
mod supervise;
mod trust;

use std::io::Write;
use std::process::ExitCode;

use cli::Action;
use supervise::signals::SignalSet;

fn main() -> ExitCode {
    // Every signal is blocked first of all: until then, a signal at its
    // default disposition would end or stop a direct run before the init
    // could forward it. Only a run keeps them blocked.
    let mask = SignalSet::all().block();
    let restore = || {
        if let Ok(mask) = &mask {
            let _ = mask.set_mask();
        }
    };

    let args = std::env::args_os().skip(1).collect();
    let action = match cli::parse(args, |name| std::env::var_os(name)) {
        Ok(action) => action,
        Err(usage) => {
            log::set_format(usage.log_format);
            log::error!("{}", usage.error);
            return ExitCode::from(exit_code::USAGE);
        }
    };
    if !matches!(action, Action::Run { .. }) {
        restore();
    }

    let code = match action {
        Action::Help => {
            let _ = std::io::stdout().write_all(cli::HELP.as_bytes());
            0
        }
        Action::Version => {
            let _ = writeln!(std::io::stdout(), "aws-init {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Action::HealthCheck(options) => {
            log::set_level(options.log_level);
            log::set_format(options.log_format);
            health::run()
        }
        Action::Check { options, offline } => {
            log::set_level(options.log_level);
            log::set_format(options.log_format);
            check::run(&options, offline)
        }
        Action::Run { options, command } => {
            log::set_level(options.log_level);
            log::set_format(options.log_format);
            let result = mask
                .map_err(supervise::SuperviseError::Block)
                .and_then(|mask| supervise::run(&options, command, mask));
            match result {
                Ok(code) => code,
                Err(error) => {
                    log::error!("{error}");
                    exit_code::FAILED
                }
            }
        }
    };
    ExitCode::from(code)
}
