//! Resolves the references in an environment against AWS.
//!
//! Every variable is classified first. Then each distinct secret or
//! parameter is fetched once, concurrently up to `--concurrency` requests
//! in flight, so that N references cost about one round trip. Transient
//! failures are retried until the `--timeout` deadline ([`retry`]).
//! Nothing is returned unless every reference resolved: the caller gets
//! either the whole environment or the whole list of failures.

mod bulk;
mod json;
mod parameter_store;
mod report;
mod retry;
mod secrets_manager;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::future::Future;
use std::os::unix::ffi::OsStrExt;
use std::pin::Pin;
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use thiserror::Error;

use crate::aws_error;
use crate::log;
use crate::reference::{self, Missing, Reference, ReferenceError, Source};
use crate::secret::Secret;

pub use json::JsonError;

/// How references are recognised.
#[derive(Clone, Debug)]
pub struct Options {
    /// Whether a bare secret or parameter ARN is a reference.
    pub bare_arns: bool,
    /// Variables whose values are kept literal, whatever they hold.
    pub literal: Vec<String>,
    /// Parameter Store paths whose every parameter becomes a variable.
    pub ssm_paths: Vec<String>,
    /// JSON secrets whose every top-level key becomes a variable.
    pub secret_jsons: Vec<String>,
}

/// One variable of the command's environment.
#[derive(Debug)]
pub struct Variable {
    pub name: OsString,
    pub value: Value,
}

/// A variable's value: passed through as it was, or resolved.
pub enum Value {
    Plain(OsString),
    Resolved(Secret),
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // A plain value is the user's own, and may be a secret too.
            Value::Plain(value) => write!(f, "Plain([redacted, {} bytes])", value.len()),
            Value::Resolved(secret) => write!(f, "Resolved({secret:?})"),
        }
    }
}

/// A reference that could not be resolved.
#[derive(Debug)]
pub struct Failure {
    pub variable: String,
    /// The reference as written, which names a secret but never holds one.
    pub reference: String,
    pub error: ResolveError,
}

#[derive(Debug, Error)]
pub enum ResolveError {
    #[error("invalid reference: {0}")]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Fetch(FetchError),
    #[error(transparent)]
    Json(#[from] JsonError),
    #[error("invalid value: {0}")]
    BadBulk(&'static str),
    #[error("this is not a valid variable name: it is empty or starts with a digit")]
    BadBulkName,
    #[error("no parameter is under this path (check the path and the region)")]
    EmptyPath,
    #[error("{0} gives this variable too; rename one of them")]
    BulkCollision(String),
    // execve(2) takes NUL-terminated strings, so the value would be cut
    // short without a word.
    #[error("the resolved value contains a NUL byte, which an environment variable cannot hold")]
    Nul,
}

impl ResolveError {
    /// What to look at for this error, with a leading space, or nothing.
    pub fn hint(&self) -> &'static str {
        let ResolveError::Fetch(FetchError::Service { code, .. }) = self else {
            return "";
        };
        match code.as_str() {
            "ResourceNotFoundException" | "ParameterNotFound" => " (check the name and the region)",
            "AccessDeniedException" | "AccessDenied" => {
                " (check that the IAM policy allows this call on this resource)"
            }
            _ => "",
        }
    }

    /// Tells whether AWS said the secret or parameter does not exist: the
    /// one failure that `?optional` and `?default=` stand in for. A denied
    /// call, a deleted secret or a missing parameter version still fail.
    fn is_not_found(&self) -> bool {
        matches!(
            self,
            ResolveError::Fetch(FetchError::Service { code, .. })
                if code == "ResourceNotFoundException" || code == "ParameterNotFound"
        )
    }
}

/// Why a secret or parameter could not be read.
#[derive(Clone, Debug, Error)]
pub enum FetchError {
    #[error("{code}: {message}")]
    Service { code: String, message: String },
    #[error("request failed: {0}")]
    Transport(String),
    #[error(
        "no answer within {} ms (--timeout){}",
        .after.as_millis(),
        still_retrying(.last.as_deref())
    )]
    Timeout {
        after: Duration,
        /// The last failure that was being retried when time ran out.
        last: Option<Box<FetchError>>,
    },
    #[error("an attempt got no answer within {} ms", .0.as_millis())]
    AttemptTimeout(Duration),
    #[error("no AWS region is set; set AWS_REGION or refer to the value by ARN")]
    NoRegion,
    #[error(transparent)]
    Trust(crate::trust::TrustError),
    #[error("the response held no value")]
    Empty,
    #[error(
        "GetParametersByPath answered page {0} with a NextToken it had sent before; stopped there"
    )]
    RepeatedPage(usize),
}

impl FetchError {
    /// Converts an SDK error, keeping the AWS error code when there is one.
    fn from_sdk<E>(error: SdkError<E, HttpResponse>) -> FetchError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let described = aws_error::describe(&error);
        match described.code {
            Some(code) => FetchError::Service {
                code,
                message: described.text,
            },
            None => FetchError::Transport(described.text),
        }
    }
}

/// What a timeout's message adds about the failure being retried.
fn still_retrying(last: Option<&FetchError>) -> String {
    match last {
        Some(error) => format!("; still retrying after {error}"),
        None => String::new(),
    }
}

/// One secret or parameter to fetch: what, and in which region.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FetchKey {
    source: Source,
    region: Option<String>,
}

type Answers = Vec<(FetchKey, Result<Secret, FetchError>)>;
type FetchFuture<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// What a variable turned out to be before anything is fetched.
enum Entry {
    Plain(OsString, OsString),
    Reference {
        name: OsString,
        raw: String,
        reference: Reference,
    },
}

/// The references of an environment, classified but not yet fetched.
pub struct Plan {
    entries: Vec<Entry>,
    failures: Vec<Failure>,
    keys: Vec<FetchKey>,
    bulk: Vec<bulk::Bulk>,
    /// Every name the environment sets, which bulk values do not replace.
    names: HashSet<OsString>,
}

/// What was fetched: each secret or parameter, and each path's parameters.
#[derive(Default)]
pub struct Fetched {
    values: HashMap<FetchKey, Result<Secret, FetchError>>,
    paths: HashMap<String, Result<Vec<(String, Secret)>, FetchError>>,
}

impl Fetched {
    pub fn new() -> Fetched {
        Fetched::default()
    }
}

/// Classifies every variable of `env`, keeping their order. Nothing is
/// fetched yet, so that an environment without references needs no async
/// runtime at all.
pub fn plan(env: Vec<(OsString, OsString)>, options: &Options) -> Plan {
    let literal: HashSet<&OsStr> = options.literal.iter().map(OsStr::new).collect();
    let mut failures = Vec::new();
    let mut entries = Vec::with_capacity(env.len());
    let names: HashSet<OsString> = env.iter().map(|(name, _)| name.clone()).collect();
    for (name, value) in env {
        let parsed = if literal.contains(name.as_os_str()) {
            Ok(None)
        } else {
            match value.to_str() {
                Some(text) => reference::parse(text, options.bare_arns),
                None => reference::check_not_utf8(value.as_bytes(), options.bare_arns),
            }
        };
        // What log lines and errors show of the reference: a default in it
        // is a secret.
        let shown = || reference::shown(&value.to_string_lossy()).into_owned();
        match parsed {
            Ok(None) => entries.push(Entry::Plain(name, value)),
            Ok(Some(reference)) => entries.push(Entry::Reference {
                raw: shown(),
                name,
                reference,
            }),
            Err(error) => failures.push(Failure {
                variable: name.to_string_lossy().into_owned(),
                reference: error.shown(&value.to_string_lossy()).into_owned(),
                error: error.into(),
            }),
        }
    }

    let paths = options.ssm_paths.iter().map(|path| bulk::Bulk::path(path));
    let secrets = options
        .secret_jsons
        .iter()
        .map(|id| bulk::Bulk::secret_json(id));
    let mut sources: Vec<bulk::Bulk> = Vec::new();
    for source in paths.chain(secrets) {
        match source {
            // The same source given twice, say in the image's variable and
            // again as a flag, is loaded once.
            Ok(source) if sources.iter().any(|known| known.same_as(&source)) => {}
            Ok(source) => sources.push(source),
            Err(failure) => failures.push(failure),
        }
    }

    let keys: Vec<FetchKey> = entries
        .iter()
        .filter_map(|entry| match entry {
            Entry::Reference { reference, .. } => Some(FetchKey {
                source: reference.source.clone(),
                region: reference.region.clone(),
            }),
            Entry::Plain(..) => None,
        })
        .chain(sources.iter().filter_map(|source| source.key().cloned()))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    Plan {
        entries,
        failures,
        keys,
        bulk: sources,
        names,
    }
}

impl Plan {
    /// Tells whether anything must be fetched from AWS.
    pub fn needs_aws(&self) -> bool {
        !self.keys.is_empty() || !self.bulk.is_empty()
    }

    /// The Parameter Store paths to load.
    fn paths(&self) -> Vec<String> {
        self.bulk
            .iter()
            .filter_map(|source| match source {
                bulk::Bulk::Path(path) => Some(path.clone()),
                bulk::Bulk::SecretJson { .. } => None,
            })
            .collect()
    }

    /// Fetches each distinct secret and parameter once, with at most
    /// `concurrency` requests in flight. Whatever has not been answered
    /// within `timeout`, retries included, fails closed.
    pub async fn fetch(&self, timeout: Duration, concurrency: usize) -> Fetched {
        let started = Instant::now();
        let calls = retry::Calls::new(concurrency, timeout);
        let tracker = Tracker::default();
        let http_client = match crate::trust::http_client(|name| std::env::var_os(name)) {
            Ok(client) => client,
            // Without the roots the user asked for, nothing is fetched:
            // every reference fails with why.
            Err(error) => return self.fail_all(FetchError::Trust(error)),
        };
        let fetch = async {
            // Retries are aws-init's own (see the retry module), so the
            // SDK makes exactly one attempt per send.
            let config = aws_config::defaults(BehaviorVersion::latest())
                .retry_config(RetryConfig::disabled())
                .http_client(http_client)
                .load()
                .await;
            fetch_all(&config, &calls, &tracker, self.keys.clone(), self.paths()).await
        };
        let finished = tokio::time::timeout(timeout, fetch).await.is_ok();
        let mut fetched = tracker.fetched.into_inner();
        if !finished {
            // What answered in time keeps its answer; the rest fails with
            // what was being retried, if anything was.
            let timed_out = |progress: Option<&retry::Progress>| FetchError::Timeout {
                after: timeout,
                last: progress.and_then(retry::Progress::last).map(Box::new),
            };
            let progress = tracker.keys.into_inner();
            for key in &self.keys {
                let error = || Err(timed_out(progress.get(key)));
                fetched.values.entry(key.clone()).or_insert_with(error);
            }
            let progress = tracker.paths.into_inner();
            for path in self.paths() {
                let error = Err(timed_out(progress.get(&path)));
                fetched.paths.entry(path).or_insert(error);
            }
        }
        log::debug!(
            "fetched {} secrets and parameters and {} paths in {} ms",
            fetched.values.len(),
            fetched.paths.len(),
            started.elapsed().as_millis()
        );
        fetched
    }

    /// What was fetched when nothing could be: `error` for every secret,
    /// parameter and path.
    fn fail_all(&self, error: FetchError) -> Fetched {
        let mut fetched = Fetched::new();
        for key in &self.keys {
            fetched.values.insert(key.clone(), Err(error.clone()));
        }
        for path in self.paths() {
            fetched.paths.insert(path, Err(error.clone()));
        }
        fetched
    }

    /// Puts the environment together from what was fetched: every
    /// variable, or every failure.
    pub fn finish(self, fetched: Fetched) -> Result<Vec<Variable>, Vec<Failure>> {
        let mut failures = self.failures;
        let mut variables = Vec::with_capacity(self.entries.len());
        for entry in self.entries {
            match entry {
                Entry::Plain(name, value) => variables.push(Variable {
                    name,
                    value: Value::Plain(value),
                }),
                Entry::Reference {
                    name,
                    raw,
                    reference,
                } => {
                    let shown = name.to_string_lossy().into_owned();
                    match outcome(&fetched, &reference) {
                        Outcome::Value(secret) => {
                            log::debug!("resolved {shown} from {raw}");
                            variables.push(Variable {
                                name,
                                value: Value::Resolved(secret),
                            });
                        }
                        Outcome::Unset => {
                            log::debug!("{shown}: {raw} does not exist; left unset (optional)");
                        }
                        Outcome::Default(secret) => {
                            log::debug!("{shown}: {raw} does not exist; set to its default");
                            variables.push(Variable {
                                name,
                                value: Value::Resolved(secret),
                            });
                        }
                        Outcome::Failed(error) => failures.push(Failure {
                            variable: shown,
                            reference: raw,
                            error,
                        }),
                    }
                }
            }
        }

        let expanded = bulk::expand(&self.bulk, &fetched, &self.names);
        failures.extend(expanded.unread.into_iter().map(|(source, error)| Failure {
            variable: source.option().to_owned(),
            reference: source.given().to_owned(),
            error,
        }));
        for loaded in expanded.loaded {
            match loaded.value {
                Ok(value) => {
                    log::debug!("loaded {} from {}", loaded.name, loaded.origin.short());
                    variables.push(Variable {
                        name: loaded.name.into(),
                        value: Value::Resolved(value),
                    });
                }
                Err(error) => failures.push(Failure {
                    variable: loaded.name,
                    reference: loaded.origin.short(),
                    error,
                }),
            }
        }

        if failures.is_empty() {
            Ok(variables)
        } else {
            Err(failures)
        }
    }
}

/// What one reference resolved to.
enum Outcome {
    Value(Secret),
    /// It does not exist, and `?optional` leaves the variable unset.
    Unset,
    /// It does not exist, and this is its `?default=`.
    Default(Secret),
    Failed(ResolveError),
}

/// Resolves one reference from what was fetched, with its `?optional` or
/// `?default=` standing in for a secret or parameter that does not exist.
fn outcome(fetched: &Fetched, reference: &Reference) -> Outcome {
    match pick(fetched, reference) {
        Ok(secret) if secret.expose().contains(&0) => Outcome::Failed(ResolveError::Nul),
        Ok(secret) => Outcome::Value(secret),
        Err(error) if error.is_not_found() => match &reference.missing {
            Missing::Fail => Outcome::Failed(error),
            Missing::Unset => Outcome::Unset,
            Missing::Default(value) => Outcome::Default(Secret::from_slice(value)),
        },
        Err(error) => Outcome::Failed(error),
    }
}

/// Takes one variable's value out of what was fetched.
fn pick(fetched: &Fetched, reference: &Reference) -> Result<Secret, ResolveError> {
    let key = FetchKey {
        source: reference.source.clone(),
        region: reference.region.clone(),
    };
    let secret = match fetched.values.get(&key) {
        Some(Ok(secret)) => secret,
        Some(Err(error)) => return Err(ResolveError::Fetch(error.clone())),
        None => return Err(ResolveError::Fetch(FetchError::Empty)),
    };
    match &reference.key {
        Some(json_key) => Ok(json::extract(secret.expose(), json_key)?),
        None => Ok(Secret::from_slice(secret.expose())),
    }
}

/// What the requests have answered so far, and what each one not yet
/// answered is retrying: kept outside the work that the deadline cancels.
#[derive(Default)]
struct Tracker {
    fetched: RefCell<Fetched>,
    keys: RefCell<HashMap<FetchKey, retry::Progress>>,
    paths: RefCell<HashMap<String, retry::Progress>>,
}

impl Tracker {
    /// A progress record for one request, which fetches `keys`.
    fn watch(&self, keys: impl IntoIterator<Item = FetchKey>) -> retry::Progress {
        let progress = retry::Progress::default();
        let mut watched = self.keys.borrow_mut();
        for key in keys {
            watched.insert(key, progress.clone());
        }
        progress
    }

    fn answer(&self, answers: Answers) {
        self.fetched.borrow_mut().values.extend(answers);
    }
}

/// Fetches every key, each one once, and every path, with every request
/// sent through `calls`; answers go to `tracker` as they come.
async fn fetch_all(
    config: &SdkConfig,
    calls: &retry::Calls,
    tracker: &Tracker,
    keys: Vec<FetchKey>,
    paths: Vec<String>,
) {
    let mut requests: Vec<FetchFuture<'_>> = Vec::new();
    let mut batches: HashMap<Option<String>, Vec<String>> = HashMap::new();
    // One client per service and region; clients share the SDK's HTTP
    // client, and with it the connections.
    let mut secret_clients = HashMap::new();
    let mut parameter_clients = HashMap::new();

    for key in keys {
        if key.region.is_none() && config.region().is_none() {
            tracker.answer(vec![(key, Err(FetchError::NoRegion))]);
            continue;
        }
        match &key.source {
            Source::Secret { id, version } => {
                let client = secret_clients
                    .entry(key.region.clone())
                    .or_insert_with(|| secrets_manager::client(config, key.region.as_deref()))
                    .clone();
                let (id, version) = (id.clone(), version.clone());
                let progress = tracker.watch([key.clone()]);
                requests.push(Box::pin(async move {
                    let value =
                        secrets_manager::get(calls, &progress, &client, &id, &version).await;
                    tracker.answer(vec![(key, value)]);
                }));
            }
            Source::Parameter { name } if parameter_store::batchable(name) => {
                batches.entry(key.region).or_default().push(name.clone());
            }
            Source::Parameter { name } => {
                let client = parameter_clients
                    .entry(key.region.clone())
                    .or_insert_with(|| parameter_store::client(config, key.region.as_deref()))
                    .clone();
                let name = name.clone();
                let progress = tracker.watch([key.clone()]);
                requests.push(Box::pin(async move {
                    let value = parameter_store::get(calls, &progress, &client, &name).await;
                    tracker.answer(vec![(key, value)]);
                }));
            }
        }
    }

    for (region, names) in batches {
        let client = parameter_clients
            .entry(region.clone())
            .or_insert_with(|| parameter_store::client(config, region.as_deref()))
            .clone();
        for chunk in names.chunks(parameter_store::BATCH_LIMIT) {
            let key = |name: String| FetchKey {
                source: Source::Parameter { name },
                region: region.clone(),
            };
            let progress = tracker.watch(chunk.iter().cloned().map(key));
            let chunk = chunk.to_vec();
            let client = client.clone();
            let region = region.clone();
            requests.push(Box::pin(async move {
                let answers = parameter_store::get_batch(calls, &progress, &client, &chunk)
                    .await
                    .into_iter()
                    .map(|(name, value)| {
                        let key = FetchKey {
                            source: Source::Parameter { name },
                            region: region.clone(),
                        };
                        (key, value)
                    })
                    .collect();
                tracker.answer(answers);
            }));
        }
    }

    // Paths go to the configured region, with one client of their own.
    let path_client = config
        .region()
        .map(|_| parameter_store::client(config, None));
    for path in paths {
        let client = path_client.clone();
        let progress = retry::Progress::default();
        tracker
            .paths
            .borrow_mut()
            .insert(path.clone(), progress.clone());
        requests.push(Box::pin(async move {
            let found = match &client {
                Some(client) => parameter_store::get_path(calls, &progress, client, &path).await,
                None => Err(FetchError::NoRegion),
            };
            tracker.fetched.borrow_mut().paths.insert(path, found);
        }));
    }

    // Every request starts at once; `calls` holds back those beyond the
    // bound on concurrency until a slot frees up.
    futures_util::future::join_all(requests).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_every_value() {
        let plain = Variable {
            name: "PLAIN".into(),
            value: Value::Plain("plain-canary".into()),
        };
        let resolved = Variable {
            name: "RESOLVED".into(),
            value: Value::Resolved(Secret::new(b"resolved-canary".to_vec())),
        };
        assert_eq!(
            format!("{plain:?}"),
            r#"Variable { name: "PLAIN", value: Plain([redacted, 12 bytes]) }"#
        );
        assert_eq!(
            format!("{resolved:?}"),
            r#"Variable { name: "RESOLVED", value: Resolved(Secret([redacted, 15 bytes])) }"#
        );
        let fetched = Fetched {
            values: [(
                FetchKey {
                    source: Source::Secret {
                        id: "app/db".into(),
                        version: Default::default(),
                    },
                    region: None,
                },
                Ok(Secret::new(b"fetched-canary".to_vec())),
            )]
            .into_iter()
            .collect(),
            paths: [(
                "/app".to_owned(),
                Ok(vec![(
                    "/app/x".to_owned(),
                    Secret::new(b"path-canary".to_vec()),
                )]),
            )]
            .into_iter()
            .collect(),
        };
        assert!(!format!("{:?}", fetched.values).contains("canary"));
        assert!(!format!("{:?}", fetched.paths).contains("canary"));
    }
}
