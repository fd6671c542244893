/*
 * no_entry.c: test fixture. A shared library that exports a function, but
 * not pipeline_plugin_entry: the host must report the missing symbol.
 */
#include "pipeline_plugin.h"

static const pipeline_plugin plugin = {
    .struct_size = sizeof(pipeline_plugin),
    .abi_major = PIPELINE_ABI_MAJOR,
    .abi_minor = 0,
    .name = "org.test.no_entry",
    .version = "1.0.0",
    .description = "Test fixture: the entry point has the wrong name.",
    .step_count = 0,
    .steps = NULL,
};

/* The right signature under the wrong name. */
PIPELINE_PLUGIN_EXPORT const pipeline_plugin *pipeline_plugin_main(const pipeline_host *host);
PIPELINE_PLUGIN_EXPORT const pipeline_plugin *pipeline_plugin_main(const pipeline_host *host) {
  (void)host;
  return &plugin;
}
