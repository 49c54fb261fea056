/* The one file that knows about the dynamic linker.
 *
 * One process can hold several libcurl builds (Debian ships OpenSSL, GnuTLS
 * and NSS ones: a program on one, a plugin on another), and dlsym(RTLD_NEXT)
 * silently returns whichever was loaded first.  So each interposed call is
 * routed by its caller: the return address gives the calling object, and
 * that object's DT_NEEDED names the libcurl it was linked against.  The
 * answer is cached per object, since the lookup takes the loader's lock. */
#include "linker.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "preload.h"

#if __SIZEOF_POINTER__ == 8
#define LINKER_ELFCLASS ELFCLASS64
#else
#define LINKER_ELFCLASS ELFCLASS32
#endif

#define LINKER_MAX_LIBS 8
#define LINKER_MAX_CALLERS 64

struct caller_range {
	uintptr_t lo, hi;
	const struct curl_lib *lib;
};

static struct curl_lib linker_libs[LINKER_MAX_LIBS];
static void *linker_lib_handles[LINKER_MAX_LIBS];
static size_t linker_nlibs;

/* The cache of callers is an immutable snapshot, replaced whole when an
 * entry is added or an object is unloaded, so that readers never lock.
 * Replaced snapshots are kept, chained (a reader may still be scanning
 * one), at most LINKER_MAX_SNAPSHOTS of them: past that, lookups stop
 * caching. */
#define LINKER_MAX_SNAPSHOTS 256

struct callers {
	const struct callers *prev; /* the snapshot this one replaced */
	size_t n;
	struct caller_range r[LINKER_MAX_CALLERS];
};

struct callers *_Atomic linker_callers;
static size_t linker_snapshots;
/* Publishes next in place of old; old stays, reachable from next, for
 * readers that may still be scanning it. */
static void callers_swap(const struct callers *old, struct callers *next)
{
	if (next)
		next->prev = old;
	atomic_store_explicit(&linker_callers, next, memory_order_release);
}
static const struct curl_lib *_Atomic linker_default;
static pthread_mutex_t linker_lock = PTHREAD_MUTEX_INITIALIZER;

static void linker_on_big_stack(void (*fn)(void *), void *arg);
static void libc_resolve(void);

/* Inside a route, a function that dlsym hands out for a hooked name
 * (below): the libcurl it goes to.  authtap's own code calls its hooks
 * from the routes only, so a call from inside authtap's object while this
 * is set comes from the route. */
static __thread const struct curl_lib *linker_route __attribute__((tls_model("initial-exec")));
static _Atomic uintptr_t linker_self_lo, linker_self_size;

/* Our own definitions, which a lookup must never return. */
#define OWN(ret, name, params, args) extern ret name params;
#define OWN_VOID(name, params, args) extern void name params;
AUTHTAP_CURL_HOOKS(OWN, OWN_VOID)
#undef OWN
#undef OWN_VOID

static bool is_libcurl_name(const char *name)
{
	const char *base = strrchr(name, '/');
	base = base ? base + 1 : name;
	return strncmp(base, "libcurl", 7) == 0 && strstr(base, ".so");
}

typedef void *(*dlsym_fn)(void *handle, const char *name);
typedef void *(*dlvsym_fn)(void *handle, const char *name, const char *version);
static dlsym_fn real_dlsym(void);

/* authtap's own lookups go straight to libc's dlsym, past the dlsym hook:
 * the caller glibc sees (for RTLD_NEXT) is still authtap. */
static void *sym(void *lib, const char *name)
{
	dlsym_fn real = real_dlsym();

	dlerror();
	return real ? real(lib, name) : NULL;
}

/* Whether handle is the libcurl that the global scope resolves to. */
static bool is_global_libcurl(void *handle)
{
	Dl_info info;
	void *getinfo = sym(RTLD_DEFAULT, "curl_easy_getinfo");

	if (!getinfo || !dladdr(getinfo, &info) || !info.dli_fname ||
	    !is_libcurl_name(info.dli_fname))
		return false;
	void *g = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
	if (!g)
		return false;
	dlclose(g);
	return g == handle;
}

/* Calls into the global libcurl go to the next definition after ours, as
 * they would without authtap: another interposer preloaded after it stays
 * in the chain. */
static void chain_next(struct curl_lib *l)
{
	void *f;

#define CHAIN(ret, name, params, args)                                                             \
	if ((f = sym(RTLD_NEXT, #name)) && f != (void *)name)                                      \
		l->real_##name = (__typeof__(l->real_##name))f;
#define CHAIN_VOID(name, params, args) CHAIN(void, name, params, args)
	AUTHTAP_CURL_HOOKS(CHAIN, CHAIN_VOID)
#undef CHAIN
#undef CHAIN_VOID
}

struct object_info {
	uintptr_t addr; /* in: an address inside the object */
	bool found;
	uintptr_t lo, hi; /* its loaded segments */
	char name[512];   /* its path; empty for the main program */
	char needed[256]; /* the libcurl it needs, if any */
	bool is_libcurl;
};

/* d_ptr entries of a loaded object's dynamic section are relocated on most
 * architectures and left as offsets on some; accept both. */
static uintptr_t dyn_ptr(uintptr_t base, uintptr_t p)
{
	return p < base ? base + p : p;
}

static int find_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct object_info *o = arg;
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	const ElfW(Dyn) *dyn = NULL;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_DYNAMIC)
			dyn = (const ElfW(Dyn) *)(info->dlpi_addr + ph->p_vaddr);
		if (ph->p_type != PT_LOAD)
			continue;
		uintptr_t s = info->dlpi_addr + ph->p_vaddr;
		if (s < lo)
			lo = s;
		if (s + ph->p_memsz > hi)
			hi = s + ph->p_memsz;
	}
	if (o->addr < lo || o->addr >= hi)
		return 0;

	o->found = true;
	o->lo = lo;
	o->hi = hi;
	strncpy(o->name, info->dlpi_name ? info->dlpi_name : "", sizeof(o->name) - 1);
	o->is_libcurl = is_libcurl_name(o->name);
	if (!dyn)
		return 1;
	const char *strtab = NULL;
	for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++)
		if (d->d_tag == DT_STRTAB)
			strtab = (const char *)dyn_ptr(info->dlpi_addr, d->d_un.d_ptr);
	if (!strtab)
		return 1;
	for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++) {
		if (d->d_tag != DT_NEEDED)
			continue;
		const char *n = strtab + d->d_un.d_val;
		if (is_libcurl_name(n)) {
			strncpy(o->needed, n, sizeof(o->needed) - 1);
			break;
		}
	}
	return 1;
}

/* The functions of the libcurl behind an open handle, each library once.
 * Loader calls (dlsym, dlclose) are made outside linker_lock: a library
 * constructor may call libcurl while the loader's own lock is held, so
 * holding ours across the loader's would invite a lock-order deadlock. */
static const struct curl_lib *lib_from_handle(void *handle)
{
	struct curl_lib l = {.lo = 0};
	/* Every hook's real function and curl_easy_getinfo are needed. */
	bool complete = true;

#define LOOKUP(ret, name, params, args)                                                            \
	l.real_##name = (__typeof__(l.real_##name))sym(handle, #name);
#define LOOKUP_VOID(name, params, args) LOOKUP(void, name, params, args)
#define NEEDED(ret, name, params, args) complete = complete && l.real_##name;
#define NEEDED_VOID(name, params, args) NEEDED(void, name, params, args)
	AUTHTAP_CURL_HOOKS(LOOKUP, LOOKUP_VOID)
	AUTHTAP_CURL_CALLED(LOOKUP)
	AUTHTAP_CURL_HOOKS(NEEDED, NEEDED_VOID)
#undef LOOKUP
#undef LOOKUP_VOID
#undef NEEDED
#undef NEEDED_VOID
	const struct curl_lib *found = NULL;
	bool added = false;

	if (l.real_curl_easy_getinfo) {
		struct object_info o = {.addr = (uintptr_t)l.real_curl_easy_getinfo};
		dl_iterate_phdr(find_object, &o);
		if (o.found) {
			l.lo = o.lo;
			l.size = o.hi - o.lo;
		}
	}
	if (is_global_libcurl(handle))
		chain_next(&l);

	if (!complete || !l.real_curl_easy_getinfo ||
	    (void *)l.real_curl_easy_perform == (void *)curl_easy_perform) {
		dlclose(handle);
		return NULL;
	}
	pthread_mutex_lock(&linker_lock);
	for (size_t i = 0; i < linker_nlibs && !found; i++)
		if (linker_libs[i].real_curl_easy_perform == l.real_curl_easy_perform)
			found = &linker_libs[i];
	if (!found && linker_nlibs < LINKER_MAX_LIBS) {
		/* The handle stays open: it pins the library our pointers
		 * go into. */
		linker_lib_handles[linker_nlibs] = handle;
		linker_libs[linker_nlibs] = l;
		found = &linker_libs[linker_nlibs++];
		added = true;
	}
	pthread_mutex_unlock(&linker_lock);
	if (!added)
		dlclose(handle);
	if (added && !l.real_curl_easy_header)
		log_warn("this libcurl has no curl_easy_header (it is older than 7.84 or built "
		         "without it): records will carry status, method and URL only");
	return found;
}

static const struct curl_lib *lib_by_name(const char *name)
{
	void *h = dlopen(name, RTLD_LAZY | RTLD_NOLOAD);
	return h ? lib_from_handle(h) : NULL;
}

struct candidates {
	char path[LINKER_MAX_LIBS][512];
	size_t n;
};

static int note_libcurl(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct candidates *c = arg;

	(void)size;
	if (info->dlpi_name && is_libcurl_name(info->dlpi_name) && c->n < LINKER_MAX_LIBS)
		strncpy(c->path[c->n++], info->dlpi_name, sizeof(c->path[0]) - 1);
	return 0;
}

/* The libcurl for callers that need none by name: the next definition in
 * the global scope, or else (a libcurl a Python extension loaded with
 * RTLD_LOCAL is not in that scope) the first loaded one.  dlopen is called
 * outside dl_iterate_phdr, which holds the loader lock. */
static const struct curl_lib *default_lib(void)
{
	void *perform = sym(RTLD_NEXT, "curl_easy_perform");
	Dl_info info;

	if (perform && perform != (void *)curl_easy_perform && dladdr(perform, &info) &&
	    info.dli_fname) {
		const struct curl_lib *l = lib_by_name(info.dli_fname);
		if (l)
			return l;
	}
	struct candidates c = {0};
	dl_iterate_phdr(note_libcurl, &c);
	for (size_t i = 0; i < c.n; i++) {
		const struct curl_lib *l = lib_by_name(c.path[i]);
		if (l)
			return l;
	}
	return NULL;
}

static const struct curl_lib *resolve_caller(uintptr_t addr)
{
	struct object_info o = {.addr = addr};
	const struct curl_lib *lib = NULL;

	dl_iterate_phdr(find_object, &o);
	if (o.found && o.is_libcurl && o.name[0])
		lib = lib_by_name(o.name);
	else if (o.found && o.needed[0])
		lib = lib_by_name(o.needed);
	if (!lib) {
		lib = atomic_load(&linker_default);
		if (!lib) {
			lib = default_lib();
			atomic_store(&linker_default, lib);
		}
	}
	if (o.found && lib) {
		pthread_mutex_lock(&linker_lock);
		const struct callers *old = atomic_load(&linker_callers);
		struct callers *next = NULL;
		if ((!old || old->n < LINKER_MAX_CALLERS) &&
		    linker_snapshots < LINKER_MAX_SNAPSHOTS)
			next = malloc(sizeof(*next));
		if (next) {
			next->n = 0;
			if (old)
				*next = *old;
			next->r[next->n++] = (struct caller_range){o.lo, o.hi, lib};
			linker_snapshots++;
			callers_swap(old, next);
		}
		pthread_mutex_unlock(&linker_lock);
	}
	return lib;
}

__thread struct linker_recent linker_recent __attribute__((tls_model("initial-exec")));

static void recent_put(const struct callers *c, const struct caller_range *r)
{
	if (linker_recent.from != c) {
		memset(&linker_recent, 0, sizeof(linker_recent));
		linker_recent.from = c;
	}
	linker_recent.range[1] = linker_recent.range[0];
	linker_recent.range[0].lo = r->lo;
	linker_recent.range[0].size = r->hi - r->lo;
	linker_recent.range[0].lib = r->lib;
}

struct resolve_job {
	uintptr_t addr;
	const struct curl_lib *lib;
};

static void resolve_job_run(void *arg)
{
	struct resolve_job *j = arg;

	j->lib = resolve_caller(j->addr);
}

const struct curl_lib *linker_lib_find(const void *caller)
{
	uintptr_t a = (uintptr_t)caller;
	const struct callers *c = atomic_load_explicit(&linker_callers, memory_order_acquire);

	/* A call from a route (a function handed out by dlsym) goes to the
	 * libcurl the program looked the name up in. */
	const struct curl_lib *route = linker_route;
	if (route && a - atomic_load_explicit(&linker_self_lo, memory_order_relaxed) <
	                 atomic_load_explicit(&linker_self_size, memory_order_relaxed))
		return route;

	if (c && linker_recent.from == c &&
	    a - linker_recent.range[1].lo < linker_recent.range[1].size) {
		struct caller_range r = {linker_recent.range[1].lo,
		                         linker_recent.range[1].lo + linker_recent.range[1].size,
		                         linker_recent.range[1].lib};
		recent_put(c, &r);
		return r.lib;
	}
	for (size_t i = 0; c && i < c->n; i++) {
		if (a >= c->r[i].lo && a < c->r[i].hi) {
			recent_put(c, &c->r[i]);
			return c->r[i].lib;
		}
	}

	int saved = errno;
	struct resolve_job j = {.addr = a};
	linker_on_big_stack(resolve_job_run, &j);
	errno = saved;
	return j.lib;
}

struct loaded_ranges {
	const struct callers *c;
	bool still[LINKER_MAX_CALLERS];
};

static int mark_loaded(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct loaded_ranges *l = arg;
	uintptr_t lo = UINTPTR_MAX, hi = 0;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uintptr_t s = info->dlpi_addr + ph->p_vaddr;
		lo = s < lo ? s : lo;
		hi = s + ph->p_memsz > hi ? s + ph->p_memsz : hi;
	}
	for (size_t i = 0; i < l->c->n; i++)
		if (l->c->r[i].lo == lo && l->c->r[i].hi == hi)
			l->still[i] = true;
	return 0;
}

/* After dlclose: callers whose object is gone leave the cache, or a plugin
 * loaded later at the same addresses would be routed as the old one. */
void linker_forget_unloaded(void)
{
	int saved = errno;
	const struct callers *c = atomic_load(&linker_callers);
	if (!c) {
		errno = saved;
		return;
	}
	struct loaded_ranges l = {.c = c};
	dl_iterate_phdr(mark_loaded, &l);
	size_t kept = 0;
	for (size_t i = 0; i < c->n; i++)
		kept += l.still[i];
	if (kept < c->n) {
		pthread_mutex_lock(&linker_lock);
		struct callers *next = NULL;
		if (linker_snapshots < LINKER_MAX_SNAPSHOTS)
			next = malloc(sizeof(*next));
		if (next) {
			next->n = 0;
			for (size_t i = 0; i < c->n; i++)
				if (l.still[i])
					next->r[next->n++] = c->r[i];
			linker_snapshots++;
		}
		/* Without memory for a new one, nothing is cached. */
		callers_swap(c, next);
		pthread_mutex_unlock(&linker_lock);
	}
	errno = saved;
}

/* Reads the DT_NEEDED names of an ELF file without loading it, every offset
 * checked against the file's size. */
int linker_file_needs_libcurl(const char *path)
{
	int found = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(ElfW(Ehdr)) ||
	    st.st_size > (off_t)1 << 30) {
		close(fd);
		return 0;
	}
	size_t size = (size_t)st.st_size;
	const unsigned char *f = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (f == MAP_FAILED)
		return 0;

	const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)f;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != LINKER_ELFCLASS ||
	    eh->e_phentsize != sizeof(ElfW(Phdr)) || eh->e_phoff > size ||
	    (size - eh->e_phoff) / sizeof(ElfW(Phdr)) < eh->e_phnum)
		goto out;
	const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(f + eh->e_phoff);
	const ElfW(Phdr) *dynph = NULL;
	for (int i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_DYNAMIC)
			dynph = &ph[i];
	if (!dynph || dynph->p_offset > size || dynph->p_filesz > size - dynph->p_offset)
		goto out;
	const ElfW(Dyn) *dyn = (const ElfW(Dyn) *)(f + dynph->p_offset);
	size_t ndyn = dynph->p_filesz / sizeof(ElfW(Dyn));

	/* DT_STRTAB is an address: map it to a file offset through PT_LOAD. */
	uintptr_t strtab_addr = 0;
	size_t strsz = 0;
	for (size_t i = 0; i < ndyn && dyn[i].d_tag != DT_NULL; i++) {
		if (dyn[i].d_tag == DT_STRTAB)
			strtab_addr = dyn[i].d_un.d_ptr;
		else if (dyn[i].d_tag == DT_STRSZ)
			strsz = dyn[i].d_un.d_val;
	}
	size_t stroff = 0;
	bool mapped = false;
	for (int i = 0; i < eh->e_phnum && !mapped; i++) {
		if (ph[i].p_type == PT_LOAD && strtab_addr >= ph[i].p_vaddr &&
		    strtab_addr - ph[i].p_vaddr < ph[i].p_filesz) {
			stroff = ph[i].p_offset + (strtab_addr - ph[i].p_vaddr);
			mapped = true;
		}
	}
	if (!mapped || stroff > size || strsz > size - stroff)
		goto out;
	for (size_t i = 0; i < ndyn && dyn[i].d_tag != DT_NULL && !found; i++) {
		if (dyn[i].d_tag != DT_NEEDED || dyn[i].d_un.d_val >= strsz)
			continue;
		const char *name = (const char *)f + stroff + dyn[i].d_un.d_val;
		size_t max = strsz - dyn[i].d_un.d_val;
		if (memchr(name, '\0', max) && is_libcurl_name(name))
			found = 1;
	}
out:
	munmap((void *)f, size);
	return found;
}

AUTHTAP_EXPORT int dlclose(void *handle);

int dlclose(void *handle)
{
	static int (*_Atomic real_dlclose)(void *);
	int (*real)(void *) = atomic_load_explicit(&real_dlclose, memory_order_acquire);

	if (!real) {
		real = (int (*)(void *))sym(RTLD_NEXT, "dlclose");
		if (!real)
			return -1;
		atomic_store_explicit(&real_dlclose, real, memory_order_release);
	}
	int rc = real(handle);
	if (rc == 0)
		linker_forget_unloaded();
	return rc;
}

void linker_atfork_prepare(void)
{
	pthread_mutex_lock(&linker_lock);
}

void linker_atfork_parent(void)
{
	pthread_mutex_unlock(&linker_lock);
}

void linker_atfork_child(void)
{
	pthread_mutex_unlock(&linker_lock);
}

static void *_Atomic linker_real_dlopen;

struct search_info {
	uintptr_t addr; /* in: an address inside the caller */
	bool found;
	char origin[512];
	char rpath[1024], runpath[1024];
};

static int find_search_info(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct search_info *si = arg;
	const ElfW(Dyn) *dyn = NULL;
	bool inside = false;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t s = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_DYNAMIC)
			dyn = (const ElfW(Dyn) *)s;
		if (ph->p_type == PT_LOAD && si->addr >= s && si->addr < s + ph->p_memsz)
			inside = true;
	}
	if (!inside)
		return 0;
	si->found = true;
	const char *name = info->dlpi_name;
	if (name && *name)
		strncpy(si->origin, name, sizeof(si->origin) - 1);
	else if (readlink("/proc/self/exe", si->origin, sizeof(si->origin) - 1) < 0)
		si->origin[0] = '\0';
	char *slash = strrchr(si->origin, '/');
	if (slash)
		*slash = '\0';
	const char *strtab = NULL;
	for (const ElfW(Dyn) *d = dyn; d && d->d_tag != DT_NULL; d++)
		if (d->d_tag == DT_STRTAB)
			strtab = (const char *)dyn_ptr(info->dlpi_addr, d->d_un.d_ptr);
	for (const ElfW(Dyn) *d = dyn; strtab && d->d_tag != DT_NULL; d++) {
		if (d->d_tag == DT_RPATH)
			strncpy(si->rpath, strtab + d->d_un.d_val, sizeof(si->rpath) - 1);
		else if (d->d_tag == DT_RUNPATH)
			strncpy(si->runpath, strtab + d->d_un.d_val, sizeof(si->runpath) - 1);
	}
	return 1;
}

/* Looks for name in each directory of a colon-separated list, with $ORIGIN
 * expanded; the first that exists goes to out. */
static bool search_dirs(const char *list, const char *origin, const char *name, char *out,
                        size_t size)
{
	while (list && *list) {
		size_t len = strcspn(list, ":");
		char dir[1024];
		size_t d = 0;
		for (size_t i = 0; i < len && d < sizeof(dir) - 1;) {
			if (strncmp(list + i, "$ORIGIN", 7) == 0 ||
			    strncmp(list + i, "${ORIGIN}", 9) == 0) {
				d += (size_t)snprintf(dir + d, sizeof(dir) - d, "%s", origin);
				i += list[i + 1] == '{' ? 9 : 7;
			} else {
				dir[d++] = list[i++];
			}
		}
		dir[d < sizeof(dir) ? d : sizeof(dir) - 1] = '\0';
		if (d && (size_t)snprintf(out, size, "%s/%s", dir, name) < size &&
		    access(out, F_OK) == 0)
			return true;
		list += len + (list[len] == ':');
	}
	return false;
}

/* Where the loader would find a bare library name for this caller:
 * DT_RPATH (without DT_RUNPATH), LD_LIBRARY_PATH, DT_RUNPATH, then the
 * system directories, libc's own first.  ld.so.cache is not read. */
static bool find_library(const char *name, uintptr_t caller, char *out, size_t size)
{
	struct search_info si = {.addr = caller};
	Dl_info libc;
	char libdir[256] = "", sysdirs[640];

	dl_iterate_phdr(find_search_info, &si);
	if (dladdr((void *)strlen, &libc) && libc.dli_fname) {
		strncpy(libdir, libc.dli_fname, sizeof(libdir) - 1);
		char *slash = strrchr(libdir, '/');
		if (slash)
			*slash = '\0';
	}
	/* libc's directory and its twin under or outside /usr (merged /usr). */
	snprintf(sysdirs, sizeof(sysdirs), "%s:%s%s:/lib64:/usr/lib64:/lib:/usr/lib", libdir,
	         strncmp(libdir, "/usr/", 5) == 0 ? "" : "/usr",
	         strncmp(libdir, "/usr/", 5) == 0 ? libdir + 4 : libdir);
	return (si.found && !si.runpath[0] && search_dirs(si.rpath, si.origin, name, out, size)) ||
	       search_dirs(secure_getenv("LD_LIBRARY_PATH"), si.origin, name, out, size) ||
	       (si.found && search_dirs(si.runpath, si.origin, name, out, size)) ||
	       search_dirs(sysdirs, "", name, out, size);
}

/* PHP loads its curl extension with RTLD_DEEPBIND, which binds the
 * extension's libcurl calls past the preload.  For an object that needs a
 * libcurl, the flag is dropped: its dependencies then bind global-first, as
 * for any other dlopen.  Every other call passes through untouched. */
struct deepbind_job {
	const char *file;
	int *flags;
	const void *caller;
};

static void deepbind_job_run(void *arg)
{
	struct deepbind_job *j = arg;
	char path[1024];
	const char *p = strchr(j->file, '/')                                              ? j->file
	                : find_library(j->file, (uintptr_t)j->caller, path, sizeof(path)) ? path
	                                                                                  : NULL;

	if (p && linker_file_needs_libcurl(p))
		*j->flags &= ~RTLD_DEEPBIND;
}

void *linker_dlopen_prepare(const char *file, int *flags, const void *caller)
{
	void *real = atomic_load_explicit(&linker_real_dlopen, memory_order_acquire);
	int saved = errno;

	if (!real) {
		real = sym(RTLD_NEXT, "dlopen");
		atomic_store_explicit(&linker_real_dlopen, real, memory_order_release);
	}
	if (file && (*flags & RTLD_DEEPBIND)) {
		struct deepbind_job j = {file, flags, caller};
		linker_on_big_stack(deepbind_job_run, &j);
	}
	errno = saved;
	return real;
}

/* dlopen itself.  glibc finds the caller of dlopen from its return address
 * and searches that object's RUNPATH and $ORIGIN, so the hook must leave
 * the return address alone: it asks linker_dlopen_prepare for the flags and
 * the real function, then jumps to it as a guaranteed tail call, which C
 * cannot promise.  Elsewhere dlopen is left alone. */
#if defined(__x86_64__)
__asm__(".text\n"
        ".globl dlopen\n"
        ".type dlopen, @function\n"
        "dlopen:\n"
        "	.cfi_startproc\n"
        "	pushq %rdi\n"
        "	.cfi_adjust_cfa_offset 8\n"
        "	subq $16, %rsp\n"
        "	.cfi_adjust_cfa_offset 16\n"
        "	movl %esi, (%rsp)\n"
        "	movq %rsp, %rsi\n"
        "	movq 24(%rsp), %rdx\n"
        "	call linker_dlopen_prepare\n"
        "	movl (%rsp), %esi\n"
        "	addq $16, %rsp\n"
        "	.cfi_adjust_cfa_offset -16\n"
        "	popq %rdi\n"
        "	.cfi_adjust_cfa_offset -8\n"
        "	testq %rax, %rax\n"
        "	jz 1f\n"
        "	jmp *%rax\n"
        "1:	ret\n"
        "	.cfi_endproc\n"
        ".size dlopen, .-dlopen\n");
#endif

/* The heavy lookups (dlopen, dlsym, the walk over the loaded objects, the
 * paths of the library search) need kilobytes of stack, and a host may
 * call libcurl from a thread of 16 KiB (PTHREAD_STACK_MIN), most of it
 * taken by libcurl itself and the thread-local storage glibc puts there.
 * They are rare (once per calling object), so each runs on a fresh stack
 * of its own, mapped for it with a guard page below and unmapped after;
 * without memory for it, on the caller's stack. */
#define LINKER_STACK_SIZE (256 * 1024)
#define LINKER_STACK_GUARD 4096

#if defined(__x86_64__)
void linker_call_on_stack(void (*fn)(void *), void *arg, void *top);

/* fn(arg) with the stack pointer at top (16-byte aligned), then back. */
__asm__(".text\n"
        ".globl linker_call_on_stack\n"
        ".hidden linker_call_on_stack\n"
        ".type linker_call_on_stack, @function\n"
        "linker_call_on_stack:\n"
        "	.cfi_startproc\n"
        "	pushq %rbp\n"
        "	.cfi_def_cfa_offset 16\n"
        "	.cfi_offset %rbp, -16\n"
        "	movq %rsp, %rbp\n"
        "	.cfi_def_cfa_register %rbp\n"
        "	movq %rdx, %rsp\n"
        "	movq %rdi, %rax\n"
        "	movq %rsi, %rdi\n"
        "	call *%rax\n"
        "	movq %rbp, %rsp\n"
        "	popq %rbp\n"
        "	.cfi_def_cfa %rsp, 8\n"
        "	ret\n"
        "	.cfi_endproc\n"
        ".size linker_call_on_stack, .-linker_call_on_stack\n");

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>

/* AddressSanitizer is told of the switch, or it takes the fresh stack for
 * an overflow of the thread's own. */
struct fiber_job {
	void (*fn)(void *);
	void *arg;
	void *fake;
	const void *bottom;
	size_t size;
};

static void fiber_run(void *arg)
{
	struct fiber_job *f = arg;

	__sanitizer_finish_switch_fiber(f->fake, &f->bottom, &f->size);
	f->fn(f->arg);
	__sanitizer_start_switch_fiber(&f->fake, f->bottom, f->size);
}
#endif

static void linker_on_big_stack(void (*fn)(void *), void *arg)
{
	size_t total = LINKER_STACK_SIZE + LINKER_STACK_GUARD;
	char *p = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p != MAP_FAILED &&
	    mprotect(p + LINKER_STACK_GUARD, LINKER_STACK_SIZE, PROT_READ | PROT_WRITE) == 0) {
#if defined(__SANITIZE_ADDRESS__)
		struct fiber_job f = {.fn = fn, .arg = arg};
		__sanitizer_start_switch_fiber(&f.fake, p + LINKER_STACK_GUARD, LINKER_STACK_SIZE);
		linker_call_on_stack(fiber_run, &f, p + total);
		__sanitizer_finish_switch_fiber(f.fake, NULL, NULL);
#else
		linker_call_on_stack(fn, arg, p + total);
#endif
		munmap(p, total);
		return;
	}
	if (p != MAP_FAILED)
		munmap(p, total);
	fn(arg);
}
#else
static void linker_on_big_stack(void (*fn)(void *), void *arg)
{
	fn(arg);
}
#endif

struct init_objects {
	uintptr_t addr[LINKER_MAX_CALLERS];
	size_t n;
};

/* Notes each loaded libcurl and each object that needs one. */
static int note_curl_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct init_objects *io = arg;
	struct object_info o = {0};

	for (int i = 0; i < info->dlpi_phnum && !o.addr; i++)
		if (info->dlpi_phdr[i].p_type == PT_LOAD)
			o.addr = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
	if (o.addr && find_object(info, size, &o) && ((o.is_libcurl && o.name[0]) || o.needed[0]) &&
	    io->n < LINKER_MAX_CALLERS)
		io->addr[io->n++] = o.addr;
	return 0;
}

static bool is_cached(uintptr_t a)
{
	const struct callers *c = atomic_load_explicit(&linker_callers, memory_order_acquire);

	for (size_t i = 0; c && i < c->n; i++)
		if (a >= c->r[i].lo && a < c->r[i].hi)
			return true;
	return false;
}

static void init_job_run(void *arg)
{
	struct init_objects io = {.n = 0};

	(void)arg;
	libc_resolve();
	dl_iterate_phdr(note_curl_object, &io);
	for (size_t i = 0; i < io.n; i++)
		if (!is_cached(io.addr[i]))
			resolve_caller(io.addr[i]);
	if (io.n && !atomic_load(&linker_default))
		atomic_store(&linker_default, default_lib());
}

void linker_init(void)
{
	int saved = errno;

	linker_on_big_stack(init_job_run, NULL);
	errno = saved;
}

/* What a program gets from dlsym(handle, "curl_easy_perform") and the
 * other hooked names: a route, which calls authtap's hook with the libcurl
 * the name was found in, however the program calls it (Python's ctypes and
 * Ruby's FFI call through libffi, which needs no libcurl).  One route per
 * library slot and hooked function, in the order of AUTHTAP_CURL_HOOKS
 * (ROUTE_ROW below follows it). */
#define ROUTE_ENUM(ret, name, params, args) ROUTE_##name,
#define ROUTE_ENUM_VOID(name, params, args) ROUTE_##name,
enum { AUTHTAP_CURL_HOOKS(ROUTE_ENUM, ROUTE_ENUM_VOID) ROUTE_N };
#undef ROUTE_ENUM
#undef ROUTE_ENUM_VOID

#define ROUTE_NAME(ret, name, params, args) [ROUTE_##name] = #name,
#define ROUTE_NAME_VOID(name, params, args) [ROUTE_##name] = #name,
static const char *const route_names[ROUTE_N] = {AUTHTAP_CURL_HOOKS(ROUTE_NAME, ROUTE_NAME_VOID)};
#undef ROUTE_NAME
#undef ROUTE_NAME_VOID

#define ROUTE __attribute__((noinline, used))
#define ROUTE_CALL(i, call)                                                                        \
	const struct curl_lib *outer = linker_route;                                               \
	linker_route = &linker_libs[i];                                                            \
	call;                                                                                      \
	linker_route = outer

#define ROUTES(i)                                                                                  \
	static ROUTE CURLcode route_perform_##i(CURL *h)                                           \
	{                                                                                          \
		CURLcode rc;                                                                       \
		ROUTE_CALL(i, rc = hook_curl_easy_perform(h));                                     \
		return rc;                                                                         \
	}                                                                                          \
	static ROUTE void route_cleanup_##i(CURL *h)                                               \
	{                                                                                          \
		ROUTE_CALL(i, hook_curl_easy_cleanup(h));                                          \
	}                                                                                          \
	static ROUTE CURLMcode route_add_##i(CURLM *m, CURL *h)                                    \
	{                                                                                          \
		CURLMcode rc;                                                                      \
		ROUTE_CALL(i, rc = hook_curl_multi_add_handle(m, h));                              \
		return rc;                                                                         \
	}                                                                                          \
	static ROUTE CURLMcode route_remove_##i(CURLM *m, CURL *h)                                 \
	{                                                                                          \
		CURLMcode rc;                                                                      \
		ROUTE_CALL(i, rc = hook_curl_multi_remove_handle(m, h));                           \
		return rc;                                                                         \
	}                                                                                          \
	static ROUTE CURLMsg *route_info_read_##i(CURLM *m, int *left)                             \
	{                                                                                          \
		CURLMsg *msg;                                                                      \
		ROUTE_CALL(i, msg = hook_curl_multi_info_read(m, left));                           \
		return msg;                                                                        \
	}                                                                                          \
	static ROUTE CURLMcode route_mcleanup_##i(CURLM *m)                                        \
	{                                                                                          \
		CURLMcode rc;                                                                      \
		ROUTE_CALL(i, rc = hook_curl_multi_cleanup(m));                                    \
		return rc;                                                                         \
	}                                                                                          \
	static ROUTE CURLMcode route_mperform_##i(CURLM *m, int *running)                          \
	{                                                                                          \
		CURLMcode rc;                                                                      \
		ROUTE_CALL(i, rc = hook_curl_multi_perform(m, running));                           \
		return rc;                                                                         \
	}                                                                                          \
	static ROUTE CURLMcode route_socket_action_##i(CURLM *m, curl_socket_t s, int ev,          \
	                                               int *running)                               \
	{                                                                                          \
		CURLMcode rc;                                                                      \
		ROUTE_CALL(i, rc = hook_curl_multi_socket_action(m, s, ev, running));              \
		return rc;                                                                         \
	}

ROUTES(0)
ROUTES(1)
ROUTES(2)
ROUTES(3)
ROUTES(4)
ROUTES(5)
ROUTES(6)
ROUTES(7)

#define ROUTE_ROW(i)                                                                               \
	{                                                                                          \
		(void *)route_perform_##i, (void *)route_cleanup_##i, (void *)route_add_##i,       \
		    (void *)route_remove_##i, (void *)route_info_read_##i,                         \
		    (void *)route_mcleanup_##i, (void *)route_mperform_##i,                        \
		    (void *)route_socket_action_##i                                                \
	}

_Static_assert(ROUTE_N == 8, "one route per hooked libcurl function in each ROUTE_ROW");
static void *const routes[LINKER_MAX_LIBS][ROUTE_N] = {
    ROUTE_ROW(0), ROUTE_ROW(1), ROUTE_ROW(2), ROUTE_ROW(3),
    ROUTE_ROW(4), ROUTE_ROW(5), ROUTE_ROW(6), ROUTE_ROW(7),
};
_Static_assert(LINKER_MAX_LIBS == 8, "one ROUTES() per library slot");

/* dlsym and dlvsym themselves, and libc's, which authtap finds in libc's
 * symbol table: asking dlsym for "dlsym" would come back here.  The
 * functions the hooks call before they jump are not instrumented by the
 * sanitizers: their runtime calls dlsym while it starts. */
#define NOSAN __attribute__((no_sanitize_address, no_sanitize_undefined, no_sanitize_thread))

static dlsym_fn _Atomic linker_real_dlsym;
static dlvsym_fn _Atomic linker_real_dlvsym;

static NOSAN bool same(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

/* The function called name in the loaded object at base with dynamic
 * section ld, by its GNU hash table (every glibc since 2.5 has one): its
 * default version, never a hidden older one. */
static NOSAN void *elf_function_at(uintptr_t base, const ElfW(Dyn) * ld, const char *name)
{
	const ElfW(Sym) *symtab = NULL;
	const char *strtab = NULL;
	const uint32_t *gh = NULL;
	const ElfW(Half) *versym = NULL;
	uint32_t h = 5381;

	for (const ElfW(Dyn) *d = ld; d && d->d_tag != DT_NULL; d++) {
		if (d->d_tag == DT_SYMTAB)
			symtab = (const ElfW(Sym) *)dyn_ptr(base, d->d_un.d_ptr);
		else if (d->d_tag == DT_STRTAB)
			strtab = (const char *)dyn_ptr(base, d->d_un.d_ptr);
		else if (d->d_tag == DT_GNU_HASH)
			gh = (const uint32_t *)dyn_ptr(base, d->d_un.d_ptr);
		else if (d->d_tag == DT_VERSYM)
			versym = (const ElfW(Half) *)dyn_ptr(base, d->d_un.d_ptr);
	}
	if (!symtab || !strtab || !gh || gh[0] == 0)
		return NULL;
	uint32_t nbuckets = gh[0], symoffset = gh[1], bloom_size = gh[2];
	const ElfW(Addr) *bloom = (const ElfW(Addr) *)(gh + 4);
	const uint32_t *buckets = (const uint32_t *)(bloom + bloom_size);
	const uint32_t *chain = buckets + nbuckets;
	for (const char *c = name; *c; c++)
		h = h * 33 + (unsigned char)*c;
	for (uint32_t i = buckets[h % nbuckets]; i >= symoffset && i != 0; i++) {
		uint32_t ch = chain[i - symoffset];
		const ElfW(Sym) *s = &symtab[i];
		if ((ch | 1) == (h | 1) && s->st_shndx != SHN_UNDEF &&
		    ELF64_ST_TYPE(s->st_info) == STT_FUNC && !(versym && (versym[i] & 0x8000)) &&
		    same(strtab + s->st_name, name))
			return (void *)(base + s->st_value);
		if (ch & 1)
			break;
	}
	return NULL;
}

static NOSAN void *elf_function(const struct link_map *map, const char *name)
{
	return elf_function_at(map->l_addr, map->l_ld, name);
}

static NOSAN void find_real_dl(void)
{
	Dl_info info;
	struct link_map *libc = NULL;

	/* A function that only libc defines names libc's object. */
	if (!dladdr1((void *)gnu_get_libc_version, &info, (void **)&libc, RTLD_DL_LINKMAP) || !libc)
		return;
	atomic_store_explicit(&linker_real_dlvsym, (dlvsym_fn)elf_function(libc, "dlvsym"),
	                      memory_order_release);
	atomic_store_explicit(&linker_real_dlsym, (dlsym_fn)elf_function(libc, "dlsym"),
	                      memory_order_release);
}

static NOSAN dlsym_fn real_dlsym(void)
{
	dlsym_fn f = atomic_load_explicit(&linker_real_dlsym, memory_order_acquire);

	if (!f) {
		find_real_dl();
		f = atomic_load_explicit(&linker_real_dlsym, memory_order_acquire);
	}
	return f;
}

static NOSAN dlvsym_fn real_dlvsym(void)
{
	dlvsym_fn f = atomic_load_explicit(&linker_real_dlvsym, memory_order_acquire);

	if (!f) {
		find_real_dl();
		f = atomic_load_explicit(&linker_real_dlvsym, memory_order_acquire);
	}
	return f;
}

static NOSAN int route_index(const char *name)
{
	if (!name || name[0] != 'c' || name[1] != 'u' || name[2] != 'r' || name[3] != 'l' ||
	    name[4] != '_')
		return -1;
	for (int i = 0; i < ROUTE_N; i++)
		if (same(name, route_names[i]))
			return i;
	return -1;
}

struct dlsym_job {
	void *handle;
	const char *name, *version;
	void *f;
};

/* The route for what the real lookup found, when it is a hooked function
 * of a libcurl: anything else (nothing, authtap's own hook, another
 * library's function of that name) is handed back as it is. */
static void dlsym_job_run(void *arg)
{
	struct dlsym_job *j = arg;
	int r = route_index(j->name);
	Dl_info info;

	j->f = j->version ? real_dlvsym()(j->handle, j->name, j->version)
	                  : real_dlsym()(j->handle, j->name);
	if (!j->f || r < 0 || !dladdr(j->f, &info) || !info.dli_fname ||
	    !is_libcurl_name(info.dli_fname))
		return;
	const struct curl_lib *lib = lib_by_name(info.dli_fname);
	struct object_info self = {.addr = (uintptr_t)dlsym_job_run};
	if (!atomic_load(&linker_self_size)) {
		dl_iterate_phdr(find_object, &self);
		if (self.found) {
			atomic_store(&linker_self_lo, self.lo);
			atomic_store(&linker_self_size, self.hi - self.lo);
		}
	}
	/* authtap's lookups may have left an error behind; the program's
	 * lookup succeeded. */
	dlerror();
	if (lib && (uintptr_t)j->f - lib->lo < lib->size && atomic_load(&linker_self_size))
		j->f = routes[lib - linker_libs][r];
}

static void *dlsym_curl(void *handle, const char *name)
{
	int saved = errno;
	struct dlsym_job j = {handle, name, NULL, NULL};

	linker_on_big_stack(dlsym_job_run, &j);
	errno = saved;
	return j.f;
}

static void *dlvsym_curl(void *handle, const char *name, const char *version)
{
	int saved = errno;
	struct dlsym_job j = {handle, name, version, NULL};

	linker_on_big_stack(dlsym_job_run, &j);
	errno = saved;
	return j.f;
}

/* For the dlsym and dlvsym hooks: the function to jump to with the
 * caller's own arguments.  A lookup on a handle of a hooked name goes to
 * dlsym_curl; everything else, RTLD_NEXT and RTLD_DEFAULT above all, to
 * libc's, which then sees the program's own return address and resolves
 * RTLD_NEXT relative to the program.  (RTLD_DEFAULT already finds
 * authtap's hooks first, and RTLD_NEXT from an interposer preloaded after
 * authtap must reach libcurl past them.) */
NOSAN void *linker_dlsym_prepare(void *handle, const char *name) __attribute__((used));
NOSAN void *linker_dlvsym_prepare(void *handle, const char *name) __attribute__((used));

void *linker_dlsym_prepare(void *handle, const char *name)
{
	if (handle != RTLD_DEFAULT && handle != RTLD_NEXT && route_index(name) >= 0)
		return (void *)dlsym_curl;
	return (void *)real_dlsym();
}

void *linker_dlvsym_prepare(void *handle, const char *name)
{
	if (handle != RTLD_DEFAULT && handle != RTLD_NEXT && route_index(name) >= 0)
		return (void *)dlvsym_curl;
	return (void *)real_dlvsym();
}

/* dlsym(handle, name) and dlvsym(handle, name, version): ask the prepare
 * function with the arguments kept, then jump, as the dlopen hook does. */
#if defined(__x86_64__)
__asm__(".text\n"
        ".globl dlsym\n"
        ".type dlsym, @function\n"
        "dlsym:\n"
        "	.cfi_startproc\n"
        "	pushq %rdi\n"
        "	.cfi_adjust_cfa_offset 8\n"
        "	pushq %rsi\n"
        "	.cfi_adjust_cfa_offset 8\n"
        "	subq $8, %rsp\n"
        "	.cfi_adjust_cfa_offset 8\n"
        "	call linker_dlsym_prepare\n"
        "	addq $8, %rsp\n"
        "	.cfi_adjust_cfa_offset -8\n"
        "	popq %rsi\n"
        "	.cfi_adjust_cfa_offset -8\n"
        "	popq %rdi\n"
        "	.cfi_adjust_cfa_offset -8\n"
        "	testq %rax, %rax\n"
        "	jz 1f\n"
        "	jmp *%rax\n"
        "1:	ret\n"
        "	.cfi_endproc\n"
        ".size dlsym, .-dlsym\n"
        ".globl dlvsym\n"
        ".type dlvsym, @function\n"
        "dlvsym:\n"
        "	.cfi_startproc\n"
        "	pushq %rdi\n"
        "	.cfi_adjust_cfa_offset 8\n"
        "	pushq %rsi\n"
        "	.cfi_adjust_cfa_offset 8\n"
        "	pushq %rdx\n"
        "	.cfi_adjust_cfa_offset 8\n"
        "	call linker_dlvsym_prepare\n"
        "	popq %rdx\n"
        "	.cfi_adjust_cfa_offset -8\n"
        "	popq %rsi\n"
        "	.cfi_adjust_cfa_offset -8\n"
        "	popq %rdi\n"
        "	.cfi_adjust_cfa_offset -8\n"
        "	testq %rax, %rax\n"
        "	jz 1f\n"
        "	jmp *%rax\n"
        "1:	ret\n"
        "	.cfi_endproc\n"
        ".size dlvsym, .-dlvsym\n");
#endif

/* --- the socket source --- */

bool linker_in_curl(const void *addr)
{
	size_t n = __atomic_load_n(&linker_nlibs, __ATOMIC_ACQUIRE);

	for (size_t i = 0; i < n && i < LINKER_MAX_LIBS; i++)
		if ((uintptr_t)addr - linker_libs[i].lo < linker_libs[i].size)
			return true;
	return false;
}

void *linker_tls_sym(const char *name, const void *self)
{
	static const char *const libs[] = {"libssl.so.3", "libssl.so.1.1", "libgnutls.so.30"};
	int saved = errno;
	void *f = sym(RTLD_NEXT, name);

	for (size_t i = 0; (!f || f == self) && i < sizeof(libs) / sizeof(libs[0]); i++) {
		void *h = dlopen(libs[i], RTLD_LAZY | RTLD_NOLOAD);
		if (!h)
			continue;
		f = sym(h, name);
		/* The library stays loaded: the program holds it. */
		dlclose(h);
	}
	errno = saved;
	return f == self ? NULL : f;
}

struct tls_job {
	const char *name;
	const void *self;
	void *f;
};

static void tls_job_run(void *arg)
{
	struct tls_job *j = arg;

	j->f = linker_tls_sym(j->name, j->self);
}

void *linker_tls_find(void *_Atomic *slot, const char *name, const void *self)
{
	int saved = errno;
	struct tls_job j = {name, self, NULL};

	linker_on_big_stack(tls_job_run, &j);
	if (j.f)
		atomic_store_explicit(slot, j.f, memory_order_release);
	errno = saved;
	return j.f;
}

/* --- the libc hooks --- */

/* Until the real functions are known, each pointer goes to a stand-in
 * that looks them all up (libc_walk) and calls the real one: no system
 * call of authtap's own is ever made in the program's place, so
 * cancellation points, errno and interposers behave as without authtap. */
#define FIRST(ret, name, params, args)                                                             \
	static NOSAN ret first_##name params;                                                      \
	ret(*real_##name) params = first_##name;
#define FIRST_VOID(name, params, args)                                                             \
	static NOSAN void first_##name params;                                                     \
	void(*real_##name) params = first_##name;
AUTHTAP_LIBC_HOOKS(FIRST, FIRST_VOID)
#undef FIRST
#undef FIRST_VOID

/* A function that no object defines. */
#define MISSING(ret, name, params, args)                                                           \
	static ret missing_##name params                                                           \
	{                                                                                          \
		errno = ENOSYS;                                                                    \
		return -1;                                                                         \
	}
#define MISSING_VOID(name, params, args)                                                           \
	static void missing_##name params                                                          \
	{                                                                                          \
		errno = ENOSYS;                                                                    \
	}
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
AUTHTAP_LIBC_HOOKS(MISSING, MISSING_VOID)
#pragma GCC diagnostic pop
#undef MISSING
#undef MISSING_VOID

/* The first object of the program's list, from the main program's
 * DT_DEBUG entry (the loader's r_debug): no lock, unlike dl_iterate_phdr
 * and dladdr. */
static NOSAN struct link_map *first_object(void)
{
	const ElfW(Phdr) *ph = (const ElfW(Phdr) *)getauxval(AT_PHDR);
	size_t n = getauxval(AT_PHNUM);
	uintptr_t base = 0;
	const ElfW(Dyn) *dyn = NULL;

	for (size_t i = 0; ph && i < n; i++)
		if (ph[i].p_type == PT_PHDR)
			base = (uintptr_t)ph - ph[i].p_vaddr;
	for (size_t i = 0; ph && i < n; i++)
		if (ph[i].p_type == PT_DYNAMIC)
			dyn = (const ElfW(Dyn) *)(base + ph[i].p_vaddr);
	for (const ElfW(Dyn) *d = dyn; d && d->d_tag != DT_NULL; d++)
		if (d->d_tag == DT_DEBUG && d->d_un.d_ptr)
			return ((struct r_debug *)d->d_un.d_ptr)->r_map;
	return NULL;
}

/* The next definition of each hook's name after authtap's object in the
 * list of loaded objects, as RTLD_NEXT finds it, read from the objects'
 * symbol tables: no malloc, no system call, a few hundred bytes of stack,
 * and no lock when the program has a DT_DEBUG entry (every dynamically
 * linked one the toolchain makes): safe in a signal handler and before any
 * constructor.  A program without one gets dl_iterate_phdr's walk of the
 * same list, under the loader's recursive list lock. */
enum {
#define LIBC_INDEX(ret, name, params, args) LIBC_##name,
#define LIBC_INDEX_VOID(name, params, args) LIBC_##name,
	AUTHTAP_LIBC_HOOKS(LIBC_INDEX, LIBC_INDEX_VOID)
#undef LIBC_INDEX
#undef LIBC_INDEX_VOID
	    LIBC_N
};

struct libc_walk {
	bool after_self;
	void *found[LIBC_N];
};

static NOSAN void walk_object(struct libc_walk *w, uintptr_t base, const ElfW(Dyn) * ld)
{
	void *f;

	if (!w->after_self) {
		w->after_self = ld == (const ElfW(Dyn) *)_DYNAMIC;
		return;
	}
#define WALK(name)                                                                                 \
	if (!w->found[LIBC_##name] && (f = elf_function_at(base, ld, #name)) &&                    \
	    f != (const void *)hook_##name)                                                        \
		w->found[LIBC_##name] = f;
#define WALK_X(ret, name, params, args) WALK(name)
#define WALK_XV(name, params, args) WALK(name)
	AUTHTAP_LIBC_HOOKS(WALK_X, WALK_XV)
#undef WALK
#undef WALK_X
#undef WALK_XV
}

static NOSAN int walk_phdr(struct dl_phdr_info *info, size_t size, void *arg)
{
	const ElfW(Dyn) *ld = NULL;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
			ld = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
	walk_object(arg, info->dlpi_addr, ld);
	return 0;
}

static NOSAN void libc_walk(void)
{
	struct libc_walk w = {.after_self = false};
	struct link_map *first = first_object();

	/* Twice when authtap's object is not in the list (another
	 * namespace): then from the first object on. */
	for (int pass = 0; pass < 2 && !(pass && w.after_self); pass++) {
		w.after_self = pass == 1;
		if (first)
			for (struct link_map *m = first; m; m = m->l_next)
				walk_object(&w, m->l_addr, m->l_ld);
		else
			dl_iterate_phdr(walk_phdr, &w);
	}
#define STORE(name)                                                                                \
	if (w.found[LIBC_##name])                                                                  \
		__atomic_store_n(&real_##name, (__typeof__(real_##name))w.found[LIBC_##name],      \
		                 __ATOMIC_RELEASE);                                                \
	else if (real_##name == first_##name)                                                      \
		__atomic_store_n(&real_##name, missing_##name, __ATOMIC_RELEASE);
#define STORE_X(ret, name, params, args) STORE(name)
#define STORE_XV(name, params, args) STORE(name)
	AUTHTAP_LIBC_HOOKS(STORE_X, STORE_XV)
#undef STORE
#undef STORE_X
#undef STORE_XV
}

#define FIRST(ret, name, params, args)                                                             \
	static ret first_##name params                                                             \
	{                                                                                          \
		libc_walk();                                                                       \
		return real_##name args;                                                           \
	}
#define FIRST_VOID(name, params, args)                                                             \
	static void first_##name params                                                            \
	{                                                                                          \
		libc_walk();                                                                       \
		real_##name args;                                                                  \
	}
AUTHTAP_LIBC_HOOKS(FIRST, FIRST_VOID)
#undef FIRST
#undef FIRST_VOID

/* At start-up, on linker_init's own stack, whether or not authtap is
 * disabled: what dlsym(RTLD_NEXT) says replaces what the walk found. */
static void libc_resolve(void)
{
	void *f;

	if (__atomic_load_n(&real_read, __ATOMIC_RELAXED) == first_read)
		libc_walk();
#define RESOLVE(name)                                                                              \
	if ((f = sym(RTLD_NEXT, #name)) && f != (void *)hook_##name)                               \
		__atomic_store_n(&real_##name, (__typeof__(real_##name))f, __ATOMIC_RELEASE);
#define RESOLVE_X(ret, name, params, args) RESOLVE(name)
#define RESOLVE_XV(name, params, args) RESOLVE(name)
	AUTHTAP_LIBC_HOOKS(RESOLVE_X, RESOLVE_XV)
#undef RESOLVE
#undef RESOLVE_X
#undef RESOLVE_XV
	dlerror();
}
