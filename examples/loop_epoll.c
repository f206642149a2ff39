/*
 * loop_epoll.c: taking and releasing locks from a plain epoll loop, with
 * no other thread of ours (docs/api.md, "Event loops").
 *
 * The loop watches two fds: the completion queue's (readable when
 * callbacks wait: redlock_queue_dispatch() runs them here) and a timerfd
 * that ticks every millisecond (it ends holds whose time is up, and shows
 * that nothing blocks the loop: every iteration is timed). The workload
 * is loop_common.c's; run with no arguments for its usage.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "loop_common.h"

int main(int argc, char **argv)
{
    bool usage = false;
    ex_run *r = ex_start(argc, argv, &usage);
    if (r == NULL)
        return usage ? 2 : 1;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct itimerspec every_ms = {{0, 1000000}, {0, 1000000}};
    struct epoll_event qev = {.events = EPOLLIN, .data.fd = ex_queue_fd(r)};
    struct epoll_event tev = {.events = EPOLLIN, .data.fd = tfd};
    if (ep < 0 || tfd < 0 || timerfd_settime(tfd, 0, &every_ms, NULL) != 0 ||
        epoll_ctl(ep, EPOLL_CTL_ADD, ex_queue_fd(r), &qev) != 0 ||
        epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev) != 0) {
        perror("epoll setup");
        return 1;
    }
    while (!ex_done(r)) {
        struct epoll_event ev[8];
        int n = epoll_wait(ep, ev, 8, 100);
        if (n < 0 && errno != EINTR) {
            perror("epoll_wait");
            break;
        }
        uint64_t t0 = ex_now_us();
        for (int i = 0; i < n; i++) {
            if (ev[i].data.fd == tfd) {
                uint64_t expirations;
                if (read(tfd, &expirations, sizeof(expirations)) > 0)
                    ex_tick(r);
            } else {
                ex_dispatch(r, 256);
            }
        }
        ex_submit_some(r, 1000);
        ex_iteration(r, ex_now_us() - t0);
    }
    close(tfd);
    close(ep);
    return ex_finish(r);
}
