//! Pins aws-init's exit codes, its help and version output, and case 13:
//! many runs of a command that fails to exec or exits at once, each with
//! its own code, run directly and as PID 1.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::thread;

use common::launch::*;
use common::temp::TempDir;
use common::*;

// Exit codes.

#[test]
fn passes_every_exit_code_of_the_command_through() {
    for launch in LAUNCHES {
        for code in 0..=255 {
            let outcome = run(launch
                .command(NOWHERE)
                .args(shell("exit \"$1\"", &[&code.to_string()])));
            assert_eq!(outcome.code(), code, "{launch:?}: {outcome:?}");
            assert_eq!(outcome.stdout, "", "{launch:?} {code}");
            assert_eq!(outcome.stderr, "", "{launch:?} {code}");
        }
    }
}

#[test]
fn exits_128_plus_n_when_the_command_dies_by_a_signal() {
    for launch in LAUNCHES {
        // dash catches SIGINT under -c, and re-raises it at its default
        // disposition to die of it, as it must.
        for (signal, code) in [("TERM", 143), ("KILL", 137), ("INT", 130)] {
            let outcome = run(launch
                .command(NOWHERE)
                .args(shell("kill -\"$1\" $$", &[signal])));
            assert_eq!(outcome.code(), code, "{launch:?} SIG{signal}: {outcome:?}");
            assert_eq!(outcome.stderr, "", "{launch:?} SIG{signal}");
        }
    }
}

#[test]
fn exits_127_when_the_command_is_not_found() {
    if skip_when_emulated(SPAWN_ERROR_UNDER_QEMU) {
        return;
    }
    for launch in LAUNCHES {
        let outcome = run(launch.command(NOWHERE).arg("/does/not/exist"));
        assert_eq!(outcome.code(), 127, "{launch:?}: {outcome:?}");
        assert_eq!(outcome.stdout, "", "{launch:?}");
        assert_eq!(
            outcome.stderr, "aws-init: error: /does/not/exist: command not found\n",
            "{launch:?}"
        );
    }
}

#[test]
fn exits_126_when_the_command_is_not_executable() {
    if skip_when_emulated(SPAWN_ERROR_UNDER_QEMU) {
        return;
    }
    let dir = TempDir::new("not-executable");
    let script = dir.path().join("script");
    // A valid script, so that only the missing execute bit stops it; root
    // may execute a file only if some execute bit is set (execve(2)).
    fs::write(&script, "#!/bin/sh\necho ran\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o644)).unwrap();

    for launch in LAUNCHES {
        let outcome = run(launch.command(NOWHERE).arg(&script));
        assert_eq!(outcome.code(), 126, "{launch:?}: {outcome:?}");
        assert_eq!(outcome.stdout, "", "{launch:?}");
        assert_eq!(
            outcome.stderr,
            format!(
                "aws-init: error: {}: cannot execute: Permission denied (os error 13)\n",
                script.display()
            ),
            "{launch:?}"
        );
    }
}

#[test]
fn exits_126_when_the_interpreter_of_a_script_is_missing() {
    if skip_when_emulated(SPAWN_ERROR_UNDER_QEMU) {
        return;
    }
    let dir = TempDir::new("no-interpreter");
    let script = dir.path().join("script");
    fs::write(&script, "#!/does/not/exist/sh\necho ran\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();

    for launch in LAUNCHES {
        // The path is shown as it was given, relative or not.
        let absolute = script.display().to_string();
        for given in [absolute.as_str(), "./script"] {
            let outcome = run(launch.command(NOWHERE).arg(given).current_dir(dir.path()));
            assert_eq!(outcome.code(), 126, "{launch:?} {given}: {outcome:?}");
            assert_eq!(outcome.stdout, "", "{launch:?} {given}");
            assert_eq!(
                outcome.stderr,
                format!(
                    "aws-init: error: {given}: cannot execute: its interpreter or loader was \
                     not found\n"
                ),
                "{launch:?} {given}"
            );
        }
    }
}

#[test]
fn exits_2_when_no_command_is_given() {
    let outcome = run(&mut aws_init_at(NOWHERE));
    assert_eq!(outcome.code(), 2, "{outcome:?}");
    assert_eq!(outcome.stdout, "");
    assert_eq!(
        outcome.stderr,
        "aws-init: error: no command given; usage: aws-init [OPTIONS] [--] COMMAND [ARGS...]\n"
    );
}

#[test]
fn exits_2_on_an_unknown_option() {
    let outcome = run(aws_init_at(NOWHERE).args(["--bogus", "true"]));
    assert_eq!(outcome.code(), 2, "{outcome:?}");
    assert_eq!(outcome.stdout, "");
    assert_eq!(
        outcome.stderr,
        "aws-init: error: unknown option `--bogus`; see aws-init --help\n"
    );
}

#[test]
fn exits_2_when_the_health_check_is_given_a_command() {
    for flag in ["-h", "--health-check"] {
        let outcome = run(aws_init_at(NOWHERE).args([flag, "app"]));
        assert_eq!(outcome.code(), 2, "{flag}: {outcome:?}");
        assert_eq!(outcome.stdout, "", "{flag}");
        assert_eq!(
            outcome.stderr, "aws-init: error: --health-check runs no command; give it alone\n",
            "{flag}"
        );
    }
}

#[test]
fn help_prints_to_stdout_and_exits_0() {
    let outcome = run(aws_init_at(NOWHERE).arg("--help"));
    assert_eq!(outcome.code(), 0, "{outcome:?}");
    assert!(
        outcome.stdout.starts_with(
            "aws-init: resolve AWS secret references in the environment, then run a command\n"
        ),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome
            .stdout
            .contains("\nUsage: aws-init [OPTIONS] [--] COMMAND [ARGS...]\n"),
        "{}",
        outcome.stdout
    );
    assert_eq!(outcome.stderr, "");
}

#[test]
fn version_prints_to_stdout_and_exits_0() {
    for flag in ["--version", "-V", "-v"] {
        let outcome = run(aws_init_at(NOWHERE).arg(flag));
        assert_eq!(outcome.code(), 0, "{flag}: {outcome:?}");
        assert_eq!(
            outcome.stdout,
            format!("aws-init {}\n", env!("CARGO_PKG_VERSION")),
            "{flag}"
        );
        assert_eq!(outcome.stderr, "", "{flag}");
    }
}

// Starting and ending, fast and often (case 13).

/// How a run starts the command.
#[derive(Clone, Copy, Debug)]
enum Start {
    /// No reference: the init spawns the command itself.
    Spawned,
    /// One reference, resolved from the emulator: a forked child resolves
    /// it and execs the command, and tells the init through the status
    /// pipe.
    Forked,
}

/// Runs aws-init with `command` `runs` times over a few threads, and checks
/// that each run exits `code` and prints `stderr`, so that an early SIGCHLD
/// that the init misses shows up as a hang.
fn run_many_times(
    launch: Launch,
    start: Start,
    runs: usize,
    command: &[&str],
    code: i32,
    stderr: &str,
) {
    const THREADS: usize = 4;
    let (endpoint, reference) = match start {
        Start::Spawned => (NOWHERE, None),
        Start::Forked => {
            let emulator = emulator();
            let name = unique("many");
            emulator.put_secret(&name, "value");
            (
                emulator.endpoint.as_str(),
                Some(format!("aws-secret:{name}")),
            )
        }
    };
    let reference = reference.as_deref();
    thread::scope(|scope| {
        for thread in 0..THREADS {
            scope.spawn(move || {
                for run_number in (thread..repeats(runs)).step_by(THREADS) {
                    let mut aws_init = launch.command(endpoint);
                    if let Some(reference) = reference {
                        // Only errors, not the line saying what resolved.
                        aws_init
                            .env("FROM_AWS", reference)
                            .args(["--log-level", "warn"]);
                    }
                    let outcome = run(aws_init.args(command));
                    assert_eq!(
                        outcome.code(),
                        code,
                        "{launch:?} {start:?} run {run_number}: {outcome:?}"
                    );
                    assert_eq!(
                        outcome.stderr, stderr,
                        "{launch:?} {start:?} run {run_number}"
                    );
                }
            });
        }
    });
}

const NOT_FOUND: &str = "aws-init: error: /does/not/exist: command not found\n";

// Spawning costs little, so those runs are many; each forked run also
// fetches a secret from the emulator, which answers one request at a time.

#[test]
fn every_one_of_many_failed_execs_exits_127() {
    let missing = ["/does/not/exist"];
    // Only the forked runs report the error under qemu-user.
    if !skip_when_emulated(SPAWN_ERROR_UNDER_QEMU) {
        run_many_times(
            Launch::Direct,
            Start::Spawned,
            5_000,
            &missing,
            127,
            NOT_FOUND,
        );
    }
    run_many_times(
        Launch::Direct,
        Start::Forked,
        1_000,
        &missing,
        127,
        NOT_FOUND,
    );
}

#[test]
fn every_one_of_many_failed_execs_exits_127_as_pid_1() {
    let missing = ["/does/not/exist"];
    // Only the forked runs report the error under qemu-user.
    if !skip_when_emulated(SPAWN_ERROR_UNDER_QEMU) {
        run_many_times(Launch::Pid1, Start::Spawned, 300, &missing, 127, NOT_FOUND);
    }
    run_many_times(Launch::Pid1, Start::Forked, 200, &missing, 127, NOT_FOUND);
}

#[test]
fn every_one_of_many_commands_that_exit_at_once_exits_0() {
    run_many_times(Launch::Direct, Start::Spawned, 5_000, &["true"], 0, "");
    run_many_times(Launch::Direct, Start::Forked, 1_000, &["true"], 0, "");
}

#[test]
fn every_one_of_many_commands_that_exit_at_once_exits_0_as_pid_1() {
    run_many_times(Launch::Pid1, Start::Spawned, 300, &["true"], 0, "");
    run_many_times(Launch::Pid1, Start::Forked, 200, &["true"], 0, "");
}

/// The `--flag` and `AWS_INIT_*` names in `text`, sorted and deduplicated.
fn option_names(text: &str) -> Vec<String> {
    let mut names = std::collections::BTreeSet::new();
    let bytes = text.as_bytes();
    for start in 0..bytes.len() {
        let name_char = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        let rest = &text[start..];
        let begins = start == 0 || !name_char(bytes[start - 1]);
        if !begins || !(rest.starts_with("--") || rest.starts_with("AWS_INIT_")) {
            continue;
        }
        let end = rest
            .bytes()
            .position(|b| !name_char(b))
            .unwrap_or(rest.len());
        let name = &rest[..end];
        if name.len() > 2 && !name.ends_with('-') {
            names.insert(name.to_owned());
        }
    }
    names.into_iter().collect()
}

/// The README's usage table and `--help` name the same flags and
/// variables, so that neither documents an option the other lacks.
#[test]
fn the_readme_usage_table_and_help_name_the_same_options() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table: String = readme
        .split("## Usage")
        .nth(1)
        .and_then(|usage| usage.split("\n## ").next())
        .unwrap()
        .lines()
        .filter(|line| line.starts_with('|'))
        .collect::<Vec<_>>()
        .join("\n");
    let help = run(aws_init_at(NOWHERE).arg("--help")).stdout;
    let options = help
        .split("Options:")
        .nth(1)
        .and_then(|options| options.split("Exit codes:").next())
        .unwrap();
    assert_eq!(option_names(&table), option_names(options));
    assert!(option_names(options).contains(&"--rewrite".to_owned()));
}
