/*
 * status.c: messages and names for redlock_status, generated from the one
 * list in redlock.h, so a status without a message cannot compile.
 */
#include "redlock.h"

/* The message of st, or "unknown status". */
const char *redlock_strerror(redlock_status st)
{
    switch (st) {
#define REDLOCK__STATUS_MSG(name, num, msg)                                   \
    case REDLOCK_##name:                                                      \
        return msg;
        REDLOCK_STATUS_MAP(REDLOCK__STATUS_MSG)
#undef REDLOCK__STATUS_MSG
    }
    return "unknown status";
}

/* The enum name of st, or "REDLOCK_UNKNOWN". */
const char *redlock_status_name(redlock_status st)
{
    switch (st) {
#define REDLOCK__STATUS_NAME(name, num, msg)                                  \
    case REDLOCK_##name:                                                      \
        return "REDLOCK_" #name;
        REDLOCK_STATUS_MAP(REDLOCK__STATUS_NAME)
#undef REDLOCK__STATUS_NAME
    }
    return "REDLOCK_UNKNOWN";
}
