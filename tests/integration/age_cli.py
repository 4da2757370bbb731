"""The age command (Debian's `age`, `age-keygen`) as the tests' independent
reader of encrypted objects, and what they share about stored parts."""
import gzip
import os
import subprocess
import tempfile

AGE_MAGIC = b"age-encryption.org/v1\n"
COMPRESSIONS = ("gzip", "zstd", "none")
SUFFIX = {"gzip": ".csv.gz", "zstd": ".csv.zst", "none": ".csv"}


def new_identity():
    """(identity, recipient) from age-keygen."""
    out = subprocess.run(["age-keygen"], capture_output=True, text=True, check=True).stdout
    identity = next(line for line in out.splitlines() if line.startswith("AGE-SECRET-KEY-1"))
    recipient = subprocess.run(["age-keygen", "-y"], input=identity, capture_output=True, text=True,
                               check=True).stdout.strip()
    return identity, recipient


def age_decrypt(identity, data):
    """The plaintext of `data` by the age command; None when age refuses it."""
    with tempfile.NamedTemporaryFile("w", delete=False) as f:
        f.write(identity + "\n")
        path = f.name
    try:
        proc = subprocess.run(["age", "-d", "-i", path], input=data, capture_output=True)
        return proc.stdout if proc.returncode == 0 else None
    finally:
        os.remove(path)


def decompress(compression, data):
    if compression == "gzip":
        return gzip.decompress(data)
    if compression == "zstd":
        return subprocess.run(["zstd", "-dc"], input=data, capture_output=True, check=True).stdout
    return data
