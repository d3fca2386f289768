/*
 * xport_manager.h -- the dashboard (SPEC 9): `SetHandler xport-manager`,
 * as mod_proxy_balancer's `SetHandler balancer-manager`. What
 * src/httpd/manager.c offers to http.c, which claims the handler's URIs
 * and routes its requests like those of `SetHandler xport`. Only the glue
 * includes this file.
 */
#ifndef XPORT_MANAGER_H
#define XPORT_MANAGER_H

#include "xport_http.h"

#define XPORT_MANAGER_HANDLER "xport-manager"

/* The API below the dashboard's page: always the native one, whatever
 * XportAPI the <Location> sets, since the page's script speaks it. */
const xport_api_t *xport_manager_api(void);

/* A request of the dashboard's <Location>, routed (q->segs) and past the
 * Origin / Sec-Fetch-Site check every state-changing request has: the
 * page at the root; a 403 for a request other than GET or HEAD without
 * the caller's form token (header X-Xport-Token). OK once answered;
 * DECLINED: the native API answers it. */
int xport_manager_handle(xport_req_t *q);

#endif
