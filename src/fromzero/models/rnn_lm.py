"""The recurrent language model family (code in ``fromzero.rnn.lm``), listed here so that
``load_model`` finds it."""
from ..rnn.lm import RNNLM, RNNLMConfig, rnn_lm_config  # noqa: F401
