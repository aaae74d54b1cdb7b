-- 004_offers.sql: publishing offers in the order of their ids.
--
-- placesd_publish_offer() takes a transaction-level advisory lock before
-- the id is drawn, so offers commit in id order: a subscriber resuming
-- after the last id it saw (SSE Last-Event-ID) can never skip an offer
-- committed later with a smaller id. The insert trigger of 002 announces
-- the new offer (NOTIFY offers, '<id>') in the same transaction.
-- Returns the stored offer as the JSON of an Offer (docs/api.md,
-- "Objects"), or NULL when the place does not exist.

CREATE FUNCTION placesd_publish_offer(p_place bigint, p_title text,
    p_description text, p_discount integer, p_starts timestamptz,
    p_ends timestamptz) RETURNS text
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
    VALUES (p_place, p_title, coalesce(p_description, ''), p_discount,
            p_starts, p_ends)
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
