/* The C module Swift imports: redcore's whole C API (found on the include path, from
 * pkg-config --cflags redcore or -I of the source tree's include/). */
#include <redcore.h>
