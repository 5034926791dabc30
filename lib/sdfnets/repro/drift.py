"""Is a regenerated number noise or a regression? Every recorded value beside the committed one,
within a tolerance stated per kind of value (``make figures`` prints the report and fails on a value
that leaves its tolerance).

The tolerances are rules on the value's key path (``/``-joined keys of ``figures/values/*.json``
under ``values``), first match wins. They are set from what reruns of the same commit move: sampled
mesh metrics by a few hundredths, fitted errors by a few percent; times, throughputs and training
curves are not results and are not compared. Whatever no rule names must agree to 10 % (relative)
or 1e-6 (absolute). Counts and labels (ints, strings) must be equal.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path

# (glob on the key path, absolute tolerance, relative tolerance); None: not compared
RULES: list[tuple[str, float | None, float | None]] = [
    ("*seconds*", None, None), ("*per_second*", None, None), ("*history*", None, None), ("*steps_per*", None, None),
    ("*device*", None, None), ("*/timings/*", None, None),
    # notebook 12's 20-shape pilot: the last point of its loss curve moves 7x between DiT seeds on the same inputs
    # and 23x within one run's last ten logs (bench/pilot_dit_spread.py); its recall carries the claim
    ("loss_ema/pilot", None, None),
    ("*fscore*", 0.03, None), ("*iou*", 0.03, None), ("*normal_consistency*", 0.03, None),
    ("*holds_together*", 0.1, None), ("*one_part*", 0.1, None), ("*share*", 0.1, None),
    ("*chamfer*", None, 0.15), ("*mmd*", None, 0.15), ("*cov*", 0.08, None), ("*1nna*", 0.08, None),
    ("*sdf_l1*", None, 0.15), ("*loss*", None, 0.3), ("*cos*", 0.03, None), ("*recall*", 0.03, None),
    ("*top1*", 0.05, None), ("*margin*", 0.05, None), ("*ratio*", None, 0.15), ("*memoris*", 0.05, None),
]
DEFAULT = (1e-6, 0.10)


@dataclass
class Row:
    key: str
    committed: object
    regenerated: object
    tolerance: str
    ok: bool


def rule_for(key: str) -> tuple[float | None, float | None] | None:
    """(absolute, relative) tolerance of a key path, or None when the value is not compared."""
    for pattern, atol, rtol in RULES:
        if fnmatch.fnmatch(key.lower(), pattern):
            return None if atol is None and rtol is None else (atol or 0.0, rtol or 0.0)
    return DEFAULT


def _leaves(v, prefix=""):
    if isinstance(v, dict):
        for k, x in v.items():
            yield from _leaves(x, f"{prefix}/{k}" if prefix else str(k))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from _leaves(x, f"{prefix}/{i}")
    else:
        yield prefix, v


def compare(committed: dict, regenerated: dict) -> list[Row]:
    """Every leaf of two ``values`` dicts side by side (a key on one side only is a failed row)."""
    old, new = dict(_leaves(committed)), dict(_leaves(regenerated))
    rows = []
    for key in sorted(old.keys() | new.keys()):
        rule = rule_for(key)
        if rule is None:
            continue
        a, b = old.get(key, "<missing>"), new.get(key, "<missing>")
        if isinstance(a, bool) or isinstance(b, bool) or not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
            rows.append(Row(key, a, b, "equal", a == b))
        elif isinstance(a, int) and isinstance(b, int):
            rows.append(Row(key, a, b, "equal", a == b))
        else:
            atol, rtol = rule
            nan = a != a and b != b
            ok = nan or abs(a - b) <= atol + rtol * abs(a)
            rows.append(Row(key, a, b, f"±{atol:g}" + (f" +{rtol:.0%}" if rtol else ""), bool(ok)))
    return rows


def read_values(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text())["values"]
    except (OSError, ValueError, KeyError):
        return None


def report(notebook: str, rows: list[Row], limit: int = 12) -> str:
    """A short text report: how many values agree, and the ones that left their tolerance."""
    bad = [r for r in rows if not r.ok]
    lines = [f"drift {notebook}: {len(rows) - len(bad)} of {len(rows)} values within tolerance"]
    for r in bad[:limit]:
        lines.append(f"  {r.key}: committed {r.committed!r}, now {r.regenerated!r} (tolerance {r.tolerance})")
    if len(bad) > limit:
        lines.append(f"  ... and {len(bad) - limit} more")
    return "\n".join(lines)
