-- 001_schema.sql: cities, places, menu items and offers, with the indexes
-- the read API needs. Applied by `placesctl migrate` inside a transaction
-- and recorded in schema_migrations.

CREATE TABLE cities (
    id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9-]{1,64}$'),
    name        text NOT NULL,
    country     text NOT NULL,
    lat         double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon         double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    timezone    text NOT NULL
);

CREATE TABLE places (
    id          bigserial PRIMARY KEY,
    city_id     text NOT NULL REFERENCES cities (id),
    name        text NOT NULL,
    categories  text[] NOT NULL DEFAULT '{}',
    cuisines    text[] NOT NULL DEFAULT '{}',
    lat         double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon         double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    -- exact decimals: the pagination cursor carries a rating back
    rating      numeric(2,1) CHECK (rating BETWEEN 0 AND 5),
    price_level smallint CHECK (price_level BETWEEN 1 AND 4),
    address     text NOT NULL DEFAULT '',
    description text NOT NULL DEFAULT '',
    -- {"mon":[["09:00","23:00"]],...}; NULL = unknown
    hours       jsonb,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- a city's places in API order: rating desc (unknown last), then id
CREATE INDEX places_city_order ON places (city_id, rating DESC NULLS LAST, id);
CREATE INDEX places_categories ON places USING gin (categories);
CREATE INDEX places_cuisines ON places USING gin (cuisines);

CREATE TABLE menu_items (
    id          bigserial PRIMARY KEY,
    place_id    bigint NOT NULL REFERENCES places (id) ON DELETE CASCADE,
    name        text NOT NULL,
    price_cents integer NOT NULL CHECK (price_cents >= 0),
    currency    char(3) NOT NULL
);

CREATE INDEX menu_items_place ON menu_items (place_id, id);

CREATE TABLE offers (
    id           bigserial PRIMARY KEY,
    place_id     bigint NOT NULL REFERENCES places (id) ON DELETE CASCADE,
    title        text NOT NULL,
    description  text NOT NULL DEFAULT '',
    discount_pct smallint NOT NULL CHECK (discount_pct BETWEEN 1 AND 100),
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);

CREATE INDEX offers_place_ends ON offers (place_id, ends_at);
CREATE INDEX offers_ends ON offers (ends_at, id);
