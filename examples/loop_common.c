/*
 * loop_common.c: the event-loop examples' workload; see loop_common.h.
 *
 * Everything here runs on the loop's one thread: submits, completion
 * callbacks (redlock_queue_dispatch() runs them there) and timer ticks,
 * so the bookkeeping needs no lock. A hold is recorded when its acquire's
 * callback runs and ended when its release is submitted; a second hold of
 * a resource while one is recorded is an overlap.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop_common.h"

#define EX_RES_MAX 1024

typedef struct hold {
    redlock_lock *lock;
    size_t res;
    uint64_t until_us;
} hold;

typedef struct op_ctx {
    ex_run *r;
    size_t res;
} op_ctx;

struct ex_run {
    redlock_manager *m;
    redlock_queue *q;
    size_t ops, resources;
    uint32_t hold_ms, deadline_ms;
    char names[EX_RES_MAX][32];
    int held[EX_RES_MAX];      /* holds of each resource right now */
    size_t submitted, acquired, failed, released, release_failed;
    size_t overlaps, in_flight, max_in_flight;
    uint64_t max_iteration_us, ticks;
    hold *holds;               /* holds still running */
    size_t nholds;
    op_ctx *ctx;               /* one per acquire */
    redlock_status last_failure;
    bool said_submitted;
};

uint64_t ex_now_us(void)
{
    return redlock_clock_us();
}

static void on_released(redlock_pending *p, redlock_status st,
                        redlock_lock *lock, void *userdata)
{
    (void)p;
    (void)lock;
    ex_run *r = userdata;
    r->released++;
    r->in_flight--;
    if (st != REDLOCK_OK) {
        r->release_failed++;
        r->last_failure = st;
    }
}

static void on_acquired(redlock_pending *p, redlock_status st,
                        redlock_lock *lock, void *userdata)
{
    (void)p;
    op_ctx *c = userdata;
    ex_run *r = c->r;
    r->in_flight--;
    if (st != REDLOCK_OK) {
        r->failed++;
        r->last_failure = st;
        return;
    }
    r->acquired++;
    if (r->held[c->res]++ > 0)
        r->overlaps++;
    r->holds[r->nholds++] = (hold){lock, c->res,
                                   ex_now_us() + (uint64_t)r->hold_ms * 1000u};
}

void ex_tick(ex_run *r)
{
    r->ticks++;
    uint64_t now = ex_now_us();
    for (size_t i = 0; i < r->nholds;) {
        if (r->holds[i].until_us > now) {
            i++;
            continue;
        }
        hold h = r->holds[i];
        r->holds[i] = r->holds[--r->nholds];
        r->held[h.res]--;
        if (redlock_release_async(r->q, h.lock, on_released, r, NULL) ==
            REDLOCK_OK)
            r->in_flight++;
        else {
            r->released++;
            r->release_failed++;
            redlock_lock_free(h.lock);
        }
    }
}

void ex_submit_some(ex_run *r, size_t max)
{
    redlock_acquire_opts o;
    redlock_acquire_opts_init(&o);
    o.retry_count = REDLOCK_RETRY_UNTIL_DEADLINE;
    for (size_t n = 0; n < max && r->submitted < r->ops; n++) {
        size_t i = r->submitted++;
        op_ctx *c = &r->ctx[i];
        c->r = r;
        c->res = i % r->resources;
        o.deadline_us = ex_now_us() + (uint64_t)r->deadline_ms * 1000u;
        const char *name = r->names[c->res];
        redlock_status st = redlock_acquire_async(
            r->q, name, strlen(name), 10000, &o, on_acquired, c, NULL);
        if (st != REDLOCK_OK) {
            r->failed++;
            r->last_failure = st;
            continue;
        }
        if (++r->in_flight > r->max_in_flight)
            r->max_in_flight = r->in_flight;
    }
    if (r->submitted == r->ops && !r->said_submitted) {
        r->said_submitted = true;
        printf("submitted %zu, in flight %zu\n", r->ops, r->in_flight);
        fflush(stdout);
    }
}

void ex_dispatch(ex_run *r, size_t max)
{
    (void)redlock_queue_dispatch(r->q, max);
}

void ex_iteration(ex_run *r, uint64_t us)
{
    if (us > r->max_iteration_us)
        r->max_iteration_us = us;
}

bool ex_done(const ex_run *r)
{
    return r->submitted == r->ops && r->in_flight == 0 && r->nholds == 0;
}

int ex_queue_fd(const ex_run *r)
{
    return redlock_queue_fd(r->q);
}

static unsigned long arg_num(const char *s, bool *bad)
{
    char *end = NULL;
    unsigned long v = strtoul(s, &end, 10);
    if (end == s || *end != '\0')
        *bad = true;
    return v;
}

ex_run *ex_start(int argc, char **argv, bool *usage)
{
    *usage = false;
    ex_run *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->ops = 1000;
    r->resources = 50;
    r->hold_ms = 2;
    r->deadline_ms = 60000;
    int i = 1;
    bool bad = false;
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        unsigned long v = arg_num(argv[i + 1], &bad);
        if (strcmp(argv[i], "--ops") == 0)
            r->ops = v;
        else if (strcmp(argv[i], "--resources") == 0)
            r->resources = v;
        else if (strcmp(argv[i], "--hold-ms") == 0)
            r->hold_ms = (uint32_t)v;
        else if (strcmp(argv[i], "--deadline-ms") == 0)
            r->deadline_ms = (uint32_t)v;
        else
            bad = true;
    }
    if (bad || i >= argc || r->ops == 0 || r->resources == 0 ||
        r->resources > EX_RES_MAX || r->ops > 1000000) {
        fprintf(stderr, "usage: %s [--ops N] [--resources R (1..%d)] "
                        "[--hold-ms H] [--deadline-ms D] URI...\n",
                argv[0], EX_RES_MAX);
        *usage = true;
        free(r);
        return NULL;
    }
    for (size_t k = 0; k < r->resources; k++)
        snprintf(r->names[k], sizeof(r->names[k]), "example:%zu", k);
    r->holds = calloc(r->ops, sizeof(*r->holds));
    r->ctx = calloc(r->ops, sizeof(*r->ctx));
    redlock_options o;
    redlock_options_init(&o);
    o.retry_delay_ms = 10;
    o.retry_jitter_ms = 10;
    char err[256];
    redlock_status st =
        r->holds == NULL || r->ctx == NULL
            ? REDLOCK_ENOMEM
            : redlock_manager_create_ex((const char *const *)&argv[i],
                                        (size_t)(argc - i), &o, &r->m, err,
                                        sizeof(err));
    if (st == REDLOCK_OK)
        st = redlock_queue_create(r->m, NULL, &r->q);
    if (st != REDLOCK_OK) {
        fprintf(stderr, "%s: %s\n", argv[0], redlock_strerror(st));
        redlock_manager_destroy(r->m);
        free(r->holds);
        free(r->ctx);
        free(r);
        return NULL;
    }
    return r;
}

int ex_finish(ex_run *r)
{
    printf("ops=%zu ok=%zu failed=%zu overlaps=%zu release_failed=%zu "
           "max_in_flight=%zu max_iteration_us=%llu ticks=%llu\n",
           r->ops, r->acquired, r->failed, r->overlaps, r->release_failed,
           r->max_in_flight, (unsigned long long)r->max_iteration_us,
           (unsigned long long)r->ticks);
    if (r->failed > 0 || r->release_failed > 0)
        printf("last failure: %s\n", redlock_status_name(r->last_failure));
    fflush(stdout);
    bool ok = r->acquired == r->ops && r->overlaps == 0 &&
              r->release_failed == 0;
    redlock_queue_destroy(r->q);
    redlock_manager_destroy(r->m);
    free(r->holds);
    free(r->ctx);
    free(r);
    return ok ? 0 : 1;
}
