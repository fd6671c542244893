/*
 * tiny_struct.c: test fixture. A pipeline_plugin whose struct_size is below
 * the frozen 1.0 size: the host must refuse it as malformed, naming the
 * size it needs, without reading past what the plugin declared.
 */
#include "pipeline_plugin.h"

PIPELINE_PLUGIN_EXPORT const pipeline_plugin *pipeline_plugin_entry(const pipeline_host *host) {
  static pipeline_plugin plugin;
  (void)host;
  plugin.struct_size = 16;
  plugin.abi_major = PIPELINE_ABI_MAJOR;
  plugin.abi_minor = 0;
  return &plugin;
}
