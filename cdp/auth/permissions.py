"""What each staff role may do. Pages and APIs check a permission, never a role name."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    LOOKUP = "lookup"  # search customers, see name, contact details, configuration
    CUSTOMER_DEAL = "customer_deal"  # notes, leads, contact attempts on a customer page
    TABLET = "tablet"  # run a showroom tablet session
    LEADS = "leads"  # work their own leads
    LEADS_ALL = "leads_all"  # see and assign everyone's leads
    APPOINTMENTS = "appointments"  # today's visitors, plan appointments
    DELIVERIES = "deliveries"  # the handover queue
    SEGMENTS = "segments"  # behavioural segments, audiences, exports
    FUNNEL = "funnel"  # the lead funnel and plans
    USERS = "users"  # invite staff, change roles, deactivate
    PRIVACY = "privacy"  # a person's data: a full copy, or its erasure (GDPR art. 15 and 17)
    SPLIT_MERGE = "split_merge"  # undo a wrong merge: two people again
    AUDIT = "audit"  # the audit trail: who did what to which profile, sign-ins
    NETWORK = "network"  # the network view: every dealer in scope side by side
    DEALERS = "dealers"  # the dealers of the network: add, edit, deactivate, import
    # Channel names and norms: change them (staff at no dealer only: the importer's managers).
    NORMS = "norms"
    SPEND = "spend"  # marketing spend and the margin per sale: enter, import, edit (docs/spend.md)


ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "sales": frozenset(
        {
            Permission.LOOKUP,
            Permission.CUSTOMER_DEAL,
            Permission.TABLET,
            Permission.LEADS,
            Permission.APPOINTMENTS,
        }
    ),
    "reception": frozenset({Permission.LOOKUP, Permission.APPOINTMENTS, Permission.TABLET}),
    "delivery": frozenset({Permission.LOOKUP, Permission.DELIVERIES}),
    "marketing": frozenset({Permission.SEGMENTS, Permission.SPEND}),
    "manager": frozenset(
        {
            Permission.LOOKUP,
            Permission.CUSTOMER_DEAL,
            Permission.TABLET,
            Permission.LEADS,
            Permission.LEADS_ALL,
            Permission.APPOINTMENTS,
            Permission.DELIVERIES,
            Permission.SEGMENTS,
            Permission.FUNNEL,
            Permission.SPLIT_MERGE,
            Permission.NETWORK,
            Permission.NORMS,
            Permission.SPEND,
        }
    ),
    "admin": frozenset(Permission),
}


# What only the importer's staff (at no dealer) may do, whatever their role: segments, audiences
# and exports read every dealer's customers, and channel norms are the network's. A dealer's
# manager or marketer has the role but not the network.
NETWORK_ONLY: frozenset[Permission] = frozenset({Permission.SEGMENTS, Permission.NORMS})


def allows(role: str, permission: Permission, *, network: bool = True) -> bool:
    """Whether the role gives the permission; `network`: the person works at no dealer."""
    if not network and permission in NETWORK_ONLY:
        return False
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


def home_for(role: str, *, network: bool = True) -> str:
    """The first page a role can use: where sign-in lands when no page was asked for."""
    for permission, path in (
        (Permission.LOOKUP, "/showroom"),
        (Permission.SEGMENTS, "/segments"),
        (Permission.DELIVERIES, "/showroom/deliveries"),
        (Permission.USERS, "/admin/users"),
        (Permission.AUDIT, "/admin/audit"),
    ):
        if allows(role, permission, network=network):
            return path
    return "/account"
