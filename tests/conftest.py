import os

from hypothesis import HealthCheck, settings

# `make test` in CI runs the stateful fuzzer long enough for >= 2,000 steps.
settings.register_profile(
    "dev",
    max_examples=8,
    stateful_step_count=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "ci",
    max_examples=30,
    stateful_step_count=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("OCTRAVPN_FUZZ_PROFILE", "dev"))
