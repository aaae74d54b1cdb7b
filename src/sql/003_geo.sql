-- 003_geo.sql: a bounding-box index for the distance-only answer of
-- /v1/nearby, which the workers compute from the database while the
-- ranker is away.
CREATE INDEX places_lat_lon ON places (lat, lon);
