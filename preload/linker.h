/* Everything authtap asks of the dynamic linker: which loaded libcurl a
 * caller is bound to, and the dlopen hook that keeps PHP's RTLD_DEEPBIND
 * from bypassing the preload. */
#ifndef AUTHTAP_LINKER_H
#define AUTHTAP_LINKER_H

#include "curl_lib.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "hooks.h"

/* The libcurl build that code at address caller is linked against: the one
 * its object needs (DT_NEEDED), libcurl itself when it calls its own
 * exported functions, else the first libcurl found.  NULL when no libcurl
 * can be found.  Looked up once per calling object, then cached. */
const struct curl_lib *linker_lib_find(const void *caller);

/* The cache of callers, replaced whole when it changes (linker.c). */
struct callers;
extern struct callers *_Atomic linker_callers;

/* This thread's last two answers, the latest first, valid while the cache
 * they came from is the current one: most threads call from the program
 * and from libcurl itself (its own exported functions, through the PLT). */
struct linker_recent {
	const struct callers *from;
	struct {
		uintptr_t lo, size;
		const struct curl_lib *lib;
	} range[2];
};
extern __thread struct linker_recent linker_recent __attribute__((tls_model("initial-exec")));

/* Every libcurl hook asks this first, so its common case is inline: the
 * same caller as last time on this thread. */
static inline const struct curl_lib *linker_lib_for(const void *caller)
{
	const struct callers *c = atomic_load_explicit(&linker_callers, memory_order_acquire);

	/* No test of c: its range is empty until an answer is cached. */
	if (__builtin_expect(linker_recent.from == c, 1) &&
	    (uintptr_t)caller - linker_recent.range[0].lo < linker_recent.range[0].size)
		return linker_recent.range[0].lib;
	return linker_lib_find(caller);
}

/* At load time: caches the answer for every loaded libcurl and every
 * object that needs one, so that their first calls, from whatever thread,
 * find it. */
void linker_init(void);

/* After a dlclose: drops cached callers whose object is no longer loaded. */
void linker_forget_unloaded(void);

void linker_atfork_prepare(void);
void linker_atfork_parent(void);
void linker_atfork_child(void);

/* For the dlopen hook: the real dlopen, and the flags to hand it; caller
 * is dlopen's return address. */
void *linker_dlopen_prepare(const char *file, int *flags, const void *caller) __attribute__((used));

/* True when the ELF file at path names a libcurl in its DT_NEEDED. */
int linker_file_needs_libcurl(const char *path);

/* --- the libc hooks (net.c) --- */

/* The real libc functions (the next definition after authtap's, as
 * dlsym(RTLD_NEXT) finds it: an interposer preloaded after authtap stays in
 * the chain), one per hook of AUTHTAP_LIBC_HOOKS.  Never NULL: until they
 * are looked up, each points to a stand-in that looks them all up, without
 * a lock, malloc or system call (a hook may run in a signal handler, or in
 * another library's constructor before authtap's), then calls the real
 * one.  linker_init looks them up again with dlsym(RTLD_NEXT).  A function
 * found nowhere fails with ENOSYS. */
#define LINKER_REAL(ret, name, params, args)                                                       \
	extern __attribute__((visibility("hidden"))) ret(*real_##name) params;
#define LINKER_REAL_VOID(name, params, args)                                                       \
	extern __attribute__((visibility("hidden"))) void(*real_##name) params;
AUTHTAP_LIBC_HOOKS(LINKER_REAL, LINKER_REAL_VOID)
#undef LINKER_REAL
#undef LINKER_REAL_VOID

/* The hooks themselves under names of authtap's own (net.c), which a
 * lookup must never return. */
#define LINKER_HOOK(ret, name, params, args) ret hook_##name params;
#define LINKER_HOOK_VOID(name, params, args) void hook_##name params;
AUTHTAP_LIBC_HOOKS(LINKER_HOOK, LINKER_HOOK_VOID)
#undef LINKER_HOOK
#undef LINKER_HOOK_VOID

/* --- the socket source --- */

/* True when addr lies in a libcurl authtap has met (one a libcurl hook
 * was called for): its sockets are the libcurl source's.  No lock: safe in
 * a signal handler. */
bool linker_in_curl(const void *addr);

/* A function of the TLS library the program loaded (libssl.so.3 or .1.1;
 * libgnutls.so.30), other than authtap's own definition self: the next
 * definition in the global scope, else the library's own, found with
 * RTLD_NOLOAD (Python loads libssl through an RTLD_LOCAL module, which
 * RTLD_NEXT does not see).  NULL when none is loaded. */
void *linker_tls_sym(const char *name, const void *self);

/* The same, once: *slot keeps the answer (NULL until one is found, and
 * looked for again at the next call).  The lookup runs on a stack of its
 * own. */
void *linker_tls_find(void *_Atomic *slot, const char *name, const void *self);

static inline void *linker_tls_real(void *_Atomic *slot, const char *name, const void *self)
{
	void *f = atomic_load_explicit(slot, memory_order_acquire);
	return f ? f : linker_tls_find(slot, name, self);
}

#endif
