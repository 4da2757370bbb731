#!/usr/bin/env python3
"""Our S3Store vs boto3 upload_fileobj, same bytes, same moto_server.

Not part of ctest. Starts moto_server as bench/run_bench.py does (no
signature checks), writes a ~100 MB CSV-like file, then alternates our
s3_upload_perf binary (Create .. Commit through S3Store, 64 KiB writes) and
boto3 upload_fileobj (default TransferConfig: 8 MB parts, 10 threads),
best of --repeat each.

    python3 tests/perf/s3_upload_perf.py --binary build/tests/s3_upload_perf
"""
import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MOTO = os.path.join(HERE, "..", "unit", "data", "moto_server_raw_uri.py")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_file(path, size):
    rng = random.Random(7)
    words = ["pending", "shipped", "delivered", "returned", "1-URGENT", "5-LOW", "Clerk#000"]
    with open(path, "w") as f:
        written, i = 0, 0
        while written < size:
            lines = []
            for _ in range(1000):
                i += 1
                lines.append("%d,%d,%s,%.2f,2024-%02d-%02d,%s,%s\n" % (
                    i, rng.randrange(10**6), rng.choice(words), rng.random() * 1e5,
                    rng.randrange(1, 13), rng.randrange(1, 29), rng.choice(words),
                    "x" * rng.randrange(20, 80)))
            chunk = "".join(lines)
            f.write(chunk)
            written += len(chunk)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--size-mb", type=float, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--option", action="append", default=[],
                    help="store option for ours, e.g. part_size=16MB")
    ap.add_argument("--only", choices=["ours", "boto3"])
    ap.add_argument("--show-boto-headers", action="store_true")
    args = ap.parse_args()

    import boto3
    import botocore.config
    from boto3.s3.transfer import TransferConfig

    work = tempfile.mkdtemp(prefix="s3perf_")
    path = os.path.join(work, "data.csv")
    make_file(path, int(args.size_mb * 1024 * 1024))
    size = os.path.getsize(path)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = open(os.path.join(work, "moto.log"), "w")
    moto = subprocess.Popen([sys.executable, MOTO, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    print(f"moto pid {moto.pid}, file {size} bytes", flush=True)
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="bench", aws_secret_access_key="bench",
                          config=botocore.config.Config(s3={"addressing_style": "path"}))
        for _ in range(600):
            try:
                s3.list_buckets()
                break
            except Exception:
                time.sleep(0.1)
        s3.create_bucket(Bucket="bench")
        if args.show_boto_headers:
            def show(request, **_):
                if "partNumber=1&" in request.url or "partNumber=1" == request.url[-12:]:
                    print("boto3 UploadPart headers:",
                          {k: (v if len(str(v)) < 80 else str(v)[:80] + "...")
                           for k, v in request.headers.items()}, flush=True)
            s3.meta.events.register("before-send.s3.UploadPart", show)

        def drop(prefix):
            for item in s3.list_objects_v2(Bucket="bench", Prefix=prefix).get("Contents", []):
                s3.delete_object(Bucket="bench", Key=item["Key"])

        def ours(i):
            out = subprocess.run([args.binary, "s3://bench/ours", endpoint, path, f"{i}.csv",
                                  "65536"] + args.option,
                                 check=True, capture_output=True, text=True).stdout
            result = json.loads(out)
            seconds = result["seconds"]
            complete[0].append(result["complete_seconds"])
            head = s3.head_object(Bucket="bench", Key=f"ours/{i}.csv")
            assert head["ContentLength"] == size, head
            drop("ours/")
            return seconds

        complete = ([], [])  # ours, boto3: seconds of CompleteMultipartUpload
        complete_start = [0.0]

        def before_complete(**_):
            complete_start[0] = time.perf_counter()
        s3.meta.events.register("before-call.s3.CompleteMultipartUpload", before_complete)

        def boto(i):
            start = time.perf_counter()
            with open(path, "rb") as f:
                s3.upload_fileobj(f, "bench", f"boto3/{i}.csv", Config=TransferConfig())
            end = time.perf_counter()
            seconds = end - start
            complete[1].append(end - complete_start[0])
            drop("boto3/")
            return seconds

        results = {"ours": [], "boto3": []}
        for i in range(args.repeat):
            if args.only != "boto3":
                results["ours"].append(ours(i))
            if args.only != "ours":
                results["boto3"].append(boto(i))
        for name, runs, completes in zip(results, results.values(), complete):
            if runs:
                print(f"{name:6s} runs {[round(r, 3) for r in runs]}; of which complete "
                      f"{[round(c, 3) for c in completes]}; without complete best "
                      f"{min(r - c for r, c in zip(runs, completes)):.3f} s")
                print(f"{name:6s} best {min(runs):.3f} s  {size / min(runs) / 1e6:7.1f} MB/s  "
                      f"all {[round(r, 3) for r in runs]}")
        if results["ours"] and results["boto3"]:
            print(f"ratio (our rate / boto3 rate): {min(results['boto3']) / min(results['ours']):.2f}")
    finally:
        os.killpg(moto.pid, 15)
        moto.wait()
        log.close()
        os.unlink(path)


if __name__ == "__main__":
    main()
