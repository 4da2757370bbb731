#!/usr/bin/env bash
# Installs what building (and, with --test, testing) cdw_backup needs on Debian 12.
# Idempotent: installs only missing packages.
set -euo pipefail

packages=(build-essential cmake pkg-config postgresql-15 postgresql-server-dev-15
          libzstd-dev libdeflate-dev zlib1g-dev libcurl4-openssl-dev libssl-dev libxml2-dev)
if [[ "${1:-}" == "--test" ]]; then
  # radosgw ceph-mon ceph-osd ceph-common: Ceph RADOS Gateway, the second S3
  # server of the integration tests (tests/integration/s3_server.py RGWServer);
  # openssl: the tests' throwaway CA; age: decrypting an encrypted part by hand
  # (tests/integration/test_encryption.py).
  packages+=(libgtest-dev gzip zstd clang-format python3 radosgw ceph-mon ceph-osd ceph-common openssl age)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}" ||
    { $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends "${missing[@]}"; }
fi

if [[ "${1:-}" == "--test" ]]; then
  # The S3 server and the independent reader (boto3) for integration tests.
  if ! command -v moto_server >/dev/null; then
    pip install 'moto[server]' boto3
  fi
fi
