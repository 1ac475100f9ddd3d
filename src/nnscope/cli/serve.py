"""`nnscope serve`: the live page (draw a digit and watch the network) and its JSON API on uvicorn."""

import sys

from nnscope.cli.common import add_checkpoint_option, add_command, log, stderr_console


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "serve",
        description="Serve one page and a JSON API on a local web server until Ctrl-C: draw a digit (mouse, pen, "
        "touch or keyboard), drop an image file or load a test image, and see the ten probabilities, the input "
        "as the model sees it, the feature maps of every conv layer, the occlusion maps of the predicted class "
        "(with the explorer) and the shift slider. API: GET /api/model, POST /api/analyze, GET /api/test-image "
        "(docs/serve.md). Binds 127.0.0.1 unless --host says otherwise.\n"
        "Prints the URL once the server listens; with --json, one JSON document {url, host, port, checkpoint} "
        "instead, and nothing more on stdout.",
        run=run, show=show,
    )
    add_checkpoint_option(parser)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on; anything but a loopback address lets other machines in")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (0: any free port)")
    parser.add_argument("--open", action="store_true", help="open the page in the default web browser")


def run(args) -> dict:
    from nnscope.data import load_mnist
    from nnscope.errors import NnscopeError
    from nnscope.fileio import dumps_json
    from nnscope.model import load_model
    from nnscope.serve import Server, bind, create_app, host_warning

    sock = bind(args.host, args.port)  # first: a bad or busy port fails at once, before the model loads
    try:
        model = load_model(args.checkpoint)
        try:
            digits = load_mnist(log=log)
            images, labels = digits.test_images, digits.test_labels
        except NnscopeError as e:  # the page works without them, only 'load a test image' is off
            log(f"no test images ({e})")
            images = labels = None
        server = Server(create_app(model, images, labels), sock)
    except BaseException:
        sock.close()
        raise
    warning = host_warning(args.host)
    if warning:
        stderr_console().print(warning, style="bold", highlight=False, soft_wrap=True)
    started = {"url": server.url, "host": args.host, "port": sock.getsockname()[1], "checkpoint": str(args.checkpoint)}
    if args.json:
        sys.stdout.write(dumps_json(started) + "\n")
        sys.stdout.flush()
    else:
        print(f"nnscope serve: {server.url} (Ctrl-C stops it)", flush=True)
    if args.open:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.run()
    except KeyboardInterrupt:  # uvicorn stops gracefully on Ctrl-C, then raises it again
        pass
    finally:
        sock.close()
    log("nnscope serve: stopped")
    # the one JSON document went out when the server started; nothing more goes on stdout
    args.json = False
    return started


def show(result: dict, console) -> None:
    """Nothing: the URL went out when the server started."""
