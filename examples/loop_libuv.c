/*
 * loop_libuv.c: taking and releasing locks from a libuv loop, with no
 * other thread of ours (docs/api.md, "Event loops").
 *
 * A uv_poll_t watches the completion queue's fd (readable when callbacks
 * wait: redlock_queue_dispatch() runs them on the loop thread), a
 * uv_timer_t ticks every millisecond (ending holds whose time is up), and
 * an iteration is timed from the first callback after a wait (I/O, timer
 * or the uv_check_t that runs after the I/O callbacks) to the
 * uv_prepare_t that runs just before the loop waits again. The workload
 * is loop_common.c's.
 */
#include <stdio.h>

#include <uv.h>

#include "loop_common.h"

typedef struct loop_state {
    ex_run *r;
    uv_poll_t queue;
    uv_timer_t tick;
    uv_prepare_t before_wait;
    uv_check_t after_wait;
    uint64_t woke_us;
} loop_state;

/* Note the start of an iteration (the first callback after a wait). */
static void woke(loop_state *s)
{
    if (s->woke_us == 0)
        s->woke_us = ex_now_us();
}

static void on_queue(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    loop_state *s = h->data;
    woke(s);
    ex_dispatch(s->r, 256);
}

static void on_tick(uv_timer_t *h)
{
    loop_state *s = h->data;
    woke(s);
    ex_tick(s->r);
}

/* Just before the loop waits: submit what is left, time the iteration,
 * and stop once everything completed. */
static void on_before_wait(uv_prepare_t *h)
{
    loop_state *s = h->data;
    woke(s);
    ex_submit_some(s->r, 1000);
    ex_iteration(s->r, ex_now_us() - s->woke_us);
    s->woke_us = 0;
    if (ex_done(s->r))
        uv_stop(h->loop);
}

/* Runs after the I/O callbacks of each iteration. */
static void on_after_wait(uv_check_t *h)
{
    woke(h->data);
}

int main(int argc, char **argv)
{
    bool usage = false;
    ex_run *r = ex_start(argc, argv, &usage);
    if (r == NULL)
        return usage ? 2 : 1;
    uv_loop_t *loop = uv_default_loop();
    loop_state s = {.r = r};
    s.queue.data = s.tick.data = s.before_wait.data = s.after_wait.data = &s;
    if (uv_poll_init(loop, &s.queue, ex_queue_fd(r)) != 0 ||
        uv_poll_start(&s.queue, UV_READABLE, on_queue) != 0 ||
        uv_timer_init(loop, &s.tick) != 0 ||
        uv_timer_start(&s.tick, on_tick, 1, 1) != 0 ||
        uv_prepare_init(loop, &s.before_wait) != 0 ||
        uv_prepare_start(&s.before_wait, on_before_wait) != 0 ||
        uv_check_init(loop, &s.after_wait) != 0 ||
        uv_check_start(&s.after_wait, on_after_wait) != 0) {
        fprintf(stderr, "libuv setup failed\n");
        return 1;
    }
    ex_submit_some(r, 1000);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&s.queue, NULL);
    uv_close((uv_handle_t *)&s.tick, NULL);
    uv_close((uv_handle_t *)&s.before_wait, NULL);
    uv_close((uv_handle_t *)&s.after_wait, NULL);
    uv_run(loop, UV_RUN_DEFAULT); /* let the closes finish */
    uv_loop_close(loop);
    return ex_finish(r);
}
