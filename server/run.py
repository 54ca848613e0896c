"""``yokuryu serve``: open or build the store, then serve the app with waitress."""
from __future__ import annotations

import logging
import sys
import time

from yokuryu.server.config import ServerConfig

log = logging.getLogger(__name__)


def serve(args) -> int:
    from waitress.server import create_server

    from yokuryu.graph.pipeline import InvalidData, prepare_store
    from yokuryu.server import create_app

    started = time.monotonic()
    config = ServerConfig.from_env(store_path=args.store)
    try:
        store, result = prepare_store(config.store_path, args.data_files, rebuild=args.rebuild)
    except InvalidData as error:
        print(error, file=sys.stderr)
        return 1
    if result is not None and not result.ok:
        print(result.report.as_text(), file=sys.stderr)
        return 1
    app = create_app(config, store)
    server = create_server(app, host=args.host, port=args.port, threads=max(1, args.workers),
                           ident="yokuryu", clear_untrusted_proxy_headers=True)
    host, port = server.effective_host, server.effective_port
    shown = f"[{host}]" if ":" in str(host) else host
    print(f"Yokuryū ready in {time.monotonic() - started:.1f} s: {len(store)} quads "
          f"({'on disk at ' + str(store.path) if store.is_persistent else 'in memory'})", flush=True)
    print(f"Serving on http://{shown}:{port}/  (SPARQL endpoint: http://{shown}:{port}/sparql)", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        store.close()
    return 0
