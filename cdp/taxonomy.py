"""The event vocabulary: the configurator events every area speaks of (docs/events.md), their option
categories, and the interest each choice reveals."""

CONFIGURATION_STARTED = "Configuration Started"
CONFIGURATION_STEP_VIEWED = "Configuration Step Viewed"
OPTION_SELECTED = "Option Selected"
OPTION_REMOVED = "Option Removed"
CONFIGURATION_SAVED = "Configuration Saved"
CONFIGURATION_LOADED = "Configuration Loaded"
FINANCE_CALCULATED = "Finance Calculated"
TRADE_IN_VALUED = "Trade-In Valued"
DEALER_SELECTED = "Dealer Selected"
QUOTE_REQUESTED = "Quote Requested"
TEST_DRIVE_REQUESTED = "Test Drive Requested"

KNOWN_EVENTS = (
    CONFIGURATION_STARTED,
    CONFIGURATION_STEP_VIEWED,
    OPTION_SELECTED,
    OPTION_REMOVED,
    CONFIGURATION_SAVED,
    CONFIGURATION_LOADED,
    FINANCE_CALCULATED,
    TRADE_IN_VALUED,
    DEALER_SELECTED,
    QUOTE_REQUESTED,
    TEST_DRIVE_REQUESTED,
)

OPTION_CATEGORIES = (
    "model",
    "trim",
    "engine",
    "colour",
    "wheels",
    "interior",
    "pack",
    "option",
)

# Where a buyer's configurator attention goes. Option categories map to an interest; option packs
# and single options name their interest in the `interest` property (the catalogue knows whether
# a pack is about safety or looks), and fall back to comfort and safety.
INTERESTS = ("design", "performance", "comfort_safety", "price_finance")
CATEGORY_INTEREST = {
    "colour": "design",
    "color": "design",
    "wheels": "design",
    "interior": "design",
    "engine": "performance",
    "trim": "performance",
    "pack": "comfort_safety",
    "option": "comfort_safety",
}
STEP_INTEREST = {
    "colour": "design",
    "color": "design",
    "wheels": "design",
    "interior": "design",
    "engine": "performance",
    "trim": "performance",
    "packs": "comfort_safety",
    "options": "comfort_safety",
    "finance": "price_finance",
    "summary": "price_finance",
}
PRICE_FINANCE_EVENTS = (FINANCE_CALCULATED, TRADE_IN_VALUED, QUOTE_REQUESTED)


def interest_of(event_name: str, properties: dict[str, object]) -> str | None:
    """Which interest one configurator event counts towards, if any."""
    if event_name in PRICE_FINANCE_EVENTS:
        return "price_finance"
    if event_name in (OPTION_SELECTED, OPTION_REMOVED):
        declared = properties.get("interest")
        if isinstance(declared, str) and declared in INTERESTS:
            return declared
        category = properties.get("category")
        return CATEGORY_INTEREST.get(str(category).lower()) if category else None
    if event_name == CONFIGURATION_STEP_VIEWED:
        step = properties.get("step")
        return STEP_INTEREST.get(str(step).lower()) if step else None
    return None
