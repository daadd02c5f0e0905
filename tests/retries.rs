//! End-to-end tests of the calls aws-init makes, through a proxy in front
//! of the emulator that counts them: transient failures are retried until
//! they pass or the deadline ends them, permanent ones are sent once, a
//! denied GetParameters falls back to GetParameter, and no more requests
//! than `--concurrency` are in flight at once.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use common::checks::*;
use common::proxy::{Fault, Proxy, Times};
use common::temp::TempDir;
use common::*;

const GET_SECRET_VALUE: &str = "secretsmanager.GetSecretValue";
const GET_PARAMETERS: &str = "AmazonSSM.GetParameters";
const GET_PARAMETER: &str = "AmazonSSM.GetParameter";
const GET_PARAMETERS_BY_PATH: &str = "AmazonSSM.GetParametersByPath";

/// A Command for aws-init that reaches the emulator through `proxy`, with
/// `vars` added to the harness's environment.
fn through(proxy: &Proxy, vars: &[(&str, &str)]) -> Command {
    let mut command = aws_init_at(&proxy.endpoint);
    envs(&mut command, vars);
    command
}

/// Runs `printenv NAME` under aws-init and checks that the command printed
/// `value` and exited 0.
fn assert_prints(mut command: Command, name: &str, value: &str) {
    let outcome = run(command.args(["printenv", name]));
    assert_eq!(outcome.stdout, format!("{value}\n"), "{}", outcome.stderr);
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
}

/// Runs `command` with a command that must not start, and checks that it
/// failed closed with exactly the lines `errors` and the summary.
fn assert_fails_with(mut command: Command, errors: &[String]) -> Outcome {
    let scratch = TempDir::new("retries");
    let marker = scratch.path().join("started");
    let outcome = run(command.arg("touch").arg(&marker));
    let mut expected: String = errors.iter().map(|line| format!("{line}\n")).collect();
    expected.push_str(&format!(
        "{ERROR}{} reference(s) failed to resolve; the command was not started\n",
        errors.len()
    ));
    assert_eq!(outcome.stderr, expected);
    assert_eq!(outcome.code(), 125, "{}", outcome.stderr);
    assert_eq!(outcome.stdout, "");
    assert!(!marker.exists(), "the command started");
    outcome
}

#[test]
fn each_transient_fault_of_get_secret_value_is_retried_until_it_passes() {
    for fault in [
        Fault::Throttle,
        Fault::Internal,
        Fault::Unavailable,
        Fault::Reset,
    ] {
        let name = unique("transient");
        emulator().put_secret(&name, "transient-value");
        let proxy = Proxy::new();
        proxy.inject(GET_SECRET_VALUE, fault, Times::Next(2));
        let reference = format!("aws-secret:{name}");
        assert_prints(
            through(&proxy, &[("TOKEN", &reference)]),
            "TOKEN",
            "transient-value",
        );
        assert_eq!(proxy.count(GET_SECRET_VALUE), 3, "{fault:?}");
    }
}

#[test]
fn throttled_parameter_calls_are_retried_until_they_pass() {
    let name = format!("/{}", unique("throttled"));
    emulator().put_parameter(&name, "batched-value", "String");
    let proxy = Proxy::new();
    proxy.inject(GET_PARAMETERS, Fault::Throttle, Times::Next(3));
    let reference = format!("aws-ssm:{name}");
    assert_prints(
        through(&proxy, &[("TOKEN", &reference)]),
        "TOKEN",
        "batched-value",
    );
    assert_eq!(proxy.count(GET_PARAMETERS), 4);

    // By ARN, it goes alone with GetParameter.
    let proxy = Proxy::new();
    proxy.inject(GET_PARAMETER, Fault::Unavailable, Times::Next(2));
    let reference = parameter_arn(REGION, &name);
    assert_prints(
        through(&proxy, &[("TOKEN", &reference)]),
        "TOKEN",
        "batched-value",
    );
    assert_eq!(proxy.count(GET_PARAMETER), 2 + 1);
}

#[test]
fn an_attempt_that_gets_no_answer_is_abandoned_and_retried() {
    let name = unique("hang");
    emulator().put_secret(&name, "patient-value");
    let proxy = Proxy::new();
    proxy.inject(GET_SECRET_VALUE, Fault::Hang, Times::Next(1));
    let reference = format!("aws-secret:{name}");
    let started = Instant::now();
    // A third of a 6 s timeout: the first attempt is given 2 s.
    let mut command = through(&proxy, &[("TOKEN", &reference)]);
    command.args(["--timeout", "6s"]);
    assert_prints(command, "TOKEN", "patient-value");
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(proxy.count(GET_SECRET_VALUE), 2);
}

#[test]
fn not_found_denied_and_invalid_requests_are_sent_once() {
    let absent = unique("absent");
    let reference = format!("aws-secret:{absent}");
    let proxy = Proxy::new();
    let outcome = assert_fails_with_code(
        through(&proxy, &[("TOKEN", &reference)]),
        &reference,
        "ResourceNotFoundException",
    );
    assert!(outcome.ends_with(NOT_FOUND_HINT), "{outcome}");
    assert_eq!(
        proxy.counts(),
        HashMap::from([(GET_SECRET_VALUE.into(), 1)])
    );

    let deleted = unique("deleted");
    emulator().put_secret(&deleted, "deleted-value");
    emulator().delete_secret(&deleted);
    let reference = format!("aws-secret:{deleted}");
    let proxy = Proxy::new();
    assert_fails_with_code(
        through(&proxy, &[("TOKEN", &reference)]),
        &reference,
        "InvalidRequestException",
    );
    assert_eq!(
        proxy.counts(),
        HashMap::from([(GET_SECRET_VALUE.into(), 1)])
    );

    let present = unique("present");
    emulator().put_secret(&present, "present-value");
    let reference = format!("aws-secret:{present}");
    for (fault, code) in [
        (Fault::Deny, "AccessDeniedException"),
        (Fault::Invalid, "ValidationException"),
    ] {
        let proxy = Proxy::new();
        proxy.inject(GET_SECRET_VALUE, fault, Times::Always);
        assert_fails_with_code(through(&proxy, &[("TOKEN", &reference)]), &reference, code);
        assert_eq!(
            proxy.counts(),
            HashMap::from([(GET_SECRET_VALUE.into(), 1)]),
            "{fault:?}"
        );
    }

    let missing = format!("/{}", unique("missing"));
    let reference = parameter_arn(REGION, &missing);
    let proxy = Proxy::new();
    assert_fails_with_code(
        through(&proxy, &[("TOKEN", &reference)]),
        &reference,
        "ParameterNotFound",
    );
    assert_eq!(proxy.counts(), HashMap::from([(GET_PARAMETER.into(), 1)]));
}

/// Checks that `command` fails closed for TOKEN = `reference` with the AWS
/// error `code`, and returns the error line.
fn assert_fails_with_code(mut command: Command, reference: &str, code: &str) -> String {
    let outcome = run(command.arg("true"));
    assert_eq!(outcome.code(), 125, "{}", outcome.stderr);
    let lines: Vec<&str> = outcome.stderr.lines().collect();
    let start = format!("{ERROR}TOKEN: cannot resolve {reference}: {code}: ");
    assert_eq!(lines.len(), 2, "{}", outcome.stderr);
    assert!(lines[0].starts_with(&start), "{}", outcome.stderr);
    lines[0].to_owned()
}

#[test]
fn a_fault_that_never_ends_fails_closed_at_the_deadline() {
    if skip_when_emulated(TIMING_UNDER_EMULATION) {
        return;
    }
    let name = unique("throttled-forever");
    emulator().put_secret(&name, "never-value");
    let reference = format!("aws-secret:{name}");
    for (fault, last) in [
        (Fault::Throttle, "ThrottlingException: Rate exceeded"),
        (Fault::Internal, "InternalFailure: Internal failure"),
        // A third of 2 s is less than the least time an attempt gets.
        (Fault::Hang, "an attempt got no answer within 1000 ms"),
    ] {
        let proxy = Proxy::new();
        proxy.inject(GET_SECRET_VALUE, fault, Times::Always);
        let mut command = through(&proxy, &[("TOKEN", &reference)]);
        command.args(["--timeout", "2s"]);
        let started = Instant::now();
        let outcome = assert_fails_with(
            command,
            &[format!(
                "{ERROR}TOKEN: cannot resolve {reference}: no answer within 2000 ms \
                 (--timeout); still retrying after {last}"
            )],
        );
        assert!(started.elapsed() >= Duration::from_secs(2));
        assert_no_secret(&outcome.stderr, &["never-value"]);
        // Retried, not given up after the SDK's usual 3 attempts.
        let count = proxy.count(GET_SECRET_VALUE);
        match fault {
            Fault::Hang => assert_eq!(count, 2, "{fault:?}"),
            _ => assert!(count > 3, "{fault:?}: {count} requests"),
        }
    }
}

#[test]
fn only_what_is_still_retrying_at_the_deadline_fails_with_it() {
    // The errors come in the order of the environment.
    if skip_when_emulated(ENVIRONMENT_ORDER_UNDER_QEMU) {
        return;
    }
    let name = unique("answered");
    emulator().put_secret(&name, "answered-value");
    let parameter = format!("/{}", unique("unanswered"));
    emulator().put_parameter(&parameter, "unanswered-value", "String");
    let absent = unique("absent");
    let (secret, ssm, missing) = (
        format!("aws-secret:{name}"),
        format!("aws-ssm:{parameter}"),
        format!("aws-secret:{absent}"),
    );
    let proxy = Proxy::new();
    proxy.inject(GET_PARAMETERS, Fault::Unavailable, Times::Always);
    let mut command = through(
        &proxy,
        &[
            ("SECRET", &secret),
            ("PARAMETER", &ssm),
            ("MISSING", &missing),
        ],
    );
    command.args(["--timeout", "1s", "true"]);
    let outcome = run(&mut command);
    assert_eq!(outcome.code(), 125, "{}", outcome.stderr);
    // In the order of the environment, which Command sorts by name.
    let lines: Vec<&str> = outcome.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{}", outcome.stderr);
    assert!(
        lines[0].starts_with(&format!(
            "{ERROR}MISSING: cannot resolve {missing}: ResourceNotFoundException: "
        )),
        "{}",
        outcome.stderr
    );
    assert_eq!(
        lines[1],
        format!(
            "{ERROR}PARAMETER: cannot resolve {ssm}: no answer within 1000 ms (--timeout); \
             still retrying after ServiceUnavailable: Unavailable"
        )
    );
    assert_eq!(
        lines[2],
        format!("{ERROR}2 reference(s) failed to resolve; the command was not started")
    );
}

#[test]
fn a_denied_get_parameters_falls_back_to_get_parameter() {
    let root = format!("/{}", unique("fallback"));
    let vars: Vec<(String, String)> = (0..12)
        .map(|i| {
            let name = format!("{root}/p{i:02}");
            emulator().put_parameter(&name, &format!("fallback-{i:02}"), "SecureString");
            (format!("P{i:02}"), format!("aws-ssm:{name}"))
        })
        .collect();
    let vars: Vec<(&str, &str)> = vars.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let proxy = Proxy::new();
    proxy.inject(GET_PARAMETERS, Fault::Deny, Times::Always);
    let names: Vec<&str> = vars.iter().map(|(name, _)| *name).collect();
    let outcome = run(through(&proxy, &vars).arg("printenv").args(&names));
    let expected: String = (0..12).map(|i| format!("fallback-{i:02}\n")).collect();
    assert_eq!(outcome.stdout, expected, "{}", outcome.stderr);
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    let lines: Vec<&str> = outcome.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", outcome.stderr);
    assert_eq!(
        lines[0],
        "aws-init: GetParameters was denied; reading parameters one at a time with GetParameter"
    );
    assert!(lines[1].starts_with("aws-init: resolved 12 variable(s) in "));
    assert_eq!(
        proxy.counts(),
        HashMap::from([(GET_PARAMETERS.into(), 2), (GET_PARAMETER.into(), 12)])
    );

    // With GetParameter denied too, each name fails on its own call.
    let proxy = Proxy::new();
    proxy.inject(GET_PARAMETERS, Fault::Deny, Times::Always);
    proxy.inject(GET_PARAMETER, Fault::Deny, Times::Always);
    let outcome = run(through(&proxy, &vars[..3]).arg("true"));
    assert_eq!(outcome.code(), 125, "{}", outcome.stderr);
    let denied = outcome
        .stderr
        .lines()
        .filter(|line| line.contains(": AccessDeniedException: "))
        .count();
    assert_eq!(denied, 3, "{}", outcome.stderr);
    assert_eq!(
        proxy.counts(),
        HashMap::from([(GET_PARAMETERS.into(), 1), (GET_PARAMETER.into(), 3)])
    );
}

/// Stores `count` secrets and returns the variables that refer to them.
fn many_secrets(count: usize) -> Vec<(String, String)> {
    (0..count)
        .map(|i| {
            let name = unique("many");
            emulator().put_secret(&name, &format!("many-{i}"));
            (format!("S{i:02}"), format!("aws-secret:{name}"))
        })
        .collect()
}

/// Resolves `vars` through `proxy` with the flags `args` and the
/// variables `options`, checks every value, and returns the most requests
/// that were in flight at once.
fn max_in_flight(
    proxy: &Proxy,
    vars: &[(String, String)],
    args: &[&str],
    options: &[(&str, &str)],
) -> usize {
    let vars: Vec<(&str, &str)> = vars.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let names: Vec<&str> = vars.iter().map(|(name, _)| *name).collect();
    let mut command = through(proxy, &vars);
    envs(&mut command, options);
    let outcome = run(command.args(args).arg("printenv").args(&names));
    let expected: String = (0..vars.len()).map(|i| format!("many-{i}\n")).collect();
    assert_eq!(outcome.stdout, expected, "{}", outcome.stderr);
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
    assert_eq!(proxy.count(GET_SECRET_VALUE), vars.len());
    proxy.max_in_flight()
}

#[test]
fn no_more_requests_than_the_concurrency_bound_are_in_flight() {
    let vars = many_secrets(20);
    // The delay keeps each request in flight long enough for the others
    // the bound allows to join it.
    let proxy = Proxy::new();
    proxy.delay(Duration::from_millis(300));
    assert_eq!(
        max_in_flight(&proxy, &vars, &["--concurrency", "3"], &[]),
        3
    );

    let proxy = Proxy::new();
    proxy.delay(Duration::from_millis(300));
    let variable = [("AWS_INIT_CONCURRENCY", "2")];
    assert_eq!(max_in_flight(&proxy, &vars, &[], &variable), 2);
}

#[test]
fn by_default_many_requests_are_in_flight_at_once() {
    let vars = many_secrets(20);
    let proxy = Proxy::new();
    proxy.delay(Duration::from_millis(300));
    let most = max_in_flight(&proxy, &vars, &[], &[]);
    assert!(most > 3, "{most} in flight");
}

#[test]
fn a_path_is_read_page_by_page_through_retries() {
    let root = format!("/{}", unique("paged"));
    for i in 0..25 {
        emulator().put_parameter(
            &format!("{root}/p{i:02}"),
            &format!("paged-{i:02}"),
            "String",
        );
    }
    // The emulator answers 10 parameters a page.
    for (faults, calls) in [(0, 3), (2, 5)] {
        let proxy = Proxy::new();
        if faults > 0 {
            proxy.inject(GET_PARAMETERS_BY_PATH, Fault::Throttle, Times::Next(faults));
        }
        let mut command = through(&proxy, &[]);
        command.args(["--ssm-path", &root]);
        let (outcome, seen) = environment_seen(&mut command);
        assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
        for i in 0..25 {
            assert_eq!(
                seen.get(format!("P{i:02}").as_bytes()).map(Vec::as_slice),
                Some(format!("paged-{i:02}").as_bytes())
            );
        }
        assert_eq!(
            proxy.counts(),
            HashMap::from([(GET_PARAMETERS_BY_PATH.into(), calls)])
        );
    }
}
