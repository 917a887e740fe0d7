/* A C program the bridge tests run under the shim: each mode prints "ok <what>" lines or fails. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include "uapi.h"

int capget(cap_user_header_t, cap_user_data_t);
int capset(cap_user_header_t, const cap_user_data_t);

#define PAGE 4096UL

#define CHECK(cond, what)                                                              \
	do {                                                                           \
		if (!(cond)) {                                                         \
			printf("FAIL %s (line %d, errno %d)\n", what, __LINE__, errno); \
			exit(1);                                                       \
		}                                                                      \
		printf("ok %s\n", what);                                               \
		fflush(stdout);                                                        \
	} while (0)

static int iommufd(void)
{
	int fd = open("/dev/iommu", O_RDWR);
	if (fd < 0) {
		printf("FAIL open /dev/iommu errno %d\n", errno);
		exit(1);
	}
	return fd;
}

static uint32_t ioas_alloc(int fd)
{
	struct iommu_ioas_alloc a = { .size = sizeof(a) };
	if (ioctl(fd, IOMMU_IOAS_ALLOC, &a))
		exit(2);
	return a.out_ioas_id;
}

static int test_cmd(int fd, uint32_t op, uint32_t id, struct iommu_test_cmd *c)
{
	c->size = sizeof(*c);
	c->op = op;
	c->id = id;
	return ioctl(fd, IOMMU_TEST_CMD, c);
}

static int map_fixed(int fd, uint32_t ioas, void *buf, size_t len, uint64_t iova)
{
	struct iommu_ioas_map m = { .size = sizeof(m), .flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
				    .ioas_id = ioas, .user_va = (uintptr_t)buf, .length = len, .iova = iova };
	return ioctl(fd, IOMMU_IOAS_MAP, &m);
}

static int unmap(int fd, uint32_t ioas, uint64_t iova, size_t len)
{
	struct iommu_ioas_unmap u = { .size = sizeof(u), .ioas_id = ioas, .iova = iova, .length = len };
	return ioctl(fd, IOMMU_IOAS_UNMAP, &u);
}

static int access_rw(int fd, int access, uint64_t iova, void *buf, size_t len, int write)
{
	struct iommu_test_cmd c = { 0 };
	c.access_rw.iova = iova;
	c.access_rw.length = len;
	c.access_rw.uptr = (uintptr_t)buf;
	c.access_rw.flags = write ? MOCK_ACCESS_RW_WRITE : 0;
	return test_cmd(fd, IOMMU_TEST_OP_ACCESS_RW, (uint32_t)access, &c);
}

static int check_refs(int fd, void *buf, size_t len, uint32_t refs)
{
	struct iommu_test_cmd c = { 0 };
	c.check_refs.length = len;
	c.check_refs.uptr = (uintptr_t)buf;
	c.check_refs.refs = refs;
	return test_cmd(fd, IOMMU_TEST_OP_MD_CHECK_REFS, 0, &c);
}

static int create_access(int fd, uint32_t ioas)
{
	struct iommu_test_cmd c = { 0 };
	if (test_cmd(fd, IOMMU_TEST_OP_CREATE_ACCESS, ioas, &c))
		return -1;
	return (int)c.create_access.out_access_fd;
}

static long status_kb(int pid, const char *tag)
{
	char path[64], line[256];
	long v = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, tag, strlen(tag)) == 0)
			v = atol(line + strlen(tag));
	fclose(f);
	return v;
}

/* Pinned pages: the kernel reads what the program wrote and the program reads what the kernel wrote. */
static void coherence(void)
{
	int fd = iommufd();
	uint32_t ioas = ioas_alloc(fd);
	struct iommu_test_cmd c = { 0 };
	CHECK(test_cmd(fd, IOMMU_TEST_OP_MOCK_DOMAIN, ioas, &c) == 0, "mock domain");
	unsigned char *buf = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(buf, 0xa5, 4 * PAGE);
	CHECK(map_fixed(fd, ioas, buf, 4 * PAGE, MOCK_APERTURE_START) == 0, "map 4 pages");
	CHECK(check_refs(fd, buf, 4 * PAGE, 1) == 0, "each page pinned once");
	CHECK(status_kb(getpid(), "VmPin:") == 16, "VmPin 16 kB");
	int access = create_access(fd, ioas);
	CHECK(access >= 0, "access fd");
	unsigned char tmp[64];
	CHECK(access_rw(fd, access, MOCK_APERTURE_START + PAGE + 100, tmp, sizeof(tmp), 0) == 0, "access read");
	CHECK(tmp[0] == 0xa5 && tmp[63] == 0xa5, "kernel reads the bytes written before the pin");
	memset(buf + PAGE, 0x3c, PAGE);
	CHECK(access_rw(fd, access, MOCK_APERTURE_START + PAGE + 100, tmp, sizeof(tmp), 0) == 0, "access read again");
	CHECK(tmp[0] == 0x3c && tmp[63] == 0x3c, "kernel reads the bytes written after the pin");
	memset(tmp, 0x77, sizeof(tmp));
	CHECK(access_rw(fd, access, MOCK_APERTURE_START + 2 * PAGE + 8, tmp, sizeof(tmp), 1) == 0, "access write");
	CHECK(buf[2 * PAGE + 8] == 0x77 && buf[2 * PAGE + 71] == 0x77 && buf[2 * PAGE + 72] == 0xa5 && buf[2 * PAGE + 7] == 0xa5,
	      "program reads the bytes the kernel wrote, and only those");
	CHECK(close(access) == 0, "close access");
	CHECK(unmap(fd, ioas, MOCK_APERTURE_START, 4 * PAGE) == 0, "unmap");
	CHECK(check_refs(fd, buf, 4 * PAGE, 0) == 0, "pages unpinned");
	CHECK(status_kb(getpid(), "VmPin:") == 0, "VmPin 0 kB");
	CHECK(close(fd) == 0, "close iommufd");
}

/* The kernel's errnos reach the program; the daemon keeps serving. */
static void errnos(void)
{
	int fd = iommufd();
	CHECK(ioctl(fd, IOMMU_IOAS_ALLOC, NULL) == -1 && errno == EFAULT, "NULL argument: EFAULT");
	void *gone = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(gone, PAGE);
	CHECK(ioctl(fd, IOMMU_IOAS_ALLOC, gone) == -1 && errno == EFAULT, "unmapped argument: EFAULT");
	struct iommu_ioas_alloc *ro = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ro->size = sizeof(*ro);
	mprotect(ro, PAGE, PROT_READ);
	CHECK(ioctl(fd, IOMMU_IOAS_ALLOC, ro) == -1 && errno == EFAULT, "read-only argument: EFAULT on copy-out");
	struct iommu_ioas_alloc small = { .size = 4 };
	CHECK(ioctl(fd, IOMMU_IOAS_ALLOC, &small) == -1 && errno == EINVAL, "struct too small: EINVAL");
	CHECK(ioctl(fd, _IO(';', 0xff), &small) == -1 && errno == ENOTTY, "unknown command: ENOTTY");
	uint32_t ioas = ioas_alloc(fd);
	CHECK(ioas == 1, "the failed allocations left no object behind (next ID is 1)");
	CHECK(map_fixed(fd, ioas, (void *)0x1000, PAGE, MOCK_APERTURE_START) == 0, "map of unmapped memory is lazy without a domain");
	struct iommu_test_cmd c = { 0 };
	CHECK(test_cmd(fd, IOMMU_TEST_OP_MOCK_DOMAIN, ioas, &c) == -1 && errno == EFAULT, "pinning unmapped memory: EFAULT");
	CHECK(close(fd) == 0, "close");
	CHECK(ioctl(fd, IOMMU_IOAS_ALLOC, &small) == -1 && errno == EBADF, "closed fd: EBADF");
}

/* Descriptors: dup, dup2 to a chosen number, close of one copy keeps the file. */
static void dups(void)
{
	int fd = iommufd();
	int d = dup(fd);
	CHECK(d > fd, "dup");
	CHECK(dup2(fd, 40) == 40, "dup2 to 40");
	CHECK(close(fd) == 0, "close the original");
	CHECK(ioas_alloc(d) == 1, "the dup still reaches the context");
	CHECK(ioas_alloc(40) == 2, "and so does fd 40 (same context)");
	close(d);
	close(40);
	int again = iommufd();
	CHECK(again == fd, "the lowest free number is reused");
	CHECK(ioas_alloc(again) == 1, "a new context after the last close");
	closefrom(again);
	CHECK(iommufd() == again, "closefrom closed it");
}

/* fork: the child shares the open file; its pins outlive it; its own close leaves the parent's file. */
static void forks(void)
{
	int fd = iommufd();
	uint32_t ioas = ioas_alloc(fd);
	struct iommu_test_cmd c = { 0 };
	CHECK(test_cmd(fd, IOMMU_TEST_OP_MOCK_DOMAIN, ioas, &c) == 0, "mock domain");
	int access = create_access(fd, ioas);
	unsigned char *shared = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t child = fork();
	if (child == 0) {
		memset(shared, 0x42, 2 * PAGE);
		if (map_fixed(fd, ioas, shared, 2 * PAGE, MOCK_APERTURE_START))
			_exit(3);
		if (status_kb(getppid(), "VmPin:") != 0 || status_kb(getpid(), "VmPin:") != 8)
			_exit(4);
		close(fd);
		_exit(0);
	}
	int st;
	CHECK(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child mapped through the inherited fd");
	unsigned char tmp[16];
	CHECK(access_rw(fd, access, MOCK_APERTURE_START + PAGE, tmp, sizeof(tmp), 0) == 0 && tmp[0] == 0x42, "the child's pins outlive it");
	memset(shared + PAGE, 0x24, PAGE);
	CHECK(access_rw(fd, access, MOCK_APERTURE_START + PAGE, tmp, sizeof(tmp), 0) == 0 && tmp[0] == 0x24,
	      "shared pages keep one identity across processes");
	CHECK(check_refs(fd, shared, 2 * PAGE, 1) == 0, "pinned once");
}

/* A descriptor an ioctl returns is a real one: poll sees it with real ones, read() reaches the kernel. */
static void polls(void)
{
	int fd = iommufd();
	struct iommu_fault_alloc fa = { .size = sizeof(fa) };
	CHECK(ioctl(fd, IOMMU_FAULT_QUEUE_ALLOC, &fa) == 0, "fault queue");
	int ffd = (int)fa.out_fault_fd;
	CHECK(fcntl(ffd, F_GETFD) == FD_CLOEXEC, "its descriptor is real and close-on-exec");
	int p[2];
	CHECK(pipe(p) == 0 && write(p[1], "x", 1) == 1, "a pipe with data");
	struct pollfd pf[2] = { { .fd = ffd, .events = POLLIN | POLLOUT }, { .fd = p[0], .events = POLLIN } };
	CHECK(poll(pf, 2, 0) == 2 && pf[0].revents == POLLOUT && pf[1].revents == POLLIN, "poll: fault queue writable, pipe readable");
	pf[1].events = 0;
	pf[0].events = POLLIN;
	CHECK(poll(pf, 2, 30) == 0 && pf[0].revents == 0, "nothing to read: poll times out");
	char buf[80]; /* two 40-byte struct iommu_hwpt_pgfault records */
	CHECK(read(ffd, buf, sizeof(buf)) == 0, "read of an empty fault queue: 0 bytes");
	CHECK(read(ffd, buf, 50) == -1 && errno == ESPIPE, "not a whole number of records: ESPIPE");
	CHECK(close(ffd) == 0 && fcntl(ffd, F_GETFD) == -1, "closed");
}

/* fail-nth: the Nth allocation of the task's next system calls fails. */
static void failnth(void)
{
	char path[64], buf[16];
	snprintf(path, sizeof(path), "/proc/self/task/%d/fail-nth", getpid());
	int nth = open(path, O_RDWR);
	CHECK(nth >= 0, "open fail-nth");
	CHECK(pwrite(nth, "1", 1, 0) == 1, "arm the first site");
	CHECK(open("/dev/iommu", O_RDWR) == -1 && errno == ENOMEM, "open fails with ENOMEM");
	ssize_t n = pread(nth, buf, sizeof(buf), 0);
	CHECK(n == 2 && buf[0] == '0' && buf[1] == '\n', "fired: reads 0");
	CHECK(pwrite(nth, "1000", 4, 0) == 4, "arm far away");
	int fd = open("/dev/iommu", O_RDWR);
	CHECK(fd >= 0, "open succeeds");
	n = pread(nth, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = 0;
	CHECK(atoi(buf) == 999, "one site consumed: reads 999");
	CHECK(pwrite(nth, "x", 1, 0) == -1 && errno == EINVAL, "garbage: EINVAL");
}

/* MAP_HUGETLB served from ordinary pages, 2 MiB aligned, pinned as huge pages. */
static void hugetlb(void)
{
	int fd = iommufd();
	uint32_t ioas = ioas_alloc(fd);
	struct iommu_test_cmd c = { 0 };
	CHECK(test_cmd(fd, IOMMU_TEST_OP_MOCK_DOMAIN, ioas, &c) == 0, "mock domain");
	unsigned char *buf = mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	CHECK(buf != MAP_FAILED && ((uintptr_t)buf & ((2 << 20) - 1)) == 0, "hugetlb mapping, 2 MiB aligned");
	CHECK(map_fixed(fd, ioas, buf, 4 << 20, MOCK_APERTURE_START) == 0, "map it");
	/* check_refs skips compound pages, so this passes only if they are huge. */
	CHECK(check_refs(fd, buf, 4 << 20, 12345) == 0, "the pages are compound");
	CHECK(munmap(buf + (2 << 20), 4096) == 0, "munmap of part of a huge page takes the whole huge page");
	printf("pid %d\n", getpid());
	fflush(stdout);
	pause();
}

/* Dies holding pins, an access and an iommufd: the daemon releases everything. */
static void crash(void)
{
	int fd = iommufd();
	uint32_t ioas = ioas_alloc(fd);
	struct iommu_test_cmd c = { 0 };
	CHECK(test_cmd(fd, IOMMU_TEST_OP_MOCK_DOMAIN, ioas, &c) == 0, "mock domain");
	void *buf = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(map_fixed(fd, ioas, buf, 8 * PAGE, MOCK_APERTURE_START) == 0, "map");
	CHECK(create_access(fd, ioas) >= 0, "access");
	abort();
}

/* Credentials: root's in the simulated machine; a dropped capability is dropped for the simulated kernel. */
static void caps(void)
{
	int fd = iommufd();
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	CHECK(capget(&h, d) == 0 && d[0].effective == ~0U && d[0].permitted == ~0U, "every capability, as root");
	d[CAP_IPC_LOCK / 32].effective &= ~(1U << (CAP_IPC_LOCK % 32));
	CHECK(capset(&h, d) == 0, "drop CAP_IPC_LOCK from the effective set");
	CHECK(capget(&h, d) == 0 && !(d[0].effective & (1U << CAP_IPC_LOCK)), "dropped");
	d[0].permitted = 0;
	d[0].effective = ~0U;
	CHECK(capset(&h, d) == -1 && errno == EPERM, "effective beyond permitted: EPERM");
	ioas_alloc(fd);
	printf("pid %d\n", getpid());
	fflush(stdout);
	pause();
}

static int busy_fd;
static uint32_t busy_ioas;
static void *busy_buf;

static void *busy(void *arg)
{
	(void)arg;
	for (;;) {
		map_fixed(busy_fd, busy_ioas, busy_buf, 64 * PAGE, MOCK_APERTURE_START);
		unmap(busy_fd, busy_ioas, MOCK_APERTURE_START, 64 * PAGE);
	}
	return NULL;
}

/* Dies while another thread is in the middle of pinning and unpinning. */
static void crash_mid(void)
{
	busy_fd = iommufd();
	busy_ioas = ioas_alloc(busy_fd);
	struct iommu_test_cmd c = { 0 };
	CHECK(test_cmd(busy_fd, IOMMU_TEST_OP_MOCK_DOMAIN, busy_ioas, &c) == 0, "mock domain");
	busy_buf = mmap(NULL, 64 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pthread_t t;
	pthread_create(&t, NULL, busy, NULL);
	usleep(50000);
	abort();
}

static void execs(char *self)
{
	int fd = iommufd();
	CHECK(ioas_alloc(fd) == 1, "before exec");
	char num[16];
	snprintf(num, sizeof(num), "%d", fd);
	execl(self, self, "after-exec", num, (char *)NULL);
	CHECK(0, "exec");
}

static void after_exec(int fd)
{
	CHECK(ioas_alloc(fd) == 2, "the iommufd survives exec");
	CHECK(access("/sys/bus/iommufd_mock", F_OK) == 0, "the mock bus exists");
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *mode = argc > 1 ? argv[1] : "";
	if (!strcmp(mode, "coherence"))
		coherence();
	else if (!strcmp(mode, "errnos"))
		errnos();
	else if (!strcmp(mode, "dups"))
		dups();
	else if (!strcmp(mode, "forks"))
		forks();
	else if (!strcmp(mode, "poll"))
		polls();
	else if (!strcmp(mode, "failnth"))
		failnth();
	else if (!strcmp(mode, "hugetlb"))
		hugetlb();
	else if (!strcmp(mode, "caps"))
		caps();
	else if (!strcmp(mode, "crash"))
		crash();
	else if (!strcmp(mode, "crash-mid"))
		crash_mid();
	else if (!strcmp(mode, "exec"))
		execs(argv[0]);
	else if (!strcmp(mode, "after-exec"))
		after_exec(atoi(argv[2]));
	else
		return 2;
	printf("done\n");
	return 0;
}
