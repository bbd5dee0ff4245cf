"""Shipped training recipes: the library functions that the ``fromzero`` commands call.

``configs`` holds their settings (torch-free); ``runs`` evaluates and predicts with a saved run of
any task.
"""
