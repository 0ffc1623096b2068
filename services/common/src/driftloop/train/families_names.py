"""The estimator families' names, importable without the training extra (the policy checks them)."""

FAMILY_NAMES = ("linear", "hist_gradient_boosting", "knn", "mlp", "random_forest", "extra_trees")
