-- Links and images a sender attaches to an alert beyond its one event_link (PagerDuty
-- `links[]` and `images[]`), as JSON lists.
ALTER TABLE alerts ADD COLUMN links TEXT NOT NULL DEFAULT '[]';
ALTER TABLE alerts ADD COLUMN images TEXT NOT NULL DEFAULT '[]';
