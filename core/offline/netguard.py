"""The offline guarantee, enforced inside the process.

`install()` wraps Python's socket layer: a connection, a datagram sent to an address (`sendto`,
`sendmsg`) or a name lookup (`getaddrinfo`, `gethostbyname[_ex]`, `gethostbyaddr`) to anything
but loopback or a Unix socket is refused with `NetworkBlocked` and recorded, unless a download
the person started has opened an `allowing(host)` window for that one host. Every front end
reads `blocked_attempts()` to show what was stopped.

What this cannot see: native libraries that open sockets in C without Python (none of the ones
used here do for local inference), code that builds the C type `_socket.socket` itself (its
methods cannot be replaced, and `socket.py` needs the name), and child processes, which are not
this interpreter (the app starts none that use the network). The model download and the
configured controller server are the only code that opens a window.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger(__name__)

LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}
# Name lookups besides getaddrinfo: each asks a DNS server on the network for a name not local.
LOOKUPS = ("gethostbyname", "gethostbyname_ex", "gethostbyaddr")


class NetworkBlocked(ConnectionRefusedError):
    """A connection the offline guarantee does not allow."""


@dataclass(frozen=True)
class BlockedAttempt:
    host: str
    port: int | None
    at: float
    caller: str  # the innermost frame outside the socket layer, to find the culprit


_lock = threading.Lock()
_attempts: list[BlockedAttempt] = []
_allowed_hosts: dict[str, int] = {}  # host -> number of open allowing() windows
_resolved: dict[str, set[str]] = {}  # allowed host -> the addresses its name resolved to
_listeners: list[Callable[[BlockedAttempt], None]] = []
_originals: dict[str, object] = {}


def is_local(host: str) -> bool:
    host = (host or "").strip("[]").lower()
    if host.rstrip(".") in LOCAL_NAMES:  # "localhost." is the same name, fully qualified
        return True
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is IPv4 loopback
    return address.is_loopback or bool(mapped and mapped.is_loopback)


def _permitted(host: str) -> bool:
    if is_local(host):
        return True
    host = host.lower()
    with _lock:
        if _allowed_hosts.get(host, 0) > 0:
            return True
        # The guard sees addresses at connect time: an allowed name's addresses are allowed too.
        return any(host in addresses for name, addresses in _resolved.items() if _allowed_hosts.get(name))


def _record(host: str, port) -> None:
    frames = [f for f in traceback.extract_stack()
              if not f.filename.endswith(("netguard.py", "socket.py"))]
    caller = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
    attempt = BlockedAttempt(host, port if isinstance(port, int) else None, time.time(), caller)
    with _lock:
        _attempts.append(attempt)
        listeners = list(_listeners)
    log.warning("blocked a network connection to %s:%s from %s (offline mode)", host, port, caller)
    for listener in listeners:
        try:
            listener(attempt)
        except Exception:
            log.exception("netguard listener failed")


def _check_name(host: str, port=None) -> None:
    """Refuse and record a lookup or connection to `host` unless it is permitted."""
    if not _permitted(host):
        _record(host, port)
        raise NetworkBlocked(f"network access to {host} is blocked: the app is offline")


def _check(address, family=None) -> None:
    if family == getattr(socket, "AF_UNIX", None) or isinstance(address, (str, bytes)):
        return  # Unix domain sockets never leave the machine
    if not isinstance(address, tuple) or not address:
        return
    _check_name(str(address[0]), address[1] if len(address) > 1 else None)


def install() -> None:
    """Idempotent. Call early, before anything may open a connection."""
    with _lock:
        if _originals:
            return
        _originals.update(connect=socket.socket.connect, connect_ex=socket.socket.connect_ex,
                          sendto=socket.socket.sendto, sendmsg=socket.socket.sendmsg,
                          getaddrinfo=socket.getaddrinfo,
                          **{name: getattr(socket, name) for name in LOOKUPS})
    original_connect, original_connect_ex = _originals["connect"], _originals["connect_ex"]
    original_sendto, original_sendmsg = _originals["sendto"], _originals["sendmsg"]
    original_getaddrinfo = _originals["getaddrinfo"]

    def connect(self, address):
        _check(address, self.family)
        return original_connect(self, address)

    def connect_ex(self, address):
        _check(address, self.family)
        return original_connect_ex(self, address)

    def sendto(self, data, *flags_and_address):  # sendto(data, address) or sendto(data, flags, address)
        _check(flags_and_address[-1] if flags_and_address else None, self.family)
        return original_sendto(self, data, *flags_and_address)

    def sendmsg(self, buffers, *rest):  # sendmsg(buffers, ancdata, flags, address)
        if len(rest) >= 3:
            _check(rest[2], self.family)
        return original_sendmsg(self, buffers, *rest)

    def guarded_lookup(name):
        original = _originals[name]

        def lookup(host, *args, **kwargs):
            _check_name(host.decode() if isinstance(host, bytes) else str(host or ""))
            return original(host, *args, **kwargs)
        return lookup

    def getaddrinfo(host, *args, **kwargs):
        # A name lookup would ask a DNS server on the network before any connect: refuse it too.
        name = host.decode() if isinstance(host, bytes) else str(host or "")
        _check_name(name, args[0] if args else None)
        results = original_getaddrinfo(host, *args, **kwargs)
        if not is_local(name):
            with _lock:
                _resolved.setdefault(name.lower(), set()).update(str(r[4][0]) for r in results)
        return results

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.socket.sendto = sendto
    socket.socket.sendmsg = sendmsg
    socket.getaddrinfo = getaddrinfo
    for name in LOOKUPS:
        setattr(socket, name, guarded_lookup(name))


def uninstall() -> None:
    with _lock:
        if not _originals:
            return
        socket.socket.connect = _originals.pop("connect")
        socket.socket.connect_ex = _originals.pop("connect_ex")
        socket.socket.sendto = _originals.pop("sendto")
        socket.socket.sendmsg = _originals.pop("sendmsg")
        socket.getaddrinfo = _originals.pop("getaddrinfo")
        for name in LOOKUPS:
            setattr(socket, name, _originals.pop(name))


def installed() -> bool:
    return bool(_originals)


@contextmanager
def allowing(host: str):
    """Open the guard for one host while a person-started download runs."""
    host = host.lower()
    with _lock:
        _allowed_hosts[host] = _allowed_hosts.get(host, 0) + 1
    try:
        yield
    finally:
        with _lock:
            _allowed_hosts[host] -= 1
            if not _allowed_hosts[host]:
                del _allowed_hosts[host]
                _resolved.pop(host, None)


def allow(host: str) -> Callable[[], None]:
    """Open the guard for one host until the returned function is called (a configured server)."""
    window = allowing(host)
    window.__enter__()
    released = threading.Event()

    def release() -> None:
        if not released.is_set():
            released.set()
            window.__exit__(None, None, None)

    return release


def blocked_attempts() -> list[BlockedAttempt]:
    with _lock:
        return list(_attempts)


def clear_attempts() -> None:
    with _lock:
        _attempts.clear()


def on_blocked(listener: Callable[[BlockedAttempt], None]) -> Callable[[], None]:
    with _lock:
        _listeners.append(listener)

    def remove() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return remove
