/*
 * fence.h: a fencing-number draw in steps (internal; see fence.c), for
 * redlock_fence_next() and its non-blocking form (async.c): begin, then
 * rounds of read-post / read-finish / write-post / write-finish (up to
 * REDLOCK__FENCE_ROUNDS, a pause between two), then end.
 */
#ifndef REDLOCK_FENCE_H
#define REDLOCK_FENCE_H

#include <stddef.h>
#include <stdint.h>

#include "op.h"
#include "redlock.h"

/* Rounds of a draw that keeps losing races with other draws. */
#define REDLOCK__FENCE_ROUNDS 8

struct redlock_manager;

typedef struct redlock__fence {
    struct redlock_manager *m;
    char *key;            /* "<key>:fence", owned until _end() */
    size_t keylen;
    uint64_t next;        /* the number this round proposes */
} redlock__fence;

/* Check the lock (EINVAL, EMISUSE, ERELEASED, ECLOSED, EEXPIRED) and make
 * the counter's key (ENOMEM). Nothing to free unless OK. */
redlock_status redlock__fence_begin(struct redlock_lock *lock,
                                    redlock__fence *f);

/* Post the read or the write of a round (NULL on OOM); on_done NULL: the
 * caller waits on its own thread. *limit: wait for it until then. */
redlock__op *redlock__fence_read_post(redlock__fence *f,
                                      void (*on_done)(void *), void *arg,
                                      uint64_t *limit);
redlock__op *redlock__fence_write_post(redlock__fence *f,
                                       void (*on_done)(void *), void *arg,
                                       uint64_t *limit);

/* Decide them (each drops the op): the read sets f->next (OK, ENOQUORUM,
 * EPROTO); the write says OK, ETAKEN (lost a race: another round) or
 * why not. */
redlock_status redlock__fence_read_finish(redlock__fence *f,
                                          redlock__op *rd);
redlock_status redlock__fence_write_finish(redlock__fence *f,
                                           redlock__op *wr);

/* The pause before another round, in microseconds (jittered). */
uint64_t redlock__fence_pause_us(void);

/* The draw's outcome after its last round ended with st: a number won
 * after the lock's validity ended is not handed out (EEXPIRED); rounds
 * used up are ENOQUORUM. *fence is the number on OK, else 0. Frees the
 * key. */
redlock_status redlock__fence_end(redlock__fence *f,
                                  struct redlock_lock *lock,
                                  redlock_status st, uint64_t *fence);

#endif /* REDLOCK_FENCE_H */
