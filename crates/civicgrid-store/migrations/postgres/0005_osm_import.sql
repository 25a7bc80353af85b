-- Imported street networks and facilities remember where they came from:
-- a node its OpenStreetMap id, a facility its key in the source
-- (`osm:node/123`), so importing the same file again updates rows in
-- place. Facilities registered in CivicGrid have no external id.
ALTER TABLE street_nodes ADD COLUMN osm_id BIGINT;
ALTER TABLE facilities ADD COLUMN external_id TEXT COLLATE "C";
CREATE UNIQUE INDEX facilities_external_id ON facilities (external_id) WHERE external_id IS NOT NULL;
