-- A value's arrival time is its frame's (issue 16): frames.received_at, linked by frame_id.
--
-- The writer stops copying the frame's arrival time onto every measurement row: with
-- sub-second jitter it was the largest column of the compressed raw chunks (about 3 of 12 bytes
-- per row). The column stays, nullable, for the rows written before: readers take
-- coalesce(measurements.received_at, frames.received_at), so what the dumps and evidence
-- bundles publish for those rows does not change; a revision sets it NULL (the new frame's
-- arrival time is then the value's).
--
-- frames' primary key (id, received_at) serves a look-up by id alone (its leading column).

ALTER TABLE measurements ALTER COLUMN received_at DROP NOT NULL;
