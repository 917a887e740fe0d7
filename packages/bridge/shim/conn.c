/* iommu-lab bridge shim: the connection to the daemon, requests, fork and exec handshakes. */
#include "shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

struct real_fns real;

static int conn = -1;
static pid_t conn_pid;
static int client;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct bridge_vm_event events[BRIDGE_MAX_EVENTS];
static int nevents;
static int events_overflow;

#define RESOLVE(name) real.name = dlsym(RTLD_NEXT, #name)

void shim_resolve(void)
{
	if (real.open)
		return;
	RESOLVE(openat);
	RESOLVE(close);
	RESOLVE(dup);
	RESOLVE(dup2);
	RESOLVE(dup3);
	RESOLVE(fcntl);
	RESOLVE(ioctl);
	RESOLVE(read);
	RESOLVE(write);
	RESOLVE(pread);
	RESOLVE(pwrite);
	RESOLVE(poll);
	RESOLVE(ppoll);
	RESOLVE(mmap);
	RESOLVE(munmap);
	RESOLVE(mprotect);
	RESOLVE(mremap);
	RESOLVE(ftruncate);
	RESOLVE(fork);
	RESOLVE(access);
	RESOLVE(faccessat);
	RESOLVE(fopen);
	RESOLVE(opendir);
	RESOLVE(open);
}

const char *shim_env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

int shim_active(void)
{
	return shim_env("IOMMU_LAB_BRIDGE") != NULL;
}

int shim_conn_fd(void)
{
	return conn;
}

int shim_is_client(void)
{
	return client;
}

long shim_result(long ret)
{
	if (ret < 0 && ret > -4096) {
		errno = (int)-ret;
		return -1;
	}
	return ret;
}

static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int recv_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len) {
		ssize_t n = recv(fd, p, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static uint64_t memlock(void)
{
	struct rlimit r;
	if (getrlimit(RLIMIT_MEMLOCK, &r))
		return UINT64_MAX;
	return r.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)r.rlim_cur;
}

static long request_locked(int op, const void *payload, size_t len, void *data, size_t data_max);

static int connect_locked(long token, int new_image)
{
	const char *path = shim_env("IOMMU_LAB_BRIDGE");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (!path || strlen(path) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		real.close(fd);
		return -1;
	}
	/* Keep the low numbers for the program. */
	int hi = (int)syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 900);
	if (hi >= 0) {
		real.close(fd);
		fd = hi;
	}
	conn = fd;
	conn_pid = getpid();
	const char *daemon = shim_env("IOMMU_LAB_BRIDGE_DAEMON");
	if (daemon)
		prctl(PR_SET_PTRACER, (unsigned long)atol(daemon), 0, 0, 0);
	/* HELLO: a forked child claims its token; an exec'ed process learns its simulated descriptors. */
	struct {
		uint64_t token;
		uint32_t flags;
		uint32_t pad;
	} hello = { (uint64_t)token, new_image ? BRIDGE_HELLO_NEW_IMAGE : 0, 0 };
	int32_t fds[512];
	long n = request_locked(BRIDGE_OP_HELLO, &hello, sizeof(hello), fds, sizeof(fds));
	if (n < 0)
		return -1;
	uint32_t count = (uint32_t)fds[0];
	for (uint32_t i = 0; i < count && i + 1 < 512; i++) {
		int f = fds[i + 1];
		char link[64], target[128];
		snprintf(link, sizeof(link), "/proc/self/fd/%d", f);
		ssize_t l = readlink(link, target, sizeof(target) - 1);
		if (l > 0)
			target[l] = 0;
		if (l > 0 && f < SIMFD_MAX && strncmp(target, "/memfd:iommu-lab-bridge", 23) == 0) {
			shim_simfd[f] = 1;
			client = 1;
		} else {
			int32_t cl = f;
			request_locked(BRIDGE_OP_CLOSE, &cl, sizeof(cl), NULL, 0);
		}
	}
	return 0;
}

static long request_locked(int op, const void *payload, size_t len, void *data, size_t data_max)
{
	if (conn < 0 || conn_pid != getpid()) {
		if (conn >= 0)
			real.close(conn);
		conn = -1;
		if (connect_locked(0, 0))
			return -ENOSYS;
	}
	/* One frame, one send: header, vm events, payload. */
	static char frame[65536];
	struct bridge_req_hdr *h = (struct bridge_req_hdr *)frame;
	int nev = nevents;
	if (events_overflow) {
		events[0].start = 0;
		events[0].end = 1ULL << 47;
		nev = 1;
	}
	size_t evlen = nev * sizeof(struct bridge_vm_event);
	memset(h, 0, sizeof(*h));
	h->len = (uint32_t)(sizeof(*h) + evlen + len);
	h->op = (uint16_t)op;
	h->nevents = (uint16_t)nev;
	h->pid = getpid();
	h->tid = (int32_t)syscall(SYS_gettid);
	h->cap_eff = shim_cap_eff();
	h->memlock = memlock();
	memcpy(frame + sizeof(*h), events, evlen);
	nevents = 0;
	events_overflow = 0;
	size_t head = sizeof(*h) + evlen;
	int sent;
	if (head + len <= sizeof(frame)) {
		if (len)
			memcpy(frame + head, payload, len);
		sent = send_all(conn, frame, head + len);
	} else {
		sent = send_all(conn, frame, head) || send_all(conn, payload, len);
	}
	if (sent)
		goto lost;
	struct bridge_rep_hdr r;
	if (recv_all(conn, &r, sizeof(r)))
		goto lost;
	size_t rest = r.len - sizeof(r);
	for (int i = 0; i < r.nfds; i++) {
		struct bridge_new_fd nf;
		if (recv_all(conn, &nf, sizeof(nf)))
			goto lost;
		rest -= sizeof(nf);
		shim_make_dummy(nf.fd, (nf.flags & O_CLOEXEC) != 0);
		client = 1;
	}
	if (r.pad & 1)
		client = 1;
	while (rest) {
		char sink[256];
		size_t take = rest;
		if (data && data_max) {
			take = rest < data_max ? rest : data_max;
			if (recv_all(conn, data, take))
				goto lost;
			data_max -= take;
			data = (char *)data + take;
		} else {
			take = rest < sizeof(sink) ? rest : sizeof(sink);
			if (recv_all(conn, sink, take))
				goto lost;
		}
		rest -= take;
	}
	return (long)r.ret;
lost:
	real.close(conn);
	conn = -1;
	return -EIO;
}

long shim_request(int op, const void *payload, size_t len, void *data, size_t data_max)
{
	shim_resolve();
	pthread_mutex_lock(&lock);
	long r = request_locked(op, payload, len, data, data_max);
	pthread_mutex_unlock(&lock);
	return r;
}

/* The program unmapped or replaced [start, end) (or changed its protection): told with the next request. */
void shim_vm_event(uintptr_t start, uintptr_t end, int attrs_only)
{
	if (!client)
		return;
	pthread_mutex_lock(&lock);
	if (nevents == BRIDGE_MAX_EVENTS) {
		events_overflow = 1;
	} else {
		events[nevents].start = start;
		events[nevents].end = end | (attrs_only ? 1ULL << 63 : 0);
		nevents++;
	}
	pthread_mutex_unlock(&lock);
}

/* The child of a real fork: its own connection; with a token it takes over the simulated copy. */
void shim_after_fork_child(long token)
{
	pthread_mutex_init(&lock, NULL);
	if (conn >= 0)
		real.close(conn);
	conn = -1;
	nevents = 0;
	events_overflow = 0;
	if (!token) {
		client = 0;
		return;
	}
	pthread_mutex_lock(&lock);
	connect_locked(token, 0);
	pthread_mutex_unlock(&lock);
}

pid_t fork(void)
{
	shim_resolve();
	if (!shim_active() || !client) {
		pid_t pid = real.fork();
		if (pid == 0)
			shim_after_fork_child(0);
		return pid;
	}
	long token = shim_request(BRIDGE_OP_FORK_PREPARE, NULL, 0, NULL, 0);
	if (token < 0)
		return (pid_t)shim_result(token);
	pid_t pid = real.fork();
	if (pid == 0) {
		shim_after_fork_child(token);
		return 0;
	}
	struct {
		uint64_t token;
		int32_t pid;
		int32_t pad;
	} done = { (uint64_t)token, pid < 0 ? -1 : pid, 0 };
	int saved = errno;
	shim_request(BRIDGE_OP_FORK_DONE, &done, sizeof(done), NULL, 0);
	errno = saved;
	return pid;
}

__attribute__((constructor)) static void shim_init(void)
{
	shim_resolve();
	if (!shim_active())
		return;
	shim_creds_exec();
	pthread_mutex_lock(&lock);
	connect_locked(0, 1);
	pthread_mutex_unlock(&lock);
}
