"""Customers' free-text answers: several lines, blank lines, colons, label words in sentences.

The text is returned in the form the parser must give back: single spaces, no trailing blanks,
paragraphs apart by one blank line.

Two things are left out on purpose, because no reader can tell them from the mail's own lines:
a line that is only a section heading ("Kontakt"), and a line that opens with a question and a
colon ("Har I husdyr: Ja") — that is how platforms write the questions they add.
"""

from __future__ import annotations

from tests.lead_mails.choices import Chooser

PLAIN = (
    "Vi vil gerne have samme person hver gang, hvis det er muligt.",
    "Vi har en hund, som er meget venlig.",
    "Der er to badeværelser og et stort køkken.",
    "Lejligheden skal afleveres den 16.",
    "Vi er hjemme efter kl. 16 på hverdage.",
    "Kan I også tage vinduerne?",
    "Tak på forhånd.",
    "Hilsen fra Åbyhøj.",
    "Nøglen kan hentes hos naboen i nr. 12.",
    "Gulvene er af træ og skal behandles med sæbe.",
    "Vi bor på 3. sal uden elevator.",
    "Hele huset skal gøres rent før jul, også kælderen.",
    "Mor & far flytter ind den 1. i næste måned <3",
    "Det er et ældre hus med mange vinduer i små fag.",
)
# Lines with a colon that are still the customer writing.
COLON_LINES = (
    "PS: Nøglen ligger under måtten.",
    "Vigtigt: Vi har en kat, der ikke må komme ud.",
    "Bemærk: Der er tre etager og ingen elevator.",
    "Vi har to katte: Misser og Pjuske.",
    "Tider der passer: mandag eller onsdag formiddag.",
    "Obs: Parkering kræver p-skive.",
    "Ring gerne mellem 8:00 og 9:30.",
)
# Lines that open with a label word of the formats, followed by a value of the wrong shape.
LABEL_WORD_LINES = (
    "Adresse er nem at finde, der er parkering foran huset.",
    "Adressen er svær at finde, ring når I er der.",
    "Adresse: vi bor bag ved kirken, den gule dør.",
    "Telefon er bedst efter kl. 16.",
    "Telefon: bedst efter kl. 16, jeg arbejder til 15.",
    "Email mig gerne, hvis I har spørgsmål.",
    "Email: kun hvis det haster.",
    "Navn på dørskiltet er Hansen.",
    "Navn: står ikke på døren, ring på nr. 2.",
    "Opgave: hele huset skal gøres rent.",
    "Opgaven er lidt større end normalt.",
    "Boligen er på 120 m2 fordelt på to etager.",
    "Størrelse: ca. 120 m2 i alt, fordelt på to plan.",
    "Kontakt mig gerne på mail.",
    "Mobil: virker ikke altid, skriv hellere.",
    "Etage: 3. sal uden elevator, så regn med trapper.",
    "Besked til jer: vi glæder os.",
)
SIGN_OFFS = ("Mvh Vibeke", "Med venlig hilsen\nSøren", "Hilsen Åse og Bjørn")


def _line(c: Chooser) -> str:
    return c.pick(c.pick((PLAIN, PLAIN, COLON_LINES, LABEL_WORD_LINES)))


def free_text(c: Chooser) -> str:
    """One to three paragraphs of one to three lines, sometimes signed off."""
    paragraphs = []
    for _ in range(c.number(1, 3)):
        paragraphs.append("\n".join(_line(c) for _ in range(c.number(1, 3))))
    if c.chance(20):
        paragraphs.append(c.pick(SIGN_OFFS))
    return "\n\n".join(paragraphs)
