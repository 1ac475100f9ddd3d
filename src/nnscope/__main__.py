"""`python -m nnscope` (and `torchrun -m nnscope`) runs the command line."""

from nnscope.cli import main

raise SystemExit(main())
