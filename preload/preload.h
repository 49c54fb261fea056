/* What the preload's modules share: one-time initialisation and the
 * configuration it read. */
#ifndef AUTHTAP_PRELOAD_H
#define AUTHTAP_PRELOAD_H

#include "config.h"

#define AUTHTAP_EXPORT __attribute__((visibility("default")))

#include <stdatomic.h>

/* Reads the environment and opens the log, once, whoever calls first: a
 * library constructor may reach libcurl before authtap's own has run. */
const struct config *preload_config_first(void);

extern struct config preload_cfg;
extern atomic_bool preload_ready;

/* Every hook asks first: after the first call, one acquire load. */
static inline const struct config *preload_config(void)
{
	if (__builtin_expect(atomic_load_explicit(&preload_ready, memory_order_acquire), 1))
		return &preload_cfg;
	return preload_config_first();
}

#endif
