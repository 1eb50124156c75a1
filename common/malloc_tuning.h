// Keeps large request buffers in the process heap between calls.
//
// glibc hands blocks above M_MMAP_THRESHOLD straight back to the kernel, so
// every 1 MiB payload would fault in fresh pages; on these VMs a fresh page
// costs ~20 µs, which caps a data path near 140 MiB/s. Raising the
// thresholds makes those buffers reusable; bounding the number of arenas
// keeps the memory so held from multiplying per thread.
#ifndef RBFS_COMMON_MALLOC_TUNING_H_
#define RBFS_COMMON_MALLOC_TUNING_H_

namespace rbfs {

void TuneMallocForLargeBuffers();

}  // namespace rbfs

#endif  // RBFS_COMMON_MALLOC_TUNING_H_
