"""moto's S3 server, with the one guarantee a real S3 gives and moto 5.2.5 does not: atomic
conditional writes.

moto checks `If-None-Match: *` (does the key exist?) and later stores the object, with no lock
between the two, in a threaded werkzeug server. Two racing PUTs of one key can both see "absent"
and both answer 200: two writers would both believe they committed the same Delta version. Under
load, in CI, S3Server.ServerConditionalPutIsAtomicUnderContention caught exactly that (a round
with two winners). Here every request that changes state (PUT, POST, DELETE) runs under one lock,
start to end, so a conditional write's check and store are one step; reads (GET, HEAD) stay
concurrent. moto is bound by Python's GIL, so serializing its writes costs little.

Usage (scripts/s3-server runs it): python scripts/s3_server_app.py HOST PORT
STRATA_S3_SWITCH_INTERVAL (seconds) sets sys.setswitchinterval, to stress thread interleaving
when checking this guarantee; STRATA_S3_UNSERIALIZED=1 turns the lock off (only to show the race).
"""

import os
import signal
import sys
import threading

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

MUTATING = frozenset({"PUT", "POST", "DELETE", "PATCH"})


class SerializedWrites:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") not in MUTATING:
            return self.app(environ, start_response)
        with self.lock:
            # The whole response is produced inside the lock: a lazily generated body would
            # otherwise run the store step after the lock is released.
            return list(self.app(environ, start_response))


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    interval = os.environ.get("STRATA_S3_SWITCH_INTERVAL")
    if interval:
        sys.setswitchinterval(float(interval))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    if os.environ.get("STRATA_S3_UNSERIALIZED") != "1":
        app = SerializedWrites(app)
    run_simple(host, port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
