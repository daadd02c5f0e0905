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

use super::report::describe;
use super::{Failure, FetchKey, Fetched, ResolveError, json};
use crate::reference::{self, Missing, Reference, Source};
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

    /// Where the values come from, for `--check` lines about the source
    /// as a whole: the service, the region, the name and the version.
    pub fn explain(&self, region: &str) -> String {
        match self {
            Bulk::Path(path) => {
                format!("Parameter Store, {region}, every parameter under {path}, latest version")
            }
            Bulk::SecretJson { key, .. } => {
                let secret = whole(key.source.clone(), key.region.clone(), None);
                format!("{}, every top-level key", describe(&secret, region))
            }
        }
    }

    /// The option and value, for messages: `--ssm-path /app/prod`.
    pub fn describe(&self) -> String {
        format!("{} {}", self.option(), self.given())
    }

    /// The option that gave this source.
    pub fn option(&self) -> &'static str {
        match self {
            Bulk::Path(_) => "--ssm-path",
            Bulk::SecretJson { .. } => "--secret-json",
        }
    }

    /// The option's value, as messages show it.
    pub fn given(&self) -> &str {
        match self {
            Bulk::Path(path) => path,
            Bulk::SecretJson { given, .. } => given,
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

/// A reference to what a bulk source reads, for [`describe`].
fn whole(source: Source, region: Option<String>, key: Option<String>) -> Reference {
    Reference {
        source,
        region,
        key,
        missing: Missing::Fail,
    }
}

/// Where one bulk variable came from.
pub enum Origin {
    /// A parameter under `--ssm-path PATH`, by its full name.
    Parameter { path: String, name: String },
    /// A top-level key of the secret that `--secret-json GIVEN` names.
    Key {
        given: String,
        secret: FetchKey,
        key: String,
    },
}

impl Origin {
    /// For errors and log lines: `--ssm-path /app (/app/db/pass)`.
    pub fn short(&self) -> String {
        match self {
            Origin::Parameter { path, name } => format!("--ssm-path {path} ({name})"),
            Origin::Key { given, key, .. } => format!("--secret-json {given} (key {key})"),
        }
    }

    /// For `--check`, as its line for a reference says it (the service,
    /// the region, the name, the version and the key), then the option.
    pub fn describe(&self, region: &str) -> String {
        match self {
            Origin::Parameter { path, name } => {
                let parameter = whole(Source::Parameter { name: name.clone() }, None, None);
                format!("{} (--ssm-path {path})", describe(&parameter, region))
            }
            Origin::Key { given, secret, key } => {
                let source = secret.source.clone();
                let secret = whole(source, secret.region.clone(), Some(key.clone()));
                format!("{} (--secret-json {given})", describe(&secret, region))
            }
        }
    }
}

/// One variable a bulk source gives: its value, or why it has none.
pub struct Loaded {
    pub name: String,
    pub origin: Origin,
    pub value: Result<Secret, ResolveError>,
}

/// What the bulk sources give: every variable, and every source that could
/// not be read at all.
pub struct Expanded<'a> {
    pub loaded: Vec<Loaded>,
    pub unread: Vec<(&'a Bulk, ResolveError)>,
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
/// has already (`taken`).
pub fn expand<'a>(
    sources: &'a [Bulk],
    fetched: &Fetched,
    taken: &HashSet<OsString>,
) -> Expanded<'a> {
    let mut expanded = Expanded {
        loaded: Vec::new(),
        unread: Vec::new(),
    };
    // Where each bulk name came from, to name both sides of a collision.
    let mut seen: HashMap<String, String> = HashMap::new();
    for bulk in sources {
        let values = match values_of(bulk, fetched) {
            Ok(values) => values,
            Err(error) => {
                expanded.unread.push((bulk, error));
                continue;
            }
        };
        for (origin, part, value) in values {
            let name = variable_name(&part);
            let value = if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
                Err(ResolveError::BadBulkName)
            } else if let Some(first) = seen.get(&name) {
                Err(ResolveError::BulkCollision(first.clone()))
            } else {
                seen.insert(name.clone(), origin.short());
                if taken.contains(&OsString::from(&name)) {
                    continue;
                }
                // execve(2) would cut the value short at the NUL.
                if value.expose().contains(&0) {
                    Err(ResolveError::Nul)
                } else {
                    Ok(value)
                }
            };
            expanded.loaded.push(Loaded {
                name,
                origin,
                value,
            });
        }
    }
    expanded
}

/// A source's values, each with where it came from and the part of its
/// name or key that names the variable.
type Values = Vec<(Origin, String, Secret)>;

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
                    let origin = Origin::Parameter {
                        path: path.clone(),
                        name: full.clone(),
                    };
                    Some((origin, rest.to_owned(), Secret::from_slice(value.expose())))
                })
                .collect())
        }
        Bulk::SecretJson { given, key } => {
            let secret = match fetched.values.get(key) {
                Some(Ok(secret)) => secret,
                Some(Err(error)) => return Err(ResolveError::Fetch(error.clone())),
                None => return Err(ResolveError::Fetch(super::FetchError::Empty)),
            };
            Ok(json::entries(secret.expose())?
                .into_iter()
                .map(|(json_key, value)| {
                    let origin = Origin::Key {
                        given: given.clone(),
                        secret: key.clone(),
                        key: json_key.clone(),
                    };
                    (origin, json_key, value)
                })
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
