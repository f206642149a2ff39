/*
 * loop_libevent.c: taking and releasing locks from a libevent loop, with
 * no other thread of ours (docs/api.md, "Event loops").
 *
 * A persistent read event on the completion queue's fd runs
 * redlock_queue_dispatch() on the loop thread; a persistent 1 ms timer
 * ends holds whose time is up. The loop runs one iteration at a time
 * (EVLOOP_ONCE), each timed from its first callback to its end. The
 * workload is loop_common.c's.
 */
#include <stdio.h>

#include <event2/event.h>

#include "loop_common.h"

typedef struct loop_state {
    ex_run *r;
    uint64_t woke_us;
} loop_state;

static void woke(loop_state *s)
{
    if (s->woke_us == 0)
        s->woke_us = ex_now_us();
}

static void on_queue(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    loop_state *s = arg;
    woke(s);
    ex_dispatch(s->r, 256);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    loop_state *s = arg;
    woke(s);
    ex_tick(s->r);
}

int main(int argc, char **argv)
{
    bool usage = false;
    ex_run *r = ex_start(argc, argv, &usage);
    if (r == NULL)
        return usage ? 2 : 1;
    loop_state s = {.r = r};
    struct event_base *base = event_base_new();
    struct event *qev =
        base != NULL ? event_new(base, ex_queue_fd(r), EV_READ | EV_PERSIST,
                                 on_queue, &s)
                     : NULL;
    struct event *tev =
        base != NULL ? event_new(base, -1, EV_PERSIST, on_tick, &s) : NULL;
    struct timeval every_ms = {0, 1000};
    if (qev == NULL || tev == NULL || event_add(qev, NULL) != 0 ||
        event_add(tev, &every_ms) != 0) {
        fprintf(stderr, "libevent setup failed\n");
        return 1;
    }
    while (!ex_done(r)) {
        s.woke_us = 0;
        if (event_base_loop(base, EVLOOP_ONCE) < 0)
            break;
        woke(&s);
        ex_submit_some(r, 1000);
        ex_iteration(r, ex_now_us() - s.woke_us);
    }
    event_free(qev);
    event_free(tev);
    event_base_free(base);
    return ex_finish(r);
}
