"""The index of the sub-commands: each name (its module in nnscope.cli) and its one-line help."""

# every sub-command with its one-line help, in the order `nnscope --help` lists them
COMMANDS = {
    "data": "fetch and verify MNIST (or Fashion-MNIST) and print what was found",
    "train": "train the CNN and write its checkpoint",
    "layers": "list every module of a model (nnscope, TorchScript, torch.export or FILE.py:NAME): type, output shape, parameters",
    "filters": "draw the filters of conv1-conv3 (Problem 1.1)",
    "featuremaps": "feature maps of a '0' and an '8' and the channels that separate them (Problem 1.2)",
    "shift": "shift a digit left and right and classify it (Problem 1.3), plus a shift sweep",
    "occlude": "occlusion maps of a digit and which parts matter (Problem 2.1-2.2)",
    "attack": "paste squares cut from other digits onto a digit to change its label (Problem 2.3)",
    "rnn": "Problem 3: the RNN of the DL book, BPTT by hand, checked by central differences",
    "lstm": "Problem 5: an LSTM cell (DL book eqs. 10.40-10.44), dL/db_f by BPTT, checked",
    "longseq": "Problem 4: vanishing gradients, echo state network and LSTM on long sequences",
    "report": "train (or reuse the checkpoint), answer Problems 1-5, write report/index.html",
    "serve": "a live page: draw a digit and watch the network (JSON API too)",
}
