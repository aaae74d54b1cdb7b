-- 006_offer_starts.sql: offers found by when they start.
--
-- The ranker's loader asks every second for the offers that started or
-- ended since it last looked (their places' boost changes then, without a
-- notification); offers_ends covers the ends, this the starts.

CREATE INDEX offers_starts ON offers (starts_at);
