#!/usr/bin/env python3
"""Stores the secrets and parameters that scripts/bench_resolve.py resolves.

  bench_resolve_seed.py ENDPOINT < NAMES

Reads lines of `secret NAME` or `parameter NAME` and creates each, with a
dummy value, in the emulator at ENDPOINT.
"""

import sys

import boto3


def main():
    session = boto3.Session()
    secrets = session.client("secretsmanager", endpoint_url=sys.argv[1])
    parameters = session.client("ssm", endpoint_url=sys.argv[1])
    for line in sys.stdin:
        kind, name = line.split()
        value = f"bench-value-{len(name)}-0123456789abcdef"
        if kind == "secret":
            secrets.create_secret(Name=name, SecretString=value)
        else:
            parameters.put_parameter(Name=name, Value=value, Type="SecureString")


if __name__ == "__main__":
    main()
