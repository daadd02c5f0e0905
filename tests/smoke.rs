//! A first end-to-end check that the harness and the binary fit together.

mod common;

use common::*;

#[test]
fn resolves_a_secret_into_the_command_environment() {
    let emulator = emulator();
    let name = unique("smoke");
    emulator.put_secret(&name, "s3cr3t-value");
    let outcome = run(emulator
        .aws_init()
        .env("TOKEN", format!("aws-secret:{name}"))
        .args(["sh", "-c", "printf '%s' \"$TOKEN\""]));
    assert_eq!(outcome.stdout, "s3cr3t-value");
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr);
}
