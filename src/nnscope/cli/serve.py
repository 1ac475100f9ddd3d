"""`nnscope serve`: the live page (draw a digit and watch the network) and its JSON API on uvicorn."""


from nnscope.cli.common import add_command, log, stderr_console
from nnscope.cli.model_options import add_model_options, model_options


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "serve",
        description="Serve one page and a JSON API on a local web server until Ctrl-C: draw a digit (mouse, pen, "
        "touch or keyboard), drop an image file or load a test image, and see the ten probabilities, the input "
        "as the model sees it, the feature maps of every conv layer, the occlusion maps of the predicted class "
        "(with the explorer) and the shift slider. API: GET /api/model, POST /api/analyze, GET /api/test-image "
        "(docs/serve.md). Binds 127.0.0.1 unless --host says otherwise.\n"
        "Prints the URL once the server listens; with --json, one JSON document {url, host, port, checkpoint} "
        "instead, and nothing more on stdout.\n"
        "Your own model: --model SPEC (see the model options): the page takes its C x H x W (a drawing in colour "
        "for an RGB model), its class names and its first three conv layers' feature maps; --image PATH is the "
        "starting picture.",
        run=run, show=show,
    )
    add_model_options(parser)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on; anything but a loopback address lets other machines in")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (0: any free port)")
    parser.add_argument("--open", action="store_true", help="open the page in the default web browser")


def run(args) -> dict:
    choice = model_options(args)  # checked before anything is bound or loaded
    from nnscope.fileio import dumps_json
    from nnscope.serve import Server, bind, host_warning

    sock = bind(args.host, args.port)  # first: a bad or busy port fails at once, before the model loads
    try:
        server = Server(make_app(choice), sock, host=args.host)
    except BaseException:
        sock.close()
        raise
    warning = host_warning(args.host)
    if warning:
        stderr_console().print(warning, style="bold", highlight=False, soft_wrap=True)
    started = {"url": server.url, "host": args.host, "port": sock.getsockname()[1], "checkpoint": str(args.model)}
    if args.json:  # the real stdout: while a command runs with --json, sys.stdout is stderr (cli.contained)
        args.stdout.write(dumps_json(started) + "\n")
        args.stdout.flush()
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


def make_app(choice):
    """The app of the model the options name; a model of 1 x 28 x 28 images of the ten digits gets the digit
    page with the MNIST test images (when the cache has them), any other model the page sized to its input."""
    from nnscope.data import load_mnist
    from nnscope.errors import NnscopeError
    from nnscope.models import load_model_and_image
    from nnscope.serve import create_app
    from nnscope.serve.analysis import digit_page

    loaded, image = load_model_and_image(choice)
    source = str(choice.image) if image is not None else None
    images = labels = None
    if digit_page(loaded):
        try:
            digits = load_mnist(log=log)
            images, labels = digits.test_images, digits.test_labels
        except NnscopeError as e:  # the page works without them, only 'load a test image' is off
            log(f"no test images ({e})")
    return create_app(loaded, images, labels, start_image=image, start_source=source)


def show(result: dict, console) -> None:
    """Nothing: the URL went out when the server started."""
