/* iommu-lab bridge shim: mappings of simulated files, hugetlb served from ordinary pages, vm events. */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define HUGE_SIZE (2UL << 20)
#define MAX_RANGES 256
#ifndef MFD_HUGETLB
#define MFD_HUGETLB 4U
#endif
#define MFD_HUGE_MASK (0x3fU << 26)
#define MAP_HUGE_BITS (0x3fU << 26)

struct range {
	uintptr_t start;
	uintptr_t end;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct range devices[MAX_RANGES];
static int ndevices;
static struct range huge[MAX_RANGES];
static int nhuge;
/* Inodes of memfds created with MFD_HUGETLB. */
static ino_t huge_inodes[MAX_RANGES];
static int nhuge_inodes;

static void add_range(struct range *set, int *n, uintptr_t start, uintptr_t end)
{
	pthread_mutex_lock(&lock);
	if (*n < MAX_RANGES)
		set[(*n)++] = (struct range){ start, end };
	pthread_mutex_unlock(&lock);
}

/* Removes [start, end) from a set, keeping the pieces outside it; true when anything overlapped. */
static int cut_range(struct range *set, int *n, uintptr_t start, uintptr_t end)
{
	int hit = 0;
	pthread_mutex_lock(&lock);
	for (int i = 0; i < *n; i++) {
		struct range r = set[i];
		if (r.end <= start || r.start >= end)
			continue;
		hit = 1;
		set[i] = set[--(*n)];
		i--;
		if (r.start < start && *n < MAX_RANGES)
			set[(*n)++] = (struct range){ r.start, start };
		if (r.end > end && *n < MAX_RANGES)
			set[(*n)++] = (struct range){ end, r.end };
	}
	pthread_mutex_unlock(&lock);
	return hit;
}

static int in_ranges(const struct range *set, int n, uintptr_t start, uintptr_t end)
{
	for (int i = 0; i < n; i++)
		if (set[i].start < end && set[i].end > start)
			return 1;
	return 0;
}

int shim_overlaps_device(uintptr_t start, uintptr_t end)
{
	return in_ranges(devices, ndevices, start, end);
}

static int is_huge_fd(int fd)
{
	struct stat st;
	if (nhuge_inodes == 0 || fstat(fd, &st))
		return 0;
	for (int i = 0; i < nhuge_inodes; i++)
		if (huge_inodes[i] == st.st_ino)
			return 1;
	return 0;
}

static void *device_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	/* Reserve the range with shared memory the daemon fills with the simulated pages. */
	int rflags = (flags & ~(MAP_TYPE | MAP_HUGETLB | MAP_HUGE_BITS)) | MAP_SHARED | MAP_ANONYMOUS;
	void *p = real.mmap(addr, len, prot, rflags, -1, 0);
	if (p == MAP_FAILED)
		return p;
	struct {
		uint64_t addr, len;
		int32_t prot, flags, fd, pad;
		int64_t off;
	} req = { (uintptr_t)p, len, prot, flags, fd, 0, off };
	long r = shim_request(BRIDGE_OP_MMAP, &req, sizeof(req), NULL, 0);
	if (r < 0) {
		real.munmap(p, len);
		shim_result(r);
		return MAP_FAILED;
	}
	add_range(devices, &ndevices, (uintptr_t)p, (uintptr_t)p + len);
	return p;
}

static void register_huge(uintptr_t start, size_t len, int fd)
{
	struct {
		uint64_t addr, len;
		int32_t fd, pad;
	} req = { start, len, fd, 0 };
	shim_request(BRIDGE_OP_HUGETLB, &req, sizeof(req), NULL, 0);
}

/* A hugetlb mapping the real kernel cannot give: ordinary pages, 2 MiB aligned, length rounded up. */
static void *huge_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	size_t hlen = (len + HUGE_SIZE - 1) & ~(HUGE_SIZE - 1);
	/* MAP_POPULATE would only fault in the ordinary pages: the simulator's huge pages come when pinned. */
	int base = flags & ~(MAP_HUGETLB | MAP_HUGE_BITS | MAP_POPULATE);
	if (len == 0 || (off & (HUGE_SIZE - 1))) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	void *at;
	if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
		if ((uintptr_t)addr & (HUGE_SIZE - 1)) {
			errno = EINVAL;
			return MAP_FAILED;
		}
		at = real.mmap(addr, hlen, prot, base, fd, off);
	} else {
		char *hole = real.mmap(NULL, hlen + HUGE_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (hole == MAP_FAILED)
			return MAP_FAILED;
		char *aligned = (char *)(((uintptr_t)hole + HUGE_SIZE - 1) & ~(HUGE_SIZE - 1));
		at = real.mmap(aligned, hlen, prot, base | MAP_FIXED, fd, off);
		if (at == MAP_FAILED) {
			int e = errno;
			real.munmap(hole, hlen + HUGE_SIZE);
			errno = e;
			return MAP_FAILED;
		}
		if (aligned > hole)
			real.munmap(hole, (size_t)(aligned - hole));
		if (hole + hlen + HUGE_SIZE > aligned + hlen)
			real.munmap(aligned + hlen, (size_t)(hole + hlen + HUGE_SIZE - (aligned + hlen)));
	}
	if (at == MAP_FAILED)
		return at;
	shim_vm_event((uintptr_t)at, (uintptr_t)at + hlen, !(flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)));
	add_range(huge, &nhuge, (uintptr_t)at, (uintptr_t)at + hlen);
	if (fd < 0)
		register_huge((uintptr_t)at, hlen, -1);
	return at;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	shim_resolve();
	if (!shim_active())
		return real.mmap(addr, len, prot, flags, fd, off);
	if (!(flags & MAP_ANONYMOUS) && shim_is_sim(fd))
		return device_mmap(addr, len, prot, flags, fd, off);
	if ((flags & MAP_ANONYMOUS) && (flags & MAP_HUGETLB))
		return huge_mmap(addr, len, prot, flags, -1, 0);
	if (!(flags & MAP_ANONYMOUS) && fd >= 0 && is_huge_fd(fd))
		return huge_mmap(addr, len, prot, flags, fd, off);
	void *p = real.mmap(addr, len, prot, flags, fd, off);
	/* MAP_FIXED replaces what was there; any new mapping may show pages the kernel already holds. */
	if (p != MAP_FAILED)
		shim_vm_event((uintptr_t)p, (uintptr_t)p + len, !(flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)));
	return p;
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) __attribute__((alias("mmap")));

int munmap(void *addr, size_t len)
{
	shim_resolve();
	uintptr_t start = (uintptr_t)addr;
	if (shim_active() && in_ranges(huge, nhuge, start, start + len)) {
		if (start & (HUGE_SIZE - 1)) {
			errno = EINVAL;
			return -1;
		}
		len = (len + HUGE_SIZE - 1) & ~(HUGE_SIZE - 1);
	}
	int r = real.munmap(addr, len);
	if (r || !shim_active())
		return r;
	cut_range(huge, &nhuge, start, start + len);
	if (cut_range(devices, &ndevices, start, start + len)) {
		uint64_t req[2] = { start, len };
		shim_request(BRIDGE_OP_MUNMAP, req, sizeof(req), NULL, 0);
	} else {
		shim_vm_event(start, start + len, 0);
	}
	return 0;
}

int mprotect(void *addr, size_t len, int prot)
{
	shim_resolve();
	int r = real.mprotect(addr, len, prot);
	if (r == 0)
		shim_vm_event((uintptr_t)addr, (uintptr_t)addr + len, 1);
	return r;
}

void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	void *new_addr = va_arg(ap, void *);
	va_end(ap);
	shim_resolve();
	void *p = real.mremap(old, old_len, new_len, flags, new_addr);
	if (p != MAP_FAILED) {
		shim_vm_event((uintptr_t)old, (uintptr_t)old + old_len, 0);
		shim_vm_event((uintptr_t)p, (uintptr_t)p + new_len, 0);
	}
	return p;
}

int memfd_create(const char *name, unsigned int flags)
{
	shim_resolve();
	if (!shim_active() || !(flags & MFD_HUGETLB))
		return (int)syscall(SYS_memfd_create, name, flags);
	int fd = (int)syscall(SYS_memfd_create, name, flags & ~(MFD_HUGETLB | MFD_HUGE_MASK));
	if (fd < 0)
		return fd;
	struct stat st;
	if (fstat(fd, &st) == 0) {
		pthread_mutex_lock(&lock);
		if (nhuge_inodes < MAX_RANGES)
			huge_inodes[nhuge_inodes++] = st.st_ino;
		pthread_mutex_unlock(&lock);
	}
	register_huge(0, 0, fd);
	return fd;
}

/* hugetlbfs sizes are whole huge pages. */
int ftruncate(int fd, off_t len)
{
	shim_resolve();
	if (shim_active() && (len & (HUGE_SIZE - 1)) && is_huge_fd(fd)) {
		errno = EINVAL;
		return -1;
	}
	return real.ftruncate(fd, len);
}

int ftruncate64(int fd, off_t len) __attribute__((alias("ftruncate")));
