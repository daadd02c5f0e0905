//! Parses environment values that name a secret or a parameter to resolve.
//!
//! A value is a reference only when the whole value has one of these forms:
//!
//! - `aws-secret:NAME_OR_ARN[?OPTIONS][#KEY]`: Secrets Manager;
//! - `aws-secret:/aws/reference/secretsmanager/NAME[?OPTIONS][#KEY]`: the
//!   same secret read through Parameter Store;
//! - `aws-ssm:NAME_OR_ARN[:VERSION|:LABEL][?OPTIONS][#KEY]`: Parameter
//!   Store;
//! - a bare Secrets Manager secret ARN with the same `?OPTIONS` and `#KEY`,
//!   or in the ECS long form (`...:secret:NAME:JSON_KEY:VERSION_STAGE:
//!   VERSION_ID`, trailing fields optional), or a bare Parameter Store
//!   parameter ARN as after `aws-ssm:`, unless bare ARNs are switched off.
//!
//! OPTIONS join with `&`: `version-stage=` and `version-id=` for secrets,
//! and `optional` or `default=` for a reference that names no version or
//! label. A `KEY` that starts with `/` is a JSON pointer.
//!
//! A value that starts with a near miss of a scheme (`aws-secrets:`,
//! `AWS-SSM:`) is an error, not a literal: passed on, it would start the
//! command with the reference text in place of the secret.
//!
//! Anything else is not a reference and passes through untouched.

use std::borrow::Cow;

use thiserror::Error;

mod options;

pub use options::{Missing, shown};

pub const SECRET_SCHEME: &str = "aws-secret:";
pub const PARAMETER_SCHEME: &str = "aws-ssm:";

/// Parameter Store's path for reading a Secrets Manager secret.
pub const SECRETS_MANAGER_PATH: &str = "/aws/reference/secretsmanager/";

/// Where a value comes from, with the identifier to send to the API.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// Secrets Manager GetSecretValue; `id` is a name or an ARN.
    Secret { id: String, version: SecretVersion },
    /// Parameter Store GetParameter(s); `name` is a name, a path or an ARN,
    /// with a `:VERSION` or `:LABEL` selector when one was given.
    Parameter { name: String },
}

/// Which version of a secret to read; neither means AWSCURRENT. Secrets
/// Manager takes both together, when they name the same version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SecretVersion {
    pub stage: Option<String>,
    pub id: Option<String>,
}

/// A parsed reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    pub source: Source,
    /// The region named by an ARN. `None` means the standard region chain.
    pub region: Option<String>,
    /// The top-level JSON key to pick out of the value, or a JSON pointer
    /// when it starts with `/`.
    pub key: Option<String>,
    /// What to give when the secret or parameter does not exist.
    pub missing: Missing,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("the reference is not valid UTF-8")]
    NotUtf8,
    #[error("the secret or parameter name is empty")]
    EmptyName,
    #[error("the JSON key after `#` is empty")]
    EmptyKey,
    #[error("invalid JSON pointer: `~` must be followed by `0` or `1`")]
    BadPointer,
    #[error(
        "a secret name cannot hold `:`; choose a version with `?version-stage=STAGE` or \
         `?version-id=ID`"
    )]
    ColonInSecretName,
    #[error("unknown option `{name}`; expected {expected}")]
    UnknownOption {
        name: String,
        expected: &'static str,
    },
    #[error("`{0}` takes no value")]
    OptionTakesNoValue(&'static str),
    #[error("give `?optional` or `?default=`, not both")]
    OptionalAndDefault,
    #[error(
        "`?optional` and `?default=` cannot go with a version: AWS answers a version that \
         does not exist as it answers a secret or parameter that does not"
    )]
    VersionAndStandIn,
    #[error("the default is not percent-encoded right: `%` must be followed by two hex digits")]
    BadPercent,
    #[error("the default holds a NUL byte (`%00`), which an environment variable cannot hold")]
    NulInDefault,
    #[error(
        "`version-stage` and `version-id` are for secrets; choose a parameter's version with \
         NAME:VERSION or NAME:LABEL"
    )]
    VersionOnParameter,
    #[error("`{0}` needs a value")]
    EmptySelector(&'static str),
    #[error("`{0}` is given twice")]
    RepeatedSelector(&'static str),
    #[error(
        "a version cannot be chosen through /aws/reference/secretsmanager/; use the secret's \
         name or ARN with `?version-stage=` or `?version-id=`"
    )]
    SelectorOnReferencePath,
    #[error(
        "the JSON key or version is given both in the ARN's fields and with `#` or `?`; \
         give it once"
    )]
    EcsAndSelector,
    #[error(
        "too many fields after the secret name; expected NAME:JSON_KEY:VERSION_STAGE:VERSION_ID"
    )]
    EcsTooManyFields,
    #[error(
        "a version stage or id cannot hold `&`, which `?version-stage=` and `?version-id=` \
         could not carry"
    )]
    AmpersandInVersion,
    #[error(
        "`{0}` is neither a version number nor a label (letters, digits, `.`, `-` and `_`, \
         not starting with a digit)"
    )]
    BadParameterSelector(String),

    #[error("a name ending in `/` is a path; load every parameter under it with --ssm-path PATH")]
    ParameterPath,
    #[error("malformed ARN: {0}")]
    BadArn(&'static str),
    #[error("unknown partition `{0}` in the ARN")]
    UnknownPartition(String),
    #[error("region `{region}` does not belong to partition `{partition}`")]
    WrongPartition { partition: String, region: String },
    #[error("expected a {expected} ARN, found one for `{found}`")]
    WrongService {
        expected: &'static str,
        found: String,
    },
    #[error(
        "`{found}` looks like a misspelt `{expected}`; fix the scheme, or name the variable \
         in --literal to pass the value on as it is"
    )]
    MisspeltScheme {
        found: String,
        expected: &'static str,
    },
}

impl ReferenceError {
    /// What an error about `raw` may show of it. A near miss of a scheme is
    /// not a reference but a value of the user's own, which may well be a
    /// secret: only its scheme-like prefix is shown. Of a reference, every
    /// option value but a version is hidden, as [`shown`] does.
    pub fn shown<'a>(&self, raw: &'a str) -> Cow<'a, str> {
        match self {
            ReferenceError::MisspeltScheme { found, .. } => {
                Cow::Owned(format!("{found}{}", options::REDACTED))
            }
            _ => shown(raw),
        }
    }
}

/// Parses `value`, returning `None` when it is not a reference at all.
pub fn parse(value: &str, bare_arns: bool) -> Result<Option<Reference>, ReferenceError> {
    if let Some(rest) = value.strip_prefix(SECRET_SCHEME) {
        return parse_secret(rest).map(Some);
    }
    if let Some(rest) = value.strip_prefix(PARAMETER_SCHEME) {
        return parse_parameter(rest).map(Some);
    }
    check_scheme_spelling(value)?;
    if !bare_arns {
        return Ok(None);
    }

    // Only secret and parameter ARNs count. Every other ARN (a role for
    // IRSA, a queue) is an ordinary value the application wants as it is.
    let (target, _) = split_key(value);
    match Arn::split(target) {
        Some(arn) if arn.service == "secretsmanager" && arn.resource.starts_with("secret:") => {
            parse_secret(value).map(Some)
        }
        Some(arn) if arn.service == "ssm" && arn.resource.starts_with("parameter/") => {
            parse_parameter(value).map(Some)
        }
        _ => Ok(None),
    }
}

/// Refuses a value that is not UTF-8 but reads like a reference: it was
/// meant to be one, and passing it on would start the command with it.
pub fn check_not_utf8(value: &[u8], bare_arns: bool) -> Result<Option<Reference>, ReferenceError> {
    let text = String::from_utf8_lossy(value);
    match parse(&text, bare_arns) {
        Ok(None) => Ok(None),
        // Not a reference at all, but a value that must not pass as one.
        Err(error @ ReferenceError::MisspeltScheme { .. }) => Err(error),
        _ => Err(ReferenceError::NotUtf8),
    }
}

fn parse_secret(text: &str) -> Result<Reference, ReferenceError> {
    let (target, key) = split_key(text);
    let mut key = check_key(key)?;
    // Names and ARNs cannot hold `?`, so the first one starts the
    // selectors.
    let (target, selectors) = match target.split_once('?') {
        Some((target, selectors)) => (target, Some(selectors)),
        None => (target, None),
    };
    let options = match selectors {
        Some(selectors) => options::parse(selectors, true)?,
        None => options::Options::default(),
    };
    let missing = options.missing;
    let mut version = options.version;

    if let Some(name) = target.strip_prefix(SECRETS_MANAGER_PATH) {
        if version != SecretVersion::default() {
            return Err(ReferenceError::SelectorOnReferencePath);
        }
        check_secret_name(name)?;
        return Ok(Reference {
            source: Source::Parameter {
                name: target.to_owned(),
            },
            region: None,
            key,
            missing,
        });
    }

    if target.starts_with("arn:") {
        let arn = Arn::split(target).ok_or(ReferenceError::BadArn("expected six fields"))?;
        let region = arn.check("secretsmanager", "Secrets Manager secret")?;
        let resource = arn
            .resource
            .strip_prefix("secret:")
            .ok_or(ReferenceError::BadArn(
                "the resource must start with `secret:`",
            ))?;
        // The ECS long form: NAME:JSON_KEY:VERSION_STAGE:VERSION_ID, where
        // any trailing field may be left out or empty.
        let mut fields = resource.split(':');
        let name = fields.next().unwrap_or_default();
        check_secret_name(name)?;
        let extra: Vec<&str> = fields.collect();
        if extra.len() > 3 {
            return Err(ReferenceError::EcsTooManyFields);
        }
        let field = |index: usize| {
            extra
                .get(index)
                .filter(|field| !field.is_empty())
                .map(|field| field.to_string())
        };
        if extra.iter().any(|field| !field.is_empty()) {
            if key.is_some() || version != SecretVersion::default() {
                return Err(ReferenceError::EcsAndSelector);
            }
            // ECS reads the field as a plain key, even one that starts
            // with `/`; as a pointer to that top-level key it means the
            // same here.
            key = check_key(field(0).map(|key| ecs_key(&key)).as_deref())?;
            version = SecretVersion {
                stage: field(1),
                id: field(2),
            };
            // The API sets no character set for stages and ids, but `&`
            // joins the options of the other way to write a version, so a
            // field holding one could not be written there.
            let fields = [&version.stage, &version.id];
            if fields
                .into_iter()
                .flatten()
                .any(|field| field.contains('&'))
            {
                return Err(ReferenceError::AmpersandInVersion);
            }
            if version != SecretVersion::default() && missing != Missing::Fail {
                return Err(ReferenceError::VersionAndStandIn);
            }
        }
        let id_end = target.len() - resource.len() + name.len();
        return Ok(Reference {
            source: Source::Secret {
                id: target[..id_end].to_owned(),
                version,
            },
            region: Some(region.to_owned()),
            key,
            missing,
        });
    }

    check_secret_name(target)?;
    Ok(Reference {
        source: Source::Secret {
            id: target.to_owned(),
            version,
        },
        region: None,
        key,
        missing,
    })
}

fn parse_parameter(text: &str) -> Result<Reference, ReferenceError> {
    let (target, key) = split_key(text);
    let key = check_key(key)?;
    // Parameter names cannot hold `?`, so the first one starts the options.
    let (target, missing) = match target.split_once('?') {
        Some((target, text)) => (target, options::parse(text, false)?.missing),
        None => (target, Missing::Fail),
    };

    if target.starts_with("arn:") {
        let arn = Arn::split(target).ok_or(ReferenceError::BadArn("expected six fields"))?;
        let region = arn.check("ssm", "Parameter Store parameter")?;
        let name = arn
            .resource
            .strip_prefix("parameter")
            .filter(|name| name.starts_with('/'))
            .ok_or(ReferenceError::BadArn(
                "the resource must start with `parameter/`",
            ))?;
        check_parameter_name(name.trim_start_matches('/'))?;
        check_stand_in(name, &missing)?;
        return Ok(Reference {
            source: Source::Parameter {
                name: target.to_owned(),
            },
            region: Some(region.to_owned()),
            key,
            missing,
        });
    }

    // The same secret named with `aws-secret:` takes no selector either.
    if target.starts_with(SECRETS_MANAGER_PATH) && target.contains(':') {
        return Err(ReferenceError::SelectorOnReferencePath);
    }
    check_parameter_name(target)?;
    check_stand_in(target, &missing)?;
    Ok(Reference {
        source: Source::Parameter {
            name: target.to_owned(),
        },
        region: None,
        key,
        missing,
    })
}

/// Refuses `?optional` or `?default=` on a parameter name with a version
/// or label, for the reason [`ReferenceError::VersionAndStandIn`] gives.
fn check_stand_in(name: &str, missing: &Missing) -> Result<(), ReferenceError> {
    if name.contains(':') && *missing != Missing::Fail {
        return Err(ReferenceError::VersionAndStandIn);
    }
    Ok(())
}

/// An ECS JSON key as this parser reads keys: one that starts with `/`
/// becomes the JSON pointer to that top-level key.
fn ecs_key(key: &str) -> String {
    if !key.starts_with('/') {
        return key.to_owned();
    }
    format!("/{}", key.replace('~', "~0").replace('/', "~1"))
}

/// How many edits away from a scheme a value's prefix may be and still
/// count as a misspelling of it.
const MAX_SCHEME_EDITS: usize = 2;

/// Refuses a value whose text before its first `:` is within
/// [`MAX_SCHEME_EDITS`] of a scheme, letter case ignored.
fn check_scheme_spelling(value: &str) -> Result<(), ReferenceError> {
    let Some((prefix, _)) = value.split_once(':') else {
        return Ok(());
    };
    // Edits count characters, not bytes: a typed `é` or `€`, or a byte
    // that is not UTF-8 and reads as U+FFFD, is one edit.
    let lowered: Vec<char> = prefix.to_ascii_lowercase().chars().collect();
    // Longer prefixes cannot be close enough, and are not worth comparing.
    if lowered.len() > SECRET_SCHEME.len() + MAX_SCHEME_EDITS {
        return Ok(());
    }
    for scheme in [SECRET_SCHEME, PARAMETER_SCHEME] {
        let name: Vec<char> = scheme.trim_end_matches(':').chars().collect();
        if edit_distance(&lowered, &name) <= MAX_SCHEME_EDITS {
            return Err(ReferenceError::MisspeltScheme {
                found: format!("{prefix}:"),
                expected: scheme,
            });
        }
    }
    Ok(())
}

/// The number of single-character insertions, deletions, substitutions
/// and swaps of neighbours that turn `a` into `b` (optimal string
/// alignment).
fn edit_distance(a: &[char], b: &[char]) -> usize {
    // Three rows of the classic table: two back, one back, and this one.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            current[j] = best;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// Splits a JSON pointer into its reference tokens, `~1` decoded to `/`
/// and then `~0` to `~` (RFC 6901, section 4). `None` for a `~` followed
/// by anything else, or for a pointer that does not start with `/`.
pub fn pointer_tokens(pointer: &str) -> Option<Vec<String>> {
    let rest = pointer.strip_prefix('/')?;
    rest.split('/')
        .map(|token| {
            let mut out = String::with_capacity(token.len());
            let mut chars = token.chars();
            while let Some(c) = chars.next() {
                match c {
                    '~' => match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => return None,
                    },
                    c => out.push(c),
                }
            }
            Some(out)
        })
        .collect()
}

/// Splits at the first `#`: names and ARNs cannot hold one, keys can.
fn split_key(text: &str) -> (&str, Option<&str>) {
    match text.split_once('#') {
        Some((target, key)) => (target, Some(key)),
        None => (text, None),
    }
}

fn check_key(key: Option<&str>) -> Result<Option<String>, ReferenceError> {
    match key {
        None => Ok(None),
        Some("") => Err(ReferenceError::EmptyKey),
        Some(key) if key.starts_with('/') && pointer_tokens(key).is_none() => {
            Err(ReferenceError::BadPointer)
        }
        Some(key) => Ok(Some(key.to_owned())),
    }
}

fn check_secret_name(name: &str) -> Result<(), ReferenceError> {
    if name.is_empty() {
        return Err(ReferenceError::EmptyName);
    }
    // Secret names cannot hold one, so a user who wrote one meant a
    // version, as some tools write it.
    if name.contains(':') {
        return Err(ReferenceError::ColonInSecretName);
    }
    Ok(())
}

/// Checks a parameter name with its optional `:VERSION` or `:LABEL`.
fn check_parameter_name(name: &str) -> Result<(), ReferenceError> {
    let (name, selector) = match name.split_once(':') {
        Some((name, selector)) => (name, Some(selector)),
        None => (name, None),
    };
    if name.is_empty() || name == "/" {
        return Err(ReferenceError::EmptyName);
    }
    if name.ends_with('/') {
        return Err(ReferenceError::ParameterPath);
    }
    if let Some(selector) = selector {
        let version = !selector.is_empty() && selector.bytes().all(|b| b.is_ascii_digit());
        let label = selector
            .bytes()
            .next()
            .is_some_and(|first| !first.is_ascii_digit())
            && selector
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if !version && !label {
            return Err(ReferenceError::BadParameterSelector(selector.to_owned()));
        }
    }
    Ok(())
}

/// The fields of `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.
struct Arn<'a> {
    partition: &'a str,
    service: &'a str,
    region: &'a str,
    account: &'a str,
    resource: &'a str,
}

impl<'a> Arn<'a> {
    fn split(text: &'a str) -> Option<Arn<'a>> {
        let mut fields = text.strip_prefix("arn:")?.splitn(5, ':');
        Some(Arn {
            partition: fields.next()?,
            service: fields.next()?,
            region: fields.next()?,
            account: fields.next()?,
            resource: fields.next()?,
        })
    }

    /// Checks the fields a request depends on, and returns the region.
    fn check(
        &self,
        service: &'static str,
        expected: &'static str,
    ) -> Result<&'a str, ReferenceError> {
        if self.service != service {
            return Err(ReferenceError::WrongService {
                expected,
                found: self.service.to_owned(),
            });
        }
        if self.region.is_empty() {
            return Err(ReferenceError::BadArn("the region is empty"));
        }
        if self.account.len() != 12 || !self.account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ReferenceError::BadArn("the account must be 12 digits"));
        }
        let partition = partition_of(self.region);
        if !PARTITIONS.contains(&self.partition) {
            return Err(ReferenceError::UnknownPartition(self.partition.to_owned()));
        }
        if partition != self.partition {
            return Err(ReferenceError::WrongPartition {
                partition: self.partition.to_owned(),
                region: self.region.to_owned(),
            });
        }
        Ok(self.region)
    }
}

const PARTITIONS: &[&str] = &[
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-iso",
    "aws-iso-b",
    "aws-iso-e",
    "aws-iso-f",
    "aws-eusc",
];

/// Names the partition a region belongs to, by the region's prefix, as the
/// SDK's endpoint rules do.
fn partition_of(region: &str) -> &'static str {
    const PREFIXES: &[(&str, &str)] = &[
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-iso-", "aws-iso"),
        ("us-isob-", "aws-iso-b"),
        ("eu-isoe-", "aws-iso-e"),
        ("us-isof-", "aws-iso-f"),
        ("eusc-", "aws-eusc"),
    ];
    PREFIXES
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or("aws", |(_, partition)| partition)
}

#[cfg(test)]
mod roundtrip;
#[cfg(test)]
mod tests;
