//! A property test of the parser: inputs built from the grammar's own
//! pieces, some of them then mutated, never make it panic, and whatever it
//! accepts comes back unchanged from its canonical text. A count of each
//! grammar form among the accepted inputs shows that the generator reaches
//! them all.

use std::collections::BTreeMap;

use super::*;

/// Writes `reference` back as text, in one canonical form for each source.
fn render(reference: &Reference) -> String {
    let mut text = match &reference.source {
        Source::Secret { id, .. } => format!("{SECRET_SCHEME}{id}"),
        // A secret read through Parameter Store is checked as a secret's
        // name, which may end in `/`.
        Source::Parameter { name } if name.starts_with(SECRETS_MANAGER_PATH) => {
            format!("{SECRET_SCHEME}{name}")
        }
        Source::Parameter { name } => format!("{PARAMETER_SCHEME}{name}"),
    };
    let mut options = Vec::new();
    if let Source::Secret { version, .. } = &reference.source {
        if let Some(stage) = &version.stage {
            options.push(format!("version-stage={stage}"));
        }
        if let Some(id) = &version.id {
            options.push(format!("version-id={id}"));
        }
    }
    match &reference.missing {
        Missing::Fail => {}
        Missing::Unset => options.push("optional".to_owned()),
        Missing::Default(value) => {
            let encoded: String = value.iter().map(|byte| format!("%{byte:02X}")).collect();
            options.push(format!("default={encoded}"));
        }
    }
    if !options.is_empty() {
        text.push('?');
        text.push_str(&options.join("&"));
    }
    if let Some(key) = &reference.key {
        text.push('#');
        text.push_str(key);
    }
    text
}

/// A small, seeded generator, so that a failure can be replayed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    /// True once in `times` on average.
    fn one_in(&mut self, times: u64) -> bool {
        self.next().is_multiple_of(times)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

// The grammar's pieces, valid ones first and some that break a rule after
// them.

const SECRET_NAMES: &[&str] = &[
    "app",
    "myapp/db",
    "my-app_1.x",
    "a+b=c@d",
    "/leading",
    "trailing/",
    "é",
    "x&y",
    "n%41",
    "",
    "a:b",
];
const PARAMETER_NAMES: &[&str] = &[
    "/app/token",
    "/a",
    "token",
    "/a.b/c-d/e_f",
    "/é",
    "/x&y",
    "",
    "/",
    "/app/",
];
/// A partition and a region in it, then pairs that do not match.
const PLACES: &[(&str, &str)] = &[
    ("aws", "us-east-1"),
    ("aws", "eu-west-1"),
    ("aws-cn", "cn-north-1"),
    ("aws-us-gov", "us-gov-west-1"),
    ("aws-iso-b", "us-isob-east-1"),
    ("aws", "cn-north-1"),
    ("aws-moon", "us-east-1"),
    ("aws", ""),
];
const ACCOUNTS: &[&str] = &["123456789012", "123456789012", "1234", "", "12345678901a"];
const ARN_SUFFIXES: &[&str] = &["", "-AbCdEf"];
const STAGES: &[&str] = &[
    "AWSCURRENT",
    "AWSPREVIOUS",
    "AWSPENDING",
    "v1.2",
    "a=b",
    "x y",
    "%41",
    "~0",
    "é",
    "a&b",
    "",
];
const VERSION_IDS: &[&str] = &[
    "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
    "EXAMPLE1-90ab",
    "x",
    "&",
    "",
];
const ECS_KEYS: &[&str] = &["password", "/db/pass", "a.b", "~", "é", ""];
const SELECTORS: &[&str] = &[
    "1",
    "3",
    "42",
    "stable",
    "prod-1.a_b",
    "v2",
    "3a",
    "",
    "a b",
    "a:b",
];
const KEYS: &[&str] = &[
    "password",
    "a.b",
    "k?x#y",
    "with space",
    "é",
    "x&y=z",
    "/db/pass",
    "/a~1b/m~0n",
    "/",
    "//",
    "/0",
    "/a~2",
    "/~",
    "",
];
/// Defaults as written, percent escapes and all. `CANARY` marks text that
/// must never be shown.
const DEFAULTS: &[&str] = &[
    "",
    "CANARY",
    "CANARY%20x",
    "%26%3D%23%3FCANARY",
    "%25",
    "%C3%A9",
    "%ff",
    "a+b",
    "a=b",
    "%2",
    "%zz",
    "%00",
];
/// Options that break a rule of their own.
const BAD_OPTIONS: &[&str] = &[
    "versionStage=S",
    "optional=yes",
    "",
    "default",
    "version-stage",
    "version-id=",
];
/// Text that the mutations insert, and the soup of the last kind of input
/// is made of.
const PIECES: &[&str] = &[
    "aws-secret:",
    "aws-ssm:",
    "aws-secrets:",
    "AWS-SSM:",
    "arn:",
    "aws",
    ":",
    "secretsmanager",
    "ssm",
    "us-east-1",
    "123456789012",
    "secret:",
    "parameter/",
    "/",
    "/aws/reference/secretsmanager/",
    "#",
    "?",
    "&",
    "=",
    "version-stage=",
    "version-id=",
    "optional",
    "default=",
    "%",
    "%2F",
    "~",
    "~1",
    "app",
    "3",
    "stable",
    "-",
    "é",
    "\0",
    " ",
    "\n",
];

fn arn(random: &mut Random, service: &str, resource: &str) -> String {
    let (partition, region) = if random.one_in(4) {
        PLACES[random.below(PLACES.len())]
    } else {
        PLACES[random.below(5)]
    };
    let account = if random.one_in(4) {
        random.pick(ACCOUNTS)
    } else {
        ACCOUNTS[0]
    };
    format!("arn:{partition}:{service}:{region}:{account}:{resource}")
}

/// A secret ARN, in the ECS long form half of the time.
fn secret_arn(random: &mut Random) -> String {
    let name = format!(
        "{}{}",
        random.pick(&SECRET_NAMES[..9]),
        random.pick(ARN_SUFFIXES)
    );
    let mut text = arn(random, "secretsmanager", &format!("secret:{name}"));
    if random.one_in(2) {
        let fields = 1 + random.below(4);
        let pickers: [&[&str]; 4] = [ECS_KEYS, STAGES, VERSION_IDS, &["x"]];
        for field in &pickers[..fields] {
            text.push(':');
            if !random.one_in(3) {
                text.push_str(random.pick(field));
            }
        }
    }
    text
}

/// A parameter name or ARN, with a selector a third of the time.
fn parameter(random: &mut Random, by_arn: bool) -> String {
    let name = random.pick(PARAMETER_NAMES);
    let mut text = if by_arn {
        let resource = format!("parameter/{}", name.trim_start_matches('/'));
        arn(random, "ssm", &resource)
    } else {
        name.to_owned()
    };
    if random.one_in(3) {
        text.push(':');
        text.push_str(random.pick(SELECTORS));
    }
    text
}

/// `?` and up to three options, or nothing.
fn options(random: &mut Random) -> String {
    let count = [0, 0, 1, 1, 2, 3][random.below(6)];
    let options: Vec<String> = (0..count)
        .map(|_| match random.below(9) {
            0 | 1 => format!("version-stage={}", random.pick(STAGES)),
            2 => format!("version-id={}", random.pick(VERSION_IDS)),
            3 | 4 => "optional".to_owned(),
            5..=7 => format!("default={}", random.pick(DEFAULTS)),
            _ => random.pick(BAD_OPTIONS).to_owned(),
        })
        .collect();
    if options.is_empty() {
        return String::new();
    }
    format!("?{}", options.join("&"))
}

fn key(random: &mut Random) -> String {
    if random.one_in(2) {
        return String::new();
    }
    format!("#{}", random.pick(KEYS))
}

/// One input: a form of the grammar with its parts picked at random, or a
/// soup of pieces.
fn input(random: &mut Random) -> String {
    let target = match random.below(9) {
        0 => format!("{SECRET_SCHEME}{}", random.pick(SECRET_NAMES)),
        1 => format!("{SECRET_SCHEME}{}", secret_arn(random)),
        2 => secret_arn(random),
        3 => format!(
            "{SECRET_SCHEME}{SECRETS_MANAGER_PATH}{}",
            random.pick(SECRET_NAMES)
        ),
        4 => format!("{PARAMETER_SCHEME}{}", parameter(random, false)),
        5 => format!("{PARAMETER_SCHEME}{}", parameter(random, true)),
        6 => parameter(random, true),
        7 => format!(
            "{PARAMETER_SCHEME}{SECRETS_MANAGER_PATH}{}",
            parameter(random, false).trim_start_matches('/')
        ),
        _ => {
            let length = 1 + random.below(12);
            return (0..length).map(|_| random.pick(PIECES)).collect();
        }
    };
    format!("{target}{}{}", options(random), key(random))
}

/// Inserts, deletes or replaces a little text, at a character boundary.
fn mutate(random: &mut Random, text: &mut String) {
    let boundaries: Vec<usize> = text
        .char_indices()
        .map(|(at, _)| at)
        .chain([text.len()])
        .collect();
    let at = boundaries[random.below(boundaries.len())];
    let end = boundaries
        .iter()
        .copied()
        .find(|&end| end > at)
        .unwrap_or(at);
    match random.below(3) {
        0 => text.insert_str(at, random.pick(PIECES)),
        1 => text.replace_range(at..end, ""),
        _ => text.replace_range(at..end, random.pick(PIECES)),
    }
}

/// The grammar forms an accepted input counts for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Form {
    SecretName,
    SecretArn,
    BareSecretArn,
    /// The ECS long form, bare and after `aws-secret:`.
    Ecs,
    PrefixedEcs,
    VersionStage,
    VersionId,
    ReferencePath,
    ParameterName,
    ParameterArn,
    BareParameterArn,
    ParameterVersion,
    ParameterLabel,
    Key,
    Pointer,
    Optional,
    Default,
    EscapedDefault,
}

const EVERY_FORM: &[Form] = &[
    Form::SecretName,
    Form::SecretArn,
    Form::BareSecretArn,
    Form::Ecs,
    Form::PrefixedEcs,
    Form::VersionStage,
    Form::VersionId,
    Form::ReferencePath,
    Form::ParameterName,
    Form::ParameterArn,
    Form::BareParameterArn,
    Form::ParameterVersion,
    Form::ParameterLabel,
    Form::Key,
    Form::Pointer,
    Form::Optional,
    Form::Default,
    Form::EscapedDefault,
];

fn forms(text: &str, reference: &Reference) -> Vec<Form> {
    let prefixed = text.starts_with(SECRET_SCHEME) || text.starts_with(PARAMETER_SCHEME);
    let mut forms = Vec::new();
    match &reference.source {
        Source::Secret { id, version } => {
            forms.push(match (id.starts_with("arn:"), prefixed) {
                (false, _) => Form::SecretName,
                (true, true) => Form::SecretArn,
                (true, false) => Form::BareSecretArn,
            });
            // The ECS fields follow the ARN's name with a `:`.
            let after = text.find(id.as_str()).map(|at| &text[at + id.len()..]);
            if id.starts_with("arn:") && after.is_some_and(|after| after.starts_with(':')) {
                forms.push(if prefixed {
                    Form::PrefixedEcs
                } else {
                    Form::Ecs
                });
            }
            if version.stage.is_some() {
                forms.push(Form::VersionStage);
            }
            if version.id.is_some() {
                forms.push(Form::VersionId);
            }
        }
        Source::Parameter { name } if name.starts_with(SECRETS_MANAGER_PATH) => {
            forms.push(Form::ReferencePath);
        }
        Source::Parameter { name } => {
            let bare = match name.find(":parameter/") {
                Some(at) => {
                    forms.push(if prefixed {
                        Form::ParameterArn
                    } else {
                        Form::BareParameterArn
                    });
                    &name[at + ":parameter/".len()..]
                }
                None => {
                    forms.push(Form::ParameterName);
                    name.as_str()
                }
            };
            if let Some((_, selector)) = bare.split_once(':') {
                forms.push(if selector.bytes().all(|b| b.is_ascii_digit()) {
                    Form::ParameterVersion
                } else {
                    Form::ParameterLabel
                });
            }
        }
    }
    match reference.key.as_deref() {
        Some(key) if key.starts_with('/') => forms.push(Form::Pointer),
        Some(_) => forms.push(Form::Key),
        None => {}
    }
    match &reference.missing {
        Missing::Fail => {}
        Missing::Unset => forms.push(Form::Optional),
        Missing::Default(_) => {
            forms.push(Form::Default);
            let options = text.split('#').next().and_then(|text| text.split_once('?'));
            let escaped = options.is_some_and(|(_, options)| {
                options.split('&').any(|option| {
                    option
                        .strip_prefix("default=")
                        .is_some_and(|value| value.contains('%'))
                })
            });
            if escaped {
                forms.push(Form::EscapedDefault);
            }
        }
    }
    forms
}

#[test]
fn parsing_never_panics_and_round_trips_what_it_accepts() {
    let mut random = Random(0x5eed_1234_abcd_9876);
    let mut counts: BTreeMap<Form, usize> = BTreeMap::new();
    let mut accepted = 0;
    let mut refused = 0;
    for _ in 0..40_000 {
        let mut text = input(&mut random);
        if random.one_in(3) {
            for _ in 0..1 + random.below(3) {
                mutate(&mut random, &mut text);
            }
        }
        if random.one_in(16) {
            // Bytes that are not UTF-8 must not upset the check for them.
            let mut bytes = text.clone().into_bytes();
            let at = random.below(bytes.len() + 1);
            bytes.insert(at, 0xff);
            let _ = check_not_utf8(&bytes, true);
            let _ = check_not_utf8(&bytes, false);
        }
        let _ = shown(&text);

        for bare_arns in [true, false] {
            let reference = match parse(&text, bare_arns) {
                Ok(Some(reference)) => reference,
                Ok(None) => continue,
                Err(_) => {
                    refused += 1;
                    continue;
                }
            };
            accepted += 1;
            let canonical = render(&reference);
            assert_eq!(
                parse(&canonical, bare_arns),
                Ok(Some(reference.clone())),
                "{text:?} gave {reference:?}, written back as {canonical:?}"
            );
            if matches!(&reference.missing, Missing::Default(value)
                if value.windows(6).any(|window| window == b"CANARY"))
            {
                assert!(!shown(&text).contains("CANARY"), "{text:?}");
            }
            if bare_arns {
                for form in forms(&text, &reference) {
                    *counts.entry(form).or_default() += 1;
                }
            }
        }
    }

    // The generator must reach every form, and the parser's refusals too,
    // or the test proves nothing about them.
    for form in EVERY_FORM {
        let count = counts.get(form).copied().unwrap_or_default();
        assert!(count >= 100, "only {count} accepted inputs of {form:?}");
    }
    assert!(accepted > 10_000, "only {accepted} inputs were accepted");
    assert!(refused > 10_000, "only {refused} inputs were refused");
}
