"""What a lead says, as written and as it must be read: people, homes, dates, free text.

Every value comes with its expected reading, computed here from how it was built (digits for a
phone, parts for an address), never by calling the parser. All names and places are invented.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.lead_mails.choices import Chooser

COPENHAGEN = ZoneInfo("Europe/Copenhagen")
FIRST_NAMES = (
    "Vibeke", "Søren", "Åse", "Kåre", "Bjørn", "Mette", "Jørgen", "Line", "Anders", "Birthe",
    "Øjvind", "Ærtebjørn", "Signe", "Mads", "Gry", "Nikolaj", "Tove", "Ebbe", "Ida", "Hjørdis",
)  # fmt: skip
LAST_NAMES = (
    "Krag", "Clausen", "Møller", "Ærbø", "Østergård", "Løvstrøm", "Bæk", "Holm", "Frølund",
    "Sørensen", "Åkjær", "Dahl", "Kjærgaard", "Brøndum", "Vestergaard", "Lykke", "Skjødt",
)  # fmt: skip
MAIL_DOMAINS = (
    "gmail.com", "hotmail.dk", "outlook.dk", "live.dk", "mail.dk", "jubii.dk", "icloud.com",
    "firma-eksempel.dk", "tandklinik-nord.dk",
)  # fmt: skip
STREETS = (
    "Kildeløkken", "Øster Allé", "Åboulevarden", "H.C. Andersens Boulevard", "Sankt Hans Gade",
    "Bøgevej", "Rosenvænget", "Strandvejen", "Lærkevej", "Ærøgade", "Nørre Søgade",
    "Gammel Kongevej", "Jægergårdsgade", "Ved Stranden", "Skovbrynet",
)  # fmt: skip
FLOORS_IN_ADDRESS = ("", "", ", st. tv.", ", 1. th.", ", 4. mf.", ", 2. sal")
TOWNS = (
    ("8230", "Åbyhøj"), ("8000", "Aarhus C"), ("2100", "København Ø"), ("1850", "Frederiksberg C"),
    ("5000", "Odense C"), ("9220", "Aalborg Øst"), ("7100", "Vejle"), ("2900", "Hellerup"),
    ("8600", "Silkeborg"), ("8240", "Risskov"), ("2800", "Kgs. Lyngby"), ("4700", "Næstved"),
    ("5970", "Ærøskøbing"), ("2700", "Brønshøj"),
)  # fmt: skip
TASKS = (
    "Fast rengøringshjælp", "Flytterengøring", "Hovedrengøring", "Vinduespudsning",
    "Erhvervsrengøring", "Fast rengøring hver 14. dag", "Trappevask",
)  # fmt: skip
HOMES = ("Lejlighed", "Villa/Parcelhus", "Rækkehus", "Andelsbolig", "Sommerhus", "Kontor")
CONTACT_TYPES = ("Privat", "Erhverv")
FLOORS = ("2", "st.", "1. sal", "Stuen", "3", "Kælder")
DANISH_MONTHS = (
    "januar", "februar", "marts", "april", "maj", "juni", "juli", "august", "september",
    "oktober", "november", "december",
)  # fmt: skip
DATE_WORDS = ("Fleksibel", "Hurtigst muligt", "Inden for en måned", "Snarest", "Efter aftale")


@dataclass(frozen=True)
class Person:
    name: str
    email_written: str
    phone_written: str
    phone_e164: str
    street: str
    postal: str
    city: str


def _ascii(text: str) -> str:
    table = str.maketrans({"æ": "ae", "ø": "oe", "å": "aa", "Æ": "Ae", "Ø": "Oe", "Å": "Aa"})
    return text.translate(table).lower().replace(" ", ".")


def name(c: Chooser) -> str:
    """Two to four words: first names, an initial, a hyphenated surname; sometimes lower case."""
    words = [c.pick(FIRST_NAMES)]
    if c.chance(25):
        words.append(c.pick(FIRST_NAMES))
    elif c.chance(10):
        words.append(c.pick("ÅØÆBKM") + ".")
    last = c.pick(LAST_NAMES)
    if c.chance(20):
        last = f"{last}-{c.pick(LAST_NAMES)}"
    words.append(last)
    if c.chance(15):
        words.append(c.pick(LAST_NAMES))
    written = " ".join(words)
    return written.lower() if c.chance(5) else written


def email(c: Chooser, person_name: str) -> str:
    local = _ascii(person_name.replace("-", ".")).replace("..", ".")
    local = local[:40].strip(".")
    if c.chance(40):
        local += str(c.number(1, 99))
    written = f"{local}@{c.pick(MAIL_DOMAINS)}"
    if c.chance(15):
        written = written[0].upper() + written[1:]
    if c.chance(10):
        local_part, _, domain = written.partition("@")
        written = f"{local_part}@{domain.upper()}"
    return written


def phone(c: Chooser) -> tuple[str, str]:
    """A phone in one of the ways #4's parsers read, and its E.164 form."""
    if c.chance(5):
        rest = f"{c.number(0, 9)}{c.number(100, 999)}{c.number(1000, 9999)}"
        return f"+46 7{rest[0]} {rest[1:4]} {rest[4:6]} {rest[6:]}", f"+467{rest}"
    digits = f"{c.number(2, 9)}{c.number(0, 9_999_999):07d}"
    pairs = " ".join(digits[i : i + 2] for i in range(0, 8, 2))
    written = c.pick(
        (
            f"+45 {pairs}",
            digits,
            f"+45{digits}",
            pairs,
            f"{digits[:4]} {digits[4:]}",
            f"0045 {pairs}",
            f"0045 {digits}",
            f"(+45) {pairs}",
            "+45-" + pairs.replace(" ", "-"),
            f"{pairs} (mobil)",
        )
    )
    return written, f"+45{digits}"


def person(c: Chooser) -> Person:
    who = name(c)
    written, e164 = phone(c)
    postal, city = c.pick(TOWNS)
    number = f"{c.number(1, 250)}{c.pick(('', '', '', 'A', 'B'))}"
    street = f"{c.pick(STREETS)} {number}{c.pick(FLOORS_IN_ADDRESS)}"
    return Person(who, email(c, who), written, e164, street, postal, city)


def area(c: Chooser) -> tuple[str, float]:
    whole = c.number(20, 400)
    if c.chance(15):
        return f"ca. {whole},5 kvm", whole + 0.5
    return f"{whole}{c.pick(('', ' m2', ' m²', 'm2', ' kvm'))}", float(whole)


def rooms(c: Chooser) -> tuple[str, int]:
    count = c.number(1, 9)
    return (f"{count} værelser" if c.chance(30) else str(count)), count


def preferred_date(c: Chooser) -> tuple[str, date | None]:
    if c.chance(40):
        return c.pick(DATE_WORDS), None
    day = date(2025, 1, 1) + timedelta(days=c.number(0, 900))
    formats = (
        f"{day.day}-{day.month}-{day.year}",
        f"{day:%d.%m.%Y}",
        f"{day:%Y-%m-%d}",
        f"{day.day}. {DANISH_MONTHS[day.month - 1]} {day.year}",
        f"{day.day}/{day.month}/{day.year}",
        f"Snarest muligt, gerne {day.day}-{day.month}-{day.year}",
    )
    return c.pick(formats), day


def received(c: Chooser) -> tuple[str, datetime]:
    """A "Modtaget" time as Rengøring.nu writes it (Copenhagen wall time) and its UTC instant."""
    day = date(2025, 1, 1) + timedelta(days=c.number(0, 700))
    # 02:xx is skipped: on the DST change days that hour is missing or comes twice.
    hour, minute = c.pick((0, 1, *range(3, 24))), c.number(0, 59)
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=COPENHAGEN)
    written = c.pick(
        (
            f"{day.day}-{day.month}-{day.year} kl. {hour:02d}:{minute:02d}",
            f"{day:%d.%m.%Y} {hour:02d}.{minute:02d}",
            f"{day:%Y-%m-%d} {hour:02d}:{minute:02d}",
        )
    )
    return written, local.astimezone(UTC)
