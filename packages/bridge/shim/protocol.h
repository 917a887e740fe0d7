/* The wire format between the shim and the iommu-lab bridge daemon (src/protocol.ts mirrors it). */
#ifndef IOMMU_LAB_BRIDGE_PROTOCOL_H
#define IOMMU_LAB_BRIDGE_PROTOCOL_H

#include <stdint.h>

#define BRIDGE_OP_HELLO 1
#define BRIDGE_OP_OPEN 2
#define BRIDGE_OP_CLOSE 3
#define BRIDGE_OP_DUP 4
#define BRIDGE_OP_IOCTL 5
#define BRIDGE_OP_READ 6
#define BRIDGE_OP_WRITE 7
#define BRIDGE_OP_PREAD 8
#define BRIDGE_OP_PWRITE 9
#define BRIDGE_OP_POLL 10
#define BRIDGE_OP_MMAP 11
#define BRIDGE_OP_MUNMAP 12
#define BRIDGE_OP_FORK_PREPARE 13
#define BRIDGE_OP_FORK_DONE 14
#define BRIDGE_OP_STATUS 15
#define BRIDGE_OP_HUGETLB 16
#define BRIDGE_OP_ACCESS 17

/* HELLO flags: the process just loaded a new program image (execve). */
#define BRIDGE_HELLO_NEW_IMAGE 1

#define BRIDGE_MAX_EVENTS 16

/* Every request starts with this header, then `nevents` vm events, then the op's payload. */
struct bridge_req_hdr {
	uint32_t len;      /* whole frame, header included */
	uint16_t op;
	uint16_t nevents;  /* address ranges the program unmapped or replaced since its last request */
	int32_t pid;
	int32_t tid;
	uint64_t cap_eff;  /* CapEff of the caller */
	uint64_t memlock;  /* RLIMIT_MEMLOCK soft limit in bytes (UINT64_MAX: unlimited) */
};

struct bridge_vm_event {
	uint64_t start;
	uint64_t end;
};

/* Every reply: the result (a value or -errno), the descriptors the kernel installed, then data. */
struct bridge_rep_hdr {
	uint32_t len;
	uint16_t nfds;
	uint16_t pad;
	int64_t ret;
};

struct bridge_new_fd {
	int32_t fd;
	int32_t flags; /* O_CLOEXEC */
};

#endif
