"""ADF (Auto-lead Data Format) leads in: POST /v1/leads/adf and `cdp leads import`, on SQLite and
PostgreSQL (issue 11 §1). A lead becomes a profile, a configuration and a lead with its source's
channel; a resend is recognised; hostile XML is refused fast and kept in the quarantine."""

from __future__ import annotations

import mailbox
import random
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from xml.etree import ElementTree

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdp.adf.parse import parse
from cdp.db import make_engine
from cdp.models import Configuration, Event, Identity, Lead, ProfileTrait
from tests.helpers import (
    SourceKey,
    StaffClient,
    drop_database,
    fresh_database_url,
    make_source,
    quarantine_of,
    run_cdp,
    uid,
)


def adf(
    email: str,
    *,
    ids: str = "",
    model: str = "Aurelia",
    request_date: str = "2026-12-01T10:15:00+01:00",
    status: str = "new",
    phone: str | None = None,
) -> str:
    phone = phone or f"06 {random.randint(10_000_000, 99_999_999)}"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<?adf version="1.0"?>
<adf>
 <prospect status="{status}">
  {ids}
  <requestdate>{request_date}</requestdate>
  <vehicle interest="buy" status="new">
   <year>2026</year><make>Veltra</make><model>{model}</model><trim>Sport</trim>
   <colorcombination><exteriorcolor>Glacier White</exteriorcolor></colorcombination>
   <price type="quote" currency="EUR">38.950,00</price>
   <option><optionname>Panorama roof</optionname><price>1.200</price></option>
  </vehicle>
  <vehicle interest="trade-in" status="used">
   <year>2017</year><make>Volkswagen</make><model>Golf</model><odometer>112000</odometer>
  </vehicle>
  <customer>
   <contact>
    <name part="first">Ruben</name><name part="last">de Jong</name>
    <email>{email}</email>
    <phone type="cellphone">{phone}</phone>
    <address><street line="1">Stratumseind 1</street><city>Eindhoven</city>
     <postalcode>5611 ET</postalcode><country>NL</country></address>
   </contact>
   <timeframe><description>within 3 months</description></timeframe>
   <comments>Would like a test drive on Saturday</comments>
  </customer>
  <vendor><id source="dealer">NL-EIN</id><vendorname>Autohuis Eindhoven</vendorname></vendor>
  <provider><name part="full">AutoTrack</name><service>Leads</service></provider>
 </prospect>
</adf>"""


def post_adf(client: TestClient, source: SourceKey | None, body: str | bytes) -> httpx.Response:
    headers = {"Content-Type": "application/xml", **(source.auth if source else {})}
    content = body.encode() if isinstance(body, str) else body
    response: httpx.Response = client.post("/v1/leads/adf", content=content, headers=headers)
    return response


def profile_of(db: Session, email: str) -> object:
    db.expire_all()
    return db.scalar(select(Identity.profile_id).where(Identity.value == email))


def leads_of(db: Session, email: str) -> list[Lead]:
    profile = profile_of(db, email)
    return list(db.scalars(select(Lead).where(Lead.profile_id == profile)))


def test_an_adf_lead_becomes_a_profile_a_configuration_and_a_lead_of_its_channel(
    app_client: TestClient, session_factory: sessionmaker[Session], db: Session
) -> None:
    marketplace = make_source(session_factory, kind="marketplace")
    email = f"{uid('ruben')}@example.nl"
    answer = post_adf(app_client, marketplace, adf(email, ids='<id source="AutoTrack">AT-1</id>'))
    assert answer.status_code == 200, answer.text
    [prospect] = answer.json()["prospects"]
    assert prospect["status"] == "created" and prospect["name"] == "Ruben de Jong"

    profile = profile_of(db, email)
    assert str(profile) == prospect["profile_id"]
    phones = db.scalars(
        select(Identity.value).where(Identity.profile_id == profile, Identity.kind == "phone")
    ).all()
    assert len(phones) == 1 and phones[0].startswith("+316")
    traits = dict(
        db.execute(
            select(ProfileTrait.name, ProfileTrait.value).where(ProfileTrait.profile_id == profile)
        ).all()
    )
    assert traits["first_name"] == "Ruben" and traits["last_name"] == "de Jong"
    assert traits["postal_code"] == "5611 ET" and traits["city"] == "Eindhoven"

    [lead] = leads_of(db, email)
    assert (lead.channel, lead.stage, lead.model) == ("marketplace", "new", "Veltra Aurelia")
    [configuration] = db.scalars(
        select(Configuration).where(Configuration.profile_id == profile)
    ).all()
    assert configuration.model == "Veltra Aurelia" and configuration.trim == "Sport"
    assert configuration.colour == "Glacier White"
    quote = db.scalar(
        select(Event).where(Event.profile_id == profile, Event.name == "Quote Requested")
    )
    assert quote is not None
    properties = quote.properties
    assert properties["dealer_code"] == "NL-EIN"
    assert properties["price"] == "38950.00" and properties["currency"] == "EUR"
    assert properties["options"][0] == {"name": "Panorama roof", "code": None, "price": "1200"}
    assert (
        properties["trade_in"]["model"] == "Golf" and properties["trade_in"]["odometer"] == 112000
    )
    assert properties["provider"] == "AutoTrack"
    assert properties["timeframe"] == "within 3 months"


def test_a_resend_is_recognised_not_duplicated(
    app_client: TestClient, session_factory: sessionmaker[Session], db: Session
) -> None:
    importer = make_source(session_factory, kind="importer")
    email = f"{uid('resend')}@example.nl"
    ids = '<id sequence="1" source="importer">IMP-77</id>'
    assert post_adf(app_client, importer, adf(email, ids=ids)).status_code == 200
    # The same lead again, marked as a resend and dated later: the same lead.
    again = post_adf(
        app_client,
        importer,
        adf(email, ids=ids, status="resend", request_date="2026-12-02T09:00:00+01:00"),
    )
    assert again.status_code == 200
    assert again.json()["prospects"][0]["status"] == "duplicate"
    # The same person and car within 7 days under another provider id: the same lead too.
    other = post_adf(app_client, importer, adf(email, ids="<id>OTHER-1</id>"))
    assert other.json()["prospects"][0]["status"] == "duplicate"
    assert len(leads_of(db, email)) == 1
    assert leads_of(db, email)[0].channel == "importer"


def test_lenient_reading_of_real_world_documents(
    app_client: TestClient, session_factory: sessionmaker[Session], db: Session
) -> None:
    source = make_source(session_factory, kind="marketplace")
    email = f"{uid('lenient')}@example.be"
    body = f"""<ADF xmlns="http://example.com/adf"><Prospect><RequestDate>not a date</RequestDate>
      <Vehicle><Make>Veltra</Make><Model>Corsa Nova</Model><Price>€ 25.000,-</Price></Vehicle>
      <Customer><Contact><Name>Els Peeters</Name><Email>{email}</Email>
      <Phone type="mobile">0470 12 34 56</Phone><Phone>not a number</Phone></Contact></Customer>
      </Prospect></ADF>"""
    # An e-mail body in HTML with the document escaped in it, as some CRMs forward leads.
    wrapped = (
        "<html><body><p>New lead:</p><pre>"
        + body.replace("<", "&lt;").replace(">", "&gt;")
        + "</pre></body></html>"
    )
    answer = post_adf(app_client, source, wrapped)
    assert answer.status_code == 200, answer.text
    [lead] = leads_of(db, email)
    assert lead.model == "Veltra Corsa Nova"
    profile = profile_of(db, email)
    assert (
        db.scalar(
            select(Identity.value).where(Identity.profile_id == profile, Identity.kind == "phone")
        )
        == "+32470123456"
    )


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE adf [<!ENTITY a "lol">'
    + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
    + "]><adf><prospect><customer><comments>&j;</comments></customer></prospect></adf>"
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE adf [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    "<adf><prospect><customer><comments>&x;</comments></customer></prospect></adf>"
)


def test_hostile_documents_are_refused_fast_and_kept(
    app_client: TestClient, session_factory: sessionmaker[Session], db: Session
) -> None:
    source = make_source(session_factory, kind="importer")
    deep = "<adf>" + "<x>" * 5000 + "</x>" * 5000 + "</adf>"
    cases = {
        "entities": BILLION_LAUGHS,
        "external": EXTERNAL_ENTITY,
        "deep": deep,
        "not XML": "<adf><prospect>",
        "not ADF": "<html><body>hello</body></html>",
        "no contact": "<adf><prospect><customer><contact><name>X</name></contact></customer>"
        "</prospect></adf>",
    }
    for what, body in cases.items():
        started = time.perf_counter()
        answer = post_adf(app_client, source, body)
        assert answer.status_code == 400, (what, answer.text)
        assert time.perf_counter() - started < 5, what  # refused, not expanded
        assert answer.json()["prospects"][0]["status"] == "refused"
        assert "root:" not in answer.text  # nothing of /etc/passwd came back
    kept = quarantine_of(db, source)
    assert len(kept) == len(cases)  # every refused document kept, raw
    assert all(row.endpoint == "leads/adf" and row.reason.startswith("ADF: ") for row in kept)
    # A client retrying a refused document: kept once.
    post_adf(app_client, source, cases["no contact"])
    assert len(quarantine_of(db, source)) == len(kept)


def test_refusals_of_the_request(
    app_client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    source = make_source(session_factory, kind="importer")
    assert post_adf(app_client, None, "<adf/>").status_code == 401
    stranger = SourceKey(id=0, name="x", key="no-such-key")
    assert post_adf(app_client, stranger, "<adf/>").status_code == 401
    too_big = post_adf(app_client, source, "<adf>" + " " * 600_000 + "</adf>")
    assert too_big.status_code == 413
    empty = post_adf(app_client, source, "   ")
    assert empty.status_code == 400 and "empty" in empty.json()["detail"]


def test_cdp_leads_import_reads_xml_eml_and_mbox(db_kind: str, tmp_path: Path) -> None:
    # A database of its own: the command commits, and the suite's shared one must not keep it.
    url = fresh_database_url(db_kind, tmp_path, "adf_import")
    try:
        _import_files(url, tmp_path)
    finally:
        drop_database(url)


def _import_files(migrated_url: str, tmp_path: Path) -> None:
    first, second, third = (f"{uid(n)}@example.nl" for n in ("xml", "eml", "mbox"))
    (tmp_path / "lead.xml").write_text(adf(first, ids="<id>CLI-1</id>", phone="06 11111111"))
    message = EmailMessage()
    message["Subject"] = "Lead for Autohuis Eindhoven"
    message.set_content(adf(second, ids="<id>CLI-2</id>", phone="06 22222222"))
    (tmp_path / "lead.eml").write_bytes(message.as_bytes())
    box = mailbox.mbox(str(tmp_path / "leads.mbox"))
    forwarded = EmailMessage()
    forwarded.set_content("New lead\n\n" + adf(third, ids="<id>CLI-3</id>", phone="06 33333333"))
    box.add(forwarded)
    box.close()
    (tmp_path / "junk.xml").write_text("<adf><prospect/></adf>")

    files = ("lead.xml", "lead.eml", "leads.mbox")
    done = run_cdp("leads", "import", *files, database_url=migrated_url, cwd=tmp_path)
    assert done.code == 0, done.err
    assert "3 stored, 0 resends skipped, 0 refused" in done.out
    engine = make_engine(migrated_url)
    try:
        with Session(engine) as db:
            for email in (first, second, third):
                [lead] = leads_of(db, email)
                assert lead.channel == "importer"  # the default source, of kind importer
    finally:
        engine.dispose()

    again = run_cdp(
        "leads", "import", "lead.xml", "junk.xml", database_url=migrated_url, cwd=tmp_path
    )
    assert again.code == 1
    assert "0 stored, 1 resends skipped, 1 refused" in again.out
    assert "junk.xml: refused: " in again.err and "Traceback" not in again.err

    missing = run_cdp("leads", "import", "nope.xml", database_url=migrated_url, cwd=tmp_path)
    assert missing.code == 1 and missing.err.strip() == "error: nope.xml: no such file"
    unknown = run_cdp(
        "leads", "import", "lead.xml", "--source", "Nobody", database_url=migrated_url, cwd=tmp_path
    )
    assert unknown.code == 1 and "no source is named 'Nobody'" in unknown.err


# The order the ADF DTD's content models give the children of each element we write.
DTD_ORDER = {
    "prospect": ["id", "requestdate", "vehicle", "customer", "vendor", "provider"],
    "vehicle": ["id", "year", "make", "model", "vin", "stock", "trim", "doors", "bodystyle",
                "transmission", "odometer", "condition", "colorcombination", "imagetag",
                "price", "pricecomments", "option", "finance", "comments"],
    "customer": ["contact", "id", "timeframe", "comments"],
    "contact": ["name", "email", "phone", "address"],
    "address": ["street", "apartment", "city", "regioncode", "postalcode", "country"],
    "vendor": ["id", "vendorname", "url", "contact"],
    "provider": ["id", "name", "service", "url", "email", "phone", "contact"],
    "colorcombination": ["interiorcolor", "exteriorcolor", "preference"],
    "option": ["optionname", "manufacturercode", "stock", "weighting", "price"],
}  # fmt: skip


def assert_dtd_order(element: ElementTree.Element) -> None:
    order = DTD_ORDER.get(element.tag)
    if order is not None:
        tags = [child.tag for child in element]
        assert all(tag in order for tag in tags), (element.tag, tags)
        positions = [order.index(tag) for tag in tags]
        assert positions == sorted(positions), (element.tag, tags)
    for child in element:
        assert_dtd_order(child)


def test_a_lead_downloads_as_adf_that_reads_back_the_same(
    app_client: TestClient,
    session_factory: sessionmaker[Session],
    db: Session,
    staff_client: Callable[[str], StaffClient],
) -> None:
    source = make_source(session_factory, kind="marketplace")
    email = f"{uid('out')}@example.nl"
    assert post_adf(app_client, source, adf(email, ids="<id>OUT-1</id>")).status_code == 200
    [lead] = leads_of(db, email)

    manager = staff_client("manager")
    answer = manager.client.get(f"/showroom/leads/{lead.id}/adf")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/x-adf+xml")
    assert f'filename="lead-{lead.id}.adf.xml"' in answer.headers["content-disposition"]
    root = ElementTree.fromstring(answer.content)
    assert root.tag == "adf"
    assert_dtd_order(root)

    [read] = parse(answer.content)
    assert (read.customer.first_name, read.customer.last_name) == ("Ruben", "de Jong")
    assert read.customer.emails == (email,)
    assert read.customer.phones[0].number.startswith("+316")
    assert read.customer.postal_code == "5611 ET" and read.customer.city == "Eindhoven"
    wanted = read.wanted
    assert wanted is not None
    assert (wanted.make, wanted.model, wanted.trim) == ("Veltra", "Aurelia", "Sport")
    assert wanted.exterior_colour == "Glacier White"
    assert [o.name for o in wanted.options] == ["Panorama roof"]
    assert read.ids[0] == ("car-retail-cdp", str(lead.id))

    assert manager.client.get("/showroom/leads/999999999/adf").status_code == 404
    marketing = staff_client("marketing")
    assert marketing.client.get(f"/showroom/leads/{lead.id}/adf").status_code == 403


def test_documents_in_other_encodings(
    app_client: TestClient, session_factory: sessionmaker[Session], db: Session
) -> None:
    source = make_source(session_factory, kind="importer")
    cases = {
        "ISO-8859-1": "ISO-8859-1",
        "windows-1252": "windows-1252",
        "UTF-16": "UTF-16",
        "UTF-8": "windows-1252",  # declared UTF-8, written in Windows-1252: a common deviation
    }
    for declared, written in cases.items():
        email = f"{uid('enc')}@example.be"
        document = (
            f'<?xml version="1.0" encoding="{declared}"?><adf><prospect><customer><contact>'
            f"<name part='first'>Zoë</name><name part='last'>Müller</name>"
            f"<email>{email}</email></contact></customer></prospect></adf>"
        )
        answer = post_adf(app_client, source, document.encode(written))
        assert answer.status_code == 200, (declared, answer.text)
        assert answer.json()["prospects"][0]["name"] == "Zoë Müller", declared
