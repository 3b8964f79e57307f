"""The ingest rules every way in shares (the collection API, the showroom tablet, the demo):
validate Segment messages, de-duplicate, resolve identities, store events and what they carry."""
