"""The sandbox stays on this machine: no listener of its process tree answers on a
non-loopback address of the machine's own interfaces.

The sandbox's API has no authentication and runs Lambda code as local processes.
The test wakes every kind of listener the sandbox starts (the gateway, the function
gateway, kinesis-local, a warm Lambda environment's runtime API, DynamoDB), lists the
listening TCP sockets of the sandbox's processes from ``/proc``, and connects to each
port through an address of a non-loopback interface: every connection must be refused.
"""

import contextlib
import fcntl
import ipaddress
import os
import socket
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaoskit import sandbox as chaoskit_sandbox
from tests.support.net import free_port
from tests.support.sandbox import create_function, unique, wait_for

SIOCGIFADDR = 0x8915
DUMMY = "ckloop0"
DUMMY_ADDRESS = "198.51.100.77"


def _interface_addresses() -> list[str]:
    """Return the IPv4 addresses of the machine's interfaces (ioctl per interface)."""
    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in socket.if_nameindex():
            try:
                packed = fcntl.ioctl(
                    sock.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()[:15])
                )
            except OSError:
                continue  # no IPv4 address on this interface
            found.append(socket.inet_ntoa(packed[20:24]))
    return found


@contextlib.contextmanager
def _non_loopback_address() -> Iterator[str]:
    """Yield an address of a non-loopback interface; add a dummy interface if there is none."""
    usable = [a for a in _interface_addresses() if not ipaddress.ip_address(a).is_loopback]
    if usable:
        yield usable[0]
        return
    added = subprocess.run(
        ["ip", "link", "add", DUMMY, "type", "dummy"], capture_output=True, check=False
    )
    if added.returncode != 0:
        pytest.skip(
            "this machine has no non-loopback IPv4 address and a dummy interface cannot be "
            f"added here: {added.stderr.decode(errors='replace').strip()}"
        )
    try:
        subprocess.run(["ip", "addr", "add", f"{DUMMY_ADDRESS}/32", "dev", DUMMY], check=True)
        subprocess.run(["ip", "link", "set", DUMMY, "up"], check=True)
        yield DUMMY_ADDRESS
    finally:
        subprocess.run(["ip", "link", "del", DUMMY], check=False)


def _process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
    return inodes


def _decode(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    # /proc/net/tcp6: four little-endian 32-bit words
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)


def listeners(root: int) -> list[tuple[int, str, int]]:
    """Return ``(pid, local address, port)`` of every listening TCP socket of ``root``'s tree."""
    listening: dict[str, tuple[str, int]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] != "0A":  # TCP_LISTEN
                    continue
                address, port = fields[1].split(":")
                listening[fields[9]] = (_decode(address), int(port, 16))
    return [
        (pid, *listening[inode])
        for pid in _process_tree(root)
        for inode in _socket_inodes(pid)
        if inode in listening
    ]


def _wake_every_listener(aws) -> None:
    kinesis = aws("kinesis")
    stream = unique("loopback-stream")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    aws("dynamodb").create_table(
        TableName=unique("loopback-table"),
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    name = unique("loopback-fn")
    create_function(aws, name)
    # A warm execution environment keeps its runtime API server listening.
    response = aws("lambda").invoke(FunctionName=name, Payload=b"{}")
    assert "FunctionError" not in response, response["Payload"].read()
    wait_for(
        lambda: (
            kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"][
                "StreamStatus"
            ]
            == "ACTIVE"
        ),
        timeout=30,
        what=f"stream {stream}",
    )


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_no_sandbox_listener_answers_on_a_non_loopback_address(sandbox_endpoint, aws):
    _wake_every_listener(aws)
    port = int(sandbox_endpoint.rsplit(":", 1)[1])
    pid = chaoskit_sandbox.status(port)["pid"]
    found = listeners(pid)
    ports = {p for _, _, p in found}
    assert port in ports, f"the gateway port {port} is not among the listeners {found}"
    # The gateway, kinesis-local's two ports and the warm function's runtime API.
    assert len(ports) >= 4, found

    exposed = [(p, a, n) for p, a, n in found if not ipaddress.ip_address(a).is_loopback]
    with _non_loopback_address() as outside:
        answered = []
        for _, _, number in found:
            with socket.socket() as sock:
                sock.settimeout(2)
                if sock.connect_ex((outside, number)) == 0:
                    answered.append(number)
    assert not answered, f"ports answering on {outside}: {sorted(set(answered))} of {found}"
    assert not exposed, f"listening on a non-loopback address: {exposed}"


def test_payments_stub_listens_on_loopback_only(tmp_path, monkeypatch):
    import reference_app

    app_deploy = reference_app.load()
    monkeypatch.setenv("CHAOSKIT_HOME", str(tmp_path / "home"))
    port = free_port()
    app_deploy.ensure_payments_stub(port=port)
    try:
        pid = int((tmp_path / "home" / "payments-stub.pid").read_text())
        found = listeners(pid)
        assert [p for _, _, p in found] == [port], found
        with _non_loopback_address() as outside, socket.socket() as sock:
            sock.settimeout(2)
            assert sock.connect_ex((outside, port)) != 0, f"the stub answers on {outside}"
        assert all(ipaddress.ip_address(a).is_loopback for _, a, _ in found), found
    finally:
        app_deploy.stop_payments_stub()
