//! Pins that aws-init runs on a locked-down host: in an empty root mounted
//! read-only, as a user other than root, and with no writable /tmp, it
//! still resolves a secret and starts the command.

mod common;

use common::scratch::*;
use common::*;

/// Resolves a fresh secret as PID 1 in an empty root under `lockdown`,
/// starting the test program with `probes` after the variable, and asserts
/// that it started with the value, printed `probed` for the probes (which
/// show the lockdown was in force) and that aws-init said nothing.
fn assert_resolves_when(lockdown: Lockdown, probes: &[&str], probed: &str) {
    let name = unique("locked-down");
    emulator().put_secret(&name, "value-on-a-locked-down-host");
    let scratch = Scratch::new();

    let mut args = vec!["--log-level", "warn", SHOW_ENV, "TOKEN"];
    args.extend(probes);
    let mut command = scratch.aws_init(&emulator().endpoint, lockdown, &args);
    command.env("TOKEN", format!("aws-secret:{name}"));
    let outcome = run(&mut command);

    assert_eq!(outcome.code(), 0, "{outcome:?}");
    assert_eq!(
        outcome.stdout,
        format!("TOKEN=value-on-a-locked-down-host\n{probed}")
    );
    assert_eq!(outcome.stderr, "");
}

#[test]
fn a_read_only_root_resolves_and_starts_the_command() {
    assert_resolves_when(
        Lockdown {
            read_only_root: true,
            ..Lockdown::default()
        },
        &["+ids", "+create:/probe"],
        "ids=0:0\ncreate /probe: Read-only file system\n",
    );
}

#[test]
fn a_non_root_user_resolves_and_starts_the_command() {
    assert_resolves_when(
        Lockdown {
            as_nobody: true,
            ..Lockdown::default()
        },
        &["+ids", "+create:/probe"],
        "ids=65534:65534\ncreate /probe: Permission denied\n",
    );
}

#[test]
fn a_read_only_tmp_resolves_and_starts_the_command() {
    assert_resolves_when(
        Lockdown {
            read_only_tmp: true,
            ..Lockdown::default()
        },
        &["TMPDIR", "+create:/tmp/probe"],
        "TMPDIR=/tmp\ncreate /tmp/probe: Read-only file system\n",
    );
}

#[test]
fn all_three_at_once_resolve_and_start_the_command() {
    assert_resolves_when(
        Lockdown {
            read_only_root: true,
            as_nobody: true,
            read_only_tmp: true,
        },
        &["+ids", "+create:/probe", "+create:/tmp/probe"],
        "ids=65534:65534\ncreate /probe: Read-only file system\n\
         create /tmp/probe: Read-only file system\n",
    );
}
