/* The one entry point of tests/programs/plugin.c. */
#ifndef AUTHTAP_TEST_PLUGIN_H
#define AUTHTAP_TEST_PLUGIN_H

#ifndef PLUGIN_ENTRY
#define PLUGIN_ENTRY plugin_run
#endif

#define PLUGIN_SYMBOL "plugin_run"

int PLUGIN_ENTRY(const char *easy_url, const char *multi_url);

#endif
