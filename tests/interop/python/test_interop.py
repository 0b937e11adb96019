"""python-socketio client against the realtime interop server (examples/interop.rs)."""

import threading
import time

import pytest
import socketio
from socketio.exceptions import ConnectionError as SioConnectionError

TRANSPORTS = ["websocket", "polling"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_connect(make_client, transport):
    sio, events = make_client(transport, auth={"user": "py"}, watch=["welcome"])
    assert sio.connected
    assert sio.transport() == transport
    (welcome,) = events.next("welcome")
    assert welcome == {"id": sio.get_sid("/"), "ns": "/", "auth": {"user": "py"}}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_emit_and_receive(make_client, transport):
    sio, events = make_client(transport, watch=["echo"])
    payload = {"text": "héllo ✓", "n": 42, "f": 1.5, "list": [1, None, True], "nested": {"a": {"b": []}}}
    sio.emit("echo", payload)
    assert events.next("echo") == (payload,)
    # several arguments: a tuple
    sio.emit("echo", ("a", 2, {"three": 3}))
    assert events.next("echo") == ("a", 2, {"three": 3})


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_call_with_ack(make_client, transport):
    sio, _ = make_client(transport)
    assert sio.call("ack-echo", {"x": 1}, timeout=5) == {"x": 1}
    assert sio.call("ack-echo", ("a", "b"), timeout=5) == ("a", "b")
    assert sio.call("add", {"a": 20, "b": 22}, timeout=5) == {"sum": 42}
    # a callback instead of call()
    got = threading.Event()
    replies = []
    sio.emit("ack-echo", "cb", callback=lambda *args: (replies.append(args), got.set()))
    assert got.wait(5)
    assert replies == [("cb",)]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_call_timeout_when_server_does_not_ack(make_client, transport):
    sio, _ = make_client(transport)
    with pytest.raises(socketio.exceptions.TimeoutError):
        sio.call("echo", "no ack", timeout=0.5)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_server_to_client_ack(make_client, transport):
    received = []

    def ask(data):
        received.append(data)
        return {"answer": 42, "echoed": data}

    sio, _ = make_client(transport, handlers={"ask": ask})
    report = sio.call("server-ack", {"event": "ask", "data": {"q": "life"}, "timeoutMs": 2000}, timeout=5)
    assert received == [{"q": "life"}]
    assert report == {"ok": True, "reply": {"answer": 42, "echoed": {"q": "life"}}}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_server_to_client_ack_timeout(make_client, transport):
    # python-socketio acknowledges every event once its handler returns (even without a
    # handler), so "never answers" is a handler slower than the server's timeout.
    asked = threading.Event()

    def slow(data):
        asked.set()
        time.sleep(1.0)
        return "too late"

    sio, _ = make_client(transport, handlers={"slow": slow})
    report = sio.call("server-ack", {"event": "slow", "data": 1, "timeoutMs": 300}, timeout=5)
    assert asked.is_set()
    assert report["ok"] is False
    assert report["timeout"] is True
    assert "no ack within" in report["error"]
    # The late ack arrives after the timeout: ignored, the connection goes on.
    time.sleep(1.0)
    assert sio.connected
    assert sio.call("ack-echo", "still connected", timeout=5) == "still connected"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_binary_both_ways(make_client, transport):
    sio, events = make_client(transport, watch=["echo", "binary", "binary-from-server"])
    sio.emit("echo", (b"\x01\x02\x03", "text", {"nested": {"buf": b"\x04\x05"}, "list": [b"\x06", "x"]}))
    top, text, obj = events.next("echo")
    assert top == b"\x01\x02\x03"
    assert text == "text"
    assert obj == {"nested": {"buf": b"\x04\x05"}, "list": [b"\x06", "x"]}

    # the Bin extractor sees the attachments
    assert sio.call("binary", (b"\xde\xad", {"b": b"\xbe\xef"}), timeout=5) == {"attachments": 2}
    assert events.next("binary") == (b"\xde\xad", {"b": b"\xbe\xef"})

    # binary in the server's ack
    assert sio.call("ack-echo", b"\x07\x07", timeout=5) == b"\x07\x07"
    assert sio.call("ack-echo", ({"inner": [b"\x08"]}, b""), timeout=5) == ({"inner": [b"\x08"]}, b"")

    # a payload built by the server, with nested attachments
    sio.emit("binary-from-server")
    assert events.next("binary-from-server") == (
        "server",
        b"\x01\x02\x03",
        {"nested": {"buf": b"\x04\x05\x06"}, "list": ["x", b"\x07\x08"]},
    )


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_binary_in_server_to_client_ack(make_client, transport):
    asked = []

    def ask_binary(label, buf):
        asked.append((label, buf))
        return b"\x01\x01\x02", "reply-text"

    sio, events = make_client(transport, watch=["server-ack-binary-result"], handlers={"ask-binary": ask_binary})
    sio.emit("server-ack-binary")
    assert events.next("server-ack-binary-result") == (b"\x01\x01\x02", "reply-text")
    assert asked == [("bin-question", b"\x09\x08\x07")]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_namespace_auth_success(make_client, transport):
    sio, events = make_client(transport, namespace="/admin", auth={"token": "secret"}, watch=["welcome"])
    (welcome,) = events.next("welcome")
    assert welcome["ns"] == "/admin"
    assert welcome["auth"] == {"token": "secret"}
    me = sio.call("whoami", namespace="/admin", timeout=5)
    assert me == {"ns": "/admin", "id": sio.get_sid("/admin"), "auth": {"token": "secret"}}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_namespace_auth_failure(make_client, server_url, transport):
    errors = []
    sio, _ = make_client(
        transport,
        namespace="/admin",
        handlers={"connect_error": lambda data: errors.append(data)},
        connect=False,
    )
    with pytest.raises(SioConnectionError) as excinfo:
        sio.connect(server_url, transports=[transport], namespaces=["/admin"], auth={"token": "wrong"}, wait_timeout=5)
    assert "/admin" in str(excinfo.value)
    assert errors == [{"message": "not authorized", "data": {"reason": "bad token"}}]
    assert not sio.connected


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_unknown_namespace(make_client, server_url, transport):
    errors = []
    sio, _ = make_client(
        transport,
        namespace="/nope",
        handlers={"connect_error": lambda data: errors.append(data)},
        connect=False,
    )
    with pytest.raises(SioConnectionError):
        sio.connect(server_url, transports=[transport], namespaces=["/nope"], wait_timeout=5)
    assert errors == [{"message": "Invalid namespace"}]


def test_rooms(make_client):
    a, ea = make_client("websocket", watch=["room-message"])
    b, eb = make_client("polling", watch=["room-message"])
    c, ec = make_client("websocket", watch=["room-message"])
    assert a.call("join", "py-room", timeout=5) == {"rooms": ["py-room"]}
    assert b.call("join", "py-room", timeout=5) == {"rooms": ["py-room"]}

    assert a.call("to-room", {"room": "py-room", "data": "hi"}, timeout=5) == "sent"
    assert eb.next("room-message") == ({"room": "py-room", "from": a.get_sid("/"), "data": "hi"},)
    time.sleep(0.3)
    assert ea.empty("room-message"), "the sender is excluded"
    assert ec.empty("room-message"), "non-members receive nothing"

    c.call("to-room", {"room": "py-room", "data": {"from": "outside"}}, timeout=5)
    assert ea.next("room-message")[0]["data"] == {"from": "outside"}
    assert eb.next("room-message")[0]["data"] == {"from": "outside"}

    assert b.call("leave", "py-room", timeout=5) == {"rooms": []}
    c.call("to-room", {"room": "py-room", "data": "after leave"}, timeout=5)
    assert ea.next("room-message")[0]["data"] == "after leave"
    time.sleep(0.3)
    assert eb.empty("room-message")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_server_disconnect(make_client, transport):
    gone = threading.Event()
    reasons = []

    def on_disconnect(*args):
        reasons.append(args)
        gone.set()

    sio, _ = make_client(transport, handlers={"disconnect": on_disconnect})
    sio.emit("disconnect-me")
    assert gone.wait(5), "the client saw the server's disconnect"
    # python-socketio (>= 5.12) passes the reason
    assert reasons == [(socketio.Client.reason.SERVER_DISCONNECT,)]
    assert not sio.connected


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_several_namespaces_on_one_connection(server_url, transport):
    sio = socketio.Client(reconnection=False)
    got = {"/": [], "/custom": []}
    sio.on("echo", lambda v: got["/"].append(v), namespace="/")
    sio.on("echo", lambda v: got["/custom"].append(v), namespace="/custom")
    sio.connect(server_url, transports=[transport], namespaces=["/", "/custom"], wait_timeout=5)
    try:
        assert sio.get_sid("/") != sio.get_sid("/custom")
        sio.emit("echo", "main", namespace="/")
        sio.emit("echo", "custom", namespace="/custom")
        deadline = time.monotonic() + 5
        while (not got["/"] or not got["/custom"]) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
        assert got == {"/": ["main"], "/custom": ["custom"]}
    finally:
        sio.disconnect()
