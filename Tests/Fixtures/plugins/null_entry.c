/*
 * null_entry.c: test fixture. The entry point refuses to load: it says why
 * with host->set_error(NULL, ...) and returns NULL. The host must show the
 * message and skip the library.
 */
#include <string.h>

#include "pipeline_plugin.h"

PIPELINE_PLUGIN_EXPORT const pipeline_plugin *pipeline_plugin_entry(const pipeline_host *host) {
  static const char msg[] = "refusing to load: needs the frobnicator service";
  host->set_error(NULL, PIPELINE_INVALID_ARGUMENT, msg, strlen(msg));
  return NULL;
}
