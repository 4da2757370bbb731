"""A TCP proxy that adds latency: this kernel has no netem.

DelayProxy(upstream_port, rtt_ms) listens on 127.0.0.1 and forwards every
connection to 127.0.0.1:upstream_port, holding each chunk rtt_ms / 2 in each
direction (so a request and its answer pay rtt_ms more, like a link that
far away; no bandwidth limit). Connections are opened upstream one for one,
so a server that closes its connections (moto answers `Connection: close`)
costs a new connection, and its set-up round trip, per request (the
connection's first bytes wait for the delay too).

fail_matching(pattern): every later request whose first bytes contain
`pattern` (e.g. b"/public.t017/part-") gets its connection reset instead of
forwarded: a failure injected into an upload in flight. Counts in `failed`.
fail_first_match(regex): the same for requests matching a compiled bytes
regex whose group 1 (e.g. an object's key) is the one of the first request
that matched: every attempt at one object fails, whichever it turns out to
be (e.g. the CompleteMultipartUpload of one block range of a table).

Pure stdlib, threads (two per direction per connection): used by the
benchmark (issue 16 goal 3) and by tests/integration/test_s3_latency.py.
"""
import queue
import socket
import struct
import threading
import time


class DelayProxy:
    def __init__(self, upstream_port, rtt_ms=0.0, upstream_host="127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self.delay = rtt_ms / 2000.0
        self.patterns = []
        self.regexes = []  # [regex, group 1 of its first match or None]
        self.failed = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._closing = False
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(512)
        self.port = self._sock.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def set_rtt(self, rtt_ms):
        self.delay = rtt_ms / 2000.0

    def fail_matching(self, pattern):
        self.patterns = self.patterns + [pattern]

    def fail_first_match(self, regex):
        self.regexes = self.regexes + [[regex, None]]

    def clear_failures(self):
        self.patterns = []
        self.regexes = []

    def _fails(self, head):
        if any(p in head for p in self.patterns):
            return True
        for entry in self.regexes:
            match = entry[0].search(head)
            if match is None:
                continue
            with self._lock:
                if entry[1] is None:
                    entry[1] = match.group(1)
            if entry[1] == match.group(1):
                return True
        return False

    def close(self):
        self._closing = True
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            pass
        self._thread.join(timeout=5)
        self._sock.close()

    def _accept(self):
        while True:
            client, _ = self._sock.accept()
            if self._closing:
                client.close()
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client):
        try:
            upstream = socket.create_connection(self.upstream)
        except OSError:
            client.close()
            return
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        state = {"reset": False, "open": 2}
        lock = threading.Lock()

        def reset():
            with lock:
                state["reset"] = True
            for s in (client, upstream):  # RST, not FIN: a connection that breaks
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    s.close()
                except OSError:
                    pass

        def done():
            with lock:
                state["open"] -= 1
                last = state["open"] == 0
            if last:
                for s in (client, upstream):
                    try:
                        s.close()
                    except OSError:
                        pass

        def direction(source, dest, inspect):
            chunks = queue.Queue()

            def send():
                try:
                    while True:
                        due, data = chunks.get()
                        if data is None:
                            break
                        wait = due - time.monotonic()
                        if wait > 0:
                            time.sleep(wait)
                        dest.sendall(data)
                    dest.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                done()
            sender = threading.Thread(target=send, daemon=True)
            sender.start()
            try:
                while True:
                    data = source.recv(256 * 1024)
                    if not data:
                        break
                    if inspect and (self.patterns or self.regexes) and self._fails(data[:8192]):
                        with self._lock:
                            self.failed += 1
                        reset()
                        break
                    chunks.put((time.monotonic() + self.delay, data))
            except OSError:
                pass
            chunks.put((0, None))

        threading.Thread(target=direction, args=(upstream, client, False), daemon=True).start()
        direction(client, upstream, True)
