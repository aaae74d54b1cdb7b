-- 002_notify.sql: every change to a place (or to what is shown with it)
-- and every new offer is announced with NOTIFY in the changing
-- transaction, so workers drop cached places and the ranker reloads.
--   channel places_changed, payload: the place id
--   channel offers,         payload: the offer id

CREATE FUNCTION placesd_notify_place() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('places_changed', OLD.id::text);
        RETURN OLD;
    END IF;
    PERFORM pg_notify('places_changed', NEW.id::text);
    RETURN NEW;
END;
$$;

CREATE FUNCTION placesd_notify_place_child() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('places_changed', OLD.place_id::text);
        RETURN OLD;
    END IF;
    PERFORM pg_notify('places_changed', NEW.place_id::text);
    RETURN NEW;
END;
$$;

CREATE FUNCTION placesd_notify_offer() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('offers', NEW.id::text);
    RETURN NEW;
END;
$$;

CREATE TRIGGER places_notify AFTER INSERT OR UPDATE OR DELETE ON places
    FOR EACH ROW EXECUTE FUNCTION placesd_notify_place();
CREATE TRIGGER menu_items_notify AFTER INSERT OR UPDATE OR DELETE ON menu_items
    FOR EACH ROW EXECUTE FUNCTION placesd_notify_place_child();
CREATE TRIGGER offers_notify_place AFTER UPDATE OR DELETE ON offers
    FOR EACH ROW EXECUTE FUNCTION placesd_notify_place_child();
CREATE TRIGGER offers_notify_new AFTER INSERT ON offers
    FOR EACH ROW EXECUTE FUNCTION placesd_notify_offer();
