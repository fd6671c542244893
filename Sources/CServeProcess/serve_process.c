#define _GNU_SOURCE
#include "serve_process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Closes every descriptor from `first` up (async-signal-safe). */
static void close_from(int first) {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)first, ~0U, 0) == 0) return;
#endif
    for (int fd = first; fd < 65536; fd++) close(fd);
}

static void default_signals(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = SIG_DFL;
    sigemptyset(&action.sa_mask);
    for (int number = 1; number < NSIG; number++) {
        if (number == SIGKILL || number == SIGSTOP) continue;
        sigaction(number, &action, NULL);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* The watchdog: waits for the host's end of the lifeline to close. If the
 * host stopped the server itself, the group's SIGTERM ends the watchdog
 * first; otherwise the host is gone and the watchdog stops the group. */
static void watchdog(int lifeline_read, pid_t server, int grace_seconds) {
    if (dup2(lifeline_read, 0) < 0) _exit(0);
    close_from(1);
    char byte;
    for (;;) {
        ssize_t n = read(0, &byte, 1);
        if (n == 0 || (n < 0 && errno != EINTR)) break;
    }
    signal(SIGTERM, SIG_IGN);
    pid_t group = getpgrp();
    kill(-group, SIGTERM);
    /* Until the server is gone (this process is re-parented), at most grace_seconds. */
    struct timespec tenth = {0, 100 * 1000 * 1000};
    for (int i = 0; i < grace_seconds * 10 && getppid() == server; i++) nanosleep(&tenth, NULL);
    kill(-group, SIGKILL);
    _exit(0);
}

int serve_spawn(const char *path, char *const argv[], char *const envp[], int log_fd,
                int grace_seconds, pid_t *pid, int *lifeline) {
    int report[2], life[2];
    if (pipe2(report, O_CLOEXEC) != 0) return errno;
    if (pipe2(life, O_CLOEXEC) != 0) {
        int error = errno;
        close(report[0]);
        close(report[1]);
        return error;
    }
    pid_t host = getpid();
    pid_t child = fork();
    if (child < 0) {
        int error = errno;
        close(report[0]); close(report[1]); close(life[0]); close(life[1]);
        return error;
    }
    if (child == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != host) _exit(127);
        default_signals();
        pid_t self = getpid();
        pid_t guard = fork();
        if (guard == 0) watchdog(life[0], self, grace_seconds);
        int null = open("/dev/null", O_RDONLY);
        if (null < 0 || dup2(null, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0 || dup2(report[1], 3) < 0) {
            int error = errno;
            (void)!write(report[1], &error, sizeof error);
            _exit(127);
        }
        fcntl(3, F_SETFD, FD_CLOEXEC);
        close_from(4);
        execve(path, argv, envp);
        int error = errno;
        (void)!write(3, &error, sizeof error);
        _exit(127);
    }
    setpgid(child, child); /* also here: no window in which the group does not exist yet */
    close(report[1]);
    close(life[0]);
    int error = 0;
    ssize_t n;
    do { n = read(report[0], &error, sizeof error); } while (n < 0 && errno == EINTR);
    close(report[0]);
    if (n == (ssize_t)sizeof error) {
        int status;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
        kill(-child, SIGKILL); /* the watchdog */
        close(life[1]);
        return error ? error : ECHILD;
    }
    *pid = child;
    *lifeline = life[1];
    return 0;
}
