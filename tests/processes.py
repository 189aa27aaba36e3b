"""Helpers for tests that start other processes or serve files: two torchrun CPU processes, and an
HTTP server on the loopback address."""

import contextlib
import os
import subprocess
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

TORCHRUN = [str(Path(sys.executable).with_name("torchrun")), "--standalone", "--nproc-per-node=2"]


def torchrun_two(*args, timeout: float = 300) -> subprocess.CompletedProcess:
    """``torchrun`` with two gloo processes of one thread each running ``args`` (a script or ``-m module``
    and its arguments), in a session of its own so that a timed-out run can be killed as a group."""
    return subprocess.run([*TORCHRUN, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          start_new_session=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


@contextlib.contextmanager
def http_server(handler, **attributes):
    """A threaded HTTP server on 127.0.0.1 (a free port) with ``handler``; ``attributes`` are set on the
    server for the handler to read, and ``server.url`` is its address."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    for name, value in attributes.items():
        setattr(httpd, name, value)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
