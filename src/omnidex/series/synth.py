"""Generated time series with natural captions, for training and testing text->series search.

Each series is one *event* (trend up/down, spike then decay, dip then recovery, step up/down,
plateau, flat), an optional *seasonality* (weekly = period 7 samples, daily = period 24, slow
long cycles) and a *noise level*. Captions are varied paraphrases of the three attributes. A
seeded set of attribute combinations is held out of training, so evaluation measures whether
the model composes attributes it has only seen apart.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

LENGTH = 128
EVENTS = ("up", "down", "spike", "dip", "step_up", "step_down", "plateau", "flat")
SEASONS = ("none", "weekly", "daily", "slow")
NOISES = ("low", "high")
PERIODS = {"weekly": 7.0, "daily": 24.0}

EVENT_WORDS = {
    "up": ("steady upward trend", "a rising trend", "goes up steadily", "an increasing series",
           "climbs gradually over time", "upward trend"),
    "down": ("steady downward trend", "a falling trend", "goes down steadily", "a decreasing series",
             "declines gradually over time", "downward trend"),
    "spike": ("a sharp spike then slow decay", "a sudden spike that decays slowly",
              "a spike followed by a gradual decline", "jumps up suddenly then slowly fades", "spike then decay"),
    "dip": ("a sudden drop then slow recovery", "a sharp dip that recovers gradually",
            "falls suddenly then slowly recovers", "a dip followed by recovery"),
    "step_up": ("a step up to a higher level", "an abrupt jump to a new higher level",
                "a level shift upwards", "steps up and stays higher"),
    "step_down": ("a step down to a lower level", "an abrupt drop to a new lower level",
                  "a level shift downwards", "steps down and stays lower"),
    "plateau": ("rises to a plateau then falls back", "a flat plateau in the middle",
                "goes up, stays flat for a while, then comes down", "a broad plateau"),
    "flat": ("flat with no trend", "a flat level series", "stays flat", "no trend, level"),
}
SEASON_WORDS = {
    "none": ("", "", "without seasonality", "with no cycles"),
    "weekly": ("with weekly seasonality", "with a weekly cycle", "with a weekly pattern", "and weekly seasonality"),
    "daily": ("with daily seasonality", "with a daily cycle", "with a daily pattern", "and daily seasonality"),
    "slow": ("with slow long cycles", "with a slow wave", "with a few long oscillations", "and a slow oscillation"),
}
NOISE_WORDS = {
    "low": ("smooth", "clean", "with little noise", "low noise"),
    "high": ("noisy", "very noisy", "with lots of noise", "high noise"),
}


@dataclass(frozen=True)
class Combo:
    """One attribute combination."""

    event: str
    season: str
    noise: str

    def canonical(self) -> str:
        """The first-choice caption of this combination."""
        return caption(self, None)


def all_combos() -> list[Combo]:
    """Every event x season x noise combination (64)."""
    return [Combo(e, s, n) for e, s, n in itertools.product(EVENTS, SEASONS, NOISES)]


def split_combos(n_heldout: int = 12, seed: int = 0) -> tuple[list[Combo], list[Combo]]:
    """(train, held-out) combinations; every single attribute value still occurs in training."""
    combos = all_combos()
    rng = np.random.default_rng(seed)
    while True:
        held = [combos[i] for i in sorted(rng.choice(len(combos), n_heldout, replace=False))]
        train = [c for c in combos if c not in held]
        if all({getattr(c, f) for c in train} == set(v) for f, v in
               (("event", EVENTS), ("season", SEASONS), ("noise", NOISES))):
            return train, held


def caption(combo: Combo, rng: np.random.Generator | None) -> str:
    """A natural caption for ``combo`` (the canonical one when ``rng`` is None)."""
    pick = (lambda xs: xs[0]) if rng is None else (lambda xs: xs[int(rng.integers(len(xs)))])
    event, season, noise = pick(EVENT_WORDS[combo.event]), pick(SEASON_WORDS[combo.season]), pick(NOISE_WORDS[combo.noise])
    if rng is not None and rng.random() < 0.3:
        text = f"{noise} series, {event} {season}" if " " not in noise else f"{event} {season}, {noise}"
    else:
        text = f"{event} {season}, {noise}"
    return " ".join(text.replace(" ,", ",").split())


def make_series(combo: Combo, rng: np.random.Generator, length: int = LENGTH) -> np.ndarray:
    """One float32 series of ``length`` samples showing ``combo``."""
    t = np.arange(length, dtype=np.float64)
    u = t / (length - 1)
    amp = rng.uniform(3.0, 5.0)
    x = _event(combo.event, t, u, amp, rng, length)
    if combo.season != "none":
        period = PERIODS.get(combo.season, length / rng.uniform(2.0, 3.5))
        period *= rng.uniform(0.93, 1.07)
        x += rng.uniform(0.7, 1.3) * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))
    sd = rng.uniform(0.03, 0.12) if combo.noise == "low" else rng.uniform(0.6, 1.0)
    x += rng.normal(0, sd, length)
    level, scale = rng.normal(0, 50), rng.lognormal(0, 1)
    return (level + scale * x).astype(np.float32)


def _event(event: str, t, u, amp: float, rng, length: int) -> np.ndarray:
    if event in ("up", "down"):
        curve = u ** rng.uniform(0.8, 1.25)
        return amp * curve * (1 if event == "up" else -1)
    if event in ("spike", "dip"):
        at = int(rng.uniform(0.15, 0.55) * length)
        tau = rng.uniform(8, 22)
        x = np.where(t >= at, np.exp(-(t - at) / tau), 0.0) * amp * 1.6
        return x if event == "spike" else -x
    if event in ("step_up", "step_down"):
        at = rng.uniform(0.3, 0.7) * length
        x = amp / (1 + np.exp(-(t - at) / rng.uniform(0.5, 1.5)))
        return x if event == "step_up" else -x
    if event == "plateau":
        a, b = rng.uniform(0.2, 0.35) * length, rng.uniform(0.65, 0.8) * length
        ramp = rng.uniform(4, 10)
        return amp * np.clip(np.minimum((t - a) / ramp, (b - t) / ramp), 0, 1)
    return np.zeros(length)


def generate(n: int, combos: list[Combo], seed: int = 0, length: int = LENGTH) -> list[tuple[np.ndarray, str, Combo]]:
    """``n`` (series, caption, combo) triples, combinations drawn uniformly from ``combos``."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        combo = combos[int(rng.integers(len(combos)))]
        out.append((make_series(combo, rng, length), caption(combo, rng), combo))
    return out
