"""Fixtures for the python-socketio interop tests: the interop server binary and clients."""

import os
import queue
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import socketio

REPO_ROOT = Path(__file__).resolve().parents[3]
SERVER_BIN = Path(os.environ.get("INTEROP_SERVER_BIN", REPO_ROOT / "target/debug/examples/interop"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"interop server exited early with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"interop server did not listen on port {port} within {timeout} s")


@pytest.fixture(scope="session")
def server_url():
    if not SERVER_BIN.exists():
        pytest.fail(f"interop server binary not found at {SERVER_BIN}: run `cargo build --example interop` first")
    port = free_port()
    env = {**os.environ, "PORT": str(port), "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
    proc = subprocess.Popen([str(SERVER_BIN)], env=env, stdout=subprocess.DEVNULL)
    try:
        wait_listening(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Events:
    """Collects the events a client receives, one queue per event name."""

    def __init__(self, sio: socketio.Client, namespace: str = "/"):
        self.sio = sio
        self.namespace = namespace
        self.queues: dict[str, queue.Queue] = {}

    def watch(self, *events: str) -> "Events":
        for event in events:
            q = self.queues.setdefault(event, queue.Queue())
            self.sio.on(event, lambda *args, q=q: q.put(args), namespace=self.namespace)
        return self

    def next(self, event: str, timeout: float = 5.0) -> tuple:
        try:
            return self.queues[event].get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no {event!r} event within {timeout} s") from None

    def empty(self, event: str) -> bool:
        return self.queues[event].empty()


@pytest.fixture
def make_client(server_url):
    """Creates connected python-socketio clients; disconnects them after the test."""
    clients = []

    def make(transport: str = "websocket", namespace: str = "/", auth=None, watch=(), handlers=None, connect=True):
        sio = socketio.Client(reconnection=False)
        events = Events(sio, namespace).watch(*watch)
        for event, handler in (handlers or {}).items():
            sio.on(event, handler, namespace=namespace)
        clients.append(sio)
        if connect:
            sio.connect(server_url, transports=[transport], namespaces=[namespace], auth=auth, wait_timeout=5)
        return sio, events

    yield make
    for sio in clients:
        try:
            sio.disconnect()
        except Exception:  # noqa: BLE001 - already gone
            pass
