-- 007_notify_part.sql: a change to a place's menu or offers says so.
--
-- 002's places_changed payload for a menu item or an offer was the bare
-- place id, the same as for the place's own row, so a worker's read model
-- dropped everything the place is in, city lists included, though lists
-- show neither menus nor offers. Now such a change sends
--   channel places_changed, payload: "<place id> menu_items" or
--                                    "<place id> offers"
-- (a place's own row still sends the bare id), and an item or offer moved
-- to another place names both places. The ranker reads the id either way.

CREATE OR REPLACE FUNCTION placesd_notify_place_child() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('places_changed',
                          OLD.place_id::text || ' ' || TG_TABLE_NAME);
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.place_id IS DISTINCT FROM NEW.place_id THEN
        PERFORM pg_notify('places_changed',
                          OLD.place_id::text || ' ' || TG_TABLE_NAME);
    END IF;
    PERFORM pg_notify('places_changed',
                      NEW.place_id::text || ' ' || TG_TABLE_NAME);
    RETURN NEW;
END;
$$;
