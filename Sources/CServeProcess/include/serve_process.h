/*
 * serve_process.h: starting a model server the host owns (`llms: NAME: serve:`).
 *
 * Not part of the plugin ABI and not installed: only PipelineServe uses it.
 *
 * posix_spawn cannot set a parent-death signal, so this forks and execs by
 * hand. The child:
 *   - leads a new process group (the host stops the whole group);
 *   - gets SIGTERM when the thread that forked it ends (PR_SET_PDEATHSIG:
 *     fork from a thread that lives as long as the server), and exits at
 *     once if the host is already gone;
 *   - starts with default signal dispositions and no blocked signals (the
 *     host ignores SIGINT and SIGTERM during a run, and that is inherited);
 *   - has stdin from /dev/null, stdout and stderr into log_fd, no other
 *     descriptor of the host.
 * A watchdog process, forked by the child before it execs and left in the
 * same group, reads a "lifeline" pipe whose write end only the host holds.
 * When the host dies (even by SIGKILL) the pipe reads end-of-file: the
 * watchdog sends SIGTERM to the group, and SIGKILL after grace_seconds if the
 * server is still there. That also reaches processes the server started
 * itself (the parent-death signal only reaches the server).
 */
#ifndef PIPELINE_SERVE_PROCESS_H
#define PIPELINE_SERVE_PROCESS_H

#include <sys/types.h>

/* Starts `path` (an executable file, not looked up in PATH) with the
 * NULL-terminated argv and envp. Returns 0 and sets *pid and *lifeline (the
 * pipe's write end, close-on-exec: close it once the server is stopped), or
 * returns an errno value: fork's, or execve's in the child (the child is
 * reaped then). */
int serve_spawn(const char *path, char *const argv[], char *const envp[], int log_fd,
                int grace_seconds, pid_t *pid, int *lifeline);

#endif
