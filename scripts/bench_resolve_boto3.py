#!/usr/bin/env python3
"""The sequential boto3 resolver that scripts/bench_resolve.py compares
aws-init with: what an entrypoint written in Python typically does.

  bench_resolve_boto3.py COMMAND [ARGS...]

Replaces each variable whose value is aws-secret:NAME or aws-ssm:NAME with
the secret's SecretString or the parameter's decrypted value, fetched one
at a time with one GetSecretValue or GetParameter call each, then execs
COMMAND with that environment.
"""

import os
import sys

import boto3


def main():
    session = boto3.Session()
    clients = {}
    env = dict(os.environ)
    for name, value in sorted(env.items()):
        if value.startswith("aws-secret:"):
            client = clients.setdefault("sm", session.client("secretsmanager"))
            env[name] = client.get_secret_value(SecretId=value.removeprefix("aws-secret:"))["SecretString"]
        elif value.startswith("aws-ssm:"):
            client = clients.setdefault("ssm", session.client("ssm"))
            answer = client.get_parameter(Name=value.removeprefix("aws-ssm:"), WithDecryption=True)
            env[name] = answer["Parameter"]["Value"]
    os.execvpe(sys.argv[1], sys.argv[1:], env)


if __name__ == "__main__":
    main()
