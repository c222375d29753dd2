"""The offline guarantee, shown rather than claimed.

Under the product's guard sits a test tripwire in place of the real socket functions: if the
guard ever let a non-loopback connection or lookup through, the tripwire fails the test before
any packet could leave the machine.
"""

import socket

import pytest

from app.settings import Settings
from app.wiring import build_app
from core.history.store import ConversationStore
from core.offline import netguard
from models.store import LocalStore

LEAKS = []
FAKE_DNS: dict[str, str] = {}  # names the tripwire answers itself, without asking any DNS server


def _tripwire(original, address_of):
    def guarded(*args, **kwargs):
        host = address_of(*args, **kwargs)
        if host is not None and not netguard.is_local(host):
            LEAKS.append(host)
            raise AssertionError(f"a connection to {host} got past the guard")
        return original(*args, **kwargs)
    return guarded


def _host_of_address(sock, address, *rest):
    return str(address[0]) if isinstance(address, tuple) else None


def _fake_dns(lookup):
    def resolve(host, port=None, *args, **kwargs):
        if host in FAKE_DNS:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (FAKE_DNS[host], port))]
        return lookup(host, port, *args, **kwargs)
    return resolve


@pytest.fixture
def guard(monkeypatch):
    LEAKS.clear()
    monkeypatch.setattr(socket.socket, "connect", _tripwire(socket.socket.connect, _host_of_address))
    monkeypatch.setattr(socket.socket, "connect_ex", _tripwire(socket.socket.connect_ex, _host_of_address))
    monkeypatch.setattr(socket, "getaddrinfo", _fake_dns(_tripwire(socket.getaddrinfo, lambda host, *a, **k: str(host or ""))))
    monkeypatch.setattr(socket.socket, "sendto", _tripwire(socket.socket.sendto,
                                                           lambda sock, data, *rest: _host_of_address(sock, rest[-1])))
    monkeypatch.setattr(socket.socket, "sendmsg", _tripwire(
        socket.socket.sendmsg, lambda sock, buffers, *rest: _host_of_address(sock, rest[2]) if len(rest) > 2 else None))
    for name in ("gethostbyname", "gethostbyname_ex", "gethostbyaddr"):
        monkeypatch.setattr(socket, name, _tripwire(getattr(socket, name), lambda host, *a, **k: str(host or "")))
    FAKE_DNS.clear()
    netguard.install()
    netguard.clear_attempts()
    yield netguard
    netguard.uninstall()
    netguard.clear_attempts()
    assert LEAKS == []


def test_start_up_listing_and_a_full_ask_open_no_outside_connection(guard, qtbot, tmp_path, real_controller):
    from desktop.main_window import MainWindow

    settings = Settings(data_dir=str(tmp_path / "data"))
    window = MainWindow(settings, app_factory=lambda s, **kw: build_app(s, controller=real_controller, **kw))
    qtbot.addWidget(window)
    window.show()
    assert LocalStore(settings.data_path).list()
    app = build_app(settings, controller=real_controller)
    turn = app.engine.ask("How similar are 'A cat sits on the mat.' and 'A kitten rests on the rug.'?",
                          ConversationStore(settings.data_path).create())
    assert turn.status == "done" and turn.results[0].outputs["score"] > 0.5
    assert guard.blocked_attempts() == []
    assert window.offline_label.text() == "Offline"


def test_a_blocked_attempt_is_refused_recorded_and_shown(guard, qtbot, tmp_path):
    from desktop.main_window import MainWindow

    window = MainWindow(Settings(data_dir=str(tmp_path / "data")), app_factory=build_app)
    qtbot.addWidget(window)
    with pytest.raises(netguard.NetworkBlocked):
        socket.create_connection(("203.0.113.7", 443), timeout=1)  # TEST-NET-3: never routed
    with pytest.raises(netguard.NetworkBlocked):
        socket.getaddrinfo("telemetry.example.com", 443)
    attempts = guard.blocked_attempts()
    assert [(a.host, a.port) for a in attempts] == [("203.0.113.7", 443), ("telemetry.example.com", 443)]
    assert all("test_offline.py" in a.caller for a in attempts)
    qtbot.waitUntil(lambda: "2 connection attempts blocked" in window.offline_label.text(), timeout=5000)
    assert "203.0.113.7" in window.offline_label.toolTip()


def test_loopback_is_allowed_and_a_download_window_opens_one_host_only(guard):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname(), timeout=5)
    client.close()
    server.close()
    assert guard.blocked_attempts() == []
    with guard.allowing("mirror.example.org"):
        with pytest.raises(AssertionError, match="got past the guard"):  # reached the tripwire: allowed
            socket.getaddrinfo("mirror.example.org", 443)
        with pytest.raises(netguard.NetworkBlocked):
            socket.getaddrinfo("other.example.org", 443)
    LEAKS.clear()  # the tripwire hit above was the point of the test
    with pytest.raises(netguard.NetworkBlocked):
        socket.getaddrinfo("mirror.example.org", 443)


def test_an_allowed_name_also_allows_the_addresses_it_resolves_to(guard):
    FAKE_DNS["mirror.example.org"] = "198.51.100.9"  # a documentation address, never routed
    with guard.allowing("mirror.example.org"):
        (info,) = socket.getaddrinfo("mirror.example.org", 443)
        assert info[4][0] == "198.51.100.9"
        assert guard._permitted("198.51.100.9")  # the connect that follows the lookup may go ahead
    assert not guard._permitted("198.51.100.9")


@pytest.mark.parametrize("reach", [
    lambda: socket.gethostbyname("example.org"),
    lambda: socket.gethostbyname_ex("example.org"),
    lambda: socket.gethostbyaddr("203.0.113.7"),
    lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("203.0.113.7", 53)),
    lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", 0, ("203.0.113.7", 53)),
    lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendmsg([b"x"], [], 0, ("203.0.113.7", 53)),
], ids=["gethostbyname", "gethostbyname_ex", "gethostbyaddr", "sendto", "sendto-flags", "sendmsg"])
def test_lookups_and_datagrams_are_guarded_too(guard, reach):
    with pytest.raises(netguard.NetworkBlocked):
        reach()
    assert len(guard.blocked_attempts()) == 1


@pytest.mark.parametrize("host", ["localhost.", "::ffff:127.0.0.1", "[::1]", "127.0.0.2", "LOCALHOST"])
def test_every_spelling_of_loopback_is_local(host):
    assert netguard.is_local(host)


@pytest.mark.parametrize("host", ["::ffff:203.0.113.7", "localhost.example.org", "203.0.113.7", "0x7f.example"])
def test_lookalikes_are_not_local(host):
    assert not netguard.is_local(host)


def test_loopback_datagrams_and_lookups_still_work(guard):
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.sendto(b"ping", receiver.getsockname())
    assert receiver.recvfrom(16)[0] == b"ping"
    assert socket.gethostbyname("localhost") == "127.0.0.1"
    sender.close()
    receiver.close()
