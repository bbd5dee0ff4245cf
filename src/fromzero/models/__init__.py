"""Model families: each a plain ``nn.Module`` (or a Keras-like ``Model``) with a config."""
