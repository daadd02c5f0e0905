#!/bin/bash
# The `aws` CLI entrypoint script that scripts/bench_resolve.py compares
# aws-init with: replaces each variable whose value is aws-secret:NAME or
# aws-ssm:NAME by one `aws` call each, then execs its arguments.
#
#   bench_resolve_cli.sh COMMAND [ARGS...]
set -euo pipefail

for name in $(compgen -e); do
  ref=${!name}
  case $ref in
    aws-secret:*)
      value=$(aws secretsmanager get-secret-value --secret-id "${ref#aws-secret:}" \
        --query SecretString --output text)
      ;;
    aws-ssm:*)
      value=$(aws ssm get-parameter --name "${ref#aws-ssm:}" --with-decryption \
        --query Parameter.Value --output text)
      ;;
    *) continue ;;
  esac
  export "$name=$value"
done
exec "$@"
