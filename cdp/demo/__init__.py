"""Demo data: a fictional car brand and realistic customers, loaded through the real ingest path.

- `catalogue`: the brand's models, trims, engines, colours, wheels, interiors and option packs,
  and how a configuration is priced. Also meant to drive the showroom tablet configurator.
- `people`: fictional Dutch and Belgian buyers: names, addresses, phone numbers, e-mail.
- `generator`: deterministic customers and the Segment messages their configurator and
  showroom visits produce, each following one planted behavioural group.
- `loader`: sends those messages through `cdp.ingestion.service.ingest` (`cdp demo`,
  `cdp serve --demo`).
"""
