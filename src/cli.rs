//! Parses the command line and the `AWS_INIT_*` variables into an action.
//!
//! Options come first and parsing stops at the first argument that is not
//! one, so `aws-init sh -c '...'` needs no `--`. A flag wins over its
//! variable.

use std::ffi::OsString;
use std::time::Duration;

use thiserror::Error;

use crate::log::{Format, Level};
use crate::supervise::signals;

pub const HELP: &str = "\
aws-init: resolve AWS secret references in the environment, then run a command
as a container's init (PID 1).

Usage: aws-init [OPTIONS] [--] COMMAND [ARGS...]
       aws-init --health-check
       aws-init --check [--offline] [OPTIONS]

A variable whose whole value is a reference is replaced by what it names:
  aws-secret:NAME_OR_ARN[?OPTIONS][#KEY]
                                    Secrets Manager (SecretString, or a
                                    SecretBinary as base64)
  aws-secret:/aws/reference/secretsmanager/NAME[?optional|?default=V][#KEY]
                                    the same secret, through Parameter Store
  aws-ssm:NAME_OR_ARN[:VERSION|:LABEL][?OPTIONS][#KEY]
                                    Parameter Store (SecureString decrypted)
  arn:...:secretsmanager:...:secret:NAME[?OPTIONS][#KEY]
  arn:...:secretsmanager:...:secret:NAME:JSON_KEY:VERSION_STAGE:VERSION_ID
                                    (the ECS form; trailing fields may be
                                    empty or left out)
  arn:...:ssm:...:parameter/NAME[:VERSION|:LABEL][?OPTIONS][#KEY]
                                    bare ARNs, unless --no-bare-arns
OPTIONS, joined by &: version-stage=STAGE, version-id=ID (secrets only),
optional (unset when it does not exist) or default=VALUE (percent-encoded);
optional and default do not go with a version or a label, in any form.
#KEY picks a top-level key of a JSON object; #/a/0 is a JSON pointer.
Every other value passes through unchanged. References are resolved once,
before COMMAND starts; if any fails, COMMAND does not start.

Options:
      --log-level LEVEL       error, warn, info or debug [default: info]
                              [env: AWS_INIT_LOG_LEVEL]
      --log-format FORMAT     text, or json for one JSON object a line
                              [default: text] [env: AWS_INIT_LOG_FORMAT]
      --no-bare-arns          leave bare secret and parameter ARNs as they are
                              [env: AWS_INIT_BARE_ARNS=0]
      --literal NAME          keep variable NAME's value literal; repeatable,
                              and added to the names in the variable
                              [env: AWS_INIT_LITERAL=NAME,NAME...]
      --ssm-path PATH         load every parameter under PATH, recursively,
                              as a variable named by the rest of its name
                              (/app + /app/db/pass -> DB_PASS); repeatable
                              [env: AWS_INIT_SSM_PATH=PATH,PATH...]
      --secret-json NAME_OR_ARN
                              load every top-level key of a JSON secret as
                              a variable (db-pass -> DB_PASS); repeatable
                              [env: AWS_INIT_SECRET_JSON=NAME,NAME...]
      --timeout DURATION      give up resolving after DURATION and fail closed;
                              throttling, 5xx, connection errors and
                              unanswered attempts are retried until then
                              [default: 30s] [env: AWS_INIT_TIMEOUT]
      --concurrency N         send at most N AWS requests at once
                              [default: 64] [env: AWS_INIT_CONCURRENCY]
      --grace-period DURATION DURATION after aws-init receives SIGTERM,
                              whatever --rewrite forwards it as, SIGKILL
                              what is left (10s, 1500ms, 2m); unset, it
                              waits as long as it takes. Also how long
                              processes left behind by COMMAND get after
                              SIGTERM once it exits (unset: 10s)
                              [env: AWS_INIT_GRACE_PERIOD]
      --subreaper             adopt and reap orphaned descendants when not
                              PID 1 (PR_SET_CHILD_SUBREAPER)
                              [env: AWS_INIT_SUBREAPER=1]
      --single-child          forward signals to COMMAND alone, not to its
                              process group [env: AWS_INIT_SINGLE_CHILD=1]
      --rewrite FROM:TO       forward signal FROM as TO, by name or number
                              (TERM:QUIT, 15:3, RTMIN+1:USR1); TO 0 drops
                              FROM; repeatable
                              [env: AWS_INIT_REWRITE=FROM:TO,FROM:TO...]
  -h, --health-check          check AWS credentials with STS GetCallerIdentity
                              (5 s limit) and exit 0 or 1; takes no command
      --check                 resolve every reference, print one line for
                              each (never a value) and exit 0 when all
                              resolve, else 1; starts no command
      --offline               with --check: only check the references'
                              syntax, with no AWS call and no credentials
      --help                  print this help and exit
  -V, -v, --version           print the version and exit

Exit codes:
  0-255  COMMAND's own exit code
  128+N  COMMAND was killed by signal N (SIGTERM: 143, SIGKILL: 137,
         SIGINT: 130), or a stop request (TERM, INT, QUIT, HUP) ended
         aws-init before COMMAND started
  125    aws-init failed, for example a reference did not resolve in time;
         COMMAND did not start
  126    COMMAND was found but could not be executed (no permission, or a
         missing #! interpreter)
  127    COMMAND was not found
  2      usage error
  0, 1   health check or --check passed, failed
";

/// How references are recognised and how the command is supervised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub log_level: Level,
    pub log_format: Format,
    pub bare_arns: bool,
    pub literal: Vec<String>,
    /// `--ssm-path`: Parameter Store paths to load every parameter from.
    pub ssm_paths: Vec<String>,
    /// `--secret-json`: JSON secrets to load every top-level key from.
    pub secret_jsons: Vec<String>,
    pub grace_period: Option<Duration>,
    pub timeout: Duration,
    /// `--concurrency`: how many AWS requests may be in flight at once.
    pub concurrency: usize,
    pub subreaper: bool,
    pub single_child: bool,
    /// Signal rewrites as (received, forwarded); forwarded 0 drops it.
    pub rewrites: Vec<(libc::c_int, libc::c_int)>,
}

impl Options {
    /// How the resolver recognises references, as these options say.
    pub fn resolve_options(&self) -> crate::resolve::Options {
        crate::resolve::Options {
            bare_arns: self.bare_arns,
            literal: self.literal.clone(),
            ssm_paths: self.ssm_paths.clone(),
            secret_jsons: self.secret_jsons.clone(),
        }
    }

    /// The signal to forward when `received` arrives, or 0 to drop it. A
    /// later rewrite of the same signal wins, so a flag overrides the
    /// variable.
    pub fn rewrite(&self, received: libc::c_int) -> libc::c_int {
        self.rewrites
            .iter()
            .rev()
            .find(|(from, _)| *from == received)
            .map_or(received, |(_, to)| *to)
    }
}

/// How long resolution may take unless `--timeout` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How many AWS requests may be in flight at once unless `--concurrency`
/// says otherwise: enough for 64 references in one round trip, and few
/// enough that one process does not open hundreds of connections.
pub const DEFAULT_CONCURRENCY: usize = 64;

/// The most `--concurrency` accepts; more would only exhaust file
/// descriptors and API quotas.
const MAX_CONCURRENCY: usize = 4096;

/// What aws-init was asked to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    Help,
    Version,
    HealthCheck(Options),
    /// Resolve every reference, or with `offline` only parse them, print
    /// one line for each, and start nothing.
    Check {
        options: Options,
        offline: bool,
    },
    Run {
        options: Options,
        command: Vec<OsString>,
    },
}

/// A usage error, with the log format to report it in.
#[derive(Debug, PartialEq, Eq)]
pub struct Usage {
    pub error: UsageError,
    /// `--log-format` when it came before the mistake and parsed, else
    /// `AWS_INIT_LOG_FORMAT` when it parses, else text: a deployment that
    /// asks for JSON gets its usage errors as JSON too, whichever setting
    /// is wrong.
    pub log_format: Format,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum UsageError {
    #[error("unknown option `{0}`; see aws-init --help")]
    UnknownOption(String),
    #[error("option `{0}` needs a value")]
    MissingValue(&'static str),
    #[error("option `{0}` takes no value")]
    UnexpectedValue(&'static str),
    #[error("invalid {source_name} `{value}`: {reason}")]
    InvalidValue {
        source_name: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("--health-check runs no command; give it alone")]
    HealthCheckCommand,
    #[error("--offline goes with --check")]
    OfflineWithoutCheck,
    #[error("--check and --health-check are separate actions; give one")]
    CheckAndHealthCheck,
    #[error("no command given; usage: aws-init [OPTIONS] [--] COMMAND [ARGS...]")]
    NoCommand,
}

/// Parses `args` (without the program name), reading defaults through
/// `var`.
pub fn parse(args: Vec<OsString>, var: impl Fn(&str) -> Option<OsString>) -> Result<Action, Usage> {
    let mut flag_format = None;
    parse_action(args, &var, &mut flag_format).map_err(|error| {
        let var_format = || {
            text_var(&var, "AWS_INIT_LOG_FORMAT")
                .ok()
                .flatten()
                .and_then(|text| Format::parse(&text))
        };
        Usage {
            error,
            log_format: flag_format.or_else(var_format).unwrap_or_default(),
        }
    })
}

/// Parses as [`parse`] does, setting `flag_format` as soon as a
/// `--log-format` flag has parsed.
fn parse_action(
    args: Vec<OsString>,
    var: &impl Fn(&str) -> Option<OsString>,
    flag_format: &mut Option<Format>,
) -> Result<Action, UsageError> {
    let mut options = Options {
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
    };
    let mut health_check = false;
    let mut check = false;
    let mut offline = false;
    // The flags given, whose variables are then not read at all: a flag
    // wins over its variable, even over one that would not parse.
    let mut given: Vec<&'static str> = Vec::new();
    let mut args = args.into_iter();
    let mut command = Vec::new();
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else {
            command.push(arg);
            break;
        };
        if text == "--" {
            break;
        }
        if !text.starts_with('-') || text == "-" {
            command.push(arg);
            break;
        }
        let (flag, inline) = match text.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (text, None),
        };
        let mut value = |name: &'static str| -> Result<String, UsageError> {
            match inline.clone() {
                Some(value) => Ok(value),
                None => args
                    .next()
                    .map(|value| value.to_string_lossy().into_owned())
                    .ok_or(UsageError::MissingValue(name)),
            }
        };
        let no_value = |name: &'static str| match inline {
            Some(_) => Err(UsageError::UnexpectedValue(name)),
            None => Ok(()),
        };
        match flag {
            "--help" => return Ok(Action::Help),
            "-V" | "-v" | "--version" => return Ok(Action::Version),
            "-h" | "--health-check" => {
                no_value("--health-check")?;
                health_check = true;
            }
            "--check" => {
                no_value("--check")?;
                check = true;
            }
            "--offline" => {
                no_value("--offline")?;
                offline = true;
            }
            "--log-level" => {
                given.push("--log-level");
                options.log_level = parse_level("--log-level", &value("--log-level")?)?;
            }
            "--log-format" => {
                given.push("--log-format");
                let format = parse_format("--log-format", &value("--log-format")?)?;
                options.log_format = format;
                *flag_format = Some(format);
            }
            "--no-bare-arns" => {
                no_value("--no-bare-arns")?;
                given.push("--no-bare-arns");
                options.bare_arns = false;
            }
            "--literal" => {
                let name = value("--literal")?;
                check_literal("--literal", &name)?;
                options.literal.push(name);
            }
            "--ssm-path" => options.ssm_paths.push(value("--ssm-path")?),
            "--secret-json" => options.secret_jsons.push(value("--secret-json")?),
            "--timeout" => {
                given.push("--timeout");
                options.timeout = parse_timeout("--timeout", &value("--timeout")?)?;
            }
            "--concurrency" => {
                given.push("--concurrency");
                options.concurrency = parse_concurrency("--concurrency", &value("--concurrency")?)?;
            }
            "--grace-period" => {
                let text = value("--grace-period")?;
                given.push("--grace-period");
                options.grace_period = Some(parse_duration("--grace-period", &text)?);
            }
            "--subreaper" => {
                no_value("--subreaper")?;
                given.push("--subreaper");
                options.subreaper = true;
            }
            "--single-child" => {
                no_value("--single-child")?;
                given.push("--single-child");
                options.single_child = true;
            }
            "--rewrite" => {
                let text = value("--rewrite")?;
                options.rewrites.push(parse_rewrite("--rewrite", &text)?);
            }
            _ => return Err(UsageError::UnknownOption(text.to_owned())),
        }
    }
    command.extend(args);

    let unset = |flag: &str| !given.contains(&flag);
    if unset("--log-level")
        && let Some(value) = text_var(var, "AWS_INIT_LOG_LEVEL")?
    {
        options.log_level = parse_level("AWS_INIT_LOG_LEVEL", &value)?;
    }
    if unset("--log-format")
        && let Some(value) = text_var(var, "AWS_INIT_LOG_FORMAT")?
    {
        options.log_format = parse_format("AWS_INIT_LOG_FORMAT", &value)?;
    }
    if unset("--no-bare-arns")
        && let Some(value) = text_var(var, "AWS_INIT_BARE_ARNS")?
    {
        options.bare_arns = parse_bool("AWS_INIT_BARE_ARNS", &value)?;
    }
    // These add to their flags; the variable's entries come first. Paths
    // and secrets are checked with the references they stand beside.
    let lists: [(_, _, CheckEntry); 3] = [
        ("AWS_INIT_LITERAL", &mut options.literal, check_literal),
        ("AWS_INIT_SSM_PATH", &mut options.ssm_paths, accept_any),
        (
            "AWS_INIT_SECRET_JSON",
            &mut options.secret_jsons,
            accept_any,
        ),
    ];
    for (name, list, check) in lists {
        if let Some(value) = text_var(var, name)? {
            let mut entries: Vec<String> = value
                .split(',')
                .map(str::trim)
                .filter(|entry| !entry.is_empty())
                .map(str::to_owned)
                .collect();
            for entry in &entries {
                check(name, entry)?;
            }
            entries.append(list);
            *list = entries;
        }
    }
    if unset("--timeout")
        && let Some(value) = text_var(var, "AWS_INIT_TIMEOUT")?
    {
        options.timeout = parse_timeout("AWS_INIT_TIMEOUT", &value)?;
    }
    if unset("--concurrency")
        && let Some(value) = text_var(var, "AWS_INIT_CONCURRENCY")?
    {
        options.concurrency = parse_concurrency("AWS_INIT_CONCURRENCY", &value)?;
    }
    if unset("--grace-period")
        && let Some(value) = text_var(var, "AWS_INIT_GRACE_PERIOD")?
    {
        options.grace_period = Some(parse_duration("AWS_INIT_GRACE_PERIOD", &value)?);
    }
    if unset("--subreaper")
        && let Some(value) = text_var(var, "AWS_INIT_SUBREAPER")?
    {
        options.subreaper = parse_bool("AWS_INIT_SUBREAPER", &value)?;
    }
    if unset("--single-child")
        && let Some(value) = text_var(var, "AWS_INIT_SINGLE_CHILD")?
    {
        options.single_child = parse_bool("AWS_INIT_SINGLE_CHILD", &value)?;
    }
    // The variable's rewrites come first, so that a flag for the same
    // signal, later in the list, wins. A broken variable is still an
    // error: which of its signals a flag covers cannot be told.
    if let Some(value) = text_var(var, "AWS_INIT_REWRITE")? {
        let mut rewrites = Vec::new();
        for rewrite in value
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
        {
            rewrites.push(parse_rewrite("AWS_INIT_REWRITE", rewrite)?);
        }
        rewrites.append(&mut options.rewrites);
        options.rewrites = rewrites;
    }

    if offline && !check {
        return Err(UsageError::OfflineWithoutCheck);
    }
    if check {
        if health_check {
            return Err(UsageError::CheckAndHealthCheck);
        }
        // A command may follow, as when --check is added to a container's
        // usual arguments; it is never started.
        return Ok(Action::Check { options, offline });
    }
    if health_check {
        if !command.is_empty() {
            return Err(UsageError::HealthCheckCommand);
        }
        return Ok(Action::HealthCheck(options));
    }
    if command.is_empty() {
        return Err(UsageError::NoCommand);
    }
    Ok(Action::Run { options, command })
}

/// Reads a variable, treating an empty one as unset.
fn text_var(
    var: &impl Fn(&str) -> Option<OsString>,
    name: &'static str,
) -> Result<Option<String>, UsageError> {
    match var(name) {
        None => Ok(None),
        Some(value) if value.is_empty() => Ok(None),
        Some(value) => match value.into_string() {
            Ok(text) => Ok(Some(text)),
            Err(value) => Err(UsageError::InvalidValue {
                source_name: name,
                value: value.to_string_lossy().into_owned(),
                reason: "not valid UTF-8",
            }),
        },
    }
}

/// Checks one entry of a list variable, named by its first argument.
type CheckEntry = fn(&'static str, &str) -> Result<(), UsageError>;

/// Takes any entry: the list's entries are checked later.
fn accept_any(_: &'static str, _: &str) -> Result<(), UsageError> {
    Ok(())
}

/// Checks a name given to `--literal`: one that is empty or holds `=`
/// names no variable, so it would keep nothing literal without a word.
fn check_literal(source_name: &'static str, name: &str) -> Result<(), UsageError> {
    if name.is_empty() || name.contains('=') {
        return Err(UsageError::InvalidValue {
            source_name,
            value: name.to_owned(),
            reason: "expected a variable's name, not empty and without `=`",
        });
    }
    Ok(())
}

fn parse_level(source_name: &'static str, text: &str) -> Result<Level, UsageError> {
    Level::parse(text).ok_or_else(|| UsageError::InvalidValue {
        source_name,
        value: text.to_owned(),
        reason: "expected error, warn, info or debug",
    })
}

fn parse_format(source_name: &'static str, text: &str) -> Result<Format, UsageError> {
    Format::parse(text).ok_or_else(|| UsageError::InvalidValue {
        source_name,
        value: text.to_owned(),
        reason: "expected text or json",
    })
}

fn parse_bool(source_name: &'static str, text: &str) -> Result<bool, UsageError> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(UsageError::InvalidValue {
            source_name,
            value: text.to_owned(),
            reason: "expected 1, 0, true, false, yes, no, on or off",
        }),
    }
}

/// Parses `FROM:TO`, each a signal name (`TERM`, `SIGTERM`, `RTMIN+2`) or
/// number. FROM must be a signal aws-init can receive and forward: not
/// SIGKILL or SIGSTOP, which no process can catch, and not SIGCHLD, which
/// tells the init to reap. TO may also be 0, which drops FROM.
fn parse_rewrite(
    source_name: &'static str,
    text: &str,
) -> Result<(libc::c_int, libc::c_int), UsageError> {
    let invalid = |reason| UsageError::InvalidValue {
        source_name,
        value: text.to_owned(),
        reason,
    };
    let (from, to) = text
        .split_once(':')
        .ok_or_else(|| invalid("expected FROM:TO, such as TERM:QUIT or 15:3"))?;
    let from = signals::parse(from).ok_or_else(|| invalid("FROM is not a signal"))?;
    if matches!(from, libc::SIGKILL | libc::SIGSTOP | libc::SIGCHLD) {
        return Err(invalid("SIGKILL, SIGSTOP and SIGCHLD cannot be rewritten"));
    }
    let to = match to.trim() {
        "0" => 0,
        to => signals::parse(to).ok_or_else(|| invalid("TO is not a signal or 0"))?,
    };
    Ok((from, to))
}

/// Parses a `--timeout`: a duration, and not 0, which would fail every
/// reference before its request could be sent.
fn parse_timeout(source_name: &'static str, text: &str) -> Result<Duration, UsageError> {
    match parse_duration(source_name, text)? {
        Duration::ZERO => Err(UsageError::InvalidValue {
            source_name,
            value: text.to_owned(),
            reason: "the timeout must be more than 0",
        }),
        timeout => Ok(timeout),
    }
}

/// Parses a `--concurrency`: a whole number from 1 to [`MAX_CONCURRENCY`].
fn parse_concurrency(source_name: &'static str, text: &str) -> Result<usize, UsageError> {
    match text.parse::<usize>() {
        Ok(count) if (1..=MAX_CONCURRENCY).contains(&count) => Ok(count),
        _ => Err(UsageError::InvalidValue {
            source_name,
            value: text.to_owned(),
            reason: "expected a whole number from 1 to 4096",
        }),
    }
}

/// Parses `1500ms`, `10s`, `2m` or `1h`; a bare number is seconds.
fn parse_duration(source_name: &'static str, text: &str) -> Result<Duration, UsageError> {
    let invalid = || UsageError::InvalidValue {
        source_name,
        value: text.to_owned(),
        reason: "expected a whole number with ms, s, m or h, such as 10s or 1500ms",
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits.parse().map_err(|_| invalid())?;
    let millis = match unit {
        "ms" => Some(number),
        "" | "s" => number.checked_mul(1_000),
        "m" => number.checked_mul(60_000),
        "h" => number.checked_mul(3_600_000),
        _ => None,
    };
    millis.map(Duration::from_millis).ok_or_else(invalid)
}

#[cfg(test)]
mod tests;
