#!/bin/sh
# ocl-schema.sh -- proves the terminology server demo's database with
# plain SQL, on SQLite and on a throwaway PostgreSQL (t/pg.sh): the rules
# of conf/ocl-sqlite.sql and conf/ocl-pgsql.sql broken once are rejected
# with their message, a new version and an edit of HEAD read back through
# the views as the API shows them, the seed is what the files say (version
# keys are URL paths, content keys unique, releases frozen, HEAD's
# lastUpdated its newest content), a version's content is read in key
# order without a sort, the sections of conf/ocl-sections.inc name
# columns the views have, and both backends hold the same rows.
#
#   sh t/ocl-schema.sh        both backends
#   OCL_BACKENDS=sqlite sh t/ocl-schema.sh
#
# Prints one line per check and "N passed, N failed"; exits 1 if any
# failed. Started as root it re-runs itself as XPORT_TEST_USER
# (xporttest; initdb refuses root) from a copy that user can read.
set -u

DEMO=ocl
BACKENDS_VAR=OCL_BACKENDS
BACKENDS=${OCL_BACKENDS:-sqlite pgsql}

# Values the checks share; @NAME@ in a check's SQL becomes its value.
CIEL='/orgs/CIEL/sources/CIEL/'
RELEASE='/orgs/CIEL/sources/CIEL/v2016-08-22/'
HEAD='/orgs/CIEL/sources/CIEL/HEAD/'
NAMES='[{"name":"Acute fever","locale":"en","locale_preferred":true,"name_type":"FULLY_SPECIFIED"}]'
subst() {
    sed -e "s|@CIEL@|$CIEL|g" -e "s|@RELEASE@|$RELEASE|g" \
        -e "s|@HEAD@|$HEAD|g" -e "s|@NAMES@|$NAMES|g"
}

# The backends write booleans as 0/1 and f/t: checks print them as this.
B_RELEASED="CASE WHEN released THEN 'true' ELSE 'false' END"
B_RETIRED="CASE WHEN retired THEN 'true' ELSE 'false' END"

. "$(dirname "$0")/lib/demo-schema.sh"

# ----------------------------------------------------- owners, repositories

reject "repositories: a url that is not the repository's path" \
    "a repository's url is /<orgs|users>/<owner>/<repo_type>/<id>/" \
    "a repository's url is /<orgs|users>/<owner>/<repo_type>/<id>/" <<'SQL'
INSERT INTO repositories (url, org_id, user_id, repo_type, id, name, created_on)
VALUES ('/orgs/PIH/sources/Lab/', 'CIEL', NULL, 'sources', 'Lab', 'Lab', '2016-08-22T12:28:20Z');
SQL

reject "repositories: owned by an org and a user" \
    "a repository has one owner: an org or a user" \
    "a repository has one owner: an org or a user" <<'SQL'
INSERT INTO repositories (url, org_id, user_id, repo_type, id, name, created_on)
VALUES ('/orgs/CIEL/sources/Lab/', 'CIEL', 'amina', 'sources', 'Lab', 'Lab', '2016-08-22T12:28:20Z');
SQL

reject "repositories: owned by nobody" \
    "a repository has one owner: an org or a user" \
    "a repository has one owner: an org or a user" <<'SQL'
INSERT INTO repositories (url, org_id, user_id, repo_type, id, name, created_on)
VALUES ('/users//sources/Lab/', NULL, NULL, 'sources', 'Lab', 'Lab', '2016-08-22T12:28:20Z');
SQL

reject "repositories: a repo_type other than sources or collections" \
    "repo_type must be sources or collections" \
    "repo_type must be sources or collections" <<'SQL'
INSERT INTO repositories (url, org_id, user_id, repo_type, id, name, created_on)
VALUES ('/orgs/CIEL/dictionaries/Lab/', 'CIEL', NULL, 'dictionaries', 'Lab', 'Lab', '2016-08-22T12:28:20Z');
SQL

reject "orgs: an id with a slash" \
    "an id is letters, digits, . _ - or @" \
    "an id is letters, digits, . _ - or @" <<'SQL'
INSERT INTO orgs (id, name, created_on) VALUES ('MSF/OCA', 'MSF', '2016-08-22T12:28:20Z');
SQL

# ------------------------------------------------------------ versions

reject "versions: a url that is not the repository's url, the id and /" \
    "a version's url is its repository's url, its id and /" \
    "a version's url is its repository's url, its id and /" <<'SQL'
INSERT INTO repository_versions (url, repository_url, id, released, created_on, last_updated)
VALUES ('/orgs/CIEL/sources/CIEL/v2016-09-30', '@CIEL@', 'v2016-09-30', 1 = 1, '2016-09-30T10:00:00Z', '2016-09-30T10:00:00Z');
SQL

reject "versions: a second HEAD" \
    "UNIQUE constraint failed: repository_versions.repository_url, repository_versions.id" \
    'violates unique constraint "repository_versions_pkey"' <<'SQL'
INSERT INTO repository_versions (url, repository_url, id, released, created_on, last_updated)
VALUES ('@HEAD@', '@CIEL@', 'HEAD', 1 = 0, '2016-09-30T10:00:00Z', '2016-09-30T10:00:00Z');
SQL

reject "versions: a released HEAD" \
    "HEAD is never released" \
    "HEAD is never released" <<'SQL'
UPDATE repository_versions SET released = 1 = 1 WHERE url = '@HEAD@';
SQL

reject "versions: an id with a slash" \
    "an id is letters, digits, . _ - or @" \
    "an id is letters, digits, . _ - or @" <<'SQL'
INSERT INTO repository_versions (url, repository_url, id, released, created_on, last_updated)
VALUES ('/orgs/CIEL/sources/CIEL/v1/2/', '@CIEL@', 'v1/2', 1 = 1, '2016-09-30T10:00:00Z', '2016-09-30T10:00:00Z');
SQL

reject "versions: last_updated not in UTC" \
    "last_updated must be UTC like 2016-08-22T12:28:20Z" \
    "last_updated must be UTC like 2016-08-22T12:28:20Z" <<'SQL'
INSERT INTO repository_versions (url, repository_url, id, released, created_on, last_updated)
VALUES ('/orgs/CIEL/sources/CIEL/v2016-09-30/', '@CIEL@', 'v2016-09-30', 1 = 1, '2016-09-30T10:00:00Z', '2016-09-30 12:00:00+02:00');
SQL

# ------------------------------------------------- concepts, mappings

reject "concepts: names that are not a JSON array" \
    "names must be a JSON array" \
    "names must be a JSON array" <<'SQL'
INSERT INTO concepts (concept_id, source_url, id, concept_class, datatype, names, updated_on)
VALUES (99001, '@CIEL@', '99001', 'Diagnosis', 'N/A', '{"name":"Acute fever"}', '2016-09-30T10:00:00Z');
SQL

reject "concepts: descriptions that are not a JSON array" \
    "descriptions must be a JSON array" \
    "descriptions must be a JSON array" <<'SQL'
INSERT INTO concepts (concept_id, source_url, id, concept_class, datatype, names, descriptions, updated_on)
VALUES (99001, '@CIEL@', '99001', 'Diagnosis', 'N/A', '@NAMES@', '"Fever"', '2016-09-30T10:00:00Z');
SQL

reject "concepts: names that are not JSON" \
    "names must be a JSON array" \
    "invalid input syntax for type json" <<'SQL'
INSERT INTO concepts (concept_id, source_url, id, concept_class, datatype, names, updated_on)
VALUES (99001, '@CIEL@', '99001', 'Diagnosis', 'N/A', '[{name: Acute fever}]', '2016-09-30T10:00:00Z');
SQL

reject "concepts: retired neither true nor false" \
    "retired must be true or false" \
    "invalid input syntax for type boolean" <<'SQL'
INSERT INTO concepts (concept_id, source_url, id, concept_class, datatype, names, retired, updated_on)
VALUES (99001, '@CIEL@', '99001', 'Diagnosis', 'N/A', '@NAMES@', '2', '2016-09-30T10:00:00Z');
SQL

reject "concepts: updated_on not in UTC" \
    "updated_on must be UTC like 2016-08-22T12:28:20Z" \
    "updated_on must be UTC like 2016-08-22T12:28:20Z" <<'SQL'
INSERT INTO concepts (concept_id, source_url, id, concept_class, datatype, names, updated_on)
VALUES (99001, '@CIEL@', '99001', 'Diagnosis', 'N/A', '@NAMES@', '2016-09-30');
SQL

reject "mappings: a to_concept that is not a concept URL" \
    "to_concept must be like /orgs/CIEL/sources/CIEL/concepts/1/" \
    "to_concept must be like /orgs/CIEL/sources/CIEL/concepts/1/" <<'SQL'
INSERT INTO mappings (mapping_id, source_url, id, map_type, from_concept, to_concept, updated_on)
VALUES (99001, '@CIEL@', '99001', 'SAME-AS', '@CIEL@concepts/1/', '1234', '2016-09-30T10:00:00Z');
SQL

reject "membership: the same concept version twice in a version" \
    "UNIQUE constraint failed: version_concepts.version_url, version_concepts.concept_id" \
    'violates unique constraint "version_concepts_pkey"' <<'SQL'
INSERT INTO version_concepts (version_url, concept_id) VALUES ('@RELEASE@', 1236);
SQL

if has pgsql; then
    BACKENDS_SAVED=$BACKENDS
    BACKENDS=pgsql
    reject "membership: a version that does not exist" \
        "" 'violates foreign key constraint "version_concepts_version_url_fkey"' <<'SQL'
INSERT INTO version_concepts (version_url, concept_id) VALUES ('/orgs/CIEL/sources/CIEL/v9/', 1236);
SQL
    BACKENDS=$BACKENDS_SAVED
fi

# --------------------------------------------------- through the views

accept "a new release of CIEL: versions_api shows it under its URL path, the type, owner and repository" \
    '/orgs/CIEL/sources/CIEL/v2016-09-30/|v2016-09-30|Source Version|orgs|CIEL|sources|CIEL|true|2016-09-30T10:00:00Z\n2|/orgs/CIEL/sources/CIEL/v2016-09-30/|1236|/orgs/CIEL/sources/CIEL/concepts/1236/\n/orgs/CIEL/sources/CIEL/v2016-09-30/|1236' <<'SQL'
INSERT INTO repository_versions (url, repository_url, id, description, released, created_on, last_updated)
VALUES ('/orgs/CIEL/sources/CIEL/v2016-09-30/', '@CIEL@', 'v2016-09-30', 'Release of 30 September 2016', 1 = 1,
        '2016-09-30T10:00:00Z', '2016-09-30T10:00:00Z');
INSERT INTO version_concepts (version_url, concept_id)
VALUES ('/orgs/CIEL/sources/CIEL/v2016-09-30/', 1236), ('/orgs/CIEL/sources/CIEL/v2016-09-30/', 20025);
SELECT url, id, object_type, owner_type, owner, repo_type, repo,
       CASE WHEN released THEN 'true' ELSE 'false' END, last_updated
  FROM versions_api WHERE url = '/orgs/CIEL/sources/CIEL/v2016-09-30/';
SELECT count(*), min(version_url), min(id), min(url)
  FROM concepts_in_version WHERE version_url = '/orgs/CIEL/sources/CIEL/v2016-09-30/';
SELECT uid FROM concepts_in_version
 WHERE version_url = '/orgs/CIEL/sources/CIEL/v2016-09-30/' AND id = '1236';
SQL

accept "an edit of HEAD: a new version of a concept moves HEAD's last_updated, not the release's" \
    '/orgs/CIEL/sources/CIEL/HEAD/|2016-10-01T09:30:00Z\n/orgs/CIEL/sources/CIEL/v2016-08-22/|2016-08-22T12:28:20Z\n1|99001|Acute fever|true' <<'SQL'
INSERT INTO concepts (concept_id, source_url, id, concept_class, datatype, names, retired, updated_on)
VALUES (99001, '@CIEL@', '1236', 'Drug', 'N/A', '@NAMES@', 1 = 1, '2016-10-01T09:30:00Z');
DELETE FROM version_concepts WHERE version_url = '@HEAD@' AND concept_id = 1236;
INSERT INTO version_concepts (version_url, concept_id) VALUES ('@HEAD@', 99001);
SELECT url, last_updated FROM versions_api WHERE repo = 'CIEL' ORDER BY last_updated DESC;
SELECT count(*), min(version),
       CASE WHEN min(CAST(names AS TEXT)) LIKE '%Acute fever%' THEN 'Acute fever' END,
       CASE WHEN min(updated_on) = '2016-10-01T09:30:00Z' AND count(*) = 1 THEN 'true' ELSE 'false' END
  FROM concepts_in_version
 WHERE version_url = '@HEAD@' AND updated_on >= '2016-10-01T00:00:00Z';
SQL

# ---------------------------------------------------------------- seed

accept "seed: 2 orgs, 2 users, 4 repositories, 10 versions (a HEAD each, never released)" \
    '2|2|4|10|4|0' <<'SQL'
SELECT (SELECT count(*) FROM orgs), (SELECT count(*) FROM users),
       (SELECT count(*) FROM repositories), (SELECT count(*) FROM versions_api),
       (SELECT count(DISTINCT repo_type || owner || repo) FROM versions_api WHERE id = 'HEAD'),
       (SELECT count(*) FROM versions_api WHERE id = 'HEAD' AND released);
SQL

accept "seed: 20,830 concept versions, 4,410 mapping versions; concepts and mappings of each version" \
    '20830|4410
/orgs/CIEL/collections/StarterSet/HEAD/|Collection Version|false|230|220
/orgs/CIEL/collections/StarterSet/v1.1/|Collection Version|true|118|91
/orgs/CIEL/collections/StarterSet/v1.2/|Collection Version|true|200|200
/orgs/CIEL/sources/CIEL/HEAD/|Source Version|false|20100|4100
/orgs/CIEL/sources/CIEL/v2016-08-22/|Source Version|true|20000|4000
/orgs/PIH/sources/PIH/HEAD/|Source Version|false|300|100
/orgs/PIH/sources/PIH/v1.0/|Source Version|true|250|71
/orgs/PIH/sources/PIH/v1.1/|Source Version|true|300|100
/users/amina/collections/MCH/HEAD/|Collection Version|false|125|59
/users/amina/collections/MCH/v1/|Collection Version|false|96|42' <<SQL
SELECT (SELECT count(*) FROM concepts), (SELECT count(*) FROM mappings);
SELECT v.url, v.object_type, $B_RELEASED,
       (SELECT count(*) FROM concepts_in_version c WHERE c.version_url = v.url),
       (SELECT count(*) FROM mappings_in_version m WHERE m.version_url = v.url)
  FROM versions_api v ORDER BY v.url;
SQL

accept "seed: every version's key is /owner_type/owner/repo_type/repo/id/" \
    '10' <<'SQL'
SELECT count(*) FROM versions_api
 WHERE url = '/' || owner_type || '/' || owner || '/' || repo_type || '/' || repo || '/' || id || '/'
   AND owner_type IN ('orgs', 'users') AND repo_type IN ('sources', 'collections');
SQL

accept "seed: a repository's versions newest first (HEAD's last_updated is its newest content)" \
    'HEAD|2016-09-27T14:27:47Z\nv2016-08-22|2016-08-22T12:28:20Z\nHEAD|2016-09-29T12:35:30Z\nv1.1|2016-06-01T10:30:00Z\nv1.0|2016-03-15T09:00:00Z\nHEAD|2016-10-03T07:30:00Z\nv1|2016-07-15T16:45:00Z' <<'SQL'
SELECT id, last_updated FROM versions_api
 WHERE owner_type = 'orgs' AND owner = 'CIEL' AND repo_type = 'sources' AND repo = 'CIEL'
 ORDER BY last_updated DESC;
SELECT id, last_updated FROM versions_api
 WHERE owner_type = 'orgs' AND owner = 'PIH' AND repo_type = 'sources' AND repo = 'PIH'
 ORDER BY last_updated DESC;
SELECT id, last_updated FROM versions_api
 WHERE owner_type = 'users' AND owner = 'amina' AND repo_type = 'collections' AND repo = 'MCH'
 ORDER BY last_updated DESC;
SQL

accept "seed: HEAD's last_updated is the newest of its stored one and its content's updated_on" \
    '/orgs/CIEL/collections/StarterSet/HEAD/|true\n/orgs/CIEL/sources/CIEL/HEAD/|true\n/orgs/PIH/sources/PIH/HEAD/|true\n/users/amina/collections/MCH/HEAD/|true' <<'SQL'
SELECT v.url,
       CASE WHEN v.last_updated = (
           SELECT max(t) FROM (
               SELECT r.last_updated AS t FROM repository_versions r WHERE r.url = v.url
               UNION ALL
               SELECT c.updated_on FROM version_concepts vc
                 JOIN concepts c ON c.concept_id = vc.concept_id
                WHERE vc.version_url = v.url
               UNION ALL
               SELECT m.updated_on FROM version_mappings vm
                 JOIN mappings m ON m.mapping_id = vm.mapping_id
                WHERE vm.version_url = v.url) x)
            THEN 'true' ELSE 'false' END
  FROM versions_api v WHERE v.id = 'HEAD' ORDER BY v.url;
SQL

accept "seed: no content of a released or named version is newer than its last_updated" \
    '0|0' <<'SQL'
SELECT (SELECT count(*) FROM concepts_in_version c JOIN versions_api v ON v.url = c.version_url
         WHERE v.id <> 'HEAD' AND c.updated_on > v.last_updated),
       (SELECT count(*) FROM mappings_in_version m JOIN versions_api v ON v.url = m.version_url
         WHERE v.id <> 'HEAD' AND m.updated_on > v.last_updated);
SQL

accept "seed: content keys are unique, <version_url>|<version>, one version of each concept and mapping per repository version" \
    '41719|41719|41719|41719\n8983|8983|8983|8983' <<'SQL'
SELECT count(*), count(DISTINCT uid),
       sum(CASE WHEN uid = version_url || '|' || version THEN 1 ELSE 0 END),
       count(DISTINCT version_url || url)
  FROM concepts_in_version;
SELECT count(*), count(DISTINCT uid),
       sum(CASE WHEN uid = version_url || '|' || version THEN 1 ELSE 0 END),
       count(DISTINCT version_url || url)
  FROM mappings_in_version;
SQL

accept "seed: in every source version each mapping's from and to concepts are in that version" \
    '0|0|8371' <<'SQL'
SELECT (SELECT count(*) FROM mappings_in_version m
          JOIN repository_versions v ON v.url = m.version_url
          JOIN repositories r ON r.url = v.repository_url
         WHERE r.repo_type = 'sources'
           AND NOT EXISTS (SELECT 1 FROM concepts c
                             JOIN version_concepts vc ON vc.concept_id = c.concept_id
                            WHERE vc.version_url = m.version_url
                              AND c.source_url = m.from_source_url AND c.id = m.from_concept_code)),
       (SELECT count(*) FROM mappings_in_version m
          JOIN repository_versions v ON v.url = m.version_url
          JOIN repositories r ON r.url = v.repository_url
         WHERE r.repo_type = 'sources'
           AND NOT EXISTS (SELECT 1 FROM concepts c
                             JOIN version_concepts vc ON vc.concept_id = c.concept_id
                            WHERE vc.version_url = m.version_url
                              AND c.source_url = m.to_source_url AND c.id = m.to_concept_code)),
       (SELECT count(*) FROM mappings_in_version m
          JOIN repository_versions v ON v.url = m.version_url
          JOIN repositories r ON r.url = v.repository_url
         WHERE r.repo_type = 'sources'
           AND m.from_concept = m.from_source_url || 'concepts/' || m.from_concept_code || '/'
           AND m.to_concept = m.to_source_url || 'concepts/' || m.to_concept_code || '/');
SQL

accept "seed: updatedSince selects a subset (CIEL HEAD since the release: 400 edited and 100 added concepts, 300 mappings; the release since 2016-08-01: 1580)" \
    '500|300|1580|20000' <<'SQL'
SELECT (SELECT count(*) FROM concepts_in_version
         WHERE version_url = '@HEAD@' AND updated_on >= '2016-08-22T12:28:20Z'),
       (SELECT count(*) FROM mappings_in_version
         WHERE version_url = '@HEAD@' AND updated_on >= '2016-08-22T12:28:20Z'),
       (SELECT count(*) FROM concepts_in_version
         WHERE version_url = '@RELEASE@' AND updated_on >= '2016-08-01T00:00:00Z'),
       (SELECT count(*) FROM concepts_in_version WHERE version_url = '@RELEASE@');
SQL

accept "seed: updated_on is spread over days (CIEL's release: 228 days, at most 88 concepts a day)" \
    '228|88' <<'SQL'
SELECT count(*), max(n) FROM (
    SELECT substr(updated_on, 1, 10) AS day, count(*) AS n FROM concepts_in_version
     WHERE version_url = '@RELEASE@' GROUP BY substr(updated_on, 1, 10)) d;
SQL

accept "seed: every concept has an English fully specified name first; names and descriptions are arrays" \
    '20830|20830|20830' <<'SQL'
SELECT count(*),
       sum(CASE WHEN CAST(names AS TEXT) LIKE '[{"name":"%","locale":"en","locale_preferred":true,"name_type":"FULLY_SPECIFIED"}%]' THEN 1 ELSE 0 END),
       sum(CASE WHEN CAST(descriptions AS TEXT) LIKE '[%]' THEN 1 ELSE 0 END)
  FROM concepts;
SQL

accept "seed: a concept of HEAD (edited after the release) and of the release, in key order" \
    "$HEAD|20025|$HEAD|Concept|1250|1250AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA|Diagnosis|N/A|[{\"name\":\"Severe cold\",\"locale\":\"en\",\"locale_preferred\":true,\"name_type\":\"FULLY_SPECIFIED\"},{\"name\":\"cold 1250\",\"locale\":\"en\",\"locale_preferred\":false,\"name_type\":\"SHORT\"}]|[]|false|CIEL|/orgs/CIEL/sources/CIEL/concepts/1250/|20025|2016-08-30T09:27:55Z
$RELEASE|1250|$RELEASE|Concept|1250|1250AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA|Diagnosis|N/A|[{\"name\":\"Severe cold\",\"locale\":\"en\",\"locale_preferred\":true,\"name_type\":\"FULLY_SPECIFIED\"}]|[]|false|CIEL|/orgs/CIEL/sources/CIEL/concepts/1250/|1250|2016-07-16T12:39:10Z" <<SQL
SELECT uid, version_url, object_type, id, external_id, concept_class, datatype,
       names, descriptions, $B_RETIRED, source, url, version, updated_on
  FROM concepts_in_version
 WHERE source = 'CIEL' AND id = '1250' ORDER BY uid;
SQL

accept "seed: a mapping of HEAD as the view shows it (retired after the release)" \
    "$HEAD|4002|Mapping|40|SAME-AS|$CIEL|${CIEL}concepts/196/|196|$CIEL|${CIEL}concepts/1294/|1294|true|CIEL|${CIEL}mappings/40/|4002|2016-09-03T09:51:02Z" <<SQL
SELECT uid, object_type, id, map_type, from_source_url, from_concept, from_concept_code,
       to_source_url, to_concept, to_concept_code, $B_RETIRED, source, url, version, updated_on
  FROM mappings_in_version
 WHERE version_url = '@HEAD@' AND id = '40';
SQL

if has sqlite; then
    echo "PRAGMA foreign_key_check;" | sql sqlite >"$WORK/out"
    if [ ! -s "$WORK/out" ]; then
        pass "sqlite: seed: PRAGMA foreign_key_check finds nothing"
    else
        head -n 20 "$WORK/out" >"$WORK/diff"
        fail "sqlite: seed: PRAGMA foreign_key_check" "$WORK/diff"
    fi
fi

# ----------------------------------------------- a version's export reads
# A version's content is read as the module reads it (WHERE on version_url,
# ORDER BY the key; on PostgreSQL with enable_sort off): through the index
# on (version_url, uid), without sorting the version's rows.

for view in concepts_in_version mappings_in_version; do
    q="SELECT uid FROM $view xp_row WHERE (version_url = '$RELEASE') ORDER BY uid"
    for b in $BACKENDS; do
        case $b in
        sqlite) echo "EXPLAIN QUERY PLAN $q;" | sql sqlite >"$WORK/out" ;;
        pgsql) printf 'SET enable_sort = off;\nEXPLAIN %s;\n' "$q" | sql pgsql >"$WORK/out" ;;
        esac
        if grep -q "_in_version" "$WORK/out" && ! grep -qi "sort\|b-tree" "$WORK/out"; then
            pass "$b: a version's $view in key order by its index, no sort"
        else
            fail "$b: a version's $view: another plan" "$WORK/out"
        fi
    done
done

# --------------------------------------- the sections name real columns
# Each XportSection of conf/ocl-sections.inc: its table= has its
# columns=, and key= and updated= are among them (what the module checks
# at start, here without a server).

sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$TOP/conf/ocl-sections.inc" |
    grep '^XportSection ' >"$WORK/sections"
n=0
while read -r _ name opts; do
    n=$((n + 1))
    table='' columns='' key='' updated=''
    for o in $opts; do
        case $o in
        table=*) table=${o#table=} ;;
        columns=*) columns=${o#columns=} ;;
        key=*) key=${o#key=} ;;
        updated=*) updated=${o#updated=} ;;
        esac
    done
    case ",$columns," in
    *",$key,"*",$updated,"* | *",$updated,"*",$key,"*) ;;
    *)
        echo "key=$key updated=$updated columns=$columns" >"$WORK/out"
        fail "sections: $name: key= and updated= among columns=" "$WORK/out"
        continue
        ;;
    esac
    for b in $BACKENDS; do
        if echo "SELECT $columns FROM $table WHERE 1 = 0;" | sql "$b" >"$WORK/out"; then
            pass "$b: sections: $name reads $table ($key, $updated)"
        else
            fail "$b: sections: $name reads $table" "$WORK/out"
        fi
    done
done <"$WORK/sections"
if [ "$n" = 3 ]; then
    pass "sections: versions, concepts, mappings"
else
    echo "$n XportSection lines" >"$WORK/out"
    fail "sections: three XportSection lines" "$WORK/out"
fi

# ------------------------------------------- both backends, same rows
# Each view read as an export reads it (its columns, ORDER BY key), and
# the tables behind them.

same_rows \
        "versions_api|SELECT url, id, object_type, owner_type, owner, repo_type, repo, description, $B_RELEASED, created_on, last_updated FROM versions_api ORDER BY url;" \
        "concepts_in_version|SELECT uid, version_url, object_type, id, external_id, concept_class, datatype, names, descriptions, $B_RETIRED, source, url, version, updated_on FROM concepts_in_version ORDER BY uid;" \
        "mappings_in_version|SELECT uid, version_url, object_type, id, external_id, map_type, from_source_url, from_concept, from_concept_code, to_source_url, to_concept, to_concept_code, $B_RETIRED, source, url, version, updated_on FROM mappings_in_version ORDER BY uid;" \
        "orgs|SELECT id, name, website, created_on FROM orgs ORDER BY id;" \
        "users|SELECT id, name, created_on FROM users ORDER BY id;" \
        "repositories|SELECT url, org_id, user_id, repo_type, id, name, description, created_on FROM repositories ORDER BY url;" \
        "repository_versions|SELECT url, repository_url, id, description, $B_RELEASED, created_on, last_updated FROM repository_versions ORDER BY url;" \
        "concepts|SELECT concept_id, source_url, id, external_id, concept_class, datatype, names, descriptions, $B_RETIRED, updated_on FROM concepts ORDER BY concept_id;" \
        "mappings|SELECT mapping_id, source_url, id, external_id, map_type, from_concept, to_concept, $B_RETIRED, updated_on FROM mappings ORDER BY mapping_id;" \
        "version_concepts|SELECT version_url, concept_id FROM version_concepts ORDER BY version_url, concept_id;" \
        "version_mappings|SELECT version_url, mapping_id FROM version_mappings ORDER BY version_url, mapping_id;"

finish
