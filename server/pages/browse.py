"""Browsing without SPARQL: a page per class with its members, and the timeline."""
from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("browse", __name__)
