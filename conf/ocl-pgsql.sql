-- ocl-pgsql.sql -- the terminology server demo database (SPEC 8.2) on
-- PostgreSQL: owners (orgs and users), their repositories (sources and
-- collections), the versions of each repository, and the concepts and
-- mappings each version holds. conf/ocl-sqlite.sql is the same model on
-- SQLite; both hold identical rows (same URLs, ids, timestamps, JSON
-- text). The module reads it through three views, one per section of
-- conf/ocl-sections.inc:
--
--   versions_api         one row per repository version. Its key, url, is
--                        the version's URL path with the trailing slash,
--                        /orgs/CIEL/sources/CIEL/v2016-08-22/ (what the
--                        API's paths name), next to the parts of that path
--                        (owner_type, owner, repo_type, repo, id) for
--                        listing a repository's versions.
--   concepts_in_version  one row per concept of a version, and
--   mappings_in_version  one row per mapping of a version: the content row
--                        joined with its version's url (version_url). The
--                        same concept appears once per version holding it,
--                        so the key is uid, "<version_url>|<concept_id>"
--                        (or mapping_id): unique in the view, one text
--                        column, and a version's rows sort together.
--
-- Concepts and mappings are kept per version of the concept, as the
-- terminology server does: a row of concepts is one version of one
-- concept (concept_id numbers the versions, newer ones higher), and a
-- repository version holds one version of each of its concepts. An edit
-- after a release adds a row that HEAD holds and the release does not, so
-- a released version's content never changes and updatedSince on HEAD
-- selects exactly what changed since a release.
--
-- lastUpdated: a released version's last_updated is stored and fixed. A
-- HEAD's is computed by the view: the newest of its stored last_updated
-- (changes to the repository itself, references added to a collection)
-- and its content's updated_on, so it moves with every edit of HEAD's
-- content without triggers.
--
-- Why it looks like this on PostgreSQL:
-- - Foreign keys hold; the module only reads this database: the views
--   have no INSTEAD OF triggers, and an import into them fails with the
--   database's own message.
-- - Timestamps are UTC text, 2016-08-22T12:28:20Z as the API writes them
--   (as on SQLite, so both backends export the same bytes); windows
--   (updatedSince, since / until) compare them as text.
-- - names and descriptions are json, not jsonb: json keeps the text (and
--   key order) as written, as SQLite does. They are exported as JSON
--   (types=names:json) in the shape the terminology server writes:
--   [{"name": …, "locale": …, "locale_preferred": …, "name_type": …}].
-- - The module reads a section with enable_sort off, walking the key's
--   index: the content views' uid is the expression of an index on the
--   membership tables, so an export streams rows as they are read.
--
-- Seed data (identical rows in ocl-sqlite.sql):
--   orgs CIEL, PIH; users amina, tomas (tomas owns no repository).
--   /orgs/CIEL/sources/CIEL/            v2016-08-22: 20,000 concepts and
--                                       4,000 mappings, updated 2016-01-04
--                                       ..08-18; HEAD: 20,100 and 4,100
--                                       (400 concepts and 200 mappings
--                                       edited, 100 of each added,
--                                       2016-08-23..09-27)
--   /orgs/CIEL/collections/StarterSet/  v1.1, v1.2, HEAD: 118..230 CIEL
--                                       concepts and the mappings from them
--   /orgs/PIH/sources/PIH/              v1.0, v1.1, HEAD: 250..300 concepts,
--                                       71..100 mappings
--   /users/amina/collections/MCH/       v1 (unreleased), HEAD: PIH and CIEL
--                                       concepts, about a hundred
-- updated_on is spread over the days (about 88 CIEL concepts a day), so an
-- updatedSince selects a real subset.

SET client_min_messages = warning;

DROP VIEW IF EXISTS mappings_in_version;
DROP VIEW IF EXISTS concepts_in_version;
DROP VIEW IF EXISTS versions_api;
DROP TABLE IF EXISTS version_mappings;
DROP TABLE IF EXISTS version_concepts;
DROP TABLE IF EXISTS mappings;
DROP TABLE IF EXISTS concepts;
DROP TABLE IF EXISTS repository_versions;
DROP TABLE IF EXISTS repositories;
DROP TABLE IF EXISTS users;
DROP TABLE IF EXISTS orgs;

CREATE TABLE orgs (
    id         text PRIMARY KEY
        CONSTRAINT "an id is letters, digits, . _ - or @"
        CHECK (id ~ '^[A-Za-z0-9._@-]+$'),
    name       text NOT NULL,
    website    text,
    created_on text NOT NULL
        CONSTRAINT "created_on must be UTC like 2016-08-22T12:28:20Z"
        CHECK (created_on ~ '^\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-5]\dZ$')
);

CREATE TABLE users (
    id         text PRIMARY KEY
        CONSTRAINT "an id is letters, digits, . _ - or @"
        CHECK (id ~ '^[A-Za-z0-9._@-]+$'),
    name       text NOT NULL,
    created_on text NOT NULL
        CONSTRAINT "created_on must be UTC like 2016-08-22T12:28:20Z"
        CHECK (created_on ~ '^\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-5]\dZ$')
);

-- A repository belongs to an org or to a user: one of org_id, user_id.
-- url is its path, /orgs/CIEL/sources/CIEL/, and the prefix of its
-- versions' URLs.
CREATE TABLE repositories (
    url         text PRIMARY KEY,
    org_id      text REFERENCES orgs (id),
    user_id     text REFERENCES users (id),
    repo_type   text NOT NULL
        CONSTRAINT "repo_type must be sources or collections"
        CHECK (repo_type IN ('sources', 'collections')),
    id          text NOT NULL
        CONSTRAINT "an id is letters, digits, . _ - or @"
        CHECK (id ~ '^[A-Za-z0-9._@-]+$'),
    name        text NOT NULL,
    description text,
    created_on  text NOT NULL
        CONSTRAINT "created_on must be UTC like 2016-08-22T12:28:20Z"
        CHECK (created_on ~ '^\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-5]\dZ$'),
    CONSTRAINT "a repository has one owner: an org or a user"
        CHECK ((org_id IS NULL) <> (user_id IS NULL)),
    CONSTRAINT "a repository's url is /<orgs|users>/<owner>/<repo_type>/<id>/"
        CHECK (url = '/' || CASE WHEN org_id IS NOT NULL THEN 'orgs/' || org_id
                                 ELSE 'users/' || user_id END
                     || '/' || repo_type || '/' || id || '/')
);

-- url is the version's key everywhere: the repository's url and the
-- version's id, /orgs/CIEL/sources/CIEL/v2016-08-22/. Each repository
-- has one HEAD, its live version, which is never released.
CREATE TABLE repository_versions (
    url            text PRIMARY KEY,
    repository_url text NOT NULL REFERENCES repositories (url),
    id             text NOT NULL
        CONSTRAINT "an id is letters, digits, . _ - or @"
        CHECK (id ~ '^[A-Za-z0-9._@-]+$'),
    description    text,
    released       boolean NOT NULL DEFAULT false,
    created_on     text NOT NULL
        CONSTRAINT "created_on must be UTC like 2016-08-22T12:28:20Z"
        CHECK (created_on ~ '^\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-5]\dZ$'),
    last_updated   text NOT NULL
        CONSTRAINT "last_updated must be UTC like 2016-08-22T12:28:20Z"
        CHECK (last_updated ~ '^\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-5]\dZ$'),
    UNIQUE (repository_url, id),
    CONSTRAINT "a version's url is its repository's url, its id and /"
        CHECK (url = repository_url || id || '/'),
    CONSTRAINT "HEAD is never released"
        CHECK (id <> 'HEAD' OR NOT released)
);

-- One version of one concept of a source (source_url). The concept's
-- URL is source_url || 'concepts/' || id || '/'; concept_id numbers its
-- versions across all concepts, a newer version higher.
CREATE TABLE concepts (
    concept_id    integer PRIMARY KEY,
    source_url    text NOT NULL REFERENCES repositories (url),
    id            text NOT NULL
        CONSTRAINT "an id is letters, digits, . _ - or @"
        CHECK (id ~ '^[A-Za-z0-9._@-]+$'),
    external_id   text,
    concept_class text NOT NULL,
    datatype      text NOT NULL,
    names         json NOT NULL
        CONSTRAINT "names must be a JSON array"
        CHECK (json_typeof(names) = 'array'),
    descriptions  json NOT NULL DEFAULT '[]'
        CONSTRAINT "descriptions must be a JSON array"
        CHECK (json_typeof(descriptions) = 'array'),
    retired       boolean NOT NULL DEFAULT false,
    updated_on    text NOT NULL
        CONSTRAINT "updated_on must be UTC like 2016-08-22T12:28:20Z"
        CHECK (updated_on ~ '^\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-5]\dZ$')
);
CREATE INDEX concepts_by_id ON concepts (source_url, id);

-- One version of one mapping of a source. from_concept and to_concept
-- are the URLs of concepts (not of their versions), as the API writes
-- them: /orgs/CIEL/sources/CIEL/concepts/1234/.
CREATE TABLE mappings (
    mapping_id   integer PRIMARY KEY,
    source_url   text NOT NULL REFERENCES repositories (url),
    id           text NOT NULL
        CONSTRAINT "an id is letters, digits, . _ - or @"
        CHECK (id ~ '^[A-Za-z0-9._@-]+$'),
    external_id  text,
    map_type     text NOT NULL,
    from_concept text NOT NULL
        CONSTRAINT "from_concept must be like /orgs/CIEL/sources/CIEL/concepts/1/"
        CHECK (from_concept LIKE '/%/%/sources/%/concepts/_%/'),
    to_concept   text NOT NULL
        CONSTRAINT "to_concept must be like /orgs/CIEL/sources/CIEL/concepts/1/"
        CHECK (to_concept LIKE '/%/%/sources/%/concepts/_%/'),
    retired      boolean NOT NULL DEFAULT false,
    updated_on   text NOT NULL
        CONSTRAINT "updated_on must be UTC like 2016-08-22T12:28:20Z"
        CHECK (updated_on ~ '^\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-5]\dZ$')
);
CREATE INDEX mappings_by_id ON mappings (source_url, id);
CREATE INDEX mappings_from ON mappings (from_concept);

-- Version membership: which versions of which concepts and mappings a
-- repository version holds. version_url is the version's key.
CREATE TABLE version_concepts (
    version_url text NOT NULL REFERENCES repository_versions (url) ON DELETE CASCADE,
    concept_id  integer NOT NULL REFERENCES concepts (concept_id),
    PRIMARY KEY (version_url, concept_id)
);
CREATE INDEX version_concepts_concept ON version_concepts (concept_id);
-- The order of concepts_in_version's key uid: of all rows, and of one
-- version's rows (how a version's export reads them).
CREATE INDEX version_concepts_uid ON version_concepts ((version_url || '|' || concept_id::text));
CREATE INDEX version_concepts_in_version ON version_concepts (version_url, (version_url || '|' || concept_id::text));

CREATE TABLE version_mappings (
    version_url text NOT NULL REFERENCES repository_versions (url) ON DELETE CASCADE,
    mapping_id  integer NOT NULL REFERENCES mappings (mapping_id),
    PRIMARY KEY (version_url, mapping_id)
);
CREATE INDEX version_mappings_mapping ON version_mappings (mapping_id);
CREATE INDEX version_mappings_uid ON version_mappings ((version_url || '|' || mapping_id::text));
CREATE INDEX version_mappings_in_version ON version_mappings (version_url, (version_url || '|' || mapping_id::text));

-- The versions as the API shows them. object_type becomes "type" in the
-- files (fields=). greatest() leaves out the NULL of an empty HEAD.
CREATE VIEW versions_api AS
SELECT v.url,
       v.id,
       CASE r.repo_type WHEN 'sources' THEN 'Source Version'
                        ELSE 'Collection Version' END AS object_type,
       CASE WHEN r.org_id IS NOT NULL THEN 'orgs' ELSE 'users' END AS owner_type,
       coalesce(r.org_id, r.user_id) AS owner,
       r.repo_type,
       r.id AS repo,
       v.description,
       v.released,
       v.created_on,
       CASE WHEN v.id = 'HEAD' THEN
           greatest(v.last_updated,
                    (SELECT max(c.updated_on)
                       FROM version_concepts vc
                       JOIN concepts c ON c.concept_id = vc.concept_id
                      WHERE vc.version_url = v.url),
                    (SELECT max(m.updated_on)
                       FROM version_mappings vm
                       JOIN mappings m ON m.mapping_id = vm.mapping_id
                      WHERE vm.version_url = v.url))
       ELSE v.last_updated END AS last_updated
  FROM repository_versions v
  JOIN repositories r ON r.url = v.repository_url;

-- Concepts as each version holds them. version is the concept's version
-- (its concept_id), as text.
CREATE VIEW concepts_in_version AS
SELECT vc.version_url || '|' || vc.concept_id::text AS uid,
       vc.version_url,
       'Concept'::text AS object_type,
       c.id,
       c.external_id,
       c.concept_class,
       c.datatype,
       c.names,
       c.descriptions,
       c.retired,
       s.id AS source,
       c.source_url || 'concepts/' || c.id || '/' AS url,
       c.concept_id::text AS version,
       c.updated_on
  FROM version_concepts vc
  JOIN concepts c ON c.concept_id = vc.concept_id
  JOIN repositories s ON s.url = c.source_url;

-- Mappings as each version holds them; the code of a concept is the last
-- segment of its URL.
CREATE VIEW mappings_in_version AS
SELECT vm.version_url || '|' || vm.mapping_id::text AS uid,
       vm.version_url,
       'Mapping'::text AS object_type,
       m.id,
       m.external_id,
       m.map_type,
       substr(m.from_concept, 1, strpos(m.from_concept, '/concepts/')) AS from_source_url,
       m.from_concept,
       rtrim(substr(m.from_concept, strpos(m.from_concept, '/concepts/') + 10), '/') AS from_concept_code,
       substr(m.to_concept, 1, strpos(m.to_concept, '/concepts/')) AS to_source_url,
       m.to_concept,
       rtrim(substr(m.to_concept, strpos(m.to_concept, '/concepts/') + 10), '/') AS to_concept_code,
       m.retired,
       s.id AS source,
       m.source_url || 'mappings/' || m.id || '/' AS url,
       m.mapping_id::text AS version,
       m.updated_on
  FROM version_mappings vm
  JOIN mappings m ON m.mapping_id = vm.mapping_id
  JOIN repositories s ON s.url = m.source_url;

-- ------------------------------------------------------------------ seed
-- Identical rows in ocl-sqlite.sql. Timestamps are a base plus d days and
-- t seconds (t < 32400: between 08:00 and 17:00 UTC).

INSERT INTO orgs (id, name, website, created_on) VALUES
    ('CIEL', 'Columbia International eHealth Laboratory', 'https://ciel.example', '2015-03-02T09:00:00Z'),
    ('PIH', 'Partners In Health', 'https://pih.example', '2015-06-11T14:30:00Z');

INSERT INTO users (id, name, created_on) VALUES
    ('amina', 'Amina Diallo', '2015-09-01T10:15:00Z'),
    ('tomas', 'Tomás Ferreira', '2016-01-20T16:40:00Z');

INSERT INTO repositories (url, org_id, user_id, repo_type, id, name, description, created_on) VALUES
    ('/orgs/CIEL/sources/CIEL/', 'CIEL', NULL, 'sources', 'CIEL', 'CIEL',
     'Columbia International eHealth Laboratory concept dictionary', '2015-03-02T09:30:00Z'),
    ('/orgs/CIEL/collections/StarterSet/', 'CIEL', NULL, 'collections', 'StarterSet', 'CIEL Starter Set',
     'Concepts most implementations start with', '2016-02-15T11:00:00Z'),
    ('/orgs/PIH/sources/PIH/', 'PIH', NULL, 'sources', 'PIH', 'PIH',
     'Partners In Health local concepts', '2015-06-11T15:00:00Z'),
    ('/users/amina/collections/MCH/', NULL, 'amina', 'collections', 'MCH', 'Maternal and child health',
     'A working set for antenatal and postnatal forms', '2016-06-20T09:45:00Z');

INSERT INTO repository_versions (url, repository_url, id, description, released, created_on, last_updated) VALUES
    ('/orgs/CIEL/sources/CIEL/HEAD/', '/orgs/CIEL/sources/CIEL/', 'HEAD',
     'The live source', false, '2015-03-02T09:30:00Z', '2016-08-22T12:28:20Z'),
    ('/orgs/CIEL/sources/CIEL/v2016-08-22/', '/orgs/CIEL/sources/CIEL/', 'v2016-08-22',
     'Release of 22 August 2016', true, '2016-08-22T12:28:20Z', '2016-08-22T12:28:20Z'),
    ('/orgs/CIEL/collections/StarterSet/HEAD/', '/orgs/CIEL/collections/StarterSet/', 'HEAD',
     'The live collection', false, '2016-02-15T11:00:00Z', '2016-09-12T08:15:00Z'),
    ('/orgs/CIEL/collections/StarterSet/v1.1/', '/orgs/CIEL/collections/StarterSet/', 'v1.1',
     'Starter set 1.1', true, '2016-06-30T15:20:00Z', '2016-06-30T15:20:00Z'),
    ('/orgs/CIEL/collections/StarterSet/v1.2/', '/orgs/CIEL/collections/StarterSet/', 'v1.2',
     'Starter set 1.2: fifty more concepts', true, '2016-09-05T14:02:11Z', '2016-09-05T14:02:11Z'),
    ('/orgs/PIH/sources/PIH/HEAD/', '/orgs/PIH/sources/PIH/', 'HEAD',
     'The live source', false, '2015-06-11T15:00:00Z', '2016-06-01T10:30:00Z'),
    ('/orgs/PIH/sources/PIH/v1.0/', '/orgs/PIH/sources/PIH/', 'v1.0',
     'First release', true, '2016-03-15T09:00:00Z', '2016-03-15T09:00:00Z'),
    ('/orgs/PIH/sources/PIH/v1.1/', '/orgs/PIH/sources/PIH/', 'v1.1',
     'Fifty concepts for the new forms', true, '2016-06-01T10:30:00Z', '2016-06-01T10:30:00Z'),
    ('/users/amina/collections/MCH/HEAD/', '/users/amina/collections/MCH/', 'HEAD',
     'The live collection', false, '2016-06-20T09:45:00Z', '2016-10-03T07:30:00Z'),
    ('/users/amina/collections/MCH/v1/', '/users/amina/collections/MCH/', 'v1',
     'Draft for review', false, '2016-07-15T16:45:00Z', '2016-07-15T16:45:00Z');

-- Concepts. CIEL: concept n = 1..20000 (concept_id n, updated 2016-01-04
-- ..08-18); n = 50k, k = 1..400, edited after the release (concept_id
-- 20000 + k: a SHORT name added, every tenth retired); n = 20000 + j,
-- j = 1..100, added (concept_id 20400 + j). PIH: concept 1000 + n,
-- n = 1..300 (concept_id 30000 + n; n <= 250 before v1.0, the others
-- before v1.1); n = 10k, k = 1..30, edited after v1.1 (concept_id
-- 30300 + k, every fifth retired). Names come from word lists (English,
-- and French for PIH and every third CIEL concept); a description for
-- every fourth concept. external_id is the id padded to 36 characters
-- with A (CIEL) or B (PIH), in the manner of CIEL's.
INSERT INTO concepts (concept_id, source_url, id, external_id, concept_class,
                      datatype, names, descriptions, retired, updated_on)
WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 20000),
cv(concept_id, src, n, edit, retired, base, d, t) AS (
    SELECT n, 'CIEL', n, 0, n % 97 = 0, '2016-01-04 08:00:00', n * 37 % 228, n * 7919 % 32400
      FROM s
    UNION ALL
    SELECT 20000 + n, 'CIEL', 50 * n, 1, n % 10 = 0, '2016-08-23 08:00:00', n * 7 % 28, n * 4099 % 32400
      FROM s WHERE n <= 400
    UNION ALL
    SELECT 20400 + n, 'CIEL', 20000 + n, 0, false, '2016-09-01 08:00:00', n % 27, n * 4099 % 32400
      FROM s WHERE n <= 100
    UNION ALL
    SELECT 30000 + n, 'PIH', 1000 + n, 0, false,
           CASE WHEN n <= 250 THEN '2016-02-01 08:00:00' ELSE '2016-04-01 08:00:00' END,
           n * 11 % CASE WHEN n <= 250 THEN 38 ELSE 50 END, n * 2711 % 32400
      FROM s WHERE n <= 300
    UNION ALL
    SELECT 30300 + n, 'PIH', 1000 + 10 * n, 1, n % 5 = 0, '2016-07-01 08:00:00', n * 3 % 100, n * 2711 % 32400
      FROM s WHERE n <= 30
),
adj(i, en, fr) AS (VALUES
    (0, 'Acute', 'aigu'), (1, 'Chronic', 'chronique'), (2, 'Severe', 'sévère'),
    (3, 'Mild', 'léger'), (4, 'Recurrent', 'récurrent'), (5, 'Congenital', 'congénital'),
    (6, 'Bilateral', 'bilatéral'), (7, 'Primary', 'primaire'), (8, 'Secondary', 'secondaire'),
    (9, 'Neonatal', 'néonatal'), (10, 'Post-operative', 'postopératoire'),
    (11, 'Unspecified', 'non précisé')
),
noun(i, en, fr) AS (VALUES
    (0, 'abscess', 'Abcès'), (1, 'asthma', 'Asthme'), (2, 'diabetes', 'Diabète'),
    (3, 'malaria', 'Paludisme'), (4, 'cold', 'Rhume'), (5, 'ulcer', 'Ulcère'),
    (6, 'eczema', 'Eczéma'), (7, 'goitre', 'Goitre'), (8, 'lymphoma', 'Lymphome'),
    (9, 'oedema', 'Œdème'), (10, 'syndrome', 'Syndrome'), (11, 'disorder', 'Trouble'),
    (12, 'deficiency', 'Déficit'), (13, 'cyst', 'Kyste'), (14, 'reflux', 'Reflux'),
    (15, 'tremor', 'Tremblement'), (16, 'vertigo', 'Vertige'), (17, 'shingles', 'Zona'),
    (18, 'purpura', 'Purpura'), (19, 'psoriasis', 'Psoriasis')
),
cls(i, name, datatype) AS (VALUES
    (0, 'Diagnosis', 'N/A'), (1, 'Symptom', 'N/A'), (2, 'Finding', 'N/A'),
    (3, 'Test', 'Numeric'), (4, 'Question', 'Coded'), (5, 'Procedure', 'N/A'),
    (6, 'Drug', 'N/A'), (7, 'Misc', 'N/A'), (8, 'ConvSet', 'N/A'), (9, 'LabSet', 'N/A')
)
SELECT cv.concept_id,
       '/orgs/' || cv.src || '/sources/' || cv.src || '/',
       cv.n::text,
       rpad(cv.n::text, 36, CASE cv.src WHEN 'CIEL' THEN 'A' ELSE 'B' END),
       cls.name,
       cls.datatype,
       ('[{"name":"' || adj.en || ' ' || noun.en || '","locale":"en","locale_preferred":true,"name_type":"FULLY_SPECIFIED"}'
       || CASE WHEN cv.src = 'PIH' OR cv.n % 3 = 0
               THEN ',{"name":"' || noun.fr || ' ' || adj.fr || '","locale":"fr","locale_preferred":true,"name_type":"FULLY_SPECIFIED"}'
               ELSE '' END
       || CASE WHEN cv.edit = 1
               THEN ',{"name":"' || noun.en || ' ' || cv.n || '","locale":"en","locale_preferred":false,"name_type":"SHORT"}'
               ELSE '' END
       || ']')::json,
       CASE WHEN cv.n % 4 = 0
            THEN '[{"description":"' || adj.en || ' ' || noun.en || ', as recorded by ' || cv.src
                 || '","locale":"en","locale_preferred":true,"description_type":"Definition"}]'
            ELSE '[]' END::json,
       cv.retired,
       to_char(cv.base::timestamp + cv.d * interval '1 day' + cv.t * interval '1 second',
               'YYYY-MM-DD"T"HH24:MI:SS"Z"')
  FROM cv
  JOIN adj ON adj.i = cv.n % 12
  JOIN noun ON noun.i = cv.n / 12 % 20
  JOIN cls ON cls.i = cv.n % 10
 ORDER BY cv.concept_id;

-- Mappings. CIEL: mapping m = 1..4000 (mapping_id m) from concept
-- a = 5m - 4 to concept (a + 97 + 1000 * (m % 13)) % 20000 + 1; m = 20k,
-- k = 1..200, edited after the release (mapping_id 4000 + k: every other
-- one retired, the others BROADER-THAN); m = 4000 + j, j = 1..100, added
-- from the added concept 20000 + j (mapping_id 4200 + j). PIH: mapping
-- m = 1..100 (mapping_id 40000 + m) from concept 1000 + 3m to concept
-- 1000 + 7m % 300 + 1, before v1.0 when both ends are; m = 10k, k = 1..10,
-- edited after v1.1 (mapping_id 40100 + k, every other one retired).
INSERT INTO mappings (mapping_id, source_url, id, external_id, map_type,
                      from_concept, to_concept, retired, updated_on)
WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 4000),
mv(mapping_id, src, m, a, b, map_type, retired, base, d, t) AS (
    SELECT n, 'CIEL', n, 5 * n - 4, (5 * n - 4 + 97 + 1000 * (n % 13)) % 20000 + 1,
           NULL, false, '2016-01-04 08:00:00', n * 13 % 228, n * 4441 % 32400
      FROM s
    UNION ALL
    SELECT 4000 + n, 'CIEL', 20 * n, 100 * n - 4, (100 * n - 4 + 97 + 1000 * (20 * n % 13)) % 20000 + 1,
           CASE WHEN n % 2 = 1 THEN 'BROADER-THAN' END, n % 2 = 0,
           '2016-08-24 08:00:00', n * 5 % 26, n * 3331 % 32400
      FROM s WHERE n <= 200
    UNION ALL
    SELECT 4200 + n, 'CIEL', 4000 + n, 20000 + n, n * 37 % 20000 + 1,
           'Q-AND-A', false, '2016-09-01 08:00:00', n % 27, n * 4099 % 32340 + 60
      FROM s WHERE n <= 100
    UNION ALL
    SELECT 40000 + n, 'PIH', n, 1000 + 3 * n, 1000 + 7 * n % 300 + 1,
           NULL, false,
           CASE WHEN 3 * n <= 250 AND 7 * n % 300 + 1 <= 250
                THEN '2016-02-01 08:00:00' ELSE '2016-04-01 08:00:00' END,
           n * 5 % CASE WHEN 3 * n <= 250 AND 7 * n % 300 + 1 <= 250 THEN 38 ELSE 50 END,
           n * 2711 % 32400
      FROM s WHERE n <= 100
    UNION ALL
    SELECT 40100 + n, 'PIH', 10 * n, 1000 + 30 * n, 1000 + 70 * n % 300 + 1,
           NULL, n % 2 = 0, '2016-07-05 08:00:00', n * 7 % 80, n * 2711 % 32400
      FROM s WHERE n <= 10
),
kind(i, name) AS (VALUES
    (0, 'SAME-AS'), (1, 'NARROWER-THAN'), (2, 'BROADER-THAN'), (3, 'Q-AND-A'), (4, 'CONCEPT-SET')
)
SELECT mv.mapping_id,
       '/orgs/' || mv.src || '/sources/' || mv.src || '/',
       mv.m::text,
       NULL,
       coalesce(mv.map_type, kind.name),
       '/orgs/' || mv.src || '/sources/' || mv.src || '/concepts/' || mv.a || '/',
       '/orgs/' || mv.src || '/sources/' || mv.src || '/concepts/' || mv.b || '/',
       mv.retired,
       to_char(mv.base::timestamp + mv.d * interval '1 day' + mv.t * interval '1 second',
               'YYYY-MM-DD"T"HH24:MI:SS"Z"')
  FROM mv
  JOIN kind ON kind.i = mv.m % CASE mv.src WHEN 'PIH' THEN 3 ELSE 5 END
 ORDER BY mv.mapping_id;

-- A source's version holds, of each of its concepts and mappings, the
-- newest version updated at or before the version's last_updated; HEAD
-- holds the newest of all.
INSERT INTO version_concepts (version_url, concept_id)
SELECT v.url, c.concept_id
  FROM repository_versions v
  JOIN repositories r ON r.url = v.repository_url AND r.repo_type = 'sources'
  JOIN concepts c ON c.source_url = r.url
 WHERE (v.id = 'HEAD' OR c.updated_on <= v.last_updated)
   AND NOT EXISTS (SELECT 1 FROM concepts n
                    WHERE n.source_url = c.source_url AND n.id = c.id
                      AND n.concept_id > c.concept_id
                      AND (v.id = 'HEAD' OR n.updated_on <= v.last_updated))
 ORDER BY v.url, c.concept_id;

INSERT INTO version_mappings (version_url, mapping_id)
SELECT v.url, m.mapping_id
  FROM repository_versions v
  JOIN repositories r ON r.url = v.repository_url AND r.repo_type = 'sources'
  JOIN mappings m ON m.source_url = r.url
 WHERE (v.id = 'HEAD' OR m.updated_on <= v.last_updated)
   AND NOT EXISTS (SELECT 1 FROM mappings n
                    WHERE n.source_url = m.source_url AND n.id = m.id
                      AND n.mapping_id > m.mapping_id
                      AND (v.id = 'HEAD' OR n.updated_on <= v.last_updated))
 ORDER BY v.url, m.mapping_id;

-- A collection's version holds the concepts it references, each in the
-- version its source's HEAD had at the collection version's last_updated
-- (HEAD: the newest), and the mappings from those concepts, likewise.
-- StarterSet references CIEL concepts 100k - 39 (v1.1: k <= 150, of which
-- 118 existed then; v1.2: k <= 200; HEAD: those, the edited 50k, k <= 10,
-- and the added 20000 + j, j <= 20); MCH the PIH concepts 1000 + n with
-- n % 4 = 1 and CIEL 100k - 39, k <= 25 (v1: 21 of them), and (HEAD) also
-- PIH n % 4 = 3, n <= 100.
INSERT INTO version_concepts (version_url, concept_id)
WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 300),
mch(url) AS (VALUES ('/users/amina/collections/MCH/v1/'), ('/users/amina/collections/MCH/HEAD/')),
ref(version_url, source_url, id) AS (
    SELECT '/orgs/CIEL/collections/StarterSet/v1.1/', '/orgs/CIEL/sources/CIEL/', 100 * n - 39
      FROM s WHERE n <= 150
    UNION ALL
    SELECT '/orgs/CIEL/collections/StarterSet/v1.2/', '/orgs/CIEL/sources/CIEL/', 100 * n - 39
      FROM s WHERE n <= 200
    UNION ALL
    SELECT '/orgs/CIEL/collections/StarterSet/HEAD/', '/orgs/CIEL/sources/CIEL/', 100 * n - 39
      FROM s WHERE n <= 200
    UNION ALL
    SELECT '/orgs/CIEL/collections/StarterSet/HEAD/', '/orgs/CIEL/sources/CIEL/', 50 * n
      FROM s WHERE n <= 10
    UNION ALL
    SELECT '/orgs/CIEL/collections/StarterSet/HEAD/', '/orgs/CIEL/sources/CIEL/', 20000 + n
      FROM s WHERE n <= 20
    UNION ALL
    SELECT mch.url, '/orgs/PIH/sources/PIH/', 1000 + n FROM s, mch WHERE n % 4 = 1
    UNION ALL
    SELECT mch.url, '/orgs/CIEL/sources/CIEL/', 100 * n - 39 FROM s, mch WHERE n <= 25
    UNION ALL
    SELECT '/users/amina/collections/MCH/HEAD/', '/orgs/PIH/sources/PIH/', 1000 + n
      FROM s WHERE n % 4 = 3 AND n <= 100
)
SELECT ref.version_url, c.concept_id
  FROM ref
  JOIN repository_versions v ON v.url = ref.version_url
  JOIN concepts c ON c.source_url = ref.source_url AND c.id = ref.id::text
 WHERE (v.id = 'HEAD' OR c.updated_on <= v.last_updated)
   AND NOT EXISTS (SELECT 1 FROM concepts n
                    WHERE n.source_url = c.source_url AND n.id = c.id
                      AND n.concept_id > c.concept_id
                      AND (v.id = 'HEAD' OR n.updated_on <= v.last_updated))
 ORDER BY ref.version_url, c.concept_id;

INSERT INTO version_mappings (version_url, mapping_id)
SELECT v.url, m.mapping_id
  FROM repository_versions v
  JOIN repositories r ON r.url = v.repository_url AND r.repo_type = 'collections'
  JOIN version_concepts vc ON vc.version_url = v.url
  JOIN concepts c ON c.concept_id = vc.concept_id
  JOIN mappings m ON m.from_concept = c.source_url || 'concepts/' || c.id || '/'
 WHERE (v.id = 'HEAD' OR m.updated_on <= v.last_updated)
   AND NOT EXISTS (SELECT 1 FROM mappings n
                    WHERE n.source_url = m.source_url AND n.id = m.id
                      AND n.mapping_id > m.mapping_id
                      AND (v.id = 'HEAD' OR n.updated_on <= v.last_updated))
 ORDER BY v.url, m.mapping_id;
