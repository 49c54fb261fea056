/* What the preload's modules share: one-time initialisation and the
 * configuration it read. */
#ifndef AUTHTAP_PRELOAD_H
#define AUTHTAP_PRELOAD_H

#include "config.h"

#define AUTHTAP_EXPORT __attribute__((visibility("default")))

/* Reads the environment and opens the log, once, whoever calls first: a
 * library constructor may reach libcurl before authtap's own has run. */
const struct config *preload_config(void);

#endif
