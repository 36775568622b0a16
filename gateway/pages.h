/* Portico's own pages, served on GET and HEAD before any route: the health and readiness probes
 * (public: probes present no credentials), the metrics, the OpenAPI document and the docs. */
#ifndef GATEWAY_PAGES_H
#define GATEWAY_PAGES_H

#include "exchange.h"

typedef struct page {
	const char *path; /* "/healthz" */
	void (*serve)(gateway_exchange *exchange);
	int public; /* served without credentials */
} page;

/* The page at path for method, or NULL. */
const page *pages_find(const char *method, const char *path);

#endif
