//! `--check`: resolves every reference, or with `--offline` only parses
//! them, prints one line for each to stdout and starts nothing. Never a
//! value: each line names the variable, where its value comes from, and
//! whether it resolved.

use std::io::Write;

use crate::cli::Options;
use crate::exit_code;
use crate::log;
use crate::resolve;

/// Runs the check and returns aws-init's exit code: 0 when every
/// reference resolved (or, offline, parsed), else 1.
pub fn run(options: &Options, offline: bool) -> u8 {
    // Resolving here puts values in this process's memory, as in the
    // resolving child, so it is kept out of core dumps in the same way.
    // SAFETY: PR_SET_DUMPABLE takes plain integers.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };

    let plan = resolve::plan(std::env::vars_os().collect(), &options.resolve_options());
    let region = default_region();
    let lines = if offline || !plan.needs_aws() {
        plan.report(None, &region)
    } else {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(error) => {
                log::error!("cannot start the async runtime: {error}");
                return exit_code::UNHEALTHY;
            }
        };
        let fetched = runtime.block_on(plan.fetch(options.timeout, options.concurrency));
        runtime.shutdown_background();
        plan.report(Some(&fetched), &region)
    };

    // A line names references from the environment, and may quote an AWS
    // error message, which the response controls: escaping keeps each one
    // on a line of its own, as in the log.
    let mut out = std::io::stdout().lock();
    for line in &lines {
        let _ = writeln!(out, "{}", log::escape(&line.text));
    }
    let failed = lines.iter().filter(|line| !line.ok).count();
    if failed > 0 {
        log::error!("{failed} of {} reference(s) failed the check", lines.len());
        return exit_code::UNHEALTHY;
    }
    log::info!("all {} reference(s) passed the check", lines.len());
    exit_code::HEALTHY
}

/// The region a reference without an ARN goes to, as far as the
/// environment tells; the SDK may still find one in the profile.
fn default_region() -> String {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
        .unwrap_or_else(|| "the profile's region".to_owned())
}
