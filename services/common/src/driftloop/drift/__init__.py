"""Drift and performance monitoring: a window of production records against the reference profile.

- ``stats``: the vectorised statistics (PSI, KS, Wasserstein, Jensen–Shannon, chi-square).
- ``reference``: profile.json and metrics.json as numpy arrays, once per model version.
- ``window`` / ``compute``: tumbling windows per model version and their report.
- ``rules`` / ``evaluator``: declarative YAML rules, consecutive windows, cooldown, hysteresis.
- ``notify``: the signed retrain webhook with idempotency key and retries.
- ``prometheus``: the ``driftloop_drift_*`` metrics.

numpy and scipy only (and httpx for the webhook): no scikit-learn, no pandas.
"""
