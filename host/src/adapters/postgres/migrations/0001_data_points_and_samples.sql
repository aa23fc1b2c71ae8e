-- The data points and their samples (DESIGN.md section 6).
CREATE TABLE data_points (
    id bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE CHECK (name <> ''),
    unit text NOT NULL DEFAULT '',
    quantity text NOT NULL CHECK (quantity IN ('power', 'energy', 'price', 'state')),
    resolution text NOT NULL,
    time_zone text NOT NULL DEFAULT 'UTC',
    tags jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(tags) = 'object'),
    flow_from text,
    flow_to text,
    flow_carrier text,
    CHECK ((flow_from IS NULL) = (flow_to IS NULL) AND (flow_to IS NULL) = (flow_carrier IS NULL))
);

-- Tag filters use containment (`tags @> '{"site": "x"}'`).
CREATE INDEX data_points_tags ON data_points USING gin (tags jsonb_path_ops);

-- The primary key is also the index reads use: one data point, a ts range, in
-- order. No foreign key to data_points: its per-row check would make bulk
-- COPY several times slower; the adapter checks the ids of every write
-- inside the write's transaction instead.
CREATE TABLE samples (
    data_point_id bigint NOT NULL,
    ts timestamptz NOT NULL,
    value double precision,
    PRIMARY KEY (data_point_id, ts)
);
