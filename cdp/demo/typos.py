"""Names as salespeople type them: the typos and spelling variants a lookup must see through.

Each kind turns a demo person into what someone might type into the lookup box for them. Used
by the lookup recall test (tests/test_lookup_recall.py) and its report (bench/lookup_recall.py),
so both measure the same typing.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from cdp.demo.people import Person

# Neighbouring keys on a QWERTY keyboard: what a finger hits instead.
_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_NEIGHBOURS = {
    ch: "".join(
        row2[j]
        for r2, row2 in enumerate(_ROWS)
        for j in (i - 1, i, i + 1)
        if abs(r2 - r) <= 1 and 0 <= j < len(row2) and row2[j] != ch
    )
    for r, row in enumerate(_ROWS)
    for i, ch in enumerate(row)
}
_PARTICLES = frozenset({"van", "de", "der", "den", "ter", "ten", "'t", "d'", "het", "te"})
# Dutch and Flemish spellings of one sound, both ways round.
_VARIANTS = (
    ("ij", "y"), ("y", "ij"), ("ij", "ei"), ("ei", "ij"), ("ou", "au"), ("au", "ou"),
    ("c", "k"), ("k", "c"), ("ph", "f"), ("dt", "d"), ("dt", "t"), ("d", "dt"), ("sch", "s"),
    ("ck", "k"), ("ae", "a"), ("ss", "s"), ("s", "ss"), ("ks", "x"), ("uy", "ui"),
)  # fmt: skip


def _letters(word: str) -> list[int]:
    """Positions one may mistype: never the first letter (people get that right)."""
    return [i for i, ch in enumerate(word) if i > 0 and ch.isalpha()]


def _surname_word(words: list[str]) -> int:
    """The word a typo goes into: the longest that is not a particle."""
    options = [i for i, w in enumerate(words) if w.lower() not in _PARTICLES and len(w) > 2]
    return max(options or [len(words) - 1], key=lambda i: len(words[i]))


def _in_a_word(rng: random.Random, name: str, change: Callable[[str], str]) -> str:
    """The typo goes into the surname mostly, into the first name one time in four."""
    words = name.split()
    i = 0 if rng.random() < 0.25 and len(words[0]) > 2 else _surname_word(words)
    words[i] = change(words[i])
    return " ".join(words)


def insertion(rng: random.Random, p: Person) -> str:
    def change(w: str) -> str:
        i = rng.choice(_letters(w) or [len(w)])
        near = _NEIGHBOURS.get(w[i - 1].lower(), "e") or "e"
        return w[:i] + rng.choice(near) + w[i:]

    return _in_a_word(rng, f"{p.first_name} {p.last_name}", change)


def deletion(rng: random.Random, p: Person) -> str:
    def change(w: str) -> str:
        spots = _letters(w)
        if not spots or len(w) < 4:
            return w + w[-1]  # too short to lose a letter: doubled instead
        i = rng.choice(spots)
        return w[:i] + w[i + 1 :]

    return _in_a_word(rng, f"{p.first_name} {p.last_name}", change)


def substitution(rng: random.Random, p: Person) -> str:
    def change(w: str) -> str:
        i = rng.choice(_letters(w) or [0])
        near = _NEIGHBOURS.get(w[i].lower(), "") or "e"
        return w[:i] + rng.choice(near) + w[i + 1 :]

    return _in_a_word(rng, f"{p.first_name} {p.last_name}", change)


def transposition(rng: random.Random, p: Person) -> str:
    def change(w: str) -> str:
        spots = [i for i in _letters(w) if i + 1 < len(w) and w[i] != w[i + 1]]
        if not spots:
            return w
        i = rng.choice(spots)
        return w[:i] + w[i + 1] + w[i] + w[i + 2 :]

    return _in_a_word(rng, f"{p.first_name} {p.last_name}", change)


def swapped(rng: random.Random, p: Person) -> str:
    return rng.choice((f"{p.last_name} {p.first_name}", f"{p.last_name}, {p.first_name}"))


def missing_part(rng: random.Random, p: Person) -> str:
    """Part of the name left out: the particles, half a double first name, or the first name
    only begun ("jansen ma")."""
    words = p.last_name.split()
    kept = [w for w in words if w.lower() not in _PARTICLES]
    if kept and len(kept) < len(words):
        return f"{p.first_name} {' '.join(kept)}"
    if "-" in p.first_name:
        return f"{p.first_name.split('-')[0]} {p.last_name}"
    return f"{p.last_name} {p.first_name[: max(2, len(p.first_name) // 2)]}"


def dutch_spelling(rng: random.Random, p: Person) -> str:
    """One sound spelt another way: Meijer as Meyer, Claes as Klaes, Hendrickx as Hendrikx."""
    name = f"{p.first_name} {p.last_name}"
    low = name.lower()
    options = [(a, b) for a, b in _VARIANTS if a in low]
    if not options:
        return name
    a, b = rng.choice(options)
    spots = [m.start() for m in re.finditer(re.escape(a), low)]
    i = rng.choice(spots)
    return name[:i] + b + name[i + len(a) :]


def particles(rng: random.Random, p: Person) -> str:
    """Particles in another case, run together with the surname, or left out."""
    words = p.last_name.split()
    lead = [w for w in words if w.lower() in _PARTICLES]
    rest = [w for w in words if w.lower() not in _PARTICLES]
    style = rng.randrange(3)
    if style == 0:
        last = " ".join(w.capitalize() if w in lead else w for w in words).swapcase()
    elif style == 1:
        last = "".join(words).lower()
    else:
        last = " ".join(rest)
    return f"{p.first_name} {last}".lower() if rng.random() < 0.5 else f"{p.first_name} {last}"


def with_postal_code(rng: random.Random, p: Person) -> str:
    return f"{p.last_name} {p.postal_code[:4]}".lower()


def with_town(rng: random.Random, p: Person) -> str:
    return f"{p.last_name} {p.city}".lower()


KINDS: dict[str, Callable[[random.Random, Person], str]] = {
    "insertion": insertion,
    "deletion": deletion,
    "substitution": substitution,
    "transposition": transposition,
    "swapped": swapped,
    "missing part": missing_part,
    "dutch spelling": dutch_spelling,
    "particles": particles,
    "with postal code": with_postal_code,
    "with town": with_town,
}


def has_particles(p: Person) -> bool:
    return any(w.lower() in _PARTICLES for w in p.last_name.split())


def applies(kind: str, p: Person) -> bool:
    """Whether the kind changes this person's name at all (particles need particles)."""
    if kind == "particles":
        return has_particles(p)
    if kind == "dutch spelling":
        low = f"{p.first_name} {p.last_name}".lower()
        return any(a in low for a, _ in _VARIANTS)
    return True


def typed(rng: random.Random, kind: str, p: Person) -> str:
    """The person's name as typed with this kind of typo, in the case people type in."""
    query = KINDS[kind](rng, p)
    return query.lower() if rng.random() < 0.6 else query


def queries(people: list[Person], per_kind: int, seed: int) -> list[tuple[str, str, Person]]:
    """(kind, typed query, the person meant) for `per_kind` people of each kind it applies to."""
    rng = random.Random(seed)
    out = []
    for kind in KINDS:
        fitting = [p for p in people if applies(kind, p)]
        for p in rng.sample(fitting, min(per_kind, len(fitting))):
            out.append((kind, typed(rng, kind, p), p))
    return out


def _alike(kind: str, meant: Person, other: Person) -> bool:
    """Whether another person fits the query as well as the one meant: the same full name, or,
    where only the surname and a place were typed, the same surname in the same place."""
    if kind == "with postal code":
        return (other.last_name, other.postal_code[:4]) == (meant.last_name, meant.postal_code[:4])
    if kind == "with town":
        return (other.last_name, other.city) == (meant.last_name, meant.city)
    return (other.first_name, other.last_name) == (meant.first_name, meant.last_name)


def recall(
    people: list[Person],
    asked: list[tuple[str, str, Person]],
    search: Callable[[str], list[str]],
) -> dict[str, tuple[float, float, int]]:
    """Per kind (and "all"): recall@1, recall@5 and the number of queries. `search` returns the
    e-mail addresses of the results in order. Where more people fit the query just as well
    (namesakes), the person meant counts as found when the first k results are all such people:
    no lookup can tell them apart."""
    by_email = {p.email: p for p in people}
    hits: dict[str, list[tuple[bool, bool]]] = {}
    for kind, query, person in asked:
        emails = search(query)

        def found(
            k: int, person: Person = person, emails: list[str] = emails, kind: str = kind
        ) -> bool:
            top = emails[:k]
            if person.email in top:
                return True
            return len(top) == k and all(
                e in by_email and _alike(kind, person, by_email[e]) for e in top
            )

        hits.setdefault(kind, []).append((found(1), found(5)))
    hits["all"] = [h for kind in list(hits) for h in hits[kind]]
    return {
        kind: (sum(a for a, _ in hs) / len(hs), sum(b for _, b in hs) / len(hs), len(hs))
        for kind, hs in hits.items()
    }
