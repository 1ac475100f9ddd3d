"""`nnscope serve`: a live page to draw a digit and watch the network, with a JSON API.

app.py is the Starlette app, validation.py what a request may hold, analysis.py what one analyze
computes, server.py runs it on uvicorn; templates/ holds the page, its script and its styles."""

from nnscope.serve.analysis import analyze, describe_model
from nnscope.serve.app import create_app
from nnscope.serve.server import Server, bind, host_warning

__all__ = ["Server", "analyze", "bind", "create_app", "describe_model", "host_warning"]
