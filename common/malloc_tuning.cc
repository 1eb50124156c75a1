#include "common/malloc_tuning.h"

#include <malloc.h>

namespace rbfs {

void TuneMallocForLargeBuffers() {
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_TOP_PAD, 16 << 20);
}

}  // namespace rbfs
