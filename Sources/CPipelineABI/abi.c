/* SwiftPM needs one source file per C target. Compiling the header here also
   runs its _Static_assert layout checks on every build. */
#include "pipeline_plugin.h"
