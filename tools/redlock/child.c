/*
 * child.c: running CMD for exec and elect.
 *
 * DESIGN
 *   - No shell, ever. CMD is looked up on $PATH here, in the parent, and
 *     started with execve(): execvp() would run a file without a "#!"
 *     line through /bin/sh (its ENOEXEC fallback), which is exactly the
 *     user-string-to-shell path the tool promises not to have. Looking it
 *     up before taking the lock also means a typo costs no lock.
 *   - Its own process group (setpgid), so that SIGTERM and SIGKILL reach
 *     everything CMD started in it, as `consul lock` does. When this
 *     process is the terminal's foreground job, the terminal is handed to
 *     CMD's group (so CMD can read it, and Ctrl-C and Ctrl-Z reach it
 *     directly) and taken back when CMD exits; a CMD stopped by Ctrl-Z
 *     stops this process too, and both continue on `fg`.
 *   - PR_SET_PDEATHSIG(SIGKILL): if this process dies (even by SIGKILL),
 *     the kernel kills CMD, so a crashed `redlock exec` cannot leave CMD
 *     running after the lock it ran under has expired. It covers CMD
 *     itself, not processes CMD starts.
 *   - Between fork() and execve() the child only calls async-signal-safe
 *     functions: this process has other threads (the library's), whose
 *     locks may be held at the moment of fork. All signals are blocked
 *     around fork(), so our handlers never run in the child; it resets
 *     them to the default and unblocks before execve().
 *   - Two pipes order the start: the child waits on "go" until the parent
 *     has put it in its group and given it the terminal, and reports an
 *     execve() failure through "err" (close-on-exec, so a successful exec
 *     closes it and the parent reads end-of-file).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"

extern char **environ;

/* $PATH when it is unset, as in most shells. */
#define CHILD_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/* Signals whose handlers the child resets before execve(): every one
 * events.c catches. */
static const int child_reset_signals[] = {SIGCHLD, SIGINT,  SIGTERM, SIGHUP,
                                          SIGQUIT, SIGUSR1, SIGUSR2};

/* ------------------------------------------------------------------------
 * PATH lookup and environment
 * ------------------------------------------------------------------------ */

/* 0 if path is a regular file we may execute, else -1 with errno
 * (ENOENT if missing or not a regular file, EACCES if not executable). */
static int check_executable(const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return -1;
    if (!S_ISREG(st.st_mode)) {
        errno = S_ISDIR(st.st_mode) ? EACCES : ENOENT;
        return -1;
    }
    return access(path, X_OK);
}

/* Find CMD; see cli.h. */
char *cli_find_program(const char *program)
{
    const char *path;
    int saw_eacces = 0;
    size_t plen = strlen(program);

    if (plen == 0) {
        errno = ENOENT;
        return NULL;
    }
    if (strchr(program, '/') != NULL) {
        if (check_executable(program) != 0)
            return NULL;
        return strdup(program);
    }
    path = getenv("PATH");
    if (path == NULL)
        path = CHILD_DEFAULT_PATH;
    for (const char *p = path;;) {
        const char *colon = strchr(p, ':');
        size_t dlen = colon != NULL ? (size_t)(colon - p) : strlen(p);
        /* An empty entry means the current directory, as in execvp(). */
        const char *dir = dlen > 0 ? p : ".";
        size_t dir_len = dlen > 0 ? dlen : 1;
        char *cand = malloc(dir_len + 1 + plen + 1);

        if (cand == NULL)
            return NULL; /* errno ENOMEM */
        memcpy(cand, dir, dir_len);
        cand[dir_len] = '/';
        memcpy(cand + dir_len + 1, program, plen + 1);
        if (check_executable(cand) == 0)
            return cand;
        if (errno == EACCES)
            saw_eacces = 1;
        free(cand);
        if (colon == NULL)
            break;
        p = colon + 1;
    }
    errno = saw_eacces ? EACCES : ENOENT;
    return NULL;
}

/* Length of the NAME part of "NAME=value" (the whole string if no '='). */
static size_t env_name_len(const char *entry)
{
    const char *eq = strchr(entry, '=');

    return eq != NULL ? (size_t)(eq - entry) : strlen(entry);
}

/* 1 if entry ("NAME=value") has the name of one of the n names (given as
 * "NAME" or "NAME=value"). */
static int env_matches(const char *entry, const char *const *names, size_t n)
{
    size_t len = env_name_len(entry);

    for (size_t i = 0; i < n; i++)
        if (env_name_len(names[i]) == len && memcmp(entry, names[i], len) == 0)
            return 1;
    return 0;
}

/* Build CMD's environment; see cli.h. */
char **cli_env_build(const char *const *set, size_t set_count,
                     const char *const *unset, size_t unset_count)
{
    size_t count = 0;
    size_t k = 0;
    char **env;

    for (char **e = environ; e != NULL && *e != NULL; e++)
        count++;
    env = calloc(count + set_count + 1, sizeof(*env));
    if (env == NULL)
        return NULL;
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        if (env_matches(*e, set, set_count) ||
            env_matches(*e, unset, unset_count))
            continue;
        env[k] = strdup(*e);
        if (env[k++] == NULL)
            goto oom;
    }
    for (size_t i = 0; i < set_count; i++) {
        env[k] = strdup(set[i]);
        if (env[k++] == NULL)
            goto oom;
    }
    env[k] = NULL;
    return env;
oom:
    cli_env_free(env);
    return NULL;
}

/* Free an environment from cli_env_build(); see cli.h. */
void cli_env_free(char **env)
{
    if (env == NULL)
        return;
    for (char **e = env; *e != NULL; e++)
        free(*e);
    free(env);
}

/* ------------------------------------------------------------------------
 * Terminal
 * ------------------------------------------------------------------------ */

/* Make pgid the foreground process group of the terminal fd. SIGTTOU is
 * blocked meanwhile: tcsetpgrp() from a background group would otherwise
 * stop us. Errors are ignored (the terminal may be gone). */
static void give_terminal(int fd, pid_t pgid)
{
    sigset_t block;
    sigset_t old;

    sigemptyset(&block);
    sigaddset(&block, SIGTTOU);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    (void)tcsetpgrp(fd, pgid);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Take the terminal back from CMD's group, if we gave it away. */
static void take_terminal(cli_child *c)
{
    if (c->tty_fd < 0)
        return;
    give_terminal(c->tty_fd, getpgrp());
}

/* ------------------------------------------------------------------------
 * Starting
 * ------------------------------------------------------------------------ */

/* The child's side, from fork() to execve(). Async-signal-safe calls
 * only (see DESIGN). Never returns. */
static void child_side(int go_r, int go_w, int err_w, pid_t parent,
                       const char *path, char *const argv[], char *const envp[])
{
    struct sigaction dfl;
    sigset_t none;
    char byte;
    int e;

    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (size_t i = 0;
         i < sizeof(child_reset_signals) / sizeof(child_reset_signals[0]); i++)
        sigaction(child_reset_signals[i], &dfl, NULL);
    (void)setpgid(0, 0);
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(CLI_EXIT_UNAVAILABLE); /* the parent died before prctl */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    close(go_w);
    while (read(go_r, &byte, 1) < 0 && errno == EINTR)
        ;
    close(go_r);
    execve(path, argv, envp);
    e = errno;
    while (write(err_w, &e, sizeof(e)) < 0 && errno == EINTR)
        ;
    _exit(e == ENOENT ? CLI_EXIT_NOT_FOUND : CLI_EXIT_CANNOT_RUN);
}

/* Start CMD; see cli.h. */
int cli_child_start(cli_child *c, const char *path, char *const argv[],
                    char *const envp[])
{
    int go[2] = {-1, -1};
    int err[2] = {-1, -1};
    pid_t parent = getpid();
    sigset_t all;
    sigset_t old;
    pid_t pid;
    int e = 0;
    ssize_t n;

    memset(c, 0, sizeof(*c));
    c->tty_fd = -1;
    if (pipe2(go, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
        e = errno;
        cli_error("cannot run %s: pipe: %s", argv[0], strerror(e));
        goto fail;
    }
    if (isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp())
        c->tty_fd = STDIN_FILENO;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid = fork();
    if (pid == 0)
        child_side(go[0], go[1], err[1], parent, path, argv, envp);
    e = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        cli_error("cannot run %s: fork: %s", argv[0], strerror(e));
        goto fail;
    }
    close(go[0]);
    close(err[1]);
    go[0] = err[1] = -1;
    c->pid = pid;
    c->pgid = pid;
    /* Also here, not only in the child: whichever runs first, the group
     * exists before either side relies on it. EACCES (already exec'd)
     * cannot happen while the child waits on "go". */
    (void)setpgid(pid, pid);
    if (c->tty_fd >= 0)
        give_terminal(c->tty_fd, pid);
    close(go[1]); /* "go": the child reads end-of-file */
    go[1] = -1;

    do
        n = read(err[0], &e, sizeof(e));
    while (n < 0 && errno == EINTR);
    close(err[0]);
    err[0] = -1;
    if (n != (ssize_t)sizeof(e))
        return 0; /* end-of-file: execve() succeeded */

    /* execve() failed: the child has exited (or is about to). */
    while (waitpid(pid, &c->wstatus, 0) < 0 && errno == EINTR)
        ;
    take_terminal(c);
    c->pid = 0;
    c->tty_fd = -1;
    cli_error("cannot run %s: %s", argv[0], strerror(e));
    return e == ENOENT ? CLI_EXIT_NOT_FOUND : CLI_EXIT_CANNOT_RUN;

fail:
    for (int i = 0; i < 2; i++) {
        if (go[i] >= 0)
            close(go[i]);
        if (err[i] >= 0)
            close(err[i]);
    }
    c->tty_fd = -1;
    return CLI_EXIT_CANNOT_RUN;
}

/* ------------------------------------------------------------------------
 * Signalling and reaping
 * ------------------------------------------------------------------------ */

/* Signal CMD's group; see cli.h. */
void cli_child_signal(const cli_child *c, int sig)
{
    if (c->pgid <= 0)
        return;
    if (kill(-c->pgid, sig) != 0 && errno == ESRCH && c->pid > 0)
        (void)kill(c->pid, sig); /* not in its group (setpgid failed) */
    if (sig == SIGTERM)
        (void)kill(-c->pgid, SIGCONT);
}

/* Ask CMD to stop; see cli.h. */
void cli_child_terminate(cli_child *c, uint64_t grace_ms)
{
    if (c->stopping)
        return;
    c->stopping = 1;
    cli_child_signal(c, SIGTERM);
    c->kill_at_us = redlock_clock_us() + grace_ms * 1000u;
    if (c->kill_at_us == 0)
        c->kill_at_us = 1;
}

/* Send the SIGKILL scheduled by cli_child_terminate(); see cli.h. */
void cli_child_tick(cli_child *c, uint64_t now_us)
{
    if (c->kill_at_us == 0 || now_us < c->kill_at_us)
        return;
    c->kill_at_us = 0;
    cli_log("process group %ld still running after --grace: SIGKILL",
            (long)c->pgid);
    cli_child_signal(c, SIGKILL);
}

/* 1 while any process of CMD's group is left; see cli.h. */
int cli_child_group_alive(const cli_child *c)
{
    if (c->pgid <= 0)
        return 0;
    return kill(-c->pgid, 0) == 0 || errno == EPERM;
}

/* CMD was stopped from the terminal (Ctrl-Z): stop ourselves as well, so
 * the shell sees its job stop, and resume CMD when we are continued. */
static void follow_stop(cli_child *c)
{
    take_terminal(c);
    (void)kill(getpid(), SIGSTOP);
    /* Continued (fg or bg): hand the terminal back only if we are again
     * its foreground job. */
    if (tcgetpgrp(c->tty_fd) == getpgrp())
        give_terminal(c->tty_fd, c->pgid);
    (void)kill(-c->pgid, SIGCONT);
}

/* Reap CMD; see cli.h. */
int cli_child_reap(cli_child *c)
{
    for (;;) {
        int st = 0;
        pid_t r;

        if (c->pid <= 0)
            return 0;
        r = waitpid(c->pid, &st, WNOHANG | WUNTRACED);
        if (r == 0)
            return 0;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            st = 0; /* ECHILD: reaped elsewhere; nothing better known */
        } else if (WIFSTOPPED(st)) {
            int sig = WSTOPSIG(st);

            if (c->tty_fd >= 0 &&
                (sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU))
                follow_stop(c);
            continue;
        }
        c->wstatus = st;
        c->pid = 0;
        take_terminal(c);
        c->tty_fd = -1;
        return 1;
    }
}
