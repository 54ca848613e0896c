"""Everything a person reads and every document a linked-data client dereferences.

- ``home``: the front page (the story, where to start), the query editor at ``/query``;
- ``browse``: a page per class, the timeline;
- ``resources``: ``/resource/…``, ``/source/…`` (303 to a document), search, the JSON-LD context;
- ``ontology``: the ontology for people and machines;
- ``description``/``view``/``labels``: what a page says about an IRI, and how terms are named;
- ``documents``: the RDF document formats, the 404 page, ETag/Last-Modified/304/gzip for all.

Content negotiation is not here but in ``yokuryu.server.negotiation``, shared with the endpoint.
"""
from __future__ import annotations

from flask import Flask, request

BLUEPRINTS = ("pages", "home", "browse", "ontology_docs", "void")


def register(app: Flask) -> None:
    from yokuryu.server import void
    from yokuryu.server.pages import browse, home, ontology, resources
    from yokuryu.server.pages.documents import cache_and_compress

    for module in (home, browse, resources, ontology, void):
        app.register_blueprint(module.blueprint)

    @app.after_request
    def _cache(response):
        # Pages, documents, VoID and static files: validators, 304 and gzip (not /sparql, whose
        # answers depend on a query and are streamed by the executor).
        if request.blueprint in BLUEPRINTS or request.endpoint == "static":
            return cache_and_compress(response)
        return response
