//! A test certificate authority, made with the openssl CLI, and a loopback
//! HTTPS endpoint in front of the emulator whose certificate it signed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command};

use super::emulator;
use super::temp::TempDir;

/// A CA of the test's own and a server certificate for 127.0.0.1 and
/// localhost that it signed, in a directory removed on drop.
pub struct TestCa {
    dir: TempDir,
}

impl TestCa {
    pub fn new() -> TestCa {
        let dir = TempDir::new("ca");
        let openssl = |args: &[&str]| {
            let output = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .env_clear()
                .output()
                .expect("run openssl: scripts/setup installs it");
            assert!(
                output.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        let key = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"][..],
                &key,
                &["-keyout", "ca.key", "-out", "ca.pem"],
                &["-days", "2", "-subj", "/CN=aws-init test CA"],
                &["-addext", "basicConstraints=critical,CA:TRUE"],
                &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ]
            .concat(),
        );
        openssl(
            &[
                &["req"][..],
                &key,
                &["-keyout", "server.key", "-out", "server.csr"],
                &["-subj", "/CN=127.0.0.1"],
            ]
            .concat(),
        );
        fs::write(
            dir.path().join("server.ext"),
            "basicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\n\
             subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ]);
        TestCa { dir }
    }

    /// The CA's certificate, a PEM file.
    pub fn bundle(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A file in the CA's directory, to write other bundles into.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// A TLS-terminating proxy on loopback in front of the emulator, serving
/// the CA's server certificate. It stops when dropped, which closes its
/// stdin.
pub struct HttpsEndpoint {
    pub endpoint: String,
    _process: Child,
    _stdin: ChildStdin,
}

impl HttpsEndpoint {
    pub fn new(ca: &TestCa) -> HttpsEndpoint {
        let upstream = emulator().endpoint.strip_prefix("http://").unwrap();
        HttpsEndpoint::in_front_of(ca, upstream)
    }

    /// A TLS-terminating proxy in front of `upstream` (`127.0.0.1:PORT`),
    /// such as a forward proxy that clients must reach over TLS.
    pub fn in_front_of(ca: &TestCa, upstream: &str) -> HttpsEndpoint {
        let root = env!("CARGO_MANIFEST_DIR");
        let (process, stdin, endpoint) = super::start_server(
            "the TLS proxy",
            Command::new(format!("{root}/.venv/bin/python"))
                .arg(format!("{root}/tests/common/tls_proxy.py"))
                .arg(ca.path().join("server.pem"))
                .arg(ca.path().join("server.key"))
                .arg(upstream)
                .env_clear(),
        );
        HttpsEndpoint {
            endpoint,
            _process: process,
            _stdin: stdin,
        }
    }
}
