"""Recurrent networks by hand: the RNN of Problem 3 and the LSTM of Problem 5, with BPTT checked.

The entry points are `run_rnn`, `run_lstm` (here) and `nnscope.recurrent.longseq_study.run_longseq`
(Problem 4, which trains models, so it is not imported with the package); they return typed results
(`RNNResult`, `LSTMResult`, `LongSeqResult`) that show themselves in a notebook."""

from nnscope.recurrent.gradcheck import central_difference, parameter_gradient, relative_error
from nnscope.recurrent.lstm import (lstm_backward, lstm_forward, lstm_loss, lstm_solution, lstm_step_backward,
                                    lstm_step_forward, run_lstm)
from nnscope.recurrent.params import LSTMParams, RNNParams, load_lstm_params, load_rnn_params
from nnscope.recurrent.rnn import (rnn_backward, rnn_forward, rnn_loss, rnn_sensitivities, rnn_solution,
                                   rnn_step_backward, rnn_step_forward, run_rnn)

__all__ = [
    "central_difference", "parameter_gradient", "relative_error",
    "lstm_backward", "lstm_forward", "lstm_loss", "lstm_solution", "lstm_step_backward", "lstm_step_forward", "run_lstm",
    "LSTMParams", "RNNParams", "load_lstm_params", "load_rnn_params",
    "rnn_backward", "rnn_forward", "rnn_loss", "rnn_sensitivities", "rnn_solution",
    "rnn_step_backward", "rnn_step_forward", "run_rnn",
]
