"""Finding a customer in seconds: by e-mail, phone, configuration code, licence plate (in any
spelling, cdp.licence_plates), postal code or name.

Names are matched word by word, typo- and accent-tolerantly and in any order. Each typed word is
corrected against the words that stored names are made of: a stored word counts when it is one
slip of a finger away (rapidfuzz's OSA distance: a letter inserted, dropped, replaced or two
swapped; two in a long word), sounds the same in Dutch (cdp.text.dutch_spelling: ij/y/ei, ou/au,
c/k, ph/f, dt/d/t, sch/s, doubled letters) or is close to it (rapidfuzz ratio of at least 75),
and the last word typed may also be the start of a word (the search runs as the salesperson
types). Particles run into a surname are looked up without them ("vandenberg" -> "berg"). A
name matches when it holds, for every typed word that could be corrected, one of its
corrections; particles ("van", "de", ...) need not match when other words were typed. A postal
code or a town at either end of the query narrows the names to the customers there. Names holding
the typed words exactly come first, then the rest, each tier ranked by how well each typed word
fits its best word of the name (name_rules.Ranker).

On PostgreSQL that is a few indexed statements at any size: a town typed with the name (an index
on lower(city), migration 0012), the typed words against the dictionary of name words
(`name_word`, kept by cdp.profiles.projection), the names holding the corrections (a GIN index on
the words of `profile_search.name_folded`, migration 0004, with the town as its second column
since 0039, so a name in a town is one scan; at most 1,500 candidates, ranked here), and the
result lines of the first ones. On SQLite (the embedded default, demo scale) the
same rules run in Python over every stored name.

The modules: `service` (which kind of query was typed, and which lookup answers it),
`identifiers` (e-mail, phone, configuration code, plate, postal code), `places` (a place typed
with a name), `name_rules` (corrections and ranking, both databases), `names_postgres` and
`names_sqlite` (finding the names), `results` (the result lines).
"""

from cdp.profiles.lookup.results import Lookup, LookupResult
from cdp.profiles.lookup.service import lookup

__all__ = ["Lookup", "LookupResult", "lookup"]
