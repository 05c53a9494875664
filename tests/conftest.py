"""Hypothesis profiles: ``ci`` (default, quick), ``dev``, ``thorough``.

Select one with the environment variable HYPOTHESIS_PROFILE.
"""
import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Tests never write into the user's results cache: every store goes to a throwaway directory
# (a test that wants a particular path passes --store or Store(path) itself).
import tempfile  # noqa: E402

os.environ["SHATTERED_GRADIENTS_STORE"] = os.path.join(tempfile.mkdtemp(prefix="sg-test-store-"),
                                                       "results.sqlite")
