"""Generated non-speech (and a little speech) sounds with natural captions, for training and
evaluating the offline audio-text model.

Every sound class is a set of attributes (pitch, tempo, direction, noise colour, word, voice,
background) drawn by a seeded generator; its caption comes from paraphrase templates whose first
choice is the *canonical* caption used as the evaluation query ("a high-pitched beep repeating
quickly", "a rising chirp", "a siren wailing", "bursts of static noise", "a man saying hello").
Some attribute combinations are never generated for training (``HELDOUT_COMBOS``) so the held-out
split can test composition: a pitch x rhythm pair, a word x voice pair and a foreground x
background mixture the model has not heard together.
"""
from __future__ import annotations

import functools
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

SR = 16_000
DUR = 3.0  # seconds per generated clip (the default index window)

PITCH = {"low": (110.0, 260.0), "mid": (420.0, 850.0), "high": (1500.0, 3200.0)}
PITCH_WORDS = {"low": ["low-pitched", "deep", "low"], "mid": ["medium-pitched", "mid-pitched", "middle"],
               "high": ["high-pitched", "shrill", "high"]}
TEMPO = {"slow": (1.0, 2.0), "fast": (4.5, 8.0)}  # repetitions per second
TEMPO_WORDS = {"slow": ["slowly", "at a slow pace", "with long gaps"],
               "fast": ["quickly", "rapidly", "in fast succession"]}
WORDS = ("hello", "stop", "seven", "water")
VOICES = {"man": ("en-us", (25, 45)), "woman": ("en-us+f3", (55, 80))}  # espeak voice, pitch range
BACKGROUNDS = {"noise": ["static noise", "hiss", "white noise"], "music": ["music", "a melody", "music playing"]}

# attribute combinations never used for training (tested on the held-out split)
HELDOUT_COMBOS = {("beeps", "high", "slow"), ("beeps", "low", "fast"), ("speech", "seven", "woman"),
                  ("mix", "bark", "music")}


@dataclass(frozen=True)
class SoundClass:
    """One kind of sound: a key (its attributes), a generator and caption templates."""

    key: tuple  # e.g. ("beeps", "high", "fast")
    make: Callable  # (rng) -> float32 samples at SR (any level; peak-normalised later)
    captions: tuple[str, ...]  # paraphrases; captions[0] is the canonical evaluation query

    @property
    def heldout(self) -> bool:
        return self.key in HELDOUT_COMBOS


# ---------------------------------------------------------------- building blocks

def _t(n: int) -> np.ndarray:
    return np.arange(n) / SR


def _n(seconds: float = DUR) -> int:
    return int(round(seconds * SR))


def _fade(x: np.ndarray, ms: float = 5.0) -> np.ndarray:
    k = min(len(x) // 2, int(SR * ms / 1000))
    if k > 0:
        ramp = np.linspace(0.0, 1.0, k, dtype=np.float32)
        x[:k] *= ramp
        x[-k:] *= ramp[::-1]
    return x


def _harmonic(phase: np.ndarray, rng, bright: float | None = None) -> np.ndarray:
    """A few harmonics of a phase track (timbre varies per clip)."""
    bright = rng.uniform(0.0, 0.5) if bright is None else bright
    return np.sin(phase) + bright * np.sin(2 * phase) + 0.5 * bright * np.sin(3 * phase)


def coloured_noise(n: int, colour: str, rng) -> np.ndarray:
    """White, pink (1/f) or brown (1/f^2) noise of ``n`` samples, unit peak."""
    alpha = {"white": 0.0, "pink": 1.0, "brown": 2.0}[colour]
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / SR)
    f[0] = f[1]
    x = np.fft.irfft(spec / f ** (alpha / 2.0), n)
    return (x / (np.abs(x).max() + 1e-12)).astype(np.float32)


def _pitch(rng, name: str) -> float:
    lo, hi = PITCH[name]
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _place(events: list[tuple[float, np.ndarray]], n: int) -> np.ndarray:
    out = np.zeros(n, np.float32)
    for at, ev in events:
        a = int(at * SR)
        if a >= n:
            continue
        seg = ev[: n - a]
        out[a:a + len(seg)] += seg
    return out


def _train_of(rate: float, rng, jitter: float = 0.03) -> list[float]:
    t, times = rng.uniform(0.0, 1.0 / rate), []
    while t < DUR:
        times.append(t)
        t += (1.0 / rate) * (1.0 + rng.uniform(-jitter, jitter))
    return times


# ---------------------------------------------------------------- sound makers

def tone(pitch: str, rng) -> np.ndarray:
    f, n = _pitch(rng, pitch), _n()
    x = _harmonic(2 * np.pi * f * _t(n) + rng.uniform(0, 6.3), rng)
    return _fade(x.astype(np.float32), 30)


def beeps(pitch: str, tempo: str, rng) -> np.ndarray:
    f, rate = _pitch(rng, pitch), rng.uniform(*TEMPO[tempo])
    length = min(0.35, 0.45 / rate)
    m = _n(length)
    ev = _fade(_harmonic(2 * np.pi * f * _t(m), rng, bright=rng.uniform(0, 0.3)).astype(np.float32), 4)
    return _place([(t, ev) for t in _train_of(rate, rng)], _n())


def chirp(direction: str, rng) -> np.ndarray:
    sweeps = int(rng.integers(1, 4))
    span = DUR / sweeps
    length = span * rng.uniform(0.5, 0.85)
    f0, f1 = rng.uniform(200, 500), rng.uniform(2000, 4000)
    if direction == "down":
        f0, f1 = f1, f0
    m = _n(length)
    freq = f0 * (f1 / f0) ** (np.arange(m) / m)  # exponential sweep
    ev = _fade(np.sin(2 * np.pi * np.cumsum(freq) / SR).astype(np.float32), 10)
    return _place([(k * span + rng.uniform(0, span - length), ev) for k in range(sweeps)], _n())


def noise(colour: str, rng) -> np.ndarray:
    return _fade(coloured_noise(_n(), colour, rng), 40)


def noise_bursts(rng) -> np.ndarray:
    events, t = [], rng.uniform(0.0, 0.4)
    while t < DUR:
        length = rng.uniform(0.08, 0.35)
        events.append((t, _fade(coloured_noise(_n(length), "white", rng), 3)))
        t += length + rng.uniform(0.15, 0.6)
    return _place(events, _n())


def siren(kind: str, rng) -> np.ndarray:
    n = _n()
    centre, depth = rng.uniform(650, 1000), rng.uniform(250, 450)
    rate = rng.uniform(0.3, 0.7) if kind == "wail" else rng.uniform(2.5, 4.5)
    freq = centre + depth * np.sin(2 * np.pi * rate * _t(n) + rng.uniform(0, 6.3))
    return _fade(_harmonic(2 * np.pi * np.cumsum(freq) / SR, rng, bright=rng.uniform(0.3, 0.8)).astype(np.float32), 30)


def _click(rng) -> np.ndarray:
    m = _n(0.004)
    return (coloured_noise(m, "white", rng) * np.exp(-_t(m) * 1500)).astype(np.float32)


def _clap(rng) -> np.ndarray:
    m = _n(rng.uniform(0.03, 0.07))
    x = coloured_noise(m, "pink", rng) * np.exp(-_t(m) * rng.uniform(60, 120))
    return x.astype(np.float32)


def ticking(rng) -> np.ndarray:
    return _place([(t, _click(rng)) for t in _train_of(rng.uniform(1.0, 2.0), rng, 0.01)], _n())


def rapid_clicks(rng) -> np.ndarray:
    return _place([(t, _click(rng)) for t in _train_of(rng.uniform(10.0, 16.0), rng, 0.05)], _n())


def slow_claps(rng) -> np.ndarray:
    return _place([(t, _clap(rng)) for t in _train_of(rng.uniform(1.3, 2.5), rng, 0.04)], _n())


def applause(rng) -> np.ndarray:
    count = int(DUR * rng.uniform(25, 45))
    events = [(float(t), _clap(rng) * rng.uniform(0.3, 1.0)) for t in rng.uniform(0, DUR, count)]
    return _place(events, _n()) + 0.05 * coloured_noise(_n(), "pink", rng)


def bark(rng) -> np.ndarray:
    """A synthetic bark: short harmonic bursts with a falling pitch and a noisy edge, 2-4 per clip."""
    events, t = [], rng.uniform(0.0, 0.5)
    for _ in range(int(rng.integers(2, 5))):
        m = _n(rng.uniform(0.12, 0.22))
        f = rng.uniform(380, 650) * np.linspace(1.15, 0.8, m)
        tone_ = _harmonic(2 * np.pi * np.cumsum(f) / SR, rng, bright=0.9)
        ev = (tone_ + 0.6 * coloured_noise(m, "pink", rng)) * np.exp(-_t(m) * 10) * np.minimum(1, _t(m) * 200)
        events.append((t, ev.astype(np.float32)))
        t += rng.uniform(0.3, 0.7)
        if t > DUR - 0.2:
            break
    return _place(events, _n())


def music(rng) -> np.ndarray:
    """An arpeggio over a soft chord pad in a random key and tempo."""
    n, root = _n(), 220.0 * 2 ** (rng.integers(-5, 7) / 12)
    steps = [(0, 4, 7), (9, 12, 16), (5, 9, 12), (7, 11, 14)]
    note_s = rng.uniform(0.15, 0.35)
    out = np.zeros(n, np.float32)
    t0 = 0.0
    for k in range(int(DUR / note_s) + 1):
        chord = steps[(k // 4) % 4]
        f = root * 2 ** (chord[[0, 1, 2, 1][k % 4]] / 12) * 2
        m = _n(note_s)
        tt = _t(m)
        ev = (np.sin(2 * np.pi * f * tt) + 0.3 * np.sin(4 * np.pi * f * tt)) * np.exp(-tt * 6)
        out += _place([(t0, ev.astype(np.float32))], n)
        pad = sum(np.sin(2 * np.pi * root * 2 ** (c / 12) * tt) for c in chord) / 3
        out += 0.25 * _place([(t0, pad.astype(np.float32))], n)
        t0 += note_s
    return out


@functools.lru_cache(maxsize=None)
def _spoken(word: str, voice: str, variant: int) -> np.ndarray:
    """espeak-ng saying ``word`` (a pitch/speed variant), at SR, cached per process."""
    from ..testing.mediagen import read_wav
    from .frontend import resample

    espeak, pitch_range = VOICES[voice]
    rng = np.random.default_rng([zlib.crc32(word.encode()), variant, len(voice)])
    pitch, speed = int(rng.integers(*pitch_range)), int(rng.integers(120, 200))
    with tempfile.TemporaryDirectory(prefix="omnidex-say-") as tmp:
        wav = Path(tmp) / "w.wav"
        subprocess.run(["espeak-ng", "-v", espeak, "-p", str(pitch), "-s", str(speed), "-w", str(wav), word],
                       check=True, capture_output=True)
        x, sr = read_wav(wav)
    x = resample(x, sr, SR)
    nz = np.flatnonzero(np.abs(x) > 0.01)
    return x[nz[0]:nz[-1] + 1] if nz.size else x


TRAIN_VARIANTS = (0, 6)  # espeak pitch/speed variants heard in training ...
HELDOUT_VARIANTS = (6, 9)  # ... and others, only in the held-out split


def speech(word: str, voice: str, rng, variants: tuple[int, int] = TRAIN_VARIANTS) -> np.ndarray:
    clip = _spoken(word, voice, int(rng.integers(*variants)))
    times = [rng.uniform(0.0, max(0.01, DUR - len(clip) / SR))]
    if rng.random() < 0.4 and len(clip) / SR < 1.2:  # said twice
        times = [rng.uniform(0.0, 0.3), rng.uniform(1.5, max(1.51, DUR - len(clip) / SR))]
    return _place([(t, clip) for t in times], _n())


# ---------------------------------------------------------------- the catalogue

def _pitch_caps(pattern: str, pitch: str, **extra) -> list[str]:
    return [pattern.format(p=w, **extra) for w in PITCH_WORDS[pitch]]


def _beep_caps(pitch: str, tempo: str) -> tuple[str, ...]:
    canonical = f"a {PITCH_WORDS[pitch][0]} beep repeating {TEMPO_WORDS[tempo][0]}"
    more = [f"a {p} beep repeating {t}" for p in PITCH_WORDS[pitch] for t in TEMPO_WORDS[tempo]]
    more += [f"{p} beeps {t}" for p in PITCH_WORDS[pitch][:2] for t in TEMPO_WORDS[tempo][:2]]
    return (canonical, *dict.fromkeys(m for m in more if m != canonical))


def foregrounds(variants: tuple[int, int] = TRAIN_VARIANTS) -> list[SoundClass]:
    """Every single-source sound class (spoken words drawn from the given espeak variants)."""
    c: list[SoundClass] = []
    for p in PITCH:
        caps = [f"a steady {PITCH_WORDS[p][0]} tone"] + _pitch_caps("a constant {p} tone", p) + \
            _pitch_caps("a {p} hum that does not change", p)
        c.append(SoundClass(("tone", p), functools.partial(tone, p), tuple(dict.fromkeys(caps))))
        for t in TEMPO:
            c.append(SoundClass(("beeps", p, t), functools.partial(beeps, p, t), _beep_caps(p, t)))
    c.append(SoundClass(("chirp", "up"), functools.partial(chirp, "up"),
                        ("a rising chirp", "a sweep going up in pitch", "an upward whistle", "rising chirps")))
    c.append(SoundClass(("chirp", "down"), functools.partial(chirp, "down"),
                        ("a falling chirp", "a sweep going down in pitch", "a descending whistle", "falling chirps")))
    c.append(SoundClass(("noise", "white"), functools.partial(noise, "white"),
                        ("steady static hiss", "white noise", "a constant hissing sound", "radio static")))
    c.append(SoundClass(("noise", "brown"), functools.partial(noise, "brown"),
                        ("a deep rumbling noise", "low rumble like distant thunder", "brown noise", "a muffled roar")))
    c.append(SoundClass(("noise", "pink"), functools.partial(noise, "pink"),
                        ("the rush of a waterfall", "pink noise", "rushing water noise", "a steady whooshing sound")))
    c.append(SoundClass(("bursts",), noise_bursts,
                        ("bursts of static noise", "short bursts of hiss", "crackling static on and off")))
    c.append(SoundClass(("siren", "wail"), functools.partial(siren, "wail"),
                        ("a siren wailing", "an emergency siren", "a police siren slowly rising and falling",
                         "an ambulance siren")))
    c.append(SoundClass(("siren", "yelp"), functools.partial(siren, "yelp"),
                        ("a fast yelping siren", "a warbling alarm", "a rapidly wobbling siren")))
    c.append(SoundClass(("ticking",), ticking, ("a clock ticking", "ticking", "a slow steady tick tock")))
    c.append(SoundClass(("clicks",), rapid_clicks, ("rapid clicking", "fast clicks like a ratchet", "a rattling click train")))
    c.append(SoundClass(("claps",), slow_claps, ("someone clapping slowly", "slow hand claps", "a single person clapping")))
    c.append(SoundClass(("applause",), applause, ("applause", "a crowd clapping", "an audience applauding")))
    c.append(SoundClass(("bark",), bark, ("a dog barking", "a dog barks", "barking")))
    c.append(SoundClass(("music",), music, ("music playing", "a melody", "a tune played on a keyboard")))
    for w in WORDS:
        for v in VOICES:
            caps = (f"a {v} saying {w}", f"a {v} says {w}", f"a {v}'s voice saying the word {w}",
                    f"someone saying {w}")
            c.append(SoundClass(("speech", w, v), functools.partial(speech, w, v, variants=variants), caps))
    return c


MIX_FOREGROUNDS = ("siren", "bark", "speech", "beeps")


def mixtures(fg: list[SoundClass]) -> list[SoundClass]:
    """Foreground + background mixtures with compositional captions."""
    by_key = {s.key: s for s in fg}
    picks = {"siren": by_key[("siren", "wail")], "bark": by_key[("bark",)],
             "speech": by_key[("speech", "hello", "man")], "beeps": by_key[("beeps", "high", "fast")]}
    out = []
    for name in MIX_FOREGROUNDS:
        for bg, words in BACKGROUNDS.items():
            f = picks[name]
            caps = tuple(f"{fc} with {bw} in the background" for fc in f.captions[:2] for bw in words)
            out.append(SoundClass(("mix", name, bg), functools.partial(_mix, f.make, bg), caps))
    return out


def _mix(fg_make, bg: str, rng) -> np.ndarray:
    a = fg_make(rng)
    b = noise("white", rng) if bg == "noise" else music(rng)
    a = a / (np.abs(a).max() + 1e-9)
    b = b / (np.abs(b).max() + 1e-9)
    return a + b * rng.uniform(0.25, 0.45)


def catalogue(variants: tuple[int, int] = TRAIN_VARIANTS) -> list[SoundClass]:
    """All sound classes (single sources and mixtures), in a fixed order."""
    fg = foregrounds(variants)
    return fg + mixtures(fg)


def render(cls: SoundClass, rng) -> np.ndarray:
    """One clip of ``cls``: generated, a faint noise floor added (no digital silence), random gain."""
    x = np.asarray(cls.make(rng), dtype=np.float32)[: _n()]
    x = np.pad(x, (0, _n() - len(x)))
    x = x / (np.abs(x).max() + 1e-9)
    floor = coloured_noise(len(x), str(rng.choice(["white", "pink", "brown"])), rng)
    x = x + floor * 10 ** (rng.uniform(-55, -30) / 20)
    return (x / (np.abs(x).max() + 1e-9) * rng.uniform(0.2, 0.95)).astype(np.float32)


@dataclass
class SoundSet:
    """Generated clips with captions and class keys."""

    clips: list[np.ndarray]  # float32 at SR
    captions: list[str]  # the caption each clip was paired with (a random paraphrase in training)
    keys: list[tuple]  # the class of each clip
    canonical: dict  # class key -> canonical caption (the evaluation query)


def generate(per_class: int, seed: int, split: str = "train", paraphrase: bool = True) -> SoundSet:
    """Clips for every class: ``split="train"`` skips ``HELDOUT_COMBOS``; "heldout" covers every class.

    Args:
        per_class: clips per class.
        seed: generator seed (train and held-out use different seeds by convention).
        split: "train" or "heldout" (held-out speech also uses espeak variants never trained on).
        paraphrase: pair each clip with a random paraphrase (else the canonical caption).
    """
    variants = TRAIN_VARIANTS if split == "train" else HELDOUT_VARIANTS
    classes = [c for c in catalogue(variants) if split != "train" or not c.heldout]
    clips, caps, keys = [], [], []
    for i, cls in enumerate(classes):
        rng = np.random.default_rng([seed, i, 0 if split == "train" else 1])
        for _ in range(per_class):
            clips.append(render(cls, rng))
            caps.append(str(rng.choice(cls.captions)) if paraphrase else cls.captions[0])
            keys.append(cls.key)
    return SoundSet(clips, caps, keys, {c.key: c.captions[0] for c in classes})


__all__ = ["SR", "DUR", "SoundClass", "SoundSet", "catalogue", "generate", "render", "HELDOUT_COMBOS",
           "coloured_noise"]
