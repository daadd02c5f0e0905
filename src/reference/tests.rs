//! Unit tests for the reference parser.

use super::*;

const SECRET_ARN: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/token-AbCdEf";
const PARAMETER_ARN: &str = "arn:aws:ssm:eu-west-1:123456789012:parameter/app/token";

fn secret(id: &str, region: Option<&str>, key: Option<&str>) -> Option<Reference> {
    versioned(id, region, key, None, None)
}

fn versioned(
    id: &str,
    region: Option<&str>,
    key: Option<&str>,
    stage: Option<&str>,
    version_id: Option<&str>,
) -> Option<Reference> {
    Some(Reference {
        source: Source::Secret {
            id: id.to_owned(),
            version: SecretVersion {
                stage: stage.map(str::to_owned),
                id: version_id.map(str::to_owned),
            },
        },
        region: region.map(str::to_owned),
        key: key.map(str::to_owned),
        missing: Missing::Fail,
    })
}

fn parameter(name: &str, region: Option<&str>, key: Option<&str>) -> Option<Reference> {
    Some(Reference {
        source: Source::Parameter {
            name: name.to_owned(),
        },
        region: region.map(str::to_owned),
        key: key.map(str::to_owned),
        missing: Missing::Fail,
    })
}

#[test]
fn secret_by_name() {
    assert_eq!(
        parse("aws-secret:myapp/db", true),
        Ok(secret("myapp/db", None, None))
    );
}

#[test]
fn secret_with_key() {
    assert_eq!(
        parse("aws-secret:myapp/db#password", true),
        Ok(secret("myapp/db", None, Some("password")))
    );
}

#[test]
fn key_keeps_everything_after_the_first_hash() {
    assert_eq!(
        parse("aws-secret:myapp/db#a#b.c", true),
        Ok(secret("myapp/db", None, Some("a#b.c")))
    );
}

#[test]
fn secret_by_arn_takes_the_arn_region() {
    let value = format!("aws-secret:{SECRET_ARN}#password");
    assert_eq!(
        parse(&value, true),
        Ok(secret(SECRET_ARN, Some("eu-west-1"), Some("password")))
    );
}

#[test]
fn secret_through_parameter_store() {
    assert_eq!(
        parse(
            "aws-secret:/aws/reference/secretsmanager/myapp/db#user",
            true
        ),
        Ok(parameter(
            "/aws/reference/secretsmanager/myapp/db",
            None,
            Some("user")
        ))
    );
}

#[test]
fn parameter_by_name_and_path() {
    assert_eq!(
        parse("aws-ssm:/myapp/token", true),
        Ok(parameter("/myapp/token", None, None))
    );
    assert_eq!(
        parse("aws-ssm:plain#k", true),
        Ok(parameter("plain", None, Some("k")))
    );
}

#[test]
fn parameter_by_arn_takes_the_arn_region() {
    let value = format!("aws-ssm:{PARAMETER_ARN}");
    assert_eq!(
        parse(&value, true),
        Ok(parameter(PARAMETER_ARN, Some("eu-west-1"), None))
    );
}

#[test]
fn bare_secret_and_parameter_arns_are_references() {
    assert_eq!(
        parse(SECRET_ARN, true),
        Ok(secret(SECRET_ARN, Some("eu-west-1"), None))
    );
    assert_eq!(
        parse(PARAMETER_ARN, true),
        Ok(parameter(PARAMETER_ARN, Some("eu-west-1"), None))
    );
}

#[test]
fn bare_arns_can_be_switched_off() {
    assert_eq!(parse(SECRET_ARN, false), Ok(None));
    assert_eq!(parse(PARAMETER_ARN, false), Ok(None));
    // The explicit schemes still work.
    assert!(parse("aws-ssm:/x", false).unwrap().is_some());
}

#[test]
fn other_arns_pass_through() {
    for value in [
        "arn:aws:iam::123456789012:role/my-irsa-role",
        "arn:aws:sqs:us-east-1:123456789012:my-queue",
        "arn:aws:secretsmanager:us-east-1:123456789012:other:thing",
        "arn:aws:ssm:us-east-1:123456789012:document/doc",
        "arn:nonsense",
    ] {
        assert_eq!(parse(value, true), Ok(None), "{value}");
    }
}

#[test]
fn ordinary_values_are_not_references() {
    for value in [
        "",
        "hello",
        "postgres://user@host/db",
        "aws-secretx",
        "aws-secret/x",
        "aws:x",
        "aws-lambda:x",
        "https://aws-secret.example/x",
        "arn:aws:iam::123456789012:role/app",
    ] {
        assert_eq!(parse(value, true), Ok(None), "{value:?}");
    }
}

#[test]
fn empty_names_and_keys_are_errors() {
    assert_eq!(parse("aws-secret:", true), Err(ReferenceError::EmptyName));
    assert_eq!(parse("aws-secret:#k", true), Err(ReferenceError::EmptyName));
    assert_eq!(parse("aws-ssm:", true), Err(ReferenceError::EmptyName));
    assert_eq!(parse("aws-ssm:/", true), Err(ReferenceError::EmptyName));
    assert_eq!(
        parse("aws-secret:app#", true),
        Err(ReferenceError::EmptyKey)
    );
    assert_eq!(
        parse("aws-secret:/aws/reference/secretsmanager/", true),
        Err(ReferenceError::EmptyName)
    );
}

#[test]
fn pointer_keys_are_kept_and_checked() {
    assert_eq!(
        parse("aws-secret:app#/a~1b/0", true),
        Ok(secret("app", None, Some("/a~1b/0")))
    );
    assert_eq!(
        parse("aws-ssm:/app/db#/creds/pass", true),
        Ok(parameter("/app/db", None, Some("/creds/pass")))
    );
    assert_eq!(
        parse("aws-secret:app#/a~2", true),
        Err(ReferenceError::BadPointer)
    );
    assert_eq!(
        parse("aws-secret:app#/a~", true),
        Err(ReferenceError::BadPointer)
    );
}

#[test]
fn pointer_tokens_decode_escapes_in_order() {
    assert_eq!(
        pointer_tokens("/~01/~10/"),
        Some(vec!["~1".to_owned(), "/0".to_owned(), String::new()])
    );
    assert_eq!(pointer_tokens("/"), Some(vec![String::new()]));
    assert_eq!(pointer_tokens("/a~2"), None);
    assert_eq!(pointer_tokens("a"), None);
}

#[test]
fn secret_versions_by_stage_and_id() {
    assert_eq!(
        parse("aws-secret:app/db?version-stage=AWSPREVIOUS#password", true),
        Ok(versioned(
            "app/db",
            None,
            Some("password"),
            Some("AWSPREVIOUS"),
            None
        ))
    );
    assert_eq!(
        parse("aws-secret:app/db?version-id=EXAMPLE1-90ab", true),
        Ok(versioned("app/db", None, None, None, Some("EXAMPLE1-90ab")))
    );
    assert_eq!(
        parse("aws-secret:app/db?version-stage=S&version-id=I", true),
        Ok(versioned("app/db", None, None, Some("S"), Some("I")))
    );
    // The first `#` starts the key, which may hold `?` and `#`.
    assert_eq!(
        parse("aws-secret:app/db?version-stage=S#k?x#y", true),
        Ok(versioned("app/db", None, Some("k?x#y"), Some("S"), None))
    );
    assert_eq!(
        parse(&format!("aws-secret:{SECRET_ARN}?version-stage=S"), true),
        Ok(versioned(
            SECRET_ARN,
            Some("eu-west-1"),
            None,
            Some("S"),
            None
        ))
    );
}

#[test]
fn bad_secret_selectors_are_errors() {
    for (text, error) in [
        (
            "aws-secret:app?versionStage=S",
            ReferenceError::UnknownOption {
                name: "versionStage".into(),
                expected: options::SECRET_OPTIONS,
            },
        ),
        (
            "aws-secret:app?",
            ReferenceError::UnknownOption {
                name: "<redacted>".into(),
                expected: options::SECRET_OPTIONS,
            },
        ),
        (
            "aws-secret:app?version-stage=",
            ReferenceError::EmptySelector("version-stage"),
        ),
        (
            "aws-secret:app?version-id",
            ReferenceError::EmptySelector("version-id"),
        ),
        (
            "aws-secret:app?version-stage=A&version-stage=B",
            ReferenceError::RepeatedSelector("version-stage"),
        ),
        (
            "aws-secret:/aws/reference/secretsmanager/app?version-stage=A",
            ReferenceError::SelectorOnReferencePath,
        ),
        // The same path through `aws-ssm:` takes no selector either.
        (
            "aws-ssm:/aws/reference/secretsmanager/app:stable",
            ReferenceError::SelectorOnReferencePath,
        ),
        (
            "aws-ssm:/aws/reference/secretsmanager/app:2#k",
            ReferenceError::SelectorOnReferencePath,
        ),
    ] {
        assert_eq!(parse(text, true), Err(error), "{text}");
    }
}

#[test]
fn parameter_versions_and_labels_stay_in_the_name() {
    assert_eq!(
        parse("aws-ssm:/app/token:3", true),
        Ok(parameter("/app/token:3", None, None))
    );
    assert_eq!(
        parse("aws-ssm:/app/db:prod-1.a_b#password", true),
        Ok(parameter("/app/db:prod-1.a_b", None, Some("password")))
    );
    assert_eq!(
        parse(&format!("{PARAMETER_ARN}:2"), true),
        Ok(parameter(
            &format!("{PARAMETER_ARN}:2"),
            Some("eu-west-1"),
            None
        ))
    );
    for selector in ["", "3a", "a:b", "a b", "a/b"] {
        assert_eq!(
            parse(&format!("aws-ssm:/app/token:{selector}"), true),
            Err(ReferenceError::BadParameterSelector(selector.into())),
            "{selector:?}"
        );
    }
    assert_eq!(
        parse("aws-ssm:/app/token?version-stage=S", true),
        Err(ReferenceError::VersionOnParameter)
    );
}

#[test]
fn secret_scheme_rejects_another_services_arn() {
    let value = format!("aws-secret:{PARAMETER_ARN}");
    assert_eq!(
        parse(&value, true),
        Err(ReferenceError::WrongService {
            expected: "Secrets Manager secret",
            found: "ssm".to_owned()
        })
    );
    let value = format!("aws-ssm:{SECRET_ARN}");
    assert!(matches!(
        parse(&value, true),
        Err(ReferenceError::WrongService { .. })
    ));
}

#[test]
fn partition_must_match_the_region() {
    assert_eq!(
        parse(
            "arn:aws:secretsmanager:cn-north-1:123456789012:secret:x",
            true
        ),
        Err(ReferenceError::WrongPartition {
            partition: "aws".to_owned(),
            region: "cn-north-1".to_owned()
        })
    );
    assert_eq!(
        parse(
            "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:x",
            true
        ),
        Ok(secret(
            "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:x",
            Some("cn-north-1"),
            None
        ))
    );
    assert_eq!(
        parse("arn:aws-moon:ssm:us-east-1:123456789012:parameter/x", true),
        Err(ReferenceError::UnknownPartition("aws-moon".to_owned()))
    );
}

#[test]
fn malformed_secret_arns_are_errors() {
    assert_eq!(
        parse("arn:aws:secretsmanager::123456789012:secret:x", true),
        Err(ReferenceError::BadArn("the region is empty"))
    );
    assert_eq!(
        parse("arn:aws:secretsmanager:us-east-1:1234:secret:x", true),
        Err(ReferenceError::BadArn("the account must be 12 digits"))
    );
    assert_eq!(
        parse("aws-secret:arn:aws:secretsmanager:us-east-1", true),
        Err(ReferenceError::BadArn("expected six fields"))
    );
    assert_eq!(
        parse(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:",
            true
        ),
        Err(ReferenceError::EmptyName)
    );
}

#[test]
fn the_ecs_long_form_takes_key_stage_and_id_fields() {
    let base = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf";
    let region = Some("us-east-1");
    for (suffix, key, stage, id) in [
        ("", None, None, None),
        (":", None, None, None),
        (":::", None, None, None),
        (":password", Some("password"), None, None),
        (":password::", Some("password"), None, None),
        (
            ":password:AWSPREVIOUS:",
            Some("password"),
            Some("AWSPREVIOUS"),
            None,
        ),
        ("::AWSPREVIOUS", None, Some("AWSPREVIOUS"), None),
        (":::EXAMPLE1-90ab", None, None, Some("EXAMPLE1-90ab")),
        // ECS keys are plain keys, so one that starts with `/` becomes
        // the pointer to that top-level key.
        (":/db/pass:S:I", Some("/~1db~1pass"), Some("S"), Some("I")),
        (":/a~2", Some("/~1a~02"), None, None),
    ] {
        let text = format!("{base}{suffix}");
        assert_eq!(
            parse(&text, true),
            Ok(versioned(base, region, key, stage, id)),
            "{text}"
        );
        let prefixed = format!("aws-secret:{text}");
        assert_eq!(
            parse(&prefixed, true),
            Ok(versioned(base, region, key, stage, id)),
            "{prefixed}"
        );
    }
}

#[test]
fn the_ecs_long_form_is_checked() {
    let base = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf";
    for (suffix, error) in [
        (":k:s:i:x", ReferenceError::EcsTooManyFields),
        (":k#other", ReferenceError::EcsAndSelector),
        ("::s?version-id=i", ReferenceError::EcsAndSelector),
        // `?version-stage=` could not write these back.
        ("::~0&", ReferenceError::AmpersandInVersion),
        (":k::a&b", ReferenceError::AmpersandInVersion),
    ] {
        let text = format!("{base}{suffix}");
        assert_eq!(parse(&text, true), Err(error), "{text}");
    }
}

#[test]
fn a_reference_that_is_not_utf8_is_an_error() {
    assert_eq!(
        check_not_utf8(b"aws-secret:app\xff", true),
        Err(ReferenceError::NotUtf8)
    );
    assert_eq!(
        check_not_utf8(b"aws-ssm:\xff", true),
        Err(ReferenceError::NotUtf8)
    );
    let bare = b"arn:aws:secretsmanager:us-east-1:123456789012:secret:app/\xff";
    assert_eq!(check_not_utf8(bare, true), Err(ReferenceError::NotUtf8));
    assert_eq!(check_not_utf8(bare, false), Ok(None));
    assert_eq!(check_not_utf8(b"plain \xff", true), Ok(None));
    assert_eq!(
        check_not_utf8(b"arn:aws:iam::123456789012:role/\xff", true),
        Ok(None)
    );
}

#[test]
fn colons_in_secret_names_are_errors() {
    assert_eq!(
        parse("aws-secret:app/x:AWSCURRENT", true),
        Err(ReferenceError::ColonInSecretName)
    );
}

#[test]
fn parameter_paths_are_reserved() {
    assert_eq!(
        parse("aws-ssm:/app/prod/", true),
        Err(ReferenceError::ParameterPath)
    );
}

#[test]
fn misspelt_schemes_are_errors() {
    let cases = [
        ("aws-secrets:x", "aws-secrets:", SECRET_SCHEME),
        ("aws-secert:x", "aws-secert:", SECRET_SCHEME),
        ("aws_secret:x", "aws_secret:", SECRET_SCHEME),
        ("AWS-SECRET:x", "AWS-SECRET:", SECRET_SCHEME),
        (" aws-secret:x", " aws-secret:", SECRET_SCHEME),
        ("awssecret:x", "awssecret:", SECRET_SCHEME),
        ("aws-sm:x", "aws-sm:", PARAMETER_SCHEME),
        ("aws-ssm-x:y", "aws-ssm-x:", PARAMETER_SCHEME),
        ("AWS-SSM:/x", "AWS-SSM:", PARAMETER_SCHEME),
        ("aws-secre:x", "aws-secre:", SECRET_SCHEME),
        ("aws-sso:x", "aws-sso:", PARAMETER_SCHEME),
        // One character each, however many bytes it takes.
        ("aws-secret\u{20ac}:x", "aws-secret\u{20ac}:", SECRET_SCHEME),
        (
            "aws-secr\u{e9}\u{e9}:x",
            "aws-secr\u{e9}\u{e9}:",
            SECRET_SCHEME,
        ),
        ("aws-\u{1f511}sm:x", "aws-\u{1f511}sm:", PARAMETER_SCHEME),
    ];
    for (value, found, expected) in cases {
        assert_eq!(
            parse(value, true),
            Err(ReferenceError::MisspeltScheme {
                found: found.to_owned(),
                expected,
            }),
            "{value:?}"
        );
    }
}

/// A byte that is not UTF-8 reads as one character, U+FFFD.
#[test]
fn a_misspelt_scheme_that_is_not_utf8_is_an_error() {
    assert_eq!(
        check_not_utf8(b"aws-secre\xff:x", true),
        Err(ReferenceError::MisspeltScheme {
            found: "aws-secre\u{fffd}:".to_owned(),
            expected: SECRET_SCHEME,
        })
    );
}

#[test]
fn three_edits_away_is_not_a_scheme() {
    for value in [
        "aws-secretsxy:x",
        "aws-region:x",
        "aw-sec:x",
        "my-secret:x",
        "aws-secret\u{20ac}\u{20ac}\u{20ac}:x",
    ] {
        assert_eq!(parse(value, true), Ok(None), "{value:?}");
    }
}

#[test]
fn optional_and_default_on_every_form() {
    let missing = |text: &str| parse(text, true).unwrap().unwrap().missing;
    let default = |value: &[u8]| Missing::Default(zeroize::Zeroizing::new(value.to_vec()));
    assert_eq!(missing("aws-secret:app?optional"), Missing::Unset);
    assert_eq!(missing("aws-secret:app?optional#key"), Missing::Unset);
    assert_eq!(missing("aws-secret:app?default=a%26b#key"), default(b"a&b"));
    assert_eq!(missing("aws-ssm:/app/token?optional"), Missing::Unset);
    assert_eq!(missing("aws-ssm:/app/token?default=x"), default(b"x"));
    // A version or label hides whether the value itself exists.
    for text in [
        "aws-secret:app?version-stage=S&default=x#key",
        "aws-secret:app?optional&version-id=I",
        "aws-ssm:/app/token:3?default=x",
        "aws-ssm:/app/token:stable?optional",
        &format!("{PARAMETER_ARN}:2?optional"),
        &format!("{SECRET_ARN}:password:AWSPREVIOUS:?optional"),
    ] {
        assert_eq!(
            parse(text, true),
            Err(ReferenceError::VersionAndStandIn),
            "{text}"
        );
    }
    assert_eq!(
        missing(&format!("{PARAMETER_ARN}?optional")),
        Missing::Unset
    );
    assert_eq!(
        missing(&format!("{SECRET_ARN}:password::?optional")),
        Missing::Unset
    );
    assert_eq!(
        missing("aws-secret:/aws/reference/secretsmanager/app?optional"),
        Missing::Unset
    );
    assert_eq!(missing("aws-secret:app"), Missing::Fail);
}

#[test]
fn an_error_shows_only_the_prefix_of_a_value_that_looks_misspelt() {
    let value = "aws-s3:SuperSecretValue123";
    let error = parse(value, true).unwrap_err();
    assert_eq!(error.shown(value), "aws-s3:<redacted>");
    assert_eq!(
        check_not_utf8(b"aws-s3:Super\xffSecret", true),
        Err(ReferenceError::MisspeltScheme {
            found: "aws-s3:".to_owned(),
            expected: PARAMETER_SCHEME,
        })
    );
    // A reference is shown, with its default hidden.
    let value = "aws-ssm:/x:3a?default=hunter2";
    let error = parse(value, true).unwrap_err();
    assert_eq!(error.shown(value), "aws-ssm:/x:3a?default=<redacted>");
}
