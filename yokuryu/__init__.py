"""Yokuryū (抑留): a knowledge graph of the internment of Japanese prisoners of war in the
Soviet Union and Mongolia, with its ontology, shapes, reasoning and SPARQL endpoint.

The installed package joins the repository's folders into one namespace:
``yokuryu.ontology``, ``yokuryu.shapes``, ``yokuryu.graph`` and ``yokuryu.server``.
"""

__version__ = "0.1.0"
