"""Labelled sample mail for lead parsing: input fields and the lead we expect (None = not a lead).

Every name, address and number here is invented. Used by the parser tests, the end-to-end test
(build MIME from `body_text` / `body_html`) and the evaluation set in bench/.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from leadflow.leads.parsers import LeadEmail, ParsedLead
from leadflow.mail.mime.html import html_to_text
from leadflow.settings import Settings

DEFAULT_SENDERS: dict[str, list[str]] = Settings.model_fields["lead_senders"].get_default(
    call_default_factory=True
)
OWN_DOMAINS = ("rendetalje.dk",)
SENT = datetime(2025, 10, 9, 18, 35, tzinfo=UTC)


@dataclass(frozen=True)
class LeadSample:
    """One email as it arrives and what parsing it must give.

    `body_text` is the text/plain part and `body_html` the text/html part: text only, HTML only
    (body_text empty) or both (multipart/alternative). The parser reads the plain text; for
    HTML-only mail that is `html_to_text(body_html)`, as in the pipeline.
    """

    id: str
    from_address: str
    subject: str
    body_text: str = ""
    body_html: str | None = None
    from_name: str = ""
    reply_to: tuple[str, ...] = ()
    sent_at: datetime | None = SENT
    source_key: str | None = None
    expected: ParsedLead | None = None

    def lead_email(self) -> LeadEmail:
        """Return the parser input the pipeline would build for this mail."""
        body = self.body_text or html_to_text(self.body_html or "")
        return LeadEmail(
            from_address=self.from_address,
            from_name=self.from_name,
            reply_to=self.reply_to,
            subject=self.subject,
            body_text=body,
            sent_at=self.sent_at,
        )


RENGORING_TEXT = """Du har modtaget et nyt lead.

Modtaget 9-10-2025 kl. 20:31
Domæne Rengøring.nu
Type kontakt Privat
Behov Fast rengøringshjælp
Boligtype Lejlighed

Hvor stort er området: 98
Hvor mange værelser: 3
På hvilken etage ligger boligen: 2

Kontaktoplysninger
Navn Søren Ærbø
Email soren.aerbo@example.dk
Telefon +45 12 34 56 78
Adresse Somevej 12, 8000 Aarhus C

Med venlig hilsen
Rengøring.nu
"""

RENGORING_HTML = """<html><head><style>td {padding: 4px}</style></head><body>
<h2>Nyt lead fra Rengøring.nu</h2>
<table>
<tr><td><b>Modtaget</b></td><td>14-1-2025 kl. 08:05</td></tr>
<tr><td><b>Domæne</b></td><td>Rengøring.nu</td></tr>
<tr><td><b>Type kontakt</b></td><td>Erhverv</td></tr>
<tr><td><b>Behov</b></td><td>Erhvervsrengøring</td></tr>
<tr><td><b>Boligtype</b></td><td>Kontor</td></tr>
<tr><td>Hvor stort er området:</td><td>450</td></tr>
</table>
<p>Kontaktoplysninger</p>
<table>
<tr><td>Navn</td><td>Åse Møller-Jørgensen</td></tr>
<tr><td>Email</td><td>Aase.MJ@Firma-Eksempel.dk</td></tr>
<tr><td>Telefon</td><td>87654321</td></tr>
<tr><td>Adresse</td><td>Industrivej 4, 1. sal, 8200 Aarhus N</td></tr>
</table>
<p>Venlig hilsen<br>Rengøring.nu &middot; support@leadmail.no</p>
</body></html>"""

RENGORING_ALT_TEXT = (
    "Modtaget 3-11-2025 kl. 09:15\nType kontakt Privat\nBehov Hovedrengøring\n"
    "Boligtype Villa/Parcelhus\nHvor stort er området: 165\nHvor mange værelser: 5\n"
    "Navn Kåre Løvstrøm\nEmail kare.lovstrom@example.com\nTelefon +4523456789\n"
    "Adresse Bøgevej 7, 8600 Silkeborg\n"
)
RENGORING_ALT_HTML = (
    "<table>"
    + "".join(
        f"<tr><td>{line.split(' ', 1)[0]}</td><td>{line.split(' ', 1)[1]}</td></tr>"
        for line in RENGORING_ALT_TEXT.splitlines()
    )
    + "</table>"
)

RENGORING_ODD = (
    "MODTAGET:\t02-06-2025  kl.  7:45\r\n\r\n"
    "NAVN :  Jens  Østergård\r\n"
    "telefon\t0045 31 41 59 26\r\n"
    "\r\n"
    "EMAIL:   JENS.OSTERGARD@Example.ORG  \r\n"
    "Adresse:\r\n"
    "Åboulevarden 3, st. tv.\r\n"
    "8000 Aarhus C\r\n"
    "behov   Flytterengøring\r\n"
    "BOLIGTYPE Rækkehus\r\n"
    "hvor stort er området?   120 m²\r\n"
)

LEADPOINT_TEXT = """Ny opgave fra Leadpoint

Kundens navn: Mette Frølund
E-mail: mette.frolund@example.net
Tlf.: 20 30 40 50
Adresse: Strandvejen 101, 2900 Hellerup
Opgave: Flytterengøring
Størrelse: 120 m2
Ønsket dato: 15-11-2025
Beskrivelse: Lejligheden skal afleveres den 16.
Der er to altaner og et badeværelse.

--
Leadpoint ApS
"""

LEADPOINT_HTML = """<div style="font-family: Arial">
<p>Hej Rendetalje,</p><p>I har fået en ny opgave.</p>
<table border="0">
<tr><td>Kundens navn:</td><td>Bjørn Ødegård</td></tr>
<tr><td>Tlf.:</td><td>+45 61 23 45 67</td></tr>
<tr><td>Adresse:</td><td>Rosenvænget 9</td></tr>
<tr><td>Postnr. og by:</td><td>5000 Odense C</td></tr>
<tr><td>Opgave:</td><td>Vinduespudsning</td></tr>
<tr><td>Størrelse:</td><td>85,5 m²</td></tr>
<tr><td>Ønsket dato:</td><td>2025-11-15</td></tr>
</table></div>"""

LEADPOINT_BARE = (
    "kundens navn     Karen Blixen-Dahl\n\n"
    "OPGAVE    Hovedrengøring\n\n"
    "størrelse   ca. 70 kvm\n\n"
    "tlf.   4512 3456\n\n"
    "ØNSKET DATO   15. november 2025\n\n"
    "adresse   Lærkevej 2\n"
    "7100 Vejle\n"
)

ADHELP_TEXT = """Hej Rendetalje

Vi har fundet en ny kunde til jer via kampagnen.

Kunde navn: Ida Sørensen
Kunde e-mail: ida.sorensen@example.dk
Kunde telefon: 26 27 28 29
Kunde adresse: Skovbrynet 14, 8240 Risskov
Ønsket ydelse: Fast rengøring hver 14. dag
Størrelse: 110
Besked fra kunden: Vi har en hund.
Adresse er nem at finde, der er parkering foran huset.

--
AdHelp ApS · mw@adhelp.dk · sp@adhelp.dk
"""

ADHELP_HTML = """<p>Ny kundehenvendelse</p>
<table>
<tr><th>Kunde navn</th><td>Lærke Holm</td></tr>
<tr><th>Kunde e-mail</th>
<td><a href="mailto:laerke.holm@example.com">laerke.holm@example.com</a></td></tr>
<tr><th>Kunde telefon</th><td>+45 50 60 70 80</td></tr>
<tr><th>Ønsket ydelse</th><td>Flytterengøring</td></tr>
<tr><th>Ønsket dato</th><td>01.12.2025</td></tr>
</table>
<p>Spørgsmål? Skriv til sp@adhelp.dk</p>"""

WEBSITE_TEXT = """Ny henvendelse fra kontaktformularen på rendetalje.dk

Navn: Æbbe Kjærgaard
Email: aebbe.kjaergaard@example.dk
Telefon: 28 11 22 33
Adresse: Havnegade 5, 8000 Aarhus C
Besked: Hej

Jeg vil gerne have et tilbud på vinduespudsning.
Telefon er bedst efter kl. 16.

Mvh Æbbe
"""

WEBSITE_HTML = """<table>
<tr><td>Navn:</td><td>Hjørdis Bæk</td></tr>
<tr><td>Email:</td><td>hjordis.baek@example.org</td></tr>
<tr><td>Telefon:</td><td>(+45) 42 42 42 42</td></tr>
<tr><td>Besked:</td><td>Kan I gøre rent i vores klinik<br>hver fredag?</td></tr>
</table>
<p>Denne mail er sendt automatisk fra rendetalje.dk</p>"""

LEAD_SAMPLES: tuple[LeadSample, ...] = (
    LeadSample(
        id="rengoring-text",
        from_address="noreply@leadmail.no",
        from_name="Rengøring.nu",
        reply_to=("noreply@leadmail.no",),
        subject="Nyt lead fra Rengøring.nu",
        body_text=RENGORING_TEXT,
        source_key="rengoring_nu",
        expected=ParsedLead(
            source="Rengøring.nu",
            name="Søren Ærbø",
            email="soren.aerbo@example.dk",
            phone="+4512345678",
            address="Somevej 12",
            postal_code="8000",
            city="Aarhus C",
            square_meters=98.0,
            rooms=3,
            floor="2",
            property_type="Lejlighed",
            task_type="Fast rengøringshjælp",
            contact_type="Privat",
            details={"Domæne": "Rengøring.nu"},
            received_at=datetime(2025, 10, 9, 18, 31, tzinfo=UTC),
        ),
    ),
    LeadSample(
        id="rengoring-html-only",
        from_address="leads@leadmail.no",
        from_name="Rengøring.nu",
        subject="Nyt lead fra Rengøring.nu",
        body_html=RENGORING_HTML,
        source_key="rengoring_nu",
        expected=ParsedLead(
            source="Rengøring.nu",
            name="Åse Møller-Jørgensen",
            email="aase.mj@firma-eksempel.dk",
            phone="+4587654321",
            address="Industrivej 4, 1. sal",
            postal_code="8200",
            city="Aarhus N",
            square_meters=450.0,
            property_type="Kontor",
            task_type="Erhvervsrengøring",
            contact_type="Erhverv",
            details={"Domæne": "Rengøring.nu"},
            received_at=datetime(2025, 1, 14, 7, 5, tzinfo=UTC),
        ),
    ),
    LeadSample(
        id="rengoring-alternative",
        from_address="noreply@leadmail.no",
        from_name="Rengøring.nu",
        subject="Nyt lead fra Rengøring.nu",
        body_text=RENGORING_ALT_TEXT,
        body_html=RENGORING_ALT_HTML,
        source_key="rengoring_nu",
        expected=ParsedLead(
            source="Rengøring.nu",
            name="Kåre Løvstrøm",
            email="kare.lovstrom@example.com",
            phone="+4523456789",
            address="Bøgevej 7",
            postal_code="8600",
            city="Silkeborg",
            square_meters=165.0,
            rooms=5,
            property_type="Villa/Parcelhus",
            task_type="Hovedrengøring",
            contact_type="Privat",
            received_at=datetime(2025, 11, 3, 8, 15, tzinfo=UTC),
        ),
    ),
    LeadSample(
        id="rengoring-forwarded-odd-layout",
        from_address="noreply@leadmail.no",
        subject="VS: SV: Nyt lead fra Rengøring.nu",
        body_text=RENGORING_ODD,
        source_key="rengoring_nu",
        expected=ParsedLead(
            source="Rengøring.nu",
            name="Jens Østergård",
            email="jens.ostergard@example.org",
            phone="+4531415926",
            address="Åboulevarden 3, st. tv.",
            postal_code="8000",
            city="Aarhus C",
            square_meters=120.0,
            property_type="Rækkehus",
            task_type="Flytterengøring",
            received_at=datetime(2025, 6, 2, 5, 45, tzinfo=UTC),
        ),
    ),
    LeadSample(
        id="rengoring-no-contact-needs-review",
        from_address="noreply@leadmail.no",
        reply_to=("noreply@leadmail.no",),
        subject="Nyt lead fra Rengøring.nu",
        body_text=(
            "Modtaget 9-10-2025 kl. 20:31\nBehov Vinduespudsning\nNavn Birthe Å. Lund\n"
            "Email support@leadmail.no\nTelefon\nAdresse 8000 Aarhus C\n"
        ),
        source_key="rengoring_nu",
        expected=ParsedLead(
            source="Rengøring.nu",
            name="Birthe Å. Lund",
            postal_code="8000",
            city="Aarhus C",
            task_type="Vinduespudsning",
            received_at=datetime(2025, 10, 9, 18, 31, tzinfo=UTC),
        ),
    ),
    LeadSample(
        id="leadpoint-text",
        from_address="opgaver@leadpoint.dk",
        from_name="Leadpoint",
        reply_to=("mette.frolund@example.net",),
        subject="Ny opgave fra Leadpoint: Flytterengøring",
        body_text=LEADPOINT_TEXT,
        source_key="leadpoint",
        expected=ParsedLead(
            source="Leadpoint",
            name="Mette Frølund",
            email="mette.frolund@example.net",
            phone="+4520304050",
            address="Strandvejen 101",
            postal_code="2900",
            city="Hellerup",
            square_meters=120.0,
            task_type="Flytterengøring",
            preferred_date=date(2025, 11, 15),
            preferred_date_text="15-11-2025",
            message=("Lejligheden skal afleveres den 16.\nDer er to altaner og et badeværelse."),
            received_at=SENT,
        ),
    ),
    LeadSample(
        id="leadpoint-html-only-reply-to-email",
        from_address="noreply@leadpoint.dk",
        reply_to=("Bjorn.Odegard@Example.com",),
        subject="Fwd: Ny opgave fra Leadpoint",
        body_html=LEADPOINT_HTML,
        source_key="leadpoint",
        expected=ParsedLead(
            source="Leadpoint",
            name="Bjørn Ødegård",
            email="bjorn.odegard@example.com",
            phone="+4561234567",
            address="Rosenvænget 9",
            postal_code="5000",
            city="Odense C",
            square_meters=85.5,
            task_type="Vinduespudsning",
            preferred_date=date(2025, 11, 15),
            preferred_date_text="2025-11-15",
            received_at=SENT,
        ),
    ),
    LeadSample(
        id="leadpoint-bare-labels-any-case",
        from_address="noreply@leadpoint.dk",
        reply_to=("karen.blixen-dahl@example.dk",),
        subject="Re: Nyt lead",
        body_text=LEADPOINT_BARE,
        sent_at=None,
        source_key="leadpoint",
        expected=ParsedLead(
            source="Leadpoint",
            name="Karen Blixen-Dahl",
            email="karen.blixen-dahl@example.dk",
            phone="+4545123456",
            address="Lærkevej 2",
            postal_code="7100",
            city="Vejle",
            square_meters=70.0,
            task_type="Hovedrengøring",
            preferred_date=date(2025, 11, 15),
            preferred_date_text="15. november 2025",
        ),
    ),
    LeadSample(
        id="adhelp-text",
        from_address="mw@adhelp.dk",
        from_name="Mette W. | AdHelp",
        reply_to=("mw@adhelp.dk",),
        subject="Ny kundehenvendelse - Ida Sørensen",
        body_text=ADHELP_TEXT,
        source_key="adhelp",
        expected=ParsedLead(
            source="AdHelp",
            name="Ida Sørensen",
            email="ida.sorensen@example.dk",
            phone="+4526272829",
            address="Skovbrynet 14",
            postal_code="8240",
            city="Risskov",
            square_meters=110.0,
            task_type="Fast rengøring hver 14. dag",
            message="Vi har en hund.\nAdresse er nem at finde, der er parkering foran huset.",
            received_at=SENT,
        ),
    ),
    LeadSample(
        id="adhelp-html-only",
        from_address="sp@adhelp.dk",
        reply_to=("sp@adhelp.dk",),
        subject="SV: Ny kundehenvendelse",
        body_html=ADHELP_HTML,
        source_key="adhelp",
        expected=ParsedLead(
            source="AdHelp",
            name="Lærke Holm",
            email="laerke.holm@example.com",
            phone="+4550607080",
            task_type="Flytterengøring",
            preferred_date=date(2025, 12, 1),
            preferred_date_text="01.12.2025",
            received_at=SENT,
        ),
    ),
    LeadSample(
        id="adhelp-own-address-in-customer-field",
        from_address="sp@adhelp.dk",
        reply_to=("sp@adhelp.dk",),
        subject="Ny kundehenvendelse",
        body_text=(
            "Kunde navn: Poul Ravn\nKunde e-mail: sp@adhelp.dk\nKunde telefon: 40 50 60 70\n"
            "Ønsket ydelse: Hovedrengøring\n"
        ),
        source_key="adhelp",
        expected=ParsedLead(
            source="AdHelp",
            name="Poul Ravn",
            phone="+4540506070",
            task_type="Hovedrengøring",
            received_at=SENT,
        ),
    ),
    LeadSample(
        id="website-text",
        from_address="noreply@rendetalje.dk",
        from_name="Rendetalje.dk",
        reply_to=("aebbe.kjaergaard@example.dk",),
        subject="Ny henvendelse fra rendetalje.dk",
        body_text=WEBSITE_TEXT,
        source_key="website",
        expected=ParsedLead(
            source="Website",
            name="Æbbe Kjærgaard",
            email="aebbe.kjaergaard@example.dk",
            phone="+4528112233",
            address="Havnegade 5",
            postal_code="8000",
            city="Aarhus C",
            message=(
                "Hej\n\nJeg vil gerne have et tilbud på vinduespudsning.\n"
                "Telefon er bedst efter kl. 16.\n\nMvh Æbbe"
            ),
            received_at=SENT,
        ),
    ),
    LeadSample(
        id="website-html-only",
        from_address="no-reply@rendetalje.dk",
        reply_to=("hjordis.baek@example.org",),
        subject="Kontaktformular",
        body_html=WEBSITE_HTML,
        source_key="website",
        expected=ParsedLead(
            source="Website",
            name="Hjørdis Bæk",
            email="hjordis.baek@example.org",
            phone="+4542424242",
            message="Kan I gøre rent i vores klinik\nhver fredag?",
            received_at=SENT,
        ),
    ),
    LeadSample(
        id="website-reply-to-only",
        from_address="noreply@rendetalje.dk",
        reply_to=("Ole.Bundgaard@Example.dk",),
        subject="Kontaktformular: Flytterengøring",
        body_text="Navn: Ole Bundgaard\nBesked: Ring venligst.\n",
        source_key="website",
        expected=ParsedLead(
            source="Website",
            name="Ole Bundgaard",
            email="ole.bundgaard@example.dk",
            message="Ring venligst.",
            received_at=SENT,
        ),
    ),
    # Not leads.
    LeadSample(
        id="customer-reply-to-lead",
        from_address="soren.aerbo@example.dk",
        from_name="Søren Ærbø",
        subject="Re: Nyt lead fra Rengøring.nu",
        body_text="Tak for svaret, torsdag passer fint.\n\n> "
        + RENGORING_TEXT.replace("\n", "\n> "),
    ),
    LeadSample(
        id="platform-newsletter",
        from_address="nyhedsbrev@leadpoint.dk",
        subject="Få flere opgaver i 2026 - nye leads hver uge",
        body_text=(
            "Kære partner\n\nVores nye app giver dig flere leads.\n"
            "Læs mere på leadpoint.dk\n\nAfmeld nyhedsbrevet her."
        ),
    ),
    LeadSample(
        id="platform-invoice",
        from_address="faktura@leadmail.no",
        subject="Faktura for oktober: 12 leads",
        body_text="Antal leads: 12\nBeløb: 1.200 kr\nForfald: 15-11-2025\n",
    ),
    LeadSample(
        id="own-domain-colleague-forwards-lead",
        from_address="michael@rendetalje.dk",
        subject="Fwd: Nyt lead fra Rengøring.nu",
        body_text="Kan du tage denne?\n\n---------- Forwarded message ---------\n" + RENGORING_TEXT,
    ),
    LeadSample(
        id="mail-mentioning-lead",
        from_address="kontakt@firma-eksempel.dk",
        subject="Angående nyt lead-system",
        body_text="Hej, vi sælger et nyt lead-system. Navn på produktet: LeadMaster.",
    ),
    LeadSample(
        id="website-noreply-system-mail",
        from_address="noreply@rendetalje.dk",
        subject="Din adgangskode er ændret",
        body_text="Hej\n\nDin adgangskode til rendetalje.dk er ændret.\n",
    ),
    LeadSample(
        id="aggregator-person-writing",
        from_address="mw@adhelp.dk",
        subject="Opfølgning på kampagnen",
        body_text="Hej Rendetalje\n\nKampagnen har givet 14 leads i oktober.\n\nMvh Mette\nAdHelp",
    ),
)
