"""Reference data behind the onboarding checks: country risk and industry risk.

Compliance owns these lists and reviews them after every FATF plenary (February, June,
October) and every change to the EU list of high-risk third countries. Each answer says
where it comes from, so an analyst can see why an applicant scored as it did.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import pycountry

RiskLevel = Literal["low", "medium", "high", "prohibited"]


class ReferenceRisk(NamedTuple):
    level: RiskLevel
    label: str
    source: str


FATF_CALL_FOR_ACTION = "FATF high-risk jurisdictions subject to a call for action (October 2024)"
COMPREHENSIVE_SANCTIONS = "comprehensive UN/EU/US sanctions programme"
FATF_INCREASED_MONITORING = "FATF jurisdictions under increased monitoring (October 2024)"
EU_HIGH_RISK = (
    "EU list of high-risk third countries, Delegated Regulation (EU) 2016/1675 as amended (2024)"
)
EU_833_2014 = "EU sectoral sanctions: Regulation (EU) 833/2014 art. 5b / Regulation (EC) 765/2006 art. 1w cap deposits from Russian and Belarusian nationals and residents"
RECENTLY_DELISTED = "removed from FATF increased monitoring in 2023-2024; still watched for a while"
NO_LISTING = "not on any list we screen countries against"

# Prohibited: we do not onboard anyone connected to these. The FATF "call for action"
# countries (KP, IR, MM) because FATF asks members to apply countermeasures; SY and CU
# because comprehensive sanctions (EU/UN for Syria, the US embargo for Cuba, which would
# cut us off from USD correspondent banking) leave no account we could lawfully service.
# RU and BY are *not* here: EU sanctions on them are sectoral, not comprehensive, so they
# are high risk and the deposit cap is enforced on the account, not at the door.
PROHIBITED_COUNTRIES: dict[str, str] = {
    "KP": FATF_CALL_FOR_ACTION,
    "IR": FATF_CALL_FOR_ACTION,
    "MM": FATF_CALL_FOR_ACTION,
    "SY": COMPREHENSIVE_SANCTIONS,
    "CU": COMPREHENSIVE_SANCTIONS,
}

# High: enhanced due diligence is mandatory (AMLD art. 18a for the EU list) or expected.
# FATF grey list after the October 2024 plenary; SY is on it too but prohibited above.
_FATF_GREY = (
    "DZ", "AO", "BG", "BF", "CM", "CI", "HR", "CD", "HT", "KE", "LB", "ML",
    "MC", "MZ", "NA", "NG", "PH", "ZA", "SS", "TZ", "VE", "VN", "YE",
)  # fmt: skip
# On the EU list but not (or no longer) on the FATF list.
_EU_ONLY = ("AF", "BB", "GI", "JM", "PA", "SN", "TT", "UG", "AE", "VU")
HIGH_RISK_COUNTRIES: dict[str, str] = {
    **dict.fromkeys(_EU_ONLY, EU_HIGH_RISK),
    **dict.fromkeys(_FATF_GREY, FATF_INCREASED_MONITORING),
    "RU": EU_833_2014,
    "BY": EU_833_2014,
}

# Medium: left the FATF list in 2023-2024 and not on the EU list; no mandatory EDD, but
# worth a second look.
_RECENTLY_DELISTED = ("AL", "KY", "JO", "KH", "MA", "TR")
MEDIUM_RISK_COUNTRIES: dict[str, str] = dict.fromkeys(_RECENTLY_DELISTED, RECENTLY_DELISTED)


def country_name(code: str) -> str:
    country = pycountry.countries.get(alpha_2=code.upper())
    if country is None:
        return code.upper()
    return str(getattr(country, "common_name", None) or country.name)


def country_risk(code: str) -> ReferenceRisk:
    """Risk of an ISO 3166-1 alpha-2 country: (level, country name, source)."""
    code = code.upper()
    name = country_name(code)
    if code in PROHIBITED_COUNTRIES:
        return ReferenceRisk("prohibited", name, PROHIBITED_COUNTRIES[code])
    if code in HIGH_RISK_COUNTRIES:
        return ReferenceRisk("high", name, HIGH_RISK_COUNTRIES[code])
    if code in MEDIUM_RISK_COUNTRIES:
        return ReferenceRisk("medium", name, MEDIUM_RISK_COUNTRIES[code])
    return ReferenceRisk("low", name, NO_LISTING)


NACE_SOURCE = "NACE Rev. 2 industry risk (EBA ML/TF risk factor guidelines EBA/GL/2021/02, FATF sector guidance)"

# NACE Rev. 2 code prefix -> (level, label). The longest matching prefix wins, so a class
# (64.19) can differ from its division (64). Cash-intensive, high-value-goods, opaque
# structures and money-moving businesses are where FATF and the EBA guidelines point.
INDUSTRY_RISK: dict[str, tuple[RiskLevel, str]] = {
    "64": ("medium", "Financial service activities"),
    "64.19": ("high", "Other monetary intermediation (banks, e-money, payment institutions)"),
    "64.2": ("medium", "Activities of holding companies"),
    "64.3": ("high", "Trusts, funds and similar financial entities"),
    "64.9": ("high", "Other financial services (money transfer, crypto-asset services)"),
    "64.91": ("medium", "Financial leasing"),
    "64.92": ("medium", "Other credit granting"),
    "66.12": ("high", "Security and commodity contracts brokerage (incl. crypto-asset brokers)"),
    "66.19": (
        "high",
        "Other activities auxiliary to financial services (money remittance, bureaux de change)",
    ),
    "92": ("high", "Gambling and betting activities"),
    "47.77": ("high", "Retail sale of watches and jewellery"),
    "46.48": ("high", "Wholesale of watches and jewellery"),
    "25.4": ("high", "Manufacture of weapons and ammunition"),
    "68": ("medium", "Real estate activities"),
    "41": ("medium", "Construction of buildings"),
    "45.1": ("medium", "Sale of motor vehicles"),
    "47.78": ("medium", "Other retail sale in specialised stores (incl. art dealers)"),
    "47.79": ("medium", "Retail sale of second-hand goods (incl. antiques)"),
    "49.32": ("medium", "Taxi operation (cash-intensive)"),
    "56": ("medium", "Food and beverage service activities (cash-intensive)"),
    "69": ("medium", "Legal and accounting activities (gatekeepers)"),
    "94.9": ("medium", "Other membership organisations (non-profits, political, religious)"),
    "96.09": ("medium", "Other personal service activities n.e.c."),
    "58.2": ("low", "Software publishing"),
    "62": ("low", "Computer programming, consultancy and related activities"),
    "63": ("low", "Information service activities"),
    "72": ("low", "Scientific research and development"),
    "84": ("low", "Public administration and defence"),
    "85": ("low", "Education"),
    "86": ("low", "Human health activities"),
}


def industry_risk(nace_code: str) -> ReferenceRisk:
    """Risk of a NACE Rev. 2 code (`62.01`, `64`): (level, label, source)."""
    code = nace_code.strip()
    for length in range(len(code), 1, -1):
        prefix = code[:length].rstrip(".")
        if prefix in INDUSTRY_RISK:
            level, label = INDUSTRY_RISK[prefix]
            return ReferenceRisk(level, f"{label} (NACE {code})", NACE_SOURCE)
    return ReferenceRisk("low", f"NACE {code} (no elevated risk recorded)", NACE_SOURCE)
