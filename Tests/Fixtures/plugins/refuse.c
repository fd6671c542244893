/*
 * refuse.c: test fixture. An ABI 1.3 entry point that refuses to load with
 * host->refuse (its own host table names the library), after logging
 * through host->log_plugin.
 */
#include <string.h>

#include "pipeline_plugin.h"

PIPELINE_PLUGIN_EXPORT const pipeline_plugin *pipeline_plugin_entry(const pipeline_host *host) {
  static const char line[] = "refuse fixture: checking for the frobnicator";
  static const char msg[] = "refusing to load: no frobnicator on this host";
  if (!PIPELINE_HAS_FIELD(host, pipeline_host, refuse) || host->refuse == NULL) return NULL;
  host->log_plugin(host, PIPELINE_LOG_INFO, line, strlen(line));
  host->refuse(host, msg, strlen(msg));
  return NULL;
}
