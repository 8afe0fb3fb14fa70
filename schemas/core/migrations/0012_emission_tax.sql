-- Environmental protection tax (环境保护税法, in force 2018-01-01): the pollution equivalent
-- values of 附表二 and the tax per equivalent (附表一 range; provinces choose within it).
-- Reference tables, filled from schemas/data/pollution_equivalents.csv and tax_rates.csv by
-- `sourcewatch migrate` (schemas/disclosure/tax_tables.py). Every row names its source; a
-- value not checked against the official text has confirmed = false and a note.
-- Used by the automatic tax_estimate records; official amounts are staff's fee_record records.

CREATE TABLE pollution_equivalents (
    pollutant       text NOT NULL REFERENCES pollutants (code),
    variant         text NOT NULL,               -- 'default', or another 附表二 item for the code
    item_zh         text NOT NULL,               -- the item as 附表二 names it
    item_en         text NOT NULL,
    medium          text NOT NULL CHECK (medium IN ('gas', 'water')),
    tax_group       text NOT NULL CHECK (tax_group IN ('air', 'water-1', 'water-2')),
                    -- per outlet, by equivalents: air top 3, water-1 top 5, water-2 top 3
    one_of          text NOT NULL,               -- only the largest of a group is taxed
                                                 -- (COD/BOD5/TOC); else the pollutant code
    value           numeric NOT NULL CHECK (value > 0),   -- kg per pollution equivalent
    source_document text NOT NULL,
    clause          text,
    confirmed       boolean NOT NULL,
    note            text,
    valid_from      date NOT NULL,
    valid_to        date,
    PRIMARY KEY (pollutant, variant, valid_from),
    CHECK (confirmed OR note IS NOT NULL),
    CHECK (valid_to IS NULL OR valid_to >= valid_from)
);

CREATE TABLE tax_rates (
    region          text NOT NULL,               -- 'default' or a GB/T 2260 province code ('11')
    region_name_zh  text NOT NULL,
    region_name_en  text NOT NULL,
    medium          text NOT NULL CHECK (medium IN ('gas', 'water')),
    pollutant       text NOT NULL,               -- '*': every pollutant of the medium
    value           numeric NOT NULL CHECK (value > 0),   -- yuan per pollution equivalent
    source_document text NOT NULL,
    clause          text,
    confirmed       boolean NOT NULL,
    note            text,
    valid_from      date NOT NULL,
    valid_to        date,
    PRIMARY KEY (region, medium, pollutant, valid_from),
    CHECK (confirmed OR note IS NOT NULL),
    CHECK (valid_to IS NULL OR valid_to >= valid_from)
);

-- The publisher (alerts/publish) looks only at means computed since its last run, and at days
-- that just ended.
CREATE INDEX IF NOT EXISTS hourly_means_computed_at_idx ON hourly_means (computed_at);
CREATE INDEX IF NOT EXISTS daily_means_computed_at_idx ON daily_means (computed_at);
CREATE INDEX IF NOT EXISTS daily_means_day_idx ON daily_means (day);
