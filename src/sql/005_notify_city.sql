-- 005_notify_city.sql: the cities a change of place membership touches.
-- The places_changed channel of 002 says which place changed but not its
-- cities: a place moved to another city, or a new one, could belong to
-- any. A second channel names them, in the changing transaction, after
-- the places_changed notification of the same row (triggers fire in the
-- order of their names):
--   channel places_city, payload: "<place id> <old city> <new city>",
--   "-" for a city the place had not (INSERT) or has no more (DELETE),
--   and for the place id when a row of cities itself changed.
-- Sent for INSERT and DELETE of a place, an UPDATE that changes its
-- city_id, and every change to cities (their names, positions and the
-- places counted in GET /v1/cities). places_changed is left as it is.

CREATE FUNCTION placesd_notify_place_city() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM pg_notify('places_city', NEW.id::text || ' - ' ||
                          NEW.city_id);
        RETURN NEW;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('places_city', OLD.id::text || ' ' ||
                          OLD.city_id || ' -');
        RETURN OLD;
    END IF;
    PERFORM pg_notify('places_city', NEW.id::text || ' ' || OLD.city_id ||
                      ' ' || NEW.city_id);
    RETURN NEW;
END;
$$;

CREATE FUNCTION placesd_notify_city() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM pg_notify('places_city', '- - ' || NEW.id);
        RETURN NEW;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('places_city', '- ' || OLD.id || ' -');
        RETURN OLD;
    END IF;
    PERFORM pg_notify('places_city', '- ' || OLD.id || ' ' || NEW.id);
    RETURN NEW;
END;
$$;

CREATE TRIGGER places_notify_city AFTER INSERT OR DELETE ON places
    FOR EACH ROW EXECUTE FUNCTION placesd_notify_place_city();
CREATE TRIGGER places_notify_city_moved AFTER UPDATE OF city_id ON places
    FOR EACH ROW WHEN (OLD.city_id IS DISTINCT FROM NEW.city_id)
    EXECUTE FUNCTION placesd_notify_place_city();
CREATE TRIGGER cities_notify AFTER INSERT OR UPDATE OR DELETE ON cities
    FOR EACH ROW EXECUTE FUNCTION placesd_notify_city();
