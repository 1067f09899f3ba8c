"""Schemathesis hooks for fuzzing Hookline (loaded through SCHEMATHESIS_HOOKS).

Endpoints the fuzzer creates get deliveries, and a delivery is an outbound POST. So that no
generated URL sends traffic anywhere but this machine, every `url` in a request body that
Hookline would read as an http(s) URL is replaced, before the request is sent, with
HOOKLINE_FUZZ_RECEIVER (a receiver on loopback that the test runs). Other values are left
alone: Hookline refuses them with a 422, which is part of what is being tested.
"""

import json
import os

import schemathesis

RECEIVER = os.environ["HOOKLINE_FUZZ_RECEIVER"]

# What the URL parser ignores around and inside a URL: leading and trailing C0 controls and
# spaces, and tabs and newlines anywhere.
_STRIPPED = "".join(chr(c) for c in range(0x21))
_REMOVED = str.maketrans("", "", "\t\n\r")


def _is_http_url(value):
    text = value.translate(_REMOVED).strip(_STRIPPED).lower()
    return text.startswith(("http:", "https:"))


def _confine(body):
    """`body` with its `url`, if Hookline would take it for an http(s) URL, pointed at the
    receiver."""
    if isinstance(body, dict):
        url = body.get("url")
        if isinstance(url, str) and _is_http_url(url):
            return {**body, "url": RECEIVER}
        return body
    if isinstance(body, (str, bytes)):
        try:
            parsed = json.loads(body)
        except ValueError:
            return body
        confined = _confine(parsed)
        if confined is not parsed:
            return json.dumps(confined)
    return body


@schemathesis.hook
def before_call(context, case, kwargs):
    case.body = _confine(case.body)
