/* Everything authtap asks of the dynamic linker: which loaded libcurl a
 * caller is bound to, and the dlopen hook that keeps PHP's RTLD_DEEPBIND
 * from bypassing the preload. */
#ifndef AUTHTAP_LINKER_H
#define AUTHTAP_LINKER_H

#include "curl_lib.h"

/* The libcurl build that code at address caller is linked against: the one
 * its object needs (DT_NEEDED), libcurl itself when it calls its own
 * exported functions, else the first libcurl found.  NULL when no libcurl
 * can be found.  Looked up once per calling object, then cached. */
const struct curl_lib *linker_lib_for(const void *caller);

/* After a dlclose: drops cached callers whose object is no longer loaded. */
void linker_forget_unloaded(void);

void linker_atfork_prepare(void);
void linker_atfork_parent(void);
void linker_atfork_child(void);

/* For the dlopen hook: the real dlopen, and the flags to hand it; caller
 * is dlopen's return address. */
void *linker_dlopen_prepare(const char *file, int *flags, const void *caller)
	__attribute__((used));

/* True when the ELF file at path names a libcurl in its DT_NEEDED. */
int linker_file_needs_libcurl(const char *path);

#endif
