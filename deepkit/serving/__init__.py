"""Serving what the recipes export: `deepkit predict` (one call from a file) and `deepkit serve` (TensorFlow Serving's REST API).

Both run a SavedModel through the TensorFlow runtime alone and speak TensorFlow
Serving's JSON (:mod:`deepkit.serving.requests`), so a request that works here works
unchanged against ``tensorflow/serving`` or a KServe InferenceService in production.
Nothing here is imported by ``import deepkit``; TensorFlow is imported only when a
command runs.
"""
