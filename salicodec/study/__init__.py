"""The human 2AFC study (Patel et al. 2021, Sec. 2.1): build a study, serve it, analyse the votes.

layout.py       the study folder and its manifest
reconstruct.py  (image, codec, target bpp) -> reconstruction: the one compression entry point
create.py       `study create`: all codecs x rates x pairs, written atomically
db.py           SQLite (WAL): trials, participants, presentations (sides), votes
server.py       `study serve`: standard-library HTTP server; static/ holds the pages
results.py      `study results`: win counts (Fig. 5), pair preferences, 2AFC export, agreement
"""
