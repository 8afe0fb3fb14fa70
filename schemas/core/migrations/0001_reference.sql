-- Reference data: enterprises, outlets, the HJ 212 code tables.
-- Code tables are filled from schemas/data/*.csv by `sourcewatch migrate` (schemas/reference.py).

CREATE TABLE enterprises (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uscc            text UNIQUE,                 -- 统一社会信用代码 (18 chars)
    name_zh         text NOT NULL,
    name_en         text,
    address         text,
    district        text,                        -- administrative division (name or code)
    industry        text,
    control_level   text CHECK (control_level IN ('national', 'provincial', 'municipal', 'other')),
    longitude       double precision CHECK (longitude BETWEEN -180 AND 180),
    latitude        double precision CHECK (latitude BETWEEN -90 AND 90),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE outlets (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enterprise_id       bigint NOT NULL REFERENCES enterprises (id),
    mn                  text NOT NULL UNIQUE,    -- HJ 212 MN of the data logger
    code                text,                    -- outlet number in the permit, e.g. DA001
    name_zh             text NOT NULL,
    name_en             text,
    kind                text NOT NULL CHECK (kind IN ('gas', 'water')),
    password            text,                    -- HJ 212 PW; NULL: not checked
    crc_policy          text NOT NULL DEFAULT 'strict' CHECK (crc_policy IN ('strict', 'lenient', 'alt')),
    protocol_profile    text NOT NULL DEFAULT 'hj212-2017'
                        CHECK (protocol_profile IN ('hj212-2005', 'hj212-2017', 'hj212-2025')),
    timezone            text NOT NULL DEFAULT 'Asia/Shanghai',
    emission_standard   text,
    permit_number       text,
    longitude           double precision CHECK (longitude BETWEEN -180 AND 180),
    latitude            double precision CHECK (latitude BETWEEN -90 AND 90),
    active              boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outlets_enterprise_idx ON outlets (enterprise_id);

-- HJ 212-2017 Appendix B factor codes (and the HJ/T 212-2005 code they replace).
CREATE TABLE pollutants (
    code            text PRIMARY KEY,
    medium          text NOT NULL,               -- water | air | noise | process | info
    name_zh         text NOT NULL,
    name_en         text NOT NULL,
    unit_zh         text,                        -- concentration / instantaneous unit
    unit_en         text,
    cou_unit_zh     text,                        -- emission amount (Cou) unit
    cou_unit_en     text,
    legacy_code     text,                        -- HJ/T 212-2005 code (原编码)
    data_type       text,
    source          text NOT NULL
);

-- Data flags (HJ 212-2017 Table 8, HJ/T 212-2005).
CREATE TABLE data_flags (
    standard        text NOT NULL,               -- 'HJ 212-2017' | 'HJ/T 212-2005' | ...
    code            text NOT NULL,
    name_zh         text NOT NULL,
    name_en         text NOT NULL,
    valid           boolean NOT NULL,            -- counts towards means and exceedance
    source          text NOT NULL,
    PRIMARY KEY (standard, code)
);
