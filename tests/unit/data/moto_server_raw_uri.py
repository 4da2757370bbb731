#!/usr/bin/env python3
"""moto_server, with request signatures checked against the raw request line.

moto (5.x) verifies SigV4 signatures on a URL rebuilt by werkzeug as an IRI,
which percent-decodes the query and parts of the path: "prefix=a%2F" becomes
"prefix=a/", "%C3%BC" becomes "u-umlaut", "%2B" becomes "+". The canonical
request it computes then differs from the one every real client signs (S3
decodes and re-encodes), so moto answers SignatureDoesNotMatch even to boto3
for a ListObjectsV2 with a prefix containing '/' or for keys with '+', '%',
'!', '(' or non-ASCII characters. This launcher runs moto's own server
(moto.server.main, what the moto_server command runs) and makes only the
signature check see the request target exactly as it arrived (werkzeug's
RAW_URI), as S3 effectively does. Everything else is unchanged, and every
request after INITIAL_NO_AUTH_ACTION_COUNT is still verified.

    python3 moto_server_raw_uri.py -H 127.0.0.1 -p 5000
"""
import sys
from urllib.parse import urlsplit

from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.responses import BaseResponse
from moto.server import main

_setup_class = BaseResponse.setup_class
_authenticate = ActionAuthenticatorMixin._authenticate_and_authorize_action


def setup_class(self, request, full_url, headers, *args, **kwargs):
    _setup_class(self, request, full_url, headers, *args, **kwargs)
    environ = getattr(request, "environ", None) or {}
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    self._raw_request_uri = None
    if raw and raw.startswith("/"):
        parts = urlsplit(full_url)
        self._raw_request_uri = "%s://%s%s" % (parts.scheme, parts.netloc, raw)


def authenticate(self, iam_request_cls, resource="*"):
    raw = getattr(self, "_raw_request_uri", None)
    if not raw:
        return _authenticate(self, iam_request_cls, resource)
    rebuilt = self.uri
    self.uri = raw
    try:
        return _authenticate(self, iam_request_cls, resource)
    finally:
        self.uri = rebuilt


BaseResponse.setup_class = setup_class
ActionAuthenticatorMixin._authenticate_and_authorize_action = authenticate

if __name__ == "__main__":
    sys.exit(main())
