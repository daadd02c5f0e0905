//! Pins the health check (`-h`, `--health-check`): it passes against a
//! working STS and fails when STS is unreachable or does not answer.

mod common;

use common::*;

#[test]
fn health_check_passes_against_a_working_sts() {
    let outcome = run(aws_init_at(&emulator().endpoint).arg("-h"));
    assert_eq!(outcome.code(), 0, "{outcome:?}");
    assert_eq!(outcome.stdout, "");
    assert_eq!(
        outcome.stderr,
        format!("aws-init: health check passed: arn:aws:sts::{ACCOUNT}:user/moto\n")
    );
}

#[test]
fn health_check_fails_when_sts_is_unreachable() {
    let outcome = run(aws_init_at(NOWHERE).arg("--health-check"));
    assert_eq!(outcome.code(), 1, "{outcome:?}");
    assert_eq!(outcome.stdout, "");
    assert_eq!(outcome.stderr.lines().count(), 1, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .starts_with("aws-init: error: health check failed: the request could not be sent: "),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("Connection refused"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn health_check_fails_when_sts_does_not_answer() {
    let silent = Silent::new();
    let outcome = run(aws_init_at(&silent.endpoint).arg("-h"));
    assert_eq!(outcome.code(), 1, "{outcome:?}");
    assert_eq!(outcome.stdout, "");
    assert_eq!(
        outcome.stderr,
        "aws-init: error: health check failed: no answer from STS within 5 s\n"
    );
}
