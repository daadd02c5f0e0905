//! Checks that the Dockerfile and the examples match the real program:
//! every `--flag` and `AWS_INIT_*` variable they name is in `aws-init
//! --help`, and the options and references each deployment gives aws-init
//! pass `--check --offline`.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use common::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The top-level Dockerfile and every file under examples/.
fn packaging_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else {
                found.push(path);
            }
        }
    }
    let mut files = vec![Path::new(ROOT).join("Dockerfile")];
    walk(&Path::new(ROOT).join("examples"), &mut files);
    files.sort();
    files
}

/// The `--flags` and `AWS_INIT_*` names in `text`.
fn names_in(text: &str) -> BTreeSet<String> {
    let bytes = text.as_bytes();
    let mut names = BTreeSet::new();
    let word = |at: usize, allowed: fn(u8) -> bool| {
        let end = bytes[at..]
            .iter()
            .position(|&byte| !allowed(byte))
            .map_or(bytes.len(), |length| at + length);
        text[at..end].to_owned()
    };
    for at in 0..bytes.len() {
        let starts_word = at == 0
            || !(bytes[at - 1].is_ascii_alphanumeric()
                || bytes[at - 1] == b'-'
                || bytes[at - 1] == b'_');
        if !starts_word {
            continue;
        }
        let rest = &text[at..];
        if rest.starts_with("--") && rest[2..].starts_with(|c: char| c.is_ascii_lowercase()) {
            names.insert(word(at, |byte| {
                byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-'
            }));
        } else if rest.starts_with("AWS_INIT_") {
            names.insert(word(at, |byte| {
                byte.is_ascii_uppercase() || byte.is_ascii_digit() || byte == b'_'
            }));
        }
    }
    names
}

#[test]
fn the_packaging_files_name_only_options_that_exist() {
    let help = run(aws_init_at(NOWHERE).arg("--help")).stdout;
    let known = names_in(&help);
    let mut used = BTreeSet::new();
    for path in packaging_files() {
        let text = fs::read_to_string(&path).unwrap();
        let dockerfile = path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with("Dockerfile"));
        for line in text.lines() {
            // FROM, COPY and ADD take Docker's own flags, such as --from.
            let instruction = line.split_whitespace().next().unwrap_or("");
            if dockerfile && ["FROM", "COPY", "ADD"].contains(&instruction) {
                continue;
            }
            for name in names_in(line) {
                assert!(
                    known.contains(&name),
                    "{} names {name}, which aws-init --help does not",
                    path.display()
                );
                used.insert(name);
            }
        }
    }
    // The scan finds what the examples are known to use.
    for name in ["--grace-period", "AWS_INIT_LOG_FORMAT", "AWS_INIT_SSM_PATH"] {
        assert!(used.contains(name), "{name} not found in {used:?}");
    }
}

/// One deployment in the examples: where it is, the variables it gives
/// aws-init and the arguments it passes.
struct Deployment {
    file: &'static str,
    vars: Vec<(String, String)>,
    args: Vec<String>,
}

fn read(file: &str) -> String {
    fs::read_to_string(Path::new(ROOT).join(file)).unwrap()
}

/// The variables and the `args` of a Kubernetes manifest, which the
/// examples write as `- name:` and `value:` pairs and a flow sequence.
fn kubernetes(file: &'static str) -> Deployment {
    let text = read(file);
    let mut vars = Vec::new();
    let mut args = Vec::new();
    let mut name = None;
    for line in text.lines().map(str::trim) {
        if let Some(value) = line.strip_prefix("- name: ") {
            name = Some(value.to_owned());
        } else if let Some(value) = line.strip_prefix("value: ") {
            vars.push((name.take().unwrap(), value.to_owned()));
        } else if let Some(list) = line.strip_prefix("args: ") {
            args = serde_json::from_str(list).unwrap();
        }
    }
    Deployment { file, vars, args }
}

/// The variables of an `ENV` instruction, continued over several lines.
fn dockerfile(file: &'static str) -> Deployment {
    let text = read(file).replace("\\\n", " ");
    let vars = text
        .lines()
        .filter_map(|line| line.strip_prefix("ENV "))
        .flat_map(str::split_whitespace)
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap();
            (name.to_owned(), value.to_owned())
        })
        .collect();
    Deployment {
        file,
        vars,
        args: Vec::new(),
    }
}

/// The container's `environment` and `command` in an ECS task definition.
fn ecs(file: &'static str) -> Deployment {
    let definition: serde_json::Value = serde_json::from_str(&read(file)).unwrap();
    let container = &definition["containerDefinitions"][0];
    let vars = container["environment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| {
            let text = |key: &str| pair[key].as_str().unwrap().to_owned();
            (text("name"), text("value"))
        })
        .collect();
    let args = serde_json::from_value(container["command"].clone()).unwrap();
    Deployment { file, vars, args }
}

#[test]
fn every_example_deployment_passes_an_offline_check() {
    let deployments = [
        dockerfile("examples/Dockerfile"),
        kubernetes("examples/kubernetes/irsa.yaml"),
        kubernetes("examples/kubernetes/pod-identity.yaml"),
        ecs("examples/ecs/task-definition.json"),
    ];
    for deployment in deployments {
        let file = deployment.file;
        assert!(
            deployment
                .vars
                .iter()
                .any(|(name, _)| name.starts_with("AWS_INIT_")),
            "{file}: no AWS_INIT_ variable found"
        );
        let mut command = aws_init_at(NOWHERE);
        for (name, value) in &deployment.vars {
            command.env(name, value);
        }
        // A command after --check is never started.
        let outcome = run(command
            .args(["--check", "--offline"])
            .args(&deployment.args));
        assert_eq!(
            outcome.code(),
            0,
            "{file}:\n{}{}",
            outcome.stdout,
            outcome.stderr
        );
        assert!(!outcome.stdout.is_empty(), "{file}: no reference checked");
        for line in outcome.stdout.lines() {
            assert!(line.ends_with(": valid"), "{file}: {line}");
        }
    }
}

#[test]
fn the_license_is_mit_in_both_places() {
    let license = read("LICENSE");
    assert!(license.starts_with("MIT License\n"), "{license}");
    let manifest = read("Cargo.toml");
    assert!(manifest.lines().any(|line| line == r#"license = "MIT""#));
}
