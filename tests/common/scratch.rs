//! A scratch image on disk: a directory holding only a static aws-init, a
//! static test program and what a container runtime itself provides (a
//! mounted /proc and /dev/null), which aws-init runs in as its root and as
//! PID 1, with fresh mount and PID namespaces as a container would have.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::clean_env;
use super::temp::TempDir;

/// The program the tests start in the root. For each argument it prints a
/// line: `NAME=value` for an environment variable, so the output shows what
/// aws-init put in its environment; `ids=UID:GID` for `+ids`; and, for
/// `+create:PATH`, whether it could create that file, so the output shows
/// the lockdown was in force. Written in C and linked with `gcc -static`,
/// so that it needs nothing from the root either.
const SHOW_ENV_C: &str = r#"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "+ids") == 0) {
            printf("ids=%u:%u\n", (unsigned)getuid(), (unsigned)getgid());
        } else if (strncmp(arg, "+create:", 8) == 0) {
            int fd = open(arg + 8, O_WRONLY | O_CREAT | O_EXCL, 0600);
            printf("create %s: %s\n", arg + 8, fd < 0 ? strerror(errno) : "ok");
        } else {
            const char *value = getenv(arg);
            printf("%s=%s\n", arg, value ? value : "(unset)");
        }
    }
    return 0;
}
"#;

/// The path the test program has inside the root.
pub const SHOW_ENV: &str = "/show-env";

/// The user and group that locked-down runs take: nobody and nogroup.
pub const NOBODY: u32 = 65534;

/// Returns the static debug build of aws-init, building it on first use
/// with `scripts/build --debug`, and fails the test if it asks for a
/// dynamic loader.
pub fn static_aws_init() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = env!("CARGO_MANIFEST_DIR");
        // Only what finds the toolchain: what `cargo test` adds to the
        // environment would otherwise make each build differ from the last
        // and rebuild everything.
        let mut command = Command::new(format!("{root}/scripts/build"));
        command.arg("--debug").env_clear();
        for name in [
            "PATH",
            "HOME",
            "CARGO_HOME",
            "RUSTUP_HOME",
            "RUSTUP_TOOLCHAIN",
        ] {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "scripts/build --debug failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let path = Path::new(root).join(String::from_utf8(output.stdout).unwrap().trim());
        let interpreter = elf_interpreter(&fs::read(&path).unwrap());
        assert_eq!(interpreter, None, "{} is not static", path.display());
        path
    })
}

/// Returns the static test program, compiling it on first use.
pub fn show_env_program() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let source = dir.join(format!("show-env-{}.c", std::process::id()));
        let program = dir.join(format!("show-env-{}", std::process::id()));
        fs::write(&source, SHOW_ENV_C).unwrap();
        let status = Command::new("gcc")
            .args(["-static", "-O2", "-o"])
            .arg(&program)
            .arg(&source)
            .status()
            .expect("run gcc: scripts/setup installs it");
        assert!(status.success(), "gcc -static failed");
        let interpreter = elf_interpreter(&fs::read(&program).unwrap());
        assert_eq!(interpreter, None, "the test program is not static");
        program
    })
}

/// The program interpreter (PT_INTERP) that an ELF64 little-endian
/// executable names, if any: the dynamic loader the kernel would start it
/// with (see elf(5)). A static executable, PIE or not, names none.
pub fn elf_interpreter(elf: &[u8]) -> Option<String> {
    const PT_INTERP: u32 = 3;
    assert_eq!(
        &elf[..6],
        b"\x7fELF\x02\x01",
        "not an ELF64 little-endian file"
    );
    let u16_at = |at: usize| u16::from_le_bytes(elf[at..at + 2].try_into().unwrap()) as usize;
    let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().unwrap()) as usize;
    let (table, entry_size, entries) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    (0..entries)
        .map(|i| table + i * entry_size)
        .find(|&header| {
            u32::from_le_bytes(elf[header..header + 4].try_into().unwrap()) == PT_INTERP
        })
        .map(|header| {
            let (offset, size) = (u64_at(header + 0x08), u64_at(header + 0x20));
            let name = &elf[offset..offset + size];
            String::from_utf8_lossy(name.strip_suffix(b"\0").unwrap_or(name)).into_owned()
        })
}

/// How locked down a run in the root is.
#[derive(Clone, Copy, Debug, Default)]
pub struct Lockdown {
    /// The root is mounted read-only.
    pub read_only_root: bool,
    /// aws-init runs as nobody:nogroup, not as root.
    pub as_nobody: bool,
    /// /tmp exists, as a read-only mount, and TMPDIR names it.
    pub read_only_tmp: bool,
}

/// An empty root with the static aws-init at /aws-init and the test
/// program at [`SHOW_ENV`], removed on drop.
pub struct Scratch {
    dir: TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = TempDir::new("scratch");
        let root = dir.path();
        install(static_aws_init(), &root.join("aws-init"));
        install(
            show_env_program(),
            &root.join(SHOW_ENV.trim_start_matches('/')),
        );
        // Mount points for what the runtime provides; they are mounted
        // in the run's own mount namespace, so they vanish with it.
        fs::create_dir(root.join("proc")).unwrap();
        fs::create_dir(root.join("dev")).unwrap();
        fs::write(root.join("dev/null"), "").unwrap();
        Scratch { dir }
    }

    /// Adds the /etc/hosts a container runtime writes, which maps
    /// `localhost` to the loopback address.
    pub fn with_hosts(self) -> Scratch {
        let etc = self.dir.path().join("etc");
        fs::create_dir(&etc).unwrap();
        fs::write(etc.join("hosts"), "127.0.0.1\tlocalhost\n::1\tlocalhost\n").unwrap();
        self
    }

    /// Adds a file at `name` under the root, as an image's own layer would.
    pub fn with_file(self, name: &str, contents: &[u8]) -> Scratch {
        let path = self.dir.path().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
        self
    }

    /// The names of the files at the top of the root, sorted.
    pub fn entries(&self) -> Vec<String> {
        self.dir.entries()
    }

    /// A Command that runs /aws-init with `args` as PID 1 inside the root,
    /// with the harness's environment for `endpoint`. The host's shell,
    /// mount and chroot set the root up before aws-init starts; nothing of
    /// the host is reachable from inside but the loopback network.
    pub fn aws_init(&self, endpoint: &str, lockdown: Lockdown, args: &[&str]) -> Command {
        let mut setup = String::from("set -e; root=$1; shift\n");
        if lockdown.read_only_root {
            // A bind mount of the root onto itself is a mount of its own,
            // which can then be made read-only on its own (mount(8)).
            setup.push_str("mount --bind \"$root\" \"$root\"\n");
        }
        setup.push_str("mount -t proc proc \"$root/proc\"\n");
        setup.push_str("mount --bind /dev/null \"$root/dev/null\"\n");
        if lockdown.read_only_tmp {
            setup.push_str("mkdir \"$root/tmp\"\n");
            setup.push_str("mount -t tmpfs -o ro,mode=1777 tmpfs \"$root/tmp\"\n");
        }
        if lockdown.read_only_root {
            setup.push_str("mount -o remount,bind,ro \"$root\"\n");
        }
        if lockdown.as_nobody {
            setup.push_str(&format!(
                "exec /usr/sbin/chroot --userspec={NOBODY}:{NOBODY} \"$root\" /aws-init \"$@\"\n"
            ));
        } else {
            setup.push_str("exec /usr/sbin/chroot \"$root\" /aws-init \"$@\"\n");
        }

        let mut command = Command::new("/usr/bin/unshare");
        command
            .args(["--mount", "--pid", "--fork", "--kill-child", "--"])
            .args(["/bin/sh", "-c", &setup, "sh"])
            .arg(self.dir.path())
            .args(args);
        clean_env(&mut command, endpoint);
        if lockdown.read_only_tmp {
            command.env("TMPDIR", "/tmp");
        }
        command
    }
}

/// Copies `from` to `to` as an executable anyone may run, so that a run as
/// nobody can start it.
fn install(from: &Path, to: &Path) {
    fs::copy(from, to).unwrap();
    fs::set_permissions(to, fs::Permissions::from_mode(0o755)).unwrap();
}
