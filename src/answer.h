/*
 * answer.h: the kinds of fan-out command and what one node said
 * (internal; tier: pure leaf: two enums, no code).
 *
 * The vocabulary shared by reply.c (which turns a reply into an answer)
 * and the op API (which counts answers).
 */
#ifndef REDLOCK_ANSWER_H
#define REDLOCK_ANSWER_H



typedef enum redlock__op_kind {
    REDLOCK__OP_ACQUIRE = 0,       /* SET key token NX PX ttl */
    REDLOCK__OP_ACQUIRE_MULTI = 1, /* script: all keys or none */
    REDLOCK__OP_EXTEND = 2,        /* script: compare token, PEXPIRE (also
                                      the restore script: same replies) */
    REDLOCK__OP_RELEASE = 3,       /* script: compare token, DEL */
    REDLOCK__OP_RAW = 4,           /* any command; replies are kept */
    REDLOCK__OP_INT = 5            /* a script answering an integer:
                                      > 0 is yes, 0 is no; replies kept */
} redlock__op_kind;

/* What one node said. */
typedef enum redlock__answer {
    REDLOCK__ANS_NONE = 0, /* not yet */
    REDLOCK__ANS_YES = 1,
    REDLOCK__ANS_NO = 2,
    REDLOCK__ANS_ERROR = 3
} redlock__answer;

#endif /* REDLOCK_ANSWER_H */
