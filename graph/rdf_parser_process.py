"""The child process of ``untrusted_rdf``: parse one RDF body under limits, write it as N-Quads.

Run as a script (``python -I -S rdf_parser_process.py SITE_DIR``) so that it imports only pyoxigraph. Reads
one line of JSON settings and then the body from stdin. Exit status: 0 with N-Quads on stdout;
2 the body is not valid (message on stderr); 3 over the quad limit; 4 over the expansion limit.
The memory and CPU limits make the kernel stop it rather than let it take the machine.
"""
import json
import resource
import sys

if len(sys.argv) > 1:  # started with -S: the directory pyoxigraph is installed in
    sys.path.insert(0, sys.argv[1])

import pyoxigraph as ox  # noqa: E402

BATCH = 1000


def main() -> int:
    settings = json.loads(sys.stdin.buffer.readline())
    body = sys.stdin.buffer.read()
    resource.setrlimit(resource.RLIMIT_AS, (settings["memory_bytes"], settings["memory_bytes"]))
    resource.setrlimit(resource.RLIMIT_CPU, (settings["cpu_seconds"], settings["cpu_seconds"]))
    rdf_format = ox.RdfFormat.from_media_type(settings["format"])
    max_quads, max_bytes = settings["max_quads"], settings["max_chars"]
    out = sys.stdout.buffer
    written = count = 0
    batch = []
    try:
        for quad in ox.parse(body, format=rdf_format, base_iri=settings["base_iri"]):
            count += 1
            if count > max_quads:
                return 3
            batch.append(quad)
            if len(batch) == BATCH:
                written += _write(batch, out)
                batch = []
                if written > max_bytes:
                    return 4
        written += _write(batch, out)
    except (SyntaxError, ValueError) as error:
        sys.stderr.write(f"is not valid {rdf_format.name}: {error}")
        return 2
    return 4 if written > max_bytes else 0


def _write(quads, out) -> int:
    data = ox.serialize(quads, format=ox.RdfFormat.N_QUADS)
    out.write(data)
    return len(data)


if __name__ == "__main__":
    sys.exit(main())
