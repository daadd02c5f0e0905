//! Parses environment values that name a secret or a parameter to resolve.
//!
//! A value is a reference only when the whole value has one of these forms:
//!
//! - `aws-secret:NAME_OR_ARN[#KEY]`: Secrets Manager;
//! - `aws-secret:/aws/reference/secretsmanager/NAME[#KEY]`: the same secret
//!   read through Parameter Store;
//! - `aws-ssm:NAME_OR_ARN[#KEY]`: Parameter Store;
//! - a bare Secrets Manager secret ARN or Parameter Store parameter ARN,
//!   unless bare ARNs are switched off.
//!
//! Anything else is not a reference and passes through untouched.

use thiserror::Error;

pub const SECRET_SCHEME: &str = "aws-secret:";
pub const PARAMETER_SCHEME: &str = "aws-ssm:";

/// Parameter Store's path for reading a Secrets Manager secret.
pub const SECRETS_MANAGER_PATH: &str = "/aws/reference/secretsmanager/";

/// Where a value comes from, with the identifier to send to the API.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// Secrets Manager GetSecretValue; `id` is a name or an ARN.
    Secret { id: String },
    /// Parameter Store GetParameter(s); `name` is a name, a path or an ARN.
    Parameter { name: String },
}

/// A parsed reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    pub source: Source,
    /// The region named by an ARN. `None` means the standard region chain.
    pub region: Option<String>,
    /// The top-level JSON key to pick out of the value.
    pub key: Option<String>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("the reference is not valid UTF-8")]
    NotUtf8,
    #[error("the secret or parameter name is empty")]
    EmptyName,
    #[error("the JSON key after `#` is empty")]
    EmptyKey,
    #[error(
        "a key starting with `/` is reserved for JSON pointers, which are not supported yet; \
         use a top-level key"
    )]
    PointerKey,
    #[error("`{0}` in a name is reserved for version selectors, which are not supported yet")]
    VersionSelector(char),
    #[error(
        "a name ending in `/` is a path; loading every parameter under a path is not \
         supported yet"
    )]
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
        "JSON key, version stage or version id fields after the secret name are not \
         supported yet; use `aws-secret:ARN#KEY`"
    )]
    EcsFields,
}

/// Parses `value`, returning `None` when it is not a reference at all.
pub fn parse(value: &str, bare_arns: bool) -> Result<Option<Reference>, ReferenceError> {
    if let Some(rest) = value.strip_prefix(SECRET_SCHEME) {
        return parse_secret(rest).map(Some);
    }
    if let Some(rest) = value.strip_prefix(PARAMETER_SCHEME) {
        return parse_parameter(rest).map(Some);
    }
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
        _ => Err(ReferenceError::NotUtf8),
    }
}

fn parse_secret(text: &str) -> Result<Reference, ReferenceError> {
    let (target, key) = split_key(text);
    let key = check_key(key)?;

    if let Some(name) = target.strip_prefix(SECRETS_MANAGER_PATH) {
        check_secret_name(name)?;
        return Ok(Reference {
            source: Source::Parameter {
                name: target.to_owned(),
            },
            region: None,
            key,
        });
    }

    if target.starts_with("arn:") {
        let arn = Arn::split(target).ok_or(ReferenceError::BadArn("expected six fields"))?;
        let region = arn.check("secretsmanager", "Secrets Manager secret")?;
        let name = arn
            .resource
            .strip_prefix("secret:")
            .ok_or(ReferenceError::BadArn(
                "the resource must start with `secret:`",
            ))?;
        if name.contains(':') {
            return Err(ReferenceError::EcsFields);
        }
        check_secret_name(name)?;
        return Ok(Reference {
            source: Source::Secret {
                id: target.to_owned(),
            },
            region: Some(region.to_owned()),
            key,
        });
    }

    check_secret_name(target)?;
    Ok(Reference {
        source: Source::Secret {
            id: target.to_owned(),
        },
        region: None,
        key,
    })
}

fn parse_parameter(text: &str) -> Result<Reference, ReferenceError> {
    let (target, key) = split_key(text);
    let key = check_key(key)?;

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
        return Ok(Reference {
            source: Source::Parameter {
                name: target.to_owned(),
            },
            region: Some(region.to_owned()),
            key,
        });
    }

    check_parameter_name(target)?;
    Ok(Reference {
        source: Source::Parameter {
            name: target.to_owned(),
        },
        region: None,
        key,
    })
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
        Some(key) if key.starts_with('/') => Err(ReferenceError::PointerKey),
        Some(key) => Ok(Some(key.to_owned())),
    }
}

fn check_secret_name(name: &str) -> Result<(), ReferenceError> {
    if name.is_empty() {
        return Err(ReferenceError::EmptyName);
    }
    // Secret names cannot hold either, so a user who wrote one meant a
    // version selector.
    for reserved in ['?', ':'] {
        if name.contains(reserved) {
            return Err(ReferenceError::VersionSelector(reserved));
        }
    }
    Ok(())
}

fn check_parameter_name(name: &str) -> Result<(), ReferenceError> {
    if name.is_empty() || name == "/" {
        return Err(ReferenceError::EmptyName);
    }
    if name.contains(':') {
        return Err(ReferenceError::VersionSelector(':'));
    }
    if name.ends_with('/') {
        return Err(ReferenceError::ParameterPath);
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
mod tests;
