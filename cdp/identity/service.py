"""Identity resolution: every message attaches its identifiers to exactly one profile.

The rules (docs/identity.md explains them for operators):
- The profile matched by the message's strongest identifier (userId > email > phone >
  anonymousId > configuration code) receives the message; unknown identifiers join it.
- Other profiles the message links to are merged into one. The survivor is the profile that has a
  userId, else the one seen first. Its id survives; the absorbed id keeps resolving to it.
- Two profiles that each carry a different userId are never merged: a conflict is recorded.
- Weak identifiers (anonymousId, configuration code) never merge two profiles that are both
  identified (have a userId, email or phone): a browser or a shared code is not a person.
- On showroom sources an anonymousId already used by an identified customer never links a
  message that names someone else: the tablet was reused, so the new customer gets a new profile.
- On web sources a message linked to a profile only by a weak identifier that brings a new
  e-mail or userId, where that profile already names a person by one (a userId, or for a new
  e-mail an e-mail too), starts a new profile: a shared home computer. The browser's
  anonymousId then points to the new profile: it follows the person identified on it last.
- A message with a userId nobody holds, found by a weaker identifier on a profile that already
  holds a userId, is another account: it starts a profile of its own, and the identifiers it
  shares with the other profile stay there.
- Identity limits: a profile holds at most `limits[kind]` identifiers of a kind (one userId);
  an identifier beyond the limit is not added, and a merge that would pass it is refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from cdp.errors import Conflict
from cdp.identity import merge_rows
from cdp.identity import repository as repo
from cdp.identity.identifiers import KIND_RANK, STRONG_KINDS, Identifier
from cdp.identity.rules import DEFAULT_IDENTITY_LIMITS
from cdp.sql import dialect_of

# The kinds that name a person (an account, a mailbox): a shared device that shows a new one
# where the profile already has one shows a second person. A phone number is left out: a
# household shares a landline, and a person adds a number to an e-mail profile every day.
PERSON_KINDS = ("user_id", "email")
_KIND_NAMES = {"user_id": "userIds", "email": "e-mail addresses", "phone": "phone numbers"}


class ConcurrentMerge(Exception):
    """A profile written to was merged away by a concurrent transaction: roll back and retry
    (the retry reads the survivor as the owner)."""


class Resolvable(Protocol):
    @property
    def identifiers(self) -> list[Identifier]: ...  # strongest first (KIND_RANK)
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def message_id(self) -> str: ...
    @property
    def also_matches(self) -> list[Identifier]: ...
    @property
    def explicit_link(self) -> bool: ...


@dataclass
class _ProfileState:
    first_seen: datetime
    strong: dict[str, set[str]] = field(default_factory=dict)
    stored: bool = True

    def has_strong(self) -> bool:
        return any(self.strong.values())


@dataclass
class Resolution:
    """The live profile of each message, in order, and what was written on the way."""

    profile_ids: list[uuid.UUID]
    merged: set[uuid.UUID]  # survivors and absorbed profiles of stored merges
    # First and last seen of the stored profiles written to, for the caller to pass to
    # `repo.touch_written_profiles` as its last step before COMMIT.
    touches: list[tuple[uuid.UUID, datetime, datetime]]
    # What the rules refused or noticed (identity_warning rows), for the caller to store with
    # the events.
    warnings: list[dict[str, Any]]
    # Position of a message -> the contact kinds ("email", "phone") it named whose identifier
    # is not its profile's (refused by a rule, or another person's): the caller must not store
    # those traits on the profile, where they would overwrite its own address.
    foreign_contacts: dict[int, set[str]] = field(default_factory=dict)


class _Resolver:
    def __init__(
        self,
        session: Session,
        *,
        source_id: int | None,
        channel: str,
        now: datetime,
        limits: Mapping[str, int] = DEFAULT_IDENTITY_LIMITS,
    ) -> None:
        self.session = session
        self.source_id = source_id
        self.channel = channel
        self.now = now
        self.limits = limits
        # Stored identifiers re-pointed to another profile (a shared browser's anonymousId).
        self.moved: dict[Identifier, uuid.UUID] = {}
        self.owner: dict[Identifier, uuid.UUID] = {}
        self.states: dict[uuid.UUID, _ProfileState] = {}
        self.parent: dict[uuid.UUID, uuid.UUID] = {}  # in-batch merges of new profiles
        self.new_profiles: list[uuid.UUID] = []
        self.new_identities: dict[Identifier, uuid.UUID] = {}
        self.unflushed_strong: dict[uuid.UUID, list[Identifier]] = {}
        self.warnings: list[dict[str, Any]] = []
        self.merged: set[uuid.UUID] = set()

    # --- profile bookkeeping -------------------------------------------------------------
    def live(self, pid: uuid.UUID) -> uuid.UUID:
        while pid in self.parent:
            pid = self.parent[pid]
        return pid

    def state(self, pid: uuid.UUID) -> _ProfileState:
        """What merge decisions need about a profile; loaded only when a decision needs it."""
        if pid not in self.states:
            facts = repo.profile_facts(self.session, [pid])
            if pid not in facts:  # erased since its owners were read: start over
                raise ConcurrentMerge(f"profile {pid} was erased while resolving")
            first_seen, strong = facts[pid]
            for ident in self.unflushed_strong.pop(pid, ()):
                strong.setdefault(ident.kind, set()).add(ident.value)
            self.states[pid] = _ProfileState(first_seen=first_seen, strong=strong)
        return self.states[pid]

    def load_states(self, pids: set[uuid.UUID]) -> None:
        """Load the state of these stored profiles in one query (instead of one per profile
        as decisions come to need them)."""
        wanted = pids - self.states.keys()
        if not wanted:
            return
        facts = repo.profile_facts(self.session, wanted)
        for pid, (first_seen, strong) in facts.items():
            for ident in self.unflushed_strong.pop(pid, ()):
                strong.setdefault(ident.kind, set()).add(ident.value)
            self.states[pid] = _ProfileState(first_seen=first_seen, strong=strong)

    def new_profile(self, first_seen: datetime) -> uuid.UUID:
        pid = uuid.uuid4()
        self.states[pid] = _ProfileState(first_seen=first_seen, stored=False)
        self.new_profiles.append(pid)
        return pid

    def attach(self, ident: Identifier, pid: uuid.UUID) -> None:
        self.owner[ident] = pid
        self.new_identities[ident] = pid
        if ident.kind in STRONG_KINDS:
            if pid in self.states:
                self.states[pid].strong.setdefault(ident.kind, set()).add(ident.value)
            else:  # not loaded yet: remember it, so a later load sees it (it is not flushed)
                self.unflushed_strong.setdefault(pid, []).append(ident)

    def repoint(self, ident: Identifier, pid: uuid.UUID) -> None:
        """Make an owned (weak) identifier point to another profile from now on."""
        self.owner[ident] = pid
        if ident in self.new_identities:
            self.new_identities[ident] = pid
        else:
            self.moved[ident] = pid

    def warn(
        self,
        kind: str,
        detail: str,
        item: Resolvable,
        pid: uuid.UUID | None,
        other: uuid.UUID | None = None,
    ) -> None:
        self.warnings.append(
            {
                "kind": kind,
                "detail": detail,
                "profile_id": pid,
                "other_profile_id": other,
                "source_id": self.source_id,
                "message_id": item.message_id,
                "created_at": self.now,
            }
        )

    # --- the rules ---------------------------------------------------------------------
    def resolve(self, item: Resolvable) -> uuid.UUID:
        matches: list[tuple[Identifier, uuid.UUID]] = []
        candidates = item.identifiers  # strongest first already
        if item.also_matches:
            candidates = sorted([*candidates, *item.also_matches], key=lambda i: KIND_RANK[i.kind])
        for ident in candidates:
            pid = self.owner.get(ident)
            if pid is not None:
                matches.append((ident, self.live(pid)))
        if not matches:
            pid = self.new_profile(item.occurred_at)
            for ident in item.identifiers:
                self.attach(ident, pid)
            return pid

        strong_in_message = [i for i in item.identifiers if i.kind in STRONG_KINDS]
        anchor_ident, anchor = matches[0]  # identifiers come strongest first
        if (
            self.channel == "showroom"
            and anchor_ident.kind not in STRONG_KINDS
            and strong_in_message
            and self._names_someone_else(anchor, strong_in_message)
        ):
            self.warn(
                "showroom_id_reused",
                f"{anchor_ident.kind} {anchor_ident.value!r} belongs to another customer; "
                "the tablet session was not started afresh, so this customer gets own profile",
                item,
                None,
                anchor,
            )
            matches = [(i, p) for i, p in matches if i.kind in STRONG_KINDS]
            if not matches:
                pid = self.new_profile(item.occurred_at)
                for ident in item.identifiers:
                    if ident not in self.owner:
                        self.attach(ident, pid)
                return pid
            anchor_ident, anchor = matches[0]

        if (
            self.channel == "web"
            and not item.explicit_link
            and anchor_ident.kind not in STRONG_KINDS
            # Most messages (a known visitor's track and page calls) name nobody: they must not
            # cost a look at the profile's identifiers.
            and strong_in_message
            and (someone := self._shared_device_newcomer(anchor, strong_in_message))
        ):
            return self._start_newcomer(item, anchor, anchor_ident, someone)

        if not item.explicit_link and (account := self._another_account(item, anchor)):
            return self._start_account(item, anchor, anchor_ident, account)

        for ident, other in matches[1:]:
            anchor = self.live(anchor)
            other = self.live(other)
            if other == anchor:
                continue
            refusal = None if item.explicit_link else self._merge_refusal(anchor, other, ident)
            if refusal:
                detail = refusal[1]
                if (
                    self.channel == "web"
                    and refusal[0] == "weak_link_refused"
                    and ident.kind == "anonymous_id"
                ):
                    # The person this message names strongly is the one at the browser now.
                    self.repoint(ident, anchor)
                    detail += "; the anonymousId now points to the profile this message names"
                self.warn(refusal[0], detail, item, anchor, other)
                continue
            anchor = self._merge(anchor, other, anchor_ident, ident, item)

        anchor = self.live(anchor)
        for ident in item.identifiers:
            if ident in self.owner:
                continue
            refusal = None if item.explicit_link else self._limit_refusal(anchor, ident)
            if refusal:
                self.warn(refusal[0], refusal[1], item, anchor)
                continue
            self.attach(ident, anchor)
        return anchor

    def _limit_refusal(self, pid: uuid.UUID, ident: Identifier) -> tuple[str, str] | None:
        """Why `ident` may not join the profile: it holds as many of its kind as allowed."""
        limit = self.limits.get(ident.kind)
        if limit is None:
            return None
        known = self.state(pid).strong.get(ident.kind, set())
        if len(known) < limit:
            return None
        if ident.kind == "user_id" and limit == 1:
            return (
                "user_id_conflict",
                f"userId {ident.value!r} not added: profile already has userId "
                f"{sorted(known)[0]!r}",
            )
        return (
            "identity_limit",
            f"{ident.kind} {ident.value!r} not added: the profile already has {len(known)} "
            f"{_KIND_NAMES[ident.kind]}, the limit (CDP_IDENTITY_LIMITS)",
        )

    def _shared_device_newcomer(
        self, pid: uuid.UUID, strong: list[Identifier]
    ) -> Identifier | None:
        """The new userId or e-mail of the message that shows a second person on a device whose
        profile already names one: a userId beside a userId, an e-mail beside an e-mail or a
        userId. (The message's strong identifiers belong to nobody: else one would anchor.)"""
        known = self.state(pid).strong
        for ident in strong:
            if ident.kind == "user_id" and known.get("user_id"):
                return ident
            if ident.kind == "email" and (known.get("email") or known.get("user_id")):
                return ident
        return None

    def _start_newcomer(
        self, item: Resolvable, pid: uuid.UUID, via: Identifier, newcomer: Identifier
    ) -> uuid.UUID:
        new = self.new_profile(item.occurred_at)
        for ident in item.identifiers:
            if ident not in self.owner:
                self.attach(ident, new)
            elif ident.kind == "anonymous_id":
                self.repoint(ident, new)
        # The other profile's identifiers are not named: the warning shows on this person's
        # profile, and they are someone else's.
        moved = ""
        if via.kind == "anonymous_id":
            moved = ", and the anonymousId now points to this profile"
        self.warn(
            "shared_device",
            f"{newcomer.kind} {newcomer.value!r} is new, and {via.kind} {via.value!r} belongs to "
            f"a profile that already names another person: a shared device, so this person got "
            f"a profile of their own{moved}",
            item,
            new,
            pid,
        )
        return new

    def _another_account(self, item: Resolvable, pid: uuid.UUID) -> Identifier | None:
        """The message's userId, when it belongs to nobody and the profile its e-mail, phone or
        browser found already holds as many userIds as allowed: another account, so another
        person (two people of one household share a landline, an address, a computer). Left
        with that profile, the message would write this person's name and address over theirs
        and leave the userId on no profile."""
        user_id = next((i for i in item.identifiers if i.kind == "user_id"), None)
        if user_id is None or user_id in self.owner:
            return None
        refusal = self._limit_refusal(pid, user_id)
        return user_id if refusal and refusal[0] == "user_id_conflict" else None

    def _start_account(
        self, item: Resolvable, pid: uuid.UUID, via: Identifier, account: Identifier
    ) -> uuid.UUID:
        """A profile of its own for another account's message. The other profile keeps its
        e-mail addresses and phone numbers (the caller writes none of them as this one's
        traits); a browser's anonymousId follows the person identified on it last."""
        new = self.new_profile(item.occurred_at)
        for ident in item.identifiers:
            if ident not in self.owner:
                self.attach(ident, new)
            elif ident.kind == "anonymous_id" and self.live(self.owner[ident]) == pid:
                self.repoint(ident, new)
        # The other person's identifiers are not named: the warning shows on this profile.
        self.warn(
            "user_id_conflict",
            f"userId {account.value!r} is new, and the {via.kind} of this message belongs to a "
            "profile with another userId: another account, so it got a profile of its own; "
            f"that {via.kind} stays with the other profile",
            item,
            new,
            pid,
        )
        return new

    def _names_someone_else(self, pid: uuid.UUID, strong: list[Identifier]) -> bool:
        known = self.state(pid).strong
        if not known:
            return False
        return not any(ident.value in known.get(ident.kind, ()) for ident in strong)

    def _merge_refusal(
        self, anchor: uuid.UUID, other: uuid.UUID, via: Identifier
    ) -> tuple[str, str] | None:
        a, b = self.state(anchor), self.state(other)
        a_users, b_users = a.strong.get("user_id", set()), b.strong.get("user_id", set())
        if (
            a_users
            and b_users
            and a_users != b_users
            and len(a_users | b_users) > self.limits.get("user_id", 1)
        ):
            return (
                "user_id_conflict",
                f"not merged: {via.kind} {via.value!r} links profiles with different userIds "
                f"{sorted(a_users)[0]!r} and {sorted(b_users)[0]!r}",
            )
        for kind, limit in self.limits.items():
            together = a.strong.get(kind, set()) | b.strong.get(kind, set())
            if len(together) > limit:
                return (
                    "identity_limit",
                    f"not merged: {via.kind} {via.value!r} links profiles that together hold "
                    f"{len(together)} {_KIND_NAMES[kind]}, more than the limit of {limit} "
                    "(CDP_IDENTITY_LIMITS)",
                )
        if a.stored and b.stored and merge_rows.was_split(self.session, anchor, other):
            return (
                "split_refused",
                f"not merged: {via.kind} {via.value!r} links two profiles that staff split apart",
            )
        if via.kind not in STRONG_KINDS and a.has_strong() and b.has_strong():
            return (
                "weak_link_refused",
                f"not merged: only {via.kind} {via.value!r} links two identified profiles",
            )
        return None

    def _merge(
        self,
        anchor: uuid.UUID,
        other: uuid.UUID,
        named: Identifier,
        via: Identifier,
        item: Resolvable,
    ) -> uuid.UUID:
        def rank(pid: uuid.UUID) -> tuple[bool, bool, datetime]:
            # A stored profile beats one made in this batch; then the one with a userId; then
            # the one seen first.
            state = self.state(pid)
            return (not state.stored, not state.strong.get("user_id"), state.first_seen)

        survivor, absorbed = (anchor, other) if rank(anchor) <= rank(other) else (other, anchor)
        s_state, x_state = self.state(survivor), self.state(absorbed)
        for kind, values in x_state.strong.items():
            s_state.strong.setdefault(kind, set()).update(values)
        s_state.first_seen = min(s_state.first_seen, x_state.first_seen)
        self.parent[absorbed] = survivor
        for ident, pid in list(self.owner.items()):
            if pid == absorbed:
                self.owner[ident] = survivor
        for ident, pid in list(self.new_identities.items()):
            if pid == absorbed:
                self.new_identities[ident] = survivor
        if x_state.stored:
            repo.lock_profiles(self.session, [survivor, absorbed])
            # What a split needs to undo it: both profiles' traits, then the rows that move.
            traits_before = {
                "survivor": merge_rows.traits_snapshot(self.session, survivor),
                "absorbed": merge_rows.traits_snapshot(self.session, absorbed),
                "survivor_seen": merge_rows.seen_snapshot(self.session, survivor),
            }
            merge_id = repo.record_merge(
                self.session,
                survivor=survivor,
                absorbed=absorbed,
                # What linked them: the message named one profile's identifier and the other's.
                reason=f"{named.kind} {named.value!r} and {via.kind} {via.value!r} came in one "
                "message; they belonged to two profiles",
                source_id=self.source_id,
                message_id=item.message_id,
                now=self.now,
                traits_before=traits_before,
            )
            merge_rows.record_moving_rows(self.session, merge_id=merge_id, absorbed=absorbed)
            repo.move_profile_rows(self.session, absorbed=absorbed, survivor=survivor)
            self.merged.update((survivor, absorbed))
        return survivor


def _profiles_to_weigh(
    owner: Mapping[Identifier, uuid.UUID], items: Sequence[Resolvable]
) -> set[uuid.UUID]:
    """The stored profiles whose identifiers a decision may weigh: those a message that names
    someone (a strong identifier) or links two profiles is matched to. A known visitor's track
    and page calls, most of the traffic, need none."""
    pids: set[uuid.UUID] = set()
    for item in items:
        matched = [owner[i] for i in (*item.identifiers, *item.also_matches) if i in owner]
        if matched and (
            len(set(matched)) > 1 or any(i.kind in STRONG_KINDS for i in item.identifiers)
        ):
            pids.update(matched)
    return pids


def resolve_profiles(
    session: Session,
    items: Sequence[Resolvable],
    *,
    source_id: int | None,
    channel: str,
    now: datetime,
    commit_locked: Callable[[list[str]], None] | None = None,
    limits: Mapping[str, int] = DEFAULT_IDENTITY_LIMITS,
) -> Resolution:
    """Resolve each item to a live profile, creating and merging profiles as the rules say.

    New profiles and identities are written before returning (flushed, not committed), so the
    caller can store events that reference them.

    `commit_locked`, if given, commits what was written under identity locks as soon as it is
    written (it is told the messageIds of the messages that took locks, the only ones that may
    create or merge), so the locks last a few statements instead of the caller's whole transaction
    (measured: concurrent ingest transactions spent a third of their time waiting for each
    other's locks). The caller then goes on in a new transaction; every profile written to,
    new ones included, is in `touches`, so a merge or erasure committed in between is caught
    at the end (`repo.touch_written_profiles`). Should the rest fail, the profiles and
    identifiers stay, without events: a retry finds and uses them.
    """
    resolver = _Resolver(session, source_id=source_id, channel=channel, now=now, limits=limits)
    resolver.owner, locked = _owners_locking_what_may_change(session, items)
    resolver.load_states(_profiles_to_weigh(resolver.owner, items))
    assigned = [resolver.resolve(item) for item in items]
    created = [pid for pid in resolver.new_profiles if pid not in resolver.parent]
    created_set = set(created)
    identities = [(ident, resolver.live(pid)) for ident, pid in resolver.new_identities.items()]
    profile_ids = [resolver.live(pid) for pid in assigned]

    seen: dict[uuid.UUID, list[datetime]] = {}
    for pid, item in zip(profile_ids, items, strict=True):
        bounds = seen.setdefault(pid, [item.occurred_at, item.occurred_at])
        bounds[0] = min(bounds[0], item.occurred_at)
        bounds[1] = max(bounds[1], item.occurred_at)
    repo.insert_profiles(
        session, [(pid, seen[pid][0], seen[pid][1]) for pid in created if pid in seen], now
    )
    repo.insert_identities(session, identities, source_id=source_id, now=now)
    repo.repoint_identities(
        session, [(ident, resolver.live(pid)) for ident, pid in resolver.moved.items()]
    )
    for warning in resolver.warnings:  # a profile made in this batch may have been merged
        for key in ("profile_id", "other_profile_id"):
            if warning[key] is not None:
                warning[key] = resolver.live(warning[key])
    foreign: dict[int, set[str]] = {}
    for position, (item, pid) in enumerate(zip(items, profile_ids, strict=True)):
        for ident in item.identifiers:
            if ident.kind not in ("email", "phone"):
                continue
            owner = resolver.owner.get(ident)
            if owner is None or resolver.live(owner) != pid:
                foreign.setdefault(position, set()).add(ident.kind)
    committed = bool(locked) and commit_locked is not None
    if committed:
        assert commit_locked is not None
        commit_locked(locked)
    return Resolution(
        profile_ids=profile_ids,
        merged=resolver.merged,
        touches=[
            (pid, bounds[0], bounds[1])
            for pid, bounds in seen.items()
            if committed or pid not in created_set
        ],
        warnings=resolver.warnings,
        foreign_contacts=foreign,
    )


def _owners_locking_what_may_change(
    session: Session, items: Sequence[Resolvable]
) -> tuple[dict[Identifier, uuid.UUID], list[str]]:
    """The owner of every identifier of the items, read so that concurrent writers cannot
    create or merge differently under us, and the messageIds of the items that took locks
    (PostgreSQL; SQLite has one writer at a time and takes none).

    Most messages come from a visitor already known: each of their identifiers has an owner,
    the same profile, and such a message creates and merges nothing, so it needs no lock (a
    concurrent merge of its profile is caught by `repo.touch_written_profiles`). Only the
    identifiers of the other messages (an identifier new to us, or one that links two
    profiles) are locked, then read again: a concurrent batch may have created or merged them
    before we had the lock.
    """
    wanted = {ident for item in items for ident in (*item.identifiers, *item.also_matches)}
    owner = repo.owners_of(session, wanted)
    doubtful: set[Identifier] = set()
    locking: list[str] = []
    for item in items:
        idents = (*item.identifiers, *item.also_matches)
        owners = {owner.get(ident) for ident in idents}
        if None in owners or len(owners) > 1:
            doubtful.update(idents)
            locking.append(item.message_id)
    if doubtful:
        repo.lock_identifiers(session, doubtful)
        owner.update(repo.owners_of(session, doubtful))
    return owner, locking if dialect_of(session) == "postgresql" else []


def attach_identifier(
    session: Session,
    *,
    profile_id: uuid.UUID,
    identifier: Identifier,
    source_id: int | None,
    now: datetime,
) -> None:
    """Bind an identifier to a profile that staff chose explicitly (a showroom tablet session
    started for a customer found by lookup). A new identifier only: never re-points one."""
    repo.lock_identifiers(session, [identifier])
    owner = repo.owners_of(session, [identifier]).get(identifier)
    if owner == profile_id:
        return
    if owner is not None:
        raise Conflict(f"{identifier.kind} already belongs to another customer", field="profile_id")
    repo.insert_identities(session, [(identifier, profile_id)], source_id=source_id, now=now)
