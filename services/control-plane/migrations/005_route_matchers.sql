-- Route matching beyond host/path/method: header and query-string matchers (arrays of
-- {name, match, value?, ignore_case}) and the stage label that lets gateway pools (TP_STAGES) serve
-- different subsets of one cluster's routes. Existing routes get no matchers and no stage: they keep
-- matching exactly as before, on every node.
ALTER TABLE routes
  ADD COLUMN headers jsonb NOT NULL DEFAULT '[]',
  ADD COLUMN query jsonb NOT NULL DEFAULT '[]',
  ADD COLUMN stage text CHECK (stage ~ '^[a-z0-9][a-z0-9_-]{0,63}$');
