/* The signals a server answers, taken through a signalfd by its serving thread. */
#include "server/internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "util/strbuf.h"

static void server_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGUSR2);
}

void srv_signals_block(void)
{
	sigset_t set;
	server_signals(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int srv_signals_open(char *err, size_t errlen)
{
	/* Blocked in this thread, so in the queue threads it starts later (they inherit the
	 * mask): only the signalfd sees them. */
	srv_signals_block();
	sigset_t set;
	server_signals(&set);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0)
		return blz_errf(err, errlen, -errno, "cannot create a signalfd: %s", strerror(errno));
	return sfd;
}

int srv_signal_read(int sfd)
{
	struct signalfd_siginfo si;
	if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return 0;
	return (int)si.ssi_signo;
}
