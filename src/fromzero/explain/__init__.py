"""Interpretability (tutorial 1.5): why a model answered what it did, and checks that the answer
is more than a picture.

- ``images``: gradient saliency, Integrated Gradients and Grad-CAM maps of an image classifier.
- ``checks``: the sanity checks (model randomization, deletion, completeness, attention rows).
"""
