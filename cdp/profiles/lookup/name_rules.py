"""The rules of name lookup, the same on both databases: which stored words a typed word may stand
for (NamePlan, corrects), which the dictionary query returns for it (considered), and how well a
name fits the query (Ranker). See the package's docstring for the rules in words."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from cdp.text import dutch_spelling

# Name search. The words of a folded name, as NAME_WORDS_SQL splits them in PostgreSQL.
_WORD_SPLIT = re.compile(r"[\s,\-]+")
MAX_WORDS = 6
_MIN_WORD_SCORE = 75.0  # rapidfuzz ratio of a typed word and a stored word it may stand for
MIN_PREFIX = 2  # the last word typed also matches the words it starts, from 2 letters on
_MAX_PROBES = 4
# Spellings of the start of a word that sound the same (the dictionary looks words up by
# their first letter): Claes/Klaes, Philip/Filip, Ijzer/Yzer, Schouten/Souten.
_START_SPELLINGS = (
    ("c", "k"), ("k", "c"), ("ph", "f"), ("f", "ph"), ("ij", "y"), ("y", "ij"), ("ei", "ij"),
    ("sch", "s"), ("s", "sch"),
)  # fmt: skip
# Particles as people run them into the surname: "vandenberg", "vdberg", "devries", "terhorst".
_JOINED_PARTICLES = ("van", "den", "der", "de", "ter", "ten", "vd")
_TRIGRAM_THRESHOLD = 0.3  # pg_trgm's default similarity_threshold (the `%` operator)
# Particles of surnames: "van", "de" and "der" are in half the names and say little about whom
# the customer is, so a name need not hold them when other words were typed (they still count
# in the ranking). No first names here ("Ben", "Al"): those must match.
PARTICLES = frozenset(
    {"van", "de", "der", "den", "het", "'t", "t", "ter", "ten", "te", "op", "in", "aan",
     "von", "vom", "zu", "du", "le", "la", "les", "des", "d'", "di", "da", "del", "dos", "el"}
)  # fmt: skip


def _name_words(folded: str) -> list[str]:
    """The words of a folded name or query, each once, in order."""
    return list(dict.fromkeys(w for w in _WORD_SPLIT.split(folded) if w))


@lru_cache(maxsize=65536)
def word_set(folded_name: str) -> frozenset[str]:
    return frozenset(_name_words(folded_name))


def corrects(typed: str, word: str, last: bool) -> bool:
    """Whether a stored word may be what this typed word stands for: the start of it (the last
    word, still being typed), one slip of a finger away (two in a long word), or spelt the
    same way in Dutch (dutch_spelling: Meyer, Meijer; Claes, Klaas) or nearly so."""
    if word == typed or (last and len(typed) >= MIN_PREFIX and word.startswith(typed)):
        return True
    if not typed.isalpha():  # "j%n": a slip of the finger is a letter for a letter
        return fuzz.ratio(typed, word) >= _MIN_WORD_SCORE
    if min(len(typed), len(word)) >= 3 and OSA.distance(
        typed, word, score_cutoff=2
    ) <= _slips_allowed(typed):
        return True
    typed_key, word_key = _sounds(typed), _sounds(word)
    return typed_key == word_key or fuzz.ratio(typed_key, word_key) >= _MIN_WORD_SCORE


def corrections_among(typed: str, words: Sequence[str], last: bool) -> set[str]:
    """The words `corrects` accepts for this typed word, worked out for all of them at once:
    rapidfuzz compares the typed word with every word in C, so the few hundred words the
    dictionary offers for a probe cost about as much as a handful checked one by one."""
    found = {w for w in words if w == typed}
    if last and len(typed) >= MIN_PREFIX:
        found.update(w for w in words if w.startswith(typed))
    if not typed.isalpha():
        found.update(_within(typed, words, fuzz.ratio, _MIN_WORD_SCORE))
        return found
    if len(typed) >= 3:
        slips = _within(typed, words, OSA.distance, _slips_allowed(typed))
        found.update(w for w in slips if len(w) >= 3)
    keys = [_sounds(w) for w in words]
    typed_key = _sounds(typed)
    found.update(words[i] for i, key in enumerate(keys) if key == typed_key)
    found.update(words[i] for i in _within_at(typed_key, keys, fuzz.ratio, _MIN_WORD_SCORE))
    return found


def _within_at(query: str, choices: Sequence[str], scorer: Any, cutoff: float) -> list[int]:
    """The positions of the choices within the cutoff (a least score, or a most distance)."""
    return [
        i
        for _, _, i in process.extract(
            query, choices, scorer=scorer, score_cutoff=cutoff, limit=None
        )
    ]


def _within(query: str, choices: Sequence[str], scorer: Any, cutoff: float) -> list[str]:
    return [choices[i] for i in _within_at(query, choices, scorer, cutoff)]


# dutch_spelling of the ~10,000 distinct words names are made of, each worked out once.
_sounds = lru_cache(maxsize=65536)(dutch_spelling)


def _slips_allowed(typed: str) -> int:
    return 1 if len(typed) < 8 else 2


def _probes(typed: str) -> list[str]:
    """What the dictionary is asked for a typed word: the word, its other Dutch spellings at
    its start (the first letter finds the words of about its length: "Klaes" -> "claes"), and
    the surname in particles run together with it ("vandenberg" -> "berg")."""
    out = [typed]
    for a, b in _START_SPELLINGS:
        if typed.startswith(a) and len(typed) > len(a) + 1:
            out.append(b + typed[len(a) :])
    rest = typed
    while len(rest) > 3:
        particle = next((p for p in _JOINED_PARTICLES if rest.startswith(p)), None)
        if particle is None or len(rest) - len(particle) < 3:
            break
        rest = rest[len(particle) :]
        out.append(rest)
    return list(dict.fromkeys(out))[:_MAX_PROBES]


def considered(typed: str, word: str, last: bool) -> bool:
    """The stored words the dictionary query (_DICTIONARY) returns for a probe."""
    return (
        (word[:1] == typed[:1] and abs(len(word) - len(typed)) <= 1)
        or (last and len(typed) >= MIN_PREFIX and word.startswith(typed))
        or similarity(typed, word) >= _TRIGRAM_THRESHOLD
    )


_TRIGRAM_WORD = re.compile(r"[^\W_]+")


def _trigrams(s: str) -> set[str]:
    out: set[str] = set()
    for word in _TRIGRAM_WORD.findall(s.lower()):
        padded = f"  {word} "
        out.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return out


def similarity(a: str, b: str) -> float:
    """pg_trgm's similarity(): shared trigrams of the words, over all their trigrams."""
    ta, tb = _trigrams(a), _trigrams(b)
    if not ta or not tb:
        return 0.0
    common = len(ta & tb)
    return common / (len(ta) + len(tb) - common)


@dataclass(frozen=True, slots=True)
class NamePlan:
    typed: list[str]  # the words of the query
    required: list[str]  # the ones a name must hold (particles only if nothing else was typed)
    probes: list[tuple[str, str]]  # (required word, what the dictionary is asked for it)
    # Whether the last word may still be being typed (a prefix of the name's word): not when
    # something followed it ("de meer amsterdam": the town came after the name).
    open_ended: bool = True

    @classmethod
    def of(cls, folded: str, *, open_ended: bool = True) -> NamePlan:
        typed = _name_words(folded)[:MAX_WORDS]
        required = [w for w in typed if w not in PARTICLES] or typed
        probes = []
        for word in required:
            probes += [(word, p) for p in _probes(word)]
            i = typed.index(word)
            before = list(itertools.takewhile(lambda w: w in PARTICLES, typed[:i][::-1]))
            if before:  # "van den berghe" may be stored as "Vandenberghe"
                probes.append((word, "".join(before[::-1]) + word))
        return cls(typed, required, probes, open_ended)

    def is_last(self, word: str) -> bool:
        """Whether the word is the last typed and may be a name word's start."""
        return self.open_ended and word == self.typed[-1]

    def groups(self, corrections: dict[str, set[str]]) -> list[list[str]]:
        """For each required word with at least one correction, its corrections."""
        return [sorted(corrections[w]) for w in self.required if corrections.get(w)]


class Ranker:
    """How well a name fits what was typed: each typed word by the best of the name's words
    for it (exact, then the same Dutch spelling, then fewer slips), and the name's words that
    nothing typed stands for counting a little against it; the trigram similarity of the whole
    name breaks ties.

    One per query: the up to 1,500 candidate names share a few hundred words and many share
    the whole name ("daan de jong" 1,154 times at 1,000,000 customers), so each (typed word,
    stored word) fit and each name's score is worked out once.
    """

    __slots__ = ("_corrections", "_fits", "_names", "_plan")

    def __init__(self, plan: NamePlan, corrections: dict[str, set[str]]) -> None:
        self._plan = plan
        self._corrections = corrections
        self._fits: dict[tuple[str, str], float] = {}
        self._names: dict[str, float] = {}

    def _fit(self, typed: str, word: str) -> float:
        key = (typed, word)
        fit = self._fits.get(key)
        if fit is None:
            if word == typed:
                fit = 1.0
            elif self._plan.is_last(typed) and word.startswith(typed):
                fit = 0.95
            elif word in self._corrections.get(typed, ()):
                fit = 0.9 if _sounds(word) == _sounds(typed) else 0.85
                fit -= 0.001 * OSA.distance(typed, word)
            else:
                fit = 0.0
            self._fits[key] = fit
        return fit

    def rank(self, name: str, similarity: float) -> float:
        """The score of a name (higher fits better); similarity: pg_trgm's of name and query."""
        score = self._names.get(name)
        if score is None:
            words = word_set(name)
            score = 0.0
            used: set[str] = set()
            for typed in self._plan.typed:
                best, which = 0.0, ""
                for word in words:
                    fit = self._fit(typed, word)
                    if fit > best:
                        best, which = fit, word
                score += best if typed not in PARTICLES else best * 0.2
                used.add(which)
            score -= 0.05 * sum(1 for w in words if w not in used and w not in PARTICLES)
            self._names[name] = score
        return score + 0.01 * similarity
