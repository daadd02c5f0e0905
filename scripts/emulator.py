"""Run the local AWS emulator (moto's server) on a free loopback port.

Prints one line, `ready http://127.0.0.1:PORT`, once the server accepts
requests, then serves until standard input reaches end of file. Tying the
server's life to a pipe means it can never outlive the test or script that
started it, however that process ends.

With --seed-demo it first stores the sample secrets the demo resolves.
"""

import os
import sys

from moto.server import ThreadedMotoServer


def seed_demo(endpoint: str) -> None:
    import json

    import boto3

    # The emulator accepts any credentials; these dummy ones keep the
    # caller's environment out of it.
    session = boto3.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
    )
    sm = session.client("secretsmanager", endpoint_url=endpoint)
    ssm = session.client("ssm", endpoint_url=endpoint)
    sm.create_secret(
        Name="demo/db",
        SecretString=json.dumps(
            {"username": "app", "password": "demo-db-password", "port": 5432}
        ),
    )
    sm.create_secret(Name="demo/api-key", SecretString="demo-api-key-0123456789")
    ssm.put_parameter(Name="/demo/log-level", Value="debug", Type="String")
    ssm.put_parameter(
        Name="/demo/token", Value="demo-ssm-token-abcdef", Type="SecureString"
    )


def main() -> None:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    if "--seed-demo" in sys.argv[1:]:
        seed_demo(endpoint)
    print(f"ready {endpoint}", flush=True)
    sys.stdin.read()
    # A graceful stop can wait on connections a client left open; nothing
    # is left to save, so the process ends at once.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
