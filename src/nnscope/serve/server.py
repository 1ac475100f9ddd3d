"""Running the live page's app on uvicorn: bind the socket first (so a busy port is a clear error
and port 0 gives a free one), then serve until Ctrl-C, or until `stop()` from another thread."""

import ipaddress
import socket
import threading

from nnscope.errors import NnscopeError


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

    def __init__(self, app, sock: socket.socket):
        import uvicorn

        self.socket, self.url = sock, url_of(sock)
        # no access log: requests are not printed; the app answers every error itself
        self.uvicorn = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                                                     timeout_graceful_shutdown=5))
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
