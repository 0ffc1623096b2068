"""Training and ONNX export (the ``driftloop[train]`` extra): scikit-learn lives only here."""
