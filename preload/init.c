#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "linker.h"
#include "log.h"
#include "net.h"
#include "pending.h"
#include "preload.h"
#include "table.h"
#include "verdict.h"

struct config preload_cfg;
static pthread_once_t preload_once = PTHREAD_ONCE_INIT;

static const char *preload_getenv(const char *name)
{
	/* The loader ignores LD_PRELOAD for setuid programs; should authtap
	 * be loaded there anyway, it takes nothing from the environment. */
	return secure_getenv(name);
}

/* Every lock is taken before fork and released on both sides, so that a
 * child never inherits one held by a thread it does not have. */
static void preload_atfork_prepare(void)
{
	log_atfork_prepare();
	linker_atfork_prepare();
	net_atfork_prepare();
	table_atfork_prepare();
	pending_atfork_prepare();
}

static void preload_atfork_parent(void)
{
	pending_atfork_parent();
	table_atfork_parent();
	net_atfork_parent();
	linker_atfork_parent();
	log_atfork_parent();
}

static void preload_atfork_child(void)
{
	pending_atfork_child();
	table_atfork_child();
	net_atfork_child();
	linker_atfork_child();
	log_atfork_child();
}

static void preload_init(void)
{
	linker_init();
	config_parse(&preload_cfg, preload_getenv, log_warn);
	if (preload_cfg.disabled)
		return;
	log_open(&preload_cfg);
	net_init(preload_cfg.verdict);
	pthread_atfork(preload_atfork_prepare, preload_atfork_parent, preload_atfork_child);
}

atomic_bool preload_ready;

const struct config *preload_config_first(void)
{
	int saved = errno;
	pthread_once(&preload_once, preload_init);
	atomic_store_explicit(&preload_ready, true, memory_order_release);
	errno = saved;
	return &preload_cfg;
}

__attribute__((constructor)) static void preload_constructor(void)
{
	preload_config();
}

__attribute__((destructor)) static void preload_destructor(void)
{
	int saved = errno;
	if (!preload_cfg.disabled && preload_cfg.verdict)
		verdict_finish();
	errno = saved;
}
