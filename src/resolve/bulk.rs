//! Bulk loading: every parameter under a Parameter Store path
//! (`--ssm-path`) and every top-level key of a JSON secret
//! (`--secret-json`) becomes a variable of its own.
//!
//! A name is the parameter's name after the path and its `/`, or the JSON
//! key, upper-cased, with every character outside `[A-Z0-9_]` turned into
//! `_`. A variable already in the environment wins over a bulk one; two
//! bulk values for one name, or a name that cannot be a variable, fail
//! closed.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;

use super::{Failure, FetchKey, Fetched, ResolveError, json};
use crate::reference::{self, Missing, Source};
use crate::secret::Secret;

/// One bulk source, as given on the command line.
pub enum Bulk {
    /// `--ssm-path`: the path, without a trailing `/`, or `/` for all.
    Path(String),
    /// `--secret-json`: the secret as given, as [`reference::shown`] shows
    /// it, and what to fetch.
    SecretJson { given: String, key: FetchKey },
}

impl Bulk {
    /// Checks one `--ssm-path`.
    pub fn path(path: &str) -> Result<Bulk, Failure> {
        if !path.starts_with('/') || path.contains(':') || path.contains('?') {
            return Err(bad(
                "--ssm-path",
                path,
                "a path starts with `/` and holds no `:` or `?`, like /app/prod",
            ));
        }
        let trimmed = path.trim_end_matches('/');
        Ok(Bulk::Path(
            if trimmed.is_empty() { "/" } else { trimmed }.to_owned(),
        ))
    }

    /// Checks one `--secret-json`: a secret's name or ARN, with a version
    /// selector if need be, but no key and no `?optional`.
    pub fn secret_json(given: &str) -> Result<Bulk, Failure> {
        let text = format!("{}{given}", reference::SECRET_SCHEME);
        let why = "expected a secret's name or ARN, with ?version-stage= or ?version-id= at most";
        match reference::parse(&text, true) {
            Ok(Some(parsed))
                if parsed.key.is_none()
                    && parsed.missing == Missing::Fail
                    && matches!(parsed.source, Source::Secret { .. }) =>
            {
                Ok(Bulk::SecretJson {
                    given: reference::shown(given).into_owned(),
                    key: FetchKey {
                        source: parsed.source,
                        region: parsed.region,
                    },
                })
            }
            Ok(_) => Err(bad("--secret-json", given, why)),
            Err(error) => Err(Failure {
                variable: "--secret-json".to_owned(),
                reference: reference::shown(given).into_owned(),
                error: error.into(),
            }),
        }
    }

    /// Tells whether `other` loads the same values as this source.
    pub fn same_as(&self, other: &Bulk) -> bool {
        match (self, other) {
            (Bulk::Path(a), Bulk::Path(b)) => a == b,
            (Bulk::SecretJson { key: a, .. }, Bulk::SecretJson { key: b, .. }) => a == b,
            _ => false,
        }
    }

    /// What to fetch for this source with the other references, if it is
    /// a secret.
    pub fn key(&self) -> Option<&FetchKey> {
        match self {
            Bulk::Path(_) => None,
            Bulk::SecretJson { key, .. } => Some(key),
        }
    }

    /// Where the values come from, for `--check --offline`.
    pub fn explain(&self, region: &str) -> String {
        match self {
            Bulk::Path(_) => format!("Parameter Store, {region}, every parameter under it"),
            Bulk::SecretJson { key, .. } => {
                let region = key.region.as_deref().unwrap_or(region);
                format!("Secrets Manager, {region}, every top-level key")
            }
        }
    }

    /// The option and value, for messages: `--ssm-path /app/prod`.
    pub fn describe(&self) -> String {
        match self {
            Bulk::Path(path) => format!("--ssm-path {path}"),
            Bulk::SecretJson { given, .. } => format!("--secret-json {given}"),
        }
    }
}

fn bad(option: &str, given: &str, why: &'static str) -> Failure {
    Failure {
        variable: option.to_owned(),
        // What was given may hold a `?default=`, which is a secret.
        reference: reference::shown(given).into_owned(),
        error: ResolveError::BadBulk(why),
    }
}

/// One variable a bulk source gave.
pub struct Loaded {
    pub name: String,
    /// Where it came from, for messages: `--ssm-path /app (/app/db/pass)`.
    pub source: String,
    pub value: Secret,
}

/// Turns a parameter's name under its path, or a JSON key, into a variable
/// name.
pub fn variable_name(text: &str) -> String {
    text.chars()
        .map(|c| match c.to_ascii_uppercase() {
            c @ ('A'..='Z' | '0'..='9' | '_') => c,
            _ => '_',
        })
        .collect()
}

/// Every variable the bulk sources give, except those the environment
/// has already (`taken`), or every failure.
pub fn expand(
    sources: &[Bulk],
    fetched: &Fetched,
    taken: &HashSet<OsString>,
) -> (Vec<Loaded>, Vec<Failure>) {
    let mut loaded: Vec<Loaded> = Vec::new();
    let mut failures = Vec::new();
    // Where each bulk name came from, to name both sides of a collision.
    let mut seen: HashMap<String, String> = HashMap::new();
    for bulk in sources {
        let values = match values_of(bulk, fetched) {
            Ok(values) => values,
            Err(error) => {
                let (variable, reference) = match bulk {
                    Bulk::Path(path) => ("--ssm-path", path.clone()),
                    Bulk::SecretJson { given, .. } => ("--secret-json", given.clone()),
                };
                failures.push(Failure {
                    variable: variable.to_owned(),
                    reference,
                    error,
                });
                continue;
            }
        };
        for (origin, value) in values {
            let name = variable_name(&origin.1);
            let source = format!("{} ({})", bulk.describe(), origin.0);
            if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
                failures.push(Failure {
                    variable: name.clone(),
                    reference: source,
                    error: ResolveError::BadBulkName,
                });
                continue;
            }
            if let Some(first) = seen.get(&name) {
                failures.push(Failure {
                    variable: name.clone(),
                    reference: source,
                    error: ResolveError::BulkCollision(first.clone()),
                });
                continue;
            }
            seen.insert(name.clone(), source.clone());
            if taken.contains(&OsString::from(&name)) {
                continue;
            }
            loaded.push(Loaded {
                name,
                source,
                value,
            });
        }
    }
    (loaded, failures)
}

/// A source's values, each with where it came from (the parameter's full
/// name or the JSON key) and the part that names the variable.
type Values = Vec<((String, String), Secret)>;

fn values_of(bulk: &Bulk, fetched: &Fetched) -> Result<Values, ResolveError> {
    match bulk {
        Bulk::Path(path) => {
            let found = match fetched.paths.get(path) {
                // An empty path is most likely a wrong one, and starting
                // the command without its values would fail open.
                Some(Ok(found)) if found.is_empty() => return Err(ResolveError::EmptyPath),
                Some(Ok(found)) => found,
                Some(Err(error)) => return Err(ResolveError::Fetch(error.clone())),
                None => return Err(ResolveError::Fetch(super::FetchError::Empty)),
            };
            let prefix = if path == "/" {
                "/".to_owned()
            } else {
                format!("{path}/")
            };
            Ok(found
                .iter()
                .filter_map(|(full, value)| {
                    let rest = full.strip_prefix(&prefix)?;
                    Some((
                        (full.clone(), rest.to_owned()),
                        Secret::from_slice(value.expose()),
                    ))
                })
                .collect())
        }
        Bulk::SecretJson { key, .. } => {
            let secret = match fetched.values.get(key) {
                Some(Ok(secret)) => secret,
                Some(Err(error)) => return Err(ResolveError::Fetch(error.clone())),
                None => return Err(ResolveError::Fetch(super::FetchError::Empty)),
            };
            Ok(json::entries(secret.expose())?
                .into_iter()
                .map(|(json_key, value)| ((format!("key {json_key}"), json_key), value))
                .collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rule() {
        assert_eq!(variable_name("db/pass-word"), "DB_PASS_WORD");
        assert_eq!(variable_name("Api.Key"), "API_KEY");
        assert_eq!(variable_name("été"), "_T_");
        assert_eq!(variable_name("1st"), "1ST");
    }

    #[test]
    fn paths_are_checked_and_trimmed() {
        assert!(matches!(Bulk::path("/app/prod/"), Ok(Bulk::Path(path)) if path == "/app/prod"));
        assert!(matches!(Bulk::path("/"), Ok(Bulk::Path(path)) if path == "/"));
        assert!(Bulk::path("app/prod").is_err());
        assert!(Bulk::path("/app:1").is_err());
    }

    #[test]
    fn a_default_in_a_bad_source_is_hidden() {
        let shown = |result: Result<Bulk, Failure>| result.err().map(|failure| failure.reference);
        assert_eq!(
            shown(Bulk::path("/app?default=hunter2")).as_deref(),
            Some("/app?default=<redacted>")
        );
        assert_eq!(
            shown(Bulk::secret_json("app?default=hunter2")).as_deref(),
            Some("app?default=<redacted>")
        );
    }

    #[test]
    fn a_secret_json_takes_no_key_or_option() {
        assert!(Bulk::secret_json("app/config").is_ok());
        assert!(Bulk::secret_json("app/config?version-stage=AWSPREVIOUS").is_ok());
        assert!(Bulk::secret_json("app/config#key").is_err());
        assert!(Bulk::secret_json("app/config?optional").is_err());
        assert!(Bulk::secret_json("/aws/reference/secretsmanager/app").is_err());
        assert!(Bulk::secret_json("").is_err());
    }
}
