-- 008_offer_description_null.sql: an offer published without a
-- description (null, or the field left out) has none: NULL, answered as
-- null, no longer stored and answered as "". Offers stored before keep
-- their "".
--
-- placesd_publish_offer() is the one of 004 but for the coalesce().

ALTER TABLE offers ALTER COLUMN description DROP NOT NULL,
    ALTER COLUMN description DROP DEFAULT;

CREATE OR REPLACE FUNCTION placesd_publish_offer(p_place bigint,
    p_title text, p_description text, p_discount integer,
    p_starts timestamptz, p_ends timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    new_id bigint;
    doc text;
BEGIN
    PERFORM pg_advisory_xact_lock(7263730);
    IF NOT EXISTS (SELECT 1 FROM places WHERE id = p_place) THEN
        RETURN NULL;
    END IF;
    INSERT INTO offers (place_id, title, description, discount_pct,
                        starts_at, ends_at)
    VALUES (p_place, p_title, p_description, p_discount, p_starts, p_ends)
    RETURNING id INTO new_id;
    SELECT json_build_object('id', o.id, 'place_id', o.place_id,
               'city', p.city_id, 'title', o.title,
               'description', o.description,
               'discount_pct', o.discount_pct,
               'starts_at', to_char(o.starts_at AT TIME ZONE 'UTC',
                                    'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
               'ends_at', to_char(o.ends_at AT TIME ZONE 'UTC',
                                  'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
               'created_at', to_char(o.created_at AT TIME ZONE 'UTC',
                                     'YYYY-MM-DD"T"HH24:MI:SS"Z"'))::text
      INTO doc
      FROM offers o JOIN places p ON p.id = o.place_id
     WHERE o.id = new_id;
    RETURN doc;
END;
$$;
