-- spark-pgsql.sql -- the rules platform demo (SPEC 8.3, XportAPI spark)
-- for PostgreSQL; conf/spark-sqlite.sql is the same for SQLite. Every
-- table belongs to tenants (tenant=tenant in conf/spark-sections.inc):
-- the same folder, service or version id may exist in two tenants.
--
--   spark_folders    a tenant's folders
--   spark_services   a folder's services (unique by folder and name)
--   spark_versions   a service's semantic versions
--   spark_files      a version's files, one per kind: "wasm" (what an
--                    on-premises runner needs) and "xlsx" (the workbook
--                    it was made from)
--
-- spark_files_api is the files as the API sees them, with file_id
-- "<version_id>/<kind>": written through its INSTEAD OF triggers, a file
-- lands by version and kind, so a version that an import renumbers or
-- replaces gets its files, whatever ids they had where they came from.
-- An export reads a section in the order of its key: the index on the
-- view's file_id gives that order, where without it every export of
-- the files would first sort them, contents and all.

DROP VIEW IF EXISTS spark_files_api;
DROP FUNCTION IF EXISTS spark_files_api_write();
DROP TABLE IF EXISTS spark_files;
DROP TABLE IF EXISTS spark_versions;
DROP TABLE IF EXISTS spark_services;
DROP TABLE IF EXISTS spark_folders;

CREATE TABLE spark_folders (
    tenant      text NOT NULL,
    folder      text NOT NULL,
    description text,
    PRIMARY KEY (tenant, folder)
);

CREATE TABLE spark_services (
    tenant      text NOT NULL,
    service_id  text NOT NULL,
    folder      text NOT NULL,
    service     text NOT NULL,
    description text,
    PRIMARY KEY (tenant, service_id),
    UNIQUE (tenant, folder, service),
    FOREIGN KEY (tenant, folder) REFERENCES spark_folders (tenant, folder)
);

CREATE TABLE spark_versions (
    tenant     text NOT NULL,
    version_id text NOT NULL,
    service_id text NOT NULL,
    version    text NOT NULL
        CHECK (version ~ '^[0-9]+\.[0-9]+\.[0-9]+$'),
    created_at text NOT NULL,
    PRIMARY KEY (tenant, version_id),
    UNIQUE (tenant, service_id, version),
    FOREIGN KEY (tenant, service_id) REFERENCES spark_services (tenant, service_id)
);

CREATE TABLE spark_files (
    tenant     text NOT NULL,
    version_id text NOT NULL,
    kind       text NOT NULL,
    name       text NOT NULL,
    content    bytea NOT NULL,
    PRIMARY KEY (tenant, version_id, kind),
    FOREIGN KEY (tenant, version_id) REFERENCES spark_versions (tenant, version_id)
);

CREATE VIEW spark_files_api AS
SELECT tenant, version_id || '/' || kind AS file_id, version_id, kind, name,
       content
  FROM spark_files;

CREATE INDEX spark_files_file_id ON spark_files (tenant, (version_id || '/' || kind));

CREATE FUNCTION spark_files_api_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM spark_files
         WHERE tenant = OLD.tenant AND version_id = OLD.version_id
           AND kind = OLD.kind;
    END IF;
    INSERT INTO spark_files (tenant, version_id, kind, name, content)
    VALUES (NEW.tenant, NEW.version_id, NEW.kind, NEW.name, NEW.content)
    ON CONFLICT (tenant, version_id, kind)
    DO UPDATE SET name = EXCLUDED.name, content = EXCLUDED.content;
    RETURN NEW;
END
$$;

CREATE TRIGGER spark_files_api_write INSTEAD OF INSERT OR UPDATE ON spark_files_api
    FOR EACH ROW EXECUTE FUNCTION spark_files_api_write();

-- acme-dev: where services are made.
INSERT INTO spark_folders VALUES
    ('acme-dev', 'Pricing', 'Premium calculators'),
    ('acme-dev', 'Claims', 'Claim handling'),
    ('acme-dev', 'Sandbox', 'Nothing here yet');

INSERT INTO spark_services VALUES
    ('acme-dev', 'd1000000-0000-4000-8000-000000000001', 'Pricing', 'Motor', 'Motor premium'),
    ('acme-dev', 'd1000000-0000-4000-8000-000000000002', 'Pricing', 'Home', 'Home premium'),
    ('acme-dev', 'd1000000-0000-4000-8000-000000000003', 'Claims', 'Triage', 'Claim triage');

INSERT INTO spark_versions VALUES
    ('acme-dev', 'd2000000-0000-4000-8000-000000000011', 'd1000000-0000-4000-8000-000000000001', '1.0.0', '2026-01-10T09:00:00Z'),
    ('acme-dev', 'd2000000-0000-4000-8000-000000000012', 'd1000000-0000-4000-8000-000000000001', '1.1.0', '2026-02-10T09:00:00Z'),
    ('acme-dev', 'd2000000-0000-4000-8000-000000000013', 'd1000000-0000-4000-8000-000000000001', '1.2.0', '2026-03-10T09:00:00Z'),
    ('acme-dev', 'd2000000-0000-4000-8000-000000000014', 'd1000000-0000-4000-8000-000000000001', '2.0.0', '2026-04-10T09:00:00Z'),
    ('acme-dev', 'd2000000-0000-4000-8000-000000000021', 'd1000000-0000-4000-8000-000000000002', '3.1.0', '2026-01-11T09:00:00Z'),
    ('acme-dev', 'd2000000-0000-4000-8000-000000000022', 'd1000000-0000-4000-8000-000000000002', '3.2.0', '2026-02-11T09:00:00Z'),
    ('acme-dev', 'd2000000-0000-4000-8000-000000000023', 'd1000000-0000-4000-8000-000000000002', '3.2.1', '2026-03-11T09:00:00Z'),
    ('acme-dev', 'd2000000-0000-4000-8000-000000000024', 'd1000000-0000-4000-8000-000000000002', '3.20.0', '2026-04-11T09:00:00Z'),
    ('acme-dev', 'd2000000-0000-4000-8000-000000000031', 'd1000000-0000-4000-8000-000000000003', '0.9.0', '2026-01-12T09:00:00Z'),
    ('acme-dev', 'd2000000-0000-4000-8000-000000000032', 'd1000000-0000-4000-8000-000000000003', '1.0.0', '2026-02-12T09:00:00Z');

-- every version has a compiled module (wasm, bytes 00 61 73 6d: "\0asm")
-- and its workbook (xlsx, a zip: "PK\3\4"); the last byte tells them apart
INSERT INTO spark_files (tenant, version_id, kind, name, content)
SELECT tenant, version_id, 'wasm', 'module.wasm',
       '\x0061736d01000000ff00'::bytea || convert_to(version, 'UTF8')
  FROM spark_versions;
INSERT INTO spark_files (tenant, version_id, kind, name, content)
SELECT tenant, version_id, 'xlsx', 'workbook.xlsx',
       '\x504b0304140000000800ff'::bytea || convert_to(version, 'UTF8')
  FROM spark_versions;

-- acme-prod: where they are promoted to; Motor 1.0.0 is there already.
INSERT INTO spark_folders VALUES ('acme-prod', 'Pricing', 'Premium calculators');
INSERT INTO spark_services VALUES
    ('acme-prod', 'p1000000-0000-4000-8000-000000000001', 'Pricing', 'Motor', 'Motor premium');
INSERT INTO spark_versions VALUES
    ('acme-prod', 'p2000000-0000-4000-8000-000000000011', 'p1000000-0000-4000-8000-000000000001', '1.0.0', '2026-01-20T09:00:00Z');
INSERT INTO spark_files (tenant, version_id, kind, name, content)
SELECT tenant, version_id, 'wasm', 'module.wasm', '\x0061736d0100000001'::bytea
  FROM spark_versions WHERE tenant = 'acme-prod';
