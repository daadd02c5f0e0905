//! `--check`'s lines: for each variable, where its value comes from (the
//! service, the region, the name and the version, and the key) and what
//! became of it. Never a value.

use super::{Entry, Fetched, Outcome, Plan, bulk, outcome};
use crate::reference::{self, Reference, Source};

/// One line of `--check`: a variable, where its value comes from, and
/// what became of it. Never a value.
pub struct CheckLine {
    pub variable: String,
    pub ok: bool,
    pub text: String,
}

impl Plan {
    /// Describes every reference, resolved from `fetched`, or only parsed
    /// when there is nothing fetched (`--check --offline`). `region` is
    /// what to show for a reference that names none.
    pub fn report(self, fetched: Option<&Fetched>, region: &str) -> Vec<CheckLine> {
        let mut lines: Vec<CheckLine> = self
            .failures
            .into_iter()
            .map(|failure| CheckLine {
                text: format!(
                    "{}: {}: {}",
                    failure.variable, failure.reference, failure.error
                ),
                variable: failure.variable,
                ok: false,
            })
            .collect();
        for entry in self.entries {
            let Entry::Reference {
                name,
                raw: _,
                reference,
            } = entry
            else {
                continue;
            };
            let variable = name.to_string_lossy().into_owned();
            let source = describe(&reference, region);
            let (ok, status) = match fetched.map(|fetched| outcome(fetched, &reference)) {
                None => (true, "valid".to_owned()),
                Some(Outcome::Value(_)) => (true, "ok".to_owned()),
                Some(Outcome::Unset) => (true, "does not exist; left unset (optional)".to_owned()),
                Some(Outcome::Default(_)) => {
                    (true, "does not exist; set to its default".to_owned())
                }
                Some(Outcome::Failed(error)) => (false, format!("failed: {error}{}", error.hint())),
            };
            lines.push(CheckLine {
                text: format!("{variable}: {source}: {status}"),
                variable,
                ok,
            });
        }
        match fetched {
            None => lines.extend(self.bulk.iter().map(|source| CheckLine {
                variable: source.describe(),
                ok: true,
                text: format!("{}: {}: valid", source.describe(), source.explain(region)),
            })),
            Some(fetched) => {
                let expanded = bulk::expand(&self.bulk, fetched, &self.names);
                lines.extend(expanded.unread.into_iter().map(|(source, error)| {
                    let variable = source.describe();
                    CheckLine {
                        text: format!(
                            "{variable}: {}: failed: {error}{}",
                            source.explain(region),
                            error.hint()
                        ),
                        variable,
                        ok: false,
                    }
                }));
                lines.extend(expanded.loaded.into_iter().map(|loaded| {
                    let (ok, status) = match &loaded.value {
                        Ok(_) => (true, "ok".to_owned()),
                        Err(error) => (false, format!("failed: {error}{}", error.hint())),
                    };
                    CheckLine {
                        text: format!(
                            "{}: {}: {status}",
                            loaded.name,
                            loaded.origin.describe(region)
                        ),
                        variable: loaded.name,
                        ok,
                    }
                }));
            }
        }
        lines.sort_by(|a, b| a.variable.cmp(&b.variable));
        lines
    }
}

/// Where a reference's value comes from: the service, the region, the
/// name and the version, and the key.
pub(super) fn describe(reference: &Reference, region: &str) -> String {
    let region = reference.region.as_deref().unwrap_or(region);
    let mut text = match &reference.source {
        Source::Secret { id, version } => {
            let version = match (&version.stage, &version.id) {
                (None, None) => "stage AWSCURRENT".to_owned(),
                (Some(stage), None) => format!("stage {stage}"),
                (None, Some(id)) => format!("version {id}"),
                (Some(stage), Some(id)) => format!("stage {stage}, version {id}"),
            };
            format!("Secrets Manager, {region}, {id}, {version}")
        }
        Source::Parameter { name } if name.starts_with(reference::SECRETS_MANAGER_PATH) => {
            format!("Secrets Manager through Parameter Store, {region}, {name}, stage AWSCURRENT")
        }
        Source::Parameter { name } => {
            // A selector follows a `:` in the name itself, which in an ARN
            // starts after `parameter/`.
            let start = name
                .find(":parameter/")
                .map_or(0, |at| at + ":parameter/".len());
            let (bare, selector) = match name[start..].find(':') {
                Some(at) => (&name[..start + at], Some(&name[start + at + 1..])),
                None => (name.as_str(), None),
            };
            let version = match selector {
                None => "latest version".to_owned(),
                Some(number) if number.bytes().all(|b| b.is_ascii_digit()) => {
                    format!("version {number}")
                }
                Some(label) => format!("label {label}"),
            };
            format!("Parameter Store, {region}, {bare}, {version}")
        }
    };
    if let Some(key) = &reference.key {
        text.push_str(&format!(", key {key}"));
    }
    text
}
