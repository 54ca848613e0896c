"""CORS: any web page may read (query, fetch graphs); none may write from another origin.

``Access-Control-Allow-Origin: *`` goes with every answer and never with
``Access-Control-Allow-Credentials``, so browsers send no cookies or HTTP auth cross-origin.
Preflights allow the read methods and the headers a query needs; ``Authorization`` is not
among them, so a page on another site cannot send the update token.
"""
from __future__ import annotations

from flask import Flask, Response, request

READ_METHODS = "GET, HEAD, POST, OPTIONS"
READ_HEADERS = "Accept, Content-Type"
EXPOSED_HEADERS = "Content-Type, Content-Length, Location, Vary"


def register(app: Flask) -> None:
    @app.after_request
    def allow_cross_origin_reads(response: Response) -> Response:
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
            response.status_code = 204
            response.set_data(b"")
            response.headers["Access-Control-Allow-Methods"] = READ_METHODS
            response.headers["Access-Control-Allow-Headers"] = READ_HEADERS
            response.headers["Access-Control-Max-Age"] = "86400"
        return response
