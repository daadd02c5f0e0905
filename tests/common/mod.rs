//! The test harness: starts the AWS emulator, seeds it, and runs the built
//! aws-init with an environment each test builds from nothing.
//!
//! Every run gets dummy credentials, `AWS_EC2_METADATA_DISABLED=true` and a
//! loopback endpoint, and nothing of the machine's own environment (such as
//! `AWS_CA_BUNDLE`, `SSL_CERT_FILE` or `HTTPS_PROXY`), so no test can reach
//! a real AWS endpoint or a metadata address, or a proxy of the machine's.

// Each test binary uses a different part of the harness.
#![allow(dead_code)]

pub mod canary;
pub mod checks;
pub mod connect_proxy;
pub mod dns;
pub mod json_log;
pub mod launch;
pub mod mock;
pub mod proxy;
pub mod runner;
pub mod scratch;
pub mod temp;
pub mod tls;

pub use runner::*;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::tls::Provider;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_runtime_api::client::http::SharedHttpClient;

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

/// A hang guard: long enough that only a hang trips it.
pub const GUARD: Duration = Duration::from_secs(60);

/// A loopback port nothing listens on, for runs that must not reach AWS.
pub const NOWHERE: &str = "http://127.0.0.1:9";

/// The emulator, shared by every test of one test binary. It lives until
/// the test process exits, which closes its stdin and so stops it.
pub struct Emulator {
    pub endpoint: String,
    _process: Child,
    _stdin: ChildStdin,
    runtime: tokio::runtime::Runtime,
}

/// Returns the emulator, starting it on first use.
pub fn emulator() -> &'static Emulator {
    static EMULATOR: OnceLock<Emulator> = OnceLock::new();
    EMULATOR.get_or_init(Emulator::start)
}

impl Emulator {
    fn start() -> Emulator {
        let root = env!("CARGO_MANIFEST_DIR");
        let (process, stdin, endpoint) = start_server(
            "the emulator",
            Command::new(format!("{root}/.venv/bin/python"))
                .arg(format!("{root}/scripts/emulator.py"))
                .env_clear()
                .env("PATH", "/usr/bin:/bin"),
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        Emulator {
            endpoint,
            _process: process,
            _stdin: stdin,
            runtime,
        }
    }

    fn secrets(&self, region: &str) -> aws_sdk_secretsmanager::Client {
        let config = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(region.to_owned()))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .http_client(direct_client())
            .build();
        aws_sdk_secretsmanager::Client::from_conf(config)
    }

    fn parameters(&self, region: &str) -> aws_sdk_ssm::Client {
        let config = aws_sdk_ssm::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_sdk_ssm::config::Region::new(region.to_owned()))
            .credentials_provider(aws_sdk_ssm::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .http_client(direct_client())
            .build();
        aws_sdk_ssm::Client::from_conf(config)
    }

    /// Stores a string secret in `region`, whose first version has the id
    /// `version_id` if one is given, and returns its ARN and that id.
    fn create_secret(
        &self,
        region: &str,
        name: &str,
        value: &str,
        version_id: Option<&str>,
    ) -> (String, String) {
        let client = self.secrets(region);
        self.runtime.block_on(async {
            let output = client
                .create_secret()
                .name(name)
                .secret_string(value)
                .set_client_request_token(version_id.map(str::to_owned))
                .send()
                .await
                .unwrap();
            (output.arn.unwrap(), output.version_id.unwrap())
        })
    }

    /// Stores a string secret in `region` and returns its ARN.
    pub fn put_secret_in(&self, region: &str, name: &str, value: &str) -> String {
        self.create_secret(region, name, value, None).0
    }

    /// Stores a string secret in the default region and returns its ARN.
    pub fn put_secret(&self, name: &str, value: &str) -> String {
        self.put_secret_in(REGION, name, value)
    }

    /// Stores a string secret in the default region and returns its ARN
    /// and the id of its first version.
    pub fn put_secret_versioned(&self, name: &str, value: &str) -> (String, String) {
        self.create_secret(REGION, name, value, None)
    }

    /// Stores a string secret in `region` whose first version has the id
    /// `version_id`, and returns its ARN.
    pub fn put_secret_with_version_id(
        &self,
        region: &str,
        name: &str,
        value: &str,
        version_id: &str,
    ) -> String {
        self.create_secret(region, name, value, Some(version_id)).0
    }

    /// Adds a version to secret `name` with the staging labels `stages`
    /// (AWSCURRENT when empty, which moves the old one to AWSPREVIOUS),
    /// and returns its id.
    pub fn put_secret_version(&self, name: &str, value: &str, stages: &[&str]) -> String {
        self.put_secret_version_in(REGION, name, value, stages)
    }

    /// [`Emulator::put_secret_version`] in `region`.
    pub fn put_secret_version_in(
        &self,
        region: &str,
        name: &str,
        value: &str,
        stages: &[&str],
    ) -> String {
        let client = self.secrets(region);
        let stages = (!stages.is_empty()).then(|| stages.iter().map(|s| s.to_string()).collect());
        self.runtime.block_on(async {
            client
                .put_secret_value()
                .secret_id(name)
                .secret_string(value)
                .set_version_stages(stages)
                .send()
                .await
                .unwrap()
                .version_id
                .unwrap()
        })
    }

    /// Stores a binary secret in the default region.
    pub fn put_binary_secret(&self, name: &str, value: &[u8]) {
        let client = self.secrets(REGION);
        self.runtime.block_on(async {
            client
                .create_secret()
                .name(name)
                .secret_binary(aws_sdk_secretsmanager::primitives::Blob::new(value))
                .send()
                .await
                .unwrap();
        });
    }

    /// Marks a secret for deletion, as DeleteSecret with a recovery window
    /// does.
    pub fn delete_secret(&self, name: &str) {
        let client = self.secrets(REGION);
        self.runtime.block_on(async {
            client.delete_secret().secret_id(name).send().await.unwrap();
        });
    }

    /// Stores a parameter of `kind` (String, StringList or SecureString)
    /// in `region`.
    pub fn put_parameter_in(&self, region: &str, name: &str, value: &str, kind: &str) {
        let client = self.parameters(region);
        self.runtime.block_on(async {
            client
                .put_parameter()
                .name(name)
                .value(value)
                .r#type(kind.into())
                .send()
                .await
                .unwrap();
        });
    }

    /// Stores a new version of String parameter `name` in the default
    /// region, and returns its version number.
    pub fn overwrite_parameter(&self, name: &str, value: &str) -> i64 {
        self.overwrite_parameter_in(REGION, name, value)
    }

    /// [`Emulator::overwrite_parameter`] in `region`.
    pub fn overwrite_parameter_in(&self, region: &str, name: &str, value: &str) -> i64 {
        let client = self.parameters(region);
        self.runtime.block_on(async {
            client
                .put_parameter()
                .name(name)
                .value(value)
                .r#type("String".into())
                .overwrite(true)
                .send()
                .await
                .unwrap()
                .version
        })
    }

    /// Puts `label` on version `version` of parameter `name`.
    pub fn label_parameter(&self, name: &str, version: i64, label: &str) {
        let client = self.parameters(REGION);
        self.runtime.block_on(async {
            client
                .label_parameter_version()
                .name(name)
                .parameter_version(version)
                .labels(label)
                .send()
                .await
                .unwrap();
        });
    }

    /// Stores a parameter of `kind` in the default region.
    pub fn put_parameter(&self, name: &str, value: &str, kind: &str) {
        self.put_parameter_in(REGION, name, value, kind)
    }

    /// A Command for aws-init that reaches this emulator and nothing else.
    pub fn aws_init(&self) -> Command {
        aws_init_at(&self.endpoint)
    }
}

/// An HTTP client for the harness's own calls to the emulator that goes
/// through no proxy: the SDK's default one would follow any proxy variable
/// set on the machine running the tests.
fn direct_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
        .build_https()
}

/// Starts a loopback server of the tests', one that serves until its
/// stdin closes and says `ready ENDPOINT` on stdout once it listens.
/// Returns it, its stdin and the endpoint.
pub fn start_server(what: &str, command: &mut Command) -> (Child, ChildStdin, String) {
    let mut process = command
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| {
            panic!("start {what}: {error}; run scripts/test, which installs it into .venv")
        });
    let stdin = process.stdin.take().unwrap();
    let mut line = String::new();
    BufReader::new(process.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let endpoint = line
        .strip_prefix("ready ")
        .unwrap_or_else(|| panic!("{what} did not start: {line:?}"))
        .trim()
        .to_owned();
    (process, stdin, endpoint)
}

/// A name no other test uses, so tests can share the emulator.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The ARN the emulator gives parameter `name` in `region`.
pub fn parameter_arn(region: &str, name: &str) -> String {
    format!(
        "arn:aws:ssm:{region}:{ACCOUNT}:parameter/{}",
        name.trim_start_matches('/')
    )
}

/// A Command for aws-init whose AWS endpoint is `endpoint`, with the
/// harness's environment and nothing else. It runs as a subreaper, as the
/// README tells users to run aws-init when it is not PID 1; without that it
/// warns (see [`aws_init_unregistered_at`]).
///
/// Under a runner that refuses PR_SET_CHILD_SUBREAPER, the test makes the
/// runner's process a subreaper itself before it starts (the attribute
/// survives execve(2)), so that orphans still come to aws-init's process
/// to be reaped, and [`outcome`] drops the warning the refusal causes
/// (see [`runner`]).
pub fn aws_init_at(endpoint: &str) -> Command {
    let mut command = aws_init_unregistered_at(endpoint);
    command.arg("--subreaper");
    subreaper_for_a_refusing_runner(&mut command);
    command
}

/// [`aws_init_at`] without `--subreaper`: neither PID 1 nor a subreaper.
pub fn aws_init_unregistered_at(endpoint: &str) -> Command {
    let mut command = aws_init_command();
    clean_env(&mut command, endpoint);
    command
}

/// A Command that runs aws-init as PID 1 of a new PID namespace.
pub fn aws_init_as_pid1_at(endpoint: &str) -> Command {
    let mut command = Command::new("/usr/bin/unshare");
    command.args(["--pid", "--fork", "--mount-proc", "--kill-child"]);
    command.args(aws_init_argv());
    clean_env(&mut command, endpoint);
    command
}

/// Replaces `command`'s environment with the harness's own.
pub fn clean_env(command: &mut Command, endpoint: &str) {
    command
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
}

/// What a finished run left behind.
#[derive(Debug)]
pub struct Outcome {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// The exit code; a run killed by a signal fails the test.
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("killed by a signal: {self:?}"))
    }
}

/// Runs `command` to the end with no stdin, failing the test if it hangs.
pub fn run(command: &mut Command) -> Outcome {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().unwrap();
    finish(child)
}

/// Waits for a spawned child whose stdout and stderr are piped, failing
/// the test if it has not finished within [`GUARD`]. A child that hangs is
/// killed with SIGKILL, after the process groups its own children lead, so
/// that a direct run's command does not outlive the test.
pub fn finish(child: Child) -> Outcome {
    let pid = child.id();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    match receiver.recv_timeout(GUARD) {
        Ok(output) => outcome(output.unwrap()),
        Err(_) => {
            kill_groups_of_children(pid);
            // SAFETY: kill has no memory-safety requirements.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("hung for {GUARD:?}: {command:?}", command = pid);
        }
    }
}

fn outcome(output: Output) -> Outcome {
    Outcome {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: without_runner_warning(&String::from_utf8_lossy(&output.stderr)),
    }
}

/// The lines a child writes to a pipe, read on a thread of their own so
/// that waiting for one can be bounded.
pub struct Lines {
    receiver: mpsc::Receiver<String>,
}

impl Lines {
    pub fn new(reader: impl Read + Send + 'static) -> Lines {
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Lines { receiver }
    }

    /// The next line, failing the test if none comes within [`GUARD`] or
    /// the pipe closes first.
    pub fn next(&self) -> String {
        self.receiver
            .recv_timeout(GUARD)
            .expect("no line from the child: it hung or closed its output")
    }

    /// The next line, or `None` if none comes within [`GUARD`] or the pipe
    /// closes first, for a test that names what it waited for.
    pub fn try_next(&self) -> Option<String> {
        self.receiver.recv_timeout(GUARD).ok()
    }

    /// Every remaining line, until the writer closes the pipe.
    pub fn rest(&self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Ok(line) = self.receiver.recv_timeout(GUARD) {
            lines.push(line);
        }
        lines
    }
}

/// The children of process `pid`, read from /proc.
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut children = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return children;
    };
    for task in tasks.flatten() {
        let path = task.path().join("children");
        if let Ok(text) = std::fs::read_to_string(path) {
            children.extend(
                text.split_whitespace()
                    .filter_map(|pid| pid.parse::<u32>().ok()),
            );
        }
    }
    children
}

/// Sends SIGKILL to the process group that each child of `pid` leads. The
/// command that aws-init starts leads a group of its own, so this ends it
/// and everything it started; a child that leads no group has none to kill
/// (kill(2) fails with ESRCH), which leaves the test's own group alone.
pub fn kill_groups_of_children(pid: u32) {
    for child in children_of(pid) {
        // SAFETY: kill has no memory-safety requirements.
        unsafe { libc::kill(-(child as i32), libc::SIGKILL) };
    }
}

/// A loopback listener that accepts connections and never answers, for
/// runs that must be caught mid-request.
pub struct Silent {
    pub listener: TcpListener,
    pub endpoint: String,
}

impl Silent {
    pub fn new() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        Silent { listener, endpoint }
    }

    /// Blocks until aws-init connects, which proves it is resolving, and
    /// fails the test if that takes longer than [`GUARD`]: an aws-init that
    /// ended first would otherwise leave the test waiting for ever. The
    /// connection is returned so that it stays open; reading from it fails
    /// after [`GUARD`] too.
    pub fn wait_for_request(&self) -> std::net::TcpStream {
        let mut ready = libc::pollfd {
            fd: self.listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let timeout = GUARD.as_millis() as libc::c_int;
        // SAFETY: one valid pollfd, and the count says so.
        let rc = unsafe { libc::poll(&mut ready, 1, timeout) };
        assert_eq!(rc, 1, "no request within {GUARD:?}");
        let connection = self.listener.accept().unwrap().0;
        // A test that reads the request must not hang on it either.
        connection.set_read_timeout(Some(GUARD)).unwrap();
        connection
    }
}

/// Sets `key` to each of `values` in the environment of `command`.
pub fn envs<'a>(command: &'a mut Command, vars: &[(&str, &str)]) -> &'a mut Command {
    for (key, value) in vars {
        command.env(OsStr::new(key), OsStr::new(value));
    }
    command
}
