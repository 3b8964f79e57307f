"""Lookup benchmark: search latency at 1,000,000 generated profiles on PostgreSQL.

Run by hand, not by the test suite. Everything stays on this machine (127.0.0.1).
Figures: docs/benchmarks.md, section "Lookup".

How to run it
-------------
    .venv/bin/python bench/lookup.py --queries 300 --explain 2 --json /tmp/lookup.json
    .venv/bin/python bench/lookup.py --regenerate          # throw the data away, generate again
    .venv/bin/python bench/lookup.py --load-only           # generate the data if needed, then stop

Defaults: 1,000,000 profiles, --queries 200 timed queries of each kind, --warmup 10 untimed ones
of each first, --seed 7. The queries take well under a minute; generating the data takes 1 to 2
minutes the first time.

The database (default `cdp_bench_lookup` on 127.0.0.1:5432, user postgres; --database-url or
CDP_BENCH_LOOKUP_URL) is created when missing (through the admin database `test`) and migrated
with `cdp.migrate.upgrade`. Its name must contain "bench": the generator truncates profile,
identity and profile_search (CASCADE).

Data
----
--profiles fictional Dutch and Belgian customers, deterministic for --seed, written with
COPY ... FREEZE (psycopg `cursor.copy`) straight into `profile`, `identity` (e-mail for ~92%,
phone in E.164 for ~63%, one or two anonymous ids, one or two configuration codes for ~40%, a CRM
user id for ~10%) and `profile_search` (name, name_folded via `cdp.text.fold`, e-mail, phone as
typed, postal code as `cdp.text.postal_code` stores it, city, latest model and colour, lead
stage, licence plate for 35%), as `cdp.profiles.projection.refresh_search` would write them,
and then `name_word` (the name search's dictionary, migration 0004) from those names. Names
follow realistic frequencies: common Dutch, Flemish and French surnames (de Jong, Jansen,
Peeters, Dubois, ...) are frequent, then comes a long tail of generated ones (van Hoogeveen,
Brinkman, Vercammen, Dumoulin, ...): at 1,000,000 profiles, 428,000 distinct names, "daan de
jong" 1,111 times.
Secondary indexes are dropped during the load and rebuilt from their own definitions afterwards
(checked identical), FK triggers are off during the load (session_replication_role), then
VACUUM ANALYZE. When the data for --profiles/--seed is already there, generation is skipped (a
row in `bench_lookup_meta` says so); --regenerate forces it.

What it measures
----------------
One run, every kind of query interleaved in a shuffled order (so a noisy neighbour hits every
kind alike); each timed call is one session as a request has it (sessionmaker(), query, commit,
close; the pool is warm):

- `cdp.profiles.lookup.lookup`, in-process through SQLAlchemy, for --queries queries of each
  kind: name with a typo (a doubled, dropped, transposed or replaced letter, accents left out,
  first and last name swapped; never the first letter; any case), the same names spelled right,
  surname only, first name only (what the box holds while the rest is typed), e-mail (mixed
  case, padded), phone ("06-12345678", "+31 6 1234 5678", "0031612345678", "0031 6 12345678",
  "06 12 34 56 78", "+31 (0)6 ...", Belgian mobiles as "+32 470 12 34 56", "0032470123456",
  "0470 12 34 56", "0470/12.34.56"; the phone region is the product's default, "NL,BE"),
  configuration code (lower case), postal code ("1234 AB", "1234ab", "1000"), licence plate
  ("1-KBN-23", "1kbn23", "1 kbn 23", "1.KBN.23") and a name typed with the customer's town
  ("jansen eindhoven", "piet jansen liege", "eindhoven piet jansen");
- with --http (the default), the same queries through a real `cdp serve --workers N`
  (bench/lookup_http.py): `GET /api/profiles?q=` and the search partial, one keep-alive client
  timing one request at a time, each right after the in-process call, with the CPU the server's
  processes and their PostgreSQL backends spent on each API and partial request; then
  --concurrency clients at once for --concurrent-queries requests (requests/s, p50/p95/p99);
- the baseline: one plain indexed equality query (identity by value and kind, the btree unique
  index) in a session of its own, for the same e-mail addresses.

Per kind: wall-clock p50/p95/p99/max in ms, p95 as a multiple of the baseline's p95, the target
(p95 < 50 ms) met or not, and, because the machine is shared, the CPU time the PostgreSQL
backend spent (from /proc/<pid>/schedstat; parallel workers not included) and this process's
CPU time. Correctness: "hit" is the share of queries whose intended profile is among the 20
results; "right" is the share with a result of exactly the intended (folded) name (for a
surname or a first name: with that surname or first name; for a postal code: only results with
that postal code), which is the best possible for a name like "daan de jong" that more than 20
customers share. Both are also given per typo kind and format.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import os
import platform
import random
import re
import subprocess
import sys
import time
import unicodedata
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lookup_http import (  # beside this script: the HTTP half of the benchmark
    LookupServer,
    ServerClock,
    concurrent_run,
    time_api,
    time_partial,
)

from cdp.config import Settings
from cdp.db import make_engine, make_sessionmaker
from cdp.migrate import upgrade
from cdp.profiles.lookup import lookup
from cdp.profiles.lookup.names_postgres import name_query
from cdp.profiles.projection import NAME_WORDS_SQL
from cdp.text import fold

try:  # the projection stores postal codes through this since it exists
    from cdp.text import postal_code as _product_postal_code
except ImportError:  # an older checkout
    _product_postal_code = None  # type: ignore[assignment]

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/cdp_bench_lookup"
ADMIN_DATABASE = "test"
GENERATOR_VERSION = "5"  # 5: licence plates (profile_search.plate)
TARGET_P95_MS = 50.0
TARGET_HTTP_P95_MS = 20.0  # issue 12: over HTTP, at 1,000,000 profiles
LIMIT = 20
# The product's default for CDP_DEFAULT_PHONE_REGION ("NL,BE"), as `lookup` gets it.
PHONE_REGION = str(Settings.model_fields["default_phone_region"].default)
TABLES = ("profile", "identity", "profile_search")

# --------------------------------------------------------------------------------------------
# Names: common real surnames first (Zipf-like), then a long tail of generated ones.
# --------------------------------------------------------------------------------------------

_NL_WOMEN = (
    "Sanne Lotte Emma Anouk Femke Iris Lieke Esther Marieke Ingrid Annelies Renée Zoë Noor Fleur "
    "Sophie Julia Eva Mirjam Petra Yvonne Naomi Floor Linda Daphne Charlotte Fatima Sevda Loes "
    "Anna Tess Sara Lisa Maud Jasmijn Roos Isa Elin Nina Saskia Monique Wendy Marloes Janneke "
    "Ilse Karin Annemieke Hanneke Marjolein Judith Bianca Kim Manon Romy Evi Lynn Mila Nienke"
)
_NL_MEN = (
    "Daan Bram Thijs Jeroen Martijn Sander Pieter Joost Ruben Lars Bas Niels Wouter Stijn Daniël "
    "Jan Kees Henk Gert-Jan Jan-Willem Mohamed Youssef Emre Koen Tim Rik Sem Luuk Michiel Erik "
    "Piet Hans Frank Marco Mark Dennis Jasper Vincent Maarten Remco Arjen Hendrik Willem Gerrit "
    "Johan Rob Richard Edwin Mehmet Ahmed Finn Jesse Milan Levi Noah Lucas Gijs Teun Hidde Mees"
)
_NL_HEAD = (
    "de Jong|Jansen|de Vries|van den Berg|van Dijk|Bakker|Janssen|Visser|Smit|Meijer|de Boer|"
    "Mulder|de Groot|Bos|Vos|Peters|Hendriks|van Leeuwen|Dekker|Brouwer|de Wit|Dijkstra|Smits|"
    "de Graaf|van der Meer|van der Linden|Kok|Jacobs|de Haan|Vermeulen|van den Heuvel|"
    "van der Veen|van den Broek|de Bruijn|van 't Hof|ter Horst|Müller|Öztürk|El Amrani|Postma|"
    "Schouten|Koster|Kuipers|van Beek|Prins|Verhoeven|Hoekstra|Willemsen|van Wijk|Çelik|Yilmaz|"
    "Bosman|Sanders|van Vliet|Maas|Kramer|Huisman|Scholten|Groen|Boer|Kuiper|Veenstra|Koning"
)
_BE_NL_WOMEN = (
    "Lien Elke Ann Katrien Sofie An Nele Griet Hanne Lore Marie Fien Jolien Inge Els Femke "
    "Ellen Lotte Eline Joke Leen Sarah Lies Tine Veerle Kaat Ine Mieke Hilde Ilse Evy"
)
_BE_NL_MEN = (
    "Pieter Wouter Jens Tom Koen Bart Stijn Jonas Thomas Bram Dries Kobe Lander Wim Geert Jef "
    "Filip Gert Toon Senne Kristof Bert Joris Sven Yannick Dirk Luc Ward Robbe Arne Seppe"
)
_BE_NL_HEAD = (
    "Peeters|Janssens|Maes|Jacobs|Mertens|Willems|Claes|Goossens|Wouters|De Smet|Van den Broeck|"
    "Vermeulen|De Clercq|Van Damme|De Backer|Verhoeven|Desmet|Lemmens|Vandenberghe|Coppens|"
    "Van de Velde|D'Hondt|Verstraete|Declercq|Van Acker|Martens|Hermans|De Vos|Aerts|Michiels|"
    "Claeys|Dubois|Segers|Smets|Stevens|Van Dyck|Pauwels|Cools|Verbruggen|Hendrickx"
)
_FR_WOMEN = (
    "Françoise Marie Camille Chloé Hélène Élise Manon Julie Aurélie Gaëlle Anaïs Céline Léa "
    "Nathalie Isabelle Sophie Amélie Noémie Pauline Océane Valérie Sandrine Émilie Justine Lucie"
)
_FR_MEN = (
    "François Luc Olivier Nicolas Julien Mathieu Benoît Jérôme Loïc Cédric Thibault Maxime Quentin "
    "Sébastien Antoine Frédéric Rémi Arnaud Grégory Hugo Michel Philippe Pierre Alain Jean-Marc"
)
_FR_HEAD = (
    "Dubois|Lambert|Dupont|Martin|Leroy|Lejeune|Lefèvre|Renard|Delvaux|Gérard|Simon|Laurent|"
    "Leclercq|François|Mathieu|Collard|Denis|Fontaine|Piron|Lemaire|Dumont|Mercier|Wéry|Lecomte|"
    "Dethier|Goffin|Henrard|Noël|Mahieu|Delhaye|Jacquet|Lemoine|Hubert|Marchal|Charlier"
)
_INT_WOMEN = "Emily Hannah Olivia Priya Anna Sofia Laura Maria Aisha Chloe Yuki Elena Zeynep"
_INT_MEN = "James Oliver Thomas Rahul Lukas Marco Daniel Pablo Arjun Matteo Kenji Stefan Ali"
_INT_HEAD = (
    "Smith|Brown|Taylor|Wilson|Sharma|Patel|Müller|Schmidt|Kowalski|Rossi|García|Nowak|O'Brien|"
    "Fischer|Tanaka|Papadopoulos|Novák|Larsen|Nguyen|Kaya|Wagner|Silva|Ferreira|Jensen"
)

_NL_PARTICLES = (
    ("van", 30), ("de", 25), ("van der", 14), ("van den", 12), ("van de", 8), ("ter", 4),
    ("ten", 3), ("van 't", 2), ("te", 1), ("op den", 1), ("in 't", 1),
)  # fmt: skip
_NL_STARTS = (
    "Hoog Laag Groot Klein Nieuw Oude West Oost Zuid Noord Brink Wit Zwart Rood Groen Bloem "
    "Kruis Hol Berk Eik Linde Ros Bak Mol Vis Hout Dam Stok Zee Lange Korte Haver Rog Koe Schaap "
    "Ven Heem Wester Ooster Dijk Veld Kamp Broek Berg Bos Beek Meer Lin Wolt Ham Wed Rijs Mos "
    "Kool Hoek Stap Gras Bree Vlie Vel Win Wal Kers Appel Peer Hazel Wilg Riet Zand Klei Steen "
    "Sterk Goed Bras Buur Bouw Scheep Vaar Kerk Molen Brug Sluis Poort Water Wind Storm Hage"
)
_NL_ROOTS = (
    "berg hof veld dijk broek kamp huis bosch horst hout meer water haar rijn voort beek burg "
    "laar loo wijk zand hoven donk heuvel weide brink molen kerk brugge heide akker linde esch "
    "steen venne bergh schot hage wal dam weg straten gaarde land hoek stede kamp tuin gracht "
    "vliet sloot wetering marke"
)
_NL_SUFFIXES = (
    ("stra", 6), ("sma", 4), ("ma", 4), ("man", 8), ("mans", 4), ("inga", 2), ("ink", 3),
    ("ing", 3), ("er", 5), ("ers", 4), ("sen", 3), ("s", 3), ("en", 2), ("kes", 1), ("huis", 3),
    ("veld", 4), ("dijk", 4), ("berg", 4), ("meijer", 2), ("boer", 2), ("kamp", 3), ("broek", 3),
    ("hof", 3), ("link", 1), ("stein", 1), ("veen", 4), ("horst", 2), ("beek", 3), ("werf", 1),
)  # fmt: skip
_BE_PARTICLES = (
    ("Van", 30), ("De", 30), ("Van den", 10), ("Van de", 8), ("Vanden", 4), ("Ver", 10),
)  # fmt: skip
_BE_SUFFIXES = (
    ("aert", 4), ("aerts", 3), ("ens", 4), ("ckx", 2), ("eels", 2), ("ghe", 2), ("ynck", 1),
    ("mans", 4), ("man", 3), ("ers", 3), ("s", 3), ("en", 2), ("elle", 1), ("ier", 1),
)  # fmt: skip
_FR_PARTICLES = (("Du", 30), ("De", 15), ("Le", 20), ("La", 10), ("Des", 6), ("Van", 4))
_FR_ROOTS = (
    "Bois Pont Mont Champ Val Fosse Roche Chêne Moulin Fontaine Marais Pré Puits Four Chemin "
    "Sart Mesnil Thier Ry Vivier Haye Château Bourg Fays Mée Rieux Jardin Pierre Clos Frêne Noyer "
    "Tilleul Houx Saule Croix Buisson Lac Rocher Ruisseau"
)
_FR_STEMS = (
    "Ren Gob Mich Rob Berth Gill Hub Lamb Jacqu Lecl Mart Thom Colin Bern Mathi Gaut Ferr Gir "
    "Rich Bouch Mass Charl Franc Delv Demo Fran Gosse Grand Petit Dur Blanch Mor Ros Lefr Leb"
)
_FR_SUFFIXES = (
    ("ier", 4), ("et", 4), ("ot", 3), ("eau", 3), ("ard", 4), ("in", 3), ("on", 3), ("elle", 2),
    ("ais", 2), ("ez", 1), ("é", 2), ("ère", 1), ("y", 2), ("aux", 1), ("eux", 1),
)  # fmt: skip
_INT_TAIL = (
    "Yıldız Demir Şahin Aydın Arslan Doğan Kılıç Bouzid Benali Haddou Ouali Amrani Tahiri Ziani "  # noqa: RUF001
    "Kumar Singh Gupta Chen Wang Li Zhang Kim Park Lee Ivanova Petrov Horvat Kovač Popescu "
    "Santos Costa Pereira Oliveira Romano Ricci Esposito Moretti Lindqvist Nieminen Hansen"
)


class Weighted:
    """A population with weights, drawn with one random() and a bisect."""

    def __init__(self, items: Sequence[str], weights: Sequence[float]) -> None:
        self.items = list(items)
        self.cum: list[float] = []
        total = 0.0
        for w in weights:
            total += w
            self.cum.append(total)
        self.total = total

    def pick(self, rng: random.Random) -> str:
        return self.items[bisect.bisect_right(self.cum, rng.random() * self.total)]


def _zipf(n: int, s: float, offset: float = 1.0) -> list[float]:
    return [1.0 / (r + offset) ** s for r in range(n)]


def _firsts(women: str, men: str) -> Weighted:
    names = [*women.split(), *men.split()]
    w = women.split()
    m = men.split()
    weights = [*_zipf(len(w), 0.8), *_zipf(len(m), 0.8)]
    return Weighted(names, weights)


def _surnames(head: str, tail: list[str], head_share: float) -> Weighted:
    heads = head.split("|")
    hw = _zipf(len(heads), 0.8)
    tw = _zipf(len(tail), 1.0, offset=300.0)
    scale_h = head_share / sum(hw)
    scale_t = (1 - head_share) / sum(tw) if tail else 0.0
    return Weighted([*heads, *tail], [w * scale_h for w in hw] + [w * scale_t for w in tw])


def _pairs(pairs: Sequence[tuple[str, int]]) -> list[str]:
    return [p for p, w in pairs for _ in range(w)]


def _nl_tail(rng: random.Random) -> list[str]:
    starts, roots = _NL_STARTS.split(), _NL_ROOTS.split()
    names = set()
    particles = _pairs(_NL_PARTICLES)
    for s in starts:
        for suffix, _ in _NL_SUFFIXES:  # Hoogeveen, Brinkman, Molenaars, Wittebroek
            if not s.lower().endswith(suffix):
                e = "e" if rng.random() < 0.15 and suffix[0] not in "aeiou" else ""
                names.add(s + e + suffix)
        for r in roots:  # Berkhout, van Hoogeveld
            if r != s.lower():
                names.add(s + r)
                if rng.random() < 0.4:
                    names.add(f"{rng.choice(particles)} {s}{r}")
    for r in roots:  # van der Hoeven, de Brink
        for p in set(particles):
            names.add(f"{p} {r.capitalize()}")
    out = sorted(names)
    rng.shuffle(out)
    return out


def _be_tail(rng: random.Random) -> list[str]:
    starts, roots = _NL_STARTS.split(), _NL_ROOTS.split()
    names = set()
    particles = _pairs(_BE_PARTICLES)
    for s in starts:
        for suffix, _ in _BE_SUFFIXES:  # Hoogaert, Brinckx, Molenaers
            names.add(s + suffix)
        for r in roots:  # Van Hoogveld, De Brinkhout, Vermolenbeek
            if rng.random() < 0.5:
                p = rng.choice(particles)
                names.add(f"{p}{(s + r).lower()}" if p in ("Ver", "Vanden") else f"{p} {s}{r}")
        for p in set(particles):
            names.add(f"{p}{s.lower()}" if p in ("Ver", "Vanden") else f"{p} {s}")
    out = sorted(names)
    rng.shuffle(out)
    return out


def _fr_tail(rng: random.Random) -> list[str]:
    names = set()
    stems = _FR_STEMS.split()
    for stem in stems:
        for suffix, _ in _FR_SUFFIXES:  # Renard, Gobert, Michaux
            names.add(stem + suffix)
            if rng.random() < 0.3:  # Grandmichel, Petitrenard
                names.add(stem + rng.choice(stems).lower() + suffix)
    particles = _pairs(_FR_PARTICLES)
    for root in _FR_ROOTS.split():  # Dubois, Le Moulin, Delachaussée
        for p in set(particles):
            glued = p in ("Du", "Le", "Des") and len(root) > 3
            names.add(f"{p}{root.lower()}" if glued else f"{p} {root}")
            for stem in rng.sample(stems, 6):
                names.add(f"{p} {stem}{rng.choice(_FR_SUFFIXES)[0]}")
    out = sorted(names)
    rng.shuffle(out)
    return out


@dataclass(frozen=True, slots=True)
class Place:
    country: str
    city: str
    codes: tuple[int, ...]
    weight: float


def _nl(city: str, low: int, high: int, w: float) -> Place:
    return Place("NL", city, tuple(range(low, high + 1)), w)


PLACES = (
    _nl("Amsterdam", 1011, 1109, 9), _nl("Amstelveen", 1181, 1189, 1.5),
    _nl("Haarlem", 2011, 2037, 2), _nl("Almere", 1311, 1364, 2.5),
    _nl("Rotterdam", 3011, 3089, 7), _nl("Dordrecht", 3311, 3329, 1.5),
    _nl("Den Haag", 2491, 2599, 6), _nl("Delft", 2611, 2629, 1.3),
    _nl("Leiden", 2311, 2334, 1.5), _nl("Zoetermeer", 2711, 2729, 1.5),
    _nl("Utrecht", 3511, 3585, 4), _nl("Amersfoort", 3811, 3829, 1.8),
    _nl("Hilversum", 1211, 1223, 1), _nl("Eindhoven", 5611, 5658, 3.4),
    _nl("Tilburg", 5011, 5049, 2.5), _nl("'s-Hertogenbosch", 5211, 5237, 1.8),
    _nl("Breda", 4811, 4839, 2), _nl("Maastricht", 6211, 6229, 1.5),
    _nl("Arnhem", 6811, 6846, 2), _nl("Nijmegen", 6511, 6546, 2.2),
    _nl("Apeldoorn", 7311, 7339, 2), _nl("Zwolle", 8011, 8043, 1.6),
    _nl("Enschede", 7511, 7548, 2), _nl("Deventer", 7411, 7439, 1.2),
    _nl("Groningen", 9711, 9747, 3), _nl("Leeuwarden", 8911, 8941, 1.5),
    Place("BE", "Brussel", (1000, 1020), 3), Place("BE", "Elsene", (1050,), 1.5),
    Place("BE", "Uccle", (1180,), 1.3), Place("BE", "Leuven", (3000, 3001, 3010), 1.8),
    Place("BE", "Wavre", (1300,), 0.6), Place("BE", "Antwerpen", (2000, 2018, 2020, 2060), 4),
    Place("BE", "Mechelen", (2800,), 1.2), Place("BE", "Gent", (9000, 9030, 9040, 9050), 3),
    Place("BE", "Aalst", (9300,), 1), Place("BE", "Brugge", (8000, 8200), 1.4),
    Place("BE", "Kortrijk", (8500,), 1), Place("BE", "Hasselt", (3500,), 1),
    Place("BE", "Genk", (3600,), 0.8), Place("BE", "Liège", (4000, 4020, 4030), 2),
    Place("BE", "Namur", (5000,), 1.2), Place("BE", "Charleroi", (6000, 6001, 6010), 1.8),
    Place("BE", "Mons", (7000,), 1), Place("BE", "Tournai", (7500,), 0.7),
)  # fmt: skip
_FR_CITIES = frozenset({"Uccle", "Wavre", "Liège", "Namur", "Charleroi", "Mons", "Tournai"})

_PROVIDERS = {
    "NL": (("gmail.com", 30), ("hotmail.com", 14), ("outlook.com", 10), ("live.nl", 6),
           ("ziggo.nl", 10), ("kpnmail.nl", 8), ("xs4all.nl", 3), ("icloud.com", 8),
           ("planet.nl", 3), ("home.nl", 2)),
    "BE": (("gmail.com", 32), ("hotmail.com", 12), ("outlook.com", 8), ("telenet.be", 16),
           ("skynet.be", 6), ("proximus.be", 5), ("icloud.com", 7), ("hotmail.be", 5),
           ("yahoo.fr", 3), ("live.be", 4)),
}  # fmt: skip
_BE_MOBILE = tuple(str(n) for n in (460, 468, *range(470, 480), *range(483, 500)))
_NL_POSTAL_LETTERS = "ABCDEGHJKLMNPRSTVWXZ"
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_MODELS = ("Vela", "Fjord", "Sterna", "Tundra", "Lumo")
_COLOURS = (
    ("Glacier White", "#f2f4f5"), ("Obsidian Black", "#111214"), ("Fjord Blue", "#1f4e79"),
    ("Lava Red", "#b3261e"), ("Moss Green", "#4b5d3a"), ("Titanium Grey", "#7d8288"),
    ("Sand Beige", "#c9b18a"),
)  # fmt: skip
_STAGES = ("new", "attempted", "reached", "appointment", "test_drive", "quote", "sold", "lost")


@cache
def ascii_fold(text_: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text_)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("\u0131", "i")


@cache
def _email_part(name: str) -> str:
    return "".join(c for c in ascii_fold(name).lower() if c.isalnum())


def _permute(i: int, size: int, mult: int, add: int) -> int:
    """A bijection on range(size) (mult coprime with size): unique numbers that look random."""
    return (i * mult + add) % size


class People:
    """Deterministic customers for one seed."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed * 7919 + 1)
        self.places = Weighted([str(i) for i in range(len(PLACES))], [p.weight for p in PLACES])
        self.nl_first = _firsts(_NL_WOMEN, _NL_MEN)
        self.be_first = _firsts(_BE_NL_WOMEN, _BE_NL_MEN)
        self.fr_first = _firsts(_FR_WOMEN, _FR_MEN)
        self.int_first = _firsts(_INT_WOMEN, _INT_MEN)
        self.nl_last = _surnames(_NL_HEAD, _nl_tail(rng), 0.16)
        self.be_last = _surnames(_BE_NL_HEAD, _be_tail(rng), 0.2)
        self.fr_last = _surnames(_FR_HEAD, _fr_tail(rng), 0.2)
        self.int_last = _surnames(_INT_HEAD, _INT_TAIL.split(), 0.4)
        self.providers = {
            c: Weighted([p for p, _ in ps], [w for _, w in ps]) for c, ps in _PROVIDERS.items()
        }
        self.emails: set[str] = set()

    def name(self, rng: random.Random, place: Place) -> tuple[str, str]:
        international = rng.random() < (0.04 if place.country == "NL" else 0.07)
        if international:
            return self.int_first.pick(rng), self.int_last.pick(rng)
        if place.country == "NL":
            return self.nl_first.pick(rng), self.nl_last.pick(rng)
        if place.city in _FR_CITIES or (place.city == "Brussel" and rng.random() < 0.6):
            return self.fr_first.pick(rng), self.fr_last.pick(rng)
        return self.be_first.pick(rng), self.be_last.pick(rng)

    def email(self, rng: random.Random, first: str, last: str, country: str) -> str:
        f, s = _email_part(first), _email_part(last)
        pattern = rng.randrange(6)
        local = (
            f"{f}.{s}",
            f"{f[0]}.{s}",
            f"{f}{s}",
            f"{f}_{s}",
            f"{f}{s}{rng.randrange(60, 100):02d}",
            f"{s}.{f}",
        )[pattern]
        domain = self.providers[country].pick(rng)
        email = f"{local}@{domain}"
        for _ in range(1000):  # a namesake got there first: add digits, as people do
            if email not in self.emails:
                break
            email = f"{local}{rng.randrange(1, 10000)}@{domain}"
        else:
            email = f"{local}.{rng.getrandbits(32):08x}@{domain}"
        self.emails.add(email)
        return email


def nl_phone_written(rng: random.Random, d: str) -> str:
    return rng.choice(
        (f"06-{d}", f"06{d}", f"06 {d[:2]} {d[2:4]} {d[4:6]} {d[6:]}", f"06 {d[:4]} {d[4:]}",
         f"+31 6 {d}", f"+316{d}", f"+31 6 {d[:2]} {d[2:4]} {d[4:6]} {d[6:]}",
         f"+31 (0)6 {d[:4]} {d[4:]}", f"0031 6 {d}")
    )  # fmt: skip


def be_phone_written(rng: random.Random, prefix: str, d: str) -> str:
    return rng.choice(
        (f"0{prefix} {d[:2]} {d[2:4]} {d[4:]}", f"0{prefix}/{d[:2]}.{d[2:4]}.{d[4:]}",
         f"0{prefix}{d}", f"+32 {prefix} {d[:2]} {d[2:4]} {d[4:]}", f"+32{prefix}{d}",
         f"0032 {prefix} {d[:2]} {d[2:4]} {d[4:]}")
    )  # fmt: skip


def _code(j: int) -> str:
    n = _permute(j, 32**6, 0x2545F491, 987_654_321)
    chars = []
    for _ in range(6):
        n, r = divmod(n, 32)
        chars.append(_CODE_ALPHABET[r])
    return "NW-" + "".join(chars)


# Plates: RDW-style letters (no vowels, C or Q), so no plate spells a word.
_PLATE_LETTERS = "BDFGHJKLNPRSTVXZ"


def _plate(j: int, country: str) -> str:
    """The j-th plate, distinct for every j: NL sidecode 8 (1-KBN-23) or BE 1-ABC-123."""
    if country == "NL":
        n = _permute(j, 9 * 16**3 * 100, 1_000_003, 424_242)
        n, tail = divmod(n, 100)
        n, head = divmod(n, 9)
        letters = ""
        for _ in range(3):
            n, r = divmod(n, 16)
            letters += _PLATE_LETTERS[r]
        return f"{head + 1}-{letters}-{tail:02d}"
    n = _permute(j, 9 * 26**3 * 1000, 1_000_003, 434_343)
    n, tail = divmod(n, 1000)
    n, head = divmod(n, 9)
    letters = ""
    for _ in range(3):
        n, r = divmod(n, 26)
        letters += chr(ord("A") + r)
    return f"{head + 1}-{letters}-{tail:03d}"


def generator_version() -> str:
    """Changes when the generator or the product's stored forms change: data is then redone."""
    return f"{GENERATOR_VERSION}:{stored_postal_code('1234 ab')}:{fold('Straße Øst')}"


def stored_postal_code(raw: str) -> str:
    """What cdp.profiles.projection.refresh_search stores for a postal code trait."""
    if _product_postal_code is not None:  # "1234 AB" (since the display fix)
        return _product_postal_code(raw)
    return fold(raw).replace(" ", "")[:20]  # "1234ab" (before it)


def _uuid4(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def _c(value: str | None) -> str:
    """A COPY text field. Generated values never hold a tab, newline or backslash (checked)."""
    return "\\N" if value is None else value


_UNSAFE = re.compile(r"[\t\n\r\\]")


@dataclass
class Chunk:
    profiles: list[str] = field(default_factory=list)
    identities: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)


def generate_chunk(
    people: People, rng: random.Random, start: int, end: int, ident_start: int,
    code_counter: list[int], timestamps: list[str],
) -> tuple[Chunk, int]:  # fmt: skip
    """Rows for profiles start..end-1 (text COPY lines); returns the next identity id."""
    out = Chunk()
    profiles, identities, searches = out.profiles, out.identities, out.searches
    ident = ident_start
    mult = 12_345_679  # coprime with 5*10^7 (NL mobile numbers) and with 29*10^6 (BE)
    n_ts = len(timestamps)
    r = rng.random
    for i in range(start, end):
        pid = _uuid4(rng)
        a = rng.randrange(n_ts)
        b = min(n_ts - 1, a + int(rng.expovariate(1 / 400)))
        at, last_seen = timestamps[a], timestamps[b]
        profiles.append(f"{pid}\t{at}\t{at}\t{last_seen}\n")
        tail = f"\t{pid}\t\\N\t{at}\n"  # profile_id, source_id, first_seen_at
        identities.append(f"{ident}\tanonymous_id\t{_uuid4(rng)}{tail}")
        ident += 1
        if r() < 0.25:  # a second device
            identities.append(f"{ident}\tanonymous_id\t{_uuid4(rng)}{tail}")
            ident += 1
        place = PLACES[int(people.places.pick(rng))]
        first, last = people.name(rng, place)
        email = people.email(rng, first, last, place.country) if r() < 0.92 else None
        phone_written = None
        if email is None or r() < 0.6:
            if place.country == "NL":
                p = _permute(i, 50_000_000, mult, 7_777_777)
                d = f"{1 + p // 10**7}{p % 10**7:07d}"
                phone_e164, phone_written = f"+316{d}", nl_phone_written(rng, d)
            else:
                p = _permute(i, len(_BE_MOBILE) * 10**6, mult, 3_333_333)
                prefix, d = _BE_MOBILE[p // 10**6], f"{p % 10**6:06d}"
                phone_e164, phone_written = f"+32{prefix}{d}", be_phone_written(rng, prefix, d)
        if email:
            identities.append(f"{ident}\temail\t{email}{tail}")
            ident += 1
        if phone_written:
            identities.append(f"{ident}\tphone\t{phone_e164}{tail}")
            ident += 1
        if r() < 0.1:
            identities.append(f"{ident}\tuser_id\tcrm-{i:07d}{tail}")
            ident += 1
        model = colour = hex_ = None
        if r() < 0.4:  # saved a configuration (a quarter of them two)
            for _ in range(2 if r() < 0.25 else 1):
                identities.append(f"{ident}\tconfig_code\t{_code(code_counter[0])}{tail}")
                ident += 1
                code_counter[0] += 1
            model = rng.choice(_MODELS)
            colour, hex_ = rng.choice(_COLOURS)
        elif r() < 0.25:  # configured, did not save
            model = rng.choice(_MODELS)
            colour, hex_ = rng.choice(_COLOURS)
        if place.country == "NL":
            letters = rng.choice(_NL_POSTAL_LETTERS) + rng.choice(_NL_POSTAL_LETTERS)
            postal = stored_postal_code(f"{rng.choice(place.codes)} {letters}")
        else:
            postal = stored_postal_code(str(rng.choice(place.codes)))
        name = f"{first} {last}" if r() < 0.97 else None
        stage = rng.choice(_STAGES) if r() < 0.3 else None
        plate = _plate(i, place.country) if r() < 0.35 else None  # a trade-in or current car
        searches.append(
            "\t".join(
                (
                    pid,
                    _c(name),
                    _c(fold(name)[:200] if name else None),
                    _c(email),
                    _c(phone_written),
                    postal,
                    place.city,
                    _c(model),
                    _c(colour),
                    _c(hex_),
                    _c(stage),
                    _c(plate),
                )
            )
            + "\n"
        )
    return out, ident


def check_copy_safe(people: People) -> None:
    values = [
        *people.nl_first.items, *people.be_first.items, *people.fr_first.items,
        *people.int_first.items, *people.nl_last.items, *people.be_last.items,
        *people.fr_last.items, *people.int_last.items, *(p.city for p in PLACES),
    ]  # fmt: skip
    bad = [v for v in values if _UNSAFE.search(v)]
    if bad:
        raise ValueError(f"values unsafe for COPY text format: {bad[:5]}")


# --------------------------------------------------------------------------------------------
# Database set-up and generation
# --------------------------------------------------------------------------------------------


def conninfo(url: str) -> str:
    u = make_url(url)
    return u.set(drivername="postgresql").render_as_string(hide_password=False)


def ensure_database(url: str) -> None:
    u = make_url(url)
    name = u.database or ""
    if "bench" not in name:
        raise SystemExit(f"refusing to use database {name!r}: its name must contain 'bench'")
    admin = u.set(drivername="postgresql", database=ADMIN_DATABASE)
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            print(f"creating database {name}")
            conn.execute(f'CREATE DATABASE "{name}"')


def secondary_indexes(cur: psycopg.Cursor[Any]) -> list[tuple[str, str, str | None, str]]:
    """(index name, table, unique-constraint name or None, definition) of non-PK indexes."""
    rows = cur.execute(
        """
        SELECT ic.relname, t.relname, con.conname,
               coalesce(pg_get_constraintdef(con.oid), pg_get_indexdef(i.indexrelid))
        FROM pg_index i
        JOIN pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_class t ON t.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema()
        LEFT JOIN pg_constraint con
            ON con.conindid = i.indexrelid AND con.conrelid = t.oid AND con.contype = 'u'
        WHERE t.relname = ANY(%s) AND NOT i.indisprimary
        ORDER BY t.relname, ic.relname
        """,
        (list(TABLES),),
    ).fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def index_signature(cur: psycopg.Cursor[Any]) -> list[str]:
    rows = cur.execute(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() "
        "AND tablename = ANY(%s) ORDER BY indexname",
        (list(TABLES),),
    ).fetchall()
    return [r[0] for r in rows]


def meta_get(conn: psycopg.Connection[Any]) -> dict[str, str]:
    conn.execute("CREATE TABLE IF NOT EXISTS bench_lookup_meta (key text PRIMARY KEY, value text)")
    return dict(conn.execute("SELECT key, value FROM bench_lookup_meta").fetchall())


def meta_put(conn: psycopg.Connection[Any], values: dict[str, str]) -> None:
    with conn.transaction():
        for k, v in values.items():
            conn.execute(
                "INSERT INTO bench_lookup_meta VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (k, v),
            )


def generate(conn: psycopg.Connection[Any], n: int, seed: int, chunk_size: int = 50_000) -> None:
    """All rows in one transaction (all or nothing); `conn` must be in autocommit mode."""
    t0 = time.perf_counter()
    people = People(seed)
    check_copy_safe(people)
    rng = random.Random(seed)
    base = datetime(2022, 1, 1, tzinfo=UTC)
    timestamps = [
        (base + timedelta(minutes=17 * k)).strftime("%Y-%m-%d %H:%M:%S+00") for k in range(60_000)
    ]
    code_counter = [0]
    with conn.transaction():
        cur = conn.cursor()
        before = index_signature(cur)
        cur.execute("SET LOCAL session_replication_role = replica")  # no FK triggers while loading
        cur.execute("SET LOCAL maintenance_work_mem = '512MB'")
        indexes = secondary_indexes(cur)
        for index, table, constraint, _ in indexes:
            if constraint:
                cur.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{constraint}"')
            else:
                cur.execute(f'DROP INDEX "{index}"')
        # the tables of the name-search prototypes that earlier versions of this bench built
        cur.execute("DROP TABLE IF EXISTS bench_search_gist, bench_search_alt, bench_name_word")
        # CASCADE: the other tables referencing profile are empty in this database anyway.
        cur.execute("TRUNCATE profile, identity, profile_search RESTART IDENTITY CASCADE")
        words = cur.execute("SELECT to_regclass('name_word') IS NOT NULL").fetchone()
        has_words = bool(words and words[0])  # the name search's dictionary (migration 0004)
        if has_words:
            cur.execute("TRUNCATE name_word")
        ident = 1
        written = Counter[str]()
        for start in range(0, n, chunk_size):
            end = min(n, start + chunk_size)
            chunk, ident = generate_chunk(people, rng, start, end, ident, code_counter, timestamps)
            for table, columns, lines in (
                ("profile", "id, created_at, first_seen_at, last_seen_at", chunk.profiles),
                (
                    "identity",
                    "id, kind, value, profile_id, source_id, first_seen_at",
                    chunk.identities,
                ),
                (
                    "profile_search",
                    "profile_id, name, name_folded, email, phone, postal_code, city, "
                    "latest_model, latest_colour, latest_colour_hex, lead_stage, plate",
                    chunk.searches,
                ),
            ):
                with cur.copy(f"COPY {table} ({columns}) FROM STDIN WITH (FREEZE)") as copy:
                    copy.write("".join(lines))
                written[table] += len(lines)
            if (end // chunk_size) % 4 == 0 or end == n:
                print(
                    f"  generated {end:>9,} profiles, {ident - 1:>10,} identities "
                    f"({time.perf_counter() - t0:5.1f} s)",
                    flush=True,
                )
        cur.execute(
            "SELECT setval(pg_get_serial_sequence('identity', 'id'), %s)", (max(ident - 1, 1),)
        )
        t1 = time.perf_counter()
        for index, table, constraint, definition in indexes:
            if constraint:
                cur.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{constraint}" {definition}')
            else:
                cur.execute(definition)
            print(f"  rebuilt {index} ({time.perf_counter() - t1:5.1f} s)", flush=True)
        after = index_signature(cur)
        if before != after:
            raise RuntimeError(f"indexes differ after the load:\n{before}\n{after}")
        if has_words:  # as refresh_search keeps it: every word of the names
            cur.execute(
                "INSERT INTO name_word (word) SELECT DISTINCT w "
                f"FROM profile_search, unnest({NAME_WORDS_SQL}) AS w WHERE w <> ''"
            )
            print(f"  filled name_word ({time.perf_counter() - t1:5.1f} s)", flush=True)
    t2 = time.perf_counter()
    for table in (*TABLES, *(("name_word",) if has_words else ())):
        conn.execute(f"VACUUM (ANALYZE) {table}")
    meta_put(
        conn,
        {
            "profiles": str(n),
            "seed": str(seed),
            "version": generator_version(),
            "generated_s": f"{t2 - t0:.1f}",
            "rows": json.dumps(dict(written)),
        },
    )
    print(
        f"generated {n:,} profiles in {time.perf_counter() - t0:.1f} s "
        f"(rows+COPY {t1 - t0:.1f} s, indexes {t2 - t1:.1f} s, vacuum analyze "
        f"{time.perf_counter() - t2:.1f} s): {dict(written)}"
    )


# --------------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Query:
    kind: str  # what is measured: "name_typo", "email", ...
    text: str
    target: uuid.UUID | None
    target_name: str | None = None  # folded
    variant: str = ""  # the typo kind, the phone format, ...
    postal: str | None = None
    surname: str | None = None  # folded, for surname-only queries
    first: str | None = None  # folded, for first-name-only queries
    plate: str | None = None  # canonical, for plate queries
    town: str | None = None  # as stored, for a name typed with the town


_PARTICLES = frozenset({"van", "de", "der", "den", "ter", "ten", "te", "op", "in", "'t", "du",
                        "le", "la", "des", "d'", "el"})  # fmt: skip
_REPLACEMENTS = (
    ("ij", "y"), ("y", "ij"), ("ei", "ij"), ("ck", "k"), ("dt", "t"), ("ph", "f"), ("ou", "au"),
    ("ae", "aa"), ("ee", "e"), ("oo", "o"), ("uu", "u"), ("sch", "s"), ("ss", "s"), ("c", "k"),
    ("k", "c"), ("z", "s"), ("s", "z"), ("v", "f"), ("gh", "g"), ("th", "t"), ("x", "ks"),
)  # fmt: skip
_KEYBOARD = {
    "a": "qsz", "b": "vn", "c": "xv", "d": "sf", "e": "wr", "f": "dg", "g": "fh", "h": "gj",
    "i": "uo", "j": "hk", "k": "jl", "l": "k", "m": "n", "n": "bm", "o": "ip", "p": "o",
    "q": "w", "r": "et", "s": "ad", "t": "ry", "u": "yi", "v": "cb", "w": "qe", "x": "zc",
    "y": "tu", "z": "x",
}  # fmt: skip
TYPO_KINDS = ("double", "drop", "transpose", "replace", "no_accents", "swapped")


def _typo_word(rng: random.Random, word: str, kind: str) -> str:
    """One typo in one word (never its first letter: people get that right)."""
    w = word
    letters = [i for i, ch in enumerate(w) if ch.isalpha() and i > 0]
    if not letters:
        return w
    if kind == "double":  # Jansen -> Janssen
        i = rng.choice(letters)
        return w[:i] + w[i] + w[i:]
    if kind == "drop" and len(letters) >= 3:  # Jansen -> Janen
        i = rng.choice(letters)
        return w[:i] + w[i + 1 :]
    if kind == "transpose" and len(letters) >= 3:  # Jansen -> Jasnen
        pairs = [i for i in letters if i + 1 < len(w) and w[i + 1].isalpha() and w[i] != w[i + 1]]
        if pairs:
            i = rng.choice(pairs)
            return w[:i] + w[i + 1] + w[i] + w[i + 2 :]
    lower = w.lower()
    options = [(a, b) for a, b in _REPLACEMENTS if a in lower[1:]]
    if options:  # what one hears: Meijer -> Meyer, Hendrickx -> Hendrikx
        a, b = rng.choice(options)
        i = lower.index(a, 1)
        return w[:i] + b + w[i + len(a) :]
    i = rng.choice(letters)  # a neighbouring key
    ch = w[i].lower()
    return w[:i] + rng.choice(_KEYBOARD.get(ch, "e")) + w[i + 1 :]


def _casing(rng: random.Random, s: str) -> str:
    r = rng.random()
    if r < 0.6:
        return s.lower()
    if r < 0.7:
        return s.upper()
    return s


def typo_query(rng: random.Random, name: str, kind: str) -> str:
    words = name.split()
    if kind == "no_accents":
        out = ascii_fold(name)
        return _casing(rng, out)
    if kind == "swapped":  # "Jansen Piet", "Jansen, Piet", "van Dijk Jan"
        first, rest = words[0], " ".join(words[1:])
        return _casing(rng, f"{rest}, {first}" if rng.random() < 0.3 else f"{rest} {first}")
    # the typo goes into the longest word that is not a particle (the surname, mostly)
    candidates = [i for i, wd in enumerate(words) if wd.lower() not in _PARTICLES]
    i = max(candidates or range(len(words)), key=lambda k: (len(words[k]), k))
    words[i] = _typo_word(rng, words[i], kind)
    out = " ".join(words)
    if rng.random() < 0.7:
        out = ascii_fold(out)  # accents are hardly ever typed
    return _casing(rng, out)


def email_query(rng: random.Random, email: str) -> tuple[str, str]:
    local, _, domain = email.partition("@")
    style = rng.randrange(4)
    if style == 0:
        return ".".join(p.capitalize() for p in local.split(".")) + "@" + domain.capitalize(), "Cap"
    if style == 1:
        return email.upper(), "UPPER"
    if style == 2:
        return " " + local.capitalize() + "@" + domain + " ", "padded"
    return "".join(c.upper() if rng.random() < 0.3 else c for c in email), "mIxEd"


def phone_query(rng: random.Random, e164: str) -> tuple[str, str]:
    formats: tuple[tuple[str, str], ...]
    if e164.startswith("+316"):
        d = e164[4:]
        formats = (
            ("06-12345678", f"06-{d}"),
            ("+31 6 1234 5678", f"+31 6 {d[:4]} {d[4:]}"),
            ("0031612345678", f"00316{d}"),
            ("0031 6 12345678", f"0031 6 {d}"),
            ("06 12 34 56 78", f"06 {d[:2]} {d[2:4]} {d[4:6]} {d[6:]}"),
            ("+31 (0)6 1234 5678", f"+31 (0)6 {d[:4]} {d[4:]}"),
        )
    else:
        prefix, d = e164[3:6], e164[6:]
        formats = (
            ("+32 470 12 34 56", f"+32 {prefix} {d[:2]} {d[2:4]} {d[4:]}"),
            ("0032470123456", f"0032{prefix}{d}"),
            ("0470 12 34 56", f"0{prefix} {d[:2]} {d[2:4]} {d[4:]}"),
            ("0470/12.34.56", f"0{prefix}/{d[:2]}.{d[2:4]}.{d[4:]}"),
        )
    label, written = rng.choice(formats)
    return written, label


def postal_query(rng: random.Random, stored: str) -> tuple[str, str]:
    compact = stored.replace(" ", "")
    if compact.isdigit():
        return compact, "BE 1000"
    if rng.random() < 0.5:
        return f"{compact[:4]} {compact[4:].upper()}", "NL 1234 AB"
    return compact.lower(), "NL 1234ab"


def plate_query(rng: random.Random, plate: str) -> tuple[str, str]:
    compact = plate.replace("-", "")
    style = rng.randrange(4)
    if style == 0:
        return plate, "1-ABC-23 (as on the car)"
    if style == 1:
        return compact.lower(), "1abc23"
    if style == 2:
        return plate.replace("-", " ").lower(), "1 abc 23"
    return plate.replace("-", "."), "1.ABC.23"


def town_query(rng: random.Random, name: str, city: str) -> tuple[str, str, str | None]:
    """A name typed with the town: the whole name or the surname, the town before or after."""
    _, _, rest = name.partition(" ")
    town = ascii_fold(city) if rng.random() < 0.5 else city
    if rest and rng.random() < 0.5:  # "jansen eindhoven": the surname only
        return _casing(rng, f"{rest} {town}"), "surname town", fold(rest)
    if rng.random() < 0.8:
        return _casing(rng, f"{name} {town}"), "name town", None
    return _casing(rng, f"{town} {name}"), "town name", None


def sample_queries(factory: sessionmaker[Session], n: int, seed: int) -> list[Query]:
    rng = random.Random(seed + 1000)
    salt = f"lookup-{seed}"
    out: list[Query] = []
    with factory() as s:
        rows = s.execute(
            text(
                "SELECT profile_id, name, name_folded FROM profile_search "
                "WHERE name IS NOT NULL ORDER BY md5(profile_id::text || :salt) LIMIT :n"
            ),
            {"salt": salt, "n": 2 * n},
        ).all()
        for k, (pid, name, folded) in enumerate(rows[:n]):
            kind = TYPO_KINDS[k % len(TYPO_KINDS)]
            typed = typo_query(rng, name, kind)
            out.append(Query("name_typo", typed, pid, folded, kind))
        for pid, name, folded in rows[n:]:
            out.append(Query("name_exact", _casing(rng, name), pid, folded, "as stored"))
            first, _, rest = name.partition(" ")
            surname = rest or name
            out.append(
                Query("name_surname", _casing(rng, surname), pid, folded, "surname only",
                      surname=fold(surname))
            )  # fmt: skip
            if rest:  # what the search box holds after the first word, as the page searches
                out.append(
                    Query("name_first", _casing(rng, first), pid, folded, "first name only",
                          first=fold(first))
                )  # fmt: skip
        for kind in ("email", "phone", "config_code"):
            idents = s.execute(
                text(
                    "SELECT profile_id, value FROM identity WHERE kind = :kind "
                    "ORDER BY md5(value || :salt) LIMIT :n"
                ),
                {"kind": kind, "salt": salt, "n": n},
            ).all()
            for pid, value in idents:
                if kind == "email":
                    typed, variant = email_query(rng, value)
                elif kind == "phone":
                    typed, variant = phone_query(rng, value)
                else:
                    typed, variant = value.lower(), "lower case"
                out.append(Query(kind, typed, pid, variant=variant))
            if kind == "email":  # the baseline looks up the same values, exactly
                out.extend(
                    Query("baseline", value, pid, variant="identity =") for pid, value in idents
                )
        postals = s.execute(
            text(
                "SELECT profile_id, postal_code FROM profile_search "
                "ORDER BY md5(profile_id::text || :salt || 'p') LIMIT :n"
            ),
            {"salt": salt, "n": n},
        ).all()
        for pid, postal in postals:
            typed, variant = postal_query(rng, postal)
            out.append(Query("postal_code", typed, pid, variant=variant, postal=postal))
        plates = s.execute(
            text(
                "SELECT profile_id, plate FROM profile_search WHERE plate IS NOT NULL "
                "ORDER BY md5(profile_id::text || :salt || 'l') LIMIT :n"
            ),
            {"salt": salt, "n": n},
        ).all()
        for pid, plate in plates:
            typed, variant = plate_query(rng, plate)
            out.append(Query("plate", typed, pid, variant=variant, plate=plate))
        towns = s.execute(
            text(
                "SELECT profile_id, name, name_folded, city FROM profile_search "
                "WHERE name IS NOT NULL ORDER BY md5(profile_id::text || :salt || 't') LIMIT :n"
            ),
            {"salt": salt, "n": n},
        ).all()
        for pid, name, folded, city in towns:
            typed, variant, surname = town_query(rng, name, city)
            out.append(Query("name_town", typed, pid, folded, variant, surname=surname, town=city))
    return out


# --------------------------------------------------------------------------------------------
# What is timed
# --------------------------------------------------------------------------------------------

Runner = Callable[[Session, Query], list[Any]]


def run_product(session: Session, q: Query) -> list[Any]:
    return lookup(session, q.text, phone_region=PHONE_REGION, limit=LIMIT).results


def run_baseline(session: Session, q: Query) -> list[Any]:
    return list(
        session.execute(
            text("SELECT profile_id FROM identity WHERE value = :v AND kind = 'email'"),
            {"v": q.text},
        ).scalars()
    )


class CpuClock:
    """CPU time of the PostgreSQL backends behind the engine (/proc/<pid>/schedstat, ns).

    Counts the backend process only: parallel workers it starts are not included.
    """

    def __init__(self, engine: Any) -> None:
        self.pids: set[int] = set()

        @sa_event.listens_for(engine, "connect")
        def _remember(dbapi_connection: Any, _record: Any) -> None:
            cur = dbapi_connection.cursor()
            cur.execute("SELECT pg_backend_pid()")
            self.pids.add(int(cur.fetchone()[0]))
            cur.close()

    def read(self) -> tuple[int, int]:
        """(ns on CPU, ns waiting for a CPU), summed over the live backends."""
        run = wait = 0
        for pid in list(self.pids):
            try:
                fields = Path(f"/proc/{pid}/schedstat").read_text().split()
            except OSError:
                self.pids.discard(pid)
                continue
            run += int(fields[0])
            wait += int(fields[1])
        return run, wait


@dataclass(frozen=True, slots=True)
class Sample:
    wall_ms: float
    client_cpu_ms: float
    server_cpu_ms: float
    server_wait_ms: float


def timed(
    factory: sessionmaker[Session], runner: Runner, q: Query, clock: CpuClock
) -> tuple[Sample, list[Any]]:
    s_run0, s_wait0 = clock.read()
    c0 = time.thread_time_ns()
    t0 = time.perf_counter_ns()
    session = factory()
    try:
        results = runner(session, q)
        session.commit()
    finally:
        session.close()
    t1 = time.perf_counter_ns()
    c1 = time.thread_time_ns()
    s_run1, s_wait1 = clock.read()
    return (
        Sample(
            (t1 - t0) / 1e6, (c1 - c0) / 1e6, (s_run1 - s_run0) / 1e6, (s_wait1 - s_wait0) / 1e6
        ),
        results,
    )


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def pct(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[k]


@dataclass
class Tally:
    samples: list[Sample] = field(default_factory=list)
    hits: int = 0
    name_hits: int = 0
    empty: int = 0
    by_variant: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))

    @property
    def n(self) -> int:
        return len(self.samples)


def check(q: Query, results: list[Any]) -> tuple[bool, bool]:
    """(intended profile among the results, the right kind of results).

    The second is, for a name: a result of exactly the intended (folded) name; for a surname: a
    result with that surname; for a first name: a result with that first name; for a postal
    code: results, all with that postal code.
    """
    if q.kind == "baseline":
        return q.target in results, q.target in results
    ids = [r.profile_id for r in results]
    hit = q.target in ids
    if q.plate is not None:
        return hit, bool(results) and all(r.plate == q.plate for r in results)
    if q.town is not None:  # all in that town, one of them of that (sur)name
        in_town = bool(results) and all(r.city == q.town for r in results)
        if q.surname is not None:
            return hit, in_town and any(
                r.name and fold(r.name).endswith(" " + q.surname) for r in results
            )
        return hit, in_town and any(r.name and fold(r.name) == q.target_name for r in results)
    if q.postal is not None:
        return hit, bool(results) and all((r.postal_code or "") == q.postal for r in results)
    if q.surname is not None:
        return hit, any(r.name and fold(r.name).endswith(" " + q.surname) for r in results)
    if q.first is not None:
        return hit, any(r.name and fold(r.name).startswith(q.first + " ") for r in results)
    if q.target_name is not None:
        return hit, any(r.name and fold(r.name) == q.target_name for r in results)
    return hit, hit


def machine() -> dict[str, str]:
    cpu = mem = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": mem,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def product_revision() -> str:
    """The commit, and whether the code measured differs from it (read-only git commands)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
            timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "cdp/profiles", "cdp/text.py"],
            cwd=root,
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "?"
    return head + (" (cdp/profiles or cdp/text.py modified)" if dirty else "")


def loadavg() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def pg_facts(engine: Any) -> dict[str, str]:
    with engine.connect() as c:
        facts = {"version": c.execute(text("SELECT version()")).scalar_one().split(" on ")[0]}
        c.execute(text("SELECT similarity('a', 'b')"))  # loads pg_trgm, so its settings show
        for name in (
            "shared_buffers",
            "work_mem",
            "effective_cache_size",
            "jit",
            "max_parallel_workers_per_gather",
            "random_page_cost",
            "pg_trgm.similarity_threshold",
            "pg_trgm.word_similarity_threshold",
        ):
            facts[name] = c.execute(text(f"SHOW {name}")).scalar_one()
        for rel in (
            "profile_search",
            "identity",
            "ix_profile_search_name_words",
            "name_word",
            "uq_identity_value",
        ):
            size = c.execute(
                text("SELECT pg_size_pretty(pg_total_relation_size(to_regclass(:r)))"),
                {"r": rel},
            ).scalar_one_or_none()
            if size:
                facts[f"size {rel}"] = size
        counts = c.execute(
            text(
                "SELECT (SELECT count(*) FROM profile), (SELECT count(*) FROM identity), "
                "(SELECT count(*) FROM profile_search), "
                "(SELECT count(DISTINCT name_folded) FROM profile_search)"
            )
        ).one()
        facts["rows"] = (
            f"profile {counts[0]:,}, identity {counts[1]:,}, profile_search {counts[2]:,} "
            f"({counts[3]:,} distinct names)"
        )
        top = c.execute(
            text(
                "SELECT name_folded, count(*) FROM profile_search WHERE name_folded IS NOT NULL "
                "GROUP BY 1 ORDER BY 2 DESC LIMIT 3"
            )
        ).all()
        facts["most common names"] = ", ".join(f"{n} ({k})" for n, k in top)
    return facts


def explain_samples(factory: sessionmaker[Session], queries: list[Query], k: int) -> None:
    print("\nEXPLAIN (ANALYZE, BUFFERS) of the product's name query for sample typo queries:")
    for q in queries[:k]:
        folded = fold(q.text)
        with factory() as s:
            statement, params, _ = name_query(s, folded, LIMIT)
            plan = s.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + statement.text), params)
            print(f"\n-- {q.text!r} (folded {folded!r}, {q.variant}); {params}")
            for line in plan.scalars():
                print("   ", line)


KIND_ORDER = ("baseline", "email", "phone", "config_code", "postal_code", "plate", "name_exact",
              "name_typo", "name_surname", "name_first", "name_town")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--database-url", default=os.environ.get("CDP_BENCH_LOOKUP_URL", DEFAULT_URL))
    ap.add_argument("--profiles", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=200, help="timed queries of each kind")
    ap.add_argument("--warmup", type=int, default=10, help="untimed queries of each kind first")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--regenerate", action="store_true")
    ap.add_argument(
        "--explain", type=int, default=0, metavar="K", help="EXPLAIN ANALYZE K typo queries"
    )
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument(
        "--http", action=argparse.BooleanOptionalAction, default=True,
        help="also time each query over HTTP against `cdp serve` (API and search partial)",
    )  # fmt: skip
    ap.add_argument("--http-workers", type=int, default=2, help="`cdp serve --workers`")
    ap.add_argument(
        "--concurrency", type=int, default=4, help="threads of the concurrent HTTP run (0: none)"
    )
    ap.add_argument("--concurrent-queries", type=int, default=400)
    ap.add_argument(
        "--load-only", action="store_true", help="generate the data if needed, then stop"
    )
    args = ap.parse_args(argv)
    if not 1 <= args.queries <= 100_000:
        ap.error("--queries must be 1..100000")
    if args.profiles < 1000 or not (0 <= args.warmup <= 1000):
        ap.error("--profiles must be at least 1000 and --warmup 0..1000")

    t_start = time.perf_counter()
    load_before = loadavg()
    ensure_database(args.database_url)
    engine = make_engine(args.database_url, pool_size=2)
    upgrade(engine)
    factory = make_sessionmaker(engine)
    # autocommit: VACUUM needs it; the load itself is one explicit transaction
    with psycopg.connect(conninfo(args.database_url), autocommit=True) as conn:
        meta = meta_get(conn)
        have = (meta.get("profiles"), meta.get("seed"), meta.get("version"))
        want = (str(args.profiles), str(args.seed), generator_version())
        if args.regenerate or have != want:
            print(f"generating {args.profiles:,} profiles (seed {args.seed}) ...", flush=True)
            generate(conn, args.profiles, args.seed)
        else:
            print(
                f"reusing {args.profiles:,} generated profiles (seed {args.seed}, generated in "
                f"{meta.get('generated_s', '?')} s)"
            )
    if args.load_only:
        engine.dispose()
        return 0
    facts = pg_facts(engine)
    host = machine()
    clock = CpuClock(engine)
    engine.dispose()  # so every pooled connection is seen by the clock

    queries = sample_queries(factory, args.queries + args.warmup, args.seed)
    by_kind: dict[str, list[tuple[str, Runner, Query]]] = defaultdict(list)
    for q in queries:
        by_kind[q.kind].append((q.kind, run_baseline if q.kind == "baseline" else run_product, q))
    warm: list[tuple[str, Runner, Query]] = []
    plan: list[tuple[str, Runner, Query]] = []
    for items in by_kind.values():
        warm.extend(items[: args.warmup])
        plan.extend(items[args.warmup :])
    rng = random.Random(args.seed + 2000)
    rng.shuffle(warm)
    rng.shuffle(plan)

    if args.explain:
        explain_samples(factory, [q for q in queries if q.kind == "name_typo"], args.explain)

    server = (
        LookupServer(
            args.database_url, factory, workers=args.http_workers,
            log=Path("/tmp/bench_lookup_serve.log"),
        )
        if args.http
        else None
    )  # fmt: skip
    if server is not None:
        server.__enter__()
    try:
        return _measure(
            args, engine, factory, clock, warm, plan, server, t_start, load_before, host, facts
        )
    finally:
        if server is not None:
            server.__exit__(None, None, None)
        engine.dispose()


def _measure(
    args: argparse.Namespace,
    engine: Any,
    factory: sessionmaker[Session],
    clock: CpuClock,
    warm: list[tuple[str, Runner, Query]],
    plan: list[tuple[str, Runner, Query]],
    server: LookupServer | None,
    t_start: float,
    load_before: str,
    host: dict[str, str],
    facts: dict[str, str],
) -> int:
    api = server.api_client() if server else None
    staff = server.staff_client() if server else None
    http_api: dict[str, list[float]] = defaultdict(list)
    http_partial: dict[str, list[float]] = defaultdict(list)
    http_hits: dict[str, int] = defaultdict(int)
    http_cpu: dict[str, list[float]] = defaultdict(list)
    partial_cpu: dict[str, list[float]] = defaultdict(list)
    server_clock: ServerClock | None = None

    def over_http(kind: str, q: Query, record: bool) -> None:
        """The same query through the API and the partial, next to the in-process call."""
        if api is None or staff is None or kind == "baseline":
            return
        cpu0 = server_clock.read() if server_clock else 0
        ms, ids = time_api(api, q.text, LIMIT)
        cpu1 = server_clock.read() if server_clock else 0
        partial_ms = time_partial(staff, q.text)
        cpu2 = server_clock.read() if server_clock else 0
        if record:
            http_api[kind].append(ms)
            http_partial[kind].append(partial_ms)
            http_hits[kind] += q.target in ids
            http_cpu[kind].append((cpu1 - cpu0) / 1e6)
            partial_cpu[kind].append((cpu2 - cpu1) / 1e6)

    print(f"\nwarm-up: {len(warm)} queries (untimed) ...", flush=True)
    for kind, runner, q in warm:
        timed(factory, runner, q, clock)
        over_http(kind, q, record=False)
    if server is not None:
        server_clock = ServerClock(server, engine, clock.pids)
    print(f"timed: {len(plan)} queries, all kinds interleaved at random ...", flush=True)
    tallies: dict[str, Tally] = defaultdict(Tally)
    t_run = time.perf_counter()
    for done, (kind, runner, q) in enumerate(plan, 1):
        over_http(kind, q, record=True)
        sample, results = timed(factory, runner, q, clock)
        t = tallies[kind]
        t.samples.append(sample)
        hit, right = check(q, results)
        t.hits += hit
        t.name_hits += right
        t.empty += not results
        v = t.by_variant[q.variant]
        v[0] += 1
        v[1] += hit
        v[2] += right
        if done % 500 == 0:
            print(f"  {done}/{len(plan)} ({time.perf_counter() - t_run:.0f} s)", flush=True)
    run_s = time.perf_counter() - t_run
    load_after = loadavg()

    names = [k for k in KIND_ORDER if k in tallies]
    base_p95 = pct([s.wall_ms for s in tallies["baseline"].samples], 95)
    report: dict[str, Any] = {
        "command": " ".join(["python", *sys.argv]),
        "revision": product_revision(),
        "machine": host,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "postgres": facts,
        "profiles": args.profiles,
        "queries_per_kind": args.queries,
        "run_seconds": round(run_s, 1),
        "kinds": {},
    }
    print(f"\nrevision {report['revision']}; machine: {host}")
    print(f"load average before {load_before}, after {load_after}")
    print(f"postgres: {facts}")
    header = (
        f"\n{'kind':<18}{'n':>5}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}{'p95/base':>9}"
        f"{'<50ms':>6}{'srvCPU50':>9}{'srvCPU95':>9}{'cliCPU50':>9}{'hit':>6}{'right':>6}"
    )
    print(header + "\n" + "-" * (len(header) - 1))
    for kind in names:
        t = tallies[kind]
        wall = [s.wall_ms for s in t.samples]
        srv = [s.server_cpu_ms for s in t.samples]
        cli = [s.client_cpu_ms for s in t.samples]
        p50, p95, p99, mx = (pct(wall, p) for p in (50, 95, 99, 100))
        row = {
            "n": t.n,
            "p50_ms": round(p50, 2),
            "p95_ms": round(p95, 2),
            "p99_ms": round(p99, 2),
            "max_ms": round(mx, 2),
            "p95_vs_baseline": round(p95 / base_p95, 1),
            "meets_target": p95 < TARGET_P95_MS,
            "server_cpu_p50_ms": round(pct(srv, 50), 2),
            "server_cpu_p95_ms": round(pct(srv, 95), 2),
            "server_wait_p50_ms": round(pct([s.server_wait_ms for s in t.samples], 50), 2),
            "client_cpu_p50_ms": round(pct(cli, 50), 2),
            "hit_rate": round(t.hits / t.n, 3),
            "right_rate": round(t.name_hits / t.n, 3),
            "empty": t.empty,
            "by_variant": {
                v: {"n": c[0], "hit": round(c[1] / c[0], 3), "right": round(c[2] / c[0], 3)}
                for v, c in sorted(t.by_variant.items())
            },
        }
        report["kinds"][kind] = row
        print(
            f"{kind:<18}{t.n:>5}{p50:>8.1f}{p95:>8.1f}{p99:>8.1f}{mx:>8.1f}"
            f"{p95 / base_p95:>8.1f}x{'yes' if p95 < TARGET_P95_MS else 'NO':>6}"
            f"{row['server_cpu_p50_ms']:>9.1f}{row['server_cpu_p95_ms']:>9.1f}"
            f"{row['client_cpu_p50_ms']:>9.1f}{t.hits / t.n:>6.0%}{t.name_hits / t.n:>6.0%}"
        )
    print(
        "\nms; p95/base: p95 over the baseline's p95; srvCPU: CPU of the PostgreSQL backend "
        "(no parallel workers); cliCPU: CPU of this process; hit: the intended profile among "
        "the results; right: see check()."
    )
    print("\nby variant (hit/right, n):")
    for kind in names:
        if kind.endswith(("name_typo", "phone", "email", "postal_code", "plate", "name_town")):
            parts = [
                f"{v} {d['hit']:.0%}/{d['right']:.0%} ({d['n']})"
                for v, d in report["kinds"][kind]["by_variant"].items()
            ]
            print(f"  {kind}: " + "; ".join(parts))
    if server is not None:
        report["http"] = _http_report(
            args, names, tallies, http_api, http_partial, http_hits, (http_cpu, partial_cpu),
            server, plan,
        )  # fmt: skip
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s (timed part {run_s:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}")
    return 0


def _http_report(
    args: argparse.Namespace,
    names: list[str],
    tallies: dict[str, Tally],
    http_api: dict[str, list[float]],
    http_partial: dict[str, list[float]],
    http_hits: dict[str, int],
    cpu: tuple[dict[str, list[float]], dict[str, list[float]]],
    server: LookupServer,
    plan: list[tuple[str, Runner, Query]],
) -> dict[str, Any]:
    """In-process, API and partial side by side (the same queries, each right after the other),
    then the concurrent run."""
    http_cpu, partial_cpu = cpu
    out: dict[str, Any] = {"workers": args.http_workers, "kinds": {}}
    print(
        f"\nover HTTP (`cdp serve --workers {args.http_workers}`, one keep-alive client, one "
        "request at a time; each query in-process, through the API and through the partial):"
    )
    header = (
        f"{'kind':<18}{'in-proc p50':>12}{'p95':>7}{'API p50':>9}{'p95':>7}"
        f"{'partial p50':>12}{'p95':>7}{'<20ms':>7}{'API hit':>8}{'API CPU p50':>12}{'p95':>7}"
        f"{'partial CPU p50':>16}{'p95':>7}"
    )
    print(header + "\n" + "-" * len(header))
    for kind in names:
        if kind not in http_api:
            continue
        inproc = [s.wall_ms for s in tallies[kind].samples]
        a, p = http_api[kind], http_partial[kind]
        row = {
            "inproc_p50_ms": round(pct(inproc, 50), 2),
            "inproc_p95_ms": round(pct(inproc, 95), 2),
            "api_p50_ms": round(pct(a, 50), 2),
            "api_p95_ms": round(pct(a, 95), 2),
            "api_p99_ms": round(pct(a, 99), 2),
            "partial_p50_ms": round(pct(p, 50), 2),
            "partial_p95_ms": round(pct(p, 95), 2),
            "partial_p99_ms": round(pct(p, 99), 2),
            "api_hit_rate": round(http_hits[kind] / len(a), 3),
            "api_server_cpu_p50_ms": round(pct(http_cpu[kind], 50), 2),
            "api_server_cpu_p95_ms": round(pct(http_cpu[kind], 95), 2),
            "partial_server_cpu_p50_ms": round(pct(partial_cpu[kind], 50), 2),
            "partial_server_cpu_p95_ms": round(pct(partial_cpu[kind], 95), 2),
        }
        met = max(row["api_p95_ms"], row["partial_p95_ms"]) < TARGET_HTTP_P95_MS
        row["meets_http_target"] = met
        out["kinds"][kind] = row
        print(
            f"{kind:<18}{row['inproc_p50_ms']:>12.1f}{row['inproc_p95_ms']:>7.1f}"
            f"{row['api_p50_ms']:>9.1f}{row['api_p95_ms']:>7.1f}"
            f"{row['partial_p50_ms']:>12.1f}{row['partial_p95_ms']:>7.1f}"
            f"{'yes' if met else 'NO':>7}{row['api_hit_rate']:>8.0%}"
            f"{row['api_server_cpu_p50_ms']:>12.1f}{row['api_server_cpu_p95_ms']:>7.1f}"
            f"{row['partial_server_cpu_p50_ms']:>16.1f}{row['partial_server_cpu_p95_ms']:>7.1f}"
        )
    print(
        "API CPU, partial CPU: CPU time of the server's processes and their PostgreSQL backends "
        "for the request (what it costs, whatever else the machine is doing)."
    )
    if args.concurrency > 0:
        texts = [q.text for kind, _, q in plan if kind != "baseline"]
        texts = (texts * (1 + args.concurrent_queries // max(1, len(texts))))[
            : args.concurrent_queries
        ]
        run = concurrent_run(server, texts, threads=args.concurrency, limit=LIMIT)
        lat = run.pop("latencies")
        if lat:
            run.update(
                p50_ms=round(pct(lat, 50), 2),
                p95_ms=round(pct(lat, 95), 2),
                p99_ms=round(pct(lat, 99), 2),
            )
        out["concurrent"] = run
        print(
            f"\nconcurrent: {run['threads']} clients, {run['requests']} API requests of every "
            f"kind ({run['errors']} errors) in {run['seconds']} s = {run['per_second']}/s; "
            f"p50 {run.get('p50_ms')} ms, p95 {run.get('p95_ms')} ms, p99 {run.get('p99_ms')} ms"
        )
    return out


if __name__ == "__main__":
    raise SystemExit(main())
