//! Unit tests for the command line and the `AWS_INIT_*` variables.

use super::*;

fn args(list: &[&str]) -> Vec<OsString> {
    list.iter().map(OsString::from).collect()
}

fn parse_with(list: &[&str], vars: &[(&str, &str)]) -> Result<Action, UsageError> {
    parse_usage(list, vars).map_err(|usage| usage.error)
}

fn parse_usage(list: &[&str], vars: &[(&str, &str)]) -> Result<Action, Usage> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    parse(args(list), |name| {
        vars.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| OsString::from(value))
    })
}

fn defaults() -> Options {
    Options {
        log_level: Level::Info,
        log_format: Format::Text,
        bare_arns: true,
        literal: Vec::new(),
        ssm_paths: Vec::new(),
        secret_jsons: Vec::new(),
        grace_period: None,
        timeout: DEFAULT_TIMEOUT,
        concurrency: DEFAULT_CONCURRENCY,
        subreaper: false,
        single_child: false,
        rewrites: Vec::new(),
    }
}

fn run(options: Options, command: &[&str]) -> Result<Action, UsageError> {
    Ok(Action::Run {
        options,
        command: args(command),
    })
}

#[test]
fn parsing_stops_at_the_first_non_option() {
    assert_eq!(
        parse_with(&["sh", "-c", "echo --help"], &[]),
        run(defaults(), &["sh", "-c", "echo --help"])
    );
}

#[test]
fn double_dash_ends_the_options() {
    assert_eq!(
        parse_with(&["--", "--help"], &[]),
        run(defaults(), &["--help"])
    );
}

#[test]
fn help_version_and_health_check() {
    assert_eq!(parse_with(&["--help"], &[]), Ok(Action::Help));
    for flag in ["-V", "-v", "--version"] {
        assert_eq!(parse_with(&[flag], &[]), Ok(Action::Version));
    }
    for flag in ["-h", "--health-check"] {
        assert_eq!(
            parse_with(&[flag], &[]),
            Ok(Action::HealthCheck(defaults()))
        );
    }
}

#[test]
fn every_option_with_its_value() {
    let expected = Options {
        log_level: Level::Debug,
        log_format: Format::Json,
        bare_arns: false,
        literal: vec!["A".into(), "B".into()],
        ssm_paths: vec!["/app".into(), "/shared".into()],
        secret_jsons: vec!["app/config".into()],
        grace_period: Some(Duration::from_millis(1500)),
        timeout: Duration::from_secs(5),
        concurrency: 3,
        subreaper: true,
        single_child: true,
        rewrites: vec![(libc::SIGTERM, libc::SIGQUIT), (libc::SIGUSR1, 0)],
    };
    assert_eq!(
        parse_with(
            &[
                "--log-level",
                "debug",
                "--log-format",
                "json",
                "--no-bare-arns",
                "--literal",
                "A",
                "--literal=B",
                "--ssm-path",
                "/app",
                "--ssm-path=/shared",
                "--secret-json",
                "app/config",
                "--grace-period=1500ms",
                "--timeout",
                "5s",
                "--concurrency",
                "3",
                "--subreaper",
                "--single-child",
                "--rewrite",
                "TERM:QUIT",
                "--rewrite=10:0",
                "app",
            ],
            &[]
        ),
        run(expected, &["app"])
    );
}

#[test]
fn every_option_from_its_variable() {
    let expected = Options {
        log_level: Level::Error,
        log_format: Format::Json,
        bare_arns: false,
        literal: vec!["A".into(), "B".into()],
        ssm_paths: vec!["/app".into(), "/shared".into(), "/flag".into()],
        secret_jsons: vec![
            "a".into(),
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:b".into(),
        ],
        grace_period: Some(Duration::from_secs(10)),
        timeout: Duration::from_millis(250),
        concurrency: 200,
        subreaper: true,
        single_child: true,
        rewrites: vec![
            (libc::SIGTERM, libc::SIGQUIT),
            (libc::SIGHUP, libc::SIGUSR2),
        ],
    };
    assert_eq!(
        parse_with(
            &["--ssm-path", "/flag", "app"],
            &[
                ("AWS_INIT_SSM_PATH", "/app, /shared"),
                (
                    "AWS_INIT_SECRET_JSON",
                    "a,arn:aws:secretsmanager:us-east-1:123456789012:secret:b",
                ),
                ("AWS_INIT_LOG_LEVEL", "error"),
                ("AWS_INIT_LOG_FORMAT", "JSON"),
                ("AWS_INIT_BARE_ARNS", "0"),
                ("AWS_INIT_LITERAL", "A, B"),
                ("AWS_INIT_GRACE_PERIOD", "10s"),
                ("AWS_INIT_TIMEOUT", "250ms"),
                ("AWS_INIT_CONCURRENCY", "200"),
                ("AWS_INIT_SUBREAPER", "1"),
                ("AWS_INIT_SINGLE_CHILD", "true"),
                ("AWS_INIT_REWRITE", "15:3, SIGHUP:usr2"),
            ]
        ),
        run(expected, &["app"])
    );
}

#[test]
fn flags_win_over_variables() {
    let expected = Options {
        log_level: Level::Warn,
        grace_period: Some(Duration::from_secs(120)),
        ..defaults()
    };
    assert_eq!(
        parse_with(
            &[
                "--log-level",
                "warn",
                "--grace-period",
                "2m",
                "--log-format=text",
                "app"
            ],
            &[
                ("AWS_INIT_LOG_LEVEL", "debug"),
                ("AWS_INIT_LOG_FORMAT", "json"),
                ("AWS_INIT_GRACE_PERIOD", "1s")
            ]
        ),
        run(expected, &["app"])
    );
}

#[test]
fn durations() {
    for (text, millis) in [
        ("10s", 10_000),
        ("1500ms", 1_500),
        ("3", 3_000),
        ("1h", 3_600_000),
        ("0s", 0),
    ] {
        assert_eq!(
            parse_duration("--grace-period", text),
            Ok(Duration::from_millis(millis)),
            "{text}"
        );
    }
    for text in [
        "",
        "s",
        "1.5s",
        "-1s",
        "10 s",
        "10d",
        "99999999999999999999h",
    ] {
        assert!(parse_duration("--grace-period", text).is_err(), "{text}");
    }
}

#[test]
fn usage_errors() {
    assert_eq!(parse_with(&[], &[]), Err(UsageError::NoCommand));
    assert_eq!(
        parse_with(&["--log-level"], &[]),
        Err(UsageError::MissingValue("--log-level"))
    );
    assert_eq!(
        parse_with(&["--bogus", "app"], &[]),
        Err(UsageError::UnknownOption("--bogus".into()))
    );
    assert_eq!(
        parse_with(&["--no-bare-arns=1", "app"], &[]),
        Err(UsageError::UnexpectedValue("--no-bare-arns"))
    );
    assert!(matches!(
        parse_with(&["app"], &[("AWS_INIT_BARE_ARNS", "maybe")]),
        Err(UsageError::InvalidValue { .. })
    ));
    assert!(matches!(
        parse_with(&["--log-level", "loud", "app"], &[]),
        Err(UsageError::InvalidValue { .. })
    ));
    for name in ["", "A=B"] {
        assert!(matches!(
            parse_with(&["--literal", name, "app"], &[]),
            Err(UsageError::InvalidValue { .. })
        ));
    }
    assert!(matches!(
        parse_with(&["app"], &[("AWS_INIT_LITERAL", "A,B=C")]),
        Err(UsageError::InvalidValue { .. })
    ));
    for count in ["0", "-1", "4097", "1.5", "", "ten"] {
        assert!(matches!(
            parse_with(&["--concurrency", count, "app"], &[]),
            Err(UsageError::InvalidValue { .. })
        ));
    }
    assert_eq!(parse_concurrency("--concurrency", "1"), Ok(1));
    assert_eq!(parse_concurrency("--concurrency", "4096"), Ok(4096));
    for zero in ["0", "0s", "0ms"] {
        assert!(matches!(
            parse_with(&["--timeout", zero, "app"], &[]),
            Err(UsageError::InvalidValue { .. })
        ));
        assert!(matches!(
            parse_with(&["app"], &[("AWS_INIT_TIMEOUT", zero)]),
            Err(UsageError::InvalidValue { .. })
        ));
    }
}

#[test]
fn empty_variables_count_as_unset() {
    assert_eq!(
        parse_with(&["app"], &[("AWS_INIT_LOG_LEVEL", "")]),
        run(defaults(), &["app"])
    );
}

#[test]
fn a_health_check_takes_no_command() {
    assert_eq!(
        parse_with(&["-h", "app"], &[]),
        Err(UsageError::HealthCheckCommand)
    );
}

#[test]
fn a_rewrite_flag_wins_over_the_variable_for_the_same_signal() {
    let Ok(Action::Run { options, .. }) = parse_with(
        &["--rewrite", "TERM:INT", "app"],
        &[("AWS_INIT_REWRITE", "TERM:QUIT,HUP:0")],
    ) else {
        panic!("expected a run");
    };
    assert_eq!(options.rewrite(libc::SIGTERM), libc::SIGINT);
    assert_eq!(options.rewrite(libc::SIGHUP), 0);
    assert_eq!(options.rewrite(libc::SIGUSR1), libc::SIGUSR1);
}

#[test]
fn signals_by_name_number_and_real_time_offset() {
    let rtmin = libc::SIGRTMIN();
    let rtmax = libc::SIGRTMAX();
    for (text, signal) in [
        ("TERM", libc::SIGTERM),
        ("sigterm", libc::SIGTERM),
        ("SIGQUIT", libc::SIGQUIT),
        ("3", libc::SIGQUIT),
        ("RTMIN", rtmin),
        ("RTMIN+2", rtmin + 2),
        ("SIGRTMAX-1", rtmax - 1),
        ("64", 64),
    ] {
        assert_eq!(
            parse_rewrite("--rewrite", &format!("{text}:0")),
            Ok((signal, 0)),
            "{text}"
        );
    }
}

#[test]
fn rejects_rewrites_of_signals_that_cannot_be_forwarded() {
    for text in [
        "KILL:TERM",
        "STOP:TERM",
        "CHLD:TERM",
        "0:TERM",
        "TERM",
        "TERM:NOPE",
        "65:1",
        "RTMIN-1:1",
        "RTMAX+1:1",
        "TERM:-1",
    ] {
        assert!(
            matches!(
                parse_with(&["--rewrite", text, "app"], &[]),
                Err(UsageError::InvalidValue { .. })
            ),
            "{text}"
        );
    }
}

#[test]
fn a_flag_wins_over_a_variable_that_would_not_parse() {
    let broken = [
        ("AWS_INIT_LOG_LEVEL", "bogus"),
        ("AWS_INIT_LOG_FORMAT", "yaml"),
        ("AWS_INIT_BARE_ARNS", "maybe"),
        ("AWS_INIT_TIMEOUT", "abc"),
        ("AWS_INIT_CONCURRENCY", "many"),
        ("AWS_INIT_GRACE_PERIOD", "soon"),
        ("AWS_INIT_SUBREAPER", "perhaps"),
        ("AWS_INIT_SINGLE_CHILD", "sometimes"),
    ];
    let flags = [
        "--log-level",
        "debug",
        "--log-format",
        "json",
        "--no-bare-arns",
        "--timeout",
        "5s",
        "--concurrency",
        "8",
        "--grace-period",
        "2s",
        "--subreaper",
        "--single-child",
        "true",
    ];
    let mut options = defaults();
    options.log_level = Level::Debug;
    options.log_format = Format::Json;
    options.bare_arns = false;
    options.timeout = Duration::from_secs(5);
    options.concurrency = 8;
    options.grace_period = Some(Duration::from_secs(2));
    options.subreaper = true;
    options.single_child = true;
    assert_eq!(parse_with(&flags, &broken), run(options, &["true"]));
    // Without its flag, each broken variable is still an error.
    for (name, value) in broken {
        assert!(
            matches!(
                parse_with(&["true"], &[(name, value)]),
                Err(UsageError::InvalidValue { source_name, .. }) if source_name == name
            ),
            "{name}"
        );
    }
    assert_eq!(parse_with(&["--help"], &broken), Ok(Action::Help));
}

#[test]
fn check_and_offline() {
    let check = |offline| {
        Ok(Action::Check {
            options: defaults(),
            offline,
        })
    };
    assert_eq!(parse_with(&["--check"], &[]), check(false));
    assert_eq!(parse_with(&["--check", "--offline"], &[]), check(true));
    assert_eq!(
        parse_with(&["--offline", "--check", "app", "--serve"], &[]),
        check(true)
    );
    assert_eq!(
        parse_with(&["--offline", "app"], &[]),
        Err(UsageError::OfflineWithoutCheck)
    );
    assert_eq!(
        parse_with(&["--check", "--health-check"], &[]),
        Err(UsageError::CheckAndHealthCheck)
    );
}

#[test]
fn log_formats() {
    for (text, format) in [
        ("text", Format::Text),
        ("json", Format::Json),
        ("Json", Format::Json),
    ] {
        let expected = Options {
            log_format: format,
            ..defaults()
        };
        assert_eq!(
            parse_with(&["--log-format", text, "app"], &[]),
            run(expected, &["app"]),
            "{text}"
        );
    }
    assert_eq!(
        parse_with(&["--log-format", "yaml", "app"], &[]),
        Err(UsageError::InvalidValue {
            source_name: "--log-format",
            value: "yaml".into(),
            reason: "expected text or json",
        })
    );
    assert_eq!(
        parse_with(&["app"], &[("AWS_INIT_LOG_FORMAT", "")]),
        run(defaults(), &["app"])
    );
}

#[test]
fn a_usage_error_is_reported_in_the_format_known_so_far() {
    let format = |list: &[&str], vars: &[(&str, &str)]| match parse_usage(list, vars) {
        Err(usage) => usage.log_format,
        Ok(action) => panic!("parsed: {action:?}"),
    };
    let json = [("AWS_INIT_LOG_FORMAT", "json")];
    assert_eq!(format(&["--bogus"], &[]), Format::Text);
    assert_eq!(format(&["--bogus"], &json), Format::Json);
    assert_eq!(
        format(&["--log-format", "json", "--bogus"], &[]),
        Format::Json
    );
    assert_eq!(
        format(&["--log-format", "text", "--bogus"], &json),
        Format::Text
    );
    // A flag after the mistake is never read, and a broken format cannot
    // be used.
    assert_eq!(
        format(&["--bogus", "--log-format", "json"], &[]),
        Format::Text
    );
    assert_eq!(
        format(&["--log-format", "yaml", "app"], &json),
        Format::Json
    );
    assert_eq!(
        format(&["app"], &[("AWS_INIT_LOG_FORMAT", "yaml")]),
        Format::Text
    );
    assert_eq!(
        format(
            &["app"],
            &[("AWS_INIT_LOG_FORMAT", "json"), ("AWS_INIT_TIMEOUT", "0")]
        ),
        Format::Json
    );
    assert_eq!(format(&[], &json), Format::Json);
}
