/*
 * version.c: the library's version at run time, from the generated
 * redlock_version.h (CMake's project() version is the only source).
 */
#include "redlock.h"

/* "MAJOR.MINOR.PATCH". */
const char *redlock_version(void)
{
    return REDLOCK_VERSION_STRING;
}

/* (major << 16) | (minor << 8) | patch. */
unsigned redlock_version_number(void)
{
    return REDLOCK_VERSION_NUMBER;
}
