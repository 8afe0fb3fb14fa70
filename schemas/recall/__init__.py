"""History recall (反控补数, issue 14): the gaps in what outlets reported
(:mod:`schemas.recall.gaps`) and the requests that ask their data loggers for them again
(:mod:`schemas.recall.requests`). The sending — HJ 212 history queries over MQTT or the TCP
gateway — is ``ingest/recall.py``."""
