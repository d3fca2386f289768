/*
 * config.c -- the XportXxx directives (SPEC section 2): one command table,
 * one setter per directive, merging with sentinels, the effective values
 * with their defaults, and the post_config preparation of every server
 * (storage directories, column discovery, job store schema).
 *
 * A bad value is refused here, at configuration time, with a message
 * naming the directive and the value, so `apachectl configtest` catches it
 * before a restart does.
 */
#include <unistd.h>
#include <sys/stat.h>

#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_file_info.h>
#include <apr_file_io.h>

#include <http_core.h>
#include <http_main.h>
#include <ap_provider.h>
#include <unixd.h>

#include "mod_xport_private.h"
#include "xp_store.h"
#include "xp_source.h"
#include "xp_cred.h"

#define XPORT_DEFAULT_STORAGE "/var/lib/xport"
#define XPORT_DEFAULT_WORKERS 2
#define XPORT_DEFAULT_JOBS_USER 1
#define XPORT_DEFAULT_ARCHIVE ((apr_off_t)200 * 1024 * 1024)
#define XPORT_DEFAULT_UPLOAD ((apr_off_t)200 * 1024 * 1024)
#define XPORT_DEFAULT_UNCOMP ((apr_off_t)2 * 1024 * 1024 * 1024)
#define XPORT_DEFAULT_TIMEOUT apr_time_from_sec(15 * 60)
#define XPORT_DEFAULT_RETENTION apr_time_from_sec(7 * 24 * 3600)
#define XPORT_DEFAULT_LINK_LIFETIME apr_time_from_sec(3600)
#define XPORT_DEFAULT_SYNC_WAIT apr_time_from_sec(100)
#define XPORT_DEFAULT_RETRY_WINDOW apr_time_from_sec(60)

/* ------------------------------------------------------------------ */
/* Creation and merging                                                  */
/* ------------------------------------------------------------------ */

void *xport_create_srv_cfg(apr_pool_t *p, server_rec *s)
{
    xport_srv_cfg *c = apr_pcalloc(p, sizeof(*c));

    (void)s;
    c->workers = -1;
    c->max_jobs_per_user = -1;
    c->max_archive_size = -1;
    c->max_upload_size = -1;
    c->max_uncompressed_size = -1;
    c->job_timeout = -1;
    c->retention = -1;
    c->sync_wait = -1;
    c->max_event_streams = -1;
    c->retry_window = -1;
    return c;
}

#define MERGE_PTR(f) c->f = add->f ? add->f : base->f
#define MERGE_NUM(f) c->f = (add->f != -1) ? add->f : base->f

void *xport_merge_srv_cfg(apr_pool_t *p, void *basev, void *addv)
{
    const xport_srv_cfg *base = basev, *add = addv;
    xport_srv_cfg *c = apr_pcalloc(p, sizeof(*c));

    MERGE_PTR(storage);
    /* driver and params travel together: a vhost naming its own store
     * must not inherit half of the main server's */
    c->store_driver =
        add->store_driver ? add->store_driver : base->store_driver;
    c->store_params =
        add->store_driver ? add->store_params : base->store_params;
    c->source_driver =
        add->source_driver ? add->source_driver : base->source_driver;
    c->source_params =
        add->source_driver ? add->source_params : base->source_params;
    MERGE_PTR(sections);
    MERGE_NUM(workers);
    MERGE_NUM(max_jobs_per_user);
    MERGE_NUM(max_archive_size);
    MERGE_NUM(max_upload_size);
    MERGE_NUM(max_uncompressed_size);
    MERGE_NUM(job_timeout);
    MERGE_NUM(retention);
    MERGE_PTR(supervisors);
    MERGE_PTR(instance);
    MERGE_PTR(roles);
    MERGE_NUM(sync_wait);
    MERGE_NUM(max_event_streams);
    MERGE_NUM(retry_window);
    return c;
}

void *xport_create_dir_cfg(apr_pool_t *p, char *dir)
{
    xport_dir_cfg *c = apr_pcalloc(p, sizeof(*c));

    (void)dir;
    c->max_upload_size = -1;
    c->max_jobs_per_tenant = -1;
    c->link_lifetime = -1;
    return c;
}

void *xport_merge_dir_cfg(apr_pool_t *p, void *basev, void *addv)
{
    const xport_dir_cfg *base = basev, *add = addv;
    xport_dir_cfg *c = apr_pcalloc(p, sizeof(*c));

    MERGE_PTR(api);
    MERGE_PTR(tokens);
    MERGE_NUM(max_upload_size);
    MERGE_NUM(max_jobs_per_tenant);
    MERGE_NUM(link_lifetime);
    return c;
}

/* ------------------------------------------------------------------ */
/* Effective values                                                      */
/* ------------------------------------------------------------------ */

const char *xport_cfg_storage(const xport_srv_cfg *c)
{
    return c->storage ? c->storage : XPORT_DEFAULT_STORAGE;
}

void xport_cfg_store(const xport_srv_cfg *c, apr_pool_t *p, const char **driver,
                     const char **params)
{
    if (c->store_driver) {
        *driver = c->store_driver;
        *params = c->store_params;
        return;
    }
    *driver = "sqlite3";
    *params = apr_pstrcat(p, xport_cfg_storage(c), "/jobs.db", NULL);
}

int xport_cfg_workers(const xport_srv_cfg *c)
{
    return c->workers != -1 ? c->workers : XPORT_DEFAULT_WORKERS;
}

int xport_cfg_max_jobs_per_user(const xport_srv_cfg *c)
{
    return c->max_jobs_per_user != -1 ? c->max_jobs_per_user
                                      : XPORT_DEFAULT_JOBS_USER;
}

apr_off_t xport_cfg_max_archive_size(const xport_srv_cfg *c)
{
    return c->max_archive_size != -1 ? c->max_archive_size
                                     : XPORT_DEFAULT_ARCHIVE;
}

apr_off_t xport_cfg_max_upload_size(const xport_srv_cfg *c)
{
    return c->max_upload_size != -1 ? c->max_upload_size : XPORT_DEFAULT_UPLOAD;
}

apr_off_t xport_cfg_max_uncompressed_size(const xport_srv_cfg *c)
{
    return c->max_uncompressed_size != -1 ? c->max_uncompressed_size
                                          : XPORT_DEFAULT_UNCOMP;
}

apr_interval_time_t xport_cfg_job_timeout(const xport_srv_cfg *c)
{
    return c->job_timeout != -1 ? c->job_timeout : XPORT_DEFAULT_TIMEOUT;
}

apr_interval_time_t xport_cfg_retention(const xport_srv_cfg *c)
{
    return c->retention != -1 ? c->retention : XPORT_DEFAULT_RETENTION;
}

apr_interval_time_t xport_cfg_retry_window(const xport_srv_cfg *c)
{
    return c->retry_window != -1 ? c->retry_window
                                 : XPORT_DEFAULT_RETRY_WINDOW;
}

int xport_cfg_max_event_streams(const xport_srv_cfg *c)
{
    int daemons = 0, threads = 0, n;

    if (c->max_event_streams > 0)
        return c->max_event_streams;
    /* MaxRequestWorkers: processes times threads per process */
    if (ap_mpm_query(AP_MPMQ_MAX_DAEMONS, &daemons) != APR_SUCCESS)
        daemons = 0;
    if (ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads) != APR_SUCCESS ||
        threads < 1)
        threads = 1;
    n = daemons * threads / 4;
    return n > 0 ? n : 1;
}

apr_interval_time_t xport_cfg_sync_wait(const xport_srv_cfg *c)
{
    return c->sync_wait != -1 ? c->sync_wait : XPORT_DEFAULT_SYNC_WAIT;
}

apr_array_header_t *xport_cfg_roles(const xport_srv_cfg *c, apr_pool_t *p,
                                    const char *role)
{
    apr_array_header_t *out = apr_array_make(p, 2, sizeof(xport_role_t));
    int i;

    for (i = 0; c->roles && i < c->roles->nelts; i++) {
        const xport_role_t *r = &APR_ARRAY_IDX(c->roles, i, xport_role_t);
        if (!strcmp(r->role, role))
            *(xport_role_t *)apr_array_push(out) = *r;
    }
    return out;
}

static const xport_dir_cfg *dir_cfg(request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &xport_module);
}

apr_off_t xport_cfg_upload_limit(request_rec *r)
{
    const xport_dir_cfg *dc = dir_cfg(r);

    const xport_api_t *api = xport_api_of(r);

    if (dc->max_upload_size != -1)
        return dc->max_upload_size;
    /* an API's own limit (the chat service's 4 MB) is part of its
     * contract: only the <Location> overrides it */
    if (api && api->upload_limit >= 0)
        return api->upload_limit;
    return xport_cfg_max_upload_size(
        ap_get_module_config(r->server->module_config, &xport_module));
}

int xport_cfg_max_jobs_per_tenant(request_rec *r, int dflt)
{
    const xport_dir_cfg *dc = dir_cfg(r);

    return dc->max_jobs_per_tenant != -1 ? dc->max_jobs_per_tenant : dflt;
}

apr_interval_time_t xport_cfg_link_lifetime(request_rec *r)
{
    const xport_dir_cfg *dc = dir_cfg(r);

    return dc->link_lifetime != -1 ? dc->link_lifetime
                                   : XPORT_DEFAULT_LINK_LIFETIME;
}

const char *xport_cfg_instance(const xport_srv_cfg *c, const server_rec *s)
{
    if (c->instance)
        return c->instance;
    return (s && s->server_hostname) ? s->server_hostname : "localhost";
}

const char *xport_server_key(apr_pool_t *p, const server_rec *s)
{
    apr_port_t port = s->port;

    /* <VirtualHost *:8080> without a port in ServerName: take the
     * address's, so two name-less vhosts on two ports stay distinct */
    if (!port && s->addrs)
        port = s->addrs->host_port;
    return apr_psprintf(p, "%s:%u",
                        s->server_hostname ? s->server_hostname : "",
                        (unsigned)port);
}

/* ------------------------------------------------------------------ */
/* Setters                                                               */
/* ------------------------------------------------------------------ */

static xport_srv_cfg *srv_cfg(cmd_parms *cmd)
{
    return ap_get_module_config(cmd->server->module_config, &xport_module);
}

/* Server-scope directives make no sense per <Directory>/<Location>:
 * refuse them there with the core's wording. */
static const char *check_server_scope(cmd_parms *cmd)
{
    return ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);
}

static const char *check_driver(cmd_parms *cmd, const char *driver)
{
    if (strcmp(driver, "sqlite3") && strcmp(driver, "pgsql"))
        return apr_psprintf(cmd->pool,
                            "%s: driver \"%s\" is not supported "
                            "(use sqlite3 or pgsql)",
                            cmd->directive->directive, driver);
    return NULL;
}

static const char *xport_cfg_set_storage(cmd_parms *cmd, void *dc,
                                         const char *arg)
{
    xport_srv_cfg *c = srv_cfg(cmd);
    const char *err = check_server_scope(cmd);

    (void)dc;
    if (err)
        return err;
    c->storage = ap_server_root_relative(cmd->pool, arg);
    if (!c->storage || !*arg)
        return apr_psprintf(cmd->pool,
                            "XportStorage: \"%s\" is not a "
                            "valid directory path",
                            arg);
    return NULL;
}

static const char *xport_cfg_set_job_store(cmd_parms *cmd, void *dc,
                                           const char *driver,
                                           const char *params)
{
    xport_srv_cfg *c = srv_cfg(cmd);
    const char *err = check_server_scope(cmd);

    (void)dc;
    if (err || (err = check_driver(cmd, driver)))
        return err;
    if (!params || !*params)
        return "XportJobStore: missing connection parameters (sqlite3: a "
               "file path, pgsql: \"host=... dbname=...\")";
    c->store_driver = driver;
    c->store_params = strcmp(driver, "sqlite3")
                          ? params
                          : ap_server_root_relative(cmd->pool, params);
    return NULL;
}

static const char *xport_cfg_set_data_source(cmd_parms *cmd, void *dc,
                                             const char *driver,
                                             const char *params)
{
    xport_srv_cfg *c = srv_cfg(cmd);
    const char *err = check_server_scope(cmd);

    (void)dc;
    if (err || (err = check_driver(cmd, driver)))
        return err;
    if (!params || !*params)
        return "XportDataSource: missing connection parameters (sqlite3: "
               "a file path, pgsql: \"host=... dbname=...\")";
    c->source_driver = driver;
    c->source_params = strcmp(driver, "sqlite3")
                           ? params
                           : ap_server_root_relative(cmd->pool, params);
    return NULL;
}

static const char *xport_cfg_set_section(cmd_parms *cmd, void *dc, int argc,
                                         char *const argv[])
{
    xport_srv_cfg *c = srv_cfg(cmd);
    const char *err = check_server_scope(cmd);

    (void)dc;
    if (err)
        return err;
    if (argc < 1)
        return "XportSection: missing section name (XportSection NAME "
               "key=COLUMN ...)";
    /* A vhost that declares sections gets its own set instead of adding
     * to the main server's (which it would otherwise inherit whole). */
    if (!c->sections)
        c->sections = xp_sections_make(cmd->pool);
    err = xp_sections_add(c->sections, cmd->pool, argv[0], argc - 1,
                          (const char *const *)argv + 1);
    if (err && strncmp(err, "XportSection", 12))
        return apr_psprintf(cmd->pool, "XportSection %s: %s", argv[0], err);
    return err;
}

/* The parsers below serve both scopes; the set_ functions add the
 * server-scope check. */
static const char *parse_count(cmd_parms *cmd, const char *arg, int *out)
{
    char *end;
    apr_int64_t v = apr_strtoi64(arg, &end, 10);

    if (!*arg || *end || v < 0 || v > 10000)
        return apr_psprintf(cmd->pool,
                            "%s: \"%s\" is not a number "
                            "between 0 and 10000",
                            cmd->directive->directive, arg);
    *out = (int)v;
    return NULL;
}

static const char *set_count(cmd_parms *cmd, const char *arg, int *out)
{
    const char *err = check_server_scope(cmd);

    return err ? err : parse_count(cmd, arg, out);
}

static const char *xport_cfg_set_workers(cmd_parms *cmd, void *dc,
                                         const char *arg)
{
    (void)dc;
    return set_count(cmd, arg, &srv_cfg(cmd)->workers);
}

static const char *xport_cfg_set_max_event_streams(cmd_parms *cmd, void *dc,
                                                   const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    (void)dc;
    if (err)
        return err;
    err = set_count(cmd, arg, &srv_cfg(cmd)->max_event_streams);
    if (!err && srv_cfg(cmd)->max_event_streams < 1)
        return "XportMaxEventStreams must be at least 1";
    return err;
}

static const char *xport_cfg_set_max_jobs_per_user(cmd_parms *cmd, void *dc,
                                                   const char *arg)
{
    (void)dc;
    return set_count(cmd, arg, &srv_cfg(cmd)->max_jobs_per_user);
}

static const char *parse_size(cmd_parms *cmd, const char *arg,
                              apr_off_t *out)
{
    apr_off_t v;

    if (xp_parse_size(arg, &v) || v <= 0)
        return apr_psprintf(cmd->pool,
                            "%s: \"%s\" is not a size (use a "
                            "number with K, M or G)",
                            cmd->directive->directive, arg);
    *out = v;
    return NULL;
}

static const char *set_size(cmd_parms *cmd, const char *arg, apr_off_t *out)
{
    const char *err = check_server_scope(cmd);

    return err ? err : parse_size(cmd, arg, out);
}

static const char *xport_cfg_set_max_archive_size(cmd_parms *cmd, void *dc,
                                                  const char *arg)
{
    (void)dc;
    return set_size(cmd, arg, &srv_cfg(cmd)->max_archive_size);
}

/* Server scope and <Location>: the location's value wins. */
static const char *xport_cfg_set_max_upload_size(cmd_parms *cmd, void *dcv,
                                                 const char *arg)
{
    xport_dir_cfg *dc = dcv;

    if (cmd->path)
        return parse_size(cmd, arg, &dc->max_upload_size);
    return set_size(cmd, arg, &srv_cfg(cmd)->max_upload_size);
}

static const char *xport_cfg_set_max_uncompressed_size(cmd_parms *cmd, void *dc,
                                                       const char *arg)
{
    (void)dc;
    return set_size(cmd, arg, &srv_cfg(cmd)->max_uncompressed_size);
}

static const char *parse_duration(cmd_parms *cmd, const char *arg,
                                  apr_interval_time_t *out)
{
    apr_interval_time_t v;

    if (xp_parse_duration(arg, &v) || v <= 0)
        return apr_psprintf(cmd->pool,
                            "%s: \"%s\" is not a duration (use "
                            "a number with s, m, h or d)",
                            cmd->directive->directive, arg);
    *out = v;
    return NULL;
}

static const char *set_duration(cmd_parms *cmd, const char *arg,
                                apr_interval_time_t *out)
{
    const char *err = check_server_scope(cmd);

    return err ? err : parse_duration(cmd, arg, out);
}

static const char *xport_cfg_set_retry_window(cmd_parms *cmd, void *dc,
                                              const char *arg)
{
    (void)dc;
    return set_duration(cmd, arg, &srv_cfg(cmd)->retry_window);
}

static const char *xport_cfg_set_sync_wait(cmd_parms *cmd, void *dc,
                                           const char *arg)
{
    (void)dc;
    return set_duration(cmd, arg, &srv_cfg(cmd)->sync_wait);
}

/* A section role (XportOCLVersions, XportOCLContent): cmd->info names the
 * role; the section is checked once every declaration is read. */
static const char *set_role(cmd_parms *cmd, void *dc, const char *section,
                            const char *column)
{
    xport_srv_cfg *c = srv_cfg(cmd);
    const char *err = check_server_scope(cmd);
    xport_role_t *r;

    (void)dc;
    if (err)
        return err;
    if (!xp_ident_valid(section) || (column && !xp_ident_valid(column)))
        return apr_psprintf(cmd->pool,
                            "%s: \"%s\" is not a section and column name",
                            cmd->directive->directive,
                            column ? apr_pstrcat(cmd->pool, section, " ",
                                                 column, NULL)
                                   : section);
    if (!c->roles)
        c->roles = apr_array_make(cmd->pool, 4, sizeof(xport_role_t));
    r = apr_array_push(c->roles);
    r->role = cmd->info;
    r->section = section;
    r->column = column;
    r->value = NULL;
    return NULL;
}

static const char *xport_cfg_set_role(cmd_parms *cmd, void *dc,
                                      const char *section)
{
    return set_role(cmd, dc, section, NULL);
}

/* Words an API's model takes besides sections (XportSparkOnPremises
 * KIND...): roles without a section, one per word. */
static const char *xport_cfg_set_role_word(cmd_parms *cmd, void *dc,
                                           const char *word)
{
    xport_srv_cfg *c = srv_cfg(cmd);
    const char *err = check_server_scope(cmd);
    xport_role_t *r;

    (void)dc;
    if (err)
        return err;
    if (!*word)
        return apr_psprintf(cmd->pool, "%s: an empty word",
                            cmd->directive->directive);
    if (!c->roles)
        c->roles = apr_array_make(cmd->pool, 4, sizeof(xport_role_t));
    r = apr_array_push(c->roles);
    memset(r, 0, sizeof(*r));
    r->role = cmd->info;
    r->value = word;
    return NULL;
}

static const char *xport_cfg_set_role_column(cmd_parms *cmd, void *dc,
                                             const char *section,
                                             const char *column)
{
    return set_role(cmd, dc, section, column);
}

static const char *xport_cfg_set_job_timeout(cmd_parms *cmd, void *dc,
                                             const char *arg)
{
    (void)dc;
    return set_duration(cmd, arg, &srv_cfg(cmd)->job_timeout);
}

static const char *xport_cfg_set_retention(cmd_parms *cmd, void *dc,
                                           const char *arg)
{
    (void)dc;
    return set_duration(cmd, arg, &srv_cfg(cmd)->retention);
}

static const char *xport_cfg_set_supervisor(cmd_parms *cmd, void *dc,
                                            const char *arg)
{
    xport_srv_cfg *c = srv_cfg(cmd);
    const char *err = check_server_scope(cmd);

    (void)dc;
    if (err)
        return err;
    if (!c->supervisors)
        c->supervisors = apr_array_make(cmd->pool, 4, sizeof(const char *));
    APR_ARRAY_PUSH(c->supervisors, const char *) = arg;
    return NULL;
}

static const char *xport_cfg_set_instance(cmd_parms *cmd, void *dc,
                                          const char *arg)
{
    xport_srv_cfg *c = srv_cfg(cmd);
    const char *err = check_server_scope(cmd);
    const char *q;

    (void)dc;
    if (err)
        return err;
    /* it becomes part of archive file names: keep it a safe name */
    for (q = arg; *q; q++) {
        if (!apr_isalnum(*q) && *q != '-' && *q != '_' && *q != '.')
            break;
    }
    if (!*arg || *q || *arg == '.')
        return apr_psprintf(cmd->pool,
                            "XportInstanceName: \"%s\" may only "
                            "use letters, digits, '-', '_' and '.'",
                            arg);
    c->instance = arg;
    return NULL;
}

/* The names of the APIs this module speaks, "a, b". */
static const char *api_names(apr_pool_t *p)
{
    apr_array_header_t *all =
        ap_list_provider_names(p, XPORT_API_GROUP, XPORT_API_VERSION);
    apr_array_header_t *names = apr_array_make(p, 4, sizeof(const char *));
    int i;

    for (i = 0; all && i < all->nelts; i++)
        APR_ARRAY_PUSH(names, const char *) =
            APR_ARRAY_IDX(all, i, ap_list_provider_names_t).provider_name;
    return apr_array_pstrcat(p, names, ',');
}

static const char *xport_cfg_set_api(cmd_parms *cmd, void *dcv, const char *arg)
{
    xport_dir_cfg *dc = dcv;

    /* the APIs register in register_hooks, before any directive is read */
    dc->api = ap_lookup_provider(XPORT_API_GROUP, arg, XPORT_API_VERSION);
    if (!dc->api)
        return apr_psprintf(cmd->pool,
                            "XportAPI: \"%s\" is not an API this module "
                            "speaks (%s)",
                            arg, api_names(cmd->temp_pool));
    return NULL;
}

const xport_api_t *xport_api_of(request_rec *r)
{
    const xport_dir_cfg *dc =
        ap_get_module_config(r->per_dir_config, &xport_module);

    if (dc && dc->api)
        return dc->api;
    return ap_lookup_provider(XPORT_API_GROUP, XPORT_API_DEFAULT,
                              XPORT_API_VERSION);
}

/* Directory-scope values set outside any section land in the server's
 * defaults, which every <Location> of it inherits. */
static const char *xport_cfg_set_max_jobs_per_tenant(cmd_parms *cmd,
                                                     void *dcv,
                                                     const char *arg)
{
    xport_dir_cfg *dc = dcv;

    return parse_count(cmd, arg, &dc->max_jobs_per_tenant);
}

static const char *xport_cfg_set_link_lifetime(cmd_parms *cmd, void *dcv,
                                               const char *arg)
{
    xport_dir_cfg *dc = dcv;

    return parse_duration(cmd, arg, &dc->link_lifetime);
}

/* Read here, when the configuration is read (start, graceful restart,
 * configtest), so that a bad line stops them instead of a request. */
static const char *xport_cfg_set_token_file(cmd_parms *cmd, void *dcv,
                                            const char *arg)
{
    xport_dir_cfg *dc = dcv;
    const char *path = ap_server_root_relative(cmd->pool, arg);
    xp_tokens_t *tokens;
    const char *why;

    if (!path || !*arg)
        return apr_psprintf(cmd->pool,
                            "XportTokenFile: \"%s\" is not a valid path", arg);
    if ((why = xp_tokens_read(cmd->pool, path, &tokens)))
        return apr_pstrcat(cmd->pool, "XportTokenFile ", why, NULL);
    dc->tokens = tokens;
    return NULL;
}

const command_rec xport_cmds[] = {
    AP_INIT_TAKE1("XportStorage", xport_cfg_set_storage, NULL, RSRC_CONF,
                  "directory for archives, uploads and temp files "
                  "(default /var/lib/xport)"),
    AP_INIT_TAKE2("XportJobStore", xport_cfg_set_job_store, NULL, RSRC_CONF,
                  "job store: sqlite3 FILE or pgsql \"CONNINFO\" "
                  "(default sqlite3 <XportStorage>/jobs.db)"),
    AP_INIT_TAKE2("XportDataSource", xport_cfg_set_data_source, NULL, RSRC_CONF,
                  "the application database: sqlite3 FILE or pgsql "
                  "\"CONNINFO\""),
    AP_INIT_TAKE_ARGV("XportSection", xport_cfg_set_section, NULL, RSRC_CONF,
                      "NAME key=COL [table=T columns=a,b search=a "
                      "involves=a updated=C ref=col:SECTION types=col:int "
                      "mode=upsert|append]"),
    AP_INIT_TAKE1("XportWorkers", xport_cfg_set_workers, NULL, RSRC_CONF,
                  "jobs run at once on this node (default 2; 0 = API only)"),
    AP_INIT_TAKE1("XportRetryWindow", xport_cfg_set_retry_window, NULL,
                  RSRC_CONF,
                  "how long a job waits for a lost database connection to "
                  "come back before it fails (default 60s)"),
    AP_INIT_TAKE1("XportMaxEventStreams", xport_cfg_set_max_event_streams, NULL,
                  RSRC_CONF,
                  "event streams open at once on this server, all children "
                  "together (default a quarter of MaxRequestWorkers)"),
    AP_INIT_TAKE1("XportMaxJobsPerUser", xport_cfg_set_max_jobs_per_user, NULL,
                  RSRC_CONF,
                  "queued or running jobs allowed per user (default 1)"),
    AP_INIT_TAKE1("XportMaxArchiveSize", xport_cfg_set_max_archive_size, NULL,
                  RSRC_CONF, "largest export archive (default 200M)"),
    AP_INIT_TAKE1("XportMaxUploadSize", xport_cfg_set_max_upload_size, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "largest import upload (default 200M); a <Location>'s "
                  "value wins over the server's"),
    AP_INIT_TAKE1("XportMaxUncompressedSize",
                  xport_cfg_set_max_uncompressed_size, NULL, RSRC_CONF,
                  "bytes an import may expand to (default 2G)"),
    AP_INIT_TAKE1("XportJobTimeout", xport_cfg_set_job_timeout, NULL, RSRC_CONF,
                  "longest a job may run (default 15m)"),
    AP_INIT_TAKE1("XportRetention", xport_cfg_set_retention, NULL, RSRC_CONF,
                  "how long finished jobs and archives are kept (default 7d)"),
    AP_INIT_ITERATE("XportSupervisor", xport_cfg_set_supervisor, NULL,
                    RSRC_CONF, "users who see and manage every job"),
    AP_INIT_TAKE1("XportInstanceName", xport_cfg_set_instance, NULL, RSRC_CONF,
                  "name used in archive names and manifests "
                  "(default ServerName)"),
    AP_INIT_TAKE1("XportSyncWait", xport_cfg_set_sync_wait, NULL, RSRC_CONF,
                  "how long a request waits for a job it starts and answers "
                  "with (default 100s)"),
    AP_INIT_TAKE1("XportOCLVersions", xport_cfg_set_role, "ocl.versions",
                  RSRC_CONF,
                  "the section of repository versions (XportAPI ocl): its "
                  "key is the version's URL path"),
    AP_INIT_TAKE2("XportOCLContent", xport_cfg_set_role_column, "ocl.content",
                  RSRC_CONF,
                  "SECTION COLUMN: rows of SECTION whose COLUMN holds a "
                  "version's key belong to that version (XportAPI ocl)"),
    AP_INIT_TAKE1("XportSparkFolders", xport_cfg_set_role, "spark.folders",
                  RSRC_CONF,
                  "the section of folders (XportAPI spark): field folder"),
    AP_INIT_TAKE1("XportSparkServices", xport_cfg_set_role, "spark.services",
                  RSRC_CONF,
                  "the section of services (XportAPI spark): fields folder, "
                  "service, service_id"),
    AP_INIT_TAKE1("XportSparkVersions", xport_cfg_set_role, "spark.versions",
                  RSRC_CONF,
                  "the section of service versions (XportAPI spark): fields "
                  "service_id, version (MAJOR.MINOR.PATCH), version_id"),
    AP_INIT_TAKE1("XportSparkFiles", xport_cfg_set_role, "spark.files",
                  RSRC_CONF,
                  "the section of a version's files (XportAPI spark): fields "
                  "version_id, kind, content"),
    AP_INIT_ITERATE("XportSparkOnPremises", xport_cfg_set_role_word,
                    "spark.onpremises", RSRC_CONF,
                    "the file kinds file_filter onpremises keeps "
                    "(XportAPI spark)"),
    AP_INIT_TAKE1("XportAPI", xport_cfg_set_api, NULL, ACCESS_CONF,
                  "which API this location speaks (native, qiscus, ocl, "
                  "spark)"),
    AP_INIT_TAKE1("XportTokenFile", xport_cfg_set_token_file, NULL,
                  ACCESS_CONF,
                  "API keys for AuthType xport-token: lines "
                  "user:SHA256-hex-of-key[:tenant,tenant|*]"),
    AP_INIT_TAKE1("XportLinkLifetime", xport_cfg_set_link_lifetime, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "how long a signed download link works (default 1h)"),
    AP_INIT_TAKE1("XportMaxJobsPerTenant", xport_cfg_set_max_jobs_per_tenant,
                  NULL, RSRC_CONF | ACCESS_CONF,
                  "queued or running jobs allowed per tenant (0 = no limit; "
                  "default: the API's)"),
    {NULL}};

/* ------------------------------------------------------------------ */
/* post_config: storage, data source, job store                           */
/* ------------------------------------------------------------------ */

/* The worker and the children run as User/Group: what the parent creates
 * as root must be theirs. */
static apr_status_t give_to_user(const char *path)
{
    if (geteuid() != 0)
        return APR_SUCCESS;
    if (chown(path, ap_unixd_config.user_id, ap_unixd_config.group_id) < 0)
        return errno;
    return APR_SUCCESS;
}

static int prepare_storage(apr_pool_t *p, server_rec *s, const char *storage)
{
    static const char *const subdirs[] = {"", "/tmp", "/exports", "/uploads"};
    apr_status_t rv;
    size_t i;

    for (i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
        const char *dir = apr_pstrcat(p, storage, subdirs[i], NULL);

        rv = apr_dir_make_recursive(
            dir, APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_UEXECUTE, p);
        if (rv == APR_SUCCESS)
            rv = give_to_user(dir);
        if (rv == APR_SUCCESS)
            rv = apr_file_perms_set(dir, APR_FPROT_UREAD | APR_FPROT_UWRITE |
                                             APR_FPROT_UEXECUTE);
        if (rv != APR_SUCCESS && rv != APR_INCOMPLETE && rv != APR_ENOTIMPL) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                         "XP0401: XportStorage: cannot create %s (mode 0700,"
                         " owned by the httpd User); check the path and the "
                         "permissions of its parent",
                         dir);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

static int prepare_source(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s,
                          xport_srv_cfg *c)
{
    xp_source_t *src;
    xp_error_t err = {0};
    apr_finfo_t fi;
    apr_pool_t *cp;

    if (!c->source_driver) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "XP0402: XportSection is declared for %s but no "
                     "XportDataSource: add XportDataSource sqlite3 FILE "
                     "(or pgsql \"CONNINFO\")",
                     xport_server_key(ptemp, s));
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* sqlite would silently create an empty database and every table
     * would then be "missing": say what is really wrong */
    if (!strcmp(c->source_driver, "sqlite3") &&
        apr_stat(&fi, c->source_params, APR_FINFO_TYPE, ptemp)) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "XP0403: XportDataSource: the SQLite database %s does "
                     "not exist",
                     c->source_params);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    apr_pool_create(&cp, ptemp);
    if (xp_source_open(cp, c->source_driver, c->source_params, &src, &err) !=
        XP_OK) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "XP0404: XportDataSource %s: cannot connect: %s",
                     c->source_driver, err.message ? err.message : "?");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* discovered columns must outlive this pass: allocate them in pconf */
    if (xp_source_discover(src, pconf, c->sections, &err) != XP_OK) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "XP0405: XportSection: %s",
                     err.message ? err.message : "column discovery failed");
        apr_pool_destroy(cp);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    apr_pool_destroy(cp);
    return OK;
}

static int prepare_store(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s,
                         const char *driver, const char *params)
{
    xp_store_t *st;
    xp_error_t err = {0};
    apr_pool_t *cp;
    int is_sqlite = !strcmp(driver, "sqlite3");
    static const char *const sfx[] = {"", "-wal", "-shm"};
    size_t i;

    apr_pool_create(&cp, ptemp);
    if (xp_store_open(cp, driver, params, &st, &err) != XP_OK ||
        xp_store_migrate(st, cp, &err) != XP_OK) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "XP0406: XportJobStore %s %s: %s", driver,
                     is_sqlite ? params : "(conninfo)",
                     err.message ? err.message : "cannot open");
        apr_pool_destroy(cp);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (xport_link_prepare(pconf, cp, s, st, driver, params) != OK) {
        apr_pool_destroy(cp);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    apr_pool_destroy(cp);
    if (!is_sqlite)
        return OK;
    /* root may just have created the file (or its WAL companions): the
     * children and the worker, running as User, must be able to write them */
    for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
        const char *f = apr_pstrcat(ptemp, params, sfx[i], NULL);
        struct stat sb;

        if (stat(f, &sb) < 0)
            continue;
        if (sb.st_uid == 0)
            give_to_user(f);
        chmod(f, S_IRUSR | S_IWUSR); /* job rows are nobody else's */
    }
    return OK;
}

/* Each storage dir, sections set and job store is prepared once, however
 * many virtual hosts share it. */
static int prepare_server(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s,
                          apr_hash_t *done)
{
    xport_srv_cfg *c = ap_get_module_config(s->module_config, &xport_module);
    const char *storage = xport_cfg_storage(c), *driver, *params, *key;
    int rc;

    if (!c->sections && !c->storage && !c->store_driver && !c->source_driver)
        return OK;
    if (!apr_hash_get(done, storage, APR_HASH_KEY_STRING)) {
        apr_hash_set(done, storage, APR_HASH_KEY_STRING, "");
        if ((rc = prepare_storage(ptemp, s, storage)) != OK)
            return rc;
    }
    if (c->sections && !apr_hash_get(done, &c->sections, sizeof(void *))) {
        apr_hash_set(done, apr_pmemdup(ptemp, &c->sections, sizeof(void *)),
                     sizeof(void *), "");
        if ((rc = prepare_source(pconf, ptemp, s, c)) != OK)
            return rc;
    }
    xport_cfg_store(c, ptemp, &driver, &params);
    key = apr_pstrcat(ptemp, "store:", driver, " ", params, NULL);
    if (!apr_hash_get(done, key, APR_HASH_KEY_STRING)) {
        apr_hash_set(done, key, APR_HASH_KEY_STRING, "");
        if ((rc = prepare_store(pconf, ptemp, s, driver, params)) != OK)
            return rc;
    }
    return OK;
}

/* Every role names a declared section (and a column of it, once the
 * columns are known). NULL or a message. */
static const char *roles_check(const xport_srv_cfg *c, apr_pool_t *p)
{
    int i;

    for (i = 0; c->roles && i < c->roles->nelts; i++) {
        const xport_role_t *r = &APR_ARRAY_IDX(c->roles, i, xport_role_t);
        xp_section_t *sec =
            c->sections && r->section
                ? xp_sections_find(c->sections, r->section)
                : NULL;
        if (!r->section)
            continue; /* a word */
        if (!sec)
            return apr_psprintf(p, "%s names the section \"%s\", which is "
                                   "not declared (XportSection)",
                                r->role, r->section);
        if (r->column && sec->columns && !xp_section_has_column(sec, r->column))
            return apr_psprintf(p, "%s: section \"%s\" has no column \"%s\"",
                                r->role, r->section, r->column);
    }
    return NULL;
}

int xport_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                       server_rec *s)
{
    apr_hash_t *done = apr_hash_make(ptemp);
    int configtest = ap_state_query(AP_SQ_RUN_MODE) == AP_SQ_RM_CONFIG_TEST;

    (void)plog;
    /* cross-checks between sections (refs, cycles) need every
     * declaration read: here, so that configtest reports them too; and
     * configtest, which never reaches post_config, also checks the
     * tables and columns (read only: nothing is created or started) */
    for (; s; s = s->next) {
        xport_srv_cfg *c =
            ap_get_module_config(s->module_config, &xport_module);
        const char *msg =
            c->sections ? xp_sections_check(c->sections, ptemp) : NULL;

        if (!msg)
            msg = roles_check(c, ptemp);
        if (msg) {
            ap_log_error(
                APLOG_MARK, APLOG_EMERG, 0, s, "XP0407: %s%s",
                strncmp(msg, "XportSection", 12) ? "XportSection: " : "", msg);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        if (configtest && c->sections &&
            !apr_hash_get(done, &c->sections, sizeof(void *))) {
            apr_hash_set(done, apr_pmemdup(ptemp, &c->sections, sizeof(void *)),
                         sizeof(void *), "");
            if (prepare_source(pconf, ptemp, s, c) != OK)
                return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

int xport_prepare_servers(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    apr_hash_t *done = apr_hash_make(ptemp);
    int rc;

    /* the first pass of a start only checks syntax: the real work (and
     * the connections it opens) would be thrown away with it */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;
    for (; s; s = s->next) {
        if ((rc = prepare_server(pconf, ptemp, s, done)) != OK)
            return rc;
    }
    return OK;
}
