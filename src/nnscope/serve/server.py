"""Running the live page's app on uvicorn: bind the socket first (so a busy port is a clear error
and port 0 gives a free one), then serve until Ctrl-C, or until `stop()` from another thread.

What the server accepts, before the app sees a request (docs/security.md):
- a `Host` header naming this server: 127.0.0.1, localhost, [::1] or the --host it was started for (any
  IP address when it listens on all of them); another name is a page elsewhere that rebound its DNS
  name to this machine, refused with 400 JSON;
- a request whose headers and body arrive within REQUEST_TIMEOUT_S; a slower one is answered 408 JSON
  and closed, so half-sent requests cannot hold connections open;
- HTTP that parses: uvicorn's own 400 for a malformed request is JSON too.
"""

import ipaddress
import json
import socket
import threading

from nnscope.errors import NnscopeError

REQUEST_TIMEOUT_S = 30.0  # seconds a client has to send one request's headers and body
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARDS = ("0.0.0.0", "::", "")


def json_error(status: int, message: str, field: str | None = None) -> bytes:
    """The body of an error answer, as the app's own errors are."""
    return json.dumps({"error": message, **({"field": field} if field else {})}).encode()


def host_name(header: str) -> str:
    """The name of a Host header without its port: 'localhost:8000' -> 'localhost', '[::1]:80' -> '::1'."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def host_allowed(header: str | None, served: str) -> bool:
    """Whether a request's Host header names this server, started for the host `served`."""
    if not header:
        return False
    name = host_name(header)
    if name in LOOPBACK_NAMES or name == host_name(served):
        return True
    if served.strip("[]") in WILDCARDS:  # on every interface: any address (a rebound DNS name is never one)
        try:
            ipaddress.ip_address(name)
            return True
        except ValueError:
            return False
    return False


class HostCheck:
    """ASGI middleware: a request whose Host header names another server gets 400 JSON, never the app."""

    def __init__(self, app, served: str):
        self.app, self.served = app, served

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
        if host_allowed(header, self.served):
            return await self.app(scope, receive, send)
        names = ", ".join(dict.fromkeys(["127.0.0.1", "localhost", "[::1]", self.served]))
        what = "no Host header" if header is None else f"{header!r} is not this server"
        body = json_error(400, f"{what}; expected Host {names} (a page elsewhere cannot reach this server "
                          "by its own name)", "host")
        await send({"type": "http.response.start", "status": 400,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def guarded_protocol():
    """uvicorn's h11 protocol with a time limit on each request's headers and body and JSON 400 answers."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):
        def connection_made(self, transport):
            super().connection_made(transport)
            self.arm_request_timer()

        def arm_request_timer(self):
            self.request_timer = self.loop.call_later(REQUEST_TIMEOUT_S, self.request_too_slow)

        def request_too_slow(self):
            """Headers not complete, or the body still coming: answer 408 if nothing was sent yet, and close."""
            if self.transport.is_closing() or (self.cycle is not None and not self.cycle.more_body):
                return
            if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                self.send_json(408, f"the request was not complete within {REQUEST_TIMEOUT_S:g} s")
            self.transport.close()

        def on_response_complete(self):
            self.request_timer.cancel()
            super().on_response_complete()
            if not self.transport.is_closing():
                self.arm_request_timer()

        def connection_lost(self, exc):
            self.request_timer.cancel()
            super().connection_lost(exc)

        def send_400_response(self, msg: str):
            self.send_json(400, f"{msg.rstrip('.')}; expected an HTTP/1.1 request")
            self.transport.close()

        def send_json(self, status: int, message: str):
            body = json_error(status, message, "request")
            try:
                self.transport.write(self.conn.send(h11.Response(status_code=status, headers=[
                    (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close")])))
                self.transport.write(self.conn.send(h11.Data(data=body)))
                self.transport.write(self.conn.send(h11.EndOfMessage()))
            except h11.LocalProtocolError:  # the connection is past the point where an answer can be sent
                pass

    return GuardedH11Protocol


def is_loopback(host: str) -> bool:
    """True for 'localhost' and loopback addresses (127.0.0.0/8, ::1), which other machines cannot reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to an address other machines can reach
        return False


def host_warning(host: str) -> str | None:
    """The warning line for a host that other machines may reach, else None."""
    if is_loopback(host):
        return None
    return (f"warning: serving on {host}: other machines that can reach it can use the page and the API "
            "(the default 127.0.0.1 keeps it to this machine)")


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); port 0 picks a free one."""
    if not 0 <= port <= 65535:
        raise NnscopeError(f"--port: {port}; expected a port number from 0 to 65535 (0: any free port)")
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror:
        raise NnscopeError(f"--host: {host!r} is not an address or a known host name") from None
    try:
        return socket.create_server((host, port), family=family, backlog=128)
    except OSError as e:
        raise NnscopeError(f"--port: cannot listen on {host} port {port} ({e.strerror or e})") from None


def url_of(sock: socket.socket) -> str:
    """http://host:port/ of a listening socket (IPv6 hosts in brackets)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


class Server:
    """uvicorn serving `app` on a bound socket; `run()` blocks, `start()` serves from a thread."""

    def __init__(self, app, sock: socket.socket, host: str | None = None):
        import uvicorn

        self.socket, self.url = sock, url_of(sock)
        served = host if host is not None else sock.getsockname()[0]
        # no access log: requests are not printed; the app answers every error itself
        self.uvicorn = uvicorn.Server(uvicorn.Config(HostCheck(app, served), log_level="warning", access_log=False,
                                                     lifespan="on", timeout_graceful_shutdown=5,
                                                     http=guarded_protocol()))
        self.thread: threading.Thread | None = None

    def run(self) -> None:
        """Serve until Ctrl-C (uvicorn's own signal handling stops it gracefully)."""
        self.uvicorn.run(sockets=[self.socket])

    def start(self) -> "Server":
        """Serve from a background thread and wait until it accepts requests."""
        self.thread = threading.Thread(target=self.run, name="nnscope-serve", daemon=True)
        self.thread.start()
        while not self.uvicorn.started and self.thread.is_alive():
            self.thread.join(0.01)
        if not self.uvicorn.started:
            raise RuntimeError("the server did not start")
        return self

    def stop(self) -> None:
        """Ask a server started with `start()` to finish and wait for it."""
        self.uvicorn.should_exit = True
        if self.thread is not None:
            self.thread.join(10)
        self.socket.close()
