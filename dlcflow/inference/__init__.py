"""Engines (TensorFlow, ONNX Runtime), export and graph rewrites, decoding, video analysis."""
