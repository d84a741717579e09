/* gdb_errno built with -static: thread-local storage without a dynamic loader. */
#include "gdb_errno.c"
