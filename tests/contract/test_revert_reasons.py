"""Every revert reason in the contract is exercised by some test."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# `assert <condition>, "reason"`, also when the condition spans several lines.
REASON = re.compile(r'^\s*(?:assert .*|\)), "([^"]+)"$', re.MULTILINE)


def test_every_revert_reason_appears_in_a_test():
    reasons = {m for path in (ROOT / "contracts").rglob("*.vy") for m in REASON.findall(path.read_text())}
    assert len(reasons) > 80  # the pattern still matches the contract's style
    tests = "\n".join(
        path.read_text() for path in (ROOT / "tests").rglob("test_*.py") if path.name != Path(__file__).name
    )
    assert sorted(reason for reason in reasons if reason not in tests) == []
