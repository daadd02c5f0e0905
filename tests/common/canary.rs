//! Random canaries for the secrecy suites: secrets and parameters that
//! hold them, a search for any 8-byte piece of one, and a workspace that
//! tells whether a run left one in a file.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use super::temp::TempDir;
use super::{Outcome, emulator, envs, run, unique};

/// The shortest piece of a canary that must not show up anywhere.
pub const PIECE: usize = 8;

/// Every canary planted by this test process. Each check looks for all of
/// them, whichever test planted them.
static CANARIES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A fresh random canary of 24 letters and digits, registered in
/// [`CANARIES`]. Letters and digits make a chance match in memory or in a
/// log line all but impossible, and survive JSON and shell quoting.
pub fn canary() -> String {
    canary_of(24)
}

/// A registered canary of `len` letters and digits.
pub fn canary_of(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; len];
    File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut bytes)
        .unwrap();
    let canary: String = bytes
        .iter()
        .map(|byte| ALPHABET[*byte as usize % ALPHABET.len()] as char)
        .collect();
    CANARIES.lock().unwrap().push(canary.clone());
    canary
}

/// Every piece of [`PIECE`] bytes of every canary, as the integers their
/// bytes make, with a bitmap of their first three bytes to skip most
/// positions of a large haystack cheaply.
pub struct Pieces {
    all: HashSet<u64>,
    starts: Vec<u64>,
}

impl Pieces {
    pub fn now() -> Pieces {
        let mut all = HashSet::new();
        let mut starts = vec![0u64; (1 << 24) / 64];
        for canary in CANARIES.lock().unwrap().iter() {
            for piece in canary.as_bytes().windows(PIECE) {
                all.insert(u64::from_le_bytes(piece.try_into().unwrap()));
                let start = prefix(piece);
                starts[start / 64] |= 1 << (start % 64);
            }
        }
        Pieces { all, starts }
    }

    /// Where in `haystack` a piece of a canary starts, if anywhere.
    pub fn find(&self, haystack: &[u8]) -> Option<usize> {
        if haystack.len() < PIECE {
            return None;
        }
        (0..=haystack.len() - PIECE).find(|&at| {
            let start = prefix(&haystack[at..]);
            self.starts[start / 64] & (1 << (start % 64)) != 0
                && self.all.contains(&u64::from_le_bytes(
                    haystack[at..at + PIECE].try_into().unwrap(),
                ))
        })
    }

    /// Fails the test if `haystack`, described by `what`, holds a piece of
    /// a canary.
    pub fn assert_absent(&self, what: &str, haystack: &[u8]) {
        if let Some(at) = self.find(haystack) {
            let shown = String::from_utf8_lossy(&haystack[at..(at + 40).min(haystack.len())]);
            panic!("{what} holds a piece of a canary at byte {at}: {shown:?}");
        }
    }
}

fn prefix(bytes: &[u8]) -> usize {
    usize::from(bytes[0]) | usize::from(bytes[1]) << 8 | usize::from(bytes[2]) << 16
}

/// The secrets and parameters of one test, each holding canaries, the
/// variables that refer to them, and the bulk sources (`--ssm-path`,
/// `--secret-json`) that load more, given through their variables.
pub struct Planted {
    /// The variables aws-init is started with.
    pub vars: Vec<(String, String)>,
    /// Each variable the command must see, with its value.
    pub expected: Vec<(String, String)>,
    /// The Parameter Store path that `AWS_INIT_SSM_PATH` names.
    pub path: String,
    /// The JSON secret that `AWS_INIT_SECRET_JSON` names.
    pub json_secret: String,
}

impl Planted {
    pub fn new() -> Planted {
        let emulator = emulator();
        let (plain, password, nested, secure, string) =
            (canary(), canary(), canary(), canary(), canary());

        let plain_name = unique("secrecy-plain");
        emulator.put_secret(&plain_name, &plain);
        let json_name = unique("secrecy-json");
        emulator.put_secret(
            &json_name,
            &format!(r#"{{"password":"{password}","port":5432,"nested":{{"key":"{nested}"}}}}"#),
        );
        let secure_name = format!("/{}", unique("secrecy-secure"));
        emulator.put_parameter(&secure_name, &secure, "SecureString");
        let string_name = format!("/{}", unique("secrecy-string"));
        emulator.put_parameter(&string_name, &string, "String");

        // Loaded in bulk: every parameter under a path, and every key of
        // a JSON secret.
        let (path_secure, path_string, bulk_key, bulk_inner) =
            (canary(), canary(), canary(), canary());
        let path = format!("/{}", unique("secrecy-path"));
        emulator.put_parameter(&format!("{path}/db/password"), &path_secure, "SecureString");
        emulator.put_parameter(&format!("{path}/api-token"), &path_string, "String");
        let json_secret = unique("secrecy-bulk-json");
        emulator.put_secret(
            &json_secret,
            &format!(r#"{{"bulk-key":"{bulk_key}","bulk-nested":{{"inner":"{bulk_inner}"}}}}"#),
        );

        let references = [
            ("PLAIN", format!("aws-secret:{plain_name}"), plain.clone()),
            (
                "PASSWORD",
                format!("aws-secret:{json_name}#password"),
                password,
            ),
            (
                "NESTED",
                format!("aws-secret:{json_name}#nested"),
                format!(r#"{{"key":"{nested}"}}"#),
            ),
            (
                "POINTED",
                format!("aws-secret:{json_name}#/nested/key"),
                nested,
            ),
            ("SECURE", format!("aws-ssm:{secure_name}"), secure),
            ("STRING", format!("aws-ssm:{string_name}"), string),
            (
                "THROUGH_SSM",
                format!("aws-secret:/aws/reference/secretsmanager/{plain_name}"),
                plain,
            ),
        ];
        let mut vars: Vec<(String, String)> = references
            .iter()
            .map(|(name, reference, _)| (name.to_string(), reference.clone()))
            .collect();
        vars.push(("AWS_INIT_SSM_PATH".into(), path.clone()));
        vars.push(("AWS_INIT_SECRET_JSON".into(), json_secret.clone()));
        let mut expected: Vec<(String, String)> = references
            .into_iter()
            .map(|(name, _, value)| (name.to_owned(), value))
            .collect();
        expected.extend([
            ("DB_PASSWORD".to_owned(), path_secure),
            ("API_TOKEN".to_owned(), path_string),
            ("BULK_KEY".to_owned(), bulk_key),
            (
                "BULK_NESTED".to_owned(),
                format!(r#"{{"inner":"{bulk_inner}"}}"#),
            ),
        ]);
        Planted {
            vars,
            expected,
            path,
            json_secret,
        }
    }

    /// Adds `count` secrets of `size` random bytes each, referred to by
    /// `LARGE_1`, `LARGE_2` and so on.
    pub fn with_large_secrets(mut self, count: usize, size: usize) -> Planted {
        for index in 1..=count {
            let value = canary_of(size);
            let name = unique("secrecy-large");
            emulator().put_secret(&name, &value);
            let variable = format!("LARGE_{index}");
            self.vars
                .push((variable.clone(), format!("aws-secret:{name}")));
            self.expected.push((variable, value));
        }
        self
    }

    /// How many variables aws-init resolves for these references.
    pub fn resolved(&self) -> usize {
        self.expected.len()
    }

    /// Adds the planted variables to `command`.
    pub fn apply<'a>(&self, command: &'a mut Command) -> &'a mut Command {
        for (name, value) in &self.vars {
            command.env(name, value);
        }
        command
    }

    /// Writes what the command must see into `scratch`, one value a line,
    /// and returns the file's path.
    pub fn write_expected(&self, scratch: &TempDir) -> PathBuf {
        let path = scratch.path().join("expected");
        let mut text = String::new();
        for (_, value) in &self.expected {
            text.push_str(value);
            text.push('\n');
        }
        fs::write(&path, text).unwrap();
        path
    }

    /// A shell command that succeeds when the environment holds every
    /// planted value, comparing them with `file` (a shell word), so that
    /// no value is ever printed or passed as an argument.
    pub fn comparison(&self, file: &str) -> String {
        let names: Vec<String> = self
            .expected
            .iter()
            .map(|(name, _)| format!("\"${name}\""))
            .collect();
        format!("printf '%s\\n' {} | cmp -s - {file}", names.join(" "))
    }

    /// A command line that prints `match` when it sees every planted
    /// value, with the expected values in a file that `scratch` holds.
    pub fn checker(&self, scratch: &TempDir) -> Vec<String> {
        let expected = self.write_expected(scratch);
        vec![
            "sh".into(),
            "-c".into(),
            format!("{} && echo match", self.comparison("\"$1\"")),
            "sh".into(),
            expected.display().to_string(),
        ]
    }
}

/// The name that [`TempDir`]s holding expected values start with. Files in
/// them hold canaries by design, so the search for written files skips
/// them.
const EXPECTED: &str = "secrecy-expected";

/// A scratch directory for the expected values of one run.
pub fn expected_dir() -> TempDir {
    TempDir::new(EXPECTED)
}

/// A place for aws-init to run in: its working directory, HOME and TMPDIR,
/// which must be as empty afterwards as before; and the moment it was made,
/// after which no file anywhere aws-init might write may hold a canary.
pub struct Workspace {
    dir: TempDir,
    since: SystemTime,
}

impl Workspace {
    pub fn new() -> Workspace {
        // File times come from a clock that may lag a tick behind this
        // one, so the window starts a little early.
        let since = SystemTime::now() - Duration::from_secs(1);
        Workspace {
            dir: TempDir::new("secrecy-workspace"),
            since,
        }
    }

    pub fn apply<'a>(&self, command: &'a mut Command) -> &'a mut Command {
        command
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env("TMPDIR", self.dir.path())
    }

    /// Fails the test if aws-init left a file in the workspace, or if any
    /// file written since the workspace was made holds a piece of a
    /// canary: under the system's temporary directories, the crate, or
    /// next to the binary.
    pub fn assert_untouched(&self, pieces: &Pieces) {
        assert_eq!(
            self.dir.entries(),
            Vec::<String>::new(),
            "aws-init wrote files"
        );
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let binary = Path::new(super::bin()).parent().unwrap();
        let mut written = Vec::new();
        for temporary in [std::env::temp_dir(), "/var/tmp".into(), "/dev/shm".into()] {
            self.new_files(&temporary, Depth::NewDirectories, &mut written);
        }
        self.new_files(
            root,
            Depth::AllBut(&["target", ".git", ".venv"]),
            &mut written,
        );
        self.new_files(binary, Depth::Flat, &mut written);
        for path in written {
            let mut bytes = Vec::new();
            let Ok(file) = File::open(&path) else {
                continue;
            };
            // A file too large to be a leak of a few values is read in
            // part.
            let _ = file.take(64 << 20).read_to_end(&mut bytes);
            pieces.assert_absent(&format!("{}", path.display()), &bytes);
        }
    }

    /// Adds to `found` the regular files under `dir` modified since the
    /// workspace was made, going as deep as `depth` says. Symbolic links
    /// are not followed, and anything that vanishes meanwhile is skipped.
    fn new_files(&self, dir: &Path, depth: Depth, found: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let Ok(metadata) = entry.metadata() else {
                continue;
            };
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if metadata.is_file() {
                if metadata.modified().is_ok_and(|at| at >= self.since) {
                    found.push(path);
                }
                continue;
            }
            if !metadata.is_dir() || name.starts_with(&format!("aws-init-{EXPECTED}")) {
                continue;
            }
            match depth {
                Depth::Flat => {}
                // Only a directory made during the run is searched: one
                // that existed before belongs to someone else.
                Depth::NewDirectories => {
                    let made = metadata.created().or_else(|_| metadata.modified());
                    if made.is_ok_and(|at| at >= self.since) {
                        self.new_files(&path, depth, found);
                    }
                }
                Depth::AllBut(skipped) => {
                    if !skipped.contains(&name.as_str()) {
                        self.new_files(&path, depth, found);
                    }
                }
            }
        }
    }
}

/// How deep [`Workspace::new_files`] searches.
#[derive(Clone, Copy)]
enum Depth {
    /// The directory itself only.
    Flat,
    /// Into directories made since the workspace was.
    NewDirectories,
    /// Into every directory but these names.
    AllBut(&'static [&'static str]),
}

/// Checks a finished run: nothing of a canary in its output or in any file
/// written since `workspace` was made, and no file left in the workspace.
pub fn assert_clean(outcome: &Outcome, workspace: &Workspace) {
    let pieces = Pieces::now();
    pieces.assert_absent("stdout", outcome.stdout.as_bytes());
    pieces.assert_absent("stderr", outcome.stderr.as_bytes());
    workspace.assert_untouched(&pieces);
}

/// Runs aws-init with the planted variables and `extra`, in a fresh
/// workspace, with `args` before the command `checker` builds, and checks
/// that the run is clean.
pub fn run_planted(planted: &Planted, extra: &[(&str, &str)], args: &[&str]) -> Outcome {
    let workspace = Workspace::new();
    let scratch = expected_dir();
    let mut command = emulator().aws_init();
    planted.apply(&mut command);
    envs(&mut command, extra);
    workspace.apply(&mut command);
    let outcome = run(command.args(args).args(planted.checker(&scratch)));
    assert_clean(&outcome, &workspace);
    outcome
}
