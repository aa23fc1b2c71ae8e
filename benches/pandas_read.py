"""The pandas baseline of the PostgreSQL read benchmark (`host/benches/postgres.rs`).

Reads every sample with `pandas.read_sql` on a psycopg 3 connection, the
same query as the raw COPY baseline, into a DataFrame. A plain DBAPI
connection rather than an SQLAlchemy engine: it is the faster of the two
(SQLAlchemy's rows cost about 40% more here), so the stricter baseline.
Times each read with `time.perf_counter` and prints one JSON object: the
seconds of each read, the rows read and the versions.

Usage: pandas_read.py POSTGRES_URL REPETITIONS
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import pandas as pd
import psycopg

QUERY = "SELECT data_point_id, ts, value FROM samples ORDER BY data_point_id, ts"


def main() -> int:
    url, repetitions = sys.argv[1], int(sys.argv[2])
    # pandas warns that it tests DBAPI connections other than sqlite3 less.
    warnings.filterwarnings("ignore", message="pandas only supports SQLAlchemy")
    seconds: list[float] = []
    rows = 0
    with psycopg.connect(url) as connection:
        for _ in range(repetitions):
            start = time.perf_counter()
            frame = pd.read_sql(QUERY, connection)
            seconds.append(time.perf_counter() - start)
            rows = len(frame)
            del frame
    versions = f"pandas {pd.__version__}, psycopg {psycopg.__version__}"
    print(json.dumps({"seconds": seconds, "rows": rows, "versions": versions}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
