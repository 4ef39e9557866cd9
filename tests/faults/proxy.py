"""A small TCP proxy for the network faults netem would give where the kernel has it: a delay on
every chunk it forwards, and (to prove the checksums catch it) one flipped byte per connection in the
server's reply past its headers. Threads, loopback only."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Proxy:
    target_port: int
    delay_s: float = 0.0
    corrupt_at: int | None = None  # flip the byte at this offset of each reply stream
    port: int = 0
    corrupted: int = 0
    _server: socket.socket | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Proxy:
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(64)
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    def _accept(self) -> None:
        assert self._server is not None
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump, args=(client, upstream, None), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, self.corrupt_at), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, corrupt_at: int | None) -> None:
        seen = 0
        try:
            while chunk := src.recv(65536):
                if self.delay_s:
                    time.sleep(self.delay_s)
                if corrupt_at is not None and seen <= corrupt_at < seen + len(chunk):
                    i = corrupt_at - seen
                    chunk = chunk[:i] + bytes([chunk[i] ^ 0x5A]) + chunk[i + 1 :]
                    with self._lock:
                        self.corrupted += 1
                seen += len(chunk)
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
