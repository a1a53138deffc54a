"""Words for the seed's mail (pure): subjects and bodies in the business's Danish.

Bodies hold no digit runs that could read as a phone number, except where a thread is meant to
be matched by phone: the matching rules read phone numbers out of inbound mail, and a stray one
would match a customer the seed did not intend.
"""

from __future__ import annotations

import random

from leadflow.maintenance.seed_people import SeedCustomer, SeedLead

CUSTOMER_SUBJECTS = (
    "Spørgsmål om rengøring",
    "Ændring af aftale",
    "Nøgle til lejligheden",
    "Tak for sidst",
    "Aflysning af næste gang",
    "Kan I komme en anden dag?",
    "Faktura",
    "Ekstra opgave",
    "Tilbud på vinduespudsning",
    "Ferie",
)
CUSTOMER_LINES = (
    "Tak for en grundig rengøring i går, det ser rigtig fint ud.",
    "Kan vi rykke næste aftale en uge?",
    "Nøglen ligger i postkassen som sidst.",
    "Vi er bortrejst i to uger, så I må gerne springe en gang over.",
    "Kan I også tage vinduerne indvendigt næste gang?",
    "Jeg har ikke modtaget fakturaen for sidste måned.",
    "Badeværelset trænger til en ekstra omgang.",
    "Hvad vil det koste at få gjort trappeopgangen med?",
    "Er det muligt at komme om formiddagen i stedet?",
    "Vi er flyttet, men vil gerne fortsætte aftalen på den nye adresse.",
)
OUR_LINES = (
    "Tak for din besked. Vi vender tilbage hurtigst muligt.",
    "Det kan vi sagtens. Vi har sat det i kalenderen.",
    "Vi sender et tilbud i løbet af i morgen.",
    "Fakturaen er sendt igen, giv endelig besked hvis den ikke dukker op.",
    "Vores team kommer som aftalt mellem otte og ti.",
    "Vi har noteret ændringen.",
    "Tak for tilliden, vi glæder os til at komme.",
)
COMPANY_LINES = (
    "Vi vil gerne have et tilbud på rengøring af vores lokaler.",
    "Kan I også gøre køkkenet rent efter fredagsbaren?",
    "Vi søger en fast aftale om kontorrengøring.",
    "Vores faste kontaktperson er på ferie, så skriv gerne til mig i stedet.",
)
NOISE = (
    ("Nyhedsbrev", "nyhedsbrev@kontorforsyning.dk", "Ugens tilbud på rengøringsmidler"),
    ("Grossisten", "ordre@rengoeringsgrossisten.dk", "Ordrebekræftelse"),
    ("Byggemarkedet", "kundeservice@byggemarkedet-nord.dk", "Din levering er på vej"),
    (
        "Jobportalen",
        "noreply@jobportalen.dk",
        "Ny ansøgning til stillingen som rengøringsassistent",
    ),
    ("Forsikring", "info@forsikring-info.dk", "Vigtig information om din police"),
    ("Banken", "nyheder@dinbank-nyheder.dk", "Nyt fra din bank"),
)
NOISE_LINES = (
    "Se ugens udvalgte varer og spar op til tredive procent.",
    "Tak for din bestilling. Vi pakker den hurtigst muligt.",
    "Læs mere på vores hjemmeside.",
    "Du modtager denne mail, fordi du er tilmeldt vores nyhedsbrev.",
    "Har du spørgsmål, er du velkommen til at kontakte os.",
)
ROLES = ("bogholderi", "drift", "reception", "service", "indkoeb", "admin")


def spaced_phone(e164: str) -> str:
    """+4522334455 as written by people: 22 33 44 55 (the phone rule reads it back)."""
    digits = e164.removeprefix("+45")
    return " ".join(digits[i : i + 2] for i in range(0, 8, 2))


def lead_mail(lead: SeedLead, own_domain: str) -> tuple[tuple[str, str], str, str, bool]:
    """The platform's notification: (sender name, address), subject, body, reply-to customer."""
    c = lead.customer
    contact = (
        f"Navn: {c.name}\nEmail: {c.email}\nTelefon: {spaced_phone(c.phone)}\n"
        f"Adresse: {c.address}, {c.postal_code} {c.city}\n"
    )
    job = (
        f"Opgave: {lead.task_type}\nBoligtype: {lead.property_type}\n"
        f"Størrelse: {int(lead.square_meters)} m2\nVærelser: {lead.rooms}\n"
    )
    if lead.source == "Rengøring.nu":
        body = "Du har modtaget et nyt lead\n\n" + job + contact
        return ("Rengøring.nu", "noreply@leadmail.no"), "Nyt lead fra Rengøring.nu", body, False
    if lead.source == "Leadpoint":
        body = "Ny opgave\n\n" + contact + job
        return ("Leadpoint", "leads@leadpoint.dk"), f"Ny forespørgsel: {lead.task_type}", body, True
    if lead.source == "AdHelp":
        body = (
            "Hej\n\nI har fået en ny henvendelse via AdHelp.\n\n" + contact + job + "\nMvh AdHelp\n"
        )
        return ("AdHelp", "mw@adhelp.dk"), f"Ny kunde: {lead.task_type}", body, False
    body = contact + f"Besked: Vi ønsker tilbud på {lead.task_type.lower()}.\n"
    sender = (own_domain.split(".")[0].capitalize(), f"noreply@{own_domain}")
    return sender, f"Ny henvendelse fra {own_domain}", body, True


def customer_body(rng: random.Random, first_name: str, *, with_phone: str | None = None) -> str:
    lines = rng.sample(CUSTOMER_LINES, rng.randint(1, 3))
    if with_phone is not None:
        lines.append(f"Ring gerne til mig på {spaced_phone(with_phone)}.")
    return "Hej\n\n" + "\n".join(lines) + f"\n\nMvh {first_name}\n"


def company_body(rng: random.Random, signature: str) -> str:
    return "Hej\n\n" + rng.choice(COMPANY_LINES) + f"\n\nVenlig hilsen\n{signature}\n"


def our_body(rng: random.Random, greeting: str) -> str:
    lines = rng.sample(OUR_LINES, rng.randint(1, 2))
    return f"Hej {greeting}\n\n" + "\n".join(lines) + "\n\nVenlig hilsen\nRendetalje\n"


def noise_body(rng: random.Random) -> str:
    return "\n\n".join(rng.sample(NOISE_LINES, rng.randint(2, 4))) + "\n"


def customer_subject(rng: random.Random, customer: SeedCustomer | None) -> str:
    if customer is not None and customer.company_name and rng.random() < 0.3:
        return f"Rengøring hos {customer.company_name}"
    return rng.choice(CUSTOMER_SUBJECTS)
