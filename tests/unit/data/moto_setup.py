#!/usr/bin/env python3
"""Helper for the S3MotoTest GoogleTest fixture (tests/unit/s3_moto_test.cpp).

    moto_setup.py setup ENDPOINT NO_AUTH_COUNT BUCKET...
        Runs exactly NO_AUTH_COUNT unauthenticated set-up calls against a
        moto_server started with INITIAL_NO_AUTH_ACTION_COUNT=NO_AUTH_COUNT:
        an IAM user with full S3 access and one that may only read, their
        access keys, and the buckets. Then proves that signatures are now
        verified (a wrong secret is refused) and prints
            writer <key id> <secret>
            reader <key id> <secret>
    moto_setup.py uploads ENDPOINT KEY_ID SECRET BUCKET [PREFIX]
        Prints the number of in-progress multipart uploads (boto3).
    moto_setup.py object ENDPOINT KEY_ID SECRET BUCKET KEY
        Prints "<size> <sha256>" of an object read with boto3, or "missing".
    moto_setup.py put-many ENDPOINT KEY_ID SECRET BUCKET PREFIX COUNT
        Writes COUNT small objects PREFIX00000.. with boto3.
"""
import hashlib
import json
import sys
from concurrent.futures import ThreadPoolExecutor

import boto3
import botocore.config
import botocore.exceptions

WRITE_POLICY = {"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
READ_POLICY = {"Version": "2012-10-17",
               "Statement": [{"Effect": "Allow",
                              "Action": ["s3:GetObject", "s3:ListBucket"],
                              "Resource": "*"}]}


def client(service, endpoint, key_id="setup", secret="setup"):
    return boto3.client(
        service, endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=key_id, aws_secret_access_key=secret,
        config=botocore.config.Config(retries={"max_attempts": 1},
                                      s3={"addressing_style": "path"}))


def setup(endpoint, no_auth_count, buckets):
    iam = client("iam", endpoint)
    s3 = client("s3", endpoint)
    keys = {}
    calls = 0
    for user, policy in (("cdw-writer", WRITE_POLICY), ("cdw-reader", READ_POLICY)):
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName="s3",
                            PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        keys[user] = (key["AccessKeyId"], key["SecretAccessKey"])
        calls += 3
    for bucket in buckets:
        s3.create_bucket(Bucket=bucket)
        calls += 1
    if calls != no_auth_count:
        sys.exit("made %d set-up calls, expected %d" % (calls, no_auth_count))
    # From here on every request must be signed correctly.
    writer_id, writer_secret = keys["cdw-writer"]
    try:
        client("s3", endpoint, writer_id, writer_secret + "x").list_objects_v2(Bucket=buckets[0])
        sys.exit("moto accepted a wrong secret: signature checking is off")
    except botocore.exceptions.ClientError as e:
        if e.response["Error"]["Code"] != "SignatureDoesNotMatch":
            raise
    client("s3", endpoint, writer_id, writer_secret).list_objects_v2(Bucket=buckets[0])
    print("writer %s %s" % keys["cdw-writer"])
    print("reader %s %s" % keys["cdw-reader"])


def main(argv):
    command, endpoint = argv[1], argv[2]
    if command == "setup":
        setup(endpoint, int(argv[3]), argv[4:])
        return
    s3 = client("s3", endpoint, argv[3], argv[4])
    if command == "uploads":
        prefix = argv[6] if len(argv) > 6 else ""
        uploads = s3.list_multipart_uploads(Bucket=argv[5], Prefix=prefix).get("Uploads", [])
        print(len(uploads))
    elif command == "object":
        try:
            body = s3.get_object(Bucket=argv[5], Key=argv[6])["Body"].read()
            print("%d %s" % (len(body), hashlib.sha256(body).hexdigest()))
        except botocore.exceptions.ClientError as e:
            if e.response["Error"]["Code"] != "NoSuchKey":
                raise
            print("missing")
    elif command == "put-many":
        bucket, prefix, count = argv[5], argv[6], int(argv[7])
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: s3.put_object(Bucket=bucket, Key="%s%05d" % (prefix, i),
                                                  Body=b"%d" % i), range(count)))
        print(count)
    else:
        sys.exit("unknown command " + command)


if __name__ == "__main__":
    main(sys.argv)
