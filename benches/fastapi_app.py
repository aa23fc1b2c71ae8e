"""The FastAPI baseline of the HTTP benchmark (`host/benches/http.rs`).

The same trivial algorithm as `bench_add` there: the same body in, params
validated with pydantic, `(a + b) * scale` computed, a JSON run out.
A plain (synchronous) endpoint, as an algorithm would be written; FastAPI
runs it on its thread pool, as algohost runs algorithms on worker threads.
`benches/run.sh` serves it with uvicorn.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel


class AddParams(BaseModel):
    """Params of `bench_add`."""

    a: float
    b: float
    scale: float = 1.0


class SubmitRun(BaseModel):
    """The body of `POST /runs`."""

    algorithm: str
    params: AddParams


app = FastAPI()


@app.post("/runs")
def create_run(body: SubmitRun) -> dict[str, Any]:
    """Validates, computes and answers at once."""
    if body.algorithm != "bench_add":
        raise HTTPException(status_code=404, detail=f"no algorithm {body.algorithm!r}")
    p = body.params
    summary = {"sum": (p.a + p.b) * p.scale}
    return {"algorithm": body.algorithm, "status": "succeeded", "summary": summary}
