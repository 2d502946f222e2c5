"""The extension loads next to the libraries a Python process commonly has: pyarrow's bundled
OpenSSL symbols must not take the place of the system libcrypto's (hashlib, hmac, ssl)."""

import subprocess
import sys


def test_hashlib_and_ssl_after_strata():
    code = (
        "import strata, pyarrow, hashlib, hmac, ssl, secrets\n"
        "assert hashlib.sha256(b'strata').hexdigest().startswith('82ba7e1f')\n"
        "assert hmac.new(b'k', b'm', 'sha256').hexdigest()\n"
        "ssl.create_default_context()\n"
        "import numpy.random, pandas\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "ok"
