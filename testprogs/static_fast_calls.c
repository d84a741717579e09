/* fast_calls.c, linked statically (build.sh links static_*.c with -static): the runtime
 * needs no dynamic loader and no LD_PRELOAD. */
#include "fast_calls.c"
